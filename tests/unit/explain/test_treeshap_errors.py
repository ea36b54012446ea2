"""Unsupported boosters and bad input are refused with one error that names the option and the rule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from precisionpain.errors import ModelCatalogMismatchError, ModelError, ValidationError
from precisionpain.explain.treeshap import TreeEnsembleSet
from tests.unit.explain.treeshap_helpers import labels, make_data, train_booster, xgb

NAMES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, logit = make_data(300, 4, seed=5)
    return X, labels(logit, "binary:logistic", 5)


@pytest.fixture(scope="module")
def good(data: tuple[np.ndarray, np.ndarray]) -> xgb.Booster:
    return train_booster(*data, max_depth=3, rounds=3)


def _message(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


def test_categorical_splits_are_refused(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    frame = pd.DataFrame(X, columns=NAMES)
    frame["d"] = pd.Categorical(np.where(np.nan_to_num(X[:, 0]) > 0, "high", "low"))
    booster = xgb.train(
        {"objective": "binary:logistic", "tree_method": "hist", "nthread": 1, "max_cat_to_onehot": 1},
        xgb.DMatrix(frame, label=y, enable_categorical=True),
        num_boost_round=3,
    )
    with pytest.raises(ModelError) as excinfo:
        TreeEnsembleSet.from_boosters({"tramadol": booster}, NAMES)
    assert "option 'tramadol'" in _message(excinfo)
    assert "categorical" in _message(excinfo)


def test_multiclass_boosters_are_refused(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = data
    y = np.arange(X.shape[0]) % 3
    booster = train_booster(X, y, objective="multi:softprob", num_class=3, rounds=2)
    with pytest.raises(ModelError) as excinfo:
        TreeEnsembleSet.from_boosters({"codeine": booster}, NAMES)
    assert "option 'codeine'" in _message(excinfo)
    assert "multi-output" in _message(excinfo)


@pytest.mark.parametrize(("booster_type", "expected"), [("dart", "'dart'"), ("gblinear", "'gblinear'")])
def test_boosters_other_than_gbtree_are_refused(
    data: tuple[np.ndarray, np.ndarray], booster_type: str, expected: str
) -> None:
    booster = train_booster(*data, booster=booster_type, rounds=2)
    with pytest.raises(ModelError) as excinfo:
        TreeEnsembleSet.from_boosters({"duloxetine": booster}, NAMES)
    assert expected in _message(excinfo)
    assert "only 'gbtree'" in _message(excinfo)


def test_objectives_without_one_margin_per_row_are_refused(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    booster = train_booster(X, y, objective="binary:hinge", rounds=2)
    with pytest.raises(ModelError, match=r"objective 'binary:hinge' is not supported"):
        TreeEnsembleSet.from_boosters({"meloxicam": booster}, NAMES)


def test_feature_list_disagreements_are_catalog_mismatches(good: xgb.Booster) -> None:
    with pytest.raises(ModelCatalogMismatchError, match=r"has 4 features but the feature list has 5"):
        TreeEnsembleSet.from_boosters({"ibuprofen": good}, [*NAMES, "e"])
    named = good.copy()
    named.feature_names = ["a", "b", "x", "d"]
    with pytest.raises(ModelCatalogMismatchError, match=r"first at position 2"):
        TreeEnsembleSet.from_boosters({"ibuprofen": named}, NAMES)
    # The same names are accepted.
    named.feature_names = list(NAMES)
    assert TreeEnsembleSet.from_boosters({"ibuprofen": named}, NAMES).option_ids == ("ibuprofen",)


def test_every_problem_is_reported_at_once(data: tuple[np.ndarray, np.ndarray], good: xgb.Booster) -> None:
    X, y = data
    multiclass = train_booster(
        X, np.arange(X.shape[0]) % 3, objective="multi:softprob", num_class=3, rounds=1
    )
    linear = train_booster(X, y, booster="gblinear", rounds=1)
    with pytest.raises(ModelError) as excinfo:
        TreeEnsembleSet.from_boosters({"ok": good, "first": multiclass, "second": linear}, NAMES)
    message = _message(excinfo)
    assert not isinstance(excinfo.value, ModelCatalogMismatchError)
    assert message.startswith("cannot explain the boosters: ")
    assert "option 'first'" in message and "option 'second'" in message and "option 'ok'" not in message


def test_malformed_models_and_arguments(good: xgb.Booster) -> None:
    with pytest.raises(ModelError, match=r"not an XGBoost JSON model"):
        TreeEnsembleSet.from_model_json({"o": b"{not json"}, NAMES)
    doc = json.loads(good.save_raw("json"))
    doc["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"][0] = 99
    with pytest.raises(ModelError, match=r"tree 0: malformed tree"):
        TreeEnsembleSet.from_model_json({"o": doc}, NAMES)
    with pytest.raises(ModelError, match=r"expected an xgboost.Booster \(received string\)"):
        TreeEnsembleSet.from_boosters({"o": "model.json"}, NAMES)  # type: ignore[dict-item]
    with pytest.raises(ModelError, match=r"at least one option"):
        TreeEnsembleSet.from_boosters({}, NAMES)
    with pytest.raises(ModelError, match=r"distinct strings"):
        TreeEnsembleSet.from_boosters({"o": good}, ["a", "a", "c", "d"])


def test_bad_rows_are_refused_without_echoing_values(good: xgb.Booster) -> None:
    ensembles = TreeEnsembleSet.from_boosters({"o": good}, NAMES)
    with pytest.raises(ValidationError, match=r"2-d numeric array with 4 columns"):
        ensembles.explain(np.zeros(4))
    with pytest.raises(ValidationError, match=r"2-d numeric array with 4 columns"):
        ensembles.margins(np.zeros((2, 5)))
    with pytest.raises(ValidationError, match=r"2-d numeric array"):
        ensembles.explain(np.array([["1", "2", "3", "4"]]))
    X = np.zeros((3, 4))
    X[1, 2] = np.inf
    X[2, 2] = -1e300  # overflows float32
    X[0, 0] = 12345.678
    with pytest.raises(ValidationError) as excinfo:
        ensembles.explain(X)
    message = _message(excinfo)
    assert "X[:, 'c']" in message and "infinite number in 2 row(s)" in message
    assert "12345" not in message and "1e+300" not in message
