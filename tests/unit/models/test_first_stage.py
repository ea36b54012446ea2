"""first_stage_features: each option's booster starts from a booster on a few columns alone (the pain condition),
so an effect modifier that few patients share is not lost to early stopping; the result is still one ordinary
booster per option (calibration, intervals, saving and exact TreeSHAP unchanged)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from precisionpain.errors import ConfigError, ValidationError
from precisionpain.models import TreatmentResponseModel, load_model, save_model
from tests.unit.models.models_testdata import FAST

SETTINGS = {**FAST, "learning_rate": 0.05, "early_stopping_rounds": 30, "n_estimators": 400}


def _rare_condition(n: int, seed: int, share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Column 0 marks a condition ``share`` of the patients have, in which option 0 does not work (its log-odds
    fall by 1.8) while it helps everyone else; columns 1-2 act alike on every option, 3-9 are noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 10))
    X[:, 0] = rng.random(n) < share
    base = -0.2 + 0.4 * X[:, 1] + 0.3 * X[:, 2]
    p = expit(np.column_stack([base + 0.5 - 1.8 * X[:, 0], base + 0.2, base]))
    t = rng.integers(0, 3, size=n)
    y = (rng.random(n) < p[np.arange(n), t]).astype(int)
    return X, t, y, p


def test_a_rare_condition_where_an_option_fails_is_learnt() -> None:
    X, t, y, _ = _rare_condition(9000, 1, 0.05)
    X_new, _, _, p_new = _rare_condition(20000, 2, 0.5)
    inside = X_new[:, 0] == 1
    bias = {}
    for first in ((), (0,)):
        model = TreatmentResponseModel(first_stage_features=first, **SETTINGS).fit(X, t, y)
        p = model.predict_outcomes(X_new)
        bias[first] = float(np.mean(p[inside, 0] - p_new[inside, 0]))
        assert abs(float(np.mean(p[~inside, 0] - p_new[~inside, 0]))) < 0.03  # everyone else stays right
    # the plain booster carries the option's average into the condition; the first stage does not
    assert bias[()] > 0.06, bias
    assert abs(bias[(0,)]) < 0.5 * bias[()], bias


@pytest.mark.parametrize("interval_method", ["jackknife", "bootstrap"])
def test_the_option_booster_is_one_booster_explained_exactly(interval_method: str) -> None:
    X, t, y, _ = _rare_condition(3000, 3, 0.2)
    model = TreatmentResponseModel(
        first_stage_features=(0,), interval_method=interval_method, n_bootstrap=3, **SETTINGS
    ).fit(X, t, y)
    assert model.first_stage_columns_ == (0,)
    e = model.explain(X[:100])
    assert np.allclose(e.base_values + e.contributions.sum(axis=-1), e.margins, atol=1e-4)
    # the margins are the first stage's and the correction's trees together, as served
    assert np.allclose(e.margins, model.predict_margins(X[:100]), atol=1e-5)
    # the condition's column carries the first stage's share of option 0's explanation
    share = np.abs(e.contributions[:, 0, 0]).mean()
    assert share > np.abs(e.contributions[:, 0, 3:]).mean(axis=0).max()
    iv = model.predict_interval(X[:100])
    assert np.all(iv.lower <= iv.estimate + 1e-9) and np.all(iv.estimate <= iv.upper + 1e-9)
    assert np.any(iv.upper - iv.lower > 1e-4)
    # option 0 keeps its first stage (the condition matters for it), within the option's rounds
    fit = model.option_fits_[0]
    assert fit.first_stage_rounds is not None and 0 < fit.first_stage_rounds < fit.n_rounds


def test_a_first_stage_that_predicts_no_better_than_the_mean_is_left_out() -> None:
    """Column 5 is noise: fitted alone with unshrunk leaves it only overfits, its held-out folds score worse than
    their training folds' mean outcome, and every option is fitted as if there were no first stage."""
    X, t, y, _ = _rare_condition(3000, 7, 0.2)
    noisy = TreatmentResponseModel(first_stage_features=(5,), first_stage_lambda=0.0, **SETTINGS).fit(X, t, y)
    plain = TreatmentResponseModel(**SETTINGS).fit(X, t, y)
    assert [f.first_stage_rounds for f in noisy.option_fits_.values()] == [0, 0, 0]
    assert all(f.first_stage_rounds is None for f in plain.option_fits_.values())
    assert np.array_equal(noisy.predict_outcomes(X[:200]), plain.predict_outcomes(X[:200]))


def test_the_baseline_of_folds_that_weigh_nothing_is_finite() -> None:
    """Sample weights can leave a fold, or all the other folds, weighing nothing: its loss is then 0, and the
    other folds' mean falls back to the whole table's, instead of a division by zero."""
    from precisionpain.models import boosting

    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    fold = np.array([0, 0, 1, 1, 2, 2])
    w = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # folds 1 and 2 weigh nothing
    losses = boosting.intercept_fold_losses(y, w, fold, "logloss")
    assert losses[1] == losses[2] == 0.0
    assert losses[0] == pytest.approx(2 * np.log(2))  # fold 0 against the whole table's mean, 1/2


def test_cross_fit_starts_each_fold_from_its_own_margins() -> None:
    """``fold_base_margins``: fold k's booster starts from the k-th margins on its held-out rows (so a first stage's
    fold-k booster, which never saw fold k, is all its out-of-fold margins rest on); one margin for every fold is
    the same as ``base_margin``."""
    import xgboost as xgb

    from precisionpain.models import boosting

    rng = np.random.default_rng(10)
    n = 1200
    X = rng.normal(size=(n, 4))
    y = (rng.random(n) < expit(X[:, 0])).astype(float)
    w = np.ones(n)
    fold = rng.integers(0, 3, size=n)
    params = {**boosting.booster_params(objective="binary", learning_rate=0.1, max_depth=3, min_child_weight=1.0,
              subsample=1.0, colsample_bytree=1.0, reg_lambda=1.0, tree_method="hist", max_bin=64, nthread=1, seed=0,
              extra=None)}  # fmt: skip
    starts = [rng.normal(scale=0.5, size=n) for _ in range(3)]
    cf = boosting.cross_fit(X, y, w, fold, params, max_rounds=30, patience=5, fold_base_margins=starts)
    for k, booster in enumerate(cf.boosters):
        va = fold == k
        trees = booster.predict(xgb.DMatrix(X[va], base_margin=np.zeros(int(va.sum()))), output_margin=True)
        np.testing.assert_allclose(cf.oof_margin[va], starts[k][va] + trees, atol=1e-5)
    same = boosting.cross_fit(X, y, w, fold, params, max_rounds=30, patience=5, fold_base_margins=[starts[0]] * 3)
    one = boosting.cross_fit(X, y, w, fold, params, max_rounds=30, patience=5, base_margin=starts[0])
    assert np.array_equal(same.oof_margin, one.oof_margin) and same.n_rounds == one.n_rounds


@pytest.mark.parametrize("intercept", [None, 0.2])
@pytest.mark.parametrize(("objective", "metric"), [("binary:logistic", "logloss"), ("reg:squarederror", "rmse")])
def test_the_intercept_losses_are_those_xgboost_reports_for_a_model_without_trees(
    objective: str, metric: str, intercept: float | None
) -> None:
    import xgboost as xgb

    from precisionpain.models import boosting

    rng = np.random.default_rng(8)
    n = 900
    X = rng.normal(size=(n, 3))
    y = (rng.random(n) < 0.3).astype(float) if metric == "logloss" else rng.normal(2.0, 1.5, size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    fold = rng.integers(0, 3, size=n)
    ours = boosting.intercept_fold_losses(y, w, fold, metric, intercept)
    for k in range(3):
        tr, va = fold != k, fold == k
        start = float(np.average(y[tr], weights=w[tr])) if intercept is None else intercept
        params = {"objective": objective, "eval_metric": metric, "base_score": start}
        booster = xgb.train(params, xgb.DMatrix(X[tr], label=y[tr], weight=w[tr]), num_boost_round=0)
        dval = xgb.DMatrix(X[va], label=y[va], weight=w[va])
        theirs = w[va].sum() * boosting._eval_loss(booster, dval, 0, metric)
        assert ours[k] == pytest.approx(theirs, rel=1e-5)


def test_names_need_a_data_frame_and_the_setting_survives_saving(tmp_path) -> None:  # type: ignore[no-untyped-def]
    X, t, y, _ = _rare_condition(2000, 4, 0.2)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    by_name = TreatmentResponseModel(first_stage_features=["f0"], **SETTINGS).fit(frame, t, y)
    by_position = TreatmentResponseModel(first_stage_features=[0], **SETTINGS).fit(X, t, y)
    assert by_name.first_stage_columns_ == by_position.first_stage_columns_ == (0,)
    assert np.allclose(by_name.predict_outcomes(frame[:50]), by_position.predict_outcomes(X[:50]))
    with pytest.raises(ValidationError) as err:
        TreatmentResponseModel(first_stage_features=["f0"], **SETTINGS).fit(X, t, y)
    assert "first_stage_features[0]" in str(err.value) and "DataFrame" in str(err.value)
    save_model(by_position, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert list(loaded.first_stage_features) == [0] and loaded.first_stage_lambda == by_position.first_stage_lambda
    assert np.array_equal(loaded.predict_outcomes(X[:50]), by_position.predict_outcomes(X[:50]))
    assert loaded.option_fits_ == by_position.option_fits_  # the first stage's rounds among them


@pytest.mark.parametrize(
    ("params", "path", "rule"),
    [
        ({"first_stage_features": "f0"}, "first_stage_features", "must be a list"),
        ({"first_stage_features": [0, 0]}, "first_stage_features", "twice"),
        ({"first_stage_features": [-1]}, "first_stage_features[0]", "position (>= 0)"),
        ({"first_stage_features": [1.5]}, "first_stage_features[0]", "position (>= 0)"),
        ({"first_stage_features": [0], "strategy": "s_learner"}, "first_stage_features", "must be empty unless"),
        ({"first_stage_features": [0], "shrinkage": "auto"}, "first_stage_features", "without shrinkage"),
        ({"first_stage_features": [0], "strategy": "auto"}, "first_stage_features", "must be empty unless"),
        ({"first_stage_lambda": -1.0}, "first_stage_lambda", ">= 0"),
    ],
)
def test_bad_settings_are_refused_naming_the_parameter(params: dict[str, object], path: str, rule: str) -> None:
    X, t, y, _ = _rare_condition(300, 5, 0.2)
    with pytest.raises(ConfigError) as err:
        TreatmentResponseModel(**{**SETTINGS, **params}).fit(X, t, y)
    assert any(v.path == path and rule in v.rule for v in err.value.violations), err.value


def test_a_position_beyond_the_columns_is_refused() -> None:
    X, t, y, _ = _rare_condition(300, 6, 0.2)
    with pytest.raises(ValidationError) as err:
        TreatmentResponseModel(first_stage_features=[10], **SETTINGS).fit(X, t, y)
    assert any(v.path == "first_stage_features[0]" and "below 10" in v.rule for v in err.value.violations)
