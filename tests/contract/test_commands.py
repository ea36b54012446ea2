"""``precisionpain recommend`` (in-process and --target) and ``serve`` argument errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import invoke as _invoke
from tests.contract.serverproc import ServerProcess

REPO = Path(__file__).resolve().parents[2]
PM = REPO / "examples" / "patients" / "cyp2d6_poor_metabolizer.json"


def _comparable(text: str) -> dict[str, Any]:
    data = json.loads(text)
    data.pop("request_id")
    # when each answer was made (to the second): the two calls may fall in different seconds
    for name in ("generate_time", "generated_at"):  # the field and its deprecated twin
        data["provenance"].pop(name)
    return data  # type: ignore[no-any-return]


def test_recommend_in_process_equals_remote(cli, shared_server: ServerProcess, small_package_dir: Path) -> None:  # type: ignore[no-untyped-def]
    local = _invoke(cli, "recommend", str(PM), "--model-path", str(small_package_dir), "--json",
                    "--candidates", "codeine,duloxetine,physical_therapy")
    assert local.exit_code == 0, local.output
    remote = _invoke(cli, "recommend", str(PM), "--target", shared_server.target, "--json",
                     "--candidates", "codeine,duloxetine,physical_therapy")
    assert remote.exit_code == 0, remote.output
    a, b = _comparable(local.stdout), _comparable(remote.stdout)
    assert a["provenance"].pop("model_uri", None) == b["provenance"].pop("model_uri", None)
    assert a == b
    assert [o["option_id"] for o in a["excluded"]] == ["codeine"]
    assert {o["option_id"] for o in a["options"]} == {"duloxetine", "physical_therapy"}


def test_recommend_table(cli, shared_server: ServerProcess) -> None:  # type: ignore[no-untyped-def]
    from precisionpain.explain.display import TIER_LABELS
    from precisionpain.schema import GuidelineTier

    result = _invoke(cli, "recommend", str(PM), "--target", shared_server.target)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Ranked treatment options" in out and "Not ranked as usable" in out
    assert "Codeine" in out and "Avoid codeine" in out
    # each option's guideline tier, as the answer gives it, on the option's row of either table
    answer = json.loads(_invoke(cli, "recommend", str(PM), "--target", shared_server.target, "--json").stdout)
    ranked, _, excluded = out.partition("Not ranked as usable")
    assert "guideline tier" in ranked and "guideline tier" in excluded

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.split("\u2502")[1:-1]]

    # the rank cell is the rank, marked "=" when the option is one of equally good choices
    rows = {cells(line)[0].removesuffix("="): line for line in ranked.splitlines() if len(cells(line)) > 1}
    excluded_rows = {cells(line)[0]: line for line in excluded.splitlines() if len(cells(line)) > 1}
    for option in answer["options"]:
        tier = GuidelineTier(option["guideline"]["tier"].removeprefix("GUIDELINE_TIER_").lower())
        assert TIER_LABELS[tier] in cells(rows[str(option["rank"])]), option["option_id"]
    for option in answer["excluded"]:
        tier = GuidelineTier(option["guideline"]["tier"].removeprefix("GUIDELINE_TIER_").lower())
        assert TIER_LABELS[tier] in cells(excluded_rows[option["display_name"]]), option["option_id"]
    assert "Pain condition: chronic low back pain" in out  # the table the tiers come from


def test_recommend_reports_mistakes_in_one_message(cli, tmp_path: Path, shared_server: ServerProcess) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"clinical": {"age_years": "old", "sex": "female", "pain_type": "mixed", "baseline_nrs": 4}}))
    result = _invoke(cli, "recommend", str(bad), "--target", shared_server.target)
    assert result.exit_code == 2 and "clinical.age_years" in result.output
    out_of_range = tmp_path / "range.json"
    out_of_range.write_text(json.dumps({"clinical": {"age_years": 5, "sex": "female", "pain_type": "mixed", "baseline_nrs": 4}}))
    result = _invoke(cli, "recommend", str(out_of_range), "--target", shared_server.target)
    assert result.exit_code == 2 and "clinical.age_years: must be between 18 and" in result.output


TYPO = {"clinical": {"age_years": 50, "sex": "female", "pain_type": "mixed", "baselin_nrs": 6}}
OUT_OF_RANGE = {"clinical": {"age_years": 5, "sex": "female", "pain_type": "mixed", "baseline_nrs": 11},
                "pgx": {"cyp2d6": {"diplotype": "*4/*999"}}}


def _problems(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.lstrip().startswith("- ")]


@pytest.mark.parametrize("command", ["recommend", "report"])
@pytest.mark.parametrize("profile", [TYPO, OUT_OF_RANGE], ids=["typo", "out-of-range"])
def test_a_profile_is_checked_like_validate_before_any_model_is_loaded(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, command: str, profile: dict[str, Any]
) -> None:
    """The same problems as ``validate``, all of them, and before a model is needed (there is none here)."""
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    checked = _invoke(cli, "validate", str(path))
    assert checked.exit_code == 2 and len(_problems(checked.output)) >= 2, checked.output
    result = _invoke(cli, command, str(path), "--model-path", str(tmp_path / "no-model-here"))
    assert result.exit_code == 2
    assert _problems(result.output) == _problems(checked.output), result.output
    assert not list(tmp_path.glob("*.html"))


def test_serve_rejects_bad_settings_before_starting(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = _invoke(cli, "serve", "--model-path", str(tmp_path / "missing"), "--port", "70000",
                     "--tls-cert", str(tmp_path / "cert.pem"))
    assert result.exit_code == 2
    for expected in ("port", "model_path", "tls"):
        assert expected in result.output


def test_an_absent_required_field_is_reported_as_missing(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"clinical": {"age_years": 50, "sex": "female", "pain_type": "mixed"}}))
    result = _invoke(cli, "validate", str(path))
    assert result.exit_code == 2
    assert _problems(result.output) == ["- clinical.baseline_nrs: missing (required)"], result.output
