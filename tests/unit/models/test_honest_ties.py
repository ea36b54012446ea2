"""Honest ties from the model's own replicates: patients whose top two options have the same true chance come back
with both in one group ("equally good choices"), a clearly worse option is not in it, and the probability of being
best is shared between the tied options instead of going to whichever estimate happens to be higher."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.special import expit

from precisionpain.benefit_harm import order_options, probability_best
from precisionpain.models import TreatmentResponseModel
from precisionpain.schema import RankingPolicy
from tests.unit.models.models_testdata import FAST

ARMS = ("tie_a", "tie_b", "worse")


def _patients(n: int, seed: int) -> dict[str, Any]:
    """tie_a and tie_b share one true response function; "worse" is 0.4 lower on the probability scale."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    p_top = expit(1.0 + 0.6 * X[:, 0])
    p_true = np.column_stack([p_top, p_top, np.clip(p_top - 0.4, 0.02, None)])
    t = rng.integers(0, 3, size=n)
    y = (rng.random(n) < p_true[np.arange(n), t]).astype(int)
    return {"X": X, "t": np.asarray(ARMS, dtype=object)[t], "y": y, "p_true": p_true}


@pytest.fixture(scope="module")
def model() -> TreatmentResponseModel:
    train = _patients(6000, 11)
    return TreatmentResponseModel(**FAST).fit(train["X"], train["t"], train["y"])


def test_near_equal_top_options_come_back_as_one_group(model: TreatmentResponseModel) -> None:
    test = _patients(300, 12)
    p = model.predict_outcomes(test["X"])
    reps = model.predict_replicates(test["X"])
    assert reps.shape == (300, 3, FAST["n_folds"])
    tied = worse_in = 0
    shares = []
    for i in range(300):
        ordering = order_options(p[i], reps[i], [None] * 3, RankingPolicy.net_benefit_only, ids=list(model.options_))
        first = {model.options_[j] for j, g in zip(ordering.order, ordering.groups, strict=True) if g == 1}
        tied += {"tie_a", "tie_b"} <= first
        worse_in += "worse" in first
        best = probability_best(p[i], reps[i], "jackknife")
        shares.append(best[[model.options_.index("tie_a"), model.options_.index("tie_b")]])
    assert tied / 300 >= 0.9, tied
    assert worse_in / 300 <= 0.1, worse_in
    shares_arr = np.asarray(shares)
    # the tied pair holds nearly all the probability of being best, and neither takes it all as a rule
    assert shares_arr.sum(axis=1).mean() > 0.95
    assert 0.25 < shares_arr[:, 0].mean() < 0.75
    assert (shares_arr.max(axis=1) < 0.95).mean() > 0.5
