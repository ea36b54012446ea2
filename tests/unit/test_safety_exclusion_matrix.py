"""safety_exclusion_matrix: the safety engine over a flat patient table (evaluation's "which options may this
patient get"), equal to apply_safety_rules on each patient's profile, whatever makes the exclusion."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from precisionpain.errors import DataError


@pytest.fixture(scope="module")
def catalogs(repo_root: Any) -> Any:
    from precisionpain.safety import load_safety_catalogs

    return load_safety_catalogs(repo_root)


def _with(frame: pd.DataFrame, rows: slice, **values: Any) -> pd.DataFrame:
    out = frame.iloc[rows].copy()
    for key, value in values.items():
        out[key] = pd.Series([value] * len(out), index=out.index, dtype=object)
    return out


@pytest.fixture(scope="module")
def patients(catalogs: Any) -> pd.DataFrame:
    """Cohort patients, and copies of some made to hit each kind of exclusion (and near misses)."""
    from precisionpain.cohort import generate_cohort

    cohort = generate_cohort(2500, 31, catalog=catalogs.features, options=catalogs.options, tables=catalogs.tables)
    nm = {"cyp2d6_diplotype": "*1/*1", "cyp2d6_phenotype": None, "cyp2d6_activity_score": None}
    parts = [
        cohort,
        _with(cohort, slice(0, 40), **nm, medications="paroxetine"),  # phenoconversion -> CPIC avoid
        _with(cohort, slice(40, 80), **nm, medications="sertraline"),  # weak inhibitor: nothing
        _with(cohort, slice(80, 120), egfr_ml_per_min_1_73m2=25.0),
        _with(cohort, slice(120, 160), egfr_ml_per_min_1_73m2=30.0),  # at the threshold: not below
        _with(cohort, slice(160, 200), sex="female", age_years=30.0, pregnant=True, gestational_age_weeks=24.0),
        _with(cohort, slice(200, 240), sex="female", age_years=30.0, pregnant=True, gestational_age_weeks=None),
        _with(cohort, slice(240, 280), sex="female", age_years=30.0, pregnant=False, breastfeeding=True),
        _with(cohort, slice(280, 320), medications="phenelzine; omeprazole"),
        _with(cohort, slice(320, 360), hepatic_impairment="child_pugh_c"),
        _with(cohort, slice(360, 400), phq9_total=15.0, phq9_item9=2.0),
        _with(cohort, slice(400, 440), hla_b_1502="not_tested", biogeographic_group="east_asian",
              carbamazepine_prior_use_over_3_months=None),
        _with(cohort, slice(440, 480), hla_b_1502="positive", carbamazepine_prior_use_over_3_months=True),
        _with(cohort, slice(480, 520), age_years=65.0),
        _with(cohort, slice(520, 560), age_years=64.0, medications="tramadol; alprazolam", opioid_mme_per_day=95.0),
    ]  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def _engine_matrix(frame: pd.DataFrame, option_ids: list[str], catalogs: Any) -> np.ndarray:
    """The per-profile reference: each row validated as a profile and assessed by the engine on its own."""
    from precisionpain.features.frame import row_to_profile_dict
    from precisionpain.features.validate import validate_profile
    from precisionpain.safety import apply_safety_rules

    out = np.zeros((len(frame), len(option_ids)), dtype=bool)
    for i, row in enumerate(frame.to_dict(orient="records")):
        profile = validate_profile(row_to_profile_dict(row, catalogs.features), catalogs.features, catalogs.tables)
        excluded = set(apply_safety_rules(profile, catalogs).excluded_ids)
        out[i] = [o in excluded for o in option_ids]
    return out


def test_equals_the_engine_on_every_patient(patients: pd.DataFrame, catalogs: Any) -> None:
    from precisionpain.ranking import safety_exclusion_matrix

    option_ids = list(catalogs.options.ids)
    matrix = safety_exclusion_matrix(patients, option_ids, catalogs)
    expected = _engine_matrix(patients, option_ids, catalogs)
    assert matrix.shape == expected.shape and matrix.dtype == bool
    mismatch = np.argwhere(matrix != expected)
    assert len(mismatch) == 0, [(int(i), option_ids[j]) for i, j in mismatch[:10]]
    # the table exercises every kind of exclusion, not only CPIC
    excluded = {o for j, o in enumerate(option_ids) if matrix[:, j].any()}
    assert {"codeine", "tramadol", "celecoxib", "ibuprofen", "meloxicam", "duloxetine", "amitriptyline",
            "carbamazepine"} <= excluded  # fmt: skip
    assert not matrix[:, option_ids.index("physical_therapy")].any()


def test_rows_hit_by_one_rule_each(patients: pd.DataFrame, catalogs: Any) -> None:
    """Spot checks that the matrix is not merely equal to the engine but says the clinical thing."""
    from precisionpain.ranking import safety_exclusion_matrix

    ids = ["codeine", "tramadol", "ibuprofen", "duloxetine", "amitriptyline", "carbamazepine", "oxycodone"]
    m = pd.DataFrame(safety_exclusion_matrix(patients, ids, catalogs), columns=ids)
    n = 2500
    paroxetine, sertraline = slice(n, n + 40), slice(n + 40, n + 80)
    assert m.loc[paroxetine.start : paroxetine.stop - 1, ["codeine", "tramadol"]].all().all()
    assert not m.loc[sertraline.start : sertraline.stop - 1, "codeine"].any()  # negative control
    assert m.loc[n + 80 : n + 119, ["ibuprofen", "duloxetine"]].all().all()  # eGFR 25
    assert m.loc[n + 160 : n + 199, "ibuprofen"].all() and m.loc[n + 200 : n + 239, "ibuprofen"].all()
    assert m.loc[n + 240 : n + 279, ["codeine", "tramadol"]].all().all()  # breastfeeding
    assert m.loc[n + 280 : n + 319, ["tramadol", "duloxetine", "amitriptyline"]].all().all()  # MAOI
    assert m.loc[n + 360 : n + 399, "amitriptyline"].all()  # PHQ-9 item 9 > 0
    assert m.loc[n + 400 : n + 439, "carbamazepine"].all()  # HLA-B*15:02 untested, East Asian
    assert m.loc[n + 480 : n + 519, "amitriptyline"].all()  # Beers at 65
    assert not m.loc[n + 520 : n + 559, "oxycodone"].any()  # benzodiazepine and dose: warnings only


def test_option_order_and_subset(patients: pd.DataFrame, catalogs: Any) -> None:
    from precisionpain.ranking import safety_exclusion_matrix

    full = safety_exclusion_matrix(patients.head(300), list(catalogs.options.ids), catalogs)
    some = ["tramadol", "physical_therapy", "codeine"]
    part = safety_exclusion_matrix(patients.head(300), some, catalogs)
    np.testing.assert_array_equal(part, full[:, [list(catalogs.options.ids).index(o) for o in some]])
    assert safety_exclusion_matrix(patients.head(0), some, catalogs).shape == (0, 3)
    with pytest.raises(DataError, match=r"options\[0\]"):
        safety_exclusion_matrix(patients.head(5), ["no_such_option"], catalogs)
