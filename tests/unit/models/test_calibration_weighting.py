"""calibration_weighting="inverse_propensity": each option's calibrator fitted to its patients weighted to the whole
population's mix, so the probabilities are calibrated for everyone they are shown for, not only for patients like
those who received the option."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from precisionpain.errors import ConfigError
from precisionpain.models import TreatmentResponseModel
from tests.unit.models.models_testdata import FAST


def _given_where_it_works(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arm 1 works where x0 > 0 and arm 2 where x0 < 0, and prescribers mostly give each where it works: a model
    of either arm sees few patients of the other kind and carries its effect over to them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    base = -0.3 + 0.5 * X[:, 1]
    p = expit(np.column_stack([base, base + 1.6 * X[:, 0], base - 1.6 * X[:, 0]]))
    logits = 2.5 * np.column_stack([np.zeros(n), X[:, 0], -X[:, 0]])
    e = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    t = (e.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    y = (rng.random(n) < p[np.arange(n), t]).astype(int)
    return X, t, y, p


@pytest.mark.parametrize("strategy", ["s_learner", "t_learner"])
def test_weighted_calibration_is_calibrated_for_the_whole_population(strategy: str) -> None:
    X, t, y, _ = _given_where_it_works(6000, 1)
    X_new, _, _, p_new = _given_where_it_works(20000, 101)
    bias, margins = {}, {}
    for weighting in ("none", "inverse_propensity"):
        model = TreatmentResponseModel(
            strategy=strategy, calibration_weighting=weighting, **{**FAST, "n_estimators": 200}
        )
        p = model.fit(X, t, y).predict_outcomes(X_new)
        bias[weighting] = np.abs(p.mean(axis=0) - p_new.mean(axis=0))[1:].sum()  # the two confounded arms
        margins[weighting] = model.explain(X_new[:200]).margins
    assert bias["inverse_propensity"] < 0.5 * bias["none"], bias
    # only the calibrators are weighted: the boosters are the same
    assert np.array_equal(margins["none"], margins["inverse_propensity"])


@pytest.mark.parametrize(
    ("params", "rule"),
    [
        ({"calibration_weighting": "population"}, "must be one of 'none', 'inverse_propensity'"),
        ({"calibration_weighting": "inverse_propensity", "objective": "regression"}, "objective='regression'"),
        ({"calibration_weighting": "inverse_propensity", "calibration": "none"}, "calibration='none'"),
        ({"calibration_weighting": "inverse_propensity", "shrinkage": "auto"}, "with shrinkage"),
        ({"calibration_weighting": "inverse_propensity", "strategy": "auto"}, "with shrinkage or strategy='auto'"),
    ],
)
def test_bad_settings_are_refused_naming_the_parameter(params: dict[str, object], rule: str) -> None:
    X, t, y, _ = _given_where_it_works(300, 2)
    with pytest.raises(ConfigError) as err:
        TreatmentResponseModel(**{**FAST, **params}).fit(X, t, y)
    assert "calibration_weighting" in str(err.value) and rule in str(err.value)


def test_the_setting_survives_saving(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from precisionpain.models import load_model, save_model

    X, t, y, _ = _given_where_it_works(1500, 3)
    model = TreatmentResponseModel(calibration_weighting="inverse_propensity", **FAST).fit(X, t, y)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.calibration_weighting == "inverse_propensity"
    # how many equally weighted patients each calibrator is worth, kept with the fit
    for option, fit in model.option_fits_.items():
        assert fit.calibration_effective_n is not None and 1.0 <= fit.calibration_effective_n <= fit.n_patients
        assert loaded.option_fits_[option] == fit
    plain = TreatmentResponseModel(**FAST).fit(X, t, y)
    assert all(f.calibration_effective_n is None for f in plain.option_fits_.values())
    assert np.array_equal(loaded.predict_outcomes(X[:50]), model.predict_outcomes(X[:50]))
