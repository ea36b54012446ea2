"""The inputs the safety rules read: emitted by the generator with the documented marginals (docs/cohort.md,
"Safety inputs"), consistent with each other and with the truth, recorded with realistic gaps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from precisionpain.cohort import params as P

SAFETY_COLUMNS = (
    "egfr_ml_per_min_1_73m2", "hepatic_impairment", "pregnant", "gestational_age_weeks", "breastfeeding",
    "opioid_mme_per_day", "history_gi_bleed", "cardiovascular_disease", "seizure_disorder", "medications",
)  # fmt: skip


def _sets(frame: pd.DataFrame, column: str) -> list[set[str]]:
    return [set(v.split("; ")) if isinstance(v, str) and v else set() for v in frame[column].astype(object)]


def _taking(frame: pd.DataFrame, names: set[str], column: str = "true_medications") -> np.ndarray:
    return np.asarray([bool(s & names) for s in _sets(frame, column)])


def test_columns_are_recorded_profile_columns(cohort: pd.DataFrame, feature_catalog: Any) -> None:
    visible = [c for c in cohort.columns if not c.startswith("true_")]
    for column in SAFETY_COLUMNS:
        assert column in visible, column
        assert cohort[column].notna().any() and cohort[column].isna().any(), column  # recorded, with gaps
        assert f"true_{column}" in cohort.columns or column == "gestational_age_weeks"
    assert feature_catalog.field("medications").field.type.value == "medication_list"


def test_documented_marginals(large_cohort: pd.DataFrame) -> None:
    df = large_cohort
    age = df["age_years"].to_numpy()
    egfr = df["true_egfr_ml_per_min_1_73m2"].to_numpy()
    assert abs((egfr < 60).mean() - 0.14) < 0.02  # CDC CKD surveillance
    assert abs((egfr[age >= 65] < 60).mean() - 0.38) < 0.04
    diabetic = df["diabetes"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    assert (egfr[diabetic] < 60).mean() > 1.8 * (egfr[~diabetic] < 60).mean()
    assert 0.003 < (egfr < 30).mean() < 0.02
    hepatic = df["true_hepatic_impairment"].astype(object)
    assert 0.007 < (hepatic != "none").mean() < 0.02
    assert (hepatic == "child_pugh_a").sum() > (hepatic == "child_pugh_c").sum()
    women_18_44 = ((df["sex"] == "female").to_numpy()) & (age < 45)
    assert 0.01 < df["true_pregnant"].to_numpy(dtype=bool)[women_18_44].mean() < 0.035
    assert 0.01 < df["true_breastfeeding"].to_numpy(dtype=bool)[women_18_44].mean() < 0.035
    mme = df["true_opioid_mme_per_day"].dropna().to_numpy()
    assert abs(np.median(mme) - 30) <= 3 and abs((mme >= 50).mean() - 0.26) < 0.04 and abs((mme >= 90).mean() - 0.09) < 0.03
    for column, overall in (("history_gi_bleed", (0.01, 0.04)), ("cardiovascular_disease", (0.08, 0.15))):
        values = df[f"true_{column}"].to_numpy(dtype=bool)
        assert overall[0] < values.mean() < overall[1], column
        assert values[age >= 75].mean() > 2 * values[age < 55].mean(), column  # rising with age
    assert 0.007 < df["true_seizure_disorder"].to_numpy(dtype=bool).mean() < 0.018


def test_medicines_follow_their_drivers(large_cohort: pd.DataFrame) -> None:
    df = large_cohort
    groups = {g: set(names) for g, names in P.MEDICATION_GROUPS.items()}
    phq = df["phq9_total"].to_numpy(dtype=float)
    gad = df["gad7_total"].to_numpy(dtype=float)
    age = df["age_years"].to_numpy()
    antidepressant, benzo = _taking(df, groups["antidepressant"]), _taking(df, groups["benzodiazepine"])
    assert antidepressant[phq >= 10].mean() > 1.5 * antidepressant[phq < 10].mean()  # SSRIs/SNRIs with depression
    assert benzo[gad >= 10].mean() > 1.5 * benzo[gad < 10].mean()  # benzodiazepines with anxiety
    anticoagulant = _taking(df, groups["anticoagulant"])
    assert anticoagulant[age >= 75].mean() > 4 * anticoagulant[age < 65].mean()  # anticoagulants with age
    assert 0.0005 < _taking(df, groups["maoi"]).mean() < 0.008  # a few MAOIs
    assert 0.05 < _taking(df, groups["proton_pump_inhibitor"]).mean() < 0.15
    counts = np.asarray([len(s) for s in _sets(df, "true_medications")])
    assert (counts == 0).mean() > 0.2 and (counts >= 2).mean() > 0.1 and counts.max() >= 3  # 0 to several


def test_inputs_agree_with_each_other_and_the_truth(large_cohort: pd.DataFrame) -> None:
    df = large_cohort
    age = df["age_years"].to_numpy()
    female = (df["sex"] == "female").to_numpy()
    pregnant = df["true_pregnant"].to_numpy(dtype=bool)
    assert not pregnant[~female | (age >= 50)].any()
    assert not df["true_breastfeeding"].to_numpy(dtype=bool)[~female | pregnant].any()
    ga = df["gestational_age_weeks"].to_numpy(dtype=float)
    recorded_pregnant = (df["pregnant"].astype(object) == True).to_numpy()  # noqa: E712
    assert np.isnan(ga[~recorded_pregnant]).all() and (~np.isnan(ga[recorded_pregnant])).mean() > 0.8
    assert ((ga[~np.isnan(ga)] >= 4) & (ga[~np.isnan(ga)] <= 40)).all()
    # an opioid on the (true) list exactly for current opioid users; the dose only for them
    users = df["true_opioid_mme_per_day"].notna().to_numpy()
    assert (_taking(df, set(P.MEDICATION_GROUPS["opioid"])) == users).all()
    dose = df["opioid_mme_per_day"].notna().to_numpy()
    assert (df["current_opioid_use"].astype(object)[dose] == True).all()  # noqa: E712
    # MAO inhibitors never with another antidepressant (the combination is contraindicated)
    maoi = _taking(df, set(P.MEDICATION_GROUPS["maoi"]))
    assert not (maoi & _taking(df, set(P.MEDICATION_GROUPS["antidepressant"]))).any()
    # recorded values are the truth where recorded
    listed = df["medications"].notna().to_numpy()
    assert (df["medications"].astype(object)[listed] == df["true_medications"].astype(object)[listed]).all()
    for column in ("egfr_ml_per_min_1_73m2", "hepatic_impairment", "history_gi_bleed", "cardiovascular_disease",
                   "seizure_disorder", "pregnant", "breastfeeding", "opioid_mme_per_day"):  # fmt: skip
        shown = df[column].notna().to_numpy()
        assert (df[column].astype(object)[shown] == df[f"true_{column}"].astype(object)[shown]).all(), column


def test_realistic_missingness(large_cohort: pd.DataFrame) -> None:
    df = large_cohort
    age = df["age_years"].to_numpy()
    assert 0.15 < df["egfr_ml_per_min_1_73m2"].isna().mean() < 0.4
    older = age >= 65
    assert df["egfr_ml_per_min_1_73m2"].notna()[older].mean() > df["egfr_ml_per_min_1_73m2"].notna()[~older].mean()
    assert 0.4 < df["hepatic_impairment"].isna().mean() < 0.6
    male = (df["sex"] == "male").to_numpy()
    assert df["pregnant"].isna()[male].all() and df["breastfeeding"].isna()[male].all()
    assert 0.7 < df["pregnant"].notna()[~male & (age < 50)].mean() < 0.9
    takes_any = np.asarray([bool(s) for s in _sets(df, "true_medications")])
    assert 0.8 < df["medications"].notna()[takes_any].mean() < 0.9
    assert df["medications"].isna()[~takes_any].all()


def test_summary_table_reports_the_generated_numbers(large_cohort: pd.DataFrame) -> None:
    """docs/cohort.md pastes this table; it is computed from the frame, not written by hand."""
    from precisionpain.cohort.summary import safety_inputs_table

    table = safety_inputs_table(large_cohort)
    egfr = large_cohort["true_egfr_ml_per_min_1_73m2"].to_numpy()
    assert table.loc["eGFR < 60 mL/min/1.73 m2", "cohort"] == (egfr < 60).mean()
    assert table.loc["opioid on the list, current opioid users", "cohort"] == 1.0
    assert table["published"].str.len().min() > 0
