"""shrinkage: the differences between options shrunk towards their population means by a lambda the
training patients choose (0 = the best single option for everyone, 1 = the base strategy), baked into ordinary
boosters so serving, intervals and exact TreeSHAP work unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from precisionpain.errors import ConfigError
from precisionpain.models import TreatmentResponseModel
from precisionpain.models.artifacts import load_model, save_model
from tests.unit.models.models_testdata import FAST, simulate_hte


def simulate_offsets(n: int, seed: int, *, heterogeneity: float, k: int = 4) -> dict[str, Any]:
    """k arms whose true log-odds differ by constants (-0.3 ... +0.3) plus ``heterogeneity * x0`` times a slope
    from -1 to +1 per arm (0 = no real heterogeneity: the best arm is the same for everyone); x1 drives both the
    prognosis and who gets which arm."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    slopes = np.linspace(-1.0, 1.0, k)
    p_true = expit(
        -0.3
        + 0.8 * X[:, [1]]
        + np.linspace(-0.3, 0.3, k)[None, :]
        + heterogeneity * np.outer(X[:, 0], slopes)
    )
    logits = np.outer(X[:, 1], np.linspace(-0.8, 0.8, k))
    e = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    t = (e.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    y = (rng.random(n) < p_true[np.arange(n), t]).astype(int)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    return {"X": frame, "t": np.asarray([f"arm{j}" for j in t], dtype=object), "y": y, "p_true": p_true}


def _regret(model: TreatmentResponseModel, data: dict[str, Any]) -> float:
    p = data["p_true"]
    pick = model.predict_outcomes(data["X"]).argmax(axis=1)
    return float((p.max(axis=1) - p[np.arange(p.shape[0]), pick]).mean())


def _error(model: TreatmentResponseModel, data: dict[str, Any]) -> float:
    """Mean absolute difference between the predicted and the true probabilities."""
    return float(np.abs(model.predict_outcomes(data["X"]) - data["p_true"]).mean())


def test_lambda_goes_to_zero_when_the_heterogeneity_is_noise() -> None:
    train = simulate_offsets(12_000, 0, heterogeneity=0.0)
    test = simulate_offsets(4_000, 100, heterogeneity=0.0)
    shrunk = TreatmentResponseModel(shrinkage="auto", **FAST).fit(train["X"], train["t"], train["y"])
    plain = TreatmentResponseModel(**FAST).fit(train["X"], train["t"], train["y"])
    assert shrunk.shrinkage_ is not None and shrunk.shrinkage_ <= 0.25
    assert set(shrunk.shrinkage_scores_) == {f"{g:.2f}" for g in np.linspace(0, 1, 21)}
    assert all(f.shrinkage == shrunk.shrinkage_ for f in shrunk.option_fits_.values())
    assert _regret(shrunk, test) < _regret(plain, test) - 0.005
    assert _error(shrunk, test) <= _error(plain, test) + 0.002  # the probabilities stay as close to the truth


def test_lambda_goes_to_one_when_the_heterogeneity_is_strong() -> None:
    train = simulate_offsets(12_000, 1, heterogeneity=1.5)
    shrunk = TreatmentResponseModel(shrinkage="auto", **FAST).fit(train["X"], train["t"], train["y"])
    assert shrunk.shrinkage_ is not None and shrunk.shrinkage_ >= 0.85
    plain = TreatmentResponseModel(**FAST).fit(train["X"], train["t"], train["y"])
    test = simulate_offsets(4_000, 101, heterogeneity=1.5)
    assert _regret(shrunk, test) <= _regret(plain, test) + 0.002
    assert _error(shrunk, test) <= _error(plain, test) + 0.002


@pytest.fixture(scope="module")
def hte_models() -> dict[str, Any]:
    train = simulate_hte(3000, seed=1, confounding=1.0)
    fit = {
        str(s): TreatmentResponseModel(shrinkage=s, **FAST).fit(train["X"], train["t"], train["y"])
        for s in ("none", 0.4, 1.0, 0.0)
    }
    return {"train": train, "test": simulate_hte(500, seed=2), **fit}


def test_shrunk_margins_move_every_difference_between_options_by_lambda(hte_models: dict[str, Any]) -> None:
    X = hte_models["test"]["X"]
    plain, shrunk = hte_models["none"], hte_models["0.4"]
    m0, m1 = plain.predict_margins(X), shrunk.predict_margins(X)
    # (m'_j - m'_i) = (a_j - a_i) + lambda ((m_j - m_i) - (a_j - a_i)): the new difference minus lambda times the
    # old one is a constant per pair of options
    for i in range(m0.shape[1]):
        rest = (m1 - m1[:, [i]]) - 0.4 * (m0 - m0[:, [i]])
        assert np.allclose(rest, rest[:1], atol=1e-5)
    assert np.abs(m1 - m0).max() > 0.1
    # the calibrators are those refitted on the shrunk margins
    p = shrunk.predict_outcomes(X)
    for j, o in enumerate(shrunk.options_):
        assert np.allclose(p[:, j], shrunk.calibrators_[o].apply(m1[:, j]))


def test_explanations_sum_to_the_shrunk_margin_and_scale_by_lambda(hte_models: dict[str, Any]) -> None:
    X = hte_models["test"]["X"]
    plain, shrunk = hte_models["none"], hte_models["0.4"]
    e0, e1 = plain.explain(X), shrunk.explain(X)
    assert np.allclose(e1.base_values + e1.contributions.sum(axis=2), e1.margins, atol=1e-5)
    assert np.allclose(e1.margins, shrunk.predict_margins(X), atol=1e-6)
    # phi'_j = lambda phi_j + (1 - lambda) phi_r: relative to any other option, contributions scale by lambda
    rel0 = e0.contributions - e0.contributions[:, [0]]
    rel1 = e1.contributions - e1.contributions[:, [0]]
    assert np.allclose(rel1, 0.4 * rel0, atol=1e-5)
    assert np.abs(rel0).max() > 0.1


def test_the_serving_treeshap_engine_reads_shrunk_boosters_like_xgboost(hte_models: dict[str, Any]) -> None:
    from precisionpain.explain.treeshap import TreeEnsembleSet

    X = hte_models["test"]["X"]
    shrunk = hte_models["0.4"]
    engine = TreeEnsembleSet.from_boosters(
        {str(o): shrunk.boosters_[o] for o in shrunk.options_}, list(X.columns)
    )
    got = engine.explain(X.to_numpy())
    want = shrunk.explain(X)
    assert np.allclose(got.margins, want.margins, atol=1e-5)
    assert np.allclose(got.contributions, want.contributions, atol=1e-4)
    assert np.allclose(engine.base_values[None, :] + got.contributions.sum(axis=2), got.margins, atol=1e-9)


def test_lambda_one_is_the_base_learner_and_zero_the_same_choice_for_everyone(
    hte_models: dict[str, Any],
) -> None:
    X = hte_models["test"]["X"]
    plain, one, zero = hte_models["none"], hte_models["1.0"], hte_models["0.0"]
    assert np.array_equal(one.predict_outcomes(X), plain.predict_outcomes(X))
    assert one.shrinkage_ == 1.0 and plain.shrinkage_ is None
    assert np.unique(zero.predict_margins(X).argmax(axis=1)).size == 1
    assert np.unique(plain.predict_margins(X).argmax(axis=1)).size > 1


def test_shrunk_model_keeps_intervals_and_survives_saving(hte_models: dict[str, Any], tmp_path: Path) -> None:
    X = hte_models["test"]["X"]
    shrunk = hte_models["0.4"]
    interval = shrunk.predict_interval(X.iloc[:5])  # a few rows: the compiled tree table
    wide = shrunk.predict_interval(X)
    assert np.allclose(interval.estimate, wide.estimate[:5])
    assert np.all(wide.lower <= wide.estimate + 1e-12) and np.all(wide.estimate <= wide.upper + 1e-12)
    save_model(shrunk, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert np.array_equal(loaded.predict_outcomes(X), shrunk.predict_outcomes(X))
    assert loaded.get_params()["shrinkage"] == 0.4


@pytest.mark.parametrize(
    ("params", "rule"),
    [
        ({"strategy": "s_learner", "shrinkage": "auto"}, "must be 'none' for strategy='s_learner'"),
        ({"strategy": "auto", "shrinkage": 0.5}, "must be 'none' for strategy='auto'"),
        ({"shrinkage": 1.5}, "must be >= 0 and <= 1"),
        ({"shrinkage": "sometimes"}, "must be one of 'none', 'auto'"),
    ],
)
def test_shrinkage_settings_are_checked(params: dict[str, Any], rule: str) -> None:
    data = simulate_hte(200, seed=3)
    with pytest.raises(ConfigError, match="shrinkage") as info:
        TreatmentResponseModel(**{**FAST, **params}).fit(data["X"], data["t"], data["y"])
    assert rule in str(info.value)
