"""TreeEnsembleSet gives exact path-dependent TreeSHAP values and the boosters' margins."""

from __future__ import annotations

import json

import numpy as np
import pytest

from precisionpain.explain.treeshap import TreeEnsembleSet
from tests.unit.explain.treeshap_helpers import (
    brute_force_shap,
    labels,
    make_data,
    shap_float64,
    train_booster,
    xgb,
    xgb_contribs,
    xgb_margin,
)

N_FEATURES = 7
UNUSED = 5  # a constant column: no tree can split on it
NAMES = [f"feature_{i}" for i in range(N_FEATURES)]


def _booster(
    objective: str, depth: int, *, seed: int = 0, rounds: int = 12
) -> tuple[xgb.Booster, np.ndarray]:
    X, logit = make_data(600, N_FEATURES, seed=seed, constant_columns=[UNUSED])
    booster = train_booster(
        X, labels(logit, objective, seed), objective=objective, max_depth=depth, rounds=rounds
    )
    X_test, _ = make_data(300, N_FEATURES, seed=seed + 100, constant_columns=[UNUSED])
    return booster, X_test


def _tree_depths(booster: xgb.Booster) -> list[int]:
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    depths = []
    for tree in trees:
        left, right = tree["left_children"], tree["right_children"]
        stack, deepest = [(0, 0)], 0
        while stack:
            node, d = stack.pop()
            deepest = max(deepest, d)
            if left[node] >= 0:
                stack += [(left[node], d + 1), (right[node], d + 1)]
        depths.append(deepest)
    return depths


@pytest.mark.parametrize("objective", ["binary:logistic", "reg:squarederror"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_matches_shap_and_xgboost_on_every_row(objective: str, depth: int) -> None:
    booster, X = _booster(objective, depth, seed=depth)
    assert max(_tree_depths(booster)) == depth
    ensembles = TreeEnsembleSet.from_boosters({"option": booster}, NAMES)
    contributions, margins = ensembles.explain(X)
    assert contributions.shape == (X.shape[0], 1, N_FEATURES)
    assert margins.shape == (X.shape[0], 1)

    phi = contributions[:, 0, :]
    # shap's own float64 TreeSHAP: agreement to float64 rounding.
    np.testing.assert_allclose(phi, shap_float64(booster, X), rtol=0, atol=1e-10)
    # XGBoost's pred_contribs (and so shap.TreeExplainer's default path), computed in float32.
    reference = xgb_contribs(booster, X)
    np.testing.assert_allclose(phi, reference[:, :-1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ensembles.base_values, reference[0, -1], rtol=0, atol=1e-6)
    # Additivity against the booster's own margin, and exactly against ours.
    np.testing.assert_allclose(margins[:, 0], xgb_margin(booster, X), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ensembles.base_values + contributions.sum(axis=2), margins, rtol=0, atol=1e-12)
    # A feature no tree uses gets exactly zero; prediction-only margins are the same numbers.
    assert np.all(phi[:, UNUSED] == 0.0)
    np.testing.assert_array_equal(ensembles.margins(X), margins)


@pytest.mark.parametrize("depth", [3, 5])
def test_equals_shapley_values_from_the_definition(depth: int) -> None:
    # Few features and deep trees: features repeat along paths, which the merge logic must handle.
    X, logit = make_data(400, 4, seed=depth, p_missing=0.25)
    booster = train_booster(X, labels(logit, "binary:logistic", depth), max_depth=depth, rounds=6)
    X_test, _ = make_data(40, 4, seed=depth + 7, p_missing=0.25)
    X_test[0] = np.nan  # an all-missing row
    names = [f"f{i}" for i in range(4)]
    contributions, _ = TreeEnsembleSet.from_boosters({"o": booster}, names).explain(X_test)
    np.testing.assert_allclose(contributions[:, 0, :], brute_force_shap(booster, X_test), rtol=0, atol=1e-12)


def test_single_leaf_trees_only_shift_the_base_value() -> None:
    X, logit = make_data(500, N_FEATURES, seed=3)
    y = labels(logit, "binary:logistic", 3)
    booster = train_booster(X, y, max_depth=4, rounds=5)
    # Continue with an impossible split gain: the next trees are single leaves with a non-zero value.
    booster = xgb.train(
        {"objective": "binary:logistic", "nthread": 1, "gamma": 1e9, "tree_method": "hist"},
        xgb.DMatrix(X, label=y),
        num_boost_round=3,
        xgb_model=booster,
    )
    assert _tree_depths(booster)[-3:] == [0, 0, 0]
    ensembles = TreeEnsembleSet.from_boosters({"o": booster}, NAMES)
    X_test, _ = make_data(200, N_FEATURES, seed=30)
    contributions, margins = ensembles.explain(X_test)
    np.testing.assert_allclose(contributions[:, 0, :], shap_float64(booster, X_test), rtol=0, atol=1e-10)
    np.testing.assert_allclose(margins[:, 0], xgb_margin(booster, X_test), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ensembles.base_values, xgb_contribs(booster, X_test)[0, -1], rtol=0, atol=1e-6)


def test_a_booster_of_single_leaves_has_no_contributions() -> None:
    X, logit = make_data(200, 3, seed=4)
    booster = train_booster(X, labels(logit, "reg:squarederror", 4), objective="reg:squarederror", gamma=1e9)
    assert set(_tree_depths(booster)) == {0}
    ensembles = TreeEnsembleSet.from_boosters({"o": booster}, ["a", "b", "c"])
    contributions, margins = ensembles.explain(X[:20])
    assert np.all(contributions == 0.0)
    np.testing.assert_allclose(margins[:, 0], xgb_margin(booster, X[:20]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(margins[:, 0], ensembles.base_values[0], rtol=0, atol=1e-12)


def test_deep_trees_use_the_larger_quadrature() -> None:
    X, logit = make_data(3000, 6, seed=8, p_missing=0.1)
    booster = train_booster(
        X, labels(logit, "reg:squarederror", 8), objective="reg:squarederror", max_depth=8, rounds=3
    )
    assert max(_tree_depths(booster)) > 6
    X_test, _ = make_data(100, 6, seed=80)
    contributions, margins = TreeEnsembleSet.from_boosters(
        {"o": booster}, [f"f{i}" for i in range(6)]
    ).explain(X_test)
    np.testing.assert_allclose(contributions[:, 0, :], shap_float64(booster, X_test), rtol=0, atol=1e-10)
    np.testing.assert_allclose(margins[:, 0], xgb_margin(booster, X_test), rtol=0, atol=1e-6)


def test_float32_threshold_semantics_at_the_split_values() -> None:
    # eta=1 makes neighbouring leaves differ a lot, so a row on the wrong side of a split shows in the margin.
    X, logit = make_data(400, 4, seed=11, p_missing=0.0)
    booster = train_booster(
        X, labels(logit, "reg:squarederror", 11), objective="reg:squarederror", max_depth=4, eta=1.0
    )
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    rows = []
    for tree in trees:
        for node, left in enumerate(tree["left_children"]):
            if left < 0:
                continue
            feature = tree["split_indices"][node]
            threshold = np.float32(tree["split_conditions"][node])
            below = np.nextafter(threshold, np.float32(-np.inf))
            # The float64 just below the float32 threshold rounds up to it: XGBoost sends it right.
            just_below_in_float64 = np.nextafter(np.float64(threshold), -np.inf)
            for value in (
                threshold,
                below,
                np.nextafter(threshold, np.float32(np.inf)),
                just_below_in_float64,
            ):
                row = np.zeros(4)
                row[feature] = value
                rows.append(row)
    X_test = np.asarray(rows)
    ensembles = TreeEnsembleSet.from_boosters({"o": booster}, ["a", "b", "c", "d"])
    contributions, margins = ensembles.explain(X_test)
    np.testing.assert_allclose(margins[:, 0], xgb_margin(booster, X_test), rtol=0, atol=1e-5)
    np.testing.assert_allclose(contributions[:, 0, :], shap_float64(booster, X_test), rtol=0, atol=1e-10)


def test_several_options_at_once_equal_each_option_alone() -> None:
    boosters = {
        "codeine": _booster("binary:logistic", 3, seed=21)[0],
        "physical_therapy": _booster("reg:squarederror", 5, seed=22)[0],
        "pregabalin": _booster("binary:logistic", 1, seed=23, rounds=30)[0],
    }
    X, _ = make_data(150, N_FEATURES, seed=24, constant_columns=[UNUSED])
    together = TreeEnsembleSet.from_boosters(boosters, NAMES)
    assert together.option_ids == ("codeine", "physical_therapy", "pregabalin")
    assert together.n_trees == {"codeine": 12, "physical_therapy": 12, "pregabalin": 30}
    contributions, margins = together.explain(X)
    for k, (option_id, booster) in enumerate(boosters.items()):
        alone = TreeEnsembleSet.from_boosters({option_id: booster}, NAMES)
        phi_alone, margin_alone = alone.explain(X)
        np.testing.assert_allclose(contributions[:, k, :], phi_alone[:, 0, :], rtol=0, atol=1e-13)
        np.testing.assert_allclose(margins[:, k], margin_alone[:, 0], rtol=0, atol=1e-13)
        np.testing.assert_allclose(
            contributions[:, k, :], xgb_contribs(booster, X)[:, :-1], rtol=0, atol=1e-6
        )
        assert together.base_values[k] == alone.base_values[0]


def test_one_row_at_a_time_equals_the_batch_bit_for_bit() -> None:
    booster, X = _booster("binary:logistic", 5, seed=31)
    ensembles = TreeEnsembleSet.from_boosters({"o": booster}, NAMES)
    contributions, margins = ensembles.explain(X[:50])
    for i in range(50):
        phi_i, margin_i = ensembles.explain(X[i : i + 1])
        np.testing.assert_array_equal(phi_i[0], contributions[i])
        np.testing.assert_array_equal(margin_i[0], margins[i])


def test_input_dtype_does_not_matter_beyond_float32_rounding() -> None:
    booster, X = _booster("reg:squarederror", 4, seed=41)
    ensembles = TreeEnsembleSet.from_boosters({"o": booster}, NAMES)
    from_float64, _ = ensembles.explain(X)
    from_float32, _ = ensembles.explain(X.astype(np.float32))
    from_lists, _ = ensembles.explain(X.tolist())
    np.testing.assert_array_equal(from_float64, from_float32)
    np.testing.assert_array_equal(from_float64, from_lists)
    empty, empty_margins = ensembles.explain(np.empty((0, N_FEATURES)))
    assert empty.shape == (0, 1, N_FEATURES) and empty_margins.shape == (0, 1)


def test_json_models_give_the_same_set_as_boosters() -> None:
    booster, X = _booster("binary:logistic", 3, seed=51)
    raw = booster.save_raw("json")
    expected = TreeEnsembleSet.from_boosters({"o": booster}, NAMES).explain(X)
    for model in (bytes(raw), bytes(raw).decode(), json.loads(raw)):
        got = TreeEnsembleSet.from_model_json({"o": model}, NAMES).explain(X)
        np.testing.assert_array_equal(got.contributions, expected.contributions)
        np.testing.assert_array_equal(got.margins, expected.margins)


def test_base_score_links_follow_the_objective() -> None:
    X, logit = make_data(300, 4, seed=61)
    names = ["a", "b", "c", "d"]
    y_count = np.round(np.exp(0.3 * np.nan_to_num(logit)))
    cases = {
        "binary:logistic": labels(logit, "binary:logistic", 61),
        "binary:logitraw": labels(logit, "binary:logistic", 61),
        "count:poisson": y_count,
        "reg:gamma": y_count + 1.0,
        "reg:absoluteerror": labels(logit, "reg:squarederror", 61),
    }
    for objective, y in cases.items():
        booster = train_booster(X, y, objective=objective, max_depth=3, rounds=4)
        ensembles = TreeEnsembleSet.from_boosters({"o": booster}, names)
        contributions, margins = ensembles.explain(X[:50])
        np.testing.assert_allclose(
            margins[:, 0], xgb_margin(booster, X[:50]), rtol=0, atol=1e-5, err_msg=objective
        )
        np.testing.assert_allclose(
            contributions[:, 0, :],
            xgb_contribs(booster, X[:50])[:, :-1],
            rtol=0,
            atol=1e-6,
            err_msg=objective,
        )


def test_boosted_random_forests_sum_their_parallel_trees() -> None:
    X, logit = make_data(500, 4, seed=71)
    booster = train_booster(
        X, labels(logit, "binary:logistic", 71), max_depth=4, rounds=3, num_parallel_tree=4, subsample=0.7
    )
    ensembles = TreeEnsembleSet.from_boosters({"o": booster}, ["a", "b", "c", "d"])
    assert ensembles.n_trees == {"o": 12}
    contributions, margins = ensembles.explain(X[:100])
    # (shap's float64 path returns one column per parallel tree here, so the definition is the reference.)
    np.testing.assert_allclose(
        contributions[:30, 0, :], brute_force_shap(booster, X[:30]), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        contributions[:, 0, :], xgb_contribs(booster, X[:100])[:, :-1], rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(margins[:, 0], xgb_margin(booster, X[:100]), rtol=0, atol=1e-6)


def _repeat_heights(booster: xgb.Booster) -> set[int]:
    """Heights (levels above the bottom, 0 = bottom level of the tree's depth) of splits that repeat a
    feature of an ancestor split."""
    heights: set[int] = set()
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    for tree, depth in zip(trees, _tree_depths(booster), strict=True):
        left, right, feature = tree["left_children"], tree["right_children"], tree["split_indices"]
        stack: list[tuple[int, int, frozenset[int]]] = [(0, 0, frozenset())]
        while stack:
            node, level, above = stack.pop()
            if left[node] < 0:
                continue
            if feature[node] in above:
                heights.add(depth - 1 - level)
            below = above | {feature[node]}
            stack += [(left[node], level + 1, below), (right[node], level + 1, below)]
    return heights


def test_repeated_features_at_every_level_on_many_random_boosters() -> None:
    # Few features, deep trees: splits repeat an ancestor's feature at the bottom level, the level above it
    # and higher up, which exercises every branch of the kernels.
    seen: set[int] = set()
    for seed in range(12):
        depth = 3 + seed % 4
        n_features = 3 + seed % 3
        X, logit = make_data(500, n_features, seed=200 + seed, p_missing=0.15 * (seed % 3))
        objective = "binary:logistic" if seed % 2 else "reg:squarederror"
        booster = train_booster(
            X, labels(logit, objective, seed), objective=objective, max_depth=depth, rounds=4
        )
        seen |= _repeat_heights(booster)
        X_test, _ = make_data(60, n_features, seed=300 + seed, p_missing=0.2)
        names = [f"f{i}" for i in range(n_features)]
        contributions, margins = TreeEnsembleSet.from_boosters({"o": booster}, names).explain(X_test)
        np.testing.assert_allclose(contributions[:, 0, :], shap_float64(booster, X_test), rtol=0, atol=1e-10)
        np.testing.assert_allclose(margins[:, 0], xgb_margin(booster, X_test), rtol=0, atol=1e-6)
    assert {0, 1, 2, 3} <= seen
