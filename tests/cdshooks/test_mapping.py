"""serving/fhir_mapping.yaml and FHIR -> profile: strict catalog, the example bundles, and what becomes a warning."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from precisionpain.errors import CatalogError, ValidationError
from tests.cdshooks.conftest import (
    FHIR_EXAMPLES,
    ICD10CM,
    LOINC,
    PATIENT_EXAMPLES,
    SNOMED,
    bundle,
    condition,
    example_bundle,
    medication_statement,
    minimal,
    observation,
    patient,
    quantity,
)

AS_OF = dt.date(2025, 1, 1)


def mapped(context: Any, data: dict[str, Any], as_of: dt.date = AS_OF) -> Any:
    from precisionpain.cdshooks.to_profile import map_bundle

    return map_bundle(data, context, as_of=as_of)


def kinds(result: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for w in result.warnings:
        out.setdefault(w.kind.value, set()).add(w.field)
    return out


# ------------------------------------------------------------------------------------------ the catalog


def test_catalog_loads_with_its_sha256(mapping_context: Any) -> None:
    import hashlib

    mapping = mapping_context.mapping
    assert mapping.sha256 == hashlib.sha256(mapping.path.read_bytes()).hexdigest()
    assert mapping.identity["catalog_id"] == "precisionpain-fhir-mapping"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["mappings"][0].update(colour="blue"), "mappings[0].colour"),
        (lambda d: d["mappings"][0].update(field="clinical.shoe_size"), "mappings[0].field"),
        (lambda d: d["mappings"][0].update(codes=["nosuch#1"]), "mappings[0].codes[0]"),
        (lambda d: d["mappings"].append(dict(d["mappings"][0])), "like mappings[0] already does"),
        (
            lambda d: [
                r.update(emit=False) for r in d["mappings"] if r["field"] == "psychosocial.gad7_total"
            ],
            "no row is written by from-profile for psychosocial.gad7_total",
        ),
        (lambda d: d["mappings"][1].update(value="quantity"), "mappings[1]"),
    ],
)
def test_catalog_is_strict(catalog_copy: Path, edit: Any, expected: str) -> None:
    import yaml

    from precisionpain.cdshooks.mapping import load_fhir_mapping

    file = catalog_copy / "serving" / "fhir_mapping.yaml"
    data = yaml.safe_load(file.read_text())
    edit(data)
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(CatalogError) as caught:
        load_fhir_mapping(catalog_copy)
    assert any(v.path.startswith(expected) or expected in v.rule for v in caught.value.violations), (
        caught.value
    )


def test_duplicate_keys_are_refused(catalog_copy: Path) -> None:
    from precisionpain.cdshooks.mapping import load_fhir_mapping

    file = catalog_copy / "serving" / "fhir_mapping.yaml"
    text = file.read_text()
    line = next(x for x in text.splitlines() if x.startswith("version: "))
    file.write_text(text.replace(line, f"{line}\nversion: 9.9.9", 1))
    with pytest.raises(CatalogError, match="duplicate key"):
        load_fhir_mapping(catalog_copy)


# ------------------------------------------------------------------------------------------ examples


@pytest.mark.parametrize("name", sorted(p.stem for p in PATIENT_EXAMPLES.glob("*.json")))
def test_every_example_bundle_validates_and_maps_to_its_profile(name: str, mapping_context: Any) -> None:
    from fhir.resources.R4B.bundle import Bundle

    from precisionpain.features.validate import validate_profile

    data = example_bundle(name)
    Bundle.model_validate(data)  # the FHIR library accepts it
    result = mapped(mapping_context, data, dt.date.fromisoformat(data["timestamp"][:10]))
    expected = validate_profile(
        json.loads((PATIENT_EXAMPLES / f"{name}.json").read_text()),
        mapping_context.features,
        mapping_context.tables,
    )
    assert result.profile == expected
    assert result.warnings == ()


def test_example_bundles_are_fresh(mapping_context: Any) -> None:
    """examples/fhir/ is what ``precisionpain fhir from-profile`` writes for examples/patients/ today."""
    from precisionpain.cdshooks.from_profile import bundle_from_profile
    from precisionpain.features.validate import validate_profile

    names = sorted(p.stem for p in PATIENT_EXAMPLES.glob("*.json"))
    assert sorted(p.stem for p in FHIR_EXAMPLES.glob("*.json")) == names
    for name in names:
        shipped = example_bundle(name)
        profile = validate_profile(
            json.loads((PATIENT_EXAMPLES / f"{name}.json").read_text()),
            mapping_context.features,
            mapping_context.tables,
        )
        fresh = bundle_from_profile(
            profile, mapping_context.mapping, as_of=dt.date.fromisoformat(shipped["timestamp"][:10])
        )
        assert fresh == shipped, (
            f"examples/fhir/{name}.json is stale: regenerate it (README, For EHR integrators)"
        )


def test_cli_round_trip(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from precisionpain.cli import app

    runner = CliRunner()
    out = tmp_path / "b.json"
    done = runner.invoke(
        app,
        [
            "fhir",
            "from-profile",
            str(PATIENT_EXAMPLES / "older_adult_ckd.json"),
            "--as-of",
            "2024-06-30",
            "--out",
            str(out),
        ],
    )
    assert done.exit_code == 0, done.output
    back = runner.invoke(app, ["fhir", "to-profile", str(out)])
    assert back.exit_code == 0, back.output
    profile = json.loads(back.stdout)
    assert profile["clinical"]["age_years"] == 78
    assert profile["clinical"]["egfr_ml_per_min_1_73m2"] == 24
    assert [m["name"] for m in profile["medications"]] == ["apixaban", "lorazepam"]


# ------------------------------------------------------------------------------------------ mapping rules


def test_age_is_completed_years_at_the_date(mapping_context: Any) -> None:
    data = minimal()
    assert mapped(mapping_context, data, dt.date(2025, 4, 30)).profile.clinical.age_years == 54
    assert mapped(mapping_context, data, dt.date(2025, 5, 1)).profile.clinical.age_years == 55


def test_unit_conversion(mapping_context: Any) -> None:
    result = mapped(
        mapping_context,
        minimal(
            observation(LOINC, "30522-7", **quantity(0.42, "mg/dL")),
            observation(LOINC, "4548-4", **quantity(53, "mmol/mol")),
        ),
    )
    assert result.profile.biomarkers.hs_crp_mg_per_l == pytest.approx(4.2)
    assert result.profile.biomarkers.hba1c_pct == pytest.approx(0.09148 * 53 + 2.152)


@pytest.mark.parametrize(
    "unit",
    [
        "mL/min/{1.73_m2}",
        "mL/min/1.73m2",
        "mL/min/1.73 m2",
        "mL/min/1.73m^2",
        "mL/min/1.73 m²",
        "mL/min/1.73m²",
    ],
)
def test_egfr_units_as_labs_write_them(mapping_context: Any, unit: str) -> None:
    """The UCUM code, and the display units labs and EHRs send when they give no code (with ^2 or ²)."""
    observed = observation(LOINC, "98979-8", valueQuantity={"value": 42, "unit": unit})
    result = mapped(mapping_context, minimal(observed))
    assert result.profile.clinical.egfr_ml_per_min_1_73m2 == 42


def bound(value: float, unit: str, comparator: str) -> dict[str, Any]:
    out = quantity(value, unit)
    out["valueQuantity"]["comparator"] = comparator
    return out


def test_a_value_reported_as_a_bound_is_not_taken_as_the_value(mapping_context: Any) -> None:
    """Labs report eGFR '>60' and hs-CRP '<0.3': a bound, not a measurement. A greater-than eGFR is used as its
    bound where the row says so (rules with a threshold at or below it are decided by it; the others fire as for
    the bound itself, like the CKD stage's upper bound), with a warning; any other bound is not used."""
    egfr = "mL/min/{1.73_m2}"
    result = mapped(
        mapping_context,
        minimal(
            observation(LOINC, "98979-8", **bound(60, egfr, ">")),
            observation(LOINC, "30522-7", **bound(0.3, "mg/L", "<")),
        ),
    )
    assert result.profile.clinical.egfr_ml_per_min_1_73m2 == 60
    assert "clinical.egfr_ml_per_min_1_73m2" in kinds(result)["derived"]
    assert result.profile.biomarkers.hs_crp_mg_per_l is None
    assert "biomarkers.hs_crp_mg_per_l" in kinds(result)["not_used"]
    below = mapped(mapping_context, minimal(observation(LOINC, "98979-8", **bound(15, egfr, "<"))))
    assert below.profile.clinical.egfr_ml_per_min_1_73m2 is None  # '<15' taken as 15 would spare a '<15' rule
    assert "clinical.egfr_ml_per_min_1_73m2" in kinds(below)["not_used"]
    assert not any("15" in w.message or "60" in w.message for w in [*result.warnings, *below.warnings])


def test_an_unknown_unit_is_a_warning_not_a_guess(mapping_context: Any) -> None:
    result = mapped(mapping_context, minimal(observation(LOINC, "30522-7", **quantity(4.2, "furlongs"))))
    assert result.profile.biomarkers.hs_crp_mg_per_l is None
    assert "biomarkers.hs_crp_mg_per_l" in kinds(result)["not_used"]


def test_an_unknown_code_is_a_warning(mapping_context: Any) -> None:
    result = mapped(
        mapping_context, minimal(observation(LOINC, "99999-9", valueInteger=3), condition(SNOMED, "38341003"))
    )
    warned = {w.field: w.message for w in result.warnings if w.kind.value == "unmapped"}
    assert "LOINC 99999-9" in warned["Observation"]
    assert "SNOMED 38341003" in warned["Condition"]
    assert result.profile is not None


def test_known_unused_codes_are_quiet(mapping_context: Any) -> None:
    result = mapped(mapping_context, minimal(condition(SNOMED, "82423001"), condition(ICD10CM, "G89.29")))
    assert result.warnings == ()


def test_most_recent_value_wins_and_same_moment_disagreement_is_contradictory(mapping_context: Any) -> None:
    older = observation(LOINC, "44261-6", when="2024-01-01", valueInteger=20)
    newer = observation(LOINC, "44261-6", when="2024-06-01", valueInteger=7)
    assert mapped(mapping_context, minimal(older, newer)).profile.psychosocial.phq9_total == 7
    twin = observation(LOINC, "44261-6", when="2024-06-01", valueInteger=12)
    result = mapped(mapping_context, minimal(older, newer, twin))
    assert result.profile.psychosocial.phq9_total is None
    assert "psychosocial.phq9_total" in kinds(result)["contradictory"]
    assert all("12" not in w.message and "7" not in w.message.replace("44261-6", "") for w in result.warnings)


def test_conditions_presence_and_refuted(mapping_context: Any) -> None:
    result = mapped(
        mapping_context,
        minimal(
            condition(SNOMED, "73211009"),
            condition(ICD10CM, "K92.2", status="resolved"),
            condition(SNOMED, "84757009", verification="refuted"),
        ),
    )
    clinical = result.profile.clinical
    assert (clinical.diabetes, clinical.history_gi_bleed, clinical.seizure_disorder) == (True, True, False)
    unsure = mapped(mapping_context, minimal(condition(SNOMED, "73211009", verification="provisional")))
    assert unsure.profile.clinical.diabetes is None
    assert "clinical.diabetes" in kinds(unsure)["not_used"]


def test_ckd_stage_gives_a_derived_egfr_with_a_warning_and_a_measurement_wins(mapping_context: Any) -> None:
    staged = mapped(mapping_context, minimal(condition(SNOMED, "431857002")))
    assert staged.profile.clinical.egfr_ml_per_min_1_73m2 == 29
    assert "clinical.egfr_ml_per_min_1_73m2" in kinds(staged)["derived"]
    measured = mapped(
        mapping_context,
        minimal(
            condition(ICD10CM, "N18.4"), observation(LOINC, "98979-8", **quantity(75, "mL/min/{1.73_m2}"))
        ),
    )
    assert measured.profile.clinical.egfr_ml_per_min_1_73m2 == 75
    assert "clinical.egfr_ml_per_min_1_73m2" in kinds(measured)["contradictory"]


def test_pain_condition_and_the_pain_type_it_defines(mapping_context: Any) -> None:
    data = bundle(patient(), observation(LOINC, "72514-3", valueInteger=6), condition(ICD10CM, "M79.7"))
    result = mapped(mapping_context, data)
    assert result.profile.clinical.pain_condition == "fibromyalgia"
    assert result.profile.clinical.pain_type == "nociplastic"
    assert "clinical.pain_type" in kinds(result)["derived"]
    # two different diagnoses: contradictory, neither is used (and then nothing gives the pain type)
    two = mapped(
        mapping_context,
        bundle(
            patient(),
            observation(LOINC, "72514-3", valueInteger=6),
            condition(ICD10CM, "M79.7"),
            condition(SNOMED, "239873007"),
        ),
    )
    assert two.profile is None
    assert "clinical.pain_condition" in kinds(two)["contradictory"]
    assert [v.path for v in two.problems] == ["clinical.pain_type"]


def test_a_value_that_breaks_a_profile_rule_is_dropped_with_a_warning(mapping_context: Any) -> None:
    # fibromyalgia with a neuropathic pain type breaks the feature catalog's pain_condition rule
    data = minimal(condition(SNOMED, "203082005"))
    data["entry"][1]["resource"]["valueCodeableConcept"]["coding"][0]["code"] = "neuropathic"
    result = mapped(mapping_context, data)
    assert result.profile is not None and result.profile.clinical.pain_condition is None
    assert "clinical.pain_condition" in kinds(result)["invalid"]


def test_genomics_observations(mapping_context: Any) -> None:
    gene = {
        "code": {"coding": [{"system": LOINC, "code": "48018-6"}]},
        "valueCodeableConcept": {
            "coding": [{"system": "http://www.genenames.org/geneId", "code": "HGNC:2625"}]
        },
    }
    genotype = observation(
        LOINC,
        "84413-4",
        component=[gene],
        valueCodeableConcept={"coding": [{"system": "http://www.pharmvar.org", "code": "CYP2D6 *4/*4"}]},
    )
    phenotype = {  # the therapeutic-implication form: the phenotype in component 53040-2
        **observation(
            "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs", "therapeutic-implication"
        ),
        "component": [
            gene,
            {
                "code": {"coding": [{"system": LOINC, "code": "53040-2"}]},
                "valueCodeableConcept": {"text": "Poor metabolizer"},
            },
        ],
    }
    hla = observation(
        LOINC,
        "84414-2",
        valueCodeableConcept={
            "coding": [{"system": "http://www.ebi.ac.uk/ipd/imgt/hla", "code": "HLA-B*15:02:01"}]
        },
    )
    result = mapped(mapping_context, minimal(genotype, phenotype, hla))
    pgx = result.profile.pgx
    assert pgx.cyp2d6.diplotype == "*4/*4"
    assert pgx.cyp2d6.phenotype.lower() == "poor metabolizer"
    assert pgx.hla_b_1502 == "positive"
    assert pgx.hla_a_3101 == "not_tested"


@pytest.mark.parametrize(
    ("answer", "phenotype"),
    [
        ("LA9657-3", "poor metabolizer"),
        ("LA10315-2", "ultrarapid metabolizer"),
        ("LA25391-6", "normal metabolizer"),
    ],
)
def test_a_phenotype_coded_only_by_its_loinc_answer_is_read(
    mapping_context: Any, answer: str, phenotype: str
) -> None:
    """The Genomics Reporting IG codes metabolizer phenotypes with LOINC answers (LA9657-3 Poor metabolizer, ...);
    a lab that sends the code without a display or text still gives the phenotype."""
    gene = {
        "code": {"coding": [{"system": LOINC, "code": "48018-6"}]},
        "valueCodeableConcept": {
            "coding": [{"system": "http://www.genenames.org/geneId", "code": "HGNC:2625"}]
        },
    }
    observed = observation(
        LOINC,
        "53040-2",
        component=[gene],
        valueCodeableConcept={"coding": [{"system": LOINC, "code": answer}]},
    )
    result = mapped(mapping_context, minimal(observed))
    assert result.profile.pgx.cyp2d6 is not None
    assert result.profile.pgx.cyp2d6.phenotype.lower() == phenotype


def test_medications_by_rxnorm_and_by_name_and_unknown_ones(mapping_context: Any) -> None:
    result = mapped(
        mapping_context,
        minimal(
            medication_statement(rxnorm="32937"),
            medication_statement(text="Ativan"),
            medication_statement(rxnorm="999999999", text="zzz-unknown"),
            medication_statement(rxnorm="7804"),
        ),
    )
    meds = result.profile.medications
    assert [(m.name, m.rxnorm) for m in meds] == [
        ("paroxetine", "32937"),
        ("lorazepam", None),
        ("oxycodone", "7804"),
    ]
    assert "medications" in kinds(result)["unmapped"]
    assert result.profile.clinical.current_opioid_use is True  # derived from oxycodone, and said
    assert "clinical.current_opioid_use" in kinds(result)["derived"]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # clinical drugs (SCD) and branded drugs (SBD) name their ingredients, strengths and dose form; EHRs order
        # by these codes, which the medication catalog (ingredient codes) does not list
        ("acetaminophen 300 MG / codeine phosphate 30 MG Oral Tablet", ["codeine"]),
        ("tramadol hydrochloride 50 MG Oral Tablet [Ultram]", ["tramadol"]),
        ("12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet", ["oxycodone"]),
        ("diclofenac sodium 75 MG Delayed Release Oral Tablet", ["diclofenac"]),
        ("diclofenac sodium 10 MG/ML Topical Gel", ["topical diclofenac"]),  # the form decides the row
        ("7 DAY buprenorphine 0.005 MG/HR Transdermal System", ["buprenorphine"]),
        ("lidocaine 50 MG/ML Medicated Patch [Lidoderm]", ["lidocaine"]),
        ("paroxetine 20 MG Oral Tablet", ["paroxetine"]),
    ],
)
def test_clinical_and_branded_drug_names_resolve_to_their_ingredients(
    mapping_context: Any, text: str, names: list[str]
) -> None:
    product = {**medication_statement(rxnorm="99999991", text=text)}
    product["medicationCodeableConcept"]["coding"][0]["display"] = text
    result = mapped(mapping_context, minimal(product))
    assert [m.name for m in result.profile.medications] == names
    assert all(m.rxnorm is None for m in result.profile.medications)  # found by name, not by that code
    if text.startswith("acetaminophen"):  # acetaminophen is not in the catalog: its interactions not checked
        assert any("acetaminophen" in w.message for w in result.warnings if w.field == "medications")


def test_a_referenced_medication_resolves_by_its_ingredients(mapping_context: Any) -> None:
    """medicationReference to a Medication whose code is a product code the catalog does not know: its
    ingredient codes decide (Medication.ingredient.itemCodeableConcept)."""
    from tests.cdshooks.conftest import RXNORM

    medication = {
        "resourceType": "Medication",
        "id": "med-1",
        "code": {"coding": [{"system": RXNORM, "code": "99999992"}]},
        "ingredient": [
            {"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "161"}]}},
            {"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "2670"}]}},
        ],
    }
    statement = medication_statement(rxnorm="1")
    del statement["medicationCodeableConcept"]
    statement["medicationReference"] = {"reference": "#med-1"}
    statement["contained"] = [medication]
    result = mapped(mapping_context, minimal(statement))
    assert [(m.name, m.rxnorm) for m in result.profile.medications] == [("codeine", "2670")]


def test_another_patients_resources_are_not_used(mapping_context: Any) -> None:
    other = observation(LOINC, "44261-6", subject="Patient/someone-else", valueInteger=20)
    result = mapped(mapping_context, minimal(other))
    assert result.profile.psychosocial.phq9_total is None
    assert "(resources)" in kinds(result)["not_used"]


def test_missing_required_inputs_give_no_profile_and_say_which(mapping_context: Any) -> None:
    result = mapped(mapping_context, bundle(patient(gender="unknown")))
    assert result.profile is None
    assert {v.path for v in result.problems} >= {
        "clinical.sex",
        "clinical.pain_type",
        "clinical.baseline_nrs",
    }
    assert "clinical.sex" in kinds(result)["not_used"]


def test_invalid_fhir_is_a_validation_error_naming_the_path(mapping_context: Any) -> None:
    bad = minimal()
    bad["entry"][0]["resource"]["birthDate"] = "not a date"
    with pytest.raises(ValidationError) as caught:
        mapped(mapping_context, bad)
    assert [v.path for v in caught.value.violations] == ["bundle.entry[0].resource.birthDate"]
    assert "not a date" not in str(caught.value)
