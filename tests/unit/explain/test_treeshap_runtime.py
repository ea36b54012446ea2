"""Runtime contract: concurrent calls, nothing at import time, immutable state."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from precisionpain.explain.treeshap import TreeEnsembleSet
from tests.unit.explain.treeshap_helpers import labels, make_data, train_booster

NAMES = [f"f{i}" for i in range(6)]


@pytest.fixture(scope="module")
def ensembles() -> TreeEnsembleSet:
    boosters = {}
    for k, (objective, depth) in enumerate(
        [("binary:logistic", 5), ("reg:squarederror", 3), ("binary:logistic", 6)]
    ):
        X, logit = make_data(800, 6, seed=k)
        boosters[f"option_{k}"] = train_booster(
            X, labels(logit, objective, k), objective=objective, max_depth=depth, rounds=20
        )
    return TreeEnsembleSet.from_boosters(boosters, NAMES)


def test_concurrent_calls_give_the_sequential_results(ensembles: TreeEnsembleSet) -> None:
    X, _ = make_data(64, 6, seed=99)
    expected = [ensembles.explain(X[i : i + 1]) for i in range(len(X))]
    expected_margins = ensembles.margins(X)

    def work(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        contributions, margins = ensembles.explain(X[i : i + 1])
        return contributions, margins, ensembles.margins(X)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, [i % len(X) for i in range(4 * len(X))]))
    for i, (contributions, margins, all_margins) in enumerate(results):
        np.testing.assert_array_equal(contributions, expected[i % len(X)].contributions)
        np.testing.assert_array_equal(margins, expected[i % len(X)].margins)
        np.testing.assert_array_equal(all_margins, expected_margins)


def test_importing_compiles_nothing() -> None:
    code = (
        "import sys; import precisionpain.explain.treeshap as t; "
        "print('numba' in sys.modules, 'xgboost' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False"]


def test_warmup_and_properties(ensembles: TreeEnsembleSet) -> None:
    ensembles.warmup()
    assert ensembles.option_ids == ("option_0", "option_1", "option_2")
    assert ensembles.feature_names == tuple(NAMES)
    assert ensembles.max_depth == 6
    base = ensembles.base_values
    base[:] = 0.0  # a copy: the set is unchanged
    assert np.all(ensembles.base_values != 0.0)
    assert "options=3" in repr(ensembles)
