"""The medication and safety-rules catalogs are strict: unknown keys, unknown references and rules without a
source are errors naming the file and the path inside it; every problem is reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from precisionpain.catalog.loader import load_feature_catalog, load_treatment_options
from precisionpain.catalog.safety import load_medication_catalog, load_safety_rules
from precisionpain.errors import CatalogError
from precisionpain.safety import load_safety_catalogs


def _edit(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def _rules(root: Path):  # type: ignore[no-untyped-def]
    meds = load_medication_catalog(root)
    return load_safety_rules(load_feature_catalog(root), load_treatment_options(root), meds, root)


def _problems(root: Path) -> str:
    with pytest.raises(CatalogError) as err:
        load_safety_catalogs(root)
    return " | ".join(f"{err.value.what}: {v.describe()}" for v in err.value.violations)


def test_repository_catalogs_load_with_versions_and_hashes(repo_root: Path) -> None:
    catalogs = load_safety_catalogs(repo_root)
    assert catalogs.rules.version.count(".") == 2 and len(catalogs.rules.sha256) == 64
    assert catalogs.medications.version.count(".") == 2 and len(catalogs.medications.sha256) == 64
    assert len(catalogs.rules.rules) >= 30
    for rule in catalogs.rules.rules:
        assert rule.sources and all(s in catalogs.rules.sources for s in rule.sources)


def test_brief_medications_are_all_in_the_catalog(repo_root: Path) -> None:
    meds = load_medication_catalog(repo_root)
    wanted = ["paroxetine", "fluoxetine", "bupropion", "quinidine", "duloxetine", "sertraline", "citalopram", "escitalopram", "venlafaxine", "terbinafine", "cinacalcet", "mirabegron", "fluvoxamine", "fluconazole", "omeprazole", "amiodarone", "phenelzine", "tranylcypromine", "isocarboxazid", "selegiline", "linezolid", "alprazolam", "lorazepam", "diazepam", "clonazepam", "zolpidem", "gabapentin", "pregabalin", "amitriptyline", "nortriptyline", "morphine", "oxycodone", "hydrocodone", "codeine", "tramadol", "tapentadol", "sumatriptan", "trazodone", "mirtazapine", "ibuprofen", "naproxen", "celecoxib", "aspirin", "warfarin", "apixaban", "lithium", "carbamazepine"]
    assert [w for w in wanted if meds.by_name(w) is None] == []
    assert meds.by_name("methylene blue") is not None
    assert meds.by_name("terbinafine").strength("CYP2D6").value == "strong"  # type: ignore[union-attr]
    assert meds.by_name("sertraline").strength("CYP2D6").value == "weak"  # type: ignore[union-attr]


def test_unknown_key_in_a_medication_row(catalog_copy: Path) -> None:
    _edit(catalog_copy / "features" / "medications.yaml", lambda d: d["medications"][2].update(colour="red"))
    text = _problems(catalog_copy)
    assert "features/medications.yaml" in text and "medications[2].colour" in text and "unknown key" in text


def test_unknown_inhibitor_gene_and_strength(catalog_copy: Path) -> None:
    def brk(d):  # type: ignore[no-untyped-def]
        d["medications"][0]["inhibits"] = {"CYP3A4": "strong"}
        d["medications"][1]["inhibits"] = {"CYP2D6": "mighty"}

    _edit(catalog_copy / "features" / "medications.yaml", brk)
    text = _problems(catalog_copy)
    assert "medications[0].inhibits" in text and "medications[1].inhibits" in text


def test_medication_name_used_twice(catalog_copy: Path) -> None:
    _edit(catalog_copy / "features" / "medications.yaml", lambda d: d["medications"][1]["synonyms"].append("Paxil"))
    assert "also used by" in _problems(catalog_copy)


def test_unknown_key_in_a_rule(catalog_copy: Path) -> None:
    _edit(catalog_copy / "models" / "safety_rules.yaml", lambda d: d["rules"][0].update(severity="high"))
    text = _problems(catalog_copy)
    assert "models/safety_rules.yaml" in text and "rules[0].severity" in text and "unknown key" in text


def test_rule_without_a_source(catalog_copy: Path) -> None:
    _edit(catalog_copy / "models" / "safety_rules.yaml", lambda d: d["rules"][3].update(sources=[]))
    assert "rules[3].sources" in _problems(catalog_copy)
    _edit(catalog_copy / "models" / "safety_rules.yaml", lambda d: d["rules"][3].pop("sources"))
    text = _problems(catalog_copy)
    assert "rules[3].sources" in text and "required" in text


def test_rule_naming_an_unknown_source(catalog_copy: Path) -> None:
    _edit(catalog_copy / "models" / "safety_rules.yaml", lambda d: d["rules"][1].update(sources=["my_memory"]))
    assert "rules[1].sources" in _problems(catalog_copy)


def test_unknown_option_class_and_drug_property(catalog_copy: Path) -> None:
    def brk(d):  # type: ignore[no-untyped-def]
        d["rules"][1]["options"] = {"classes": ["antibiotic"]}
        d["rules"][4]["options"] = {"drug_properties": ["sparkly"]}

    _edit(catalog_copy / "models" / "safety_rules.yaml", brk)
    with pytest.raises(CatalogError) as err:
        _rules(catalog_copy)
    paths = {v.path for v in err.value.violations}
    assert {"rules[1].options.classes[0]", "rules[4].options.drug_properties[0]"} <= paths


def test_unknown_option_id_and_medication_name(catalog_copy: Path) -> None:
    def brk(d):  # type: ignore[no-untyped-def]
        d["rules"][0]["options"] = {"ids": ["aspirin_patch"]}
        d["rules"][2]["options"] = {"drugs": ["unobtainium"]}

    _edit(catalog_copy / "models" / "safety_rules.yaml", brk)
    with pytest.raises(CatalogError) as err:
        _rules(catalog_copy)
    paths = {v.path for v in err.value.violations}
    assert {"rules[0].options.ids[0]", "rules[2].options.drugs[0]"} <= paths
    assert all(v.received == "string" for v in err.value.violations)


def test_conditions_are_checked_against_the_feature_catalog(catalog_copy: Path) -> None:
    def brk(d):  # type: ignore[no-untyped-def]
        d["rules"][0]["when"] = {"field": "clinical.egfr_typo", "lt": 30}
        d["rules"][1]["when"] = {"field": "clinical.pregnant", "lt": 30}
        d["rules"][2]["when"] = {"field": "clinical.hepatic_impairment", "is": "child_pugh_d"}
        d["rules"][4]["when"] = {"phenotype": "CYP2D6", "functional_in": ["Slow Metabolizer"]}
        d["rules"][5]["when"] = {"taking_class": "astrology"}

    _edit(catalog_copy / "models" / "safety_rules.yaml", brk)
    with pytest.raises(CatalogError) as err:
        _rules(catalog_copy)
    text = " | ".join(v.describe() for v in err.value.violations)
    for where in ("rules[0].when.field", "rules[1].when.lt", "rules[2].when.is", "rules[4].when.functional_in",
                  "rules[5].when.taking_class"):
        assert where in text, where


def test_a_condition_has_one_head_and_one_operator(catalog_copy: Path) -> None:
    def brk(d):  # type: ignore[no-untyped-def]
        d["rules"][3]["when"] = {"field": "clinical.age_years", "lt": 30, "ge": 10}
        d["rules"][6]["when"] = {"missing": "clinical.pregnant", "taking_property": "maoi"}

    _edit(catalog_copy / "models" / "safety_rules.yaml", brk)
    text = _problems(catalog_copy)
    assert "rules[3].when: a field condition has exactly one of" in text
    assert "rules[6].when: a condition has exactly one of" in text


def test_judgement_needs_a_note(catalog_copy: Path) -> None:
    _edit(catalog_copy / "models" / "safety_rules.yaml", lambda d: d["rules"][0].update(judgement=True, note=""))
    assert "note" in _problems(catalog_copy)


def test_every_drug_option_needs_a_medication_row(catalog_copy: Path) -> None:
    def drop(d):  # type: ignore[no-untyped-def]
        d["medications"] = [m for m in d["medications"] if m["name"] != "meloxicam"]

    _edit(catalog_copy / "features" / "medications.yaml", drop)
    assert "'meloxicam' has no row" in _problems(catalog_copy)


def test_sha256_tracks_content(catalog_copy: Path) -> None:
    before = load_safety_catalogs(catalog_copy)
    path = catalog_copy / "models" / "safety_rules.yaml"
    path.write_text(path.read_text().replace("eGFR below 30: avoid", "eGFR below 30: do not use", 1))
    after = load_safety_catalogs(catalog_copy)
    assert before.rules.sha256 != after.rules.sha256
    assert before.medications.sha256 == after.medications.sha256
