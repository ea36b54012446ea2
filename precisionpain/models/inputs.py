"""Checks and conversions of the estimator's inputs. Each checker returns the converted value (or None) and the
violations it found, so the caller can check every argument and raise once. Messages name the argument, the rule
and the kind of value received; they never contain a value from the data."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from precisionpain.errors import Violation, kind_of

NUMERIC_KINDS = "biuf"


def describe(value: object) -> str:
    """The kind of an argument (never its content)."""
    if isinstance(value, pd.DataFrame):
        return f"DataFrame with {value.shape[1]} columns"
    if isinstance(value, pd.Series):
        return f"Series of dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"{value.ndim}-D array of dtype {value.dtype}"
    return kind_of(value)


def _column_names(frame: pd.DataFrame) -> tuple[str, ...] | None:
    names = list(frame.columns)
    return tuple(names) if all(isinstance(c, str) for c in names) else None


def check_features(
    X: Any,
    *,
    path: str = "X",
    n_features: int | None = None,
    feature_names: Sequence[str] | None = None,
) -> tuple[np.ndarray | None, tuple[str, ...] | None, list[Violation]]:
    """X as a C-contiguous float64 (n, p) array with NaN for missing values, its column names (DataFrame with
    string column names only), and the violations found. ``n_features``/``feature_names`` are the fitted shape."""
    violations: list[Violation] = []
    names: tuple[str, ...] | None = None
    if isinstance(X, pd.DataFrame):
        names = _column_names(X)
        bad = [
            c
            for c in X.columns
            if X[c].dtype.kind not in NUMERIC_KINDS or isinstance(X[c].dtype, pd.CategoricalDtype)
        ]
        for c in bad:
            violations.append(
                Violation(
                    f"{path}[{c!s}]",
                    "must be numeric (int, float or bool); encode categories and text before the model",
                    f"column of dtype {X[c].dtype}",
                )
            )
        if bad:
            return None, names, violations
        values = X.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        if X is None or isinstance(X, str | bytes | dict):
            return None, None, [Violation(path, "must be a 2-D numeric array or a DataFrame", describe(X))]
        arr = np.asarray(X)
        if arr.dtype.kind not in NUMERIC_KINDS:
            return None, None, [Violation(path, "must be numeric (int, float or bool)", describe(arr))]
        values = arr.astype(np.float64, copy=False)
    if values.ndim != 2:
        return None, names, [Violation(path, "must be 2-D (rows x features)", f"{values.ndim}-D array")]
    if values.shape[0] == 0:
        violations.append(Violation(path, "must have at least one row", "0 rows"))
    if values.shape[1] == 0:
        violations.append(Violation(path, "must have at least one feature column", "0 columns"))
    if n_features is not None and values.shape[1] != n_features:
        violations.append(
            Violation(
                path, f"must have {n_features} feature columns, as at fit", f"{values.shape[1]} columns"
            )
        )
    elif feature_names is not None and names is not None and tuple(names) != tuple(feature_names):
        violations.append(
            Violation(
                path, "must have the feature columns seen at fit, in the same order", "other column names"
            )
        )
    if values.size and not np.all(np.isfinite(values) | np.isnan(values)):
        violations.append(Violation(path, "must be finite (NaN marks a missing value)", "infinite number"))
    elif values.size and np.any(np.abs(values[~np.isnan(values)]) > np.finfo(np.float32).max):
        violations.append(Violation(path, "must fit in 32-bit floats", "number too large"))
    if violations:
        return None, names, violations
    return np.ascontiguousarray(values), names, violations


def _one_d(
    value: Any, path: str, n: int | None, *, numeric: bool
) -> tuple[np.ndarray | None, list[Violation]]:
    if value is None or isinstance(value, str | bytes | dict):
        return None, [
            Violation(path, "must be a 1-D array-like with one entry per row of X", describe(value))
        ]
    if isinstance(value, pd.DataFrame):
        return None, [Violation(path, "must be 1-D (one entry per row of X)", describe(value))]
    if isinstance(value, pd.Series | pd.Index | pd.Categorical):
        dtype = value.dtype
        if numeric and dtype.kind in NUMERIC_KINDS and not isinstance(dtype, pd.CategoricalDtype):
            arr = np.asarray(value.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            arr = np.asarray(value, dtype=object)
    else:
        arr = np.asarray(value)
    if arr.ndim != 1:
        return None, [Violation(path, "must be 1-D (one entry per row of X)", f"{arr.ndim}-D array")]
    if n is not None and arr.shape[0] != n:
        return None, [
            Violation(
                path, f"must have one entry per row of X ({n} rows)", f"sequence of length {arr.shape[0]}"
            )
        ]
    return arr, []


def _is_missing(v: object) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def python_label(v: object) -> Hashable:
    """A treatment label as a plain Python value (numpy scalars unwrapped)."""
    if isinstance(v, np.generic):
        item: Hashable = v.item()
        return item
    return v


def check_treatment(treatment: Any, n: int | None) -> tuple[list[Hashable] | None, list[Violation]]:
    arr, violations = _one_d(treatment, "treatment", n, numeric=False)
    if arr is None:
        return None, violations
    labels = (
        [python_label(v) for v in arr.tolist()] if arr.dtype.kind != "O" else [python_label(v) for v in arr]
    )
    missing = [v for v in labels if _is_missing(v)]
    if missing:
        return None, [Violation("treatment", "must not contain missing labels", kind_of(missing[0]))]
    unhashable = [v for v in labels if not isinstance(v, Hashable)]
    if unhashable:
        return None, [
            Violation(
                "treatment", "labels must be hashable (e.g. strings or integers)", kind_of(unhashable[0])
            )
        ]
    return labels, []


def check_outcome(y: Any, n: int | None, objective: str) -> tuple[np.ndarray | None, list[Violation]]:
    arr, violations = _one_d(y, "y", n, numeric=True)
    if arr is None:
        return None, violations
    if arr.dtype.kind == "O":
        if any(_is_missing(v) for v in arr):
            return None, [Violation("y", "must not contain missing values", "null")]
        if all(isinstance(v, int | float | np.number) for v in arr):
            arr = arr.astype(np.float64)
    if arr.dtype.kind not in NUMERIC_KINDS:
        return None, [Violation("y", "must be numeric", describe(arr))]
    values = arr.astype(np.float64)
    if np.isnan(values).any():
        return None, [Violation("y", "must not contain missing values", "NaN")]
    if not np.isfinite(values).all():
        return None, [Violation("y", "must be finite", "infinite number")]
    if objective == "binary" and not np.isin(values, (0.0, 1.0)).all():
        return None, [
            Violation("y", "must be 0/1 (or boolean) for objective='binary'", "numbers other than 0 and 1")
        ]
    return values, []


def check_sample_weight(sample_weight: Any, n: int | None) -> tuple[np.ndarray | None, list[Violation]]:
    if sample_weight is None:
        return None, []
    arr, violations = _one_d(sample_weight, "sample_weight", n, numeric=True)
    if arr is None:
        return None, violations
    if arr.dtype.kind not in NUMERIC_KINDS:
        return None, [Violation("sample_weight", "must be numeric", describe(arr))]
    w = arr.astype(np.float64)
    if not np.isfinite(w).all():
        return None, [Violation("sample_weight", "must be finite", "NaN or infinite number")]
    if (w < 0).any():
        return None, [Violation("sample_weight", "must be >= 0", "negative number")]
    if w.sum() <= 0:
        return None, [Violation("sample_weight", "must have a positive sum", "all zeros")]
    return w, []
