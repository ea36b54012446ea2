"""Adversarial input against a real server: every call answered within its deadline and never INTERNAL, health
answering while pathological requests run, memory bounded under floods of unique strings, and a bad item of a
batch failing alone.

Generated requests come from the strategies of ``test_fuzz`` (floods of one character, numbers no decimal type
should read, NaN and extreme doubles, over-long candidate lists). The ``slow`` variants run far more of them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precisionpain.service.client import recommend_request
from precisionpain.v1 import service_pb2, service_pb2_grpc
from tests.contract.conftest import package_server
from tests.contract.serverproc import ServerProcess, wait_until
from tests.contract.test_fuzz import EXPECTED, invalid_requests, valid_requests

DEADLINE_S = 2.0  # the caller's deadline in the report that found the "(" flood
MINIMAL = {"clinical": {"age_years": 52, "sex": "female", "pain_type": "neuropathic", "baseline_nrs": 7}}
FLOOD_MIB = 1
FLOOD_REQUESTS = 150
RSS_GROWTH_LIMIT_MIB = 64


def _profile(**genes: dict[str, str]) -> dict[str, Any]:
    return {**MINIMAL, "pgx": dict(genes)}


def _request(profile: dict[str, Any]) -> service_pb2.RecommendRequest:
    return recommend_request(profile)


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc/PID/status (VmRSS, in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def _call(stub: Any, method: str, request: Any, request_id: str, timeout: float = DEADLINE_S) -> grpc.StatusCode:
    try:
        getattr(stub, method)(request, timeout=timeout, metadata=(("x-request-id", request_id),))
    except grpc.RpcError as err:
        return err.code()  # type: ignore[attr-defined, no-any-return]
    return grpc.StatusCode.OK


def _latencies_ms(server: ServerProcess, prefix: str) -> dict[str, tuple[str, float]]:
    """request id -> (status, latency in ms) from the access lines of the calls whose id starts with prefix."""
    return {
        r["request_id"]: (r["status"], float(r["latency_ms"]))
        for r in server.log_records()
        if r.get("message") == "call" and str(r.get("request_id", "")).startswith(prefix)
    }


@pytest.fixture(scope="module")
def adversary(shared_server: ServerProcess) -> Iterator[Any]:
    channel = grpc.insecure_channel(shared_server.target)
    yield service_pb2_grpc.RecommendationServiceStub(channel)
    channel.close()


# ------------------------------------------------------------------------------------------ generated requests


def _answered_within_deadline(server: ServerProcess, stub: Any, requests: list[Any], prefix: str) -> None:
    codes = {}
    for i, request in enumerate(requests):
        method = "RecommendBatch" if isinstance(request, service_pb2.RecommendBatchRequest) else "Recommend"
        codes[f"{prefix}{i}"] = _call(stub, method, request, f"{prefix}{i}")
    assert set(codes.values()) <= EXPECTED, {k: c.name for k, c in codes.items() if c not in EXPECTED}
    wait_until(lambda: len(_latencies_ms(server, prefix)) == len(requests), timeout_s=10)
    seen = _latencies_ms(server, prefix)
    slow = {rid: ms for rid, (_, ms) in seen.items() if ms > DEADLINE_S * 1e3}
    assert not slow, f"calls that ran past their {DEADLINE_S} s deadline on the server: {slow}"
    assert all(status in {c.name for c in EXPECTED} for status, _ in seen.values())


calls = st.one_of(invalid_requests(), valid_requests())
batches = st.lists(calls, min_size=1, max_size=6).map(
    lambda items: service_pb2.RecommendBatchRequest(requests=items)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(st.one_of(calls, batches), min_size=1, max_size=3))
def test_adversarial_requests_end_within_their_deadline_never_internal(
    shared_server: ServerProcess, adversary: Any, requests: list[Any]
) -> None:
    _answered_within_deadline(shared_server, adversary, requests, f"adv-{uuid.uuid4().hex[:12]}-")


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(st.one_of(calls, batches), min_size=1, max_size=4))
def test_adversarial_requests_many_more(shared_server: ServerProcess, adversary: Any, requests: list[Any]) -> None:
    _answered_within_deadline(shared_server, adversary, requests, f"advslow-{uuid.uuid4().hex[:12]}-")


# ------------------------------------------------------------------------------------------ the reported cases


PATHOLOGICAL = {
    "phenotype of 60,000 '('": _profile(cyp2d6={"phenotype": "(" * 60_000}),
    "diplotype with 60,000 inner spaces": _profile(cyp2d6={"diplotype": "*" + " " * 60_000 + "1/*4"}),
    "copy number after 60,000 spaces": _profile(cyp2d6={"diplotype": "*1x" + " " * 60_000 + "a/*4"}),
    "activity score 1e9999999": _profile(cyp2d6={"activity_score": "1e9999999"}),
    "superscript digit in an allele": _profile(cyp2d6={"diplotype": "*1²/*4"}),
}


@pytest.mark.parametrize("case", list(PATHOLOGICAL))
def test_reported_cases_are_invalid_argument_within_the_deadline(
    shared_server: ServerProcess, adversary: Any, case: str
) -> None:
    rid = f"case-{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    code = _call(adversary, "Recommend", _request(PATHOLOGICAL[case]), rid)
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert time.monotonic() - started < DEADLINE_S


def test_health_answers_while_pathological_requests_run(shared_server: ServerProcess, adversary: Any) -> None:
    """Pathological calls from three clients for two seconds; health is asked every 20 ms meanwhile."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stop = threading.Event()
    codes: list[grpc.StatusCode] = []
    requests = [_request(p) for p in PATHOLOGICAL.values()]

    def attack() -> None:
        i = 0
        while not stop.is_set():
            codes.append(_call(adversary, "Recommend", requests[i % len(requests)], f"attack-{uuid.uuid4().hex}"))
            i += 1

    threads = [threading.Thread(target=attack) for _ in range(3)]
    for t in threads:
        t.start()
    waits: list[float] = []
    with grpc.insecure_channel(shared_server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        try:
            end = time.monotonic() + 2.0
            while time.monotonic() < end:
                asked = time.monotonic()
                reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                waits.append(time.monotonic() - asked)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
                time.sleep(0.02)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
    assert codes and set(codes) == {grpc.StatusCode.INVALID_ARGUMENT}
    assert max(waits) < 1.0, f"health took up to {max(waits):.2f} s while pathological calls ran"


def test_a_bad_batch_item_fails_alone(adversary: Any) -> None:
    good = _request(_profile(cyp2d6={"diplotype": "*1/*4"}))
    items = [
        good,
        _request(_profile(cyp2d6={"activity_score": "1e9999999"})),
        good,
        _request(_profile(cyp2c9={"phenotype": "(" * 60_000})),
        _request({**MINIMAL, "pgx": {"cyp2d6": {"diplotype": "*1/*4"}}}),
        service_pb2.RecommendRequest(patient=good.patient, candidate_option_ids=["x" * 500]),
    ]
    response = adversary.RecommendBatch(service_pb2.RecommendBatchRequest(requests=items), timeout=30)
    assert len(response.results) == len(items)
    answered = [i for i, r in enumerate(response.results) if r.HasField("response")]
    assert answered == [0, 2, 4]
    assert all(len(response.results[i].response.options) > 0 for i in answered)
    expected_fields = {
        1: "patient.pgx.cyp2d6.activity_score",
        3: "patient.pgx.cyp2c9.phenotype",
        5: "candidate_option_ids[0]",
    }
    for i, field in expected_fields.items():
        error = response.results[i].error
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        bad = error_details_pb2.BadRequest()
        assert any(d.Unpack(bad) for d in error.details if d.Is(error_details_pb2.BadRequest.DESCRIPTOR))
        assert [v.field for v in bad.field_violations] == [field]
        assert "1e9999999" not in str(error) and "((((" not in str(error)


# ------------------------------------------------------------------------------------------ memory


@pytest.fixture(scope="module")
def flood_server(small_package_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that accepts requests of several MiB, so each can carry a megabyte-long string."""
    yield from package_server(small_package_dir, tmp_path_factory.mktemp("flood-server"), "  max_request_bytes: 4194304\n")


def _flood(server: ServerProcess, n: int, tag: str) -> int:
    """n Recommend calls, each with its own megabyte-long gene parts; the server's RSS growth in bytes."""
    with grpc.insecure_channel(
        server.target, options=[("grpc.max_send_message_length", 8 * 1024 * 1024)]
    ) as channel:
        stub = service_pb2_grpc.RecommendationServiceStub(channel)
        filler = "a" * (FLOOD_MIB * 1024 * 1024)

        def one(i: int) -> grpc.StatusCode:
            unique = f"{tag}{i:08d}"
            profile = _profile(
                cyp2d6={"diplotype": f"*1/*4{unique}{filler}"},
                cyp2c19={"diplotype": f"*1/*2{unique}{' ' * 200}"},
                cyp2c9={"phenotype": f"{unique}{'(' * 2000}", "activity_score": f"1{unique}"},
            )
            return _call(stub, "Recommend", _request(profile), f"flood-{tag}-{i}", timeout=30)

        for i in range(10):  # warm the allocator and every code path before measuring
            assert one(-1 - i) is grpc.StatusCode.INVALID_ARGUMENT
        before = rss_bytes(server.proc.pid)
        codes = {one(i) for i in range(n)}
        after = rss_bytes(server.proc.pid)
    assert codes == {grpc.StatusCode.INVALID_ARGUMENT}
    return after - before


def test_unique_string_flood_keeps_memory_bounded(flood_server: ServerProcess) -> None:
    grown = _flood(flood_server, FLOOD_REQUESTS, "a")
    assert grown < RSS_GROWTH_LIMIT_MIB * 1024 * 1024, (
        f"RSS grew {grown / 2**20:.0f} MiB over {FLOOD_REQUESTS} requests of {FLOOD_MIB} MiB unique strings"
    )


@pytest.mark.slow
def test_unique_string_flood_many_more(flood_server: ServerProcess) -> None:
    grown = _flood(flood_server, 6 * FLOOD_REQUESTS, "b")
    assert grown < RSS_GROWTH_LIMIT_MIB * 1024 * 1024, f"RSS grew {grown / 2**20:.0f} MiB"
