"""The pain condition over the wire: every level has its proto enum value, and unset means not given."""

from __future__ import annotations

import pytest

from precisionpain.errors import ProfileValidationError
from precisionpain.features.validate import validate_profile
from precisionpain.schema import PainCondition
from precisionpain.service import convert
from precisionpain.v1 import patient_pb2, recommendation_pb2, service_pb2

MINIMAL = {"age_years": 50, "sex": "female", "pain_type": "mixed", "baseline_nrs": 6}


@pytest.mark.parametrize("condition", list(PainCondition))
def test_each_condition_round_trips_through_the_proto(condition: PainCondition) -> None:
    msg = convert.profile_proto_from_dict({"clinical": {**MINIMAL, "pain_condition": condition.value}})
    assert patient_pb2.PainCondition.Name(msg.clinical.pain_condition) == "PAIN_CONDITION_" + condition.name.upper()
    assert validate_profile(convert.profile_dict_from_proto(msg)).clinical.pain_condition is condition


def test_unset_condition_is_not_given() -> None:
    msg = convert.profile_proto_from_dict({"clinical": MINIMAL})
    assert msg.clinical.pain_condition == patient_pb2.PAIN_CONDITION_UNSPECIFIED
    assert validate_profile(convert.profile_dict_from_proto(msg)).clinical.pain_condition is None


def test_a_condition_that_disagrees_with_the_pain_type_is_named() -> None:
    msg = convert.profile_proto_from_dict(
        {"clinical": {**MINIMAL, "pain_type": "nociceptive", "pain_condition": "trigeminal_neuralgia"}}
    )
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(convert.profile_dict_from_proto(msg))
    assert [(v.path, v.rule) for v in info.value.violations] == [
        ("clinical.pain_condition", "trigeminal_neuralgia requires clinical.pain_type neuropathic or mixed")
    ]


# ---------------------------------------------------------------------------------- guideline tiers in answers


@pytest.fixture(scope="module")
def engine(small_package):  # type: ignore[no-untyped-def]
    from precisionpain.recommender import ModelIdentity, Recommender

    return Recommender(small_package, ModelIdentity("precisionpain-test", "3", "champion"))


def _request_profile(condition: str | None, pain_type: str = "neuropathic") -> dict[str, object]:
    clinical: dict[str, object] = {**MINIMAL, "pain_type": pain_type}
    if condition is not None:
        clinical["pain_condition"] = condition
    return {"clinical": clinical, "pgx": {"cyp2d6": {"diplotype": "*4/*4"}}}


def _tiers(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        o.option_id: recommendation_pb2.GuidelineTier.Name(o.guideline.tier)
        for o in (*response.options, *response.excluded)
    }


def test_every_option_of_an_answer_carries_its_tier_on_both_paths(engine) -> None:  # type: ignore[no-untyped-def]
    """The wire-bytes codec (which caches each option's tier bytes) and the plain conversion agree, answer after
    answer with conditions alternating, and the answer reads back to what the engine ranked."""
    for condition in ("trigeminal_neuralgia", None, "lumbar_radiculopathy", "trigeminal_neuralgia", None):
        scored = engine.score([validate_profile(_request_profile(condition))])[0]
        response = convert.recommend_response(scored, "rid")
        assert response == convert.response_from_explained(scored.explained(), "rid")
        back = convert.explained_recommendation_from_response(
            service_pb2.RecommendResponse.FromString(response.SerializeToString())
        )
        assert back.recommendation == scored.recommendation
        tiers = _tiers(response)
        assert set(tiers) == set(engine.option_ids) and "GUIDELINE_TIER_UNSPECIFIED" not in tiers.values()
        expected = {"trigeminal_neuralgia": "GUIDELINE_TIER_FIRST_LINE",
                    "lumbar_radiculopathy": "GUIDELINE_TIER_RECOMMENDED_AGAINST",
                    None: "GUIDELINE_TIER_THIRD_LINE"}[condition]  # fmt: skip
        assert tiers["carbamazepine"] == expected
        ctx = response.guideline_context
        assert ctx.pain_type == patient_pb2.PAIN_TYPE_NEUROPATHIC
        if condition is None:
            assert ctx.pain_condition == patient_pb2.PAIN_CONDITION_UNSPECIFIED
            assert ctx.basis == recommendation_pb2.GUIDELINE_BASIS_PAIN_TYPE and ctx.table == "neuropathic"
            assert [w.field for w in response.warnings].count("clinical.pain_condition") == 1
        else:
            assert ctx.basis == recommendation_pb2.GUIDELINE_BASIS_CONDITION and ctx.table == condition
            assert "clinical.pain_condition" not in [w.field for w in response.warnings]
        # each option names its sources by id; their labels and URLs come once, with the context
        cited = {s.source_id: s for s in ctx.sources}
        assert all(s.label and s.url.startswith("https://") for s in cited.values())
        for o in (*response.options, *response.excluded):
            assert o.guideline.sources and all(s.source_id in cited and not s.label for s in o.guideline.sources)


def test_describe_model_and_provenance_name_the_guideline_catalog(engine) -> None:  # type: ignore[no-untyped-def]
    provenance = engine.provenance()
    assert provenance.guideline_catalog_version == engine.guidelines.version
    assert len(provenance.guideline_catalog_sha256) == 64
    msg = convert.describe_model_response(
        convert.ModelDescription(summary=engine.summary, identity=engine.identity, provenance=provenance,
                                 option_ids=engine.option_ids, feature_ids=engine.package.metadata.feature_ids)
    )
    assert msg.guideline_catalog_version == engine.guidelines.version
    assert msg.guideline_catalog_sha256 == engine.guidelines.sha256


def test_a_real_server_answers_with_tiers(stub) -> None:  # type: ignore[no-untyped-def]
    from precisionpain.service.client import recommend_request

    fm = stub.Recommend(recommend_request(_request_profile("fibromyalgia", "nociplastic")), timeout=30)
    tiers = _tiers(fm)
    assert tiers["physical_therapy"] == "GUIDELINE_TIER_FIRST_LINE"
    assert tiers["oxycodone"] == "GUIDELINE_TIER_RECOMMENDED_AGAINST"
    assert fm.guideline_context.pain_condition == patient_pb2.PAIN_CONDITION_FIBROMYALGIA
    assert fm.provenance.guideline_catalog_sha256
    unknown = stub.Recommend(recommend_request(_request_profile(None, "nociplastic")), timeout=30)
    assert {o.guideline.table for o in (*unknown.options, *unknown.excluded)} == {"nociplastic"}
    (warning,) = [w for w in unknown.warnings if w.field == "clinical.pain_condition"]
    assert warning.message == "Pain condition not given: guideline tiers from the pain type (nociplastic)."
