"""The optional pain condition: a closed vocabulary that must agree with the pain type, in every input form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from precisionpain.catalog.loader import load_feature_catalog
from precisionpain.errors import CatalogError, ProfileValidationError
from precisionpain.features.frame import profiles_to_frame
from precisionpain.features.validate import frame_violations, validate_profile
from precisionpain.schema import PainCondition, PainType

BASE = {"age_years": 40, "sex": "female", "baseline_nrs": 6}

# the agreed consistency between condition and pain type (docs: README "Pain condition and guideline tiers")
ALLOWED: dict[str, set[str]] = {
    "painful_diabetic_neuropathy": {"neuropathic", "mixed"},
    "postherpetic_neuralgia": {"neuropathic", "mixed"},
    "trigeminal_neuralgia": {"neuropathic", "mixed"},
    "lumbar_radiculopathy": {"neuropathic", "mixed"},
    "other_neuropathic": {"neuropathic", "mixed"},
    "chronic_low_back_pain": {"nociceptive", "nociplastic", "mixed"},
    "knee_hip_osteoarthritis": {"nociceptive", "mixed"},
    "fibromyalgia": {"nociplastic", "mixed"},
    "other": {"nociceptive", "neuropathic", "nociplastic", "mixed"},
}


def _profile(condition: str | None, pain_type: str) -> dict[str, Any]:
    clinical: dict[str, Any] = {**BASE, "pain_type": pain_type}
    if condition is not None:
        clinical["pain_condition"] = condition
    return {"clinical": clinical}


def test_vocabulary_is_the_agreed_one() -> None:
    assert {c.value for c in PainCondition} == set(ALLOWED)


def test_condition_is_optional() -> None:
    assert validate_profile(_profile(None, "nociceptive")).clinical.pain_condition is None


@pytest.mark.parametrize("condition", sorted(ALLOWED))
@pytest.mark.parametrize("pain_type", [t.value for t in PainType])
def test_condition_must_agree_with_pain_type(condition: str, pain_type: str) -> None:
    data = _profile(condition, pain_type)
    if pain_type in ALLOWED[condition]:
        assert validate_profile(data).clinical.pain_condition == condition
        return
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(data)
    (v,) = err.value.violations
    assert v.path == "clinical.pain_condition"
    wanted = " or ".join(t.value for t in PainType if t.value in ALLOWED[condition])
    assert v.rule == f"{condition} requires clinical.pain_type {wanted}"
    assert v.received == "string"


def test_unknown_condition_is_one_violation_naming_the_vocabulary() -> None:
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(_profile("migraine_with_aura", "neuropathic"))
    assert [v.path for v in err.value.violations] == ["clinical.pain_condition"]
    assert "fibromyalgia" in err.value.violations[0].rule and "migraine" not in str(err.value)


def test_inconsistency_reported_with_other_problems_at_once() -> None:
    data = _profile("fibromyalgia", "neuropathic")
    data["clinical"]["age_years"] = 7
    data["clinical"]["baseline_nrs"] = "severe"  # a structural error: the raw path is checked too
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(data)
    paths = {v.path for v in err.value.violations}
    assert {"clinical.pain_condition", "clinical.age_years", "clinical.baseline_nrs"} <= paths


def test_an_invalid_pain_type_is_not_also_blamed_on_the_condition() -> None:
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(_profile("fibromyalgia", "visceral"))
    assert [v.path for v in err.value.violations] == ["clinical.pain_type"]


def test_frames_are_checked_with_rows(feature_catalog) -> None:  # type: ignore[no-untyped-def]
    profiles = [
        validate_profile(_profile("fibromyalgia", "nociplastic")),
        validate_profile(_profile(None, "neuropathic")),
        validate_profile(_profile("trigeminal_neuralgia", "mixed")),
    ]
    frame = profiles_to_frame(profiles, feature_catalog)
    assert "pain_condition" in frame.columns
    assert frame_violations(frame, feature_catalog) == []
    frame.loc[1, "pain_condition"] = "fibromyalgia"  # with a neuropathic pain type
    frame.loc[2, "pain_condition"] = "knee_hip_osteoarthritis"  # with a mixed pain type: allowed
    (v,) = frame_violations(frame, feature_catalog)
    assert v.path == "pain_condition"
    assert v.rule == "fibromyalgia requires pain_type nociplastic or mixed (rows 1)"
    frame = frame.drop(columns=["pain_condition"])  # a frame without the column is not checked for it
    assert frame_violations(frame, feature_catalog) == []


def _edit(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _constraint(d: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in d["constraints"] if c["id"] == "pain_condition_agrees_with_pain_type")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda c: c["allowed"].update(fibromyalgia=["nociplastic", "visceral"]), "'visceral'"),
        (lambda c: c["allowed"].update(migraine=["neuropathic"]), "'migraine'"),
        (lambda c: c["allowed"].pop("other"), "'other'"),
        (lambda c: c.pop("allowed"), "allowed"),
        (lambda c: c.update(fields=["pain_condition", "age_years"]), "category"),
    ],
    ids=["unknown-pain-type", "unknown-condition", "condition-left-out", "no-table", "not-a-category"],
)
def test_the_catalog_rule_is_strict(catalog_copy: Path, change, fragment: str) -> None:  # type: ignore[no-untyped-def]
    _edit(catalog_copy / "features" / "clinical.yaml", lambda d: change(_constraint(d)))
    with pytest.raises(CatalogError) as err:
        load_feature_catalog(catalog_copy)
    assert fragment in str(err.value)


def test_frame_of_examples_has_no_condition_problems(feature_catalog, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    profiles = [validate_profile(d) for d in example_profile_dicts.values()]
    assert frame_violations(profiles_to_frame(profiles, feature_catalog), feature_catalog) == []
    assert isinstance(profiles_to_frame(profiles, feature_catalog), pd.DataFrame)
