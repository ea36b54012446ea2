"""The real server (subprocess on 127.0.0.1, small model package): responses, errors, limits, logs."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import shap
from google.protobuf import json_format
from google.rpc import status_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from precisionpain.service.client import RecommendationClient, RecommendationServiceError, recommend_request
from precisionpain.service.status import bad_request
from precisionpain.v1 import recommendation_pb2, service_pb2, service_pb2_grpc
from tests.contract.conftest import SHARED_MAX_BATCH, SHARED_MAX_REQUEST_BYTES
from tests.contract.serverproc import ServerProcess, running

REPO = Path(__file__).resolve().parents[2]
SERVICE = "precisionpain.v1.RecommendationService"


def _call(stub: Any, method: str, request: Any, **kwargs: Any) -> Any:
    return getattr(stub, method).with_call(request, timeout=kwargs.pop("timeout", 30), **kwargs)


def _error(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kwargs)
    return info.value


def _rich(err: Any) -> status_pb2.Status:
    raw = dict(err.trailing_metadata())["grpc-status-details-bin"]
    return status_pb2.Status.FromString(raw)


def test_ranked_response_with_request_id(stub, patient_examples, feature_catalog, option_catalog) -> None:  # type: ignore[no-untyped-def]
    request = recommend_request(patient_examples["hla_b_1502_carrier"])
    response, call = _call(stub, "Recommend", request, metadata=[("x-request-id", "chart-42")])
    assert response.request_id == "chart-42"
    assert dict(call.trailing_metadata())["x-request-id"] == "chart-42"
    assert response.patient_ref == "example-hla-b1502"
    ranks = [o.rank for o in response.options]
    assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) >= 10
    # the default policy: guideline tier first (1 = first line, ..., 5 = not addressed, 4 = recommended against);
    # an option above a better tier says so
    order = {1: 0, 2: 1, 3: 2, 5: 3, 4: 4}
    for a, b in itertools.pairwise(response.options):
        assert order[a.guideline.tier] <= order[b.guideline.tier] or a.tier_overridden
    shown = {o.option_id for o in response.options} | {o.option_id for o in response.excluded}
    assert shown == set(option_catalog.ids)
    assert response.provenance.catalog_sha256 and response.provenance.code_version
    assert list(response.feature_ids) == list(feature_catalog.feature_ids)
    assert len(response.feature_values) == len(feature_catalog.feature_ids)
    # without x-request-id the server makes one
    response, call = _call(stub, "Recommend", request)
    assert len(response.request_id) == 32 and dict(call.trailing_metadata())["x-request-id"] == response.request_id


def test_explanations_add_up_and_equal_shap_tree_explainer(stub, patient_examples, small_package) -> None:  # type: ignore[no-untyped-def]
    request = recommend_request(patient_examples["cyp2d6_ultrarapid_diabetic_neuropathy"], top_k=1000)
    response, _ = _call(stub, "Recommend", request)
    x = np.array([list(response.feature_values)])
    est = small_package.estimator
    for option in (*response.options, *response.excluded):
        e = option.explanation
        total = e.base_value + sum(c.shap_value for c in e.top_contributions) + e.other_contributions
        assert abs(total - e.margin) < 1e-5
        assert len(e.top_contributions) == len(small_package.catalog.feature_ids) and e.other_contributions == 0.0
        explainer = shap.TreeExplainer(est.boosters_[option.option_id])
        expected = explainer.shap_values(x)[0]
        got = {c.feature_id: c.shap_value for c in e.top_contributions}
        assert max(abs(got[f] - expected[i]) for i, f in enumerate(response.feature_ids)) < 1e-5
        assert abs(e.base_value - float(np.ravel(explainer.expected_value)[0])) < 1e-5


def test_cpic_poor_metabolizer_excludes_codeine_and_tramadol(stub, patient_examples) -> None:  # type: ignore[no-untyped-def]
    response, _ = _call(stub, "Recommend", recommend_request(patient_examples["cyp2d6_poor_metabolizer"]))
    excluded = {o.option_id: o for o in response.excluded}
    assert {"codeine", "tramadol"} <= set(excluded)
    assert not {"codeine", "tramadol"} & {o.option_id for o in response.options}
    for drug in ("codeine", "tramadol"):
        o = excluded[drug]
        assert "Poor Metabolizer" in o.reason
        avoid = [g for g in o.guidance if g.action == recommendation_pb2.GUIDANCE_ACTION_AVOID]
        assert avoid and avoid[0].recommendation in o.reason
        assert avoid[0].genes[0].gene == "CYP2D6" and avoid[0].genes[0].phenotype.startswith("Poor Metabolizer")
        assert avoid[0].classification == "Strong" and avoid[0].guideline_url.startswith("https://")
        assert o.explanation.top_contributions  # excluded options are explained too
    assert "Avoid codeine" in excluded["codeine"].reason


def test_hla_b_1502_positive_excludes_carbamazepine(stub, patient_examples) -> None:  # type: ignore[no-untyped-def]
    response, _ = _call(stub, "Recommend", recommend_request(patient_examples["hla_b_1502_carrier"]))
    excluded = {o.option_id: o for o in response.excluded}
    assert "carbamazepine" in excluded
    guidance = excluded["carbamazepine"].guidance
    avoid = [g for g in guidance if g.action == recommendation_pb2.GUIDANCE_ACTION_AVOID]
    assert avoid and avoid[0].recommendation in excluded["carbamazepine"].reason
    assert ("HLA-B", "HLA-B*15:02 positive") in {(r.gene, r.phenotype) for r in avoid[0].genes}
    assert "carbamazepine" not in {o.option_id for o in response.options}


def test_data_warnings_and_safety_flags(stub, patient_examples) -> None:  # type: ignore[no-untyped-def]
    sparse, _ = _call(stub, "Recommend", recommend_request(patient_examples["mostly_missing"]))
    kinds = {w.kind for w in sparse.warnings}
    assert recommendation_pb2.WARNING_KIND_MISSING_INPUT in kinds
    assert recommendation_pb2.WARNING_KIND_PGX_NOT_TESTED in kinds
    flagged, _ = _call(stub, "Recommend", recommend_request(patient_examples["phq9_item9_positive"]))
    assert any(f.code == "phq9_item9_positive" and f.severity == recommendation_pb2.SEVERITY_CRITICAL
               for f in flagged.safety_flags)
    outside = json.loads(json.dumps(patient_examples["cyp2d6_poor_metabolizer"]))
    outside["wearables"]["steps_per_day"] = 60000
    far, _ = _call(stub, "Recommend", recommend_request(outside))
    assert any(w.kind == recommendation_pb2.WARNING_KIND_OUTSIDE_TRAINING_RANGE for w in far.warnings)


def test_candidates_and_top_k(stub, patient_examples) -> None:  # type: ignore[no-untyped-def]
    request = recommend_request(patient_examples["cyp2d6_poor_metabolizer"], ["codeine", "pregabalin", "mindfulness"], 3)
    response, _ = _call(stub, "Recommend", request)
    assert {o.option_id for o in response.options} == {"pregabalin", "mindfulness"}
    assert [o.option_id for o in response.excluded] == ["codeine"]
    assert all(len(o.explanation.top_contributions) == 3 for o in (*response.options, *response.excluded))


def test_every_example_request_is_accepted(stub) -> None:  # type: ignore[no-untyped-def]
    for path in sorted((REPO / "examples" / "requests").glob("*.json")):
        if path.stem == "batch":
            request = json_format.Parse(path.read_text(), service_pb2.RecommendBatchRequest())
            response, _ = _call(stub, "RecommendBatch", request)
            assert [r.WhichOneof("result") for r in response.results] == ["response"] * len(request.requests)
        else:
            request = json_format.Parse(path.read_text(), service_pb2.RecommendRequest())
            response, _ = _call(stub, "Recommend", request)
            assert response.options, path.name


def test_batch_equals_single_and_keeps_per_item_errors(stub, patient_examples) -> None:  # type: ignore[no-untyped-def]
    good = [recommend_request(d) for d in patient_examples.values()]
    bad = recommend_request(patient_examples["mostly_missing"])
    bad.patient.clinical.age_years = 7
    bad.candidate_option_ids.append("leeches")
    response, _ = _call(stub, "RecommendBatch", service_pb2.RecommendBatchRequest(requests=[*good[:2], bad, *good[2:]]))
    results = list(response.results)
    assert [r.WhichOneof("result") for r in results] == ["response"] * 2 + ["error"] + ["response"] * (len(good) - 2)
    error = results[2].error
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert {f for f, _ in bad_request(error)} == {"patient.clinical.age_years", "candidate_option_ids[0]"}
    for single_request, result in zip(good, [r for r in results if r.HasField("response")], strict=True):
        single, _ = _call(stub, "Recommend", single_request)
        assert [(o.option_id, o.p_response) for o in single.options] == [
            (o.option_id, o.p_response) for o in result.response.options
        ]
        assert single.options[0].explanation == result.response.options[0].explanation


def test_list_options_and_describe_model(stub, small_package) -> None:  # type: ignore[no-untyped-def]
    options, _ = _call(stub, "ListTreatmentOptions", service_pb2.ListTreatmentOptionsRequest())
    assert len(options.options) == len(small_package.options.ids) and options.options_catalog_sha256 == small_package.options.sha256
    model, _ = _call(stub, "DescribeModel", service_pb2.DescribeModelRequest())
    meta = small_package.metadata
    assert model.model_name == meta.registered_model and model.model_run_id == meta.run_id
    assert model.catalog_sha256 == meta.catalog_sha256 and model.catalog_version == meta.catalog_version
    assert dict(model.validation_metrics) == meta.headline_metrics
    assert model.intended_use and model.training_data and model.limitations
    assert list(model.option_ids) == list(meta.option_ids) and model.max_batch_size == SHARED_MAX_BATCH
    assert model.loaded_at.seconds > 0 and model.model_uri.startswith("file://")


def test_reflection_lists_and_describes_the_service(channel) -> None:  # type: ignore[no-untyped-def]
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
    names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names
    db = ProtoReflectionDescriptorDatabase(channel)
    from google.protobuf.descriptor_pool import DescriptorPool

    pool = DescriptorPool(db)
    service = pool.FindServiceByName(SERVICE)
    assert {m.name for m in service.methods} == {"Recommend", "RecommendBatch", "ListTreatmentOptions", "DescribeModel"}
    assert pool.FindMessageTypeByName("precisionpain.v1.RecommendResponse").fields_by_name["excluded"]


# ---------------------------------------------------------------------------------------------- errors


def test_invalid_argument_lists_every_field_violation(stub, patient_examples) -> None:  # type: ignore[no-untyped-def]
    request = recommend_request(patient_examples["cyp2d6_poor_metabolizer"], ["codeine", "aspirin_magic"])
    request.patient.clinical.age_years = 140
    request.patient.clinical.baseline_nrs = 11
    request.patient.pgx.cyp2d6.diplotype = "*999/*4"
    request.top_k_contributions = -2
    err = _error(stub.Recommend, request, timeout=30, metadata=[("x-request-id", "bad-1")])
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
    fields = dict(bad_request(_rich(err)))
    assert set(fields) == {
        "patient.clinical.age_years",
        "patient.clinical.baseline_nrs",
        "patient.pgx.cyp2d6.diplotype",
        "candidate_option_ids[1]",
        "top_k_contributions",
    }
    assert "between 18 and 110" in fields["patient.clinical.age_years"]
    assert "140" not in err.details() and "999" not in err.details()
    assert dict(err.trailing_metadata())["x-request-id"] == "bad-1"
    missing = service_pb2.RecommendRequest()
    fields = dict(bad_request(_rich(_error(stub.Recommend, missing, timeout=30))))
    assert {"patient.clinical"} <= set(fields) or {"patient.clinical.age_years"} <= set(fields)


def test_resource_exhausted_for_batch_size_and_message_size(stub, patient_examples) -> None:  # type: ignore[no-untyped-def]
    one = recommend_request(patient_examples["mostly_missing"])
    too_many = service_pb2.RecommendBatchRequest(requests=[one] * (SHARED_MAX_BATCH + 1))
    err = _error(stub.RecommendBatch, too_many, timeout=30)
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and str(SHARED_MAX_BATCH) in err.details()
    huge = recommend_request(patient_examples["mostly_missing"])
    huge.patient.patient_ref = "x" * (SHARED_MAX_REQUEST_BYTES + 10)
    assert _error(stub.Recommend, huge, timeout=30).code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_expired_deadline_stops_the_work(stub, shared_server: ServerProcess, patient_examples) -> None:  # type: ignore[no-untyped-def]
    # half the batch limit: a full batch's answer (every option explained) passes the client's 4 MiB default
    n = SHARED_MAX_BATCH // 2
    batch = service_pb2.RecommendBatchRequest(
        requests=([recommend_request(d) for d in patient_examples.values()] * n)[:n]
    )
    started = time.perf_counter()
    _call(stub, "RecommendBatch", batch)
    full_ms = (time.perf_counter() - started) * 1e3
    deadline_s = full_ms / 1e3 / 10
    err = _error(stub.RecommendBatch, batch, timeout=deadline_s, metadata=[("x-request-id", "late-1")])
    assert err.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    record = None
    for _ in range(100):
        record = shared_server.access("late-1")
        if record is not None:
            break
        time.sleep(0.05)
    assert record is not None and record["status"] == "DEADLINE_EXCEEDED"  # what the caller got
    assert record["latency_ms"] < full_ms  # the server stopped instead of finishing the batch


def _without_clock_fields(log: str) -> str:
    """The log with each JSON line's timestamp and latency left out: their digits are the server's clock, and a
    millisecond such as "07.654Z" must not read as the patient's 7.654 mg/L."""
    lines = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        if isinstance(record, dict):
            record.pop("ts", None)
            record.pop("latency_ms", None)
        lines.append(json.dumps(record))
    return "\n".join(lines)


def test_no_patient_value_reaches_the_logs(stub, shared_server: ServerProcess, patient_examples) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(patient_examples["cyp2d6_poor_metabolizer"]))
    data["patient_ref"] = "MRN-ZQX-998877"
    data["clinical"]["age_years"] = 61.734519
    data["biomarkers"]["hs_crp_mg_per_l"] = 7.654321
    data["wearables"]["steps_per_day"] = 4321.987
    request = recommend_request(data)
    _call(stub, "Recommend", request, metadata=[("x-request-id", "privacy-1")])
    invalid = recommend_request(data)
    invalid.patient.clinical.age_years = 123.456789
    invalid.patient.pgx.cyp2c19.diplotype = "*77/*88"
    _error(stub.Recommend, invalid, timeout=30, metadata=[("x-request-id", "privacy-2")])
    _call(stub, "RecommendBatch", service_pb2.RecommendBatchRequest(requests=[request, invalid]),
          metadata=[("x-request-id", "privacy-3")])
    for _ in range(100):
        if shared_server.access("privacy-3") is not None:
            break
        time.sleep(0.05)
    log = _without_clock_fields(shared_server.log_text())
    for value in ("MRN-ZQX-998877", "61.73", "7.654", "4321.9", "123.45", "*77", "*88", "example-cyp2d6-pm"):
        assert value not in log, value
    assert shared_server.access("privacy-1")["status"] == "OK"
    assert shared_server.access("privacy-2")["status"] == "INVALID_ARGUMENT"
    record = shared_server.access("privacy-3")
    assert record["status"] == "OK" and record["items"] == 2 and record["item_errors"] == 1


def test_client_class(shared_server: ServerProcess, patient_examples, small_package) -> None:  # type: ignore[no-untyped-def]
    from precisionpain.explain.report import build_report
    from precisionpain.features.validate import validate_profile

    data = patient_examples["cyp2d6_poor_metabolizer"]
    with RecommendationClient(shared_server.target, timeout_s=30) as client:
        assert client.health() == "SERVING" and client.health(SERVICE) == "SERVING"
        response = client.recommend(data, candidates=["codeine", "duloxetine"], top_k=4, request_id="client-1")
        assert response.request_id == "client-1" and len(response.options) == 1
        batch = client.recommend_batch(list(patient_examples.values()))
        assert len(batch.results) == len(patient_examples)
        assert len(client.list_options().options) == len(small_package.options.ids)
        summary = client.model_summary()
        assert summary.model_name == small_package.metadata.registered_model
        with pytest.raises(RecommendationServiceError) as info:
            client.recommend({**data, "clinical": {**data["clinical"], "age_years": 3}})
        assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
        assert [v.path for v in info.value.violations] == ["patient.clinical.age_years"]
        assert len(info.value.request_id) == 32
        explained = client.explained(data)
    profile = validate_profile(data)
    report = build_report(explained, profile, summary, small_package.catalog, small_package.tables,
                          options=small_package.options)
    assert report is not None
    assert {e.option_id for e in explained.explanations} == {o.option_id for o in
                                                          (*explained.recommendation.options,
                                                           *explained.recommendation.excluded)}


def test_an_answer_too_large_is_resource_exhausted_in_the_log_too(small_package_dir: Path, tmp_path: Path, patient_examples) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "server.yaml"
    config.write_text("version: 1\nlimits:\n  max_response_bytes: 120000\nreload:\n  alias_check_interval_s: 0\n")
    with running(tmp_path / "run", ["--model-path", str(small_package_dir), "--config", str(config)]) as server:
        server.wait_serving()
        with grpc.insecure_channel(server.target) as ch:
            stub = service_pb2_grpc.RecommendationServiceStub(ch)
            one = recommend_request(patient_examples["cyp2d6_poor_metabolizer"])
            small = service_pb2.RecommendBatchRequest(requests=[one])
            assert len(stub.RecommendBatch(small, timeout=30).results) == 1
            big = service_pb2.RecommendBatchRequest(requests=[one] * 40)
            err = _error(stub.RecommendBatch, big, timeout=30, metadata=[("x-request-id", "too-big-1")])
            assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_response_bytes" in err.details() and "fewer patients" in err.details()
            for _ in range(100):
                if server.access("too-big-1") is not None:
                    break
                time.sleep(0.05)
            assert server.access("too-big-1")["status"] == "RESOURCE_EXHAUSTED"
            # a single answer too large (every contribution of every option): refused by the server too, so the
            # caller gets the request id and the access line says what the caller got
            everything = recommend_request(patient_examples["cyp2d6_poor_metabolizer"], top_k=1000)
            err = _error(stub.Recommend, everything, timeout=30, metadata=[("x-request-id", "too-big-2")])
            assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and "max_response_bytes" in err.details()
            assert dict(err.trailing_metadata())["x-request-id"] == "too-big-2"
            for _ in range(100):
                if server.access("too-big-2") is not None:
                    break
                time.sleep(0.05)
            assert server.access("too-big-2")["status"] == "RESOURCE_EXHAUSTED"
            assert len(stub.RecommendBatch(small, timeout=30).results) == 1  # still serving
