"""The scikit-learn estimator contract, parameter validation and determinism of TreatmentResponseModel."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from precisionpain.errors import ConfigError, ModelError
from precisionpain.models import NotFittedModelError, TreatmentResponseModel
from tests.unit.models.models_testdata import FAST

# The generic fit(X, y) checks do not apply (fit takes X, treatment, y); these do.
SKLEARN_CHECKS = [
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_get_params_invariance,
    check_set_params,
    check_estimator_repr,
    check_estimator_cloneable,
    check_do_not_raise_errors_in_init_or_set_params,
]


@pytest.mark.parametrize("check", SKLEARN_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_checks_that_apply(check: Any) -> None:
    check(TreatmentResponseModel.__name__, TreatmentResponseModel())


def test_get_set_params_and_clone() -> None:
    model = TreatmentResponseModel(max_depth=3, xgb_params={"gamma": 0.5})
    params = model.get_params()
    assert params["max_depth"] == 3 and params["xgb_params"] == {"gamma": 0.5}
    assert params["n_jobs"] == 1 and params["strategy"] == "t_learner" and params["calibration"] == "auto"
    assert model.set_params(max_depth=5, strategy="s_learner") is model
    assert model.max_depth == 5 and model.strategy == "s_learner"
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()


def test_fit_returns_self_and_sets_learned_attributes(hte_train: dict[str, Any]) -> None:
    model = TreatmentResponseModel(**FAST)
    assert model.fit(hte_train["X"], hte_train["t"], hte_train["y"]) is model
    assert model.options_ == ("arm_a", "arm_b", "arm_c")
    assert model.n_features_in_ == 5
    assert list(model.feature_names_in_) == ["x0", "x1", "x2", "x3", "flag"]
    assert set(model.boosters_) == set(model.options_)
    assert all(len(v) == FAST["n_folds"] for v in model.interval_boosters_.values())
    assert set(model.calibrators_) == set(model.options_)
    assert model.seed_ == 0
    # refitting on an array drops the feature names learned from the DataFrame
    model.fit(hte_train["X"].to_numpy(), hte_train["t"], hte_train["y"])
    assert not hasattr(model, "feature_names_in_")


def test_clone_of_fitted_model_is_unfitted(fitted_t: TreatmentResponseModel) -> None:
    fresh = clone(fitted_t)
    assert not hasattr(fresh, "boosters_")
    with pytest.raises(NotFittedError):
        fresh.predict_outcomes(np.zeros((1, 5)))


@pytest.mark.parametrize(
    "method", ["predict_outcomes", "predict_margins", "predict_interval", "explain", "predict_propensity"]
)
def test_not_fitted_errors(method: str) -> None:
    model = TreatmentResponseModel()
    with pytest.raises(NotFittedModelError, match="not fitted") as info:
        getattr(model, method)(np.zeros((2, 3)))
    assert isinstance(info.value, ModelError) and isinstance(info.value, NotFittedError)


def test_predict_effects_not_fitted() -> None:
    with pytest.raises(NotFittedModelError):
        TreatmentResponseModel().predict_effects(np.zeros((2, 3)), reference="a")


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"objective": "multiclass"}, "objective"),
        ({"strategy": "magic"}, "strategy"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"n_estimators": 0}, "n_estimators"),
        ({"max_depth": 2.5}, "max_depth"),
        ({"subsample": 1.5}, "subsample"),
        ({"calibration": "beta"}, "calibration"),
        ({"objective": "regression", "calibration": "isotonic"}, "calibration"),
        ({"interval_method": "conformal"}, "interval_method"),
        ({"propensity_clip": 0.0}, "propensity_clip"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"n_folds": 1}, "n_folds"),
        ({"min_samples_per_option": 3, "n_folds": 5}, "min_samples_per_option"),
        ({"random_state": -1}, "random_state"),
        ({"xgb_params": {"nthread": 4}}, "xgb_params[nthread]"),
        ({"xgb_params": {"objective": "reg:squarederror"}}, "xgb_params[objective]"),
        ({"n_bootstrap": True}, "n_bootstrap"),
    ],
)
def test_invalid_params_are_reported_at_fit(
    params: dict[str, Any], name: str, hte_train: dict[str, Any]
) -> None:
    model = TreatmentResponseModel(**params)  # __init__ never validates (scikit-learn contract)
    with pytest.raises(ConfigError) as info:
        model.fit(hte_train["X"], hte_train["t"], hte_train["y"])
    assert name in [v.path for v in info.value.violations]


def test_every_invalid_param_is_listed_at_once(hte_train: dict[str, Any]) -> None:
    model = TreatmentResponseModel(learning_rate=-1.0, max_depth=0, strategy="x")
    with pytest.raises(ConfigError) as info:
        model.fit(hte_train["X"], hte_train["t"], hte_train["y"])
    assert {"learning_rate", "max_depth", "strategy"} <= {v.path for v in info.value.violations}


@pytest.mark.parametrize("strategy", ["t_learner", "s_learner", "ipw_t_learner"])
def test_same_seed_gives_identical_predictions(
    strategy: str, hte_train: dict[str, Any], hte_test: dict[str, Any]
) -> None:
    def fit(seed: int) -> TreatmentResponseModel:
        params = dict(FAST, random_state=seed, strategy=strategy)
        return TreatmentResponseModel(**params).fit(hte_train["X"], hte_train["t"], hte_train["y"])

    a, b = fit(3), fit(3)
    X = hte_test["X"]
    assert np.array_equal(a.predict_outcomes(X), b.predict_outcomes(X))
    ia, ib = a.predict_interval(X), b.predict_interval(X)
    assert np.array_equal(ia.lower, ib.lower) and np.array_equal(ia.upper, ib.upper)
    c = fit(4)
    assert not np.array_equal(a.predict_outcomes(X), c.predict_outcomes(X))


def test_n_jobs_two_gives_the_same_model(hte_train: dict[str, Any], hte_test: dict[str, Any]) -> None:
    one = TreatmentResponseModel(**FAST).fit(hte_train["X"], hte_train["t"], hte_train["y"])
    two = TreatmentResponseModel(**dict(FAST, n_jobs=2)).fit(hte_train["X"], hte_train["t"], hte_train["y"])
    assert np.array_equal(one.predict_outcomes(hte_test["X"]), two.predict_outcomes(hte_test["X"]))
    assert two.boosters_["arm_a"].save_config().count('"nthread":"2"') >= 1


def test_package_exports_resolve_lazily() -> None:
    import precisionpain.models as models

    assert sorted(models.__all__) == sorted(models._HOME)
    for name in models.__all__:
        assert getattr(models, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        models.nope  # noqa: B018
