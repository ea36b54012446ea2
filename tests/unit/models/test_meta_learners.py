"""X- and DR-learners: the same contract as the other strategies, and the properties they exist for, on small
synthetic data whose truth is known."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from scipy.special import expit

from precisionpain.errors import ConfigError
from precisionpain.models import TreatmentResponseModel, boosting
from precisionpain.models.learners import dr_pseudo_outcomes
from tests.unit.models.models_testdata import FAST, simulate_hte

META = ("x_learner", "dr_learner")


def simulate_confounded_four_arms(n: int, seed: int, objective: str) -> dict[str, Any]:
    """Four arms, one given to ~60% of patients; the prognosis is wiggly, the effects against arm 0 are simple
    (linear in x0 or constant), and who gets arms 1 and 2 depends strongly on x1, which drives the prognosis."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    base = 1.5 * np.sin(2 * X[:, 1]) + X[:, 2] * X[:, 3] + 0.8 * np.abs(X[:, 4])
    effect = np.column_stack([np.zeros(n), 0.6 * X[:, 0], -0.6 * X[:, 0] + 0.2, np.full(n, 0.3)])
    logits = np.column_stack([np.full(n, 2.0), 1.2 * X[:, 1], -1.2 * X[:, 1], 0.8 * X[:, 2]])
    e = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    t = (e.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    mean = base[:, None] + effect
    if objective == "regression":
        truth = mean
        y = mean[np.arange(n), t] + rng.normal(size=n)
    else:
        truth = expit(mean - 0.3)
        y = (rng.random(n) < truth[np.arange(n), t]).astype(float)
    return {"X": X, "t": t, "y": y, "truth": truth}


def _pehe(model: TreatmentResponseModel, data: dict[str, Any]) -> float:
    effects = model.predict_effects(data["X"], reference=0)
    truth = data["truth"] - data["truth"][:, [0]]
    return float(np.sqrt(((effects - truth)[:, 1:] ** 2).mean()))


@pytest.mark.slow  # about 20 s per objective on a shared core
@pytest.mark.parametrize("objective", ["binary", "regression"])
def test_x_learner_beats_t_learner_on_a_confounded_unbalanced_four_arm_problem(objective: str) -> None:
    train = simulate_confounded_four_arms(4000, 1, objective)
    test = simulate_confounded_four_arms(2000, 2, objective)
    t = TreatmentResponseModel(objective=objective, **FAST).fit(train["X"], train["t"], train["y"])
    x = TreatmentResponseModel(objective=objective, strategy="x_learner", **FAST).fit(
        train["X"], train["t"], train["y"]
    )
    assert _pehe(x, test) < 0.75 * _pehe(t, test)


def test_dr_pseudo_outcomes_are_unbiased_under_the_known_propensity_whatever_the_outcome_model() -> None:
    data = simulate_hte(200_000, seed=5, confounding=1.5, missing=0.0)
    n, k = data["p_true"].shape
    for mu in (np.zeros((n, k)), np.full((n, k), 0.9), data["p_true"][:, ::-1]):  # three wrong outcome models
        phi = dr_pseudo_outcomes(mu, data["e"], data["codes"], data["y"], clip=1e-6)
        assert np.allclose(phi.mean(axis=0), data["p_true"].mean(axis=0), atol=0.012)
    naive = np.array([data["y"][data["codes"] == j].mean() for j in range(k)])
    assert np.abs(naive - data["p_true"].mean(axis=0)).max() > 0.05  # the confounding is real


@pytest.fixture(scope="module", params=[(s, o) for s in META for o in ("binary", "regression")])
def fitted_meta(request: pytest.FixtureRequest) -> tuple[TreatmentResponseModel, dict[str, Any]]:
    strategy, objective = request.param
    train = simulate_hte(1500, seed=1, confounding=1.0)
    y = train["y"] if objective == "binary" else train["y"] + np.nan_to_num(train["X"]["x2"].to_numpy())
    model = TreatmentResponseModel(strategy=strategy, objective=objective, **FAST).fit(
        train["X"], train["t"], y
    )
    return model, simulate_hte(300, seed=2)


def test_meta_learner_keeps_the_estimator_contract(
    fitted_meta: tuple[TreatmentResponseModel, dict[str, Any]],
) -> None:
    model, test = fitted_meta
    outcomes = model.predict_outcomes(test["X"])
    assert outcomes.shape == (300, 3) and np.isfinite(outcomes).all()
    if model.objective == "binary":
        assert ((outcomes >= 0) & (outcomes <= 1)).all()
        assert set(model.calibrators_) == set(model.options_)
    effects = model.predict_effects(test["X"], reference="arm_a")
    assert np.array_equal(effects[:, 0], np.zeros(300))
    ex = model.explain(test["X"])
    assert np.allclose(ex.base_values + ex.contributions.sum(axis=2), ex.margins, atol=1e-4)
    assert np.allclose(ex.margins, model.predict_margins(test["X"]))
    one = model.explain(test["X"], options=["arm_c"])
    assert np.allclose(one.base_values + one.contributions.sum(axis=2), ex.margins[:, [2]], atol=1e-4)
    interval = model.predict_interval(test["X"].iloc[:5])  # the compiled tree table path
    wide = model.predict_interval(test["X"])  # the XGBoost path
    assert np.allclose(interval.estimate, wide.estimate[:5])
    assert np.allclose(interval.lower, wide.lower[:5], atol=1e-5)
    assert (wide.lower <= wide.estimate + 1e-12).all() and (wide.estimate <= wide.upper + 1e-12).all()
    assert (wide.upper - wide.lower).mean() > 0
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict_outcomes(test["X"]), outcomes)


def test_meta_learner_adds_trees_to_the_first_stage(
    fitted_meta: tuple[TreatmentResponseModel, dict[str, Any]],
) -> None:
    model, _test = fitted_meta
    t = TreatmentResponseModel(objective=model.objective, **FAST)
    train = simulate_hte(1500, seed=1, confounding=1.0)
    y = train["y"] if model.objective == "binary" else train["y"] + np.nan_to_num(train["X"]["x2"].to_numpy())
    t.fit(train["X"], train["t"], y)
    grown = [model.option_fits_[o].n_rounds > t.option_fits_[o].n_rounds for o in model.options_]
    assert any(grown)


@pytest.mark.parametrize("strategy", META)
def test_meta_learner_refuses_bootstrap_intervals_naming_the_field(strategy: str) -> None:
    data = simulate_hte(200, seed=3)
    model = TreatmentResponseModel(strategy=strategy, interval_method="bootstrap", **FAST)
    with pytest.raises(ConfigError, match="interval_method") as info:
        model.fit(data["X"], data["t"], data["y"])
    assert strategy in str(info.value)


def test_concatenated_booster_is_base_plus_correction_and_explains_exactly() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    y = (rng.random(400) < expit(X[:, 0])).astype(float)
    params = boosting.booster_params(
        objective="binary",
        learning_rate=0.2,
        max_depth=3,
        min_child_weight=1.0,
        subsample=1.0,
        colsample_bytree=1.0,
        reg_lambda=1.0,
        tree_method="hist",
        max_bin=64,
        nthread=1,
        seed=0,
        extra=None,
    )
    base = boosting.train(X, y, np.ones(400), params, 10)
    start = boosting.predict_margins(base, X)[:, 0]
    labels = y + rng.normal(scale=0.5, size=400)  # real-valued labels: the soft logistic objective
    extra = boosting.train(
        X, labels, np.ones(400), params, 7, base_margin=start, obj=boosting.soft_logistic_objective
    )
    both = boosting.concat_boosters(base, [extra])
    got = boosting.predict_margins(both, X)[:, 0]
    assert np.allclose(got, start + boosting.tree_margins(extra, X), atol=1e-5)
    assert not np.allclose(got, start, atol=1e-3)
    import xgboost as xgb

    contribs = both.predict(xgb.DMatrix(X), pred_contribs=True)
    assert np.allclose(contribs.sum(axis=1), got, atol=1e-4)
