"""What the command line prints when its output is not a terminal (a pipe, a file, a CI log): complete, never
cut ("p(respon…") or wrapped at 80 columns. The commands run as their own processes with every stream piped, as
under ``| tee`` or in CI."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PM = REPO / "examples" / "patients" / "cyp2d6_poor_metabolizer.json"
SCRIPT = Path(sys.executable).with_name("precisionpain")


def run_piped(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``precisionpain ARGS`` with stdin, stdout and stderr all pipes and no width in the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TERMINAL_WIDTH")}
    argv = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "precisionpain.cli"]
    return subprocess.run(
        [*argv, *args],
        cwd=cwd,
        env={**env, "OMP_WAIT_POLICY": "passive"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    """(path, click command) for the app and every command and sub-command."""
    import typer.main

    from precisionpain.cli import app

    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(path: tuple[str, ...], command: Any) -> None:
        found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk((*path, name), sub)

    walk((), typer.main.get_command(app))
    return found


def _flat(text: str) -> str:
    """Text with box drawing and line breaks removed and runs of spaces made one, so a help text wrapped
    inside a table still reads as one sentence."""
    return " ".join(re.sub(r"[\u2500-\u257f]", " ", text).split())


def test_help_of_every_command_is_complete_when_piped(tmp_path: Path) -> None:
    for path, command in _commands():
        result = run_piped(*path, "--help", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        where = " ".join(("precisionpain", *path))
        assert "\u2026" not in result.stdout, f"{where} --help is cut:\n{result.stdout}"
        shown = _flat(result.stdout)
        for param in command.params:
            text = _flat(getattr(param, "help", None) or "")
            assert text in shown, f"{where} --help lost part of {param.name}'s help {text!r}:\n{result.stdout}"


def test_recommend_table_and_notes_are_whole_lines_when_piped(tmp_path: Path, small_package_dir: Path) -> None:
    result = run_piped("recommend", str(PM), "--model-path", str(small_package_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\u2026" not in result.stdout + result.stderr
    header = [line for line in result.stdout.splitlines() if "p(response)" in line]
    assert len(header) == 1, result.stdout
    for column in (
        "rank",
        "option",
        "class",
        "90% interval",
        "stops for side effects",
        "net benefit",
        "chance best",
        "CPIC guidance / cautions",
        "top factors",
    ):
        assert column in header[0]
    assert "net benefit = P(response)" in result.stdout  # the utility the order was weighed by
    # option classes in a clinician's words, not their ids
    assert "tricyclic_antidepressant" not in result.stdout and "_" not in "".join(
        line.split("\u2502")[3] for line in result.stdout.splitlines() if line.count("\u2502") > 4
    )
    provenance = [line for line in result.stderr.splitlines() if line.startswith("model ")]
    assert len(provenance) == 1 and "; request " in provenance[0], result.stderr


@pytest.mark.parametrize("stderr", [False, True])
def test_consoles_lay_out_at_natural_width_when_not_a_terminal(stderr: bool) -> None:
    from rich.table import Table

    from precisionpain.cli_support import CompleteConsole

    buffer = io.StringIO()
    console = CompleteConsole(file=buffer, stderr=stderr)
    summary = "  ".join(f"metric_{i}={i / 1000:.3f}" for i in range(40))
    console.print(summary, highlight=False)
    table = Table(title="wide")
    for i in range(12):
        table.add_column(f"column number {i}")
    table.add_row(*(f"value {i} " * 3 for i in range(12)))
    console.print(table)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == summary
    assert any(all(f"column number {i}" in line for i in range(12)) for line in lines)
    assert any(all(f"value {i} value {i} value {i}" in line for i in range(12)) for line in lines)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_in_a_log_has_the_time_so_far_and_an_estimate_of_the_time_left() -> None:
    """Piped or logged, a long step prints a line at each new step and a heartbeat while one lasts."""
    from precisionpain.cli_support import CompleteConsole, ProgressLines

    buffer, clock = io.StringIO(), FakeClock()
    lines = ProgressLines(CompleteConsole(file=buffer), "training", heartbeat_s=15.0, clock=clock)
    lines.update("reading the table", 0.0)
    clock.now += 10
    lines.update("fitting 17 option models", 0.25)
    clock.now += 5
    lines.beat()  # too soon for a heartbeat
    clock.now += 20
    lines.beat()
    clock.now += 60
    lines.beat()
    clock.now += 30
    lines.update("done", 1.0)
    printed = buffer.getvalue().splitlines()
    assert printed == [
        "training: reading the table (0%, 0 s so far)",
        "training: fitting 17 option models (25%, 10 s so far, about 30 s left)",
        "training: fitting 17 option models (25%, 35 s so far, about 5 s left)",
        "training: fitting 17 option models (25%, 1 min 35 s so far, longer than estimated)",
        "training: done (100%, 2 min 5 s)",
    ]
