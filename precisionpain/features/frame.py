"""The flat (tabular) form of patient profiles: one column per catalog field, one row per patient.

A cohort file, a training table and a single profile all reach the feature layer in this form, so the batch
and the single-patient path are one code path. CYP genes spread over three columns each:
``<gene>_diplotype``, ``<gene>_phenotype`` and ``<gene>_activity_score`` (plus ``<gene>_source``). The
top-level medication list is one column, ``medications``: catalog generic names joined by ``"; "`` (missing or
empty: none recorded; an RxCUI given in a profile is not kept, the name resolves the medicine).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pandas as pd

from precisionpain.catalog.loader import FeatureCatalog
from precisionpain.catalog.types import FieldType
from precisionpain.features.medications import is_missing, join_names, medications_of
from precisionpain.schema import PatientProfile

GENE_PARTS = ("diplotype", "phenotype", "activity_score", "source")


def flat_columns(catalog: FeatureCatalog) -> tuple[str, ...]:
    """Every flat column a profile spreads into, in catalog order."""
    cols: list[str] = []
    for spec in catalog.input_fields:
        if spec.field.type is FieldType.pgx_gene:
            cols.extend(f"{spec.id}_{part}" for part in GENE_PARTS)
        else:
            cols.append(spec.id)
    return tuple(cols)


def profile_to_row(profile: PatientProfile, catalog: FeatureCatalog) -> dict[str, Any]:
    """One profile -> {flat column: value or None} (enums as their plain string values)."""
    dumped = profile.model_dump(mode="json")
    row: dict[str, Any] = {}
    for f in catalog.field_rows:
        value = dumped[f.section][f.id]
        if f.type is FieldType.pgx_gene:
            for part in GENE_PARTS:
                row[f"{f.id}_{part}"] = None if value is None else value[part]
        else:
            row[f.id] = value
    for spec in catalog.medication_list_fields:
        row[spec.id] = join_names(getattr(profile, spec.id), catalog)
    return row


def profiles_to_frame(profiles: Iterable[PatientProfile], catalog: FeatureCatalog) -> pd.DataFrame:
    rows = [profile_to_row(p, catalog) for p in profiles]
    return pd.DataFrame(rows, columns=list(flat_columns(catalog)))


def _missing(value: Any) -> bool:
    if is_missing(value):
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def row_to_profile_dict(row: Mapping[str, Any], catalog: FeatureCatalog) -> dict[str, Any]:
    """Flat row -> nested profile dict (missing values left out), ready for validation."""
    out: dict[str, Any] = {}
    for spec in catalog.fields:
        section = out.setdefault(spec.section, {})
        if spec.field.type is FieldType.pgx_gene:
            gene = {}
            for part in GENE_PARTS:
                given = row.get(f"{spec.id}_{part}")
                if given is not None and not _missing(given):
                    gene[part] = given
            if any(k != "source" for k in gene):
                section[spec.id] = gene
            continue
        value = row.get(spec.id)
        if value is None or _missing(value):  # an absent column is the common case: no missing-value test
            continue
        if spec.field.type is FieldType.integer and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif spec.field.type is FieldType.boolean:
            value = bool(value)
        elif value is not None and hasattr(value, "item"):
            value = value.item()
        section[spec.id] = value
    for spec in catalog.medication_list_fields:
        medications = medications_of(row, spec.id)
        if medications:
            out[spec.id] = medications
    if "patient_ref" in row and not _missing(row["patient_ref"]):
        out["patient_ref"] = str(row["patient_ref"])
    return out


def iter_profile_dicts(frame: pd.DataFrame, catalog: FeatureCatalog) -> Iterator[dict[str, Any]]:
    for row in frame.to_dict(orient="records"):
        yield row_to_profile_dict(row, catalog)
