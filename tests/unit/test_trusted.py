"""Objects built without validation on the hot path (precisionpain.base.trusted) are the objects validation
builds: the same values, and they validate."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precisionpain.base import trusted
from precisionpain.features.validate import validate_profile
from precisionpain.recommender import ModelIdentity, Recommender
from precisionpain.schema import Caution, Interval, RankedRecommendation, Severity
from tests.strategies import profile_dicts


def test_trusted_equals_validated_with_defaults_filled() -> None:
    built = trusted(Caution, code="c", severity=Severity.info, source="rule", text="t")
    validated = Caution(code="c", severity=Severity.info, source="rule", text="t")
    assert built == validated
    assert built.strength == validated.strength
    assert built.model_fields_set == validated.model_fields_set
    assert built.model_dump() == validated.model_dump()


def test_trusted_refuses_missing_and_unknown_fields() -> None:
    with pytest.raises(TypeError, match="missing"):
        trusted(Interval, lower=0.1, upper=0.2)
    with pytest.raises(TypeError, match="unknown"):
        trusted(Interval, lower=0.1, upper=0.2, level=0.9, width=0.1)


@pytest.fixture(scope="module")
def engine(small_package):  # type: ignore[no-untyped-def]
    return Recommender(small_package, ModelIdentity("precisionpain-test", "1", "champion"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_ranked_answers_validate(engine, data) -> None:  # type: ignore[no-untyped-def]
    """Every ranked answer (options built without validation) equals its validated round trip."""
    pkg = engine.package
    profile = validate_profile(data.draw(profile_dicts(pkg.catalog)), pkg.catalog, pkg.tables)
    rec = engine.score([profile])[0].recommendation
    assert RankedRecommendation.model_validate(rec.model_dump()) == rec
