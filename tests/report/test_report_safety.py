"""The report's "Medication safety" section: medications and phenoconversion, organ function and pregnancy as
given, the checks not made, and every option's verdict with its reasons, facts and sources."""

from __future__ import annotations

from collections.abc import Callable

from precisionpain.explain.report import Report, render_html, report_from_json, report_json
from tests.report.report_html import Node, parse


def _rows(doc: Node) -> dict[str, Node]:
    table = doc.find("section", id="medication-safety").find("table")
    return {tr.find("th").text: tr for tr in table.find("tbody").find_all("tr")}


def test_phenoconversion_is_shown_and_drives_the_cpic_exclusions(report_for: Callable[[str], Report]) -> None:
    report = report_for("phenoconversion_paroxetine")
    ms = report.medication_safety
    assert "paroxetine" in ms.medications
    (cyp2d6,) = [g for g in ms.functional_phenotypes if g.gene == "CYP2D6"]
    assert cyp2d6.phenoconverted and cyp2d6.genotype_phenotype == "Normal Metabolizer"
    assert cyp2d6.functional_phenotype == "Poor Metabolizer"
    rows = {r.option_id: r for r in ms.rows}
    for drug in ("codeine", "tramadol"):
        assert rows[drug].verdict == "excluded"
        assert rows[drug].reasons[0].rule_id == f"cpic_{drug}"
        assert drug not in {o.option_id for o in report.options}

    doc = parse(render_html(report))
    section = doc.find("section", id="medication-safety")
    assert "functional Poor Metabolizer with paroxetine" in section.text
    html_rows = _rows(doc)
    assert "Excluded" in html_rows["Codeine"].text and "Poor Metabolizer" in html_rows["Codeine"].text
    assert "Usable" in html_rows["Physical therapy (exercise)"].text


def test_kidney_and_age_exclusions_with_facts_and_sources(report_for: Callable[[str], Report]) -> None:
    report = report_for("older_adult_ckd")
    rows = {r.option_id: r for r in report.medication_safety.rows}
    verdicts = [r.verdict for r in report.medication_safety.rows]
    assert verdicts == sorted(verdicts, key={"excluded": 0, "warning": 1, "usable": 2}.__getitem__)
    for nsaid in ("celecoxib", "ibuprofen", "meloxicam"):
        first = rows[nsaid].reasons[0]
        assert rows[nsaid].verdict == "excluded" and first.level.value == "contraindicated"
        assert any("eGFR 24" in f for f in first.facts) and first.sources
    assert rows["amitriptyline"].verdict == "excluded"
    assert any(r.rule_id == "opioid_with_benzodiazepine" for r in rows["oxycodone"].reasons)
    facts = {i.field_id: i for i in report.medication_safety.facts}
    assert facts["egfr_ml_per_min_1_73m2"].given and facts["egfr_ml_per_min_1_73m2"].value == "24"
    assert "pregnant" not in facts  # a male patient: pregnancy is not asked about

    doc = parse(render_html(report))
    ibuprofen = _rows(doc)["Ibuprofen"]
    assert "eGFR 24" in ibuprofen.text and "Contraindicated" in ibuprofen.text
    assert any(a.attrs.get("href", "").startswith("https://") for a in ibuprofen.find_all("a"))
    assert "not given" in doc.find("section", id="medication-safety").text


def test_pregnancy_excludes_nsaids_and_warns_on_opioids(report_for: Callable[[str], Report]) -> None:
    rows = {r.option_id: r for r in report_for("pregnant_24_weeks").medication_safety.rows}
    assert all(rows[d].verdict == "excluded" for d in ("celecoxib", "ibuprofen", "meloxicam"))
    assert rows["oxycodone"].verdict == "warning"
    assert rows["carbamazepine"].verdict == "excluded"  # HLA-B*15:02 untested, East Asian ancestry


def test_unknown_inputs_are_said_not_assumed(report_for: Callable[[str], Report]) -> None:
    report = report_for("mostly_missing")
    not_checked = " ".join(report.medication_safety.not_checked)
    assert "idney function not given" in not_checked
    assert "Checks not made" in parse(render_html(report)).find("section", id="medication-safety").text


def test_the_section_round_trips_through_json(report_for: Callable[[str], Report]) -> None:
    report = report_for("phenoconversion_paroxetine")
    assert report_from_json(report_json(report)).medication_safety == report.medication_safety
