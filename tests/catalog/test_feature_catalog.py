"""The feature catalog is strict, versioned, hashed and agrees with the patient schema."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import yaml

from precisionpain.catalog.loader import load_feature_catalog, load_treatment_options, resolve_root
from precisionpain.catalog.types import Domain, FieldType
from precisionpain.errors import CatalogError
from precisionpain.schema import SECTIONS, Medication, PatientProfile


def _edit(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def test_loads_with_version_and_sha(feature_catalog) -> None:  # type: ignore[no-untyped-def]
    assert feature_catalog.version.count(".") == 2
    assert len(feature_catalog.sha256) == 64
    assert len(feature_catalog.features) == len(set(feature_catalog.feature_ids))
    assert [f.index for f in feature_catalog.features] == list(range(len(feature_catalog.features)))
    assert {f.domain for f in feature_catalog.features} == set(Domain)


def test_every_schema_field_has_a_catalog_entry_and_back(feature_catalog) -> None:  # type: ignore[no-untyped-def]
    schema_fields = set()
    for section in SECTIONS:
        model = typing.get_type_hints(PatientProfile)[section]
        schema_fields |= {(section, name) for name in model.model_fields}
    catalog_fields = {(f.section, f.id) for f in feature_catalog.fields}
    assert schema_fields == catalog_fields
    # top-level lists of the profile (the medication list) are the catalog's top-level fields
    top_level = {
        name
        for name, info in PatientProfile.model_fields.items()
        if name not in SECTIONS and typing.get_origin(info.annotation) is tuple
        and typing.get_args(info.annotation)[0] is Medication
    }
    assert top_level == {f.id for f in feature_catalog.top_level_fields} == {"medications"}
    spec = feature_catalog.field("medications")
    assert spec.field.type is FieldType.medication_list and spec.path == "medications" and spec.top_level


def test_category_levels_match_schema_vocabularies(feature_catalog) -> None:  # type: ignore[no-untyped-def]
    for spec in feature_catalog.fields:
        if spec.field.type is not FieldType.category:
            continue
        model = typing.get_type_hints(PatientProfile)[spec.section]
        annotation = typing.get_type_hints(model)[spec.id]
        allowed: set[str] = set()
        for arg in typing.get_args(annotation) or (annotation,):
            if isinstance(arg, type) and issubclass(arg, str) and hasattr(arg, "__members__"):
                allowed |= {m.value for m in arg}  # type: ignore[attr-defined]
            elif typing.get_origin(arg) is typing.Literal:
                allowed |= set(typing.get_args(arg))
        assert allowed == set(spec.field.levels or ()), spec.id


def test_required_fields_are_the_four_named_ones(feature_catalog) -> None:  # type: ignore[no-untyped-def]
    required = {f.id for f in feature_catalog.fields if f.field.missing.value == "required"}
    assert required == {"age_years", "sex", "pain_type", "baseline_nrs"}


def test_unknown_key_is_an_error_naming_file_and_path(catalog_copy: Path) -> None:
    _edit(catalog_copy / "features" / "biomarkers.yaml", lambda d: d["fields"][1].update(colour="red"))
    with pytest.raises(CatalogError) as err:
        load_feature_catalog(catalog_copy)
    text = str(err.value)
    assert "features/biomarkers.yaml" in text and "fields[1].colour" in text and "unknown key" in text


def test_all_problems_reported_at_once(catalog_copy: Path) -> None:
    def break_it(d):  # type: ignore[no-untyped-def]
        d["fields"][0]["valid_range"] = [10, 1]
        d["fields"][1].pop("unit")
        d["derived"] = [
            {"id": "x_bad", "type": "number", "unit": "1", "sources": ["no_such_field"], "encoder": "identity",
             "label": "x", "description": "x"},
            {"id": "y_bad", "type": "number", "unit": "1", "sources": ["hs_crp_mg_per_l"], "encoder": "magic",
             "label": "y", "description": "y"},
        ]

    _edit(catalog_copy / "features" / "biomarkers.yaml", break_it)
    with pytest.raises(CatalogError) as err:
        load_feature_catalog(catalog_copy)
    text = str(err.value)
    assert "valid_range" in text
    assert "fields[1].unit" in text
    # the structural errors stop derived checks for this file, so break another file for those
    assert len(err.value.violations) >= 2


def test_derived_feature_problems(catalog_copy: Path) -> None:
    def break_it(d):  # type: ignore[no-untyped-def]
        d["derived"].append(
            {"id": "x_bad", "type": "number", "unit": "1", "sources": ["no_such_field"], "encoder": "identity",
             "label": "x", "description": "x"})
        d["derived"].append(
            {"id": "y_bad", "type": "number", "unit": "1", "sources": ["pcs_total"], "encoder": "magic",
             "label": "y", "description": "y"})
        d["derived"].append(
            {"id": "z_bad", "type": "number", "unit": "1", "sources": ["pcs_total"], "encoder": "activity_score",
             "label": "z", "description": "z"})

    _edit(catalog_copy / "features" / "psychosocial.yaml", break_it)
    with pytest.raises(CatalogError) as err:
        load_feature_catalog(catalog_copy)
    rules = " | ".join(v.describe() for v in err.value.violations)
    assert "no_such_field" in rules
    assert "unknown encoder" in rules
    assert "must be a pgx_gene field" in rules


def test_duplicate_yaml_key_is_an_error(catalog_copy: Path) -> None:
    path = catalog_copy / "features" / "catalog.yaml"
    path.write_text(path.read_text() + "version: 9.9.9\n")
    with pytest.raises(CatalogError, match="duplicate key"):
        load_feature_catalog(catalog_copy)


def test_sha256_tracks_content(catalog_copy: Path) -> None:
    before = load_feature_catalog(catalog_copy).sha256
    again = load_feature_catalog(catalog_copy).sha256
    _edit(catalog_copy / "features" / "wearables.yaml", lambda d: d["fields"][1].update(label="HRV"))
    after = load_feature_catalog(catalog_copy).sha256
    assert before == again != after


def test_sha256_covers_pgx_tables(catalog_copy: Path) -> None:
    before = load_feature_catalog(catalog_copy).sha256
    tsv = catalog_copy / "features" / "pgx" / "recommendations.tsv"
    tsv.write_text(tsv.read_text().replace("Strong", "Strong ", 1))
    assert load_feature_catalog(catalog_copy).sha256 != before


def test_resolver_order(catalog_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRECISIONPAIN_CATALOG_ROOT", str(catalog_copy))
    assert resolve_root() == catalog_copy.resolve()
    assert resolve_root(resolve_root.__globals__["_repo_root"]()) != catalog_copy.resolve()
    monkeypatch.setenv("PRECISIONPAIN_CATALOG_ROOT", str(catalog_copy / "nowhere"))
    with pytest.raises(CatalogError, match="PRECISIONPAIN_CATALOG_ROOT"):
        resolve_root()


def test_treatment_options_strict(catalog_copy: Path) -> None:
    opts = load_treatment_options(catalog_copy)
    assert len(opts.ids) >= 16
    path = catalog_copy / "models" / "treatment_options.yaml"
    _edit(path, lambda d: d["options"].append(dict(d["options"][0])))
    with pytest.raises(CatalogError, match="unique"):
        load_treatment_options(catalog_copy)


def test_option_cpic_drugs_exist_in_tables(option_catalog, pgx_tables) -> None:  # type: ignore[no-untyped-def]
    drugs = set(pgx_tables.drugs)
    for option in option_catalog.options:
        if option.cpic_drug is not None:
            assert option.cpic_drug in drugs, option.id


def _medication_field() -> dict[str, object]:
    return {"id": "medications", "type": "medication_list", "unit": "1", "model": "none", "label": "Medicines",
            "description": "Medicines taken now."}  # fmt: skip


def test_medication_list_is_top_level_only(catalog_copy: Path) -> None:
    """A medication_list lives in a file without a section, alone: not in a section, not beside other types."""
    _edit(catalog_copy / "features" / "biomarkers.yaml", lambda d: d["fields"].append(_medication_field() | {"id": "more_medications"}))
    _edit(catalog_copy / "features" / "current_medications.yaml", lambda d: d["fields"].append(
        {"id": "statin_dose_mg", "type": "number", "unit": "mg", "label": "Statin dose", "description": "Dose."}))
    with pytest.raises(CatalogError) as err:
        load_feature_catalog(catalog_copy)
    text = str(err.value)
    assert "features/biomarkers.yaml" in text and "more_medications: a medication_list field is top-level" in text
    assert "features/current_medications.yaml" in text and "statin_dose_mg: a file without a section" in text


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"model": "identity"}, "only number, integer and boolean fields can be model features"),
        ({"missing": "required"}, "a medication_list field is optional"),
        ({"valid_range": [0, 5]}, "valid_range applies only to number and integer fields"),
        ({"levels": ["a", "b"]}, "levels apply only to category fields"),
    ],
)
def test_medication_list_field_is_strict(catalog_copy: Path, change: dict[str, object], rule: str) -> None:
    _edit(catalog_copy / "features" / "current_medications.yaml", lambda d: d["fields"][0].update(change))
    with pytest.raises(CatalogError) as err:
        load_feature_catalog(catalog_copy)
    assert "features/current_medications.yaml" in str(err.value) and rule in str(err.value)


def test_medication_list_needs_its_vocabulary_and_no_encoder_reads_it_raw(catalog_copy: Path) -> None:
    (catalog_copy / "features" / "medications.yaml").unlink()
    _edit(catalog_copy / "features" / "psychosocial.yaml", lambda d: d["derived"].append(
        {"id": "x_bad", "type": "binary", "unit": "1", "sources": ["medications"], "encoder": "equals",
         "args": {"value": "paroxetine"}, "label": "x", "description": "x"}))  # fmt: skip
    _edit(catalog_copy / "features" / "pgx.yaml", lambda d: d["derived"].append(
        {"id": "y_bad", "type": "number", "unit": "1", "sources": ["cyp2c9", "pcs_total"],
         "encoder": "functional_activity_score", "label": "y", "description": "y"}))  # fmt: skip
    with pytest.raises(CatalogError) as err:
        load_feature_catalog(catalog_copy)
    rules = " | ".join(v.describe() for v in err.value.violations)
    assert "a medication_list field needs features/medications.yaml" in rules
    assert "medications: equals cannot read a medication_list" in rules
    assert "functional_activity_score takes fields of types pgx_gene, medication_list" in rules


def test_sha256_covers_the_medication_catalog(catalog_copy: Path) -> None:
    """Features read the inhibitor strengths of features/medications.yaml, so a model records them too."""
    before = load_feature_catalog(catalog_copy)
    assert "features/medications.yaml" in before.files
    path = catalog_copy / "features" / "medications.yaml"
    path.write_text(path.read_text().replace("inhibits: {CYP2D6: strong}", "inhibits: {CYP2D6: moderate}", 1))
    assert load_feature_catalog(catalog_copy).sha256 != before.sha256


def test_level_index_arguments_are_checked(catalog_copy: Path) -> None:
    _edit(catalog_copy / "features" / "clinical.yaml", lambda d: d["derived"].append(
        {"id": "x_bad", "type": "ordinal", "unit": "1", "sources": ["hepatic_impairment"], "encoder": "level_index",
         "args": {"levels": ["none"], "colour": "red"}, "label": "x", "description": "x"}))  # fmt: skip
    with pytest.raises(CatalogError) as err:
        load_feature_catalog(catalog_copy)
    rules = " | ".join(v.describe() for v in err.value.violations)
    assert "level_index: unknown argument(s) colour" in rules and "two or more distinct category levels" in rules


def test_every_model_feature_has_a_clinician_label(feature_catalog) -> None:  # type: ignore[no-untyped-def]
    for spec in feature_catalog.features:
        assert spec.label.strip() and spec.label != spec.id, spec.id
    for new in ("egfr_ml_per_min_1_73m2", "opioid_mme_per_day", "hepatic_impairment_ordinal",
                "cyp2d6_functional_activity_score"):  # fmt: skip
        assert new in feature_catalog.feature_ids
