"""The vignettes that name rules (`fires`, `not_fires` in tests/fixtures/safety/vignettes.yaml): the option's
reasons hold, or do not hold, exactly those rules, so a vignette passes for the reason its source gives and not
through another rule that happens to hit the same option."""

from __future__ import annotations

from typing import Any

import pytest

from precisionpain.safety import apply_safety_rules
from precisionpain.schema import PatientProfile
from tests.unit.safety.conftest import load_vignettes, vignette_profile

BASE, VIGNETTES = load_vignettes()
NAMING = [v for v in VIGNETTES if "fires" in v or "not_fires" in v]


def test_rule_names_in_vignettes_are_rules_of_the_catalog(safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    known = {r.id for r in safety_catalogs.rules.rules}
    known |= {f"cpic_{o.cpic_drug}" for o in safety_catalogs.options.options if o.cpic_drug}
    named = {rid for v in NAMING for key in ("fires", "not_fires") for rids in v.get(key, {}).values() for rid in rids}
    assert named and named <= known, sorted(named - known)


@pytest.mark.parametrize("vignette", NAMING, ids=[v["id"] for v in NAMING])
def test_vignette_reasons(vignette: dict[str, Any], safety_catalogs) -> None:  # type: ignore[no-untyped-def]
    profile = PatientProfile.model_validate(vignette_profile(BASE, vignette["profile"]))
    assessment = apply_safety_rules(profile, safety_catalogs)
    for oid, rule_ids in vignette.get("fires", {}).items():
        fired = {r.rule_id for r in assessment.option(oid).reasons}
        assert set(rule_ids) <= fired, (oid, sorted(fired))
    for oid, rule_ids in vignette.get("not_fires", {}).items():
        fired = {r.rule_id for r in assessment.option(oid).reasons}
        assert not set(rule_ids) & fired, (oid, sorted(fired))
