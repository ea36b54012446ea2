"""Small XGBoost boosters and independent references for the TreeSHAP tests (imported by the tests).

References, from most to least independent of the implementation under test:
- ``brute_force_shap``: Shapley values by enumerating every coalition of the features a booster uses, with
  the path-dependent value function of Lundberg et al. (2018, Algorithm 1) evaluated on the JSON trees.
- ``shap_float64``: shap's own C++ TreeSHAP in double precision (``TreeExplainer`` otherwise delegates to
  XGBoost's ``pred_contribs``).
- ``xgb_contribs``: XGBoost's ``pred_contribs`` (float32 arithmetic).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import xgboost as xgb  # after OMP_WAIT_POLICY


def make_data(
    n_rows: int, n_features: int, *, seed: int, p_missing: float = 0.2, constant_columns: Sequence[int] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Features with NaN for missing values and a signal with interactions; returns (X, logit)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features))
    logit = X[:, 0] - 0.8 * X[:, 1] * X[:, 2 % n_features] + 0.5 * np.sin(2 * X[:, 3 % n_features])
    X[rng.random(X.shape) < p_missing] = np.nan
    for c in constant_columns:
        X[:, c] = 1.0
    return X, logit


def train_booster(
    X: np.ndarray,
    y: np.ndarray,
    *,
    objective: str = "binary:logistic",
    rounds: int = 10,
    seed: int = 0,
    **params: Any,
) -> xgb.Booster:
    """A small hist booster; single-threaded as the shared machine requires."""
    full = {"objective": objective, "nthread": 1, "seed": seed, "eta": 0.3}
    if params.get("booster", "gbtree") != "gblinear":
        full["tree_method"] = "hist"
    full.update(params)
    return xgb.train(full, xgb.DMatrix(X, label=y), num_boost_round=rounds)


def labels(logit: np.ndarray, objective: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    if objective == "binary:logistic":
        return (rng.random(logit.shape[0]) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
    return logit + 0.3 * rng.normal(size=logit.shape[0])


def xgb_contribs(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    return np.asarray(booster.predict(xgb.DMatrix(X), pred_contribs=True), dtype=np.float64)


def xgb_margin(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    return np.asarray(booster.predict(xgb.DMatrix(X), output_margin=True), dtype=np.float64)


def shap_float64(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # shap's colour maps warn about a future matplotlib change on import
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap

    explainer = shap.TreeExplainer(booster)
    explainer.model.model_type = "internal"  # use shap's own float64 algorithm, not XGBoost's
    return np.asarray(explainer.shap_values(X, check_additivity=False), dtype=np.float64)


def _trees(booster: xgb.Booster) -> list[dict[str, Any]]:
    doc = json.loads(booster.save_raw("json"))
    return list(doc["learner"]["gradient_booster"]["model"]["trees"])


def brute_force_shap(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    """Exact path-dependent Shapley values from the definition (exponential in the features used)."""
    trees = _trees(booster)
    used = sorted(
        {
            int(f)
            for t in trees
            for f, lc in zip(t["split_indices"], t["left_children"], strict=True)
            if lc >= 0
        }
    )
    m = len(used)
    weights = [math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)]
    out = np.zeros(X.shape, dtype=np.float64)
    for r, row in enumerate(np.asarray(X, dtype=np.float32)):
        cache: dict[frozenset[int], float] = {}

        def value(
            S: frozenset[int], row: np.ndarray = row, cache: dict[frozenset[int], float] = cache
        ) -> float:
            if S not in cache:
                cache[S] = sum(_expected_value(t, row, S) for t in trees)
            return cache[S]

        for i in used:
            others = [f for f in used if f != i]
            total = 0.0
            for size in range(m):
                for subset in combinations(others, size):
                    S = frozenset(subset)
                    total += weights[size] * (value(S | {i}) - value(S))
            out[r, i] = total
    return out


def _expected_value(tree: dict[str, Any], row: np.ndarray, S: frozenset[int], node: int = 0) -> float:
    left = tree["left_children"][node]
    if left < 0:
        return float(np.float32(tree["split_conditions"][node]))
    right = tree["right_children"][node]
    feature = tree["split_indices"][node]
    if feature in S:
        x = row[feature]
        if np.isnan(x):
            go_left = bool(tree["default_left"][node])
        else:
            go_left = bool(x < np.float32(tree["split_conditions"][node]))
        return _expected_value(tree, row, S, left if go_left else right)
    cover = [
        float(np.float32(c))
        for c in (tree["sum_hessian"][node], tree["sum_hessian"][left], tree["sum_hessian"][right])
    ]
    return (
        _expected_value(tree, row, S, left) * cover[1] + _expected_value(tree, row, S, right) * cover[2]
    ) / cover[0]
