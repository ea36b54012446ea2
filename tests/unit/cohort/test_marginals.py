"""Marginals against the published figures, assignment coverage and the consistency of the ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def test_demographic_and_questionnaire_marginals(cohort: pd.DataFrame) -> None:
    assert 52.0 <= cohort["age_years"].mean() <= 58.0  # ePPOC 52.7, Busse median 58
    assert abs((cohort["sex"] == "female").mean() - 0.60) < 0.04  # Busse 61%
    assert abs(cohort["bpi_severity"].mean() - 6.4) < 0.3  # ePPOC
    assert abs(cohort["bpi_interference"].mean() - 7.0) < 0.3
    assert abs(cohort["pcs_total"].mean() - 29.8) < 1.5
    assert abs(cohort["pseq_total"].mean() - 20.7) < 1.5
    assert abs((cohort["phq9_total"].dropna() >= 5).mean() - 0.71) < 0.06
    assert 0.03 < (cohort["phq9_item9"].dropna() > 0).mean() < 0.2
    assert abs((cohort["vitamin_d_25oh_ng_per_ml"].dropna() < 20).mean() - 0.32) < 0.05
    shares = cohort["pain_type"].value_counts(normalize=True)
    assert set(shares.index) == {"nociceptive", "neuropathic", "nociplastic", "mixed"}
    assert 0.15 < shares["neuropathic"] < 0.35 and shares["nociceptive"] > 0.3


def test_correlation_signs(cohort: pd.DataFrame) -> None:
    corr = cohort[["pcs_total", "phq9_total", "gad7_total", "tsk11_total", "pseq_total"]].corr()
    assert corr.loc["pcs_total", "phq9_total"] > 0.2
    assert corr.loc["phq9_total", "gad7_total"] > 0.2
    assert corr.loc["pcs_total", "tsk11_total"] > 0.1
    assert corr.loc["pseq_total", "pcs_total"] < -0.2
    assert corr.loc["pseq_total", "phq9_total"] < -0.2


def test_clinical_links(cohort: pd.DataFrame) -> None:
    by_type = cohort.groupby("pain_type")
    assert (
        by_type["paindetect_score"].mean()["neuropathic"]
        > by_type["paindetect_score"].mean()["nociceptive"] + 8
    )
    assert by_type["dn4_score"].mean()["neuropathic"] > by_type["dn4_score"].mean()["nociceptive"] + 2
    assert by_type["bdnf_ng_per_ml"].mean()["nociplastic"] > by_type["bdnf_ng_per_ml"].mean()["nociceptive"]
    diabetic = cohort["diabetes"].fillna(False).to_numpy(dtype=bool)
    assert cohort.loc[diabetic, "hba1c_pct"].mean() > cohort.loc[~diabetic, "hba1c_pct"].mean() + 1.0
    high_pain = cohort["baseline_nrs"] >= 8
    assert (
        cohort.loc[high_pain, "sleep_efficiency_pct"].mean()
        < cohort.loc[~high_pain, "sleep_efficiency_pct"].mean()
    )
    old = cohort["age_years"] >= 65
    assert cohort.loc[old, "hrv_rmssd_ms"].mean() < cohort.loc[~old, "hrv_rmssd_ms"].mean()
    assert cohort.loc[old, "il6_pg_per_ml"].mean() > cohort.loc[~old, "il6_pg_per_ml"].mean()


def test_every_option_is_assigned(cohort: pd.DataFrame, option_catalog: Any) -> None:
    shares = cohort["assigned_option"].value_counts(normalize=True)
    assert set(shares.index) == set(option_catalog.ids)
    assert shares.min() > 0.02


def test_assignment_is_confounded_but_overlapping(cohort: pd.DataFrame) -> None:
    nociceptive = cohort["pain_type"] == "nociceptive"
    trigeminal = cohort["pain_condition"] == "trigeminal_neuralgia"  # as recorded: the prescriber reads the record
    cbz = cohort["true_propensity__carbamazepine"]
    assert cbz[trigeminal].mean() > 5 * cbz[nociceptive].mean()
    old = cohort["age_years"] >= 70
    ibu = cohort["true_propensity__ibuprofen"]
    assert ibu[old].mean() < 0.5 * ibu[~old].mean()
    props = cohort[[c for c in cohort.columns if c.startswith("true_propensity__")]].to_numpy()
    assert props.min() > 0.002


def test_ground_truth_consistency(cohort: pd.DataFrame, option_catalog: Any) -> None:
    ids = list(option_catalog.ids)
    rows = np.arange(len(cohort))
    col = pd.Index(ids).get_indexer(cohort["assigned_option"])
    response = cohort[[f"true_response__{o}" for o in ids]].to_numpy()
    np.testing.assert_array_equal(cohort["responded"].to_numpy(), response[rows, col])
    props = cohort[[f"true_propensity__{o}" for o in ids]].to_numpy()
    np.testing.assert_allclose(props.sum(axis=1), 1.0, atol=1e-12)
    p = cohort[[f"true_p_response__{o}" for o in ids]].to_numpy()
    assert ((p > 0) & (p < 1)).all()
    adverse = cohort[[f"true_adverse_event__{o}" for o in ids]].to_numpy()
    dropout = cohort[[f"true_dropout__{o}" for o in ids]].to_numpy()
    assert (dropout[adverse == 1] == 1).all()  # an adverse event ends the treatment
    assert (response[adverse == 1] == 0).all()  # ... and counts as non-response (intention to treat)
    p_ae = cohort[[f"true_p_adverse_event__{o}" for o in ids]].to_numpy()
    p_drop = cohort[[f"true_p_dropout__{o}" for o in ids]].to_numpy()
    assert (p_drop >= p_ae - 1e-12).all()
    # sampled outcomes follow their probabilities
    assert abs(response.mean() - p.mean()) < 0.01
    assert abs(adverse.mean() - p_ae.mean()) < 0.01


def test_response_probabilities_are_calibrated_to_targets(cohort: pd.DataFrame, option_catalog: Any) -> None:
    p = cohort[[f"true_p_response__{o}" for o in option_catalog.ids]].to_numpy()
    assert np.mean((p >= 0.05) & (p <= 0.85)) > 0.95
    assert 0.35 <= cohort["responded"].mean() <= 0.47
    neuropathic = cohort["pain_type"] == "neuropathic"
    assert abs(cohort.loc[neuropathic, "true_p_placebo"].mean() - 0.38) < 0.03  # Duarte 2022
