"""``precisionpain mlflow-server``: flags checked before anything starts, secrets kept off command lines and out
of messages, an unreachable database said in one line. (The server itself, on a real PostgreSQL, is exercised by
tests/model/test_tracking_server.py.)"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.contract.serverproc import free_port

SECRET = "s3cr3t-pw"


@pytest.fixture(scope="module")
def cli() -> Any:
    from precisionpain.cli import app

    return app


def run(cli: Any, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, ["mlflow-server", *args], env=env or {}, catch_exceptions=False)


def test_a_postgresql_uri_runs_on_psycopg_and_stays_off_the_command_line(tmp_path: Any) -> None:
    from precisionpain.scale.tracking import plan_tracking_server

    plan = plan_tracking_server(
        f"postgresql://team:{SECRET}@db.internal:6543/mlflow?sslmode=require", str(tmp_path / "art"), port=5001
    )
    assert plan.backend_store_uri == f"postgresql+psycopg://team:{SECRET}@db.internal:6543/mlflow?sslmode=require"
    argv = plan.argv()
    assert argv[:4] == [sys.executable, "-m", "mlflow", "server"]
    assert SECRET not in " ".join(argv) and "db.internal" not in " ".join(argv)
    assert argv[argv.index("--artifacts-destination") + 1] == str((tmp_path / "art").resolve())
    assert "--serve-artifacts" in argv and argv[argv.index("--port") + 1] == "5001"
    assert plan.env({})["MLFLOW_BACKEND_STORE_URI"] == plan.backend_store_uri
    assert plan.describe() == "postgresql+psycopg://db.internal:6543/mlflow"
    # an object store stays a URI
    assert plan_tracking_server("postgres://h/db", "s3://bucket/mlflow").artifacts_destination == "s3://bucket/mlflow"


def test_every_flag_problem_at_once_without_echoing_the_uri(cli: Any) -> None:
    result = run(cli, "--backend-store-uri", f"mysql://root:{SECRET}@h/db", "--port", "70000", "--workers", "0")
    assert result.exit_code == 2
    out = result.output
    assert "mlflow-server: 4 problems" in out
    assert "--backend-store-uri: must be a PostgreSQL URI" in out and "scheme 'mysql'" in out
    assert "--artifacts-destination: is required" in out
    assert "--port: must be between 1 and 65535" in out and "--workers: must be at least 1" in out
    assert SECRET not in out


def test_a_uri_without_database_is_refused(cli: Any, tmp_path: Any) -> None:
    result = run(cli, "--backend-store-uri", "postgresql://u@h:5432", "--artifacts-destination", str(tmp_path))
    assert result.exit_code == 2
    assert "--backend-store-uri: must name the database" in result.output


def test_a_database_that_does_not_answer_is_one_line_naming_host_port_and_database(cli: Any, tmp_path: Any) -> None:
    port = free_port()  # nothing listens there
    result = run(
        cli,
        "--check-only",
        "--artifacts-destination",
        str(tmp_path / "art"),
        env={"MLFLOW_BACKEND_STORE_URI": f"postgresql://team:{SECRET}@127.0.0.1:{port}/mlflow"},
    )
    assert result.exit_code == 2
    assert f"the backend store postgresql+psycopg://127.0.0.1:{port}/mlflow does not answer" in result.output
    assert SECRET not in result.output and "team" not in result.output
    assert not (tmp_path / "art").exists()  # nothing created before the checks pass


def test_the_compose_file_runs_the_real_command_with_real_flags(cli: Any) -> None:
    import typer
    import yaml

    from precisionpain.scale.tracking import plan_tracking_server
    from tests.contract.serverproc import REPO

    compose = yaml.safe_load((REPO / "serving" / "deploy" / "mlflow-compose.yaml").read_text())
    mlflow = compose["services"]["mlflow"]
    assert mlflow["entrypoint"] == ["precisionpain", "mlflow-server"]
    command: Any = typer.main.get_command(cli).commands["mlflow-server"]
    takes_value = {opt: not p.is_flag for p in command.params for opt in p.opts if opt.startswith("--")}
    args = iter(mlflow["command"])
    given: dict[str, str] = {}
    for arg in args:
        assert arg in takes_value, f"{arg} is not an option of `precisionpain mlflow-server`"
        given[arg] = next(args) if takes_value[arg] else ""
    env = mlflow["environment"]
    plan = plan_tracking_server(
        env["MLFLOW_BACKEND_STORE_URI"],
        given["--artifacts-destination"],
        host=given["--host"],
        port=int(given["--port"]),
        workers=int(given["--workers"]),
        allowed_hosts=given["--allowed-hosts"],
    )
    assert plan.describe() == "postgresql+psycopg://postgres:5432/mlflow"
    assert "PGPASSWORD" in env and ":" not in env["MLFLOW_BACKEND_STORE_URI"].split("@")[0].removeprefix("postgresql://")
    assert f"mlflow:{given['--port']}" in given["--allowed-hosts"].split(",")
    # the artifact folder is inside the volume mounted where the image's user may write
    volume = next(v.split(":")[1] for v in mlflow["volumes"])
    assert given["--artifacts-destination"].startswith(volume + "/")
    assert compose["services"]["postgres"]["environment"]["POSTGRES_DB"] == "mlflow"
