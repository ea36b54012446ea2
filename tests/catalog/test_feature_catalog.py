"""The feature catalog is strict, versioned, hashed and agrees with the patient schema."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import yaml

from precisionpain.catalog.loader import load_feature_catalog, load_treatment_options, resolve_root
from precisionpain.catalog.types import Domain, FieldType
from precisionpain.errors import CatalogError
from precisionpain.schema import SECTIONS, PatientProfile


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
