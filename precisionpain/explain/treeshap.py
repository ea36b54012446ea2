"""Exact path-dependent TreeSHAP for a set of XGBoost boosters, one per treatment option.

:class:`TreeEnsembleSet` reads each option's booster from its JSON model and answers, for one row or a
batch, every option's SHAP contributions in margin (log-odds for logistic objectives) space together with
the margins, such that ``base_values[k] + contributions[i, k].sum() == margins[i, k]`` (up to float64
rounding). The values are those of ``shap.TreeExplainer(booster)`` (``feature_perturbation=
"tree_path_dependent"``, ``model_output="raw"``) and of XGBoost's ``predict(pred_contribs=True)``, which
compute the same quantity in float32; here everything after the float32 split comparisons is float64.

Rows follow XGBoost's rules: values are compared as float32 (``x < threshold`` goes left) and NaN follows
each split's default direction. All trees of all options are evaluated in one compiled pass; see
:mod:`precisionpain.explain.treeshap_kernels` for the method.

Example::

    ensembles = TreeEnsembleSet.from_boosters({"codeine": booster_a, "tramadol": booster_b}, feature_names)
    ensembles.warmup()                        # compile before reporting healthy
    contributions, margins = ensembles.explain(x)   # x: (n, p) float, NaN = missing
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from precisionpain.errors import ModelCatalogMismatchError, ModelError, ValidationError, Violation, kind_of
from precisionpain.explain.tree_layout import (
    MAX_TREE_DEPTH,
    SUPPORTED_OBJECTIVES,
    EnsembleLayout,
    ModelProblem,
    ParsedBooster,
    build_layout,
    option_parts,
    parse_booster_json,
)
from precisionpain.explain.treeshap_kernels import load_kernels, quadrature_size

if TYPE_CHECKING:
    import xgboost

__all__ = ["MAX_TREE_DEPTH", "SUPPORTED_OBJECTIVES", "TreeEnsembleSet", "TreeShapResult", "option_column_rows"]


class TreeShapResult(NamedTuple):
    """SHAP contributions (n, k, p) and margins (n, k), both float64, in the boosters' margin space."""

    contributions: npt.NDArray[np.float64]
    margins: npt.NDArray[np.float64]


def _json_models(boosters: Mapping[str, xgboost.Booster]) -> dict[str, bytes]:
    """Each booster's JSON model (its saved form, not its state)."""
    models: dict[str, bytes] = {}
    for option_id, booster in boosters.items():
        save_raw = getattr(booster, "save_raw", None)
        if not callable(save_raw):
            raise ModelError(
                f"cannot explain option {option_id!r}: expected an xgboost.Booster (received {kind_of(booster)})"
            )
        models[option_id] = bytes(save_raw("json"))
    return models


def _parse_all(models: Mapping[str, Any], names: tuple[str, ...]) -> list[ParsedBooster]:
    """Every model parsed, or one error listing every problem (see :meth:`TreeEnsembleSet.from_model_json`)."""
    problems: list[ModelProblem] = []
    if not models:
        raise ModelError("cannot explain an empty set of boosters: at least one option is required")
    if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise ModelError("feature_names must be non-empty, distinct strings")
    parsed: list[ParsedBooster] = []
    for option_id, model in models.items():
        if not isinstance(option_id, str) or not option_id:
            problems.append(ModelProblem(str(option_id), "option ids must be non-empty strings"))
            continue
        booster, found = parse_booster_json(option_id, model, names)
        problems.extend(found)
        if booster is not None:
            parsed.append(booster)
    if problems:
        lines = "\n".join(f"  - {p.describe()}" for p in problems)
        n = len(problems)
        message = f"cannot explain the boosters: {n} problem{'s' if n != 1 else ''}\n{lines}"
        if all(p.catalog_mismatch for p in problems):
            raise ModelCatalogMismatchError(message)
        raise ModelError(message)
    return parsed


def option_column_rows(X: npt.ArrayLike, n_options: int) -> npt.NDArray[np.float64]:
    """The rows :meth:`TreeEnsembleSet.from_option_column_boosters` explains: X (n, p), then n_options zeros
    and n_options ones."""
    x = np.asarray(X, dtype=np.float64)
    n = x.shape[0] if x.ndim == 2 else 0
    out = np.empty((n, (x.shape[1] if x.ndim == 2 else 0) + 2 * n_options), dtype=np.float64)
    out[:, : out.shape[1] - 2 * n_options] = x
    out[:, out.shape[1] - 2 * n_options : out.shape[1] - n_options] = 0.0
    out[:, out.shape[1] - n_options :] = 1.0
    return out


class TreeEnsembleSet:
    """Immutable set of per-option tree ensembles over one feature list, explained together.

    Build it with :meth:`from_boosters` (or :meth:`from_model_json`). Calls to :meth:`explain` and
    :meth:`margins` may run concurrently from several threads: the model arrays are read-only and the
    compiled kernels release the GIL and allocate their own scratch space.
    """

    __slots__ = ("_feature_names", "_layout", "_option_ids")

    def __init__(
        self, option_ids: Sequence[str], feature_names: Sequence[str], layout: EnsembleLayout
    ) -> None:
        self._option_ids = tuple(option_ids)
        self._feature_names = tuple(feature_names)
        self._layout = layout

    # ------------------------------------------------------------------------------------------ building

    @classmethod
    def from_boosters(
        cls, boosters: Mapping[str, xgboost.Booster], feature_names: Sequence[str]
    ) -> TreeEnsembleSet:
        """One ensemble per option id, from trained boosters (their JSON model is read, not their state)."""
        return cls.from_model_json(_json_models(boosters), feature_names)

    @classmethod
    def from_model_json(
        cls, models: Mapping[str, bytes | str | Mapping[str, Any]], feature_names: Sequence[str]
    ) -> TreeEnsembleSet:
        """One ensemble per option id, from XGBoost JSON models (bytes, text or the decoded document).

        Every model is checked before anything is built; unsupported models (categorical splits,
        multi-output, objectives without a single margin, non-gbtree boosters, trees deeper than
        :data:`MAX_TREE_DEPTH`, features that disagree with ``feature_names``) are all reported in one
        :class:`~precisionpain.errors.ModelError` (a :class:`~precisionpain.errors.ModelCatalogMismatchError`
        when the only problems are feature-list disagreements).
        """
        names = tuple(feature_names)
        parsed = _parse_all(models, names)
        return cls([b.option_id for b in parsed], names, build_layout(parsed, len(names)))

    @classmethod
    def from_option_column_boosters(
        cls,
        boosters: Mapping[str, xgboost.Booster],
        feature_names: Sequence[str],
        option_ids: Sequence[str],
        separator: str = "\x1f",
    ) -> TreeEnsembleSet:
        """Boosters whose input is the features followed by one 0/1 column per option (an S-learner's), laid out
        so that ONE row per patient, :func:`option_column_rows`, explains every option exactly.

        For each booster ``name`` the set holds ``name`` (all its trees; on the row every option column is 0)
        and, per option, ``name + separator + option``: the trees that split on that option's column, once with
        the split moved to a column that is 1 in the row and once with their leaves negated. A tree that does
        not split on an option's column decides alike whether that column is 0 or 1, so option ``o``'s margin
        and contributions are ``name``'s plus ``name + separator + o``'s: those of the booster on the row with
        ``o``'s column 1 and the others 0, exactly (tree SHAP is linear in the leaves), at the cost of the trees
        that split on an option column twice more instead of every tree once per option. The output's feature
        axis is the features, then the zero and the one block of the option columns; their contributions are
        the option's (an S-learner folds them into the base value)."""
        names = tuple(feature_names)
        options = tuple(option_ids)
        p, k = len(names), len(options)
        column_names = [f"{separator}{side}{separator}{o}" for side in ("0", "1") for o in options]
        parsed = _parse_all(_json_models(boosters), (*names, *column_names[:k]))
        out: list[ParsedBooster] = []
        for booster in parsed:
            out.extend(option_parts(booster, p, options, separator))
        return cls([b.option_id for b in out], (*names, *column_names), build_layout(out, p + 2 * k))

    # ------------------------------------------------------------------------------------------ properties

    @property
    def option_ids(self) -> tuple[str, ...]:
        """Option ids in output order (the second axis of contributions and margins)."""
        return self._option_ids

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Feature names in input and output order (the last axis of X and of contributions)."""
        return self._feature_names

    @property
    def base_values(self) -> npt.NDArray[np.float64]:
        """(k,) SHAP base value per option: base margin plus the cover-weighted mean output of its trees."""
        return self._layout.base_values.copy()

    @property
    def n_trees(self) -> dict[str, int]:
        """Number of trees per option."""
        return {o: int(n) for o, n in zip(self._option_ids, self._layout.n_trees, strict=True)}

    @property
    def max_depth(self) -> int:
        """Depth of the deepest tree over all options."""
        return self._layout.max_depth

    def __repr__(self) -> str:
        trees = int(self._layout.n_trees.sum())
        return (
            f"TreeEnsembleSet(options={len(self._option_ids)}, features={len(self._feature_names)}, "
            f"trees={trees}, max_depth={self._layout.max_depth})"
        )

    # ------------------------------------------------------------------------------------------ compute

    def explain(self, X: npt.ArrayLike) -> TreeShapResult:
        """SHAP contributions (n, k, p) and margins (n, k) of every option for every row of ``X`` (n, p)."""
        xx = self._prepare(X)
        layout = self._layout
        n = xx.shape[0]
        phi = np.zeros((n, layout.n_options, layout.row_width), dtype=np.float64)
        margins = np.empty((n, layout.n_options), dtype=np.float64)
        margins[:] = layout.constant_margins
        if n and layout.groups:
            kernels = load_kernels(quadrature_size(layout.max_depth))
            for g in layout.groups:
                kernels.explain_group(
                    xx, phi, margins, g.feature, g.split_index, g.threshold, g.prev_edge, g.has_prev,
                    g.pair_has_prev, g.merged_z, g.leaf_value, g.bottom_mean, g.option, g.depth,
                )  # fmt: skip
        return TreeShapResult(np.ascontiguousarray(phi[:, :, : layout.n_features]), margins)

    def margins(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Margins (n, k) of every option for every row of ``X`` (n, p): prediction only, no contributions."""
        xx = self._prepare(X)
        layout = self._layout
        margins = np.empty((xx.shape[0], layout.n_options), dtype=np.float64)
        margins[:] = layout.constant_margins
        if xx.shape[0] and layout.groups:
            kernels = load_kernels(quadrature_size(layout.max_depth))
            for g in layout.groups:
                kernels.margins_group(
                    xx, margins, g.split_index, g.threshold, g.leaf_value, g.option, g.depth
                )
        return margins

    def warmup(self) -> None:
        """Compile the kernels and run them once (one all-missing row), so the first request is fast."""
        row = np.full((1, len(self._feature_names)), np.nan)
        self.explain(row)
        self.margins(row)

    def _prepare(self, X: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Validate ``X`` (n, p) and return the doubled float32 row (n, 2 * row_width) the kernels read."""
        p = len(self._feature_names)
        try:
            arr = np.asarray(X)
        except (TypeError, ValueError):
            arr = np.asarray(None)
        if (
            arr.ndim != 2
            or arr.shape[1] != p
            or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool)
        ):
            shape = "x".join(str(s) for s in arr.shape) if arr.ndim else "scalar"
            received = f"{arr.ndim}-d array of shape {shape}, dtype {arr.dtype}"
            raise ValidationError(
                "X", [Violation("X", f"must be a 2-d numeric array with {p} columns", received)]
            )
        if np.iscomplexobj(arr):
            raise ValidationError("X", [Violation("X", "must be real-valued", "complex numbers")])
        with np.errstate(over="ignore"):  # values beyond float32 become inf and are reported below
            x32 = arr.astype(np.float32)
        infinite = np.isinf(x32)
        if infinite.any():
            columns = np.flatnonzero(infinite.any(axis=0))
            raise ValidationError(
                "X",
                [
                    Violation(
                        f"X[:, {self._feature_names[c]!r}]",
                        "must be finite or NaN (missing); float32 overflow counts as infinite",
                        f"infinite number in {int(infinite[:, c].sum())} row(s)",
                    )
                    for c in columns
                ],
            )
        # The doubled row: NaN -> +inf in the first half (a missing value goes right), -inf in the second
        # (goes left); padding columns are missing. See precisionpain.explain.tree_layout.
        width = self._layout.row_width
        xx = np.empty((arr.shape[0], 2 * width), dtype=np.float32)
        missing = np.isnan(x32)
        xx[:, :p] = np.where(missing, np.float32(np.inf), x32)
        xx[:, p:width] = np.inf
        xx[:, width : width + p] = np.where(missing, np.float32(-np.inf), x32)
        xx[:, width + p :] = -np.inf
        return xx
