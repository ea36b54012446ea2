"""Encoders a catalog may name for a derived feature. Each works on whole columns (numpy arrays), so one
patient (columns of length 1) and a million patients go through the same code.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from precisionpain.pgx.translate import PHENOTYPE_ORDINAL

NAN = math.nan
SMALL = 64  # below this many rows, plain Python beats pandas' hashing


@dataclass(frozen=True)
class GeneColumn:
    """A CYP gene resolved for every row: activity score (NaN = none) and CPIC phenotype (None = none)."""

    activity: np.ndarray
    phenotype: np.ndarray  # object array of str | None

    def __len__(self) -> int:
        return len(self.activity)


Column = np.ndarray | GeneColumn


@dataclass(frozen=True)
class EncodeContext:
    """What some encoders need beyond their source columns."""

    source_ranges: Mapping[str, tuple[float, float] | None]


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
        return np.array([NAN if v is None or v is pd.NA or v != v else float(v) for v in arr], dtype=np.float64)
    return pd.to_numeric(pd.Series(arr, copy=False), errors="coerce").to_numpy(dtype=np.float64, na_value=NAN)


def map_values(arr: np.ndarray, lookup: Mapping[str, float] | Callable[[str], float]) -> np.ndarray:
    """Map every string value through ``lookup`` (a mapping or a function); missing or unmapped -> NaN."""
    fn: Callable[[str], float] = (
        (lambda v: lookup.get(v, NAN)) if isinstance(lookup, Mapping) else lookup
    )
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
    )
}
