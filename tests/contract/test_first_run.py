"""What a new user meets first: the commands the quickstart prints run as printed, and ``make clean`` removes
everything the README's commands create."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _result(tmp_path: Path, tracking_uri: str) -> object:
    from precisionpain.quickstart import QuickstartResult

    return QuickstartResult(
        cohort=tmp_path / "out" / "cohort-6000-seed3.parquet",
        cohort_reused=False,
        model_uri="models:/precisionpain-response@champion",
        model_version="1",
        trained=True,
        tracking_uri=tracking_uri,
        examples=(),
        server_log=tmp_path / "out" / "server.log",
        seconds=61.0,
    )


@pytest.mark.parametrize("with_home", [False, True])
def test_quickstart_summary_commands_run_as_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_home: bool) -> None:
    """From the folder the quickstart ran in, with the virtual environment not on PATH (as after a plain
    ``make quickstart``), each printed command starts a program that exists."""
    from precisionpain.quickstart import QuickstartPlan, summary_text

    monkeypatch.chdir(REPO)
    home = tmp_path / "home" if with_home else None
    plan = QuickstartPlan(out=tmp_path / "out", home=home)
    text = summary_text(plan, _result(tmp_path, f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"))  # type: ignore[arg-type]
    commands = {
        label.strip(): shlex.split(rest)
        for label, _, rest in (line.partition(":") for line in text.splitlines())
        if label.strip() in ("serve yourself", "MLflow UI")
    }
    assert set(commands) == {"serve yourself", "MLflow UI"}, text
    serve = commands["serve yourself"]
    assert serve[1:4] == ["serve", "--model", "models:/precisionpain-response@champion"]
    assert ("--home" in serve) is with_home
    path_without_venv = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    env = {**os.environ, "PATH": path_without_venv}
    for argv in commands.values():
        done = subprocess.run([*argv[:2], "--help"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (argv, done.stderr)


def test_make_clean_removes_what_the_commands_create(tmp_path: Path) -> None:
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    made = (".venv", "out", ".precisionpain", ".pytest_cache")
    for name in made:
        (tmp_path / name).mkdir()
        (tmp_path / name / "file").write_text("x")
    subprocess.run(["make", "clean"], cwd=tmp_path, check=True, capture_output=True, timeout=60)
    assert [name for name in made if (tmp_path / name).exists()] == []
    assert (tmp_path / "Makefile").exists()
