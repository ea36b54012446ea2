"""Contract-test fixtures: one shared real server (small model package) and example requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.contract.serverproc import ServerProcess, start_server

REPO = Path(__file__).resolve().parents[2]
SHARED_MAX_BATCH = 64
SHARED_MAX_REQUEST_BYTES = 256 * 1024


@pytest.fixture(scope="session")
def shared_server(small_package_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for most tests: --model-path on the small package, small limits to test them cheaply."""
    limits = f"  max_batch_size: {SHARED_MAX_BATCH}\n  max_request_bytes: {SHARED_MAX_REQUEST_BYTES}\n"
    yield from package_server(small_package_dir, tmp_path_factory.mktemp("shared-server"), limits)


def package_server(package_dir: Path, workdir: Path, limits: str) -> Iterator[ServerProcess]:
    """A real server on a model package folder with these ``limits:`` lines (two workers, no alias polling),
    serving until the caller is done with it."""
    config = workdir / "server.yaml"
    config.write_text(f"version: 1\nworkers: 2\nlimits:\n{limits}reload:\n  alias_check_interval_s: 0\n")
    server = start_server(workdir, ["--model-path", str(package_dir), "--config", str(config)])
    try:
        server.wait_serving()
        yield server
    finally:
        server.stop()


@pytest.fixture
def channel(shared_server: ServerProcess) -> Iterator[grpc.Channel]:
    ch = grpc.insecure_channel(shared_server.target)
    yield ch
    ch.close()


@pytest.fixture
def stub(channel: grpc.Channel) -> Any:
    from precisionpain.v1 import service_pb2_grpc

    return service_pb2_grpc.RecommendationServiceStub(channel)


@pytest.fixture(scope="session")
def patient_examples() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((REPO / "examples" / "patients").glob("*.json"))}


@pytest.fixture(scope="session")
def cli() -> Any:
    """The ``precisionpain`` command line, every command registered."""
    from precisionpain.cli import app

    return app


def invoke(cli: Any, *args: str) -> Any:
    """Run one command in-process; exceptions propagate (the CLI's own handling turns mistakes into exit 2)."""
    from typer.testing import CliRunner

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)
