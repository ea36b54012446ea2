"""strategy="auto": a cross-fitted choice among the per-option strategies by the doubly robust value of each one's
top-1 rule (no ground truth needed), every candidate's score kept."""

from __future__ import annotations

import numpy as np
import pytest

from precisionpain.errors import ConfigError
from precisionpain.models import TreatmentResponseModel
from precisionpain.models.estimator import AUTO_CANDIDATES, choose_candidate
from precisionpain.models.learners import dr_policy_values
from tests.unit.models.models_testdata import FAST, simulate_hte
from tests.unit.models.test_meta_learners import simulate_confounded_four_arms


def test_auto_scores_every_candidate_and_its_model_is_the_chosen_strategys() -> None:
    train = simulate_hte(800, seed=1, confounding=1.0)
    test = simulate_hte(200, seed=2)
    quick = {**FAST, "n_estimators": 40, "n_folds": 3}
    auto = TreatmentResponseModel(strategy="auto", **quick).fit(train["X"], train["t"], train["y"])
    assert auto.strategy == "auto" and auto.strategy_ in AUTO_CANDIDATES
    assert "t_learner_shrunk" in AUTO_CANDIDATES
    assert set(auto.strategy_scores_) == {*AUTO_CANDIDATES, *(c + "_se" for c in AUTO_CANDIDATES)}
    assert all(0.0 < auto.strategy_scores_[c] < 1.0 for c in AUTO_CANDIDATES)
    direct = TreatmentResponseModel(strategy=auto.strategy_, shrinkage=auto.shrinkage_setting_, **quick).fit(
        train["X"], train["t"], train["y"]
    )
    assert np.array_equal(auto.predict_outcomes(test["X"]), direct.predict_outcomes(test["X"]))
    fixed = TreatmentResponseModel(**quick).fit(train["X"], train["t"], train["y"])
    assert fixed.strategy_ == "t_learner" and fixed.strategy_scores_ == {}


@pytest.mark.slow  # about 40 s: four candidates on two halves, then the chosen one
def test_auto_chooses_the_x_learner_where_it_ranks_far_better() -> None:
    train = simulate_confounded_four_arms(4000, 1, "regression")
    auto = TreatmentResponseModel(strategy="auto", objective="regression", **FAST)
    auto.fit(train["X"], train["t"], train["y"])
    assert auto.strategy_ == "x_learner"
    scores = auto.strategy_scores_
    assert scores["x_learner"] == max(scores[c] for c in AUTO_CANDIDATES)


def test_dr_policy_values_average_to_the_rules_value_under_the_known_propensity() -> None:
    data = simulate_hte(200_000, seed=6, confounding=1.5, missing=0.0)
    n = data["codes"].shape[0]
    pick = np.where(np.nan_to_num(data["X"]["x0"].to_numpy()) > 0, 1, 2)
    truth = data["p_true"][np.arange(n), pick].mean()
    wrong = np.full(data["p_true"].shape, 0.5)
    got = dr_policy_values(wrong, data["e"], data["codes"], data["y"], pick, clip=1e-6).mean()
    assert abs(got - truth) < 0.01


def test_auto_refuses_bootstrap_intervals() -> None:
    data = simulate_hte(200, seed=3)
    with pytest.raises(ConfigError, match="interval_method"):
        TreatmentResponseModel(strategy="auto", interval_method="bootstrap", **FAST).fit(
            data["X"], data["t"], data["y"]
        )


def test_auto_takes_the_best_score_even_inside_one_standard_error() -> None:
    rng = np.random.default_rng(4)
    first = rng.normal(0.5, 0.5, size=2000)
    values = {
        "t_learner": first,
        "better": first + 0.01 + rng.normal(0.0, 0.5, size=2000),
        "same": first.copy(),
    }
    chosen, scores = choose_candidate(values, np.ones(2000))
    gain = scores["better"] - scores["t_learner"]
    assert 0.0 < gain < scores["better_se"]  # within the noise, and still the best
    assert chosen == "better"
    tied, _ = choose_candidate({"t_learner": first, "same": first.copy()}, np.ones(2000))
    assert tied == "t_learner" and scores["same_se"] == 0.0
