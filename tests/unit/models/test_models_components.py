"""Building blocks: booster merging and the compiled tree table, folds and cross-fitting, calibrators, the
propensity model and overlap diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from scipy.special import expit

from precisionpain.errors import ModelError
from precisionpain.models import boosting
from precisionpain.models.calibration import Calibrator, fit_calibrator
from precisionpain.models.propensity import PropensityModel, fit_propensity, overlap_diagnostics


def _data(n: int = 600, p: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)).astype(np.float32)
    X[rng.random(X.shape) < 0.2] = np.nan
    y = (rng.random(n) < expit(np.nan_to_num(X[:, 0]) * 2)).astype(np.float32)
    return X, y


def _boosters(X: np.ndarray, y: np.ndarray, rounds: tuple[int, ...]) -> list[xgb.Booster]:
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "tree_method": "hist"}
    return [
        xgb.train(dict(params, seed=i, subsample=0.7), xgb.QuantileDMatrix(X, y), r)
        for i, r in enumerate(rounds)
    ]


def test_merged_booster_reproduces_each_source_exactly() -> None:
    X, y = _data()
    sources = _boosters(X, y, (5, 17, 1))
    merged = boosting.merge_boosters(sources)
    m = boosting.predict_margins(merged, X)
    assert m.shape == (600, 3)
    for j, b in enumerate(sources):
        assert np.array_equal(m[:, j], b.predict(xgb.DMatrix(X), output_margin=True).astype(np.float64))
        assert np.array_equal(
            merged.predict(xgb.DMatrix(X), pred_contribs=True)[:, j, :],
            b.predict(xgb.DMatrix(X), pred_contribs=True),
        )
    boosting.check_merged(merged, sources, X[:50])
    with pytest.raises(ModelError):
        boosting.check_merged(merged, list(reversed(sources)), X[:50])


def test_merge_refuses_incompatible_boosters() -> None:
    X, y = _data()
    other = _boosters(X[:, :2], y, (3,))
    with pytest.raises(ModelError, match="differ"):
        boosting.merge_boosters([*_boosters(X, y, (3,)), *other])
    with pytest.raises(ModelError):
        boosting.merge_boosters([])


def test_tree_table_matches_xgboost() -> None:
    X, y = _data(seed=1)
    merged = boosting.merge_boosters(_boosters(X, y, (30, 4, 12, 1)))
    table = boosting.TreeTable.from_booster(merged, X[:16])
    assert table.depth == 3
    rows = np.concatenate([X[100:140], np.full((1, 4), np.nan, dtype=np.float32)])
    assert np.abs(table.margins(rows) - boosting.predict_margins(merged, rows)).max() < 1e-5


def test_make_folds_is_balanced_within_strata_and_seeded() -> None:
    strata = np.repeat([0, 1, 2], [50, 7, 3])
    fold = boosting.make_folds(strata, 5, np.random.default_rng(0))
    for s in (0, 1, 2):
        counts = np.bincount(fold[strata == s], minlength=5)
        assert counts.max() - counts.min() <= 1
    assert np.array_equal(fold, boosting.make_folds(strata, 5, np.random.default_rng(0)))


def test_cross_fit_stops_early_on_noise_and_predicts_out_of_fold() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(800, 3)).astype(np.float32)
    y_noise = (rng.random(800) < 0.3).astype(np.float64)
    params = boosting.booster_params(
        objective="binary", learning_rate=0.3, max_depth=3, min_child_weight=1.0, subsample=1.0,
        colsample_bytree=1.0, reg_lambda=1.0, tree_method="hist", max_bin=64, nthread=1, seed=0, extra=None,
    )  # fmt: skip
    fold = boosting.make_folds(y_noise.astype(np.int64), 4, rng)
    noise = boosting.cross_fit(X, y_noise, np.ones(800), fold, params, max_rounds=500, patience=10)
    assert noise.n_rounds < 15 and len(noise.boosters) == 4
    assert all(b.num_boosted_rounds() == noise.n_rounds for b in noise.boosters)
    y_signal = (rng.random(800) < expit(3 * X[:, 0])).astype(np.float64)
    signal = boosting.cross_fit(X, y_signal, np.ones(800), fold, params, max_rounds=500, patience=10)
    assert signal.n_rounds > noise.n_rounds
    assert np.corrcoef(signal.oof_margin, X[:, 0])[0, 1] > 0.8
    # out of fold: row i's margin comes from the booster that did not train on it
    k0 = fold == 0
    own = boosting.predict_margins(signal.boosters[0], X[k0])[:, 0]
    assert np.allclose(signal.oof_margin[k0], own, atol=1e-6)


def test_sigmoid_calibrator_recovers_known_map() -> None:
    rng = np.random.default_rng(3)
    m = rng.normal(scale=1.5, size=40_000)
    y = (rng.random(m.size) < expit(0.5 * m + 0.4)).astype(float)
    cal = fit_calibrator(m, y, method="sigmoid").calibrator
    assert cal.kind == "sigmoid"
    assert cal.slope == pytest.approx(0.5, abs=0.03) and cal.intercept == pytest.approx(0.4, abs=0.04)


def test_isotonic_calibrator_is_monotone_and_bounded() -> None:
    rng = np.random.default_rng(4)
    m = rng.normal(size=500)
    y = (rng.random(500) < expit(2 * m)).astype(float)
    cal = fit_calibrator(m, y, method="isotonic").calibrator
    grid = np.linspace(-10, 10, 1001)
    out = cal.apply(grid)
    assert np.all(np.diff(out) >= 0)
    assert out.min() >= 0.5 / 501 and out.max() <= 1 - 0.5 / 501


def test_auto_calibration_choice() -> None:
    rng = np.random.default_rng(5)
    m = rng.normal(scale=1.5, size=20_000)
    calibrated = (rng.random(m.size) < expit(m)).astype(float)
    assert fit_calibrator(m, calibrated).calibrator.kind == "none"
    overconfident = (rng.random(m.size) < expit(0.3 * m - 1.0)).astype(float)
    choice = fit_calibrator(m, overconfident)
    assert choice.calibrator.kind in ("sigmoid", "isotonic")
    assert choice.cv_brier[choice.calibrator.kind] < choice.cv_brier["none"]


@pytest.mark.parametrize(
    "cal",
    [
        Calibrator("none"),
        Calibrator("sigmoid", slope=0.7, intercept=-0.2),
        fit_calibrator(
            np.linspace(-2, 2, 50), np.r_[np.zeros(25), np.ones(25)], method="isotonic"
        ).calibrator,
    ],
    ids=["none", "sigmoid", "isotonic"],
)
def test_calibrator_json_round_trip(cal: Calibrator) -> None:
    import json

    back = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    grid = np.linspace(-6, 6, 97)
    assert np.array_equal(back.apply(grid), cal.apply(grid))


def test_calibrator_rejects_malformed_dicts() -> None:
    with pytest.raises(ModelError):
        Calibrator.from_dict({"kind": "beta"})
    with pytest.raises(ModelError):
        Calibrator.from_dict({"kind": "isotonic", "x_thresholds": [0.5, 0.1], "y_thresholds": [0.1, 0.2]})


def test_propensity_model_recovers_known_probabilities() -> None:
    rng = np.random.default_rng(6)
    n = 6000
    X = rng.normal(size=(n, 3))
    logits = np.column_stack([np.zeros(n), 1.2 * X[:, 0], -0.8 * X[:, 1] + 0.5])
    e_true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    t = (e_true.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    # missingness of x2 is informative: it goes missing mostly for option 2
    X[(t == 2) & (rng.random(n) < 0.5), 2] = np.nan
    model = fit_propensity(X, t, 3)
    e = model.predict(X)
    assert np.allclose(e.sum(axis=1), 1.0)
    complete = ~np.isnan(X[:, 2])
    # among complete rows, P(option | x, complete) is proportional to e_true x P(complete | option)
    e_complete = e_true * np.array([1.0, 1.0, 0.5])
    e_complete /= e_complete.sum(axis=1, keepdims=True)
    assert np.abs(e[complete] - e_complete[complete]).mean() < 0.03
    assert e[~complete, 2].mean() > e[complete, 2].mean() + 0.2
    back = PropensityModel.from_dict(model.to_dict())
    assert np.array_equal(back.predict(X), e)
    with pytest.raises(ModelError):
        PropensityModel.from_dict({**model.to_dict(), "coef": [[1.0]]})


def test_overlap_diagnostics_by_hand() -> None:
    e = np.array([[0.5, 0.5], [0.9, 0.1], [0.002, 0.998], [0.5, 0.5]])
    t = np.array([0, 0, 1, 1])
    report = overlap_diagnostics(
        e, t, ["a", "b"], threshold=0.01, relative_threshold=0.1, max_share_outside=0.2
    )
    a, b = report.options
    # option a, treated rows 0, 1: weights 1/0.5, 1/0.9 -> ESS = (2 + 1.111)^2 / (4 + 1.2346)
    assert a.effective_sample_size == pytest.approx((2 + 1 / 0.9) ** 2 / (4 + 1 / 0.81))
    assert a.n_treated == 2 and a.share == 0.5
    assert a.share_below_threshold == 0.25 and b.share_below_threshold == 0.0
    # relative: share 0.5 each, so below 0.05: row 2 for a
    assert report.share_outside_relative == 0.25 and report.share_outside_overlap == 0.25
    assert report.poor_overlap and "25.0%" in report.reasons[0]
    assert report.max_propensity_ratio_q99 > 9
