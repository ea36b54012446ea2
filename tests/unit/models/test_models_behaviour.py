"""What TreatmentResponseModel learns: known heterogeneous effects on a generic (non-pain) dataset, calibration,
overlap diagnostics, intervals, the regression objective and explanations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from scipy.special import expit

from precisionpain.models import Explanation, TreatmentResponseModel
from precisionpain.models.metrics import expected_calibration_error, oracle_metrics, policy_regret
from tests.unit.models.models_testdata import ARMS, FAST, simulate_hte


def _shapes_ok(model: TreatmentResponseModel, X: pd.DataFrame) -> None:
    n, k = X.shape[0], len(model.options_)
    p = model.predict_outcomes(X)
    assert p.shape == (n, k) and np.all((p > 0) & (p < 1))
    assert model.predict_margins(X).shape == (n, k)


@pytest.mark.parametrize("strategy", ["t_learner", "ipw_t_learner", "s_learner"])
def test_recovers_known_heterogeneous_effects(
    strategy: str, hte_train: dict[str, Any], hte_test: dict[str, Any]
) -> None:
    model = TreatmentResponseModel(strategy=strategy, **FAST).fit(
        hte_train["X"], hte_train["t"], hte_train["y"]
    )
    X, truth = hte_test["X"], hte_test["p_true"]
    _shapes_ok(model, X)
    effects = model.predict_effects(X, reference="arm_a")
    assert np.all(effects[:, 0] == 0.0)
    true_effects = truth - truth[:, [0]]
    for j in (1, 2):
        assert np.corrcoef(effects[:, j], true_effects[:, j])[0, 1] > 0.8
    oracle = oracle_metrics(truth, model.predict_outcomes(X), list(ARMS), reference="arm_a")
    rng = np.random.default_rng(0)
    random_regret = policy_regret(truth, rng.integers(0, 3, size=truth.shape[0]))
    assert oracle.regret < 0.2 * random_regret
    assert oracle.top1_agreement > 0.7
    assert max(oracle.sqrt_pehe.values()) < 0.15


def test_ipw_t_learner_on_confounded_data_recovers_effects() -> None:
    train = simulate_hte(3000, seed=5, confounding=1.5)
    test = simulate_hte(2000, seed=6)
    model = TreatmentResponseModel(strategy="ipw_t_learner", **FAST).fit(train["X"], train["t"], train["y"])
    assert model.overlap_.share_outside_overlap < 0.2
    oracle = oracle_metrics(test["p_true"], model.predict_outcomes(test["X"]), list(ARMS), reference="arm_a")
    assert oracle.top1_agreement > 0.7


def test_calibration_repairs_a_miscalibrated_booster() -> None:
    # scale_pos_weight=4 inflates every predicted probability: a deliberately miscalibrated booster
    train = simulate_hte(4000, seed=7)
    test = simulate_hte(4000, seed=8)
    base = dict(FAST, xgb_params={"scale_pos_weight": 4.0})
    raw = TreatmentResponseModel(calibration="none", **base).fit(train["X"], train["t"], train["y"])
    auto = TreatmentResponseModel(calibration="auto", **base).fit(train["X"], train["t"], train["y"])
    assert all(f.calibration in ("sigmoid", "isotonic") for f in auto.option_fits_.values())
    for method in ("sigmoid", "isotonic"):
        forced = TreatmentResponseModel(calibration=method, **base).fit(train["X"], train["t"], train["y"])
        assert all(f.calibration == method for f in forced.option_fits_.values())
    for model_raw, model_cal in ((raw, auto),):
        p_raw, p_cal = model_raw.predict_outcomes(test["X"]), model_cal.predict_outcomes(test["X"])
        for j in range(3):
            rows = test["codes"] == j
            ece_raw = expected_calibration_error(test["y"][rows], p_raw[rows, j])
            ece_cal = expected_calibration_error(test["y"][rows], p_cal[rows, j])
            assert ece_raw > 0.15
            assert ece_cal < 0.5 * ece_raw


def test_calibrated_on_held_out_data(fitted_t: TreatmentResponseModel) -> None:
    test = simulate_hte(20000, seed=9)
    X, y, codes = test["X"], test["y"], test["codes"]
    p = fitted_t.predict_outcomes(X)
    for j in range(3):
        rows = codes == j
        # ECE of the true probabilities on the same rows is the noise floor of the estimate
        floor = expected_calibration_error(y[rows], test["p_true"][rows, j])
        assert expected_calibration_error(y[rows], p[rows, j]) < floor + 0.03
    scores = fitted_t.option_fits_["arm_a"].calibration_cv_brier
    assert set(scores) == {"none", "sigmoid", "isotonic"}


def test_overlap_diagnostics_flag_poor_overlap() -> None:
    rng = np.random.default_rng(3)
    n = 1500
    X = rng.normal(size=(n, 3))
    # option chosen almost deterministically by x0: little overlap
    p_b = expit(6.0 * X[:, 0])
    t = np.where(rng.random(n) < p_b, "b", "a")
    y = (rng.random(n) < 0.4).astype(int)
    model = TreatmentResponseModel(**FAST).fit(X, t, y)
    report = model.overlap_
    assert report.poor_overlap
    assert report.share_outside_overlap > 0.2
    assert report.reasons
    assert {o.option for o in report.options} == {"a", "b"}


def test_overlap_is_good_on_randomised_data(fitted_t: TreatmentResponseModel) -> None:
    report = fitted_t.overlap_
    assert not report.poor_overlap
    assert report.share_outside_overlap == 0.0
    for opt in report.options:
        assert opt.ess_fraction > 0.9
        assert 0.25 < opt.propensity_all.q50 < 0.42
    e = fitted_t.predict_propensity(np.zeros((4, 5)))
    assert e.shape == (4, 3) and np.allclose(e.sum(axis=1), 1.0)


def test_interval_contains_estimate_and_covers_truth(
    fitted_t: TreatmentResponseModel, hte_test: dict[str, Any]
) -> None:
    iv = fitted_t.predict_interval(hte_test["X"], alpha=0.1)
    assert iv.options == fitted_t.options_ and iv.alpha == 0.1
    assert np.all(iv.lower <= iv.estimate) and np.all(iv.estimate <= iv.upper)
    assert np.array_equal(iv.estimate, fitted_t.predict_outcomes(hte_test["X"]))
    covered = (iv.lower <= hte_test["p_true"]) & (hte_test["p_true"] <= iv.upper)
    # nominal 90 %; boosted trees are biased towards the mean, so coverage is measured, not assumed
    assert covered.mean() > 0.6
    wide = fitted_t.predict_interval(hte_test["X"], alpha=0.01)
    assert np.all(wide.upper - wide.lower >= iv.upper - iv.lower - 1e-12)


def test_bootstrap_intervals(hte_train: dict[str, Any], hte_test: dict[str, Any]) -> None:
    model = TreatmentResponseModel(interval_method="bootstrap", n_bootstrap=4, **FAST)
    model.fit(hte_train["X"], hte_train["t"], hte_train["y"])
    assert all(len(v) == 4 for v in model.interval_boosters_.values())
    iv = model.predict_interval(hte_test["X"])
    assert np.all(iv.lower <= iv.upper) and np.mean(iv.upper - iv.lower) > 0.01


def test_no_intervals_when_disabled(hte_train: dict[str, Any]) -> None:
    from precisionpain.errors import ModelError

    model = TreatmentResponseModel(interval_method="none", **FAST).fit(
        hte_train["X"], hte_train["t"], hte_train["y"]
    )
    assert all(v == () for v in model.interval_boosters_.values())
    with pytest.raises(ModelError, match="interval_method"):
        model.predict_interval(hte_train["X"])


@pytest.mark.parametrize("strategy", ["t_learner", "s_learner"])
def test_regression_objective(strategy: str) -> None:
    rng = np.random.default_rng(11)
    n = 2400
    X = rng.normal(size=(n, 4))
    t = rng.integers(0, 3, size=n)  # integer labels work too
    mu = np.column_stack([X[:, 1], X[:, 1] + 2.0 * X[:, 0], X[:, 1] - 1.0])
    y = mu[np.arange(n), t] + rng.normal(scale=0.5, size=n)
    model = TreatmentResponseModel(objective="regression", strategy=strategy, **FAST).fit(X, t, y)
    assert model.options_ == (0, 1, 2) and model.calibrators_ == {}
    Xt = rng.normal(size=(1000, 4))
    mt = np.column_stack([Xt[:, 1], Xt[:, 1] + 2.0 * Xt[:, 0], Xt[:, 1] - 1.0])
    pred = model.predict_outcomes(Xt)
    assert np.sqrt(np.mean((pred - mt) ** 2)) < 0.5
    eff = model.predict_effects(Xt, reference=0)
    assert np.corrcoef(eff[:, 1], 2.0 * Xt[:, 0])[0, 1] > 0.95
    iv = model.predict_interval(Xt)
    assert np.all(iv.lower <= pred + 1e-9) and np.all(pred <= iv.upper + 1e-9)
    ex = model.explain(Xt[:20])
    assert np.allclose(ex.base_values + ex.contributions.sum(axis=2), ex.margins, atol=1e-5)
    assert np.array_equal(ex.margins, pred[:20])


def _check_explanation(model: TreatmentResponseModel, X: pd.DataFrame) -> Explanation:
    ex = model.explain(X)
    n, k, p = X.shape[0], len(model.options_), X.shape[1]
    assert ex.contributions.shape == (n, k, p)
    assert ex.base_values.shape == (n, k) and ex.margins.shape == (n, k)
    assert ex.options == model.options_ and ex.feature_names == tuple(X.columns)
    assert np.abs(ex.base_values + ex.contributions.sum(axis=2) - ex.margins).max() < 1e-5
    assert np.array_equal(ex.margins, model.predict_margins(X))
    assert not ex.contributions.flags.writeable
    return ex


def test_explain_t_learner_matches_xgboost_pred_contribs(
    fitted_t: TreatmentResponseModel, hte_test: dict[str, Any]
) -> None:
    X = hte_test["X"].iloc[:200]
    ex = _check_explanation(fitted_t, X)
    # per-option strategies: base value constant over rows
    assert np.all(ex.base_values == ex.base_values[0])
    for j, opt in enumerate(fitted_t.options_):
        booster = fitted_t.boosters_[opt]
        raw = booster.predict(xgb.DMatrix(fitted_t.booster_input(X, opt), missing=np.nan), pred_contribs=True)
        assert np.array_equal(ex.contributions[:, j, :], raw[:, :-1].astype(np.float64))
        assert np.array_equal(ex.base_values[:, j], raw[:, -1].astype(np.float64))
        margin = booster.predict(
            xgb.DMatrix(fitted_t.booster_input(X, opt), missing=np.nan), output_margin=True
        )
        assert np.array_equal(ex.margins[:, j], margin.astype(np.float64))


def test_explain_s_learner_folds_option_columns_into_base(
    fitted_s: TreatmentResponseModel, hte_test: dict[str, Any]
) -> None:
    X = hte_test["X"].iloc[:200]
    ex = _check_explanation(fitted_s, X)
    shared = {id(b) for b in fitted_s.boosters_.values()}
    assert len(shared) == 1
    p = X.shape[1]
    for j, opt in enumerate(fitted_s.options_):
        design = fitted_s.booster_input(X, opt)
        assert design.shape == (200, p + 3) and np.all(design[:, p + j] == 1.0)
        raw = fitted_s.boosters_[opt].predict(xgb.DMatrix(design, missing=np.nan), pred_contribs=True)
        assert np.allclose(ex.contributions[:, j, :], raw[:, :p], atol=0)
        assert np.allclose(ex.base_values[:, j], raw[:, p:].astype(np.float64).sum(axis=1), atol=1e-6)


def test_works_with_plain_arrays_and_nan(hte_train: dict[str, Any]) -> None:
    X = hte_train["X"].to_numpy(copy=True)
    X[:50, :] = np.nan  # whole rows missing are still scored
    model = TreatmentResponseModel(**FAST).fit(X, list(hte_train["t"]), hte_train["y"].astype(bool))
    p = model.predict_outcomes(X[:60])
    assert np.all(np.isfinite(p))
    assert model.explain(X[:3]).feature_names == ("x0", "x1", "x2", "x3", "x4")


def test_sample_weight_changes_the_fit(hte_train: dict[str, Any], hte_test: dict[str, Any]) -> None:
    w = np.where(hte_train["X"]["x0"].fillna(0) > 0, 5.0, 1.0)
    plain = TreatmentResponseModel(**FAST).fit(hte_train["X"], hte_train["t"], hte_train["y"])
    weighted = TreatmentResponseModel(**FAST).fit(
        hte_train["X"], hte_train["t"], hte_train["y"], sample_weight=w
    )
    assert not np.array_equal(plain.predict_outcomes(hte_test["X"]), weighted.predict_outcomes(hte_test["X"]))
    ones = TreatmentResponseModel(**FAST).fit(
        hte_train["X"], hte_train["t"], hte_train["y"], sample_weight=np.full(len(w), 2.0)
    )
    assert np.allclose(plain.predict_outcomes(hte_test["X"]), ones.predict_outcomes(hte_test["X"]), atol=1e-6)


def test_small_data_defaults(hte_train: dict[str, Any]) -> None:
    # a few hundred rows with the default hyperparameters
    small = simulate_hte(300, seed=21)
    model = TreatmentResponseModel(n_jobs=1).fit(small["X"], small["t"], small["y"])
    test = simulate_hte(2000, seed=22)
    oracle = oracle_metrics(test["p_true"], model.predict_outcomes(test["X"]), list(ARMS), reference="arm_a")
    random_regret = policy_regret(test["p_true"], np.random.default_rng(0).integers(0, 3, size=2000))
    assert oracle.regret < 0.6 * random_regret


@pytest.mark.parametrize("fixture", ["fitted_t", "fitted_s"])
def test_single_patient_interval_matches_batch(
    fixture: str, request: pytest.FixtureRequest, hte_test: dict[str, Any]
) -> None:
    # a few rows are scored by the compiled tree table, many rows by XGBoost; they must agree
    model = request.getfixturevalue(fixture)
    X = hte_test["X"].iloc[:40]
    batch = model.predict_interval(X)
    for i in (0, 7, 39):
        one = model.predict_interval(X.iloc[i : i + 1])
        assert np.array_equal(one.estimate[0], batch.estimate[i])
        assert np.allclose(one.lower[0], batch.lower[i], atol=1e-6)
        assert np.allclose(one.upper[0], batch.upper[i], atol=1e-6)


def test_n_jobs_can_change_after_fit(hte_train: dict[str, Any], hte_test: dict[str, Any]) -> None:
    model = TreatmentResponseModel(**FAST).fit(hte_train["X"], hte_train["t"], hte_train["y"])
    before = model.predict_outcomes(hte_test["X"])
    model.set_params(n_jobs=2)
    assert np.array_equal(model.predict_outcomes(hte_test["X"]), before)
    assert '"nthread":"2"' in model.boosters_["arm_b"].save_config()
