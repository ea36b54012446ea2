"""The estimate of E[true p | recorded inputs] that every evaluation's second interval coverage is measured
against: cross-fitted (no row predicted by a model that saw it) and close to the expectation when the truth is
that expectation plus effects the inputs do not record."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from precisionpain.models.evaluation import expected_truth


def test_the_estimate_recovers_the_expected_probability_under_unrecorded_noise() -> None:
    rng = np.random.default_rng(3)
    n = 6000
    X = rng.normal(size=(n, 5))
    X[rng.random(X.shape) < 0.1] = np.nan
    Z = np.nan_to_num(X)
    expected = np.column_stack([expit(0.8 * Z[:, 0]), expit(-0.5 + 0.6 * Z[:, 1] - 0.4 * Z[:, 2])])
    # each patient's own probability: the expectation moved by an effect no input records
    individual = np.clip(expected + rng.normal(scale=0.12, size=expected.shape), 0.0, 1.0)
    rows, estimate = expected_truth(X, individual, rows=4000, seed=1, nthread=1)
    assert rows.shape == (4000,) and np.all(np.diff(rows) > 0) and estimate.shape == (4000, 2)
    error_estimate = np.sqrt(np.mean((estimate - expected[rows]) ** 2))
    error_individual = np.sqrt(np.mean((individual[rows] - expected[rows]) ** 2))
    assert error_estimate < 0.5 * error_individual, (error_estimate, error_individual)
