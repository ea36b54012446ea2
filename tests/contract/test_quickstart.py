"""``precisionpain quickstart``: cohort, champion, a real server, every example answered and reported; a second
run reuses the cohort and the champion."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import invoke

REPO = Path(__file__).resolve().parents[2]


#: (run, long step, message, fraction) of every progress report
PROGRESS: list[tuple[int, str, str, float]] = []


@pytest.fixture(scope="module")
def first_and_second(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from precisionpain.quickstart import QuickstartPlan, run_quickstart

    root = tmp_path_factory.mktemp("quickstart")
    plan = QuickstartPlan(out=root / "out", home=root / "home", tracking_uri=f"sqlite:///{root / 'home' / 'mlflow.db'}",
                          n_patients=6000, seed=3)
    said: list[str] = []

    def recorder(run: int) -> Any:
        @contextmanager
        def track(label: str) -> Iterator[Any]:
            yield lambda message, fraction: PROGRESS.append((run, label, message, fraction))

        return track

    first = run_quickstart(plan, said.append, recorder(1))
    second = run_quickstart(plan, said.append, recorder(2))
    yield plan, first, second, said
    from precisionpain.quickstart import stop_cds_hooks

    stop_cds_hooks(plan.out)  # the CDS Hooks service each run leaves running (the second replaced the first's)


@pytest.fixture(scope="module")
def monkeypatch_module():  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_WAIT_POLICY", "passive")
        yield mp


def test_first_run_builds_everything(first_and_second) -> None:  # type: ignore[no-untyped-def]
    _, first, _, _ = first_and_second
    examples = sorted(p.stem for p in (REPO / "examples" / "patients").glob("*.json"))
    assert [e.name for e in first.examples] == examples
    assert first.trained and not first.cohort_reused and first.model_version == "1"
    for ex in first.examples:
        page = ex.report.read_text()
        assert page.startswith("<!DOCTYPE html>") and "http://" not in page.split("<body", 1)[0]
        record = json.loads(ex.record.read_text())
        assert record["model"]["model_version"] == "1"
        assert record["explained"]["recommendation"]["provenance"]["model_name"] == "precisionpain-response"
    by_name = {e.name: e for e in first.examples}
    assert {"Codeine", "Tramadol"} <= set(by_name["cyp2d6_poor_metabolizer"].excluded)
    assert "Carbamazepine" in by_name["hla_b_1502_carrier"].excluded
    assert by_name["phq9_item9_positive"].critical_flags >= 1
    assert all(by_name[n].critical_flags == 0 for n in by_name if n != "phq9_item9_positive")


def test_the_server_answered_over_grpc_and_stopped_cleanly(first_and_second) -> None:  # type: ignore[no-untyped-def]
    _, first, _, _ = first_and_second
    records = [json.loads(line) for line in first.server_log.read_text().splitlines() if line.startswith("{")]
    recommends = [r for r in records if r.get("method", "").endswith("/Recommend") and r.get("status") == "OK"]
    assert len(recommends) == len(first.examples)
    assert any(re.search(r"stop|drain", r.get("message", "")) for r in records[-5:])
    log_text = first.server_log.read_text()
    for ex in first.examples:  # no patient value or identifier reaches the log
        profile = json.loads((REPO / "examples" / "patients" / f"{ex.name}.json").read_text())
        if profile.get("patient_ref"):
            assert profile["patient_ref"] not in log_text


def test_the_cds_hooks_service_is_left_running_with_an_order_select_line(first_and_second) -> None:  # type: ignore[no-untyped-def]
    _, first, second, _ = first_and_second
    assert first.cds_hooks is not None and second.cds_hooks is not None
    assert second.cds_hooks.indicators == ("critical",)  # codeine for the CYP2D6 poor metabolizer
    assert second.cds_hooks.pid != first.cds_hooks.pid and "order-select" in second.cds_hooks.curl


def test_second_run_reuses_cohort_and_champion(first_and_second) -> None:  # type: ignore[no-untyped-def]
    _, first, second, said = first_and_second
    assert second.cohort_reused and not second.trained
    assert second.model_version == first.model_version and second.cohort == first.cohort
    assert [e.report for e in second.examples] == [e.report for e in first.examples]
    assert any(s.startswith("model: reusing") for s in said)


def test_the_long_steps_report_their_progress(first_and_second) -> None:  # type: ignore[no-untyped-def]
    """Cohort generation and training report how far they are, from 0 to done, each on its own track; a re-run
    that reuses both reports none."""
    assert first_and_second  # both runs are done
    for step in ("cohort", "training"):
        fractions = [f for run, label, _, f in PROGRESS if run == 1 and label == step]
        assert len(fractions) >= 3 and fractions[0] == 0.0 and fractions[-1] == 1.0, (step, fractions)
        assert fractions == sorted(fractions)
    assert [p for p in PROGRESS if p[0] == 2] == []


def _readme_block(containing: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        if containing in block:
            return [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith(".venv/bin/precisionpain ")]
    raise AssertionError(f"no README block with {containing!r}")


@pytest.mark.slow
def test_the_readme_training_commands_work_after_the_quickstart(  # type: ignore[no-untyped-def]
    first_and_second, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's cohort, train, evaluate and promote lines as written (a smaller cohort), on the quickstart's
    store: in particular the promote example names a version that exists."""
    plan, _, _, _ = first_and_second
    monkeypatch.chdir(tmp_path)
    for line in _readme_block("precisionpain promote"):
        argv = [str(REPO / a) if a.startswith("experiments/") else a.replace("200000", "6000")
                for a in shlex.split(line)[1:]]
        if argv[0] != "cohort":
            argv += ["--tracking-uri", str(plan.tracking_uri)]
        result = invoke(cli, *argv)
        assert result.exit_code == 0, (line, result.output)
