"""The project's commands against a team tracking server: ``precisionpain mlflow-server`` on a real PostgreSQL,
reached only through ``MLFLOW_TRACKING_URI=http://…``.

Everything runs as an operator and a data scientist would: the server is the real command in a subprocess, the
database a real PostgreSQL cluster in a temporary folder, each project command a real ``precisionpain``
process whose only hint of the server is the environment variable. Two trainings of the same registered model
run at once and meet at the champion decision (a barrier in the launcher, the real code on either side): the
registry stays whole and the champion moves once, the second run being compared with the first's version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.model.conftest import REPO, WEAK_MODEL, config_dict, write_config
from tests.support.tracking import Postgres, TrackingServer, running_postgres, start_tracking_server

pytestmark = pytest.mark.slow

DATABASE = "mlflow"


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with running_postgres() as pg:
        pg.create_database(DATABASE)
        yield pg


@pytest.fixture(scope="module")
def tracking(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    server = start_tracking_server(postgres, DATABASE, tmp_path_factory.mktemp("tracking"))
    try:
        yield server
    finally:
        server.stop()


def _env(tracking: TrackingServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PRECISIONPAIN_"))}
    env.update({"OMP_WAIT_POLICY": "passive", "PYTHONPATH": str(REPO), "MLFLOW_TRACKING_URI": tracking.uri})
    env.update(extra)
    return env


def _cli(tracking: TrackingServer, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "precisionpain"
    done = subprocess.run(
        [str(command), *args], cwd=cwd, env=_env(tracking), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"precisionpain {args[0]} failed ({done.returncode}):\n{done.stderr[-4000:]}"
    return done


def _registry(tracking: TrackingServer) -> Any:
    from precisionpain.models.registry import Registry

    return Registry(tracking.uri)


def test_commands_work_unchanged_over_http(
    tracking: TrackingServer, postgres: Postgres, small_cohort_file: Path, model_name: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.yaml", config_dict(model_name, WEAK_MODEL))
    _cli(tracking, tmp_path, "train", "--data", str(small_cohort_file), "--config", str(config))

    # the registry lives in PostgreSQL, the model files behind the server's artifact proxy
    assert (model_name,) in postgres.query(DATABASE, "SELECT name FROM registered_models")
    assert postgres.query(
        DATABASE, f"SELECT alias, version FROM registered_model_aliases WHERE name = '{model_name}' ORDER BY alias"
    ) == [("challenger", 1), ("champion", 1)]
    assert any(p.name == "manifest.json" for p in tracking.artifacts.rglob("*")), "no package under the artifact store"
    assert not (tmp_path / ".precisionpain").exists(), "the embedded store was used instead of the server"

    uri = f"models:/{model_name}@champion"
    evaluated = _cli(tracking, tmp_path, "evaluate", "--model", uri, "--data", str(small_cohort_file), "--split", "test")
    assert f"evaluated {model_name} v1" in evaluated.stderr
    answer = _cli(tracking, tmp_path, "recommend", str(REPO / "examples" / "patients" / "cyp2d6_poor_metabolizer.json"), "--model", uri, "--json")
    provenance = json.loads(answer.stdout)["provenance"]
    assert (provenance["model_name"], provenance["model_version"]) == (model_name, "1")
    _cli(tracking, tmp_path, "promote", "--model", f"models:/{model_name}/1", "--reason", "already champion")

    scored = tmp_path / "scored"
    _cli(tracking, tmp_path, "score", "--model", uri, "--data", str(small_cohort_file), "--out", str(scored), "--partition-rows", "2000")
    summary = json.loads((scored / "_score.json").read_text())
    assert summary["model_uri"] == f"models:/{model_name}/1"
    assert summary["rows"] == summary["answered"] + summary["errors"] > 0


LAUNCHER = """\
import os, sys, time
from pathlib import Path

from precisionpain.models import training

real_compare = training._compare_with_champion


def meet_then_compare(*args, **kwargs):
    # both runs arrive here with their model logged; neither goes on before the other has arrived
    folder = Path(os.environ["PP_TEST_BARRIER"])
    (folder / str(os.getpid())).write_text("here")
    deadline = time.monotonic() + 300
    while len(list(folder.iterdir())) < int(os.environ["PP_TEST_PARTIES"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return real_compare(*args, **kwargs)


training._compare_with_champion = meet_then_compare
from precisionpain.cli import main

sys.argv = ["precisionpain", *sys.argv[1:]]
main()
"""


def test_two_trainings_at_once_keep_the_registry_whole_and_move_champion_once(
    tracking: TrackingServer, small_cohort_file: Path, model_name: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.yaml", config_dict(model_name, WEAK_MODEL))
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = _env(tracking, PP_TEST_BARRIER=str(barrier), PP_TEST_PARTIES="2")
    args = [sys.executable, str(launcher), "train", "--data", str(small_cohort_file), "--config", str(config)]
    procs = [
        subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-4000:]
    assert len(list(barrier.iterdir())) == 2  # both reached the decision before either went on

    registry = _registry(tracking)
    snapshot = registry.snapshot(model_name)
    assert list(snapshot.versions) == ["1", "2"]
    assert len(set(snapshot.versions.values())) == 2  # one version per run
    client = registry.client
    versions = {v: client.get_model_version(model_name, v) for v in snapshot.versions}
    for mv in versions.values():
        assert len(mv.tags["package_manifest_sha256"]) == 64
    decisions = {v: mv.tags["promotion_decision"] for v, mv in versions.items()}
    promoted = [v for v, text in decisions.items() if "becomes champion" in text]
    assert len(promoted) == 1, decisions  # not both "no champion yet"
    (first,) = promoted
    (second,) = set(versions) - {first}
    # the second run decided against the first run's version, with the existing promotion rule
    assert versions[second].tags["promotion_compared_with"] == f"v{first}", decisions
    assert "stays challenger" in decisions[second]
    assert snapshot.aliases == {"champion": first, "challenger": second}
    # nothing of the serialisation is left behind
    assert [m.name for m in client.search_registered_models(filter_string=f"name LIKE '{model_name}%'")] == [model_name]
