"""The compiled engine gives exactly what a straightforward reading of the catalogs gives (tests/unit/safety/
reference.py), on first visits and on repeat visits, for random profiles, medication lists and option lists; its
caches stay within their byte budgets whatever the patients; concurrent calls agree with sequential ones."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precisionpain.errors import ValidationError
from precisionpain.safety import SafetyAssessment, apply_safety_rules, load_safety_catalogs
from precisionpain.schema import PatientProfile
from tests.strategies import profile_dicts
from tests.unit.safety.conftest import REPO
from tests.unit.safety.reference import reference_assessment

SPELLINGS = ["Paxil", " ZOLOFT ", "Wellbutrin", "Tegretol", "ultram"]  # synonyms and brand names, odd case


def _medications(catalogs: Any) -> st.SearchStrategy[list[dict[str, str]]]:
    names = st.sampled_from([*catalogs.medications.names, *SPELLINGS])
    return st.lists(names, max_size=5).map(lambda ns: [{"name": n} for n in ns])


def _profile(raw: dict[str, Any]) -> PatientProfile | None:
    try:
        return PatientProfile.model_validate(raw)
    except ValueError:
        return None  # the schema refuses it (validation is tested elsewhere)


def _assess(profile: PatientProfile, catalogs: Any, option_ids: list[str] | None = None) -> dict[str, Any] | None:
    try:
        return apply_safety_rules(profile, catalogs, option_ids).model_dump(mode="json")
    except ValidationError:
        return None


def _expected(profile: PatientProfile, catalogs: Any, option_ids: list[str] | None = None) -> dict[str, Any] | None:
    try:
        return reference_assessment(profile, catalogs, option_ids)
    except ValidationError:
        return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_engine_equals_the_reference_reading(data, safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    p_missing = data.draw(st.sampled_from([0.1, 0.5, 0.95]))  # 0.95: mostly the common case, few facts
    raw = data.draw(profile_dicts(safety_catalogs.features, p_missing=p_missing))
    raw["medications"] = data.draw(_medications(safety_catalogs))
    profile = _profile(raw)
    if profile is None:
        return
    option_ids = data.draw(
        st.one_of(st.none(), st.lists(st.sampled_from(safety_catalogs.options.ids), min_size=1, unique=True))
    )
    expected = _expected(profile, safety_catalogs, option_ids)
    first = _assess(profile, safety_catalogs, option_ids)
    again = _assess(profile, safety_catalogs, option_ids)  # repeat visit: served from the engine's caches
    assert first == expected
    assert again == expected
    if first is not None:
        built = apply_safety_rules(profile, safety_catalogs, option_ids)
        assert SafetyAssessment.model_validate_json(built.model_dump_json()) == built


def _random_profiles(n: int, catalogs: Any, seed: int) -> list[PatientProfile]:
    """Profiles with many distinct values (ages, eGFR, doses, genotypes, medications): every cache key is new."""
    rng = random.Random(seed)
    alleles = ["*1", "*2", "*3", "*4", "*5", "*9", "*10", "*17", "*41", "*1x2"]
    out = []
    for _ in range(n):
        clinical: dict[str, Any] = {
            "age_years": rng.randint(18, 95),
            "sex": rng.choice(["female", "male"]),
            "pain_type": "neuropathic",
            "baseline_nrs": 6,
            "egfr_ml_per_min_1_73m2": round(rng.uniform(10, 120), 1),
            "opioid_mme_per_day": round(rng.uniform(0, 200), 1),
            "hepatic_impairment": rng.choice(["none", "child_pugh_a", "child_pugh_b", "child_pugh_c"]),
        }
        pgx = {"cyp2d6": {"diplotype": f"{rng.choice(alleles)}/{rng.choice(alleles)}"}}
        meds = [{"name": n} for n in rng.sample(list(catalogs.medications.names), rng.randint(0, 4))]
        out.append(PatientProfile.model_validate({"clinical": clinical, "pgx": pgx, "medications": meds}))
    return out


def test_caches_stay_within_their_byte_budget() -> None:
    budget = 96 * 1024
    catalogs = load_safety_catalogs(REPO, cache_bytes=budget)
    profiles = _random_profiles(400, catalogs, seed=5)
    for profile in profiles:
        assert _assess(profile, catalogs) == _expected(profile, catalogs)
    info = catalogs.cache_info()
    assert info, "the engine names its caches"
    assert sum(i.max_bytes for i in info.values()) <= budget
    for name, i in info.items():
        assert i.nbytes <= i.max_bytes, name
    assert sum(i.hits + i.misses for i in info.values()) > 0
    for profile in profiles[:50]:  # entries were evicted on the way: answers are still right
        assert _assess(profile, catalogs) == _expected(profile, catalogs)


def test_a_budget_too_small_for_any_entry_still_gives_the_right_answers() -> None:
    catalogs = load_safety_catalogs(REPO, cache_bytes=1024)
    for profile in _random_profiles(40, catalogs, seed=6):
        assert _assess(profile, catalogs) == _expected(profile, catalogs)


def test_cache_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="cache_bytes"):
        load_safety_catalogs(REPO, cache_bytes=0)


def test_concurrent_calls_agree_with_sequential_ones() -> None:
    catalogs = load_safety_catalogs(REPO, cache_bytes=256 * 1024)
    profiles = _random_profiles(120, catalogs, seed=7) * 3
    sequential = [_expected(p, catalogs) for p in profiles]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda p: _assess(p, catalogs), profiles))
    assert concurrent == sequential


def _adult(**parts: Any) -> PatientProfile:
    clinical = {"age_years": 50, "sex": "male", "pain_type": "neuropathic", "baseline_nrs": 6}
    return PatientProfile.model_validate({"clinical": clinical, **parts})


def test_results_that_differ_only_where_cpic_is_silent_share_answers_and_stay_exact() -> None:
    catalogs = load_safety_catalogs(REPO, cache_bytes=256 * 1024)
    spellings = [  # one CYP2D6 Normal Metabolizer written three ways, OPRM1/COMT ("no recommendation") varied
        _adult(pgx={"cyp2d6": {"diplotype": "*1/*1"}, "oprm1_rs1799971": "A/A", "comt_rs4680": "Val/Val"}),
        _adult(pgx={"cyp2d6": {"diplotype": "*1/*2"}, "oprm1_rs1799971": "G/G"}),
        _adult(pgx={"cyp2d6": {"phenotype": "Normal Metabolizer", "activity_score": "2.0"}}),
        _adult(pgx={"cyp2d6": {"diplotype": "*4/*4"}, "hla_b_1502": "positive"}),  # differs: Poor Metabolizer
        _adult(pgx={"cyp2d6": {"diplotype": "*1/*1"}}, medications=[{"name": "paroxetine"}]),  # phenoconverted
    ]
    for profile in spellings * 2:
        assert _assess(profile, catalogs) == _expected(profile, catalogs)
    first = apply_safety_rules(spellings[0], catalogs)
    assert apply_safety_rules(spellings[1], catalogs).options == first.options
    assert apply_safety_rules(spellings[3], catalogs).option("codeine").excluded
    assert not first.option("codeine").excluded


def test_a_result_cpic_cannot_read_fails_every_time() -> None:
    catalogs = load_safety_catalogs(REPO, cache_bytes=256 * 1024)
    readable = _adult(pgx={"cyp2c9": {"diplotype": "*1/*1"}})
    unreadable = _adult(pgx={"cyp2c9": {"phenotype": "Normal Metabolizer", "activity_score": "0.5"}})
    for _ in range(2):
        assert apply_safety_rules(readable, catalogs).option("celecoxib").verdict.value == "usable"
        with pytest.raises(ValidationError):
            apply_safety_rules(unreadable, catalogs)
        with pytest.raises(ValidationError):
            reference_assessment(unreadable, catalogs)


def test_trusted_construction_builds_what_model_construct_builds(safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    from precisionpain.base import trusted

    profile = _adult(clinical={"age_years": 70, "sex": "female", "pain_type": "neuropathic", "baseline_nrs": 6,
                               "egfr_ml_per_min_1_73m2": 25}, medications=[{"name": "sertraline"}])
    built = apply_safety_rules(profile, safety_catalogs)
    for obj in (built, *built.options, *(r for o in built.options for r in o.reasons), *built.data_warnings):
        values = {name: getattr(obj, name) for name in type(obj).model_fields}
        again = type(obj).model_construct(**values)
        assert obj == again and obj.model_fields_set == again.model_fields_set and repr(obj) == repr(again)
    copy = trusted(type(built), **{name: getattr(built, name) for name in type(built).model_fields})
    assert copy == built
