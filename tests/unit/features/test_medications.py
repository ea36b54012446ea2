"""The medication list in the feature layer: the flat column round-trips, every name is resolved against the
medication catalog whichever way the profile arrives (JSON, flat table), and the CYP2D6 functional activity
feature reads the inhibitors (phenoconversion) the way the safety rules do."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from precisionpain.errors import ProfileValidationError
from precisionpain.features.assemble import assemble_features
from precisionpain.features.frame import flat_columns, profile_to_row, profiles_to_frame, row_to_profile_dict
from precisionpain.features.validate import frame_violations, validate_profile

CLINICAL = {"age_years": 50, "sex": "female", "pain_type": "neuropathic", "baseline_nrs": 6}


def _profile(medications: list[dict[str, str]] | None = None, **pgx: Any) -> Any:
    data: dict[str, Any] = {"clinical": dict(CLINICAL), "pgx": pgx}
    if medications is not None:
        data["medications"] = medications
    return validate_profile(data)


def test_flat_column_round_trips(feature_catalog: Any) -> None:
    assert flat_columns(feature_catalog)[-1] == "medications"
    p = _profile([{"name": "paroxetine"}, {"name": "methylene blue"}, {"name": "omeprazole"}])
    row = profile_to_row(p, feature_catalog)
    assert row["medications"] == "paroxetine; methylene blue; omeprazole"
    back = validate_profile(row_to_profile_dict(row, feature_catalog))
    assert back == p
    # synonyms and RxCUIs resolve to the catalog's generic names in the flat form (the name resolves the medicine)
    given = _profile([{"name": "Paxil"}, {"name": "prozac", "rxnorm": "4493"}])
    assert profile_to_row(given, feature_catalog)["medications"] == "paroxetine; fluoxetine"
    # none recorded: missing in the flat form and an empty list in the profile, both ways
    empty = _profile()
    assert profile_to_row(empty, feature_catalog)["medications"] is None
    for blank in (None, "", " ; ", float("nan")):
        assert "medications" not in row_to_profile_dict({**row, "medications": blank}, feature_catalog)


def test_frame_of_profiles_round_trips(feature_catalog: Any) -> None:
    profiles = [_profile([{"name": "sertraline"}]), _profile(), _profile([{"name": "diazepam"}, {"name": "tramadol"}])]
    frame = profiles_to_frame(profiles, feature_catalog)
    assert frame["medications"].isna().tolist() == [False, True, False]
    assert frame["medications"].dropna().tolist() == ["sertraline", "diazepam; tramadol"]
    assert frame_violations(frame, feature_catalog) == []
    again = [validate_profile(r) for r in (row_to_profile_dict(x, feature_catalog) for x in frame.to_dict("records"))]
    assert again == profiles


def test_unknown_name_in_json_is_a_violation_at_its_index() -> None:
    with pytest.raises(ProfileValidationError) as err:
        _profile([{"name": "paroxetine"}, {"name": "Zzyzx-500"}, {"name": "sertraline", "rxnorm": "4493"}])
    described = {v.path: v for v in err.value.violations}
    assert set(described) == {"medications[1].name", "medications[2].rxnorm"}
    assert "medication catalog" in described["medications[1].name"].rule
    assert "Zzyzx" not in str(err.value)  # the value is never echoed


def test_unknown_name_is_reported_beside_other_schema_errors() -> None:
    """A profile that fails the schema elsewhere still gets its medication names checked."""
    data = {"clinical": {**CLINICAL, "age_years": "old"}, "medications": [{"name": "Zzyzx-500"}, {"name": "x" * 200}]}
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(data)
    paths = {v.path for v in err.value.violations}
    assert {"clinical.age_years", "medications[0].name", "medications[1].name"} <= paths
    assert sum(v.path == "medications[1].name" for v in err.value.violations) == 1  # too long: not resolved as well


def test_unknown_name_in_a_frame_names_position_and_rows(feature_catalog: Any) -> None:
    frame = profiles_to_frame([_profile(), _profile(), _profile()], feature_catalog)
    frame["medications"] = ["paroxetine; Zzyzx-500", "sertraline", "paroxetine; Zzyzx-500"]
    violations = frame_violations(frame, feature_catalog)
    assert [v.path for v in violations] == ["medications[1].name"]
    assert "medication catalog" in violations[0].rule and "rows 0, 2" in violations[0].rule
    assert "Zzyzx" not in violations[0].describe()
    with pytest.raises(ProfileValidationError, match=r"medications\[1\]\.name"):
        assemble_features(frame, feature_catalog)


def test_bad_flat_values_are_bounded_and_named(feature_catalog: Any) -> None:
    frame = profiles_to_frame([_profile(), _profile(), _profile()], feature_catalog)
    frame["medications"] = pd.Series([7, "a" * 100_000, "; ".join(["sertraline"] * 65)], dtype=object)
    texts = " | ".join(v.describe() for v in frame_violations(frame, feature_catalog))
    assert "medications: must be text" in texts and "(rows 0)" in texts
    assert "medications: must be at most" in texts and "characters (rows 1)" in texts
    assert "must list at most 64 medications (rows 2)" in texts


def _feature(profile: Any, name: str) -> float:
    return assemble_features(profile).value(name)


@pytest.mark.parametrize(
    ("medications", "expected"),
    [
        ([], 2.0),  # no inhibitor: the genotype score
        ([{"name": "sertraline"}], 2.0),  # weak CYP2D6 inhibitor: unchanged (negative control)
        ([{"name": "duloxetine"}], 1.0),  # moderate: x 0.5
        ([{"name": "paroxetine"}], 0.0),  # strong: x 0
        ([{"name": "duloxetine"}, {"name": "bupropion"}], 0.0),  # the strongest counts
        ([{"name": "omeprazole"}], 2.0),  # a CYP2C19 inhibitor does not touch CYP2D6
    ],
)
def test_cyp2d6_functional_activity_score(medications: list[dict[str, str]], expected: float) -> None:
    profile = _profile(medications, cyp2d6={"diplotype": "*1/*1"})
    assert _feature(profile, "cyp2d6_functional_activity_score") == expected
    assert _feature(profile, "cyp2d6_activity_score") == 2.0  # the genotype feature stays the genotype


def test_functional_score_without_a_genotype_score() -> None:
    phenotype_only = {"phenotype": "Normal Metabolizer"}
    strong = _profile([{"name": "paroxetine"}], cyp2d6=phenotype_only)
    assert _feature(strong, "cyp2d6_functional_activity_score") == 0.0  # a strong inhibitor makes it 0
    moderate = _profile([{"name": "duloxetine"}], cyp2d6=phenotype_only)
    assert math.isnan(_feature(moderate, "cyp2d6_functional_activity_score"))
    untested = _profile([{"name": "paroxetine"}])
    assert math.isnan(_feature(untested, "cyp2d6_functional_activity_score"))


def test_functional_score_agrees_with_the_safety_engine(repo_root: Any) -> None:
    """The feature is the engine's functional activity score (same method, same catalogs)."""
    from precisionpain.safety import apply_safety_rules, load_safety_catalogs

    catalogs = load_safety_catalogs(repo_root)
    for diplotype in ("*1/*1", "*1/*4", "*1/*2x2", "*4/*10", "*10/*10"):
        for meds in ([], [{"name": "paroxetine"}], [{"name": "duloxetine"}], [{"name": "citalopram"}]):
            profile = _profile(meds, cyp2d6={"diplotype": diplotype})
            reading = apply_safety_rules(profile, catalogs).functional_phenotypes[0]
            assert reading.gene == "CYP2D6"
            expected = float((reading.functional_activity_score or "nan").lstrip("≥"))
            assert _feature(profile, "cyp2d6_functional_activity_score") == pytest.approx(expected, nan_ok=True)


def test_one_code_path_for_a_profile_and_a_table(feature_catalog: Any) -> None:
    profiles = [
        _profile(m, cyp2d6={"diplotype": d})
        for d in ("*1/*1", "*1/*4", "*2/*41")
        for m in ([], [{"name": "paroxetine"}], [{"name": "duloxetine"}, {"name": "diazepam"}])
    ]
    frame = profiles_to_frame(profiles * 30, feature_catalog)  # more rows than the small-table path
    table = assemble_features(frame, feature_catalog).to_frame()
    for i, p in enumerate(profiles):
        single = assemble_features(p)
        for name in ("cyp2d6_functional_activity_score", "hepatic_impairment_ordinal", "egfr_ml_per_min_1_73m2"):
            np.testing.assert_equal(table[name].iloc[i], single.value(name))


def test_organ_function_and_opioid_dose_features() -> None:
    data = {"clinical": {**CLINICAL, "egfr_ml_per_min_1_73m2": 42.0, "opioid_mme_per_day": 60.0,
                         "hepatic_impairment": "child_pugh_b"}}  # fmt: skip
    fv = assemble_features(validate_profile(data))
    assert fv.value("egfr_ml_per_min_1_73m2") == 42.0 and fv.value("opioid_mme_per_day") == 60.0
    assert fv.value("hepatic_impairment_ordinal") == 2.0
    levels = {"none": 0.0, "child_pugh_a": 1.0, "child_pugh_c": 3.0}
    for level, value in levels.items():
        p = validate_profile({"clinical": {**CLINICAL, "hepatic_impairment": level}})
        assert assemble_features(p).value("hepatic_impairment_ordinal") == value
    assert "hepatic_impairment_ordinal" in assemble_features(_profile()).missing
