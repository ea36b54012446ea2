"""Encoders a catalog may name for a derived feature. Each works on whole columns (numpy arrays), so one
patient (columns of length 1) and a million patients go through the same code.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from precisionpain.catalog.types import FieldType
from precisionpain.pgx.translate import PHENOTYPE_ORDINAL

if TYPE_CHECKING:
    from precisionpain.catalog.loader import FeatureCatalog
    from precisionpain.pgx.tables import PgxTables

NAN = math.nan
SMALL = 64  # below this many rows, plain Python beats pandas' hashing


@dataclass(frozen=True)
class GeneColumn:
    """A CYP gene resolved for every row: activity score (NaN = none), CPIC phenotype (None = none) and the
    activity score as CPIC writes it (None = none; e.g. "≥3.0")."""

    activity: np.ndarray
    phenotype: np.ndarray  # object array of str | None
    score_text: np.ndarray | None = None  # object array of str | None

    def __len__(self) -> int:
        return len(self.activity)


Column = np.ndarray | GeneColumn


@dataclass(frozen=True)
class EncodeContext:
    """What some encoders need beyond their source columns: the sources' valid ranges, and the catalog and CPIC
    tables being encoded with (for encoders that read the medication catalog or translate gene results)."""

    source_ranges: Mapping[str, tuple[float, float] | None]
    catalog: FeatureCatalog | None = None
    tables: PgxTables | None = None


def is_missing(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "f":
        return np.isnan(arr)
    if arr.dtype.kind in "iub":
        return np.zeros(len(arr), dtype=bool)
    return np.asarray(pd.isna(arr), dtype=bool)


def to_float(arr: np.ndarray) -> np.ndarray:
    """Numbers, booleans and None/NaN/pd.NA -> float64 with NaN for missing."""
    if arr.dtype.kind == "f":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind in "iub":
        return arr.astype(np.float64)
    if len(arr) <= SMALL:
        return np.array(
            [NAN if v is None or v is pd.NA or v != v else float(v) for v in arr], dtype=np.float64
        )
    return pd.to_numeric(pd.Series(arr, copy=False), errors="coerce").to_numpy(dtype=np.float64, na_value=NAN)


def map_values(arr: np.ndarray, lookup: Mapping[str, float] | Callable[[str], float]) -> np.ndarray:
    """Map every string value through ``lookup`` (a mapping or a function); missing or unmapped -> NaN."""
    fn: Callable[[str], float] = (lambda v: lookup.get(v, NAN)) if isinstance(lookup, Mapping) else lookup
    if len(arr) <= SMALL:
        return np.array([fn(v) if isinstance(v, str) else NAN for v in arr], dtype=np.float64)
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    table = np.array([fn(u) if isinstance(u, str) else NAN for u in uniques] + [NAN], dtype=np.float64)
    return table[codes]  # code -1 (missing) picks the trailing NaN


Sources = Sequence[tuple[str, Column]]


class Encoder(ABC):
    """Turns source columns (with their field ids) into one float64 feature column."""

    name: str = ""
    multiple_sources: bool = False
    gene_sources: bool = False  # sources are CYP gene results (resolved to GeneColumn)
    needs_source_ranges: bool = False
    # When set: exactly these field types, in this order (gene sources arrive as GeneColumn, others as arrays).
    source_types: tuple[FieldType, ...] | None = None

    def check_args(self, args: Mapping[str, Any]) -> list[str]:
        return [f"{self.name} takes no arguments"] if args else []

    @abstractmethod
    def encode(self, sources: Sources, args: Mapping[str, Any], ctx: EncodeContext) -> np.ndarray: ...


def _array(sources: Sources) -> np.ndarray:
    (_, col), *_ = sources
    assert isinstance(col, np.ndarray)
    return col


def _gene(sources: Sources) -> GeneColumn:
    (_, col), *_ = sources
    assert isinstance(col, GeneColumn)
    return col


def _check_keys(name: str, args: Mapping[str, Any], key: str, what: str) -> list[str]:
    extra = set(args) - {key}
    problems = [f"{name}: unknown argument(s) {', '.join(sorted(extra))}"] if extra else []
    if not isinstance(args.get(key), str):
        problems.append(f"{name} needs args.{key}, {what}")
    return problems


class Identity(Encoder):
    name = "identity"

    def encode(self, sources: Sources, args: Mapping[str, Any], ctx: EncodeContext) -> np.ndarray:
        return to_float(_array(sources))


class Equals(Encoder):
    """1.0 where the category equals ``args.value``, 0.0 where it differs, NaN where missing."""

    name = "equals"

    def check_args(self, args: Mapping[str, Any]) -> list[str]:
        return _check_keys(self.name, args, "value", "the category level that encodes as 1")

    def encode(self, sources: Sources, args: Mapping[str, Any], ctx: EncodeContext) -> np.ndarray:
        col = _array(sources)
        out = (col == args["value"]).astype(np.float64)
        out[is_missing(col)] = NAN
        return out


class ActivityScore(Encoder):
    name = "activity_score"
    gene_sources = True

    def encode(self, sources: Sources, args: Mapping[str, Any], ctx: EncodeContext) -> np.ndarray:
        return _gene(sources).activity


class PhenotypeOrdinal(Encoder):
    name = "phenotype_ordinal"
    gene_sources = True

    def encode(self, sources: Sources, args: Mapping[str, Any], ctx: EncodeContext) -> np.ndarray:
        return map_values(_gene(sources).phenotype, PHENOTYPE_ORDINAL)


class Carrier(Encoder):
    """HLA status: positive -> 1, negative -> 0, not tested -> NaN."""

    name = "carrier"
    MAP: Mapping[str, float] = {"positive": 1.0, "negative": 0.0}

    def encode(self, sources: Sources, args: Mapping[str, Any], ctx: EncodeContext) -> np.ndarray:
        return map_values(_array(sources), self.MAP)


class AlleleCount(Encoder):
    """Copies of ``args.allele`` in a genotype written ``X/Y`` (e.g. G in ``A/G`` -> 1)."""

    name = "allele_count"

    def check_args(self, args: Mapping[str, Any]) -> list[str]:
        return _check_keys(self.name, args, "allele", "the allele to count")

    def encode(self, sources: Sources, args: Mapping[str, Any], ctx: EncodeContext) -> np.ndarray:
        allele = args["allele"]
        return map_values(_array(sources), lambda g: float(g.split("/").count(allele)))


class PercentOfRange(Encoder):
    """The first present source, rescaled to 0-100% of that source's valid range (e.g. TSK-11 or TSK-17)."""

    name = "percent_of_range"
    multiple_sources = True
    needs_source_ranges = True

    def encode(self, sources: Sources, args: Mapping[str, Any], ctx: EncodeContext) -> np.ndarray:
        out = np.full(len(sources[0][1]), NAN)
        for source_id, col in sources:
            rng = ctx.source_ranges.get(source_id)
            assert rng is not None and isinstance(col, np.ndarray), "percent_of_range needs ranged sources"
            lo, hi = rng
            scaled = (to_float(col) - lo) / (hi - lo) * 100.0
            fill = np.isnan(out) & ~np.isnan(scaled)
            out[fill] = scaled[fill]
        return out


class LevelIndex(Encoder):
    """The position of the category in ``args.levels`` (0, 1, 2, ...): an ordinal scale; missing -> NaN."""

    name = "level_index"

    def check_args(self, args: Mapping[str, Any]) -> list[str]:
        levels = args.get("levels")
        problems = (
            [f"{self.name}: unknown argument(s) {', '.join(sorted(set(args) - {'levels'}))}"]
            if set(args) - {"levels"}
            else []
        )
        if not (
            isinstance(levels, list | tuple)
            and len(levels) >= 2
            and all(isinstance(v, str) for v in levels)
            and len(set(levels)) == len(levels)
        ):
            problems.append(
                f"{self.name} needs args.levels, two or more distinct category levels in scale order"
            )
        return problems

    def encode(self, sources: Sources, args: Mapping[str, Any], ctx: EncodeContext) -> np.ndarray:
        return map_values(_array(sources), {level: float(i) for i, level in enumerate(args["levels"])})


class FunctionalActivityScore(Encoder):
    """A CYP gene's activity score as it works with the patient's medicines (phenoconversion): the genotype score
    read through :func:`precisionpain.pgx.phenoconversion.functional_phenotype` with the strongest inhibitor of the
    gene the medication list holds (features/medications.yaml) and the safety rules' method (strong x 0, moderate
    x 0.5 in the shipped catalog). Without an inhibitor it is the genotype score; a phenotype without a score gives
    a number only when a strong inhibitor makes it 0. NaN when the gene is untested or a medicine is unknown."""

    name = "functional_activity_score"
    source_types = (FieldType.pgx_gene, FieldType.medication_list)

    def encode(self, sources: Sources, args: Mapping[str, Any], ctx: EncodeContext) -> np.ndarray:
        from precisionpain.features.medications import strongest_strengths

        (gene_id, gene_col), (_, med_col) = sources
        assert isinstance(gene_col, GeneColumn) and isinstance(med_col, np.ndarray)
        assert ctx.catalog is not None and ctx.tables is not None, (
            "functional_activity_score needs the catalog"
        )
        gene = gene_id.upper()
        n = len(gene_col)
        scores = gene_col.score_text if gene_col.score_text is not None else np.full(n, None, dtype=object)
        strengths = strongest_strengths(med_col, gene, ctx.catalog)
        reader = _functional_reader(ctx.catalog, ctx.tables)
        out = np.full(n, NAN)
        known: dict[tuple[Any, Any, Any], float] = {}
        for i in range(n):
            key = (scores[i], gene_col.phenotype[i], strengths[i])
            value = known.get(key)
            if value is None:
                value = known[key] = reader(gene, *key)
            out[i] = value
        return out


@lru_cache(maxsize=8)
def _functional_reader(catalog: FeatureCatalog, tables: PgxTables) -> Callable[..., float]:
    """(gene, genotype score text, phenotype, strongest strength) -> functional activity score, cached per reading
    (scores and phenotypes are CPIC values, strengths a closed set: few distinct keys)."""
    from precisionpain.features.medications import phenoconversion_method
    from precisionpain.pgx.phenoconversion import Inhibitor, InhibitorStrength, functional_phenotype
    from precisionpain.schema import GeneResult

    method = phenoconversion_method(catalog)

    @lru_cache(maxsize=4096)
    def read(
        gene: str, score: str | None, phenotype: str | None, strength: InhibitorStrength | None
    ) -> float:
        if strength is None or (score is None and phenotype is None):
            return NAN
        inhibitors = (
            []
            if strength is InhibitorStrength.none
            else [Inhibitor(medication="-", gene=gene, strength=strength)]
        )
        reading = functional_phenotype(
            gene, GeneResult(phenotype=phenotype, activity_score=score), inhibitors, method, tables
        )
        text = reading.functional_activity_score
        return NAN if text is None else float(text.lstrip("≥"))

    return read


ENCODERS: dict[str, Encoder] = {
    e.name: e
    for e in (
        Identity(),
        Equals(),
        ActivityScore(),
        PhenotypeOrdinal(),
        Carrier(),
        AlleleCount(),
        PercentOfRange(),
        LevelIndex(),
        FunctionalActivityScore(),
    )
}
