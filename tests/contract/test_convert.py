"""Proto <-> schema conversion, in-process: responses describe exactly what the engine computed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from precisionpain.errors import ProfileValidationError
from precisionpain.features.validate import validate_profile
from precisionpain.recommender import ModelIdentity, Recommender
from precisionpain.schema import Severity, WarningKind
from precisionpain.service import convert
from precisionpain.service.client import recommend_request
from precisionpain.v1 import recommendation_pb2, service_pb2

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def engine(small_package):  # type: ignore[no-untyped-def]
    r = Recommender(small_package, ModelIdentity("precisionpain-test", "3", "champion", "run-1", "models:/x@champion"))
    r.warmup()
    return r


def _explanations_by_id(explained: Any) -> dict[str, Any]:
    return {e.option_id: e for e in explained.explanations}


@pytest.mark.parametrize("top_k", [0, 1, 8, 1000])
def test_response_round_trips_to_the_engine_result(engine, patient_examples, top_k) -> None:  # type: ignore[no-untyped-def]
    for name, data in patient_examples.items():
        scored = engine.score([validate_profile(data)], top_k=top_k)[0]
        expected = scored.explained()
        response = convert.recommend_response(scored, "rid-1")
        back = convert.explained_recommendation_from_response(
            service_pb2.RecommendResponse.FromString(response.SerializeToString())
        )
        assert back.recommendation == expected.recommendation, name
        assert back.features.model_dump_json() == expected.features.model_dump_json(), name
        assert _explanations_by_id(back) == _explanations_by_id(expected), name
        # the stage type converted the slow way gives the same message as the fast path from arrays
        assert convert.response_from_explained(expected, "rid-1") == response, name


def test_response_fields(engine, patient_examples) -> None:  # type: ignore[no-untyped-def]
    profile = validate_profile(patient_examples["cyp2d6_poor_metabolizer"])
    response = convert.recommend_response(engine.score([profile])[0], "rid-2")
    assert response.request_id == "rid-2"
    assert response.patient_ref == profile.patient_ref
    assert list(response.feature_ids) == list(engine.package.catalog.feature_ids)
    assert [o.rank for o in response.options] == list(range(1, len(response.options) + 1))
    for option in (*response.options, *response.excluded):
        assert option.modality != recommendation_pb2.MODALITY_UNSPECIFIED
        iv = option.p_response_interval
        assert 0.0 <= iv.lower <= option.p_response <= iv.upper <= 1.0 and iv.level == pytest.approx(0.9)
        e = option.explanation
        assert e.space == "log_odds" and 0 < len(e.top_contributions) <= 8
        total = e.base_value + sum(c.shap_value for c in e.top_contributions) + e.other_contributions
        assert total == pytest.approx(e.margin, abs=1e-9)
        assert sum(d.shap_value for d in e.domain_totals) + e.base_value == pytest.approx(e.margin, abs=1e-9)
        for c in e.top_contributions:
            assert c.domain != recommendation_pb2.DOMAIN_UNSPECIFIED and c.label
    codeine = next(o for o in response.excluded if o.option_id == "codeine")
    assert any(g.action == recommendation_pb2.GUIDANCE_ACTION_AVOID for g in codeine.guidance)
    assert codeine.reason and codeine.guidance[0].guideline_url.startswith("http")
    assert response.provenance.generated_at.seconds > 0
    assert response.provenance.model_version == "3"


def test_every_schema_vocabulary_has_a_proto_enum_value(engine, pgx_tables) -> None:  # type: ignore[no-untyped-def]
    for value in Severity:
        assert value.value in convert._SEVERITY
    for value in WarningKind:
        assert value.value in convert._WARNING
    for row in pgx_tables.recommendations:
        assert row.action_code in convert._ACTION, row.action_code
    for option in engine.package.options.options:
        assert option.modality.value in convert._MODALITY
    for feature in engine.package.catalog.features:
        assert feature.domain.value in convert._DOMAIN


def test_examples_requests_match_the_example_patients() -> None:
    requests = REPO / "examples" / "requests"
    patients = sorted((REPO / "examples" / "patients").glob("*.json"))
    for path in patients:
        parsed = json_format.Parse((requests / path.name).read_text(), service_pb2.RecommendRequest())
        assert parsed == recommend_request(json.loads(path.read_text())), path.name
    batch = json_format.Parse((requests / "batch.json").read_text(), service_pb2.RecommendBatchRequest())
    assert len(batch.requests) == len(patients)
    candidates = json_format.Parse((requests / "candidates.json").read_text(), service_pb2.RecommendRequest())
    assert len(candidates.candidate_option_ids) >= 2


def test_profile_dict_round_trip(patient_examples) -> None:  # type: ignore[no-untyped-def]
    for name, data in patient_examples.items():
        msg = convert.profile_proto_from_dict(data)
        again = validate_profile(convert.profile_dict_from_proto(msg))
        assert again == validate_profile(data), name


def test_profile_proto_from_dict_lists_every_problem() -> None:
    bad = {
        "clinical": {"age_years": "old", "sex": "unknown", "pain_type": "nociceptive", "baseline_nrs": 5},
        "pgx": {"cyp2d6": {"diplotype": 4}},
        "psychosocial": {"phq9_total": 3.5},
        "shoe_size": 44,
    }
    with pytest.raises(ProfileValidationError) as info:
        convert.profile_proto_from_dict(bad)
    paths = {v.path for v in info.value.violations}
    assert paths == {"clinical.age_years", "clinical.sex", "pgx.cyp2d6.diplotype", "psychosocial.phq9_total", "shoe_size"}
    assert "old" not in str(info.value) and "44" not in str(info.value)


def test_unknown_enum_numbers_are_reported_not_crashed() -> None:
    msg = convert.profile_proto_from_dict(
        {"clinical": {"age_years": 50, "sex": "female", "pain_type": "mixed", "baseline_nrs": 5}}
    )
    msg.clinical.sex = 42  # an open proto3 enum accepts numbers this version does not know
    with pytest.raises(ProfileValidationError) as info:
        validate_profile(convert.profile_dict_from_proto(msg))
    assert [v.path for v in info.value.violations] == ["clinical.sex"]


def test_request_top_k() -> None:
    request = service_pb2.RecommendRequest(top_k_contributions=-1)
    assert [v.path for v in convert.recommend_input_from_request(request).violations] == ["top_k_contributions"]
    assert convert.recommend_input_from_request(service_pb2.RecommendRequest()).top_k == 8


def test_describe_model_round_trip(engine) -> None:  # type: ignore[no-untyped-def]
    description = convert.ModelDescription(
        summary=engine.summary,
        identity=engine.identity,
        provenance=engine.provenance(),
        option_ids=engine.option_ids,
        feature_ids=engine.package.metadata.feature_ids,
        max_batch_size=10,
    )
    msg = convert.describe_model_response(description)
    assert msg.model_uri == "models:/x@champion" and msg.model_alias == "champion" and msg.max_batch_size == 10
    assert msg.catalog_sha256 == engine.catalog_sha256
    assert dict(msg.validation_metrics) == engine.summary.validation_metrics
    summary = convert.model_summary_from_response(service_pb2.DescribeModelResponse.FromString(msg.SerializeToString()))
    # the registry's run id (the identity) is what DescribeModel reports; the time comes back in UTC "Z" form
    expected = engine.summary.model_copy(update={"trained_at": summary.trained_at, "run_id": "run-1"})
    assert summary == expected
    assert summary.trained_at.startswith(engine.summary.trained_at[:19])


def test_list_options(option_catalog) -> None:  # type: ignore[no-untyped-def]
    msg = convert.list_options_response(option_catalog)
    assert [o.option_id for o in msg.options] == list(option_catalog.ids)
    assert msg.options_catalog_sha256 == option_catalog.sha256
    carbamazepine = next(o for o in msg.options if o.option_id == "carbamazepine")
    assert "HLA-B" in carbamazepine.genes and carbamazepine.modality == recommendation_pb2.MODALITY_DRUG


def test_nan_feature_values_survive_json(engine, patient_examples) -> None:  # type: ignore[no-untyped-def]
    profile = validate_profile(patient_examples["mostly_missing"])
    response = convert.recommend_response(engine.score([profile])[0])
    again = json_format.Parse(json_format.MessageToJson(response), service_pb2.RecommendResponse())
    values = list(again.feature_values)
    assert any(math.isnan(v) for v in values)
    assert [math.isnan(v) for v in values] == [math.isnan(v) for v in response.feature_values]


# ---------------------------------------------------------------------------------------------- bounds


def test_candidate_ids_beyond_their_bounds_are_violations_and_not_passed_on() -> None:
    many = service_pb2.RecommendRequest(candidate_option_ids=["codeine"] * 65)
    given = convert.recommend_input_from_request(many)
    assert given.candidate_option_ids == ()
    assert [(v.path, v.received) for v in given.violations] == [("candidate_option_ids", "list")]
    long_id = service_pb2.RecommendRequest(candidate_option_ids=["codeine", "x" * 5000])
    given = convert.recommend_input_from_request(long_id)
    assert given.candidate_option_ids == ()
    assert [v.path for v in given.violations] == ["candidate_option_ids[1]"]
    assert "at most 64 characters" in given.violations[0].rule


def test_serialised_part_caches_are_bounded_in_bytes(feature_catalog) -> None:  # type: ignore[no-untyped-def]
    """Distinct values and caution texts (they follow the caller's readings) evict; they do not accumulate."""
    from precisionpain.schema import Caution

    for i in range(30_000):
        convert._contribution_head(feature_catalog, i % len(feature_catalog.features), 1.0 + i * 1e-9)
    heads = convert._contribution_head.cache
    assert heads.nbytes <= heads.max_bytes == convert.CONTRIBUTION_HEAD_CACHE_BYTES
    assert heads.nbytes > 0
    codec = convert._RANKED
    for i in range(20_000):
        codec._caution_bytes(Caution(code="c", severity=Severity.info, source="CPIC", text=f"{i}" + " reading" * 20))
    assert 0 < codec._cautions.nbytes <= codec.CACHE_BYTES


# ---------------------------------------------------------------------------------------- renamed fields

RENAMED_VALUES = {  # a value for every renamed field, by message and old name (the profile's dict key)
    "precisionpain.v1.Clinical": {"carbamazepine_prior_use_over_3_months": True, "egfr_ml_per_min_1_73m2": 24.0},
    "precisionpain.v1.Pharmacogenomics": {"hla_b_1502": 1, "hla_a_3101": 2},  # POSITIVE, NEGATIVE
    "precisionpain.v1.Biomarkers": {"vitamin_d_25oh_ng_per_ml": 19.0},
}
SECTIONS = {"precisionpain.v1.Clinical": "clinical", "precisionpain.v1.Pharmacogenomics": "pgx",
            "precisionpain.v1.Biomarkers": "biomarkers"}


def _request(*, old: bool, new: bool, change: float = 0.0) -> service_pb2.RecommendRequest:
    """The mostly-missing example with every renamed field set under its old name, its new name or both (the new
    one ``change`` away from the old, or the other HLA status)."""
    request = recommend_request({"clinical": {"age_years": 71, "sex": "male", "pain_type": "mixed", "baseline_nrs": 6}})
    for message, pairs in convert.RENAMED_FIELDS.items():
        section = getattr(request.patient, SECTIONS[message])
        for old_name, new_name in pairs:
            value = RENAMED_VALUES[message][old_name]
            if old:
                setattr(section, old_name, value)
            if new:
                other = (not value) if isinstance(value, bool) else 3 - value if isinstance(value, int) else value + change
                setattr(section, new_name, other if change else value)
    return request


def test_every_renamed_field_is_read_under_either_name_and_the_new_name_wins() -> None:
    assert {m: {old for old, _ in pairs} for m, pairs in convert.RENAMED_FIELDS.items()} == {
        m: set(values) for m, values in RENAMED_VALUES.items()
    }
    by_old = convert.recommend_input_from_request(_request(old=True, new=False))
    by_new = convert.recommend_input_from_request(_request(old=False, new=True))
    by_both = convert.recommend_input_from_request(_request(old=True, new=True))
    assert by_old.profile == by_new.profile == by_both.profile
    assert not (by_old.violations or by_new.violations or by_both.violations)
    profile = validate_profile(by_new.profile)
    assert profile.pgx.hla_b_1502.value == "positive" and profile.clinical.egfr_ml_per_min_1_73m2 == 24.0
    assert profile.clinical.carbamazepine_prior_use_over_3_months is True


def test_a_renamed_field_and_its_deprecated_twin_that_differ_are_refused_naming_both() -> None:
    given = convert.recommend_input_from_request(_request(old=True, new=True, change=1.0))
    found = {v.path: v for v in given.violations}
    expected = {f"patient.{SECTIONS[m]}.{new}": old for m, pairs in convert.RENAMED_FIELDS.items() for old, new in pairs}
    assert set(found) == set(expected)
    for path, old in expected.items():
        new = path.rsplit(".", 1)[1]
        assert new in found[path].rule and f"deprecated {old}" in found[path].rule
        assert found[path].received == "two different values"
    assert "24" not in " ".join(v.describe() for v in given.violations)
    with pytest.raises(ProfileValidationError):
        convert.profile_dict_from_proto(_request(old=True, new=True, change=1.0).patient)


def test_the_python_client_sends_the_new_names() -> None:
    data = {"clinical": {"age_years": 60, "sex": "female", "pain_type": "neuropathic", "baseline_nrs": 5,
                         "egfr_ml_per_min_1_73m2": 50, "carbamazepine_prior_use_over_3_months": False},
            "pgx": {"hla_b_1502": "negative", "hla_a_3101": "positive"}, "biomarkers": {"vitamin_d_25oh_ng_per_ml": 30}}
    patient = recommend_request(data).patient
    for message, pairs in convert.RENAMED_FIELDS.items():
        section = getattr(patient, SECTIONS[message])
        for old, new in pairs:
            assert section.HasField(new) if section.DESCRIPTOR.fields_by_name[new].has_presence else getattr(section, new)
            assert not (section.HasField(old) if section.DESCRIPTOR.fields_by_name[old].has_presence else getattr(section, old))
    assert validate_profile(convert.profile_dict_from_proto(patient)) == validate_profile(data)


def test_answers_fill_the_new_fields_and_their_deprecated_twins_alike(engine, patient_examples) -> None:  # type: ignore[no-untyped-def]
    scored = engine.score([validate_profile(patient_examples["hla_b_1502_carrier"])])[0]
    response = convert.recommend_response(scored, "rid")
    guidance = [g for o in (*response.options, *response.excluded) for g in o.guidance]
    assert guidance and all(g.guideline_uri == g.guideline_url != "" for g in guidance)
    assert response.provenance.HasField("generate_time")
    assert response.provenance.generate_time == response.provenance.generated_at
    plain = convert.response_from_explained(scored.explained(), "rid")
    assert [g.guideline_uri for o in plain.options for g in o.guidance] == [
        g.guideline_uri for o in response.options for g in o.guidance
    ]
    description = convert.describe_model_response(
        convert.ModelDescription(summary=engine.summary, identity=engine.identity, provenance=engine.provenance(),
                                 option_ids=engine.option_ids, feature_ids=engine.package.metadata.feature_ids)
    )
    assert description.train_time == description.trained_at and description.HasField("train_time")
    assert description.load_time == description.loaded_at and description.HasField("load_time")


def test_answers_of_an_older_server_with_only_the_deprecated_fields_still_read(engine, patient_examples) -> None:  # type: ignore[no-untyped-def]
    scored = engine.score([validate_profile(patient_examples["hla_b_1502_carrier"])])[0]
    response = convert.recommend_response(scored, "rid")
    expected = convert.explained_recommendation_from_response(response)
    for option in (*response.options, *response.excluded):
        for g in option.guidance:
            g.ClearField("guideline_uri")
    response.provenance.ClearField("generate_time")
    again = convert.explained_recommendation_from_response(response)
    assert again.model_dump_json() == expected.model_dump_json()  # JSON: NaN feature values compare equal
    assert expected.recommendation.provenance.generated_at
    description = convert.describe_model_response(
        convert.ModelDescription(summary=engine.summary, identity=engine.identity, provenance=engine.provenance(),
                                 option_ids=engine.option_ids, feature_ids=engine.package.metadata.feature_ids)
    )
    summary = convert.model_summary_from_response(description)
    description.ClearField("train_time")
    assert convert.model_summary_from_response(description) == summary and summary.trained_at
