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


def test_the_truth_floor_is_what_an_exactly_right_model_scores_against_scattered_truth() -> None:
    from precisionpain.models.metrics import ece_against_truth, ece_truth_noise_floor

    rng = np.random.default_rng(4)
    for n, sd in ((1000, 0.16), (4000, 0.16), (1000, 0.08)):
        p = rng.uniform(0.2, 0.7, size=n)  # a model exactly right in expectation
        observed = [ece_against_truth(p, p + rng.normal(scale=sd, size=n)) for _ in range(100)]
        floor = ece_truth_noise_floor(p, sd, random_state=1)
        assert abs(floor - np.mean(observed)) < 0.1 * floor, (n, sd)
        # about 0.8 sd / sqrt(patients per bin)
        assert abs(floor - 0.8 * sd / np.sqrt(n / 10)) < 0.15 * floor, (n, sd)
    assert ece_truth_noise_floor(rng.uniform(size=50), 0.0) == 0.0


def test_the_residual_scatter_is_measured_around_the_estimate_of_the_expectation() -> None:
    from precisionpain.models.evaluation import residual_sd

    rng = np.random.default_rng(5)
    n = 8000
    X = rng.normal(size=(n, 3))
    expected = np.column_stack([expit(X[:, 0]), expit(-X[:, 1])])
    individual = expected + rng.normal(scale=[0.05, 0.15], size=expected.shape)
    found = residual_sd(individual, expected_truth(X, individual, rows=n, seed=2, nthread=1))
    assert found is not None and found.shape == (2,)
    assert 0.05 <= found[0] < 0.065 and 0.15 <= found[1] < 0.17, found
    assert residual_sd(None, None) is None
