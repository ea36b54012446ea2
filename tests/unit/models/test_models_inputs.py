"""Input validation of TreatmentResponseModel: every problem is named (argument, rule, kind received), all are
raised at once, and no value from the data ever appears in a message."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from precisionpain.errors import ValidationError
from precisionpain.models import TreatmentResponseModel
from tests.unit.models.models_testdata import FAST

SECRET = 7.123456  # a distinctive value that must never be echoed


def _fit_error(X: Any, t: Any, y: Any, **kwargs: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        TreatmentResponseModel(**dict(FAST, **kwargs)).fit(X, t, y)
    assert "7.123456" not in str(info.value)
    return info.value


def _paths(err: ValidationError) -> set[str]:
    return {v.path for v in err.violations}


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(90, 3)), columns=["a", "b", "c"])
    t = np.array(["u", "v", "w"] * 30, dtype=object)
    y = np.array([0, 1] * 45)
    return X, t, y


def test_mismatched_lengths_are_all_reported(data: Any) -> None:
    X, t, y = data
    err = _fit_error(X, t[:-1], y[:-2])
    assert _paths(err) == {"treatment", "y"}
    rules = {v.path: v for v in err.violations}
    assert "one entry per row of X (90 rows)" in rules["treatment"].rule
    assert rules["treatment"].received == "sequence of length 89"


def test_non_numeric_column_is_named(data: Any) -> None:
    X, t, y = data
    X = X.assign(b=["secret_word"] * len(X))
    err = _fit_error(X, t, y)
    (v,) = err.violations
    assert v.path == "X[b]" and "must be numeric" in v.rule and "dtype" in v.received
    assert "secret_word" not in str(err)


def test_categorical_column_is_not_numeric(data: Any) -> None:
    X, t, y = data
    X = X.assign(c=pd.Categorical(["p", "q", "r"] * 30))
    assert _paths(_fit_error(X, t, y)) == {"X[c]"}


def test_non_numeric_array(data: Any) -> None:
    _, t, y = data
    err = _fit_error(np.array([["a", "b"]] * 90), t, y)
    assert _paths(err) == {"X"} and "must be numeric" in err.violations[0].rule


def test_infinite_feature(data: Any) -> None:
    X, t, y = data
    X = X.copy()
    X.iloc[3, 1] = np.inf
    err = _fit_error(X, t, y)
    assert err.violations[0].received == "infinite number"


def test_one_dimensional_X(data: Any) -> None:
    _, t, y = data
    err = _fit_error(np.zeros(90), t, y)
    assert err.violations[0].rule.startswith("must be 2-D")


def test_non_binary_y_for_binary_objective(data: Any) -> None:
    X, t, y = data
    y = y.astype(float)
    y[5] = SECRET
    err = _fit_error(X, t, y)
    (v,) = err.violations
    assert v.path == "y" and "0/1" in v.rule and "objective='binary'" in v.rule


def test_nan_in_y(data: Any) -> None:
    X, t, y = data
    y = y.astype(float)
    y[0] = np.nan
    err = _fit_error(X, t, y)
    assert err.violations[0].path == "y" and err.violations[0].received == "NaN"


def test_nullable_y_with_missing(data: Any) -> None:
    X, t, y = data
    ys = pd.Series(y, dtype="Int64")
    ys.iloc[2] = pd.NA
    err = _fit_error(X, t, ys)
    assert err.violations[0].path == "y" and "missing" in err.violations[0].rule


def test_nan_in_treatment(data: Any) -> None:
    X, t, y = data
    t = t.copy()
    t[4] = np.nan
    err = _fit_error(X, t, y)
    assert err.violations[0].path == "treatment" and err.violations[0].received == "NaN"
    t[4] = None
    assert _fit_error(X, t, y).violations[0].received == "null"


def test_single_option(data: Any) -> None:
    X, _, y = data
    err = _fit_error(X, ["only"] * 90, y)
    assert any("at least two distinct options" in v.rule for v in err.violations)


def test_too_few_patients_names_option_and_count(data: Any) -> None:
    X, t, y = data
    t = t.copy()
    t[:85] = np.where(np.arange(85) % 2 == 0, "u", "v")
    t[85:] = "rare"
    err = _fit_error(X, t, y, min_samples_per_option=20)
    msgs = [v.rule for v in err.violations]
    assert any("'rare' has 5 patients" in m and "min_samples_per_option=20" in m for m in msgs)


def test_single_outcome_class_within_an_option(data: Any) -> None:
    X, t, y = data
    y = y.copy()
    y[t == "w"] = 0
    err = _fit_error(X, t, y)
    assert any("option 'w'" in v.rule and v.path == "y" for v in err.violations)


def test_bad_sample_weight(data: Any) -> None:
    X, t, y = data
    with pytest.raises(ValidationError) as info:
        TreatmentResponseModel(**FAST).fit(X, t, y, sample_weight=-np.ones(90))
    assert _paths(info.value) == {"sample_weight"}


def test_everything_wrong_is_reported_at_once() -> None:
    err = _fit_error("not a matrix", None, {"y": 1})
    assert _paths(err) == {"X", "treatment", "y"}


@pytest.fixture(scope="module")
def small_model() -> TreatmentResponseModel:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    t = np.array(["u", "v"] * 60)
    y = np.array([0, 0, 1, 1] * 30)
    return TreatmentResponseModel(**FAST).fit(X, t, y)


def test_wrong_number_of_features_at_predict(small_model: TreatmentResponseModel) -> None:
    with pytest.raises(ValidationError) as info:
        small_model.predict_outcomes(np.zeros((2, 4)))
    (v,) = info.value.violations
    assert v.path == "X" and "3 feature columns" in v.rule and v.received == "4 columns"


def test_wrong_column_names_at_predict(small_model: TreatmentResponseModel) -> None:
    with pytest.raises(ValidationError, match="same order"):
        small_model.predict_outcomes(pd.DataFrame(np.zeros((2, 3)), columns=["c", "b", "a"]))
    # a plain array of the right width is accepted
    assert small_model.predict_outcomes(np.zeros((2, 3))).shape == (2, 2)


def test_unknown_reference_is_not_echoed(small_model: TreatmentResponseModel) -> None:
    with pytest.raises(ValidationError) as info:
        small_model.predict_effects(np.zeros((1, 3)), reference="zz_secret_option")
    (v,) = info.value.violations
    assert v.path == "reference" and v.received == "string"
    assert "zz_secret_option" not in str(info.value)


def test_bad_alpha_and_explain_options(small_model: TreatmentResponseModel) -> None:
    with pytest.raises(ValidationError) as info:
        small_model.predict_interval(np.zeros((1, 3)), alpha=1.5)
    assert info.value.violations[0].path == "alpha"
    with pytest.raises(ValidationError) as info:
        small_model.explain(np.zeros((1, 3)), options=["u", "nope"])
    assert info.value.violations[0].path == "options[1]"
    ex = small_model.explain(np.zeros((1, 3)), options=["v"])
    assert ex.options == ("v",) and ex.contributions.shape == (1, 1, 3)
