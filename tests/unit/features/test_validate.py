"""Profile validation: every violation at once, with paths and rules, never echoing a value."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from precisionpain.errors import ProfileValidationError
from precisionpain.features.validate import validate_profile


def _paths(err: ProfileValidationError) -> set[str]:
    return {v.path for v in err.violations}


def test_examples_are_valid(example_profile_dicts: dict[str, dict[str, Any]]) -> None:
    assert len(example_profile_dicts) >= 4
    for name, data in example_profile_dicts.items():
        profile = validate_profile(data)
        assert profile.clinical.age_years > 0, name


def test_minimum_profile_needs_only_four_fields() -> None:
    p = validate_profile({"clinical": {"age_years": 40, "sex": "male", "pain_type": "mixed", "baseline_nrs": 5}})
    assert p.biomarkers.hs_crp_mg_per_l is None


@pytest.mark.parametrize("missing", ["age_years", "sex", "pain_type", "baseline_nrs"])
def test_each_required_field(missing: str) -> None:
    clinical = {"age_years": 40, "sex": "male", "pain_type": "mixed", "baseline_nrs": 5}
    clinical.pop(missing)
    with pytest.raises(ProfileValidationError) as err:
        validate_profile({"clinical": clinical})
    assert f"clinical.{missing}" in _paths(err.value)


def test_all_violations_reported_at_once_without_values(example_profile_dicts: dict[str, dict[str, Any]]) -> None:
    data = copy.deepcopy(example_profile_dicts["cyp2d6_poor_metabolizer"])
    data["patient_ref"] = "MRN-7781234"
    data["clinical"]["age_years"] = 131.25
    data["clinical"]["baseline_nrs"] = 10.75
    data["biomarkers"]["hs_crp_mg_per_l"] = -3.5
    data["wearables"]["steps_per_day"] = 987654.0
    data["psychosocial"]["phq9_total"] = 31
    data["pgx"]["cyp2d6"] = {"diplotype": "*4/*987"}
    data["biomarkers"]["glucose_mg_per_dl"] = 104.5
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(data)
    paths = _paths(err.value)
    assert {
        "clinical.age_years",
        "clinical.baseline_nrs",
        "biomarkers.hs_crp_mg_per_l",
        "wearables.steps_per_day",
        "psychosocial.phq9_total",
        "pgx.cyp2d6.diplotype",
        "biomarkers.glucose_mg_per_dl",
    } <= paths
    text = str(err.value)
    for value in ("131.25", "10.75", "-3.5", "987654", "31", "*987", "104.5", "MRN-7781234"):
        assert value not in text
    by_path = {v.path: v for v in err.value.violations}
    assert "between 18 and 110" in by_path["clinical.age_years"].rule
    assert by_path["clinical.age_years"].received == "number"
    assert "unknown key" in by_path["biomarkers.glucose_mg_per_dl"].rule


def test_structural_and_range_errors_together() -> None:
    data = {
        "clinical": {"age_years": 12, "sex": "unknown", "pain_type": "neuropathic", "baseline_nrs": "high"},
        "psychosocial": {"pcs_total": 77},
    }
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(data)
    assert {"clinical.age_years", "clinical.sex", "clinical.baseline_nrs", "psychosocial.pcs_total"} <= _paths(
        err.value
    )
    assert "unknown" not in str(err.value).replace("unknown key", "")


def test_integer_scores_must_be_whole() -> None:
    data = {
        "clinical": {"age_years": 40, "sex": "male", "pain_type": "mixed", "baseline_nrs": 5},
        "psychosocial": {"phq9_total": 7.5},
    }
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(data)
    assert "psychosocial.phq9_total" in _paths(err.value)


def test_cross_field_rule_item9_within_total() -> None:
    data = {
        "clinical": {"age_years": 40, "sex": "male", "pain_type": "mixed", "baseline_nrs": 5},
        "psychosocial": {"phq9_total": 2, "phq9_item9": 3},
    }
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(data)
    assert "psychosocial.phq9_item9" in _paths(err.value)


@pytest.mark.parametrize(
    ("gene", "pgx_part", "fragment"),
    [
        ("cyp2d6", {"diplotype": "*1/*4", "phenotype": "Ultrarapid Metabolizer"}, "disagrees"),
        ("cyp2d6", {"diplotype": "*1/*4", "activity_score": "2.0"}, "disagrees"),
        ("cyp2d6", {"phenotype": "Poor Metabolizer", "activity_score": "1.5"}, "disagrees"),
        ("cyp2d6", {"phenotype": "Slow Metabolizer"}, "CPIC term"),
        ("cyp2c19", {"phenotype": "Rapid Metabolizer", "activity_score": "2.0"}, "no activity score"),
        ("cyp2c9", {"diplotype": "*1-*3"}, "separated by '/'"),
        ("cyp2c9", {"activity_score": "lots"}, "number"),
    ],
)
def test_pgx_consistency(gene: str, pgx_part: dict[str, str], fragment: str) -> None:
    data = {
        "clinical": {"age_years": 40, "sex": "male", "pain_type": "mixed", "baseline_nrs": 5},
        "pgx": {gene: pgx_part},
    }
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(data)
    assert any(v.path.startswith(f"pgx.{gene}.") and fragment in v.rule for v in err.value.violations)


def test_consistent_pgx_forms_are_accepted() -> None:
    base = {"age_years": 40, "sex": "male", "pain_type": "mixed", "baseline_nrs": 5}
    for pgx in (
        {"cyp2d6": {"diplotype": "*1/*4", "phenotype": "IM", "activity_score": "1.0"}},
        {"cyp2d6": {"diplotype": "*1/*1x≥3", "activity_score": ">=4"}},
        {"cyp2d6": {"phenotype": "Indeterminate"}},
        {"cyp2c19": {"diplotype": "*17/*1", "phenotype": "rapid metabolizer"}},
    ):
        validate_profile({"clinical": base, "pgx": pgx})


def test_json_text_and_bytes() -> None:
    text = json.dumps({"clinical": {"age_years": 40, "sex": "male", "pain_type": "mixed", "baseline_nrs": 5}})
    assert validate_profile(text) == validate_profile(text.encode())
    with pytest.raises(ProfileValidationError, match="not valid JSON"):
        validate_profile("{not json")
    with pytest.raises(ProfileValidationError, match="JSON object"):
        validate_profile("[1, 2]")


def test_non_finite_numbers_rejected() -> None:
    data = {"clinical": {"age_years": float("nan"), "sex": "male", "pain_type": "mixed", "baseline_nrs": 5}}
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(data)
    assert "clinical.age_years" in _paths(err.value)


# ------------------------------------------------------------------------------ adversarial input (bounds)

MINIMAL = {"age_years": 40, "sex": "male", "pain_type": "mixed", "baseline_nrs": 5}


def test_candidate_option_ids_are_bounded_in_count_and_length() -> None:
    too_many = [f"option_{i}" for i in range(65)]
    with pytest.raises(ProfileValidationError) as err:
        validate_profile({"clinical": MINIMAL, "candidate_option_ids": too_many})
    assert "candidate_option_ids" in _paths(err.value)
    with pytest.raises(ProfileValidationError) as err:
        validate_profile({"clinical": MINIMAL, "candidate_option_ids": ["codeine", "x" * 5000]})
    assert _paths(err.value) == {"candidate_option_ids[1]"}
    assert "xxxx" not in str(err.value)


@pytest.mark.parametrize(
    ("section", "field"),
    [("clinical", "age_years"), ("psychosocial", "pcs_total"), ("wearables", "window_days")],
)
def test_huge_integers_are_range_violations(section: str, field: str) -> None:
    data: dict[str, Any] = {"clinical": dict(MINIMAL)}
    data.setdefault(section, {})[field] = 10**400
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(data)
    assert f"{section}.{field}" in _paths(err.value)
    assert "1" * 20 not in str(err.value)


@pytest.mark.parametrize(
    "text",
    [
        '{"clinical": {"age_years": ' + "1" * 5000 + "}}",
        "[" * 100_000,
        '{"a": ' * 100_000,
    ],
    ids=["number-with-5000-digits", "deeply-nested-list", "deeply-nested-object"],
)
def test_json_that_cannot_be_read_is_a_violation(text: str) -> None:
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(text)
    assert _paths(err.value) == {"(root)"}


@pytest.mark.parametrize(
    ("part", "value"),
    [
        ("activity_score", "1e9999999"),
        ("activity_score", "1E5"),
        ("activity_score", "Infinity"),
        ("activity_score", "1_0"),
        ("activity_score", "99"),
        ("activity_score", "6.25"),
        ("diplotype", "*1²/*4"),
        ("diplotype", "*1/*4" + "1" * 190),
        ("diplotype", "*1x" + "9" * 190 + "/*4"),
        ("phenotype", "(" * 80),
    ],
)
def test_adversarial_gene_parts_are_violations(part: str, value: str) -> None:
    data = {"clinical": MINIMAL, "pgx": {"cyp2d6": {part: value}}}
    with pytest.raises(ProfileValidationError) as err:
        validate_profile(data)
    assert _paths(err.value) == {f"pgx.cyp2d6.{part}"}
    assert value not in str(err.value)


@pytest.mark.parametrize(("gene", "score"), [("cyp2d6", "6.5"), ("cyp2c9", "2.5"), ("cyp2c9", "≥3.0")])
def test_activity_scores_outside_cpic_range_are_refused(gene: str, score: str) -> None:
    with pytest.raises(ProfileValidationError) as err:
        validate_profile({"clinical": MINIMAL, "pgx": {gene: {"activity_score": score}}})
    (violation,) = err.value.violations
    assert violation.path == f"pgx.{gene}.activity_score"
    assert "between 0" in violation.rule


def test_fields_that_failed_the_schema_are_not_parsed_or_kept() -> None:
    """Over-long gene parts are refused for their length and nothing about them stays in memory."""
    import gc
    import tracemalloc

    def profile(i: int) -> dict[str, Any]:
        filler = f"{i:08d}" + "a" * 100_000
        return {"clinical": MINIMAL, "pgx": {"cyp2d6": {"diplotype": "*1/*4" + filler, "phenotype": filler}}}

    for warm in range(3):  # let one-off allocations (tables, caches of fixed keys) happen first
        with pytest.raises(ProfileValidationError):
            validate_profile(profile(-1 - warm))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(40):
            with pytest.raises(ProfileValidationError) as err:
                validate_profile(profile(i))
            by_path = {v.path: v.rule for v in err.value.violations}
            assert set(by_path) == {"pgx.cyp2d6.diplotype", "pgx.cyp2d6.phenotype"}
            assert all("at most" in rule for rule in by_path.values())
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 1_000_000, f"{grown:,} bytes kept after 40 profiles with 200 KB of gene text each"
