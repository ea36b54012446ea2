"""Small generic (non-pain) datasets with known treatment effects, shared by the model tests."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

ARMS = ("arm_a", "arm_b", "arm_c")

# small, quick boosters; n_jobs=1 because the machine's cores are shared
FAST: dict[str, Any] = {
    "n_estimators": 300,
    "learning_rate": 0.1,
    "early_stopping_rounds": 20,
    "n_folds": 4,
    "n_jobs": 1,
    "random_state": 0,
}


def simulate_hte(n: int, seed: int, *, confounding: float = 0.0, missing: float = 0.1) -> dict[str, Any]:
    """Three arms; the best arm depends on x0 (arm_b for x0 > 0, arm_c for x0 < 0, arm_a in between).

    True response probabilities (before missingness; a missing x counts as 0 in the truth):
    arm_a: sigmoid(-0.3 + 0.5 x1); arm_b: adds +1.4 x0; arm_c: adds -1.4 x0 - 0.2.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 4] = (X[:, 4] > 0).astype(float)
    X[rng.random(X.shape) < missing] = np.nan
    Z = np.nan_to_num(X)
    base = -0.3 + 0.5 * Z[:, 1]
    p_true = expit(np.column_stack([base, base + 1.4 * Z[:, 0], base - 1.4 * Z[:, 0] - 0.2]))
    logits = confounding * np.column_stack([np.zeros(n), Z[:, 1], -Z[:, 1]])
    e = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    t = (e.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    y = (rng.random(n) < p_true[np.arange(n), t]).astype(int)
    frame = pd.DataFrame(X, columns=["x0", "x1", "x2", "x3", "flag"])
    return {"X": frame, "t": np.asarray(ARMS, dtype=object)[t], "codes": t, "y": y, "p_true": p_true, "e": e}
