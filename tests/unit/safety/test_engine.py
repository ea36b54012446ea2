"""The engine's contract: medications resolve or fail with field paths; alternatives come from the catalog;
the level -> verdict table; and (property) no option hit by a contraindicated rule is ever usable or warned."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precisionpain.catalog.safety import RuleLevel
from precisionpain.errors import ProfileValidationError
from precisionpain.safety import (
    VERDICT_BY_LEVEL,
    Verdict,
    alternatives_available,
    apply_safety_rules,
    load_safety_catalogs,
)
from precisionpain.schema import PatientProfile
from tests.strategies import profile_dicts

ADULT = {"age_years": 50, "sex": "female", "pain_type": "neuropathic", "baseline_nrs": 6}


def _profile(**extra) -> PatientProfile:  # type: ignore[no-untyped-def]
    clinical = {**ADULT, **extra.pop("clinical", {})}
    return PatientProfile.model_validate({"clinical": clinical, **extra})


def test_every_level_has_a_verdict() -> None:
    assert set(VERDICT_BY_LEVEL) == set(RuleLevel)
    assert VERDICT_BY_LEVEL[RuleLevel.contraindicated] is Verdict.excluded


def test_unknown_medication_is_a_validation_error_naming_the_path(safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    profile = _profile(medications=[{"name": "sertraline"}, {"name": "Secret-Trial-Drug-42"},
                                    {"name": "paroxetine", "rxnorm": "36437"}, {"name": "duloxetine", "rxnorm": "99999999"}])
    with pytest.raises(ProfileValidationError) as err:
        apply_safety_rules(profile, safety_catalogs)
    found = {(v.path, v.received) for v in err.value.violations}
    assert ("medications[1].name", "string") in found
    assert ("medications[2].rxnorm", "string") in found
    assert ("medications[3].rxnorm", "string") in found
    text = str(err.value)
    assert "Secret-Trial-Drug-42" not in text and "99999999" not in text
    assert "not in the medication catalog" in text


def test_medication_strings_are_bounded_by_the_schema() -> None:
    with pytest.raises(ValueError):
        _profile(medications=[{"name": "x" * 81}])
    with pytest.raises(ValueError):
        _profile(medications=[{"name": "sertraline", "rxnorm": "12a"}])
    with pytest.raises(ValueError):
        _profile(medications=[{"name": "sertraline"}] * 65)


def test_names_resolve_case_insensitively_by_synonym_and_code(safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    profile = _profile(medications=[{"name": " PAXIL "}, {"name": "zoloft", "rxnorm": "36437"}])
    assert apply_safety_rules(profile, safety_catalogs).medications == ("paroxetine", "sertraline")


def test_alternatives_are_decided_from_the_catalog_not_the_request(safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    profile = _profile(clinical={"biogeographic_group": "european"}, pgx={"hla_b_1502": "negative", "hla_a_3101": "positive"})
    only = apply_safety_rules(profile, safety_catalogs, option_ids=["carbamazepine"])
    assert [o.option_id for o in only.options] == ["carbamazepine"]
    assert only.option("carbamazepine").excluded  # other drug options exist in the catalog
    full = apply_safety_rules(profile, safety_catalogs)
    assert alternatives_available("carbamazepine", full)


def test_without_alternatives_cpic_hla_a_avoid_becomes_caution(tmp_path: Path, repo_root: Path) -> None:
    for name in ("features", "models", "serving"):
        shutil.copytree(repo_root / name, tmp_path / name)
    path = tmp_path / "models" / "treatment_options.yaml"
    data = yaml.safe_load(path.read_text())
    data["options"] = [o for o in data["options"] if o["id"] in ("carbamazepine", "physical_therapy", "mindfulness")]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    rules = tmp_path / "models" / "safety_rules.yaml"
    rdata = yaml.safe_load(rules.read_text())
    for rule in rdata["rules"]:  # the copy's option catalog has no other drug: keep only selectors it can meet
        rule["options"] = {k: v for k, v in rule["options"].items() if k != "ids"} or {"drugs": ["carbamazepine"]}
    rules.write_text(yaml.safe_dump(rdata, sort_keys=False, allow_unicode=True))
    catalogs = load_safety_catalogs(tmp_path)
    profile = _profile(clinical={"biogeographic_group": "european"}, pgx={"hla_b_1502": "negative", "hla_a_3101": "positive"})
    assessment = apply_safety_rules(profile, catalogs)
    assert not alternatives_available("carbamazepine", assessment)
    carbamazepine = assessment.option("carbamazepine")
    assert carbamazepine.verdict is Verdict.warning, carbamazepine.reasons
    assert any(r.is_cpic for r in carbamazepine.reasons)


def test_assessment_round_trips_through_json(safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    from precisionpain.safety import SafetyAssessment

    profile = _profile(clinical={"egfr_ml_per_min_1_73m2": 25}, pgx={"cyp2d6": {"diplotype": "*1/*1"}},
                       medications=[{"name": "paroxetine"}])
    assessment = apply_safety_rules(profile, safety_catalogs)
    again = SafetyAssessment.model_validate_json(assessment.model_dump_json())
    assert again == SafetyAssessment.model_validate(assessment.model_dump())
    assert again.option("codeine").excluded and again.phenoconversions()[0].inhibitors == ("paroxetine",)


MEDICATION_NAMES = st.sampled_from(
    ["paroxetine", "sertraline", "duloxetine", "phenelzine", "alprazolam", "gabapentin", "oxycodone", "fluconazole",
     "fluvoxamine", "warfarin", "bupropion", "lithium", "zolpidem", "terbinafine", "Tegretol"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_option_hit_by_a_contraindicated_reason_is_usable_or_warned(data, safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    raw = data.draw(profile_dicts(safety_catalogs.features))
    raw["medications"] = [{"name": n} for n in data.draw(st.lists(MEDICATION_NAMES, max_size=4))]
    try:
        profile = PatientProfile.model_validate(raw)
    except ValueError:
        return  # the schema refuses it (e.g. an empty gene result); validation is tested elsewhere
    option_ids = data.draw(st.one_of(st.none(), st.lists(st.sampled_from(safety_catalogs.options.ids), min_size=1, unique=True)))
    from precisionpain.errors import ValidationError

    try:
        assessment = apply_safety_rules(profile, safety_catalogs, option_ids)
    except ValidationError:
        return  # gene results that contradict the CPIC tables
    for option in assessment.options:
        levels = {r.level for r in option.reasons}
        if RuleLevel.contraindicated in levels:
            assert option.verdict is Verdict.excluded, option
        elif RuleLevel.warning in levels:
            assert option.verdict is Verdict.warning, option
        else:
            assert option.verdict is Verdict.usable, option
