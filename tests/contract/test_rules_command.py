"""``precisionpain rules``: the rules catalog as a table or JSON, and ``--check`` for one patient."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.contract.conftest import REPO, invoke


def test_rules_lists_every_rule_with_level_options_and_sources(cli: Any) -> None:
    import yaml

    result = invoke(cli, "rules", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    catalog = yaml.safe_load((REPO / "models" / "safety_rules.yaml").read_text())
    assert [r["id"] for r in listed["rules"]] == [r["id"] for r in catalog["rules"]]
    assert listed["catalog"]["version"] == catalog["version"] and len(listed["catalog"]["sha256"]) == 64
    by_id = {r["id"]: r for r in listed["rules"]}
    # systemic NSAIDs only: topical diclofenac has its own warning (models/safety_rules.yaml)
    assert set(by_id["kidney_nsaid_egfr_below_30"]["options"]) == {"celecoxib", "ibuprofen", "meloxicam", "naproxen"}
    assert by_id["kidney_topical_diclofenac_egfr_below_30"]["options"] == ["topical_diclofenac"]
    assert all(r["sources"] for r in listed["rules"])
    judged = [r for r in catalog["rules"] if r.get("judgement")]
    assert judged and all(by_id[r["id"]]["judgement"] == r["note"] for r in judged)
    table = invoke(cli, "rules")
    assert table.exit_code == 0 and "kidney_nsaid_egfr_below_30" in table.stdout


def test_rules_check_shows_what_fires_and_why(cli: Any) -> None:
    profile = REPO / "examples" / "patients" / "phenoconversion_paroxetine.json"
    result = invoke(cli, "rules", "--check", str(profile))
    assert result.exit_code == 0, result.output
    assert "functional Poor Metabolizer with paroxetine" in result.stdout
    assert "[contraindicated] cpic_codeine" in result.stdout
    as_json = json.loads(invoke(cli, "rules", "--check", str(profile), "--json").stdout)
    verdicts = {o["option_id"]: o["verdict"] for o in as_json["options"]}
    assert verdicts["codeine"] == verdicts["tramadol"] == "excluded"
    assert verdicts["physical_therapy"] == "usable"


def test_rules_check_refuses_an_unknown_medication_naming_the_field(cli: Any, tmp_path: Path) -> None:
    data = json.loads((REPO / "examples" / "patients" / "older_adult_ckd.json").read_text())
    data["medications"].append({"name": "zzz-not-a-medicine"})
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    result = invoke(cli, "rules", "--check", str(path))
    assert result.exit_code == 2
    assert "medications[2].name" in result.output and "zzz-not-a-medicine" not in result.output
