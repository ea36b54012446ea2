"""Boosters over the features and one 0/1 column per option (an S-learner's), explained on one row per patient:
each option's margin and contributions equal the booster's on the row with that option's column set."""

from __future__ import annotations

import numpy as np
import pytest

from precisionpain.explain.treeshap import TreeEnsembleSet, option_column_rows
from tests.unit.explain.treeshap_helpers import make_data, shap_float64, xgb

K = 4
OPTIONS = tuple(f"option_{j}" for j in range(K))


def _s_booster(seed: int, depth: int) -> tuple[xgb.Booster, np.ndarray]:
    """A booster whose trees split on the option columns, often on two of them along one path."""
    X, logit = make_data(3000, 5, seed=seed)
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, K, size=X.shape[0])
    effect = np.array([0.0, 1.0, -1.2, 0.6])[codes] * (1 + np.nan_to_num(X[:, 0]))
    y = (rng.random(X.shape[0]) < 1 / (1 + np.exp(-(logit + effect)))).astype(float)
    design = np.concatenate([X, np.eye(K)[codes]], axis=1)
    params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.3, "nthread": 1, "seed": seed}
    booster = xgb.train(params, xgb.DMatrix(design, label=y, missing=np.nan), 30)
    return booster, X


def _stacked(X: np.ndarray, j: int) -> np.ndarray:
    onehot = np.zeros((X.shape[0], K))
    onehot[:, j] = 1.0
    return np.concatenate([X, onehot], axis=1)


@pytest.mark.parametrize(("seed", "depth"), [(1, 3), (2, 5)])
def test_every_option_equals_the_booster_on_its_own_row(seed: int, depth: int) -> None:
    booster, X = _s_booster(seed, depth)
    names = [f"x{i}" for i in range(X.shape[1])]
    split = TreeEnsembleSet.from_option_column_boosters({"b": booster}, names, OPTIONS)
    assert split.option_ids == ("b", *(f"b\x1f{o}" for o in OPTIONS))
    # trees that split on an option column are laid out twice more, the rest once
    n_trees = split.n_trees
    assert n_trees["b"] == 30 and all(n_trees[f"b\x1f{o}"] % 2 == 0 for o in OPTIONS)
    assert sum(n_trees[f"b\x1f{o}"] for o in OPTIONS) > 0
    rows = X[:50]
    got = split.explain(option_column_rows(rows, K))
    p = X.shape[1]
    # the reference: the same booster explained row by row with option j's column set (that path is checked
    # against shap and brute force in test_treeshap_exactness), and shap's own float64 TreeSHAP
    whole = TreeEnsembleSet.from_boosters({"b": booster}, [*names, *(f"o{j}" for j in range(K))])
    for j in range(K):
        own = _stacked(rows, j)
        reference = whole.explain(own)
        mine = got.contributions[:, 0] + got.contributions[:, 1 + j]
        np.testing.assert_allclose(got.margins[:, 0] + got.margins[:, 1 + j], reference.margins[:, 0], atol=1e-9)
        np.testing.assert_allclose(mine[:, :p], reference.contributions[:, 0, :p], atol=1e-9)
        np.testing.assert_allclose(mine[:, :p], shap_float64(booster, own)[:, :p], atol=1e-6)
        # what the option columns get (an S-learner's base value takes it) is the same in total
        np.testing.assert_allclose(
            mine[:, p:].sum(axis=1), reference.contributions[:, 0, p:].sum(axis=1), atol=1e-9
        )
        base = split.base_values[0] + split.base_values[1 + j]
        assert abs(base - whole.base_values[0]) < 1e-9
        margin = booster.predict(xgb.DMatrix(own, missing=np.nan), output_margin=True)
        np.testing.assert_allclose(got.margins[:, 0] + got.margins[:, 1 + j], margin, atol=1e-5)


def test_margins_alone_agree_with_the_explanation() -> None:
    booster, X = _s_booster(3, 4)
    split = TreeEnsembleSet.from_option_column_boosters({"b": booster}, [f"x{i}" for i in range(5)], OPTIONS)
    rows = option_column_rows(X[:40], K)
    np.testing.assert_allclose(split.margins(rows), split.explain(rows).margins, atol=1e-12)


def test_a_booster_without_the_option_columns_is_refused() -> None:
    booster, _ = _s_booster(4, 3)
    with pytest.raises(Exception, match="features"):
        TreeEnsembleSet.from_option_column_boosters({"b": booster}, [f"x{i}" for i in range(5)], OPTIONS[:2])
