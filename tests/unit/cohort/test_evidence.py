"""The truth against the evidence (precisionpain.cohort.evidence): every rate the DGP was built from stays inside
the literature's band, strong opioids are the true best for at most the documented small share, carbamazepine is
the true best only in trigeminal neuralgia, and most patients' true best is a first-line option of the guideline
catalog. Means of true probabilities over 30,000 patients, so the checks barely move from draw to draw."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from precisionpain.cohort import evidence as E
from precisionpain.cohort import params as P


@pytest.fixture(scope="module")
def guidelines(option_catalog: Any, repo_root: Any) -> Any:
    from precisionpain.catalog.guidelines import load_guideline_catalog

    return load_guideline_catalog(option_catalog, repo_root)


def test_every_rate_lies_inside_its_cited_band(large_cohort: pd.DataFrame) -> None:
    checks = E.band_checks(large_cohort)
    bands = {b.band_id for b in E.evidence_bands()}
    assert {c.band_id for c in checks} == bands  # every band is checked
    outside = [
        f"{c.band_id}/{c.option_id}: {c.rate:.3f} not in [{c.low:.3f}, {c.high:.3f}] ({c.published})"
        for c in checks
        if not c.inside
    ]
    assert outside == []
    for c in checks:
        assert c.n >= 100 and c.low < c.high, c  # enough patients, and a real band


def test_a_rate_outside_its_band_is_reported(large_cohort: pd.DataFrame) -> None:
    """The check can fail: a band the truth does not meet (a TCA NNT of 2, Finnerup's lowest, tightened) is
    reported outside."""
    band = E.EvidenceBand("too_strong", ("amitriptyline",), E.NEUROPATHIC_PERIPHERAL, "placebo", 0.45, 0.5, "x", "y")
    (check,) = E.band_checks(large_cohort, [band])
    assert not check.inside and check.rate < check.low


def test_strong_opioids_are_rarely_the_true_best(large_cohort: pd.DataFrame, option_catalog: Any) -> None:
    shares = E.strong_opioid_best_shares(large_cohort, option_catalog.ids)
    assert shares["all"] <= E.STRONG_OPIOID_BEST_MAX_SHARE
    worst = max((v, c) for c, v in shares.items() if c != "all")
    assert worst[0] <= E.STRONG_OPIOID_BEST_MAX_SHARE_PER_CONDITION, worst


def test_carbamazepine_is_the_true_best_only_in_trigeminal_neuralgia(
    large_cohort: pd.DataFrame, option_catalog: Any
) -> None:
    shares = E.carbamazepine_best_shares(large_cohort, option_catalog.ids)
    assert shares["trigeminal_neuralgia"] > 0.8  # NICE CG173: first line there
    assert shares["outside_trigeminal_neuralgia"] <= E.CARBAMAZEPINE_BEST_OUTSIDE_TN_MAX_SHARE
    assert shares["share_of_carbamazepine_best_in_trigeminal_neuralgia"] > 0.95


def test_most_patients_true_best_is_a_guideline_first_line_option(
    large_cohort: pd.DataFrame, option_catalog: Any, guidelines: Any
) -> None:
    shares = {s.condition: s for s in E.first_line_shares(large_cohort, option_catalog.ids, guidelines)}
    assert shares["all"].share > 0.5
    for condition in ("painful_diabetic_neuropathy", "postherpetic_neuralgia", "trigeminal_neuralgia"):
        assert shares[condition].share > 0.85, condition  # NeuPSIG/NICE first line: tricyclics, SNRIs, ...
    for s in shares.values():  # the departures are listed, largest first
        values = [v for _, v in s.departures]
        assert values == sorted(values, reverse=True)
        assert s.share + sum(values) <= 1.0 + 1e-9


# Where the 12-week truth keeps a pill ahead of the guideline's only first-line options, the evidence says why
# (docs/cohort.md, "First line"): a pill's effect is measured against a placebo whose non-specific effect the patient
# gets too, while exercise and topical diclofenac barely lead the oral NSAIDs in osteoarthritis (da Costa 2017,
# Fransen 2015) and trail duloxetine in fibromyalgia (Lunn 2014, Bidonde 2017); `other` takes the pain type's tables,
# and its nociplastic and mixed patients fare like fibromyalgia and mixed pain. These fail until the truth changes
# there, and then must be re-examined (strict).
_FIRST_LINE_NOT_THE_TRUE_BEST = {
    "knee_hip_osteoarthritis": "oral NSAIDs (second line) are about as good as exercise on 12-week pain",
    "fibromyalgia": "duloxetine (second line) beats exercise on 12-week pain (Lunn 2014 NNT 8)",
    "other": "nociplastic and mixed `other` patients fare as in fibromyalgia and mixed pain",
}


@pytest.mark.parametrize(
    "condition",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=_FIRST_LINE_NOT_THE_TRUE_BEST[c]))
        if c in _FIRST_LINE_NOT_THE_TRUE_BEST
        else c
        for c in P.PAIN_CONDITIONS
    ],
)
def test_each_conditions_true_best_is_first_line_for_most_patients(
    large_cohort: pd.DataFrame, option_catalog: Any, guidelines: Any, condition: str
) -> None:
    """Per condition, the share of patients whose true best is first line in their table exceeds one half."""
    shares = {s.condition: s for s in E.first_line_shares(large_cohort, option_catalog.ids, guidelines)}
    assert shares[condition].n >= 300
    assert shares[condition].share > 0.5, shares[condition]


def test_tables_and_markdown(large_cohort: pd.DataFrame, option_catalog: Any, guidelines: Any) -> None:
    ids = option_catalog.ids
    rates = E.response_rates_by_condition(large_cohort, ids)
    assert list(rates.index) == [E.NATURAL_COURSE, E.PLACEBO, *ids]
    tn = large_cohort["true_pain_condition"] == "trigeminal_neuralgia"
    assert rates.loc["carbamazepine", "trigeminal_neuralgia"] == pytest.approx(
        large_cohort.loc[tn, "true_p_response__carbamazepine"].mean()
    )
    best = E.best_share_by_condition(large_cohort, ids)
    np.testing.assert_allclose(best.sum(axis=0).to_numpy(), 1.0)
    text = E.evidence_markdown(large_cohort, ids, guidelines)
    for title in ("literature's bands", "by condition", "True best option", "Strong opioids", "first line", "subgroup"):
        assert title in text
    assert "| NO |" not in text


def test_first_line_share_by_subgroup_adds_up_to_the_conditions(
    large_cohort: pd.DataFrame, option_catalog: Any, guidelines: Any
) -> None:
    """The subgroups split a condition's patients: their sizes add up to the condition's and their shares average
    to its share; in osteoarthritis the first line is the true best more often for the oldest (the oral NSAIDs'
    withdrawals rise with age)."""
    shares = {s.condition: s for s in E.first_line_shares(large_cohort, option_catalog.ids, guidelines)}
    age = (large_cohort["age_years"] >= 75).map({True: "75+", False: "under 75"}).rename("age")
    for condition in ("knee_hip_osteoarthritis", "other"):
        by = E.first_line_share_by(large_cohort, option_catalog.ids, guidelines, condition, age)
        assert by["n"].sum() == shares[condition].n
        weighted = (by["n"] * by["true best is first line"]).sum() / by["n"].sum()
        assert weighted == pytest.approx(shares[condition].share)
    oa = E.first_line_share_by(large_cohort, option_catalog.ids, guidelines, "knee_hip_osteoarthritis", age)
    assert oa.loc["75+", "true best is first line"] > oa.loc["under 75", "true best is first line"] + 0.1
