"""A server that follows models:/NAME@champion in a real (SQLite) MLflow registry: the alias moves to a broken
version (the old model keeps serving), then to a good one (swapped in)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from precisionpain.v1 import service_pb2, service_pb2_grpc
from tests.contract.serverproc import running

NAME = "precisionpain-serve-test"


def _register(registry: Any, experiment_id: str, package: Path) -> str:
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifacts(str(package), artifact_path="model/artifacts/package")
    registry.ensure_registered_model(NAME)
    mv = registry.client.create_model_version(NAME, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    return str(mv.version)


@pytest.mark.slow
def test_alias_moves_are_followed(tmp_path: Path, small_package_dir: Path, patient_examples) -> None:  # type: ignore[no-untyped-def]
    from precisionpain.models.registry import Registry, quiet_mlflow
    from precisionpain.service.client import recommend_request

    quiet_mlflow()
    home = tmp_path / "home"
    home.mkdir()
    tracking = f"sqlite:///{home / 'mlflow.db'}"
    registry = Registry(tracking, home / "mlartifacts")
    experiment = registry.experiment_id("serve-test")
    good = _register(registry, experiment, small_package_dir)
    broken_dir = tmp_path / "broken"
    shutil.copytree(small_package_dir, broken_dir)
    (broken_dir / "metadata.json").write_text("{ not json")
    broken = _register(registry, experiment, broken_dir)
    registry.client.set_registered_model_alias(NAME, "champion", good)

    args = ["--model", f"models:/{NAME}@champion", "--tracking-uri", tracking, "--home", str(home),
            "--alias-check-interval-s", "0.5"]
    with running(tmp_path / "run", args) as server, grpc.insecure_channel(server.target) as channel:
        server.wait_serving(timeout_s=120)
        stub = service_pb2_grpc.RecommendationServiceStub(channel)
        described = stub.DescribeModel(service_pb2.DescribeModelRequest(), timeout=10)
        assert (described.model_version, described.model_alias) == (good, "champion")
        assert described.model_uri == f"models:/{NAME}@champion"

        n = len(server.log_records())
        registry.client.set_registered_model_alias(NAME, "champion", broken)
        assert "still serving" in server.wait_log("model load failed", after=n)["message"]
        response = stub.Recommend(recommend_request(patient_examples["cyp2d6_poor_metabolizer"]), timeout=30)
        assert response.provenance.model_version == good
        assert server.health(channel) == "SERVING"

        fixed = tmp_path / "fixed"
        shutil.copytree(small_package_dir, fixed)
        meta = json.loads((fixed / "metadata.json").read_text())
        meta["run_id"] = "fixed-run"
        (fixed / "metadata.json").write_text(json.dumps(meta))
        third = _register(registry, experiment, fixed)
        n = len(server.log_records())
        registry.client.set_registered_model_alias(NAME, "champion", third)
        replaced = server.wait_log("model replaced", after=n)
        assert replaced["model_version"] == third and replaced["previous_version"] == good
        deadline = time.monotonic() + 10
        while stub.DescribeModel(service_pb2.DescribeModelRequest(), timeout=10).model_version != third:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        response = stub.Recommend(recommend_request(patient_examples["cyp2d6_poor_metabolizer"]), timeout=30)
        assert response.provenance.model_version == third
