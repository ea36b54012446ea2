"""assemble_features: profiles -> model features, one code path for one patient and for a whole table.

A single :class:`PatientProfile` becomes flat columns of length 1; a DataFrame (one column per catalog field,
see :mod:`precisionpain.features.frame`) is used as it is. Both then go through :func:`encode_columns`, which
applies the catalog's encoders in catalog column order. Missing values become NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, overload

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from precisionpain.catalog.loader import FeatureCatalog, default_feature_catalog
from precisionpain.catalog.types import FieldType
from precisionpain.errors import ProfileValidationError
from precisionpain.features.encoders import ENCODERS, SMALL, EncodeContext, Encoder, GeneColumn, to_float
from precisionpain.features.frame import profile_to_row
from precisionpain.features.validate import frame_violations
from precisionpain.pgx.resolve import resolve_gene
from precisionpain.pgx.tables import PgxTables
from precisionpain.schema import CatalogRef, FeatureVector, PatientProfile

NAN = math.nan


@dataclass(frozen=True)
class FeatureMatrix:
    """Many patients' model inputs: float64 (n, p) in catalog column order, NaN = missing."""

    values: np.ndarray
    names: tuple[str, ...]
    catalog: CatalogRef

    def to_frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        return pd.DataFrame(self.values, columns=list(self.names), index=index)

    @property
    def missing(self) -> np.ndarray:
        return np.isnan(self.values)

    def __len__(self) -> int:
        return int(self.values.shape[0])


def _tables(tables: PgxTables | None) -> PgxTables:
    if tables is not None:
        return tables
    from precisionpain.catalog.pgx_tables import default_pgx_tables

    return default_pgx_tables()


def _clean(v: Any) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


def _gene_column(gene: str, columns: Mapping[str, np.ndarray], n: int, tables: PgxTables) -> GeneColumn:
    empty = np.full(n, None, dtype=object)
    dip, phe, score = (
        columns.get(f"{gene}_{part}", empty) for part in ("diplotype", "phenotype", "activity_score")
    )
    activity = np.full(n, NAN)
    phenotype = np.full(n, None, dtype=object)
    text = np.full(n, None, dtype=object)
    if n <= SMALL:
        for i in range(n):
            r = resolve_gene(gene.upper(), _clean(dip[i]), _clean(phe[i]), _clean(score[i]), tables)
            activity[i] = _score_value(r.activity_score)
            phenotype[i] = r.phenotype
            text[i] = r.activity_score
        return GeneColumn(activity, phenotype, text)
    keys = pd.Series(list(zip(dip, phe, score, strict=True)), dtype=object)
    codes, uniques = pd.factorize(keys)
    act_u = np.empty(len(uniques) + 1)
    phe_u = np.empty(len(uniques) + 1, dtype=object)
    txt_u = np.empty(len(uniques) + 1, dtype=object)
    for k, key in enumerate(uniques):
        r = resolve_gene(gene.upper(), _clean(key[0]), _clean(key[1]), _clean(key[2]), tables)
        act_u[k], phe_u[k], txt_u[k] = _score_value(r.activity_score), r.phenotype, r.activity_score
    act_u[-1], phe_u[-1], txt_u[-1] = NAN, None, None
    return GeneColumn(act_u[codes], phe_u[codes], txt_u[codes])


def _score_value(score: str | None) -> float:
    if score is None:
        return NAN
    return float(score.lstrip("≥"))


@dataclass(frozen=True)
class _Step:
    index: int
    encoder: Encoder
    args: Mapping[str, Any]
    sources: tuple[tuple[str, bool], ...]  # (field id, is a CYP gene)


@dataclass(frozen=True)
class _Plan:
    identity_index: np.ndarray  # feature columns encoded as they are
    identity_sources: tuple[str, ...]
    steps: tuple[_Step, ...]  # every other feature
    genes: tuple[str, ...]
    ctx: EncodeContext


@lru_cache(maxsize=16)
def _plan(catalog: FeatureCatalog) -> _Plan:
    identity = [f for f in catalog.features if f.encoder == "identity"]
    steps = tuple(
        _Step(
            f.index,
            ENCODERS[f.encoder],
            f.args,
            tuple((s, catalog.field(s).field.type is FieldType.pgx_gene) for s in f.sources),
        )
        for f in catalog.features
        if f.encoder != "identity"
    )
    genes = tuple(dict.fromkeys(s for st in steps for s, is_gene in st.sources if is_gene))
    return _Plan(
        identity_index=np.array([f.index for f in identity], dtype=np.intp),
        identity_sources=tuple(f.sources[0] for f in identity),
        steps=steps,
        genes=genes,
        ctx=EncodeContext(source_ranges={f.id: f.field.valid_range for f in catalog.fields}, catalog=catalog),
    )


def encode_columns(
    columns: Mapping[str, np.ndarray], n: int, catalog: FeatureCatalog, tables: PgxTables
) -> np.ndarray:
    """The single encoding path: flat columns (arrays of length n) -> float64 (n, p) in catalog order."""
    plan = _plan(catalog)
    out = np.empty((n, len(catalog.features)), dtype=np.float64)
    absent = np.full(n, None, dtype=object)
    sources = [columns.get(s, absent) for s in plan.identity_sources]
    if n <= SMALL:  # few rows: convert the identity block at once
        block = to_float(np.concatenate(sources).astype(object)).reshape(len(sources), n).T
        out[:, plan.identity_index] = block
    else:
        for j, col in zip(plan.identity_index, sources, strict=True):
            out[:, j] = to_float(col)
    genes = {g: _gene_column(g, columns, n, tables) for g in plan.genes}
    ctx = replace(plan.ctx, tables=tables)
    for step in plan.steps:
        cols = [(s, genes[s] if is_gene else columns.get(s, absent)) for s, is_gene in step.sources]
        out[:, step.index] = step.encoder.encode(cols, step.args, ctx)
    return out


def _catalog_ref(catalog: FeatureCatalog) -> CatalogRef:
    return CatalogRef(catalog_id=catalog.catalog_id, version=catalog.version, sha256=catalog.sha256)


@overload
def assemble_features(
    data: PatientProfile,
    catalog: FeatureCatalog | None = ...,
    tables: PgxTables | None = ...,
    *,
    validate: bool = ...,
) -> FeatureVector: ...
@overload
def assemble_features(
    data: pd.DataFrame,
    catalog: FeatureCatalog | None = ...,
    tables: PgxTables | None = ...,
    *,
    validate: bool = ...,
) -> FeatureMatrix: ...
def assemble_features(
    data: PatientProfile | pd.DataFrame,
    catalog: FeatureCatalog | None = None,
    tables: PgxTables | None = None,
    *,
    validate: bool = True,
) -> FeatureVector | FeatureMatrix:
    """Profile -> FeatureVector, or flat DataFrame -> FeatureMatrix, through :func:`encode_columns`.

    A profile is assumed validated (use :func:`validate_profile` first). A DataFrame is checked against the
    catalog's rules unless ``validate=False``; violations name columns and row positions, never values.
    """
    cat = catalog or default_feature_catalog()
    tbl = _tables(tables)
    if isinstance(data, PatientProfile):
        row = profile_to_row(data, cat)
        flat = np.empty(len(row), dtype=object)
        flat[:] = list(row.values())
        columns = {k: flat[i : i + 1] for i, k in enumerate(row)}
        values = encode_columns(columns, 1, cat, tbl)[0]
        names = cat.feature_ids
        return FeatureVector(
            catalog=_catalog_ref(cat),
            names=names,
            values=tuple(values.tolist()),
            missing=tuple(name for name, v in zip(names, values, strict=True) if v != v),
        )
    if isinstance(data, pd.DataFrame):
        if validate:
            ProfileValidationError.raise_if_any("patient table", frame_violations(data, cat, tbl))
        columns = {c: data[c].to_numpy() for c in data.columns if isinstance(c, str)}
        return FeatureMatrix(
            values=encode_columns(columns, len(data), cat, tbl),
            names=cat.feature_ids,
            catalog=_catalog_ref(cat),
        )
    raise TypeError(f"assemble_features takes a PatientProfile or a DataFrame, not {type(data).__name__}")


class FeatureAssembler(TransformerMixin, BaseEstimator):
    """scikit-learn view of :func:`assemble_features` for pipelines: flat DataFrame -> float array."""

    def __init__(self, catalog_root: str | None = None, validate: bool = True) -> None:
        self.catalog_root = catalog_root
        self.validate = validate

    def fit(self, X: pd.DataFrame, y: Any = None) -> FeatureAssembler:
        from precisionpain.catalog.loader import load_feature_catalog

        self.catalog_ = load_feature_catalog(self.catalog_root)
        self.feature_names_out_ = np.array(self.catalog_.feature_ids, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return assemble_features(X, self.catalog_, validate=self.validate).values

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self.feature_names_out_
