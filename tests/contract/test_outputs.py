"""Files the commands write: by default under ``out/`` of the working directory (ignored by git), never beside
the input or in the repository root; an existing file is overwritten only with ``--force``, and the refusal
comes before any work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import invoke as _invoke

REPO = Path(__file__).resolve().parents[2]
PATIENTS = REPO / "examples" / "patients"
PM = PATIENTS / "cyp2d6_poor_metabolizer.json"
PHARMCAT = REPO / "tests" / "fixtures" / "pharmcat" / "sample.phenotype.json"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _refused_then_forced(cli: Any, args: list[str], written: Path, option: str) -> None:
    """``args`` wrote ``written``; again without --force it is refused and the file untouched; with --force
    it is written again."""
    assert written.is_file()
    written.write_bytes(b"kept")
    again = _invoke(cli, *args)
    assert again.exit_code == 2, again.output
    assert option in again.output and "--force" in again.output and "already exists" in again.output
    assert written.read_bytes() == b"kept"
    forced = _invoke(cli, *args, "--force")
    assert forced.exit_code == 0, forced.output
    assert written.read_bytes() != b"kept"


def test_cohort_writes_under_out_and_overwrites_only_with_force(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    args = ["cohort", "--n", "300", "--seed", "3"]
    result = _invoke(cli, *args)
    assert result.exit_code == 0, result.output
    written = workdir / "out" / "cohort-300-seed3.parquet"
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*") if p.is_file()) == [written.relative_to(workdir)]
    _refused_then_forced(cli, args, written, "--out")
    chosen = workdir / "mine.parquet"
    assert _invoke(cli, *args, "--out", str(chosen)).exit_code == 0
    _refused_then_forced(cli, [*args, "--out", str(chosen)], chosen, "--out")


def test_features_and_pgx_outputs(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    result = _invoke(cli, "features", str(PM))
    assert result.exit_code == 0, result.output
    written = workdir / "out" / "cyp2d6_poor_metabolizer.features.json"
    assert json.loads(written.read_text())["names"]
    assert not list(PATIENTS.glob("*.features.json"))
    _refused_then_forced(cli, ["features", str(PM)], written, "--out")

    table = workdir / "lab.tsv"
    table.write_text("sample_id\tgene\tdiplotype\nS1\tCYP2D6\t*1/*4\n")
    translated = workdir / "lab.translated.tsv"
    args = ["pgx", "translate", str(table), "--out", str(translated)]
    assert _invoke(cli, *args).exit_code == 0
    _refused_then_forced(cli, args, translated, "--out")

    profile = workdir / "with-pharmcat.json"
    args = ["pgx", "import-pharmcat", str(PHARMCAT), "--out", str(profile)]
    assert _invoke(cli, *args).exit_code == 0
    _refused_then_forced(cli, args, profile, "--out")


def test_recommend_save_and_report_outputs(cli, workdir: Path, small_package_dir: Path) -> None:  # type: ignore[no-untyped-def]
    record = workdir / "pm.recommendation.json"
    args = ["recommend", str(PM), "--model-path", str(small_package_dir), "--save", str(record)]
    assert _invoke(cli, *args).exit_code == 0
    _refused_then_forced(cli, args, record, "--save")

    result = _invoke(cli, "report", str(record))
    assert result.exit_code == 0, result.output
    page = workdir / "out" / "pm.report.html"
    assert page.read_text().startswith("<!DOCTYPE html>")
    _refused_then_forced(cli, ["report", str(record)], page, "--out")
    extra = workdir / "pm.report.json"
    args = ["report", str(record), "--out", str(workdir / "other.html"), "--json", str(extra)]
    assert _invoke(cli, *args).exit_code == 0
    (workdir / "other.html").unlink()
    _refused_then_forced(cli, args, extra, "--json")


def test_the_refusal_comes_before_the_work(cli, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    """An existing --save target is refused before a model is needed (there is none here)."""
    record = workdir / "existing.json"
    record.write_text("{}")
    result = _invoke(cli, "recommend", str(PM), "--model-path", str(workdir / "no-model"), "--save", str(record))
    assert result.exit_code == 2 and "--save" in result.output and "already exists" in result.output, result.output
    assert record.read_text() == "{}"
