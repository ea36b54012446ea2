"""Generated requests, valid and invalid, never make the real server answer INTERNAL or crash."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precisionpain.catalog.loader import load_feature_catalog
from precisionpain.service.client import recommend_request
from precisionpain.v1 import patient_pb2, service_pb2
from tests.contract.serverproc import ServerProcess
from tests.strategies import profile_dicts

CATALOG = load_feature_catalog(None)
OPTION_IDS = ["codeine", "tramadol", "duloxetine", "pregabalin", "physical_therapy", "mindfulness"]
EXPECTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}

texts = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
int32 = st.integers(-(2**31), 2**31 - 1)

# What broke parsers before: floods of one unit (quadratic patterns), numbers no decimal type should read
# (exponent overflow, NaN, separators, other scripts' digits), and digit runs past int()'s limit.
FLOOD_UNITS = ["(", " ", "\t", "+", "x ", "*1 ", "1", "≥", ">=", "٣", "²", "/", ")(", "*", "CYP2D6 "]
# UTF-8 bytes per flood: a batch of 8 requests with every string field flooded stays below the shared server's
# max_request_bytes (the 60,000-character cases are sent one by one in test_adversarial_server)
MAX_FLOOD_BYTES = 2000
numeric_strings = st.sampled_from(
    ["1e9999999", "-1e9999999", "1E5", "NaN", "-nan", "Infinity", "1_0", "+1", "-0", "٣", "0x10", "≥1e999", "9" * 99]
)
floods = st.builds(
    lambda unit, n, tail: unit * min(n, MAX_FLOOD_BYTES // len(unit.encode())) + tail,
    st.sampled_from(FLOOD_UNITS),
    st.integers(1, MAX_FLOOD_BYTES),
    texts,
)
adversarial_texts = st.one_of(texts, floods, numeric_strings)
adversarial_floats = st.one_of(floats, st.sampled_from([1e308, -1e308, 5e-324, -0.0]))


def _field_value(field: Any) -> st.SearchStrategy[Any]:
    t = field.type
    if field.enum_type is not None:
        return st.integers(-3, 12)
    if t == field.TYPE_DOUBLE:
        return st.one_of(adversarial_floats, st.floats(-200, 200))
    if t == field.TYPE_INT32:
        return st.one_of(int32, st.integers(-5, 120))
    if t == field.TYPE_BOOL:
        return st.booleans()
    if t == field.TYPE_STRING:
        return st.one_of(
            adversarial_texts, st.sampled_from(["*1/*4", "*4/*4", "Poor Metabolizer", "1.0", "≥4.0", "*2x2/*1"])
        )
    raise AssertionError(field)


@st.composite
def raw_messages(draw: st.DrawFn, descriptor: Any) -> dict[str, Any]:
    """Any field set or not, with any value its proto type allows (out of range, NaN, unknown enums)."""
    out: dict[str, Any] = {}
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        one = raw_messages(field.message_type) if field.message_type is not None else _field_value(field)
        out[field.name] = draw(st.lists(one, max_size=3)) if field.is_repeated else draw(one)
    return out


def _fill(msg: Any, data: dict[str, Any]) -> None:
    for name, value in data.items():
        if isinstance(value, dict):
            _fill(getattr(msg, name), value)
        elif isinstance(value, list):
            repeated = getattr(msg, name)
            for item in value:
                if isinstance(item, dict):
                    _fill(repeated.add(), item)
                else:
                    repeated.append(item)
        else:
            setattr(msg, name, value)


@st.composite
def invalid_requests(draw: st.DrawFn) -> service_pb2.RecommendRequest:
    request = service_pb2.RecommendRequest()
    _fill(request.patient, draw(raw_messages(patient_pb2.PatientProfile.DESCRIPTOR)))
    candidates = st.one_of(
        st.lists(st.one_of(st.sampled_from(OPTION_IDS), adversarial_texts), max_size=4),
        st.lists(st.sampled_from(OPTION_IDS), min_size=65, max_size=80),  # more ids than a request may list
    )
    request.candidate_option_ids.extend(draw(candidates))
    request.top_k_contributions = draw(st.integers(-3, 100))
    return request


@st.composite
def valid_requests(draw: st.DrawFn) -> service_pb2.RecommendRequest:
    data = draw(profile_dicts(CATALOG))
    candidates = draw(st.one_of(st.none(), st.lists(st.sampled_from(OPTION_IDS), min_size=1, max_size=4, unique=True)))
    return recommend_request(data, candidates, draw(st.integers(1, 50)))


@pytest.fixture(scope="module")
def fuzz_stub(shared_server: ServerProcess) -> Any:
    from precisionpain.v1 import service_pb2_grpc

    channel = grpc.insecure_channel(shared_server.target)
    yield service_pb2_grpc.RecommendationServiceStub(channel)
    channel.close()


def _code(stub: Any, request: Any) -> grpc.StatusCode:
    try:
        stub.Recommend(request, timeout=30)
    except grpc.RpcError as err:
        return err.code()  # type: ignore[attr-defined, no-any-return]
    return grpc.StatusCode.OK


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=valid_requests())
def test_valid_profiles_are_answered(fuzz_stub: Any, request: service_pb2.RecommendRequest) -> None:
    assert _code(fuzz_stub, request) is grpc.StatusCode.OK


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=invalid_requests())
def test_any_request_is_answered_or_rejected_never_internal(fuzz_stub: Any, request: service_pb2.RecommendRequest) -> None:
    assert _code(fuzz_stub, request) in EXPECTED


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.one_of(valid_requests(), invalid_requests()), min_size=1, max_size=8))
def test_batches_of_any_requests(fuzz_stub: Any, items: list[service_pb2.RecommendRequest]) -> None:
    response = fuzz_stub.RecommendBatch(service_pb2.RecommendBatchRequest(requests=items), timeout=60)
    assert len(response.results) == len(items)
    for result in response.results:
        if result.HasField("error"):
            assert result.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]


def test_server_survived(shared_server: ServerProcess) -> None:
    assert shared_server.proc.poll() is None
    assert '"status": "INTERNAL"' not in shared_server.log_text()
