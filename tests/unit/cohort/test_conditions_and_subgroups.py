"""Pain conditions, the heterogeneity by sex and ancestry, the optical wearables' measurement bias by skin tone,
engagement, and no placebo on top of options that were not placebo-controlled. Counterfactual tests change one
input for the SAME patients (same unrecorded effects) and compare; cohort tests check the frame."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from precisionpain.cohort import params as P
from precisionpain.cohort.outcomes import OPIOIDS, outcome_probabilities, specific_effects
from precisionpain.cohort.population import CONDITION_INDEX, GROUPS, NEUROPATHIC, observe_engagement


def _probs(draw: Any, pop: Any) -> Any:
    return outcome_probabilities(
        np.random.default_rng(0), pop, draw.geno, draw.option_ids, draw.safety, draw.exposures
    )


def test_conditions_agree_with_the_pain_type_the_catalog_allows(
    large_cohort: pd.DataFrame, feature_catalog: Any
) -> None:
    (rule,) = [c for c in feature_catalog.constraints if c.id == "pain_condition_agrees_with_pain_type"]
    truth = large_cohort["true_pain_condition"].astype(object)
    pairs = set(zip(truth, large_cohort["pain_type"].astype(object), strict=True))
    assert all(t in rule.allowed[c] for c, t in pairs), pairs
    assert set(truth) == set(P.PAIN_CONDITIONS)
    recorded = large_cohort["pain_condition"].astype(object)
    assert abs(recorded.isna().mean() - (1 - P.P_CONDITION_RECORDED)) < 0.02
    shown = recorded.notna().to_numpy()
    np.testing.assert_array_equal(recorded[shown].to_numpy(), truth[shown].to_numpy())  # never wrong when given
    shares = truth.value_counts(normalize=True)
    assert shares.idxmax() == "chronic_low_back_pain"  # the commonest chronic pain (GBD)
    assert 0.003 < shares["trigeminal_neuralgia"] < 0.03  # rare
    diabetic = large_cohort["true_pain_condition"] == "painful_diabetic_neuropathy"
    assert large_cohort.loc[diabetic, "diabetes"].dropna().astype(bool).all()  # needs diabetes
    fibro = truth == "fibromyalgia"
    assert (large_cohort.loc[fibro, "sex"] == "female").mean() > 0.7  # 2-3 times as common in women


def test_opioids_do_more_for_women(draw: Any) -> None:
    """Niesters 2010: more opioid analgesia in women (PCA effect size 0.22); here a small documented gain."""
    n = len(draw.pop)
    women = specific_effects(replace(draw.pop, female=np.ones(n, bool)), draw.geno, draw.option_ids, draw.exposures)
    men = specific_effects(replace(draw.pop, female=np.zeros(n, bool)), draw.geno, draw.option_ids, draw.exposures)
    for option in OPIOIDS:
        k = draw.index(option)
        positive = men[:, k] > 0  # away from the floor at 0
        np.testing.assert_allclose((women[:, k] - men[:, k])[positive], P.OPIOID_FEMALE_GAIN_PCT)
    others = [k for k, o in enumerate(draw.option_ids) if o not in OPIOIDS]
    np.testing.assert_array_equal(women[:, others], men[:, others])


def test_oprm1_loss_is_larger_in_asian_ancestry(draw: Any) -> None:
    """Yu 2019: OPRM1 118G SMD -0.42 in Asians, -0.15 in Caucasians."""
    n = len(draw.pop)
    gg = replace(draw.geno, oprm1_g=np.full(n, 2, dtype=np.int64))
    aa = replace(draw.geno, oprm1_g=np.zeros(n, dtype=np.int64))

    def loss(group: str) -> float:
        pop = replace(
            draw.pop, group=np.full(n, GROUPS.index(group)), opioid_use=np.zeros(n, bool),
            pain_type=np.full(n, NEUROPATHIC), pain_condition=np.full(n, CONDITION_INDEX["painful_diabetic_neuropathy"]),
        )  # fmt: skip
        tau = [specific_effects(pop, g, draw.option_ids, draw.exposures)[:, draw.index("oxycodone")] for g in (aa, gg)]
        return float((tau[0] - tau[1]).mean())

    east_asian, european = loss("east_asian"), loss("european")
    assert east_asian == pytest.approx(P.OPRM1_LOSS_PER_G_ALLELE[2] * 1.4, rel=0.05)
    assert european == pytest.approx(P.OPRM1_LOSS_PER_G_ALLELE[2] * 0.5, rel=0.05)


def test_optical_wearables_read_dark_skin_wrong_and_the_truth_uses_the_true_values(
    large_cohort: pd.DataFrame, draw: Any
) -> None:
    dark = large_cohort["true_dark_skin"].to_numpy(dtype=bool)
    worn = large_cohort["sleep_efficiency_pct"].notna().to_numpy()
    error = (large_cohort["sleep_efficiency_pct"] - large_cohort["true_sleep_efficiency_pct"]).to_numpy()
    assert abs(np.nanmean(error[worn & ~dark])) < 0.05  # rounding only
    assert np.nanmean(error[worn & dark]) == pytest.approx(P.DARK_SKIN_SLEEP_EFFICIENCY_BIAS_PCT, abs=0.5)
    ratio = (large_cohort["hrv_rmssd_ms"] / large_cohort["true_hrv_rmssd_ms"]).to_numpy()
    assert np.nanmedian(ratio[worn & dark]) == pytest.approx(P.DARK_SKIN_RMSSD_FACTOR, abs=0.05)
    by_group = large_cohort.groupby(large_cohort["true_biogeographic_group"].astype(object))["true_dark_skin"].mean()
    assert by_group["african_american_afro_caribbean"] > 0.6 > 0.05 > by_group["european"]
    # worse true sleep, worse natural course; the recorded reading plays no part in the truth
    n = len(draw.pop)
    poor = _probs(draw, replace(draw.pop, sleep_efficiency=np.full(n, 70.0)))
    good = _probs(draw, replace(draw.pop, sleep_efficiency=np.full(n, 90.0)))
    assert good.p_natural.mean() > poor.p_natural.mean() + 0.05
    dark_pop = replace(draw.pop, dark_skin=np.ones(n, bool))
    np.testing.assert_array_equal(_probs(draw, dark_pop).p_response, _probs(draw, draw.pop).p_response)


def test_engagement_drives_digital_dropout_and_is_recorded(draw: Any) -> None:
    n = len(draw.pop)
    low = _probs(draw, replace(draw.pop, engagement=np.full(n, -1.5)))
    high = _probs(draw, replace(draw.pop, engagement=np.full(n, 1.5)))
    for option in P.DIGITAL_OPTIONS:
        k = draw.index(option)
        assert low.p_dropout[:, k].mean() > high.p_dropout[:, k].mean() + 0.2, option
        assert high.p_response[:, k].mean() > low.p_response[:, k].mean(), option
    for option in P.IN_PERSON_PROGRAMMES:
        k = draw.index(option)
        gap = low.p_dropout[:, k].mean() - high.p_dropout[:, k].mean()
        assert 0.05 < gap < low.p_dropout[:, draw.index("unguided_icbt")].mean() - high.p_dropout[
            :, draw.index("unguided_icbt")
        ].mean(), option  # less than for a self-paced digital option
    k = draw.index("duloxetine")
    np.testing.assert_array_equal(low.p_dropout[:, k], high.p_dropout[:, k])  # drugs: no engagement effect
    recorded = observe_engagement(np.random.default_rng(1), draw.pop)
    engaged = draw.pop.engagement
    days = recorded["app_use_days_per_week"]
    used = ~np.isnan(days)
    assert abs(used.mean() - P.P_APP_USER) < 0.05
    assert np.corrcoef(engaged[used], days[used])[0, 1] > 0.4
    done = recorded["prior_programme_completed"]
    yes, no = (np.asarray([v is value for v in done]) for value in (True, False))
    assert engaged[yes].mean() > engaged[no].mean() + 0.5


def test_engagement_inputs_are_recorded_columns(large_cohort: pd.DataFrame) -> None:
    """features/engagement.yaml's inputs come out of the generator as recorded, gappy columns that track the
    hidden engagement."""
    days = large_cohort["app_use_days_per_week"].to_numpy(dtype=float)
    used = ~np.isnan(days)
    assert abs(used.mean() - P.P_APP_USER) < 0.02 and set(np.unique(days[used])) <= set(range(8))
    engaged = large_cohort["true_engagement"].to_numpy()
    assert np.corrcoef(engaged[used], days[used])[0, 1] > 0.4
    done = large_cohort["prior_programme_completed"].astype("boolean")
    assert abs(done.notna().mean() - P.P_PRIOR_PROGRAMME_RECORDED) < 0.02


def test_no_placebo_on_top_of_options_not_measured_against_one(draw: Any) -> None:
    """Pills, patches and gels carry the placebo's non-specific effect (their effect sizes are against one); VR
    (against a sham headset of unknown effect) and the programmes (against usual care) do not."""
    probs = _probs(draw, draw.pop)
    stacked = {o for o in draw.option_ids if P.OPTION_SPECS[o].placebo_controlled}
    assert "vr_therapy" not in stacked and "physical_therapy" not in stacked and "capsaicin_patch" in stacked
    col = {o: probs.p_response[:, draw.index(o)] for o in ("vr_therapy", "guided_icbt", "cbt_face_to_face")}
    assert col["guided_icbt"].mean() > col["vr_therapy"].mean()  # structured CBT has the firmer evidence
    assert col["cbt_face_to_face"].mean() > col["guided_icbt"].mean()


def test_other_condition_with_nociplastic_pain_takes_the_fibromyalgia_factors() -> None:
    """A patient whose nociplastic pain is not fibromyalgia gets every option's fibromyalgia factor (the best-studied
    nociplastic condition, whose trials the nociplastic guideline table rests on), not a larger one of its own."""
    from precisionpain.cohort.outcomes import condition_factor_table

    t = P.PAIN_TYPES.index("nociplastic")
    other, fibromyalgia = P.PAIN_CONDITIONS.index("other"), P.PAIN_CONDITIONS.index("fibromyalgia")
    for option in P.OPTION_SPECS:
        table = condition_factor_table(option)
        assert table[t, other] == table[t, fibromyalgia], option
    # the tricyclics' fibromyalgia evidence is weaker than their neuropathic one, nortriptyline's weaker still
    factors = {o: condition_factor_table(o)[t, other] for o in ("amitriptyline", "nortriptyline", "duloxetine")}
    assert factors["nortriptyline"] < factors["amitriptyline"] < factors["duloxetine"]

