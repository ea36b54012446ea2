"""A real server's life: no model yet, loaded on SIGHUP, a broken reload, a good reload, SIGTERM under load."""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from precisionpain.models.package import seal_package
from precisionpain.service.client import recommend_request
from precisionpain.v1 import service_pb2, service_pb2_grpc
from tests.contract.serverproc import running, start_server, wait_until

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _code(fn: Any, request: Any, timeout: float = 30) -> grpc.StatusCode:
    try:
        fn(request, timeout=timeout)
    except grpc.RpcError as err:
        return err.code()  # type: ignore[attr-defined, no-any-return]
    return grpc.StatusCode.OK


def test_lifecycle(tmp_path: Path, small_package_dir: Path, patient_examples) -> None:  # type: ignore[no-untyped-def]
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    server = start_server(tmp_path / "run", ["--model-path", str(model_dir), "--alias-check-interval-s", "0"])
    channel = grpc.insecure_channel(server.target, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    try:
        stub = service_pb2_grpc.RecommendationServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        request = recommend_request(patient_examples["cyp2d6_poor_metabolizer"])

        # 1. no model: NOT_SERVING, and calls are UNAVAILABLE (health itself answers without a model)
        server.wait_log("model load failed")
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == NOT_SERVING
        assert _code(stub.Recommend, request) is grpc.StatusCode.UNAVAILABLE
        assert _code(stub.DescribeModel, service_pb2.DescribeModelRequest()) is grpc.StatusCode.UNAVAILABLE

        # 2. the model arrives; SIGHUP loads it: SERVING
        shutil.copytree(small_package_dir, model_dir, dirs_exist_ok=True)
        server.send(signal.SIGHUP)
        server.wait_serving()
        first = stub.DescribeModel(service_pb2.DescribeModelRequest(), timeout=10)
        assert _code(stub.Recommend, request) is grpc.StatusCode.OK

        # 3. the folder is replaced by a broken model; SIGHUP: the load fails and the old model keeps serving
        n_records = len(server.log_records())
        (model_dir / "metadata.json").write_text("{ not json")
        server.send(signal.SIGHUP)
        failed = server.wait_log("model load failed", after=n_records)
        assert "still serving the previous model" in failed["message"]
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == SERVING
        assert _code(stub.Recommend, request) is grpc.StatusCode.OK
        assert stub.DescribeModel(service_pb2.DescribeModelRequest(), timeout=10) == first

        # 4. a good new model; SIGHUP swaps it in
        metadata = json.loads((small_package_dir / "metadata.json").read_text())
        metadata["run_id"] = "run-2"
        (model_dir / "metadata.json").write_text(json.dumps(metadata))
        seal_package(model_dir)  # a new package is sealed when it is written
        n_records = len(server.log_records())
        server.send(signal.SIGHUP)
        server.wait_log("model replaced", after=n_records)
        assert stub.DescribeModel(service_pb2.DescribeModelRequest(), timeout=10).model_run_id == "run-2"

        # 5. SIGTERM under load: NOT_SERVING is announced, calls in flight finish, the process exits 0
        watched: list[int] = []
        watch = health.Watch(health_pb2.HealthCheckRequest(), timeout=60)

        def follow() -> None:
            try:
                for reply in watch:
                    watched.append(reply.status)
            except grpc.RpcError:
                pass

        follower = threading.Thread(target=follow)
        follower.start()
        wait_until(lambda: watched == [SERVING])
        every = [recommend_request(d) for d in patient_examples.values()]
        batch = service_pb2.RecommendBatchRequest(requests=(every * 1000)[:300])  # with 28 options 900 outlast the 10 s grace
        results: list[Any] = []

        def send_batch() -> None:
            try:
                results.append(stub.RecommendBatch(batch, timeout=120))
            except grpc.RpcError as err:
                results.append(err)

        senders = [threading.Thread(target=send_batch) for _ in range(2)]
        for t in senders:
            t.start()
        time.sleep(0.3)
        server.send(signal.SIGTERM)
        for t in senders:
            t.join(timeout=120)
        assert server.proc.wait(timeout=60) == 0
        follower.join(timeout=30)
        shutdown = server.wait_log("shutting down")
        assert shutdown["in_flight"] >= 1
        assert all(isinstance(r, service_pb2.RecommendBatchResponse) for r in results), results
        assert all(len(r.results) == len(batch.requests) for r in results)
        assert NOT_SERVING in watched
        assert server.wait_log("stopped")["drained"] is True
        assert _code(stub.ListTreatmentOptions, service_pb2.ListTreatmentOptionsRequest(), timeout=2) is (
            grpc.StatusCode.UNAVAILABLE
        )
    finally:
        channel.close()
        server.stop()


def test_catalog_mismatch_is_failed_precondition(tmp_path: Path, small_package_dir: Path, repo_root: Path,
                                                 patient_examples) -> None:  # type: ignore[no-untyped-def]
    catalog = tmp_path / "catalog"
    for name in ("features", "models"):
        shutil.copytree(repo_root / name, catalog / name)
    index = catalog / "features" / "catalog.yaml"
    index.write_text(index.read_text() + "\n# a local edit changes the catalog's sha256\n")
    args = ["--model-path", str(small_package_dir), "--catalog-root", str(catalog), "--alias-check-interval-s", "0"]
    with running(tmp_path / "run", args) as server, grpc.insecure_channel(server.target) as channel:
        server.wait_log("model load failed")
        stub = service_pb2_grpc.RecommendationServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Recommend(recommend_request(patient_examples["hla_b_1502_carrier"]), timeout=10)
        err: Any = info.value
        assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "feature catalog sha256" in err.details()
        assert server.health(channel) == "NOT_SERVING"
