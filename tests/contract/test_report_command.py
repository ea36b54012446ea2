"""``precisionpain report``: in-process, from a running server, and rebuilt from a saved recommendation record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import invoke as _invoke
from tests.contract.serverproc import ServerProcess

REPO = Path(__file__).resolve().parents[2]
PATIENTS = REPO / "examples" / "patients"


def _without_call_details(report_json: str) -> dict[str, Any]:
    data = json.loads(report_json)
    data.pop("generated_at")
    data["provenance"].pop("generated_at")
    return data  # type: ignore[no-any-return]


def test_report_in_process_then_from_the_saved_record(cli, small_package_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    html, record = tmp_path / "pm.html", tmp_path / "pm.recommendation.json"
    result = _invoke(cli, "report", str(PATIENTS / "cyp2d6_poor_metabolizer.json"), "--model-path",
                     str(small_package_dir), "--out", str(html), "--save", str(record), "--json", str(tmp_path / "pm.json"))
    assert result.exit_code == 0, result.output
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "Avoid codeine" in page
    saved = json.loads(record.read_text())
    assert saved["record_format"] == "precisionpain.recommendation/1"
    assert {o["option_id"] for o in saved["explained"]["recommendation"]["excluded"]} >= {"codeine", "tramadol"}
    # rebuilt later with neither model nor server: the same page, byte for byte
    again = tmp_path / "again.html"
    result = _invoke(cli, "report", str(record), "--out", str(again))
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == html.read_bytes()


def test_recommend_save_feeds_report(cli, small_package_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    record = tmp_path / "hla.recommendation.json"
    result = _invoke(cli, "recommend", str(PATIENTS / "hla_b_1502_carrier.json"), "--model-path",
                     str(small_package_dir), "--save", str(record))
    assert result.exit_code == 0, result.output
    result = _invoke(cli, "report", str(record))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "hla.report.html").read_text()
    assert "carbamazepine" in page.lower() and "HLA-B*15:02" in page


def test_report_from_a_server_equals_in_process(cli, shared_server: ServerProcess, small_package_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    profile = str(PATIENTS / "phq9_item9_positive.json")
    local, remote = tmp_path / "local.json", tmp_path / "remote.json"
    a = _invoke(cli, "report", profile, "--model-path", str(small_package_dir), "--out", str(tmp_path / "l.html"),
                "--json", str(local))
    b = _invoke(cli, "report", profile, "--target", shared_server.target, "--out", str(tmp_path / "r.html"),
                "--json", str(remote))
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    left, right = _without_call_details(local.read_text()), _without_call_details(right_text := remote.read_text())
    assert left == right
    assert "suicide" in right_text.lower()


def test_bad_inputs_get_one_clear_message(cli, tmp_path: Path, small_package_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    not_json = tmp_path / "x.json"
    not_json.write_text("{nope")
    result = _invoke(cli, "report", str(not_json), "--model-path", str(small_package_dir))
    assert result.exit_code == 2 and "is not valid JSON at line 1" in result.output
    broken = tmp_path / "broken.recommendation.json"
    broken.write_text(json.dumps({"record_format": "precisionpain.recommendation/1", "profile": {}, "model": 3}))
    result = _invoke(cli, "report", str(broken))
    assert result.exit_code == 2
    for field in ("explained", "model", "profile.clinical"):
        assert field in result.output
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"patient_ref": "MRN-0042", "clinical": {"age_years": 5, "sex": "female",
                                                                          "pain_type": "mixed", "baseline_nrs": 4}}))
    result = _invoke(cli, "report", str(invalid), "--model-path", str(small_package_dir))
    assert result.exit_code == 2 and "clinical.age_years" in result.output
    assert "MRN-0042" not in result.output
    assert not (tmp_path / "out").exists()
