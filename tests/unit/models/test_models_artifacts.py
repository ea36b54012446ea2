"""Saving and loading without pickle: a loaded model predicts, explains and reports exactly as the saved one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from precisionpain.errors import ModelError
from precisionpain.models import TreatmentResponseModel, load_model, save_model
from precisionpain.models.artifacts import FORMAT_VERSION
from tests.unit.models.models_testdata import FAST


def _assert_same(a: TreatmentResponseModel, b: TreatmentResponseModel, X: Any) -> None:
    assert b.options_ == a.options_ and b.get_params() == a.get_params()
    assert np.array_equal(a.predict_outcomes(X), b.predict_outcomes(X))
    ia, ib = a.predict_interval(X), b.predict_interval(X)
    assert np.array_equal(ia.lower, ib.lower) and np.array_equal(ia.upper, ib.upper)
    one_a, one_b = a.predict_interval(X.iloc[:1]), b.predict_interval(X.iloc[:1])  # compiled-table path
    assert np.array_equal(one_a.lower, one_b.lower)
    ea, eb = a.explain(X.iloc[:20]), b.explain(X.iloc[:20])
    assert np.array_equal(ea.contributions, eb.contributions) and np.array_equal(
        ea.base_values, eb.base_values
    )
    assert np.array_equal(a.predict_propensity(X), b.predict_propensity(X))
    assert b.overlap_ == a.overlap_
    assert {o: f.calibration for o, f in b.option_fits_.items()} == {
        o: f.calibration for o, f in a.option_fits_.items()
    }


@pytest.mark.parametrize("fixture", ["fitted_t", "fitted_s"])
def test_round_trip(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path, hte_test: dict[str, Any]
) -> None:
    model = request.getfixturevalue(fixture)
    meta_path = save_model(model, tmp_path / "m")
    meta = json.loads(meta_path.read_text())
    assert meta["format_version"] == FORMAT_VERSION and meta["params"]["strategy"] == model.strategy
    files = sorted(p.name for p in (tmp_path / "m" / "boosters").iterdir())
    assert all(name.endswith(".ubj") for name in files)
    assert not any(p.suffix in (".pkl", ".pickle", ".joblib") for p in (tmp_path / "m").rglob("*"))
    loaded = load_model(tmp_path / "m")
    _assert_same(model, loaded, hte_test["X"])
    assert list(loaded.feature_names_in_) == list(model.feature_names_in_)


def test_round_trip_regression_with_integer_labels_and_bootstrap(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(600, 3))
    t = rng.integers(5, 8, size=600)
    y = X[:, 0] * (t - 6) + rng.normal(size=600)
    model = TreatmentResponseModel(objective="regression", interval_method="bootstrap", n_bootstrap=3, **FAST)
    model.fit(X, t, y)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.options_ == (5, 6, 7) and all(type(o) is int for o in loaded.options_)
    assert not hasattr(loaded, "feature_names_in_")
    assert np.array_equal(loaded.predict_outcomes(X), model.predict_outcomes(X))
    assert np.array_equal(loaded.predict_interval(X).upper, model.predict_interval(X).upper)


def test_refuses_to_overwrite(fitted_t: TreatmentResponseModel, tmp_path: Path) -> None:
    save_model(fitted_t, tmp_path / "m")
    with pytest.raises(ModelError, match="overwrite"):
        save_model(fitted_t, tmp_path / "m")
    save_model(fitted_t, tmp_path / "m", overwrite=True)


def test_unfitted_model_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="fitted"):
        save_model(TreatmentResponseModel(), tmp_path / "m")


def test_tampered_booster_is_detected(fitted_t: TreatmentResponseModel, tmp_path: Path) -> None:
    save_model(fitted_t, tmp_path / "m")
    target = tmp_path / "m" / "boosters" / "option_001.ubj"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(format_version=99), "format_version"),
        (lambda m: m.update(format="something.else"), "not a saved"),
        (lambda m: m["params"].update(unknown_param=1), "malformed"),
        (lambda m: m.pop("propensity_model"), "malformed"),
        (lambda m: m["calibrators"].pop(), "malformed"),
    ],
)
def test_malformed_metadata(
    edit: Any, message: str, fitted_t: TreatmentResponseModel, tmp_path: Path
) -> None:
    meta_path = save_model(fitted_t, tmp_path / "m")
    meta = json.loads(meta_path.read_text())
    edit(meta)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=message):
        load_model(tmp_path / "m")


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model\.json"):
        load_model(tmp_path / "nothing")


@pytest.mark.parametrize("candidates", [("s_learner",), ("t_learner_shrunk",)])
def test_an_auto_model_is_saved_as_the_strategy_it_chose(
    candidates: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hte_test: dict[str, Any]
) -> None:
    # the choice itself is tested in test_auto_strategy; here it is narrowed so that each layout is saved
    from precisionpain.models import estimator
    from tests.unit.models.models_testdata import simulate_hte

    monkeypatch.setattr(estimator, "AUTO_CANDIDATES", candidates)
    train = simulate_hte(800, seed=1, confounding=1.0)
    auto = TreatmentResponseModel(strategy="auto", **{**FAST, "n_estimators": 40, "n_folds": 3})
    auto.fit(train["X"], train["t"], train["y"])
    meta = json.loads(save_model(auto, tmp_path / "m").read_text())
    loaded = load_model(tmp_path / "m")
    assert meta["params"]["strategy"] == loaded.strategy == auto.strategy_ == candidates[0].removesuffix("_shrunk")
    assert loaded.shrinkage == ("none" if auto.shrinkage_ is None else auto.shrinkage_)
    X = hte_test["X"]
    assert np.array_equal(auto.predict_outcomes(X), loaded.predict_outcomes(X))
    assert np.array_equal(auto.predict_interval(X).upper, loaded.predict_interval(X).upper)
    ea, eb = auto.explain(X.iloc[:20]), loaded.explain(X.iloc[:20])
    assert np.array_equal(ea.contributions, eb.contributions)
