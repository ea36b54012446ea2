"""A server that follows models:/NAME@champion in a real (SQLite) MLflow registry: the alias moves to a broken
version (the old model keeps serving), then to a good one (swapped in). A package tampered with after it was
written is refused on SIGHUP and on the alias poll (every file is checked against the package manifest, and a
registered version's manifest against the sha256 recorded on the version); the old model keeps serving."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import grpc
import pytest

from precisionpain.v1 import service_pb2, service_pb2_grpc
from tests.contract.serverproc import running
from tests.unit.models.test_package_integrity import swap_two_option_ids

NAME = "precisionpain-serve-test"


def _register(registry: Any, experiment_id: str, package: Path, *, record: bool = True) -> str:
    """Log ``package`` as a run's model and register it, recording its manifest's sha256 as training does."""
    import mlflow

    from precisionpain.models.registry import PACKAGE_MANIFEST_TAG

    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifacts(str(package), artifact_path="model/artifacts/package")
    registry.ensure_registered_model(NAME)
    tags = {PACKAGE_MANIFEST_TAG: hashlib.sha256((package / "manifest.json").read_bytes()).hexdigest()}
    mv = registry.client.create_model_version(
        NAME, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags=tags if record else None
    )
    return str(mv.version)


def _stored_package(registry: Any, version: str) -> Path:
    """The package folder of a registered version inside the artifact store (to tamper with it there)."""
    run_id = registry.client.get_model_version(NAME, version).run_id
    artifact_uri = registry.client.get_run(run_id).info.artifact_uri
    return Path(unquote(urlparse(artifact_uri).path)) / "model" / "artifacts" / "package"


def _probabilities(response: Any) -> dict[str, float]:
    return {o.option_id: o.p_response for o in [*response.options, *response.excluded]}


@pytest.mark.slow
def test_alias_moves_are_followed(tmp_path: Path, small_package_dir: Path, patient_examples) -> None:  # type: ignore[no-untyped-def]
    from precisionpain.models.package import seal_package
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
        seal_package(fixed)  # a new package is sealed when it is written
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


def test_a_tampered_package_is_refused_on_sighup(tmp_path: Path, small_package_dir: Path, patient_examples) -> None:  # type: ignore[no-untyped-def]
    """Two option ids swapped in estimator/model.json would swap two drugs' probabilities: refused on SIGHUP."""
    from precisionpain.service.client import recommend_request

    package = Path(shutil.copytree(small_package_dir, tmp_path / "package"))
    request = recommend_request(patient_examples["cyp2d6_poor_metabolizer"])
    args = ["--model-path", str(package), "--alias-check-interval-s", "0"]
    with running(tmp_path / "run", args) as server, grpc.insecure_channel(server.target) as channel:
        server.wait_serving()
        stub = service_pb2_grpc.RecommendationServiceStub(channel)
        before = _probabilities(stub.Recommend(request, timeout=30))

        swap_two_option_ids(package)
        n = len(server.log_records())
        server.send(signal.SIGHUP)
        refused = server.wait_log("model load failed", after=n)
        assert "still serving the previous model" in refused["message"]
        assert "estimator/model.json changed" in refused["reason"]
        assert not [r for r in server.log_records()[n:] if r.get("message") == "model replaced"]
        assert server.health(channel) == "SERVING"
        assert _probabilities(stub.Recommend(request, timeout=30)) == before


@pytest.mark.slow
def test_a_tampered_registered_version_is_refused_on_the_alias_poll(  # type: ignore[no-untyped-def]
    tmp_path: Path, small_package_dir: Path, patient_examples
) -> None:
    """Changed in the artifact store after registration (files and manifest rewritten together), or registered
    without a recorded manifest sha256: the alias moves there, the server refuses it and keeps the old model."""
    from precisionpain.models.package import seal_package
    from precisionpain.models.registry import Registry, quiet_mlflow
    from precisionpain.service.client import recommend_request

    quiet_mlflow()
    home = tmp_path / "home"
    home.mkdir()
    tracking = f"sqlite:///{home / 'mlflow.db'}"
    registry = Registry(tracking, home / "mlartifacts")
    experiment = registry.experiment_id("serve-test")
    good = _register(registry, experiment, small_package_dir)
    resealed = _register(registry, experiment, small_package_dir)
    stored = _stored_package(registry, resealed)
    swap_two_option_ids(stored)
    seal_package(stored)
    unrecorded = _register(registry, experiment, small_package_dir, record=False)
    registry.client.set_registered_model_alias(NAME, "champion", good)

    request = recommend_request(patient_examples["cyp2d6_poor_metabolizer"])
    args = ["--model", f"models:/{NAME}@champion", "--tracking-uri", tracking, "--home", str(home),
            "--alias-check-interval-s", "0.5"]
    with running(tmp_path / "run", args) as server, grpc.insecure_channel(server.target) as channel:
        server.wait_serving(timeout_s=120)
        stub = service_pb2_grpc.RecommendationServiceStub(channel)
        before = _probabilities(stub.Recommend(request, timeout=30))
        loaded = server.wait_log("model loaded")
        assert loaded["package_manifest_sha256"] == registry.client.get_model_version(NAME, good).tags[
            "package_manifest_sha256"
        ]

        for version, why in [(resealed, "does not match the sha256 recorded"), (unrecorded, "records no sha256")]:
            n = len(server.log_records())
            registry.client.set_registered_model_alias(NAME, "champion", version)
            refused = server.wait_log("model load failed", after=n)
            assert "still serving the previous model" in refused["message"] and why in refused["reason"]
            response = stub.Recommend(request, timeout=30)
            assert response.provenance.model_version == good
            assert _probabilities(response) == before
            n = len(server.log_records())
            server.send(signal.SIGHUP)  # a forced reload refuses it again
            assert why in server.wait_log("model load failed", after=n)["reason"]
            assert server.health(channel) == "SERVING"
