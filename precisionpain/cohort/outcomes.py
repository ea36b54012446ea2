"""Potential outcomes of every patient under every option: response, adverse event and dropout.

Model (all constants and sources in :mod:`precisionpain.cohort.params`):

- % NRS reduction at 12 weeks under option t: ``Y = mu_i + v_it + s_t + tau_t(x_i) + e``, ``e ~ N(0, sd)``.
  ``mu_i`` is the natural course (usual care) mean with prognostic factors and an unrecorded patient
  effect; ``v_it`` a small option-specific patient effect; ``s_t`` the non-specific (placebo) effect for
  options whose effect sizes were measured against a placebo, vehicle or sham (pills, patches, gels); ``tau_t``
  the option's specific effect by pain condition and pain type with the modifiers a source supports (PGx, sex and
  ancestry for opioids, tolerance), floored at 0.
- A withdrawal-level adverse event (probability ``a``) ends the treatment: dropout and, intention-to-treat,
  non-response. Other dropout (probability ``d``) keeps only a share of the specific effect; for digital options
  and in-person programmes it falls with the patient's engagement.
- The medicines taken now and the safety inputs act where the evidence says so: a CYP2D6 inhibitor lowers the
  CYP2D6 activity the mechanisms read (phenoconversion: a strong one makes codeine and tramadol work as in a
  poor metabolizer); NSAID adverse events rise with low eGFR, a GI-bleeding history, anticoagulants and
  cardiovascular disease; opioid adverse events with benzodiazepines and gabapentinoids; serotonergic options
  with an MAO inhibitor.
- True probability of response (>= 30% reduction):
  ``p = (1 - a) * ((1 - d) * Phi((mu + v + s + tau - 30) / sd) + d * Phi((mu + v + r * (s + tau) - 30) / sd))``
  with r the share of the effect kept after stopping early;
  true probability of dropout ``a + (1 - a) * d``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy.special import ndtr

from precisionpain.cohort import params as P
from precisionpain.cohort.genetics import IM, PM, UM, GeneCalls, Genotypes, functional_calls
from precisionpain.cohort.medications import Exposures
from precisionpain.cohort.population import GROUPS, ClinicalSafety, Population

_STD = NormalDist()
OPIOIDS = ("codeine", "tramadol", "oxycodone", "tapentadol", "buprenorphine_transdermal")
NSAIDS = ("celecoxib", "ibuprofen", "meloxicam", "naproxen")  # oral
CYP2C9_NSAIDS = ("celecoxib", "ibuprofen", "meloxicam")  # cleared by CYP2C9 (Theken 2020)
TOPICAL_NSAIDS = ("topical_diclofenac",)
TRICYCLICS = ("amitriptyline", "nortriptyline")
GABAPENTINOIDS = ("pregabalin", "gabapentin")
SEROTONERGIC_WITH_MAOI = (
    "tramadol", "tapentadol", "duloxetine", "venlafaxine", "amitriptyline", "nortriptyline"
)  # fmt: skip


def functional_cyp2d6(geno: Genotypes, exposures: Exposures) -> GeneCalls:
    """CYP2D6 as it works with the medicines taken (phenoconversion), the reading every CYP2D6 mechanism uses."""
    return functional_calls(geno.cyp["CYP2D6"], "CYP2D6", exposures.cyp2d6_activity_factor)


def placebo_percent_change() -> tuple[float, float]:
    """Mean and SD of % NRS change of a normal distribution through the placebo responder rates [D]."""
    z30 = _STD.inv_cdf(1.0 - P.PLACEBO_P30)
    z50 = _STD.inv_cdf(1.0 - P.PLACEBO_P50)
    sd = 20.0 / (z50 - z30)
    return 30.0 - sd * z30, sd


def effect_from_nnt50(nnt: float) -> float:
    """% points a drug adds to the placebo %-change so that >= 50% relief rises by 1/NNT (normal shift) [D]."""
    mean, sd = placebo_percent_change()
    p50 = P.PLACEBO_P50 + 1.0 / nnt
    drug_mean = 50.0 - sd * _STD.inv_cdf(1.0 - p50)
    return drug_mean - mean


def p30_from_effect(effect_pct: float) -> float:
    """Published-scale >= 30% responder rate implied by an effect on top of the neuropathic placebo [D]."""
    mean, sd = placebo_percent_change()
    return 1.0 - _STD.cdf((30.0 - mean - effect_pct) / sd)


def condition_factor_table(option_id: str) -> np.ndarray:
    """(len(PAIN_TYPES), len(PAIN_CONDITIONS)) factor on the option's effect by pain type and condition.

    A listed condition (params.CONDITION_FACTORS) takes its own factor, any other the option's pain-type factor of
    the condition's usual pain type, and ``other`` the patient's pain type's (for a pain type with a reference
    condition, params.PAIN_TYPE_REFERENCE_CONDITION, that condition's). With a mixed pain type the factor is
    at least MIXED_COMPONENT_SHARE of the factor of the other component (neuropathic for a nociceptive or
    nociplastic condition, nociceptive for a neuropathic one)."""
    spec = P.OPTION_SPECS[option_id]
    by_type = dict(zip(P.PAIN_TYPES, spec.pain_type_factor, strict=True))
    listed: Mapping[str, float] = P.CONDITION_FACTORS.get(option_id, {})
    table = np.empty((len(P.PAIN_TYPES), len(P.PAIN_CONDITIONS)))
    for t, pain in enumerate(P.PAIN_TYPES):
        for c, condition in enumerate(P.PAIN_CONDITIONS):
            if condition == "other":  # the pain type's own factor, or its reference condition's
                reference = P.PAIN_TYPE_REFERENCE_CONDITION.get(pain)
                table[t, c] = by_type[pain] if reference is None else listed.get(reference, by_type[pain])
                continue
            usual = P.CONDITION_PAIN_TYPE[condition]
            factor = listed.get(condition, by_type[usual])
            # trigeminal neuralgia is a paroxysmal neuralgia: no second component
            if pain == "mixed" and condition != "trigeminal_neuralgia":
                other = "nociceptive" if usual == "neuropathic" else "neuropathic"
                factor = max(factor, P.MIXED_COMPONENT_SHARE * by_type[other])
            table[t, c] = factor
    return table


def base_effect_pct(option_id: str) -> float:
    """The option's specific effect (% points) in its reference pain type, before modifiers."""
    spec = P.OPTION_SPECS[option_id]
    if spec.nnt50 is not None:
        effect = effect_from_nnt50(spec.nnt50) * P.PUBLICATION_BIAS_SHRINK
    elif spec.smd is not None:
        effect = spec.smd * P.SMD_TO_PCT
    elif spec.effect_pct is not None:
        effect = spec.effect_pct
    else:
        raise ValueError(f"option {option_id}: no effect size in params.OPTION_SPECS")
    return effect * spec.evidence_shrink


@dataclass(frozen=True)
class OutcomeProbabilities:
    """True probabilities for n patients and K options (arrays (n, K); natural course (n,))."""

    natural_mean_pct: np.ndarray
    p_natural: np.ndarray  # no new treatment (usual care)
    p_placebo: np.ndarray  # a pill placebo (natural course + non-specific effect), full course
    effect_pct: np.ndarray  # specific effect tau (n, K)
    p_adverse_event: np.ndarray
    p_dropout_other: np.ndarray
    p_completer: np.ndarray  # response probability if the full course is taken
    p_partial: np.ndarray  # response probability after stopping early for a reason other than an AE

    @property
    def p_response(self) -> np.ndarray:
        a, d = self.p_adverse_event, self.p_dropout_other
        return (1.0 - a) * ((1.0 - d) * self.p_completer + d * self.p_partial)

    @property
    def p_dropout(self) -> np.ndarray:
        a = self.p_adverse_event
        return a + (1.0 - a) * self.p_dropout_other


def natural_course_mean(pop: Population) -> np.ndarray:
    """Mean % NRS reduction without specific treatment, from recorded-or-not TRUE characteristics (the true sleep
    efficiency, not what a wearable reads)."""
    return (
        P.NATURAL_COURSE_MEAN_PCT
        + np.asarray(P.NATURAL_COURSE_PAIN_TYPE_SHIFT)[pop.pain_type]
        + P.NATURAL_COURSE_PER_YEAR * (pop.age - 55.0)
        + P.NATURAL_COURSE_PER_NRS * (pop.nrs - 6.5)
        + P.NATURAL_COURSE_PER_PHQ9 * (pop.phq9 - 9.0)
        + P.NATURAL_COURSE_PER_PCS * (pop.pcs - 30.0)
        + P.NATURAL_COURSE_HIGH_CRP * (pop.crp > P.CRP_HIGH_MG_PER_L)
        + P.NATURAL_COURSE_PER_LOG_DURATION
        * np.log(pop.duration_months / np.exp(P.PAIN_DURATION_LOG_MEDIAN_MONTHS))
        + P.NATURAL_COURSE_PER_SLEEP_EFF_BELOW_85 * np.maximum(85.0 - pop.sleep_efficiency, 0.0)
    )


def _prodrug_share(
    cls: np.ndarray, activity: np.ndarray, pm: float, intercept: float, slope: float
) -> np.ndarray:
    share = np.ones(len(cls))
    share = np.where(cls == PM, pm, share)
    share = np.where(cls == IM, intercept + slope * activity, share)
    return np.where(cls == UM, P.UM_EFFECT_SHARE, share)


def specific_effects(
    pop: Population, geno: Genotypes, option_ids: Sequence[str], exposures: Exposures
) -> np.ndarray:
    """tau (n, K): each option's specific effect in % points by pain condition and pain type, with the modifiers a
    source supports (CYP2D6 for the prodrug opioids and tricyclics, OPRM1 by ancestry, sex and tolerance for the
    opioids), floored at 0."""
    n = len(pop)
    d6 = functional_cyp2d6(geno, exposures)
    c19 = geno.cyp["CYP2C19"]
    ancestry = np.asarray([P.OPRM1_LOSS_ANCESTRY_FACTOR[g] for g in GROUPS])[pop.group]
    oprm1_loss = np.asarray(P.OPRM1_LOSS_PER_G_ALLELE)[geno.oprm1_g] * ancestry
    opioid_shift = (
        P.OPIOID_FEMALE_GAIN_PCT * pop.female - P.OPIOID_TOLERANT_LOSS * pop.opioid_use - oprm1_loss
    )
    out = np.empty((n, len(option_ids)))
    for k, option in enumerate(option_ids):
        factor = condition_factor_table(option)[pop.pain_type, pop.pain_condition]
        tau = base_effect_pct(option) * factor
        if option == "codeine":
            tau = tau / P.PRODRUG_MEAN_SHARE[option] * _prodrug_share(
                d6.mechanism_class, d6.mechanism_activity, P.CODEINE_EFFECT_SHARE_PM,
                P.CODEINE_IM_SHARE_INTERCEPT, P.CODEINE_IM_SHARE_SLOPE,
            )  # fmt: skip
        elif option == "tramadol":
            tau = tau / P.PRODRUG_MEAN_SHARE[option] * _prodrug_share(
                d6.mechanism_class, d6.mechanism_activity, P.TRAMADOL_EFFECT_SHARE_PM,
                P.TRAMADOL_IM_SHARE_INTERCEPT, P.TRAMADOL_IM_SHARE_SLOPE,
            )  # fmt: skip
        elif option == "nortriptyline":  # CYP2D6 only (CPIC: no CYP2C19 guidance for nortriptyline)
            tau = tau * np.where(d6.mechanism_class == UM, P.AMITRIPTYLINE_UM_EFFECT_SHARE, 1.0)
        elif option == "amitriptyline":
            um = (d6.mechanism_class == UM) | (c19.mechanism_class == UM)
            tau = tau * np.where(um, P.AMITRIPTYLINE_UM_EFFECT_SHARE, 1.0)
        if option in OPIOIDS:
            tau = tau + opioid_shift
        out[:, k] = np.maximum(tau, P.EFFECT_FLOOR_PCT)
    return out


def _either(*probs: np.ndarray | float) -> np.ndarray:
    """Probability that at least one of several independent events happens."""
    keep = np.asarray(1.0)
    for p in probs:
        keep = keep * (1.0 - np.asarray(p))
    return 1.0 - keep


def _with_odds_ratio(base: float, odds_ratio: float, exposed: np.ndarray) -> np.ndarray:
    odds = base / (1.0 - base) * np.where(exposed, odds_ratio, 1.0)
    return odds / (1.0 + odds)


def adverse_event_probabilities(
    pop: Population, geno: Genotypes, option_ids: Sequence[str], safety: ClinicalSafety, exposures: Exposures
) -> np.ndarray:
    """(n, K) probability of a withdrawal-level adverse event attributable to each option."""
    n = len(pop)
    d6 = functional_cyp2d6(geno, exposures)
    c9 = geno.cyp["CYP2C9"]
    c19 = geno.cyp["CYP2C19"]
    c9_steps = np.clip(np.rint(c9.mechanism_activity * 2.0) / 2.0, 0.0, 2.0)
    nsaid_extra = {col: np.zeros(n) for col in (0, 1)}  # 0: celecoxib/ibuprofen, 1: meloxicam
    for score, extras in P.NSAID_ADVERSE_EVENT_BY_CYP2C9.items():
        hit = c9_steps == score
        for col in (0, 1):
            nsaid_extra[col][hit] = extras[col]
    egfr_below_30 = safety.egfr < 30.0
    egfr_30_to_60 = (safety.egfr >= 30.0) & (safety.egfr < 60.0)
    nsaid_risk = _either(
        P.NSAID_AE_EGFR_BELOW_30 * egfr_below_30,
        P.NSAID_AE_EGFR_30_TO_60 * egfr_30_to_60,
        P.NSAID_AE_GI_BLEED * safety.gi_bleed,
        P.NSAID_AE_ANTICOAGULANT * exposures.anticoagulant,
        P.NSAID_AE_CVD * safety.cvd,
    )
    opioid_combination = _either(
        P.OPIOID_AE_BENZODIAZEPINE * exposures.benzodiazepine,
        P.OPIOID_AE_GABAPENTINOID * exposures.gabapentinoid,
    )
    gabapentinoid_risk = _either(
        P.GABAPENTINOID_AE_WITH_OPIOID * exposures.opioid,
        P.GABAPENTINOID_AE_EGFR_BELOW_60 * (safety.egfr < 60.0),
    )
    serotonin_syndrome = P.MAOI_SEROTONERGIC_AE * exposures.maoi
    out = np.empty((n, len(option_ids)))
    for k, option in enumerate(option_ids):
        base = P.OPTION_SPECS[option].p_adverse_event
        if option in OPIOIDS:
            clinical = base + P.OPIOID_AE_PER_YEAR_OVER_65 * np.maximum(pop.age - 65.0, 0.0)
            p = _either(clinical + P.OPIOID_AE_FEMALE * pop.female, opioid_combination)
            if option == "codeine":
                p = _either(p, P.CODEINE_UM_ADVERSE_EVENT * (d6.mechanism_class == UM))
            elif option == "tramadol":
                p = _either(p, P.TRAMADOL_UM_ADVERSE_EVENT * (d6.mechanism_class == UM))
        elif option in NSAIDS:
            clinical = base + P.NSAID_AE_PER_YEAR_OVER_50 * np.maximum(pop.age - 50.0, 0.0)
            clinical = clinical + P.NSAID_AE_DIABETES * pop.diabetes
            genetic = nsaid_extra[1 if option == "meloxicam" else 0] if option in CYP2C9_NSAIDS else 0.0
            p = _either(clinical, genetic, nsaid_risk)
        elif option in TOPICAL_NSAIDS:
            p = _either(base, P.TOPICAL_NSAID_SYSTEMIC_SHARE * nsaid_risk)
        elif option in TRICYCLICS:
            both = option == "amitriptyline"  # nortriptyline: CYP2D6 only
            pm = (d6.mechanism_class == PM) | (both & (c19.mechanism_class == PM))
            im = ~pm & ((d6.mechanism_class == IM) | (both & (c19.mechanism_class == IM)))
            genetic = np.where(
                pm, P.AMITRIPTYLINE_PM_ADVERSE_EVENT, np.where(im, P.AMITRIPTYLINE_IM_ADVERSE_EVENT, 0.0)
            )
            per_year = P.TRICYCLIC_AE_PER_YEAR_OVER_60[option]
            p = _either(base + per_year * np.maximum(pop.age - 60.0, 0.0), genetic)
        elif option == "venlafaxine":
            p = _either(base, P.VENLAFAXINE_PM_ADVERSE_EVENT * (d6.mechanism_class == PM))
        elif option == "carbamazepine":
            naive = ~pop.carbamazepine_prior
            sjs = _with_odds_ratio(
                P.CARBAMAZEPINE_SJS_BASE, P.CARBAMAZEPINE_SJS_OR_B1502, geno.hla_b_1502 & naive
            )
            dress = _with_odds_ratio(
                P.CARBAMAZEPINE_DRESS_BASE, P.CARBAMAZEPINE_DRESS_OR_A3101, geno.hla_a_3101 & naive
            )
            p = _either(base, sjs, dress)
        elif option in GABAPENTINOIDS:
            p = _either(base, gabapentinoid_risk)
        else:
            p = np.full(n, base)
        if option in SEROTONERGIC_WITH_MAOI:
            p = _either(p, serotonin_syndrome)
        out[:, k] = np.clip(p, 0.0, 0.95)
    return out


def dropout_probabilities(pop: Population, option_ids: Sequence[str]) -> np.ndarray:
    """(n, K) probability of stopping before 12 weeks for a reason other than an adverse event: the option's base
    rate, lower with more engagement for digital options and (less) for in-person programmes."""
    n = len(pop)
    out = np.empty((n, len(option_ids)))
    for k, option in enumerate(option_ids):
        base = P.OPTION_SPECS[option].p_dropout_other
        if option in P.DIGITAL_OPTIONS:
            slope = P.ENGAGEMENT_DROPOUT_LOGIT_DIGITAL
        elif option in P.IN_PERSON_PROGRAMMES:
            slope = P.ENGAGEMENT_DROPOUT_LOGIT_IN_PERSON
        else:
            out[:, k] = base
            continue
        logit = np.log(base / (1.0 - base)) + slope * pop.engagement
        out[:, k] = np.clip(1.0 / (1.0 + np.exp(-logit)), 0.0, 0.9)
    return out


def outcome_probabilities(
    rng: np.random.Generator,
    pop: Population,
    geno: Genotypes,
    option_ids: Sequence[str],
    safety: ClinicalSafety,
    exposures: Exposures,
) -> OutcomeProbabilities:
    """Draw the unrecorded patient effects and compute every true probability."""
    n, k = len(pop), len(option_ids)
    mu = natural_course_mean(pop) + rng.normal(0.0, P.PATIENT_EFFECT_SD_PCT, n)
    v = rng.normal(0.0, P.OPTION_PATIENT_EFFECT_SD_PCT, (n, k))
    tau = specific_effects(pop, geno, option_ids, exposures)
    nonspecific = (
        np.asarray([P.OPTION_SPECS[o].placebo_controlled for o in option_ids]) * P.PLACEBO_NONSPECIFIC_PCT
    )
    total = tau + nonspecific[None, :]
    sd = P.OUTCOME_NOISE_SD_PCT
    threshold = P.RESPONDER_THRESHOLD_PCT
    base = mu[:, None] + v
    return OutcomeProbabilities(
        natural_mean_pct=mu,
        p_natural=ndtr((mu - threshold) / sd),
        p_placebo=ndtr((mu + P.PLACEBO_NONSPECIFIC_PCT - threshold) / sd),
        effect_pct=tau,
        p_adverse_event=adverse_event_probabilities(pop, geno, option_ids, safety, exposures),
        p_dropout_other=dropout_probabilities(pop, option_ids),
        p_completer=ndtr((base + total - threshold) / sd),
        p_partial=ndtr((base + P.PARTIAL_EXPOSURE_SHARE * total - threshold) / sd),
    )


@dataclass(frozen=True)
class SampledOutcomes:
    """One draw of the potential outcomes, (n, K) int8 0/1 each."""

    response: np.ndarray
    adverse_event: np.ndarray
    dropout: np.ndarray


def draw_outcomes(rng: np.random.Generator, probs: OutcomeProbabilities) -> SampledOutcomes:
    """Sample adverse event, other dropout and response for every patient and option (ITT response)."""
    shape = probs.p_completer.shape
    adverse = rng.random(shape) < probs.p_adverse_event
    other = rng.random(shape) < probs.p_dropout_other
    p_resp = np.where(other, probs.p_partial, probs.p_completer)
    respond = (rng.random(shape) < p_resp) & ~adverse
    return SampledOutcomes(
        response=respond.astype(np.int8),
        adverse_event=adverse.astype(np.int8),
        dropout=(adverse | other).astype(np.int8),
    )
