"""Raw bytes to a real server that requires a token: random bytes and damaged requests, with and without the
token, to every method. Never INTERNAL or UNKNOWN; without the token always UNAUTHENTICATED (the token is
checked before the bytes are read); every call has its request id back and exactly one access line whose
status is the status the caller received. (Hypothesis over well-formed messages: test_fuzz.py.)"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precisionpain.service.client import recommend_request
from precisionpain.service.server import SERVICE_NAME, RecommendationService
from precisionpain.v1 import service_pb2
from tests.contract.serverproc import ServerProcess, running, wait_until

TOKEN = "raw-bytes-fuzz-token-0123456789"
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
WITH_TOKEN = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}
_ids = itertools.count()


@pytest.fixture(scope="module")
def token_server(small_package_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("raw-bytes")
    args = ["--model-path", str(small_package_dir), "--alias-check-interval-s", "0", "--require-token"]
    with running(workdir, args, env={"PRECISIONPAIN_API_TOKENS": TOKEN}) as server:
        server.wait_serving()
        yield server


@pytest.fixture(scope="module")
def seeds(patient_examples: dict[str, Any]) -> dict[str, bytes]:
    """A valid request of each method, serialized: what the damaged requests start from."""
    profiles = list(patient_examples.values())
    return {
        "Recommend": recommend_request(profiles[0], ["codeine", "duloxetine"], 3).SerializeToString(),
        "RecommendBatch": service_pb2.RecommendBatchRequest(
            requests=[recommend_request(p) for p in profiles[:3]]
        ).SerializeToString(),
        "ListTreatmentOptions": b"",
        "DescribeModel": b"",
    }


@st.composite
def damaged(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few bytes changed, inserted, deleted, or the rest cut off."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["change", "insert", "delete", "cut"])) if data else "insert"
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "change":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


def cases(seeds: dict[str, bytes]) -> st.SearchStrategy[tuple[str, bytes, bool]]:
    methods = st.sampled_from(sorted(seeds))
    return methods.flatmap(
        lambda method: st.tuples(
            st.just(method),
            st.one_of(st.binary(max_size=512), damaged(seeds[method]), st.just(seeds[method])),
            st.booleans(),
        )
    )


def _call(channel: grpc.Channel, method: str, payload: bytes, with_token: bool) -> tuple[str, grpc.StatusCode, str]:
    """(request id, status code, request id the caller got back) of one call with raw bytes."""
    request_id = f"raw-{next(_ids)}"
    metadata = [("x-request-id", request_id)]
    if with_token:
        metadata.append(("authorization", f"Bearer {TOKEN}"))
    try:
        _, call = channel.unary_unary(f"/{SERVICE_NAME}/{method}").with_call(payload, timeout=30, metadata=metadata)
        return request_id, grpc.StatusCode.OK, dict(call.trailing_metadata() or ()).get("x-request-id", "")
    except grpc.RpcError as err:
        trailing = dict(err.trailing_metadata() or ())  # type: ignore[attr-defined]
        return request_id, err.code(), trailing.get("x-request-id", "")  # type: ignore[attr-defined]


def _check_access_log(server: ServerProcess, answered: dict[str, str]) -> None:
    def lines() -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in server.log_records():
            if r.get("message") == "call" and r.get("request_id") in answered:
                out.setdefault(r["request_id"], []).append(r["status"])
        return out

    wait_until(lambda: len(lines()) == len(answered), timeout_s=30)
    assert lines() == {request_id: [code] for request_id, code in answered.items()}


def _fuzz(server: ServerProcess, seeds: dict[str, bytes], examples: int) -> None:
    answered: dict[str, str] = {}
    with grpc.insecure_channel(server.target) as channel:

        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=cases(seeds))
        def one(case: tuple[str, bytes, bool]) -> None:
            method, payload, with_token = case
            request_id, code, returned_id = _call(channel, method, payload, with_token)
            answered[request_id] = code.name
            assert code not in NEVER, (method, code)
            assert code in WITH_TOKEN if with_token else code is grpc.StatusCode.UNAUTHENTICATED, (method, code)
            assert returned_id == request_id

        one()
    _check_access_log(server, answered)
    assert server.proc.poll() is None


def test_the_method_table_is_the_service() -> None:
    service = service_pb2.DESCRIPTOR.services_by_name["RecommendationService"]
    assert set(RecommendationService.methods) == {m.name for m in service.methods}


def test_raw_bytes(token_server: ServerProcess, seeds: dict[str, bytes]) -> None:
    _fuzz(token_server, seeds, examples=150)


@pytest.mark.slow
def test_raw_bytes_many(token_server: ServerProcess, seeds: dict[str, bytes]) -> None:
    _fuzz(token_server, seeds, examples=3000)
