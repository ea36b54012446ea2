"""A failed or interrupted training run leaves the registry exactly as it was: same versions, same aliases.

Four ways: an exception after the new version was registered; an exception after it had taken the champion
alias; a first run of a new registered model failing (the model disappears again); and a real SIGINT sent to a
``precisionpain train`` process, once while it works and once just after it moved the champion alias.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.model.conftest import GOOD_MODEL, REPO, WEAK_MODEL, Store, config_dict, write_config


def _seed_champion(store: Store, data: Path, make_config: Any, name: str) -> Any:
    """A champion the good model clearly beats: the weak model trained on the same patients' reversed outcomes."""
    from precisionpain.models.training import train
    from tests.model.conftest import reversed_outcomes

    config, _ = make_config(name, WEAK_MODEL)
    train(reversed_outcomes(data, data.with_name(f"reversed-{name}.parquet")), config, **store.kwargs)
    before = store.registry().snapshot(name)
    assert list(before.versions) == ["1"] and before.aliases == {"champion": "1", "challenger": "1"}
    return before


def test_exception_after_the_version_was_created(
    store: Store, cohort_file: Path, make_config: Any, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from precisionpain.models import training

    before = _seed_champion(store, cohort_file, make_config, model_name)
    created: list[str] = []
    real_decide = training.decide_promotion

    def fail(version: str, *args: Any, **kwargs: Any) -> Any:
        created.append(version)
        assert store.registry().snapshot(model_name).aliases["challenger"] == version  # the run got this far
        real_decide(version, *args, **kwargs)
        raise RuntimeError("injected failure")

    monkeypatch.setattr(training, "decide_promotion", fail)
    config, _ = make_config(model_name, GOOD_MODEL)
    with pytest.raises(RuntimeError, match="injected failure"):
        training.train(cohort_file, config, **store.kwargs)
    assert created == ["2"]
    assert store.registry().snapshot(model_name) == before
    runs = store.registry().client.search_runs(
        [store.registry().experiment_id(config.experiment)], order_by=["attributes.start_time DESC"], max_results=1
    )
    assert runs[0].info.status == "FAILED"


def test_exception_after_champion_moved(
    store: Store, cohort_file: Path, make_config: Any, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from precisionpain.models import training
    from precisionpain.models.registry import Registry

    before = _seed_champion(store, cohort_file, make_config, model_name)
    seen: list[dict[str, str]] = []

    def fail(self: Registry, name: str, version: str, tags: dict[str, Any]) -> None:
        seen.append(self.aliases(name))
        raise KeyboardInterrupt

    monkeypatch.setattr(Registry, "set_version_tags", fail)
    config, _ = make_config(model_name, GOOD_MODEL)
    with pytest.raises(KeyboardInterrupt):
        training.train(cohort_file, config, **store.kwargs)
    assert seen == [{"champion": "2", "challenger": "2"}]  # the good model had taken over
    assert store.registry().snapshot(model_name) == before


def test_failed_first_run_leaves_no_registered_model(
    store: Store, small_cohort_file: Path, make_config: Any, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from precisionpain.models import training

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(training, "decide_promotion", fail)
    config, _ = make_config(model_name, WEAK_MODEL)
    with pytest.raises(RuntimeError):
        training.train(small_cohort_file, config, **store.kwargs)
    registry = store.registry()
    assert registry.snapshot(model_name).versions == {}
    assert not registry.client.search_registered_models(filter_string=f"name = '{model_name}'")


LAUNCHER = """\
import os, signal, sys, time
from pathlib import Path

from precisionpain.models import registry

real_set_alias = registry.RegistryTransaction.set_alias


def set_alias_then_wait(self, alias, version):
    real_set_alias(self, alias, version)
    if alias == "champion":
        Path(os.environ["PP_TEST_READY"]).write_text(version)
        time.sleep(120)


registry.RegistryTransaction.set_alias = set_alias_then_wait
from precisionpain.cli import main

sys.argv = ["precisionpain", *sys.argv[1:]]
main()
"""


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a shell may start background jobs with SIGINT ignored


def _start(argv: list[str], tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        cwd=tmp_path,
        env={**os.environ, "OMP_WAIT_POLICY": "passive", "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_default_sigint,
    )


def _train_args(store: Store, data: Path, config: Path) -> list[str]:
    return ["train", "--data", str(data), "--config", str(config), "--tracking-uri", store.tracking_uri]


def _wait_for(condition: Any, proc: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"training ended before the signal (exit {proc.returncode}):\n{proc.stdout.read() if proc.stdout else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("training did not reach the point to interrupt in time")
        time.sleep(0.05)


def _interrupt(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("training did not stop after SIGINT")
    return out


def test_sigint_right_after_the_champion_moved(
    store: Store, cohort_file: Path, make_config: Any, model_name: str, tmp_path: Path
) -> None:
    before = _seed_champion(store, cohort_file, make_config, model_name)
    config = write_config(tmp_path / "good.yaml", config_dict(model_name, GOOD_MODEL))
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    ready = tmp_path / "ready"
    proc = _start([sys.executable, str(launcher), *_train_args(store, cohort_file, config)], tmp_path, PP_TEST_READY=str(ready))
    _wait_for(ready.exists, proc, 180)
    assert ready.read_text() == "2"
    out = _interrupt(proc)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    assert store.registry().snapshot(model_name) == before


def test_sigint_while_the_real_command_works(
    store: Store, cohort_file: Path, make_config: Any, model_name: str, tmp_path: Path
) -> None:
    before = _seed_champion(store, cohort_file, make_config, model_name)
    config = write_config(tmp_path / "good.yaml", config_dict(model_name, GOOD_MODEL))
    registry = store.registry()
    experiment_id = registry.experiment_id(f"test-{model_name}")
    runs_dir = store.artifact_root / f"test-{model_name}"  # the embedded store names artifact folders by experiment
    before_runs = set(runs_dir.iterdir()) if runs_dir.is_dir() else set()
    command = Path(sys.executable).parent / "precisionpain"
    proc = _start([str(command), *_train_args(store, cohort_file, config)], tmp_path)

    def started() -> bool:
        # watch the artifact folder, not the SQLite store: polling the database while the run writes to it can
        # make the run's own writes fail with "database is locked"
        return runs_dir.is_dir() and any(p not in before_runs and len(p.name) == 32 for p in runs_dir.iterdir())

    _wait_for(started, proc, 180)
    out = _interrupt(proc)
    assert proc.returncode == 130, out
    assert store.registry().snapshot(model_name) == before
    latest = registry.client.search_runs([experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert latest.info.status in ("KILLED", "FAILED")
