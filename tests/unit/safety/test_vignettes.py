"""Clinical vignettes (tests/fixtures/safety/vignettes.yaml): what must be excluded, what must not, warnings,
data warnings and functional phenotypes, checked in-process through the validated profile."""

from __future__ import annotations

from typing import Any

import pytest

from precisionpain.safety import Verdict, apply_safety_rules
from precisionpain.schema import PatientProfile
from tests.unit.safety.conftest import load_vignettes, vignette_profile

BASE, VIGNETTES = load_vignettes()


def test_there_are_at_least_30_vignettes_with_negative_controls() -> None:
    assert len(VIGNETTES) >= 30
    assert len({v["id"] for v in VIGNETTES}) == len(VIGNETTES)
    assert sum(v["id"].startswith("negative_") for v in VIGNETTES) >= 8
    for v in VIGNETTES:
        assert v.get("source"), v["id"]
        assert set(v) - {"id", "source", "profile"}, f"{v['id']} checks nothing"


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v["id"] for v in VIGNETTES])
def test_vignette(vignette: dict[str, Any], safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    profile = PatientProfile.model_validate(vignette_profile(BASE, vignette["profile"]))
    assessment = apply_safety_rules(profile, safety_catalogs)
    verdicts = {o.option_id: o.verdict for o in assessment.options}
    known = set(verdicts)
    for key in ("excluded", "not_excluded", "warned", "usable", "usable_or_info"):
        assert set(vignette.get(key, ())) <= known, f"{key} names an option the catalog does not have"

    for oid in vignette.get("excluded", ()):
        assert verdicts[oid] is Verdict.excluded, (oid, assessment.option(oid).reasons)
    if "excluded" in vignette and not vignette["excluded"]:
        assert assessment.excluded_ids == (), assessment.excluded_ids
    for oid in vignette.get("not_excluded", ()):
        assert verdicts[oid] is not Verdict.excluded, (oid, assessment.option(oid).reasons)
    for oid in vignette.get("warned", ()):
        assert verdicts[oid] is not Verdict.usable, (oid, assessment.option(oid).reasons)
    for oid in vignette.get("usable", ()):
        assert verdicts[oid] is Verdict.usable, (oid, assessment.option(oid).reasons)
        assert all(r.level.value == "info" for r in assessment.option(oid).reasons)
    for oid in vignette.get("usable_or_info", ()):
        assert verdicts[oid] is Verdict.usable, (oid, assessment.option(oid).reasons)

    warned_rules = {w.rule_id for w in assessment.data_warnings}
    assert set(vignette.get("data_warnings", ())) <= warned_rules, warned_rules
    for gene, phenotype in vignette.get("functional", {}).items():
        (reading,) = [g for g in assessment.functional_phenotypes if g.gene == gene]
        assert reading.functional_phenotype == phenotype, reading


def test_every_excluded_option_says_why_with_facts_and_sources(safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    for v in VIGNETTES:
        profile = PatientProfile.model_validate(vignette_profile(BASE, v["profile"]))
        for option in apply_safety_rules(profile, safety_catalogs).options:
            levels = [r.level.value for r in option.reasons]
            order = {"contraindicated": 0, "warning": 1, "info": 2}
            assert levels == sorted(levels, key=order.__getitem__), (v["id"], option.option_id)
            if option.excluded:
                first = option.reasons[0]
                assert first.level.value == "contraindicated" and first.sources and first.text
                assert first.facts, (v["id"], option.option_id, first.rule_id)
