"""SIGTERM under concurrent load: every call sent before it, those still waiting for a worker thread included,
is answered; only calls sent after it are refused; the server then exits 0."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import grpc

from precisionpain.service.client import recommend_request
from precisionpain.v1 import service_pb2_grpc
from tests.contract.serverproc import running, wait_until

CLIENTS = 8
WORKERS = 2


def test_sigterm_answers_every_call_already_accepted(
    tmp_path: Path, small_package_dir: Path, patient_examples: dict[str, Any]
) -> None:
    config = tmp_path / "server.yaml"
    config.write_text(
        f"version: 1\nworkers: {WORKERS}\ngrace_period_s: 60\ndrain_delay_s: 0\nreload:\n  alias_check_interval_s: 0\n"
    )
    request = recommend_request(patient_examples["cyp2d6_poor_metabolizer"])
    outcomes: list[tuple[str, grpc.StatusCode, str]] = []
    started: dict[str, float] = {}

    def client(number: int, target: str) -> None:
        """Calls one after the other, through the SIGTERM, until the server refuses one."""
        with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            stub = service_pb2_grpc.RecommendationServiceStub(channel)
            for i in range(100_000):
                request_id = f"drain-{number}-{i}"
                started[request_id] = time.monotonic()
                try:
                    stub.Recommend(request, timeout=120, metadata=[("x-request-id", request_id)])
                    outcomes.append((request_id, grpc.StatusCode.OK, ""))
                except grpc.RpcError as err:
                    outcomes.append((request_id, err.code(), err.details()))  # type: ignore[attr-defined]
                    return

    args = ["--model-path", str(small_package_dir), "--config", str(config)]
    with running(tmp_path / "run", args) as server:
        server.wait_serving()
        threads = [threading.Thread(target=client, args=(n, server.target)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        wait_until(lambda: len(outcomes) >= 20 * CLIENTS, timeout_s=120)
        sigterm = time.monotonic()
        server.send(signal.SIGTERM)
        for t in threads:
            t.join(timeout=180)
        assert server.proc.wait(timeout=120) == 0
        shutdown = server.wait_log("shutting down")
        stopped = server.wait_log("stopped")
    logged = {r["request_id"]: r["status"] for r in server.log_records() if r.get("message") == "call"}

    # every call sent before SIGTERM is answered; a later one may be refused (UNAVAILABLE, or CANCELLED when it
    # arrives in the instant gRPC stops taking calls), and then it never reached a handler
    failed = [(request_id, code.name, details) for request_id, code, details in outcomes if code is not grpc.StatusCode.OK]
    in_flight = [f for f in failed if started[f[0]] < sigterm]
    assert in_flight == [], f"{len(in_flight)} calls sent before SIGTERM were not answered"
    assert all(code in ("UNAVAILABLE", "CANCELLED") and request_id not in logged for request_id, code, _ in failed)
    assert all(logged.get(request_id) == "OK" for request_id, code, _ in outcomes if code is grpc.StatusCode.OK)
    assert shutdown["in_flight"] > WORKERS  # calls were waiting for a worker thread when SIGTERM came
    assert stopped["drained"] is True
