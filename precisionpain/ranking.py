"""Predictions + the safety assessment + CPIC guidance + catalog -> RankedRecommendation.

The safety layer (:mod:`precisionpain.safety`) decides what may be ranked: an option whose verdict is
``excluded`` (a contraindication, an interaction, a CPIC AVOID on the functional phenotype, ...) moves to
``excluded`` with every reason; the ranking obeys the verdict and never re-decides it. Other reasons become
cautions on the option, most severe first, beside the CPIC guidance (looked up with the functional phenotypes,
so phenoconversion shows in the guidance too) and the catalog's own cautions. Each option carries its guideline
tier for the patient's pain condition (or pain type, when no condition is given) from the guideline catalog, and
its expected net benefit (P(response) minus the weighted harms, :mod:`precisionpain.benefit_harm`). Usable options
are ordered by the answer's policy: guideline tier first and net benefit within a tier, an option placed above a
better tier only where its net-benefit advantage is significant (the default), or net benefit alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pydantic

from precisionpain.base import trusted
from precisionpain.benefit_harm import (
    NO_PREFERENCES,
    OutcomeDraws,
    Preferences,
    RankingSettings,
    benefit_estimates,
    group_text,
    order_options,
    outcome_text,
    probability_best,
    resolve,
    utility_text,
)
from precisionpain.bounded_cache import lru_cache_bytes, per_object, text_bytes
from precisionpain.catalog.guidelines import GuidelineCatalog
from precisionpain.catalog.loader import FeatureCatalog, OptionCatalog
from precisionpain.catalog.types import DOMAIN_LABELS, FieldType, MissingPolicy, TreatmentOption
from precisionpain.errors import DataError, ProfileValidationError, Violation
from precisionpain.pgx.cpic import (
    CpicGuidance,
    GeneState,
    chooses_population,
    drug_genes,
    gene_states,
    lookup_states,
)
from precisionpain.pgx.tables import ACTIVITY_SCORE_GENES, PGX_FIELDS, TRANSLATED_GENES, PgxTables
from precisionpain.safety import SafetyAssessment, SafetyCatalogs, Verdict
from precisionpain.schema import (
    Caution,
    DataWarning,
    FeatureVector,
    FunctionalReading,
    GeneReading,
    Guidance,
    GuidelineContext,
    Interval,
    NetBenefit,
    OptionPrediction,
    PatientProfile,
    Provenance,
    RankedOption,
    RankedRecommendation,
    RankingSummary,
    RuleLevel,
    SafetyFlag,
    SafetyReason,
    Severity,
    TieGroup,
    WarningKind,
)

AVOID = "AVOID"
CONDITION_FIELD = "clinical.pain_condition"
#: Byte budgets of the caches keyed by what patients carry (gene readings, rule facts such as an eGFR value).
CPIC_VIEW_CACHE_BYTES = 16 * 1024 * 1024
RULE_CAUTION_CACHE_BYTES = 4 * 1024 * 1024
CAUTION_ACTIONS = {"REDUCE_DOSE", "CONSIDER_ALTERNATIVE", "USE_WITH_CAUTION"}

DOSE_TEXT = {
    "start_dose_minus_25pct": "start at a 25% lower dose",
    "start_dose_minus_50pct": "start at a 50% lower dose",
    "start_lowest_dose": "start at the lowest recommended dose",
    "start_25-50pct_of_lowest_dose": "start at 25-50% of the lowest recommended dose",
    "start_50pct_of_lowest_dose": "start at 50% of the lowest recommended dose",
    "lower_start_slower_titration": "lower starting dose and slower titration",
    "maintenance_minus_25pct": "25% lower maintenance dose",
    "maintenance_minus_50pct": "50% lower maintenance dose",
    "slower_titration_lower_maintenance": "slower titration to a lower maintenance dose",
    "titrate_to_higher_dose": "titrate to a higher dose if needed",
}


def check_candidates(candidate_ids: Sequence[str] | None, options: OptionCatalog) -> tuple[str, ...]:
    """The option ids to rank; an id not in the catalog is a violation at ``candidate_option_ids[i]``."""
    every = _catalog_facts(options).ids
    if not candidate_ids or tuple(candidate_ids) == every:  # all of them: what the engine passes
        return every
    known = set(every)
    problems = [
        Violation(
            f"candidate_option_ids[{i}]", "is not an option id in models/treatment_options.yaml", "string"
        )
        for i, c in enumerate(candidate_ids)
        if c not in known
    ]
    seen: set[str] = set()
    for i, c in enumerate(candidate_ids):
        if c in seen:
            problems.append(Violation(f"candidate_option_ids[{i}]", "repeats an option id", "string"))
        seen.add(c)
    ProfileValidationError.raise_if_any("candidate options", problems)
    return tuple(c for c in every if c in seen)


def _to_guidance(g: CpicGuidance) -> Guidance:
    genes = tuple(
        GeneReading(
            gene=gene,
            phenotype=g.phenotypes.get(gene, ""),
            activity_score=g.lookup.get(gene, "") if gene in ACTIVITY_SCORE_GENES else "",
            lookup_key=g.lookup.get(gene, ""),
        )
        for gene in g.genes
    )
    return Guidance(
        drug=g.drug,
        genes=genes,
        action=g.action_code.value,
        classification=g.classification,
        recommendation=g.recommendation,
        implications=g.implications,
        population=g.population,
        dose_adjustments=tuple(g.dose_adjustment),
        guideline=g.guideline,
        guideline_url=g.guideline_url,
        cpic_data_version=g.cpic_data_version,
    )


@dataclass(frozen=True, slots=True)
class _CpicView:
    """What CPIC says about one drug for one set of results: guidance, unresolved reasons and the cautions that
    follow from the guidance alone (whether the option may be ranked is the safety layer's verdict)."""

    guidance: tuple[Guidance, ...] = ()
    unresolved: tuple[str, ...] = ()
    cautions: tuple[Caution, ...] = ()


_NO_CPIC = _CpicView()


def _cpic_view(
    option: TreatmentOption,
    states: Mapping[str, GeneState],
    prior_use: bool | None,
    tables: PgxTables,
    alternatives: bool,
) -> _CpicView:
    if option.cpic_drug is None:
        return _NO_CPIC
    drug = option.cpic_drug
    states_read = tuple(states[g] for g in drug_genes(drug, tables))
    if not chooses_population(drug, tables):  # one entry for all: neither can change the lookup
        prior_use, alternatives = None, True
    return _drug_view(drug, states_read, prior_use, alternatives, tables)


def option_guidance(
    option: TreatmentOption,
    profile: PatientProfile,
    tables: PgxTables,
    *,
    alternatives_available: bool = True,
) -> tuple[tuple[Guidance, ...], tuple[str, ...]]:
    """The CPIC recommendations that apply to these results for this option (none for non-drug options), and
    the reasons guidance could not be resolved for genes that were given (e.g. a phenotype without score).
    Looks the profile's Pgx up as given; the ranking passes the functional (phenoconverted) Pgx instead."""
    view = _cpic_view(
        option,
        gene_states(profile.pgx, tables),
        profile.clinical.carbamazepine_prior_use_over_3_months,
        tables,
        alternatives_available,
    )
    return view.guidance, view.unresolved


def _drug_view_bytes(args: tuple[Any, ...], view: _CpicView) -> int:
    """What one cached CPIC view holds beyond the shared tables: its key's strings and its cautions' texts."""
    key_text = sum(text_bytes(s.display, s.problem) for s in args[1])
    return key_text + sum(text_bytes(c.text) + 256 for c in view.cautions) + 2048


@lru_cache_bytes(CPIC_VIEW_CACHE_BYTES, _drug_view_bytes)
def _drug_view(
    drug: str,
    states: tuple[GeneState, ...],
    prior: bool | None,
    alternatives_available: bool,
    tables: PgxTables,
) -> _CpicView:
    """Cached per drug and the CPIC reading (phenotype, score) of the genes its rows read: the readings take
    few values, so patients with different diplotypes share one entry."""
    found = lookup_states(
        drug, states, tables, prior_use_over_3_months=prior, alternatives_available=alternatives_available
    )
    guidance = tuple(_to_guidance(g) for g in found.guidance)
    unresolved = tuple(u.reason for u in found.unresolved)
    return _CpicView(guidance, unresolved, _cpic_cautions(guidance, unresolved))


def _gene_summary(g: Guidance) -> str:
    return "; ".join(f"{r.gene} {r.phenotype}" for r in g.genes if r.phenotype)


_CYP2D6_NOT_TESTED = Caution(
    code="cyp2d6_not_tested",
    severity=Severity.info,
    source="CPIC",
    text="CYP2D6 not tested: CPIC genotype-guided dosing could not be applied "
    "(poor metabolizers get little analgesia, ultrarapid metabolizers risk toxicity).",
)


def _untested_cautions(option: TreatmentOption, profile: PatientProfile) -> list[Caution]:
    """Where a guideline asks for a genotype that was not tested, say so (HLA-B*15:02 screening is a safety rule)."""
    if (
        "CYP2D6" in option.genes
        and option.cpic_drug in {"codeine", "tramadol"}
        and profile.pgx.cyp2d6 is None
    ):
        return [_CYP2D6_NOT_TESTED]
    return []


def _cpic_cautions(guidance: Sequence[Guidance], unresolved: Sequence[str]) -> tuple[Caution, ...]:
    out: list[Caution] = [
        Caution(code="cpic_unresolved", severity=Severity.info, source="CPIC", text=reason)
        for reason in unresolved
    ]
    for g in guidance:
        who = _gene_summary(g)
        if g.action in CAUTION_ACTIONS:
            dose = "; ".join(DOSE_TEXT.get(t, t) for t in g.dose_adjustments)
            text = g.recommendation + (f" (dose: {dose})" if dose else "")
            out.append(
                Caution(
                    code=f"cpic_{g.action.lower()}",
                    severity=Severity.warning,
                    source="CPIC",
                    strength=g.classification,
                    text=f"{who}: {text}" if who else text,
                )
            )
        elif g.action == "NO_RECOMMENDATION" and g.genes and g.genes[0].gene in {"OPRM1", "COMT"}:
            out.append(
                Caution(
                    code=f"no_cpic_recommendation_{g.genes[0].gene.lower()}",
                    severity=Severity.info,
                    source="CPIC",
                    text=f"{who}: CPIC makes no recommendation for this genotype.",
                )
            )
    return tuple(out)


#: How a safety reason's level shows as a caution's severity.
_SEVERITY_BY_LEVEL = {RuleLevel.contraindicated: Severity.critical, RuleLevel.warning: Severity.warning,
                      RuleLevel.info: Severity.info}  # fmt: skip
_SEVERITY_ORDER = {Severity.critical: 0, Severity.warning: 1, Severity.info: 2}


def _rule_caution(reason: SafetyReason) -> Caution:
    return _caution_of(reason.rule_id, reason.level, reason.judgement, reason.text, reason.facts)


@lru_cache_bytes(RULE_CAUTION_CACHE_BYTES, lambda args, c: 2 * text_bytes(c.text, *args[4]) + 512)
def _caution_of(
    rule_id: str, level: RuleLevel, judgement: bool, text: str, facts: tuple[str, ...]
) -> Caution:
    """Cached by the reason's parts a caution shows (hashing them is cheaper than hashing the reason)."""
    shown = f" ({'; '.join(facts)})" if facts else ""
    return Caution(
        code=rule_id,
        severity=_SEVERITY_BY_LEVEL[level],
        source="rule",
        strength="judgement" if judgement else "",
        text=text + shown,
    )


def _cautions(
    option: TreatmentOption, cpic: _CpicView, profile: PatientProfile, reasons: Sequence[SafetyReason]
) -> tuple[Caution, ...]:
    """Safety-rule cautions (CPIC reasons show as the CPIC cautions), CPIC, untested genes, then the catalog's;
    most severe first, the order within a severity kept."""
    untested = _untested_cautions(option, profile)
    if not reasons and not cpic.cautions and not untested:  # most options of most patients: the catalog's
        return _catalog_cautions(option)
    out: list[Caution] = [_rule_caution(r) for r in reasons if not r.is_cpic]
    out.extend(cpic.cautions)
    out.extend(untested)
    out.sort(key=lambda c: _SEVERITY_ORDER[c.severity])
    out.extend(_catalog_cautions(option))
    return tuple(out)


def _catalog_cautions(option: TreatmentOption) -> tuple[Caution, ...]:
    return _catalog_cautions_of(option.cautions)


@lru_cache(maxsize=256)
def _catalog_cautions_of(texts: tuple[str, ...]) -> tuple[Caution, ...]:
    """Keyed by the texts (hashing the option, a pydantic model, walked all its fields per option per call)."""
    return tuple(
        Caution(code=f"catalog_{i + 1}", severity=Severity.info, source="catalog", text=text)
        for i, text in enumerate(texts)
    )


@dataclass(frozen=True, slots=True)
class _OptionFacts:
    """What the answer shows of one catalog option whatever the patient, read once per catalog (a pydantic model's
    enum values and fields cost a lookup each, per option per patient)."""

    option: TreatmentOption
    display_name: str
    option_class: str
    modality: str


@dataclass(frozen=True, slots=True)
class _CatalogFacts:
    ids: tuple[str, ...]  # the catalog's option ids, in catalog order
    by_id: Mapping[str, _OptionFacts]


_VERDICT_TEXT = {v: v.value for v in Verdict}


@per_object(8)  # one catalog per loaded model: a few at most
def _catalog_facts(options: OptionCatalog) -> _CatalogFacts:
    """The catalog's ids and :class:`_OptionFacts`, kept per catalog object (its ``ids`` are built per call)."""
    ids = options.ids
    return _CatalogFacts(
        ids,
        {
            o.id: _OptionFacts(o, o.display_name, o.option_class.value, o.modality.value)
            for o in (options.get(i) for i in ids)
        },
    )


def _exclusion_reason(reasons: Sequence[SafetyReason], guidance: Sequence[Guidance]) -> str:
    """Every contraindication in one line: CPIC's avoid with its strength and genes, then the rules' texts."""
    parts = []
    for g in guidance:
        if g.action == AVOID:
            who = _gene_summary(g)
            strength = f" ({g.classification})" if g.classification else ""
            parts.append(f"CPIC{strength}{' - ' + who if who else ''}: {g.recommendation}")
    parts.extend(
        _rule_caution(r).text for r in reasons if r.level is RuleLevel.contraindicated and not r.is_cpic
    )
    if not parts:  # a CPIC avoid the displayed guidance does not show (it cannot happen with one CPIC table)
        parts = [r.text for r in reasons if r.level is RuleLevel.contraindicated]
    return " ".join(parts)


def functional_readings(safety: SafetyAssessment) -> tuple[FunctionalReading, ...]:
    """The genotype and functional reading of every CYP gene that was given, for the response and report."""
    return tuple(
        FunctionalReading(
            gene=g.gene,
            genotype_phenotype=g.genotype_phenotype or "",
            functional_phenotype=g.functional_phenotype or "",
            inhibitors=g.inhibitors,
            phenoconverted=g.phenoconverted,
            text=g.describe(),
        )
        for g in safety.functional_phenotypes
        if g.genotype_phenotype or g.functional_phenotype
    )


def rank_options(
    profile: PatientProfile,
    predictions: Sequence[OptionPrediction],
    options: OptionCatalog,
    tables: PgxTables,
    provenance: Provenance,
    *,
    safety: SafetyAssessment,
    warnings: Sequence[DataWarning] = (),
    candidate_ids: Sequence[str] | None = None,
    guidelines: GuidelineCatalog | None = None,
    draws: OutcomeDraws | None = None,
    ranking: RankingSettings | None = None,
    preferences: Preferences = NO_PREFERENCES,
) -> RankedRecommendation:
    """Obey the safety verdicts and rank the usable options (best first).

    ``safety`` is :func:`precisionpain.safety.apply_safety_rules` for this profile over the whole option
    catalog: an excluded option is never ranked, whatever the model predicts. With ``guidelines`` every option
    carries its tier for the patient's condition (or pain type) and the answer the table it was read from.

    Every option gets its net benefit under the weights of ``preferences`` (checked against ``ranking``'s
    bounds by the caller) or of ``ranking`` (the model spec's ``ranking`` section; its defaults when None), and the
    usable options are ordered by the policy (:func:`precisionpain.benefit_harm.order_options`). ``draws`` holds
    the outcome probabilities with their replicates (the uncertainty the significance rule reads); without it
    the predictions' probabilities are used and no difference is significant.
    """
    wanted = check_candidates(candidate_ids or profile.candidate_option_ids, options)
    by_id = {p.option_id: p for p in predictions}
    missing = [o for o in wanted if o not in by_id]
    if missing:
        raise KeyError(f"no prediction for option(s) {', '.join(missing)}")
    usable: list[dict[str, Any]] = []
    excluded_entries: list[dict[str, Any]] = []
    states = gene_states(safety.functional_pgx, tables)
    prior = profile.clinical.carbamazepine_prior_use_over_3_months
    verdicts = {o.option_id: o for o in safety.options}
    condition, pain_type = profile.clinical.pain_condition, profile.clinical.pain_type
    tiers = guidelines.table(condition, pain_type) if guidelines is not None else {}
    usable_drugs = sum(
        1 for o in safety.options if o.modality == "drug" and o.verdict is not Verdict.excluded
    )
    facts = _catalog_facts(options).by_id
    for option_id in wanted:
        shown = facts[option_id]
        option = shown.option
        pred = by_id[option_id]
        verdict = verdicts[option_id]
        reasons = verdict.reasons
        # alternatives: another drug option of the catalog is usable (safety.alternatives_available, counted once)
        others = usable_drugs - (verdict.modality == "drug" and verdict.verdict is not Verdict.excluded)
        cpic = _cpic_view(option, states, prior, tables, others > 0)
        is_excluded = verdict.verdict is Verdict.excluded
        entry: dict[str, Any] = dict(
            option_id=option_id,
            display_name=shown.display_name,
            option_class=shown.option_class,
            modality=shown.modality,
            rank=None,
            p_response=pred.p_response,
            interval=pred.interval,
            guidance=cpic.guidance,
            cautions=_cautions(option, cpic, profile, reasons),
            excluded=is_excluded,
            exclusion_reason=_exclusion_reason(reasons, cpic.guidance) if is_excluded else "",
            verdict=_VERDICT_TEXT[verdict.verdict],
            safety_reasons=reasons,
            guideline=tiers.get(option.id),
            harms=pred.harms,
        )
        if is_excluded:
            excluded_entries.append(entry)
        else:
            usable.append(entry)
    settings = ranking or RankingSettings()
    weights, policy = resolve(preferences, settings)
    draws = draws or _draws_of(predictions)
    estimates = benefit_estimates(draws, weights)
    position = {o: j for j, o in enumerate(draws.option_ids)}
    level = draws.level
    texts = _benefit_texts(draws, weights.dropout > 0)
    values, lowers, uppers = estimates.values.tolist(), estimates.lower.tolist(), estimates.upper.tolist()
    for entry in (*usable, *excluded_entries):
        j = position[entry["option_id"]]
        entry["net_benefit"] = trusted(
            NetBenefit,
            value=values[j],
            interval=trusted(Interval, lower=lowers[j], upper=uppers[j], level=level),
            text=texts[j],
        )
    excluded = [trusted(RankedOption, **e) for e in excluded_entries]
    rows = [position[o["option_id"]] for o in usable]
    ordering = order_options(
        estimates.values[rows],
        None if estimates.replicates is None else estimates.replicates[rows],
        [o["guideline"].tier if o["guideline"] is not None else None for o in usable],
        policy,
        method=draws.method,
        confidence=settings.confidence,
        ids=[o["option_id"] for o in usable],
        prior=None if estimates.prior is None else estimates.prior[rows],
    )
    best = probability_best(
        estimates.values[rows],
        None if estimates.replicates is None else estimates.replicates[rows],
        draws.method,
    ).tolist()
    # built from validated parts (catalog, predictions, safety verdicts): validating again cost ~8 us per option
    ranked_entries = []
    for rank, (i, above, group) in enumerate(
        zip(ordering.order, ordering.above_tier, ordering.groups, strict=True)
    ):
        entry = usable[i]  # the ranking's own dicts: completed in place
        entry["rank"] = rank + 1
        entry["tier_overridden"] = above
        entry["tie_group"] = group
        entry["probability_best"] = best[i]
        ranked_entries.append(entry)
    ranked = tuple(trusted(RankedOption, **e) for e in ranked_entries)
    summary = trusted(
        RankingSummary,
        policy=policy,
        adverse_event_weight=weights.adverse_event,
        dropout_weight=weights.dropout,
        utility=utility_text(weights),
        rule=settings.rule(policy),
        groups=_tie_groups(ordering.groups, [e["option_id"] for e in ranked_entries]),
    )
    context = guidelines.context(condition, pain_type) if guidelines is not None else None
    return RankedRecommendation(
        patient_ref=profile.patient_ref,
        options=ranked,
        excluded=tuple(excluded),
        warnings=(*warnings, *safety_warnings(safety), *guideline_warnings(context)),
        safety_flags=safety_flags(profile),
        provenance=provenance,
        functional_phenotypes=functional_readings(safety),
        medications=safety.medications,
        guideline_context=context,
        ranking=summary,
    )


def _tie_groups(groups: Sequence[int], option_ids: Sequence[str]) -> tuple[TieGroup, ...]:
    """The groups of the ranked options (each option's group and id, in ranked order)."""
    members: dict[int, list[str]] = {}
    for g, option_id in zip(groups, option_ids, strict=True):
        members.setdefault(g, []).append(option_id)
    return tuple(
        trusted(TieGroup, group=g, option_ids=tuple(ids), text=group_text(g, len(ids)))
        for g, ids in members.items()
    )


def _draws_of(predictions: Sequence[OptionPrediction]) -> OutcomeDraws:
    """The outcome probabilities of the predictions themselves (no replicates: nothing is significant)."""
    ids = tuple(p.option_id for p in predictions)
    probabilities = {"response": np.array([p.p_response for p in predictions], dtype=np.float64)}
    for outcome in dict.fromkeys(h.outcome.value for p in predictions for h in p.harms):
        probabilities[outcome] = np.array(
            [next((h.probability for h in p.harms if h.outcome == outcome), 0.0) for p in predictions]
        )
    level = predictions[0].interval.level if predictions else 0.9
    return OutcomeDraws(ids, probabilities, None, "jackknife", level)


def _benefit_texts(draws: OutcomeDraws, with_dropout: bool) -> list[str]:
    """Each option's components in words, in the draws' option order (see benefit_harm.outcome_text)."""
    p = draws.probabilities
    response = np.clip(p["response"], 0.0, 1.0).tolist()
    k = len(response)
    ae = p.get("adverse_event")
    do = p.get("dropout") if with_dropout else None
    ae_list = np.clip(ae, 0.0, 1.0).tolist() if ae is not None else [None] * k
    do_list = np.clip(do, 0.0, 1.0).tolist() if do is not None else [None] * k
    return [outcome_text(r, a, d) for r, a, d in zip(response, ae_list, do_list, strict=True)]


def guideline_warnings(context: GuidelineContext | None) -> tuple[DataWarning, ...]:
    """A pain condition that was not given is said: the tiers then come from the pain type."""
    if context is None or context.pain_condition is not None:
        return ()
    return _condition_warning(context.text)


@lru_cache(maxsize=64)
def _condition_warning(text: str) -> tuple[DataWarning, ...]:
    return (DataWarning(kind=WarningKind.missing_input, field=CONDITION_FIELD, message=text),)


def safety_warnings(safety: SafetyAssessment) -> tuple[DataWarning, ...]:
    """The unknowns that matter to the safety rules ("kidney function not given: ... not checked")."""
    return tuple(_safety_warning(w.field, w.message) for w in safety.data_warnings)


@lru_cache(maxsize=256)
def _safety_warning(field: str, message: str) -> DataWarning:
    """Cached by its texts: they come from the rules catalog, so the patients share a few."""
    return DataWarning(kind=WarningKind.safety_not_checked, field=field, message=message)


def safety_flags(profile: PatientProfile) -> tuple[SafetyFlag, ...]:
    """Findings a clinician must see whatever the ranking says."""
    flags: list[SafetyFlag] = []
    psy = profile.psychosocial
    if psy.phq9_item9 is not None and psy.phq9_item9 > 0:
        flags.append(
            SafetyFlag(
                code="phq9_item9_positive",
                severity=Severity.critical,
                message="PHQ-9 item 9 (thoughts of self-harm) is above 0: assess suicide risk before "
                "treatment decisions.",
            )
        )
    if psy.phq9_total is not None and psy.phq9_total >= 20:
        flags.append(
            SafetyFlag(
                code="phq9_severe_depression",
                severity=Severity.warning,
                message="PHQ-9 of 20 or more suggests severe depression: assess and treat depression.",
            )
        )
    if profile.clinical.current_opioid_use:
        flags.append(
            SafetyFlag(
                code="current_opioid_use",
                severity=Severity.info,
                message="Takes an opioid now: check for interactions (gabapentinoids, sedatives, serotonergic "
                "drugs) before adding a treatment.",
            )
        )
    return tuple(flags)


def data_warnings(
    profile: PatientProfile,
    features: FeatureVector,
    catalog: FeatureCatalog,
    training_ranges: Mapping[str, tuple[float, float]] | None = None,
) -> tuple[DataWarning, ...]:
    """Missing inputs (grouped by domain), values outside the training range, PGx not tested or indeterminate."""
    out: list[DataWarning] = []
    missing_by_domain: dict[str, list[str]] = {}
    for name in features.missing:
        feat = catalog.feature(name)
        missing_by_domain.setdefault(DOMAIN_LABELS[feat.domain], []).append(feat.label)
    total = {DOMAIN_LABELS[d]: 0 for d in DOMAIN_LABELS}
    for f in catalog.features:
        total[DOMAIN_LABELS[f.domain]] += 1
    for domain, labels in missing_by_domain.items():
        n = len(labels)
        what = "all" if n == total[domain] else f"{n} of {total[domain]}"
        out.append(
            DataWarning(
                kind=WarningKind.missing_input,
                field=domain.lower(),
                message=f"{domain}: {what} inputs missing ({', '.join(labels)}); the model treats them as unknown.",
            )
        )
    if training_ranges:
        for name, value in zip(features.names, features.values, strict=True):
            rng = training_ranges.get(name)
            if rng is None or math.isnan(value):
                continue
            lo, hi = rng
            if value < lo or value > hi:
                feat = catalog.feature(name)
                out.append(
                    DataWarning(
                        kind=WarningKind.outside_training_range,
                        field=name,
                        message=f"{feat.label} is outside the range seen in training "
                        f"({lo:g}-{hi:g} {feat.unit}); the prediction is less certain.",
                    )
                )
    for spec in catalog.fields:
        if spec.field.type is not FieldType.pgx_gene:
            continue
        result = getattr(profile.pgx, spec.id)
        if result is None:
            out.append(
                DataWarning(
                    kind=WarningKind.pgx_not_tested,
                    field=spec.path,
                    message=f"{spec.field.label} not tested.",
                )
            )
        elif (result.phenotype or "").strip().lower() == "indeterminate" or (
            result.diplotype is not None and features.is_missing(f"{spec.id}_phenotype_ordinal")
        ):
            out.append(
                DataWarning(
                    kind=WarningKind.pgx_indeterminate,
                    field=spec.path,
                    message=f"{spec.field.label}: CPIC phenotype is indeterminate for this result.",
                )
            )
    return tuple(out)


def _missing_to_none(values: np.ndarray) -> np.ndarray:
    """Object array with every missing marker (None, NaN, pd.NA) as None."""
    out = np.asarray(values, dtype=object).copy()
    out[pd.isna(out)] = None
    return out


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name in frame.columns:
        return _missing_to_none(frame[name].to_numpy(dtype=object))
    return np.full(len(frame), None, dtype=object)


def _codes(values: np.ndarray) -> np.ndarray:
    """Integer codes of the distinct values of an object array (missing: -1)."""
    return pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)[0].astype(np.int64)


def _condition_nodes(rules: Sequence[Any]) -> list[Any]:
    """Every node of the rules' conditions."""
    out: list[Any] = []
    stack = [r.when for r in rules]
    while stack:
        c = stack.pop()
        out.append(c)
        stack.extend((*(c.all_ or ()), *(c.any_ or ()), *((c.not_,) if c.not_ is not None else ())))
    return out


_COMPARE = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}


def _test_outcomes(values: np.ndarray, test: Any) -> np.ndarray:
    """Per row, whether one ``field`` or ``missing`` test of a rule holds. A missing value fails every ``field``
    test (comparisons, ``is``, ``in`` and ``not_in`` alike), as in the engine."""
    missing = np.asarray([v is None for v in values], dtype=bool)
    if test.head == "missing":
        return missing
    op = test.operator
    if op in _COMPARE:
        x = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return _COMPARE[op](x, float(getattr(test, op))) & ~missing
    levels = frozenset((test.is_,) if op == "is_" else (test.in_ if op == "in_" else test.not_in) or ())
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    inside = np.asarray([_level(v) in levels for v in uniques] + [False], dtype=bool)[codes]
    return (inside if op != "not_in" else ~inside) & ~missing


def _field_codes(values: np.ndarray, tests: Sequence[Any]) -> np.ndarray:
    """Codes of a field by the outcomes of every test the rules make of it: two values that pass and fail the
    same tests are one code (an eGFR of 31 and of 45 for "below 30"; every group outside the listed ancestries)."""
    outcomes = np.column_stack([_test_outcomes(values, t) for t in tests])
    return outcomes.astype(np.int64) @ (1 << np.arange(outcomes.shape[1], dtype=np.int64))


def _level(value: Any) -> Any:
    """A flat value as the profile holds it for a rule's ``is``/``in`` (booleans as bool, levels as text)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    return str(value)


def _gene_state_codes(frame: pd.DataFrame, gene: str, tables: PgxTables) -> np.ndarray:
    """Per row, a code of what CPIC reads of one CYP gene result (phenotype, activity score, problems): every
    phenoconversion, rule and CPIC lookup of the gene depends on the result only through that reading."""
    from precisionpain.pgx.resolve import resolve_gene

    parts = [_column(frame, f"{gene}_{part}") for part in ("diplotype", "phenotype", "activity_score")]
    codes, uniques = pd.factorize(pd.Series(list(zip(*parts, strict=True)), dtype=object))
    states: list[Any] = []
    for key in uniques:
        if all(v is None for v in key):
            states.append(None)
            continue
        dip, phe, score = (None if v is None else str(v) for v in key)
        r = resolve_gene(gene.upper(), dip, phe, score, tables)
        states.append((r.phenotype, r.activity_score, tuple(r.problems)))
    return _codes(np.asarray([*states, None], dtype=object)[codes])


def _medication_codes(values: np.ndarray, catalogs: SafetyCatalogs, conditions: Sequence[Any]) -> np.ndarray:
    """Per row, a code of what the conditions and phenoconversion can tell apart in the medicine list: each
    medicine as the properties and classes the conditions ask about, its CYP inhibition, and - when it has such a
    property - the option whose own medicine it is (the engine leaves that one out for that option). A name the
    catalog does not know keeps its row apart, for the engine to report."""
    from precisionpain.catalog.safety import option_medication
    from precisionpain.features.medications import flat_problems

    asked = {c.taking_property for c in conditions if c.taking_property is not None}
    classes = {c.taking_class for c in conditions if c.taking_class is not None}
    own = {
        row.name
        for o in catalogs.options.options
        if (row := option_medication(o, catalogs.medications)) is not None
    }

    def token(row: Any) -> tuple[Any, ...]:
        props = tuple(sorted(p.value for p in row.properties if p in asked))
        cls = row.drug_class if row.drug_class in classes else None
        strengths = tuple(row.strength(g).value for g in TRANSLATED_GENES)
        return props, cls, strengths, row.name if (props or cls) and row.name in own else None

    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    keys: list[Any] = []
    for value in uniques:
        names, problems = flat_problems(value)
        rows = [catalogs.medications.by_name(name) for name in names]
        if problems or any(r is None for r in rows):
            keys.append(("unresolved", value))
        else:
            keys.append(tuple(sorted({token(r) for r in rows}, key=repr)))
    return _codes(np.asarray([*keys, ()], dtype=object)[codes])


def _deciding_rules(catalogs: SafetyCatalogs) -> list[Any]:
    """The rules whose level the one verdict table turns into an exclusion (the others only warn or inform)."""
    from precisionpain.safety import VERDICT_BY_LEVEL

    return [r for r in catalogs.rules.rules if VERDICT_BY_LEVEL[r.level] is Verdict.excluded]


def _deciding_cpic_genes(catalogs: SafetyCatalogs) -> set[str]:
    """The genes of every CPIC row group (the rows of one drug that read one gene set, looked up on their own)
    holding an action the rules catalog turns into an exclusion: no other group can exclude, whatever it reads
    (e.g. CPIC's OPRM1 and COMT rows for the opioids make no recommendation)."""
    from precisionpain.safety import VERDICT_BY_LEVEL

    levels = {str(action): level for action, level in catalogs.rules.cpic_action_levels.items()}
    genes: set[str] = set()
    for option in catalogs.options.options:
        if option.cpic_drug is None:
            continue
        for rec in catalogs.tables.recommendations_for(option.cpic_drug):
            level = levels.get(rec.action_code)
            if level is not None and VERDICT_BY_LEVEL[level] is Verdict.excluded:
                genes.update(rec.genes)
    return genes


def _safety_groups(frame: pd.DataFrame, catalogs: SafetyCatalogs) -> tuple[np.ndarray, tuple[str, ...]]:
    """(n, m) integer codes of everything that can decide an exclusion, and the flat columns they read.

    What can exclude is a rule whose level means exclusion, CPIC's avoid, and (through "alternatives") every other
    exclusion. So the codes are: the outcomes of every test those rules make of a field; the medicines as those
    rules and phenoconversion see them; the reading of each CYP gene a deciding rule or CPIC row group reads, and
    the other results those CPIC groups read, with prior carbamazepine use (CPIC's population rows). Rows with
    equal codes get equal exclusions from the engine."""
    features = catalogs.features
    conditions = _condition_nodes(_deciding_rules(catalogs))
    tests: dict[str, list[Any]] = {}
    for c in conditions:
        if c.head in ("field", "missing"):
            tests.setdefault((c.field or c.missing).partition(".")[2], []).append(c)
    genes = _deciding_cpic_genes(catalogs) | {
        getattr(c, c.head)
        for c in conditions
        if c.head in ("phenotype", "phenoconverted", "assumed_activity_score")
    }
    columns: list[np.ndarray] = []
    read: list[str] = []
    for fid, field_tests in sorted(tests.items()):
        columns.append(_field_codes(_column(frame, fid), field_tests))
        read.append(fid)
    cyp = [g for g in TRANSLATED_GENES if g in genes]
    if cyp or any(c.head in ("taking_property", "taking_class") for c in conditions):
        for spec in features.medication_list_fields:  # interactions, and inhibitors for phenoconversion
            columns.append(_medication_codes(_column(frame, spec.id), catalogs, conditions))
            read.append(spec.id)
    for gene in cyp:
        field = PGX_FIELDS[gene]
        columns.append(_gene_state_codes(frame, field, catalogs.tables))
        read += [f"{field}_{part}" for part in ("diplotype", "phenotype", "activity_score")]
    markers = sorted(PGX_FIELDS[g] for g in genes - set(TRANSLATED_GENES) if g in PGX_FIELDS)
    for field in [*markers, "carbamazepine_prior_use_over_3_months"]:
        columns.append(_codes(_column(frame, field)))
        read.append(field)
    return np.column_stack(columns), tuple(dict.fromkeys(read))


def safety_exclusion_matrix(
    frame: pd.DataFrame, option_ids: Sequence[str], safety_catalogs: SafetyCatalogs
) -> np.ndarray:
    """(n, k) booleans over a flat patient table: True where the safety engine excludes the option for the patient.

    The same engine as the ranking: :func:`precisionpain.safety.apply_safety_rules` on the patient's profile over
    the whole option catalog, so CPIC's avoid on the functional phenotype, every contraindication and interaction,
    and the catalog's alternatives all count. It runs once per group of patients alike in everything that can
    decide an exclusion (the fields the excluding rules test, numbers by threshold band; the medicines as the
    rules and phenoconversion see them; the CYP readings; the other CPIC inputs), on the group's first patient, so
    a table of 200,000 patients takes seconds (benchmarks/safety_matrix_bench.py). A row that is not a valid
    profile raises :class:`ProfileValidationError`; an unknown medicine is reported by the engine, as for a single
    profile.
    """
    from precisionpain.catalog.loader import pydantic_violations
    from precisionpain.features.frame import row_to_profile_dict
    from precisionpain.safety import apply_safety_rules

    ids = tuple(option_ids)
    known = set(safety_catalogs.options.ids)
    DataError.raise_if_any(
        "safety exclusion matrix",
        [
            Violation(f"options[{i}]", "is not an option id in models/treatment_options.yaml", "string")
            for i, o in enumerate(ids)
            if o not in known
        ],
    )
    if len(frame) == 0:
        return np.zeros((0, len(ids)), dtype=bool)
    codes, read = _safety_groups(frame, safety_catalogs)
    _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    features = safety_catalogs.features
    required = [f.id for f in features.fields if f.field.missing is MissingPolicy.required]
    columns = [c for c in dict.fromkeys([*required, *read]) if c in frame.columns]
    verdicts = np.zeros((len(first), len(ids)), dtype=bool)
    for g, row in enumerate(frame.iloc[first][columns].to_dict(orient="records")):
        # the group's first patient with only what can decide an exclusion (and the required fields)
        try:
            profile = PatientProfile.model_validate(row_to_profile_dict(row, features))
        except pydantic.ValidationError as err:
            raise ProfileValidationError("patient table", pydantic_violations(err)) from None
        excluded = set(apply_safety_rules(profile, safety_catalogs).excluded_ids)
        verdicts[g] = [o in excluded for o in ids]
    return verdicts[inverse.reshape(-1)]
