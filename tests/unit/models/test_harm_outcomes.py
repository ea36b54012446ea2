"""Harm outcomes in the generic estimator: a rare outcome that some option's patients never had is fitted with a
prior instead of refused (when asked), and another outcome of the same patients reuses the propensity model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from precisionpain.errors import ValidationError
from precisionpain.models import TreatmentResponseModel
from tests.unit.models.models_testdata import FAST


def _rare(train: dict[str, Any], seed: int) -> np.ndarray:
    """A rare harm: about 8% on arm_a and arm_b, never on arm_c."""
    rng = np.random.default_rng(seed)
    rate = np.where(train["t"] == "arm_c", 0.0, 0.08)
    return (rng.random(len(rate)) < rate).astype(int)


def test_an_option_without_events_is_refused_by_default_and_fitted_with_the_prior(hte_train: dict[str, Any]) -> None:
    y = _rare(hte_train, 3)
    with pytest.raises(ValidationError) as info:
        TreatmentResponseModel(**FAST).fit(hte_train["X"], hte_train["t"], y)
    assert any("arm_c" in v.rule for v in info.value.violations)

    model = TreatmentResponseModel(**FAST, single_class="prior").fit(hte_train["X"], hte_train["t"], y)
    p = model.predict_outcomes(hte_train["X"])
    c = model.options_.index("arm_c")
    n_c = int((hte_train["t"] == "arm_c").sum())
    # the prior's rate: half an event in the option's patients plus one pseudo-patient
    assert np.all(p[:, c] > 0) and np.all(p[:, c] < 2.0 / n_c)
    others = [j for j in range(3) if j != c]
    assert 0.04 < p[:, others].mean() < 0.14
    interval = model.predict_interval(hte_train["X"].iloc[:50])
    assert np.all(interval.lower <= interval.estimate + 1e-12) and np.all(interval.estimate <= interval.upper + 1e-12)


def test_every_booster_of_a_rare_outcome_can_be_explained_exactly(hte_train: dict[str, Any]) -> None:
    """Fold boosters whose training rows hold no event start from the option's smoothed rate, so the exact TreeSHAP
    (which needs a usable base score) reads them all, the interval replicates included."""
    from precisionpain.explain.treeshap import TreeEnsembleSet

    y = _rare(hte_train, 4)
    model = TreatmentResponseModel(**FAST, single_class="prior").fit(hte_train["X"], hte_train["t"], y)
    names = list(hte_train["X"].columns)
    boosters = {f"{o}-{r}": b for o in model.options_ for r, b in enumerate(model.interval_boosters_[o])}
    boosters.update({str(o): model.boosters_[o] for o in model.options_})
    ensembles = TreeEnsembleSet.from_boosters(boosters, names)
    X = hte_train["X"].to_numpy(dtype=float)[:20]
    result = ensembles.explain(X)
    k = len(model.options_)
    np.testing.assert_allclose(result.margins[:, -k:], model.predict_margins(X), atol=1e-5)


def test_another_outcome_reuses_the_propensity_model(hte_train: dict[str, Any]) -> None:
    response = TreatmentResponseModel(**FAST).fit(hte_train["X"], hte_train["t"], hte_train["y"])
    harm = TreatmentResponseModel(**FAST, single_class="prior").fit(
        hte_train["X"], hte_train["t"], _rare(hte_train, 5), propensity_model=response.propensity_model_
    )
    assert harm.propensity_model_ is response.propensity_model_
    np.testing.assert_array_equal(harm.predict_propensity(hte_train["X"]), response.predict_propensity(hte_train["X"]))
    with pytest.raises(ValidationError) as info:
        TreatmentResponseModel(**FAST).fit(
            hte_train["X"].iloc[:, :3], hte_train["t"], hte_train["y"], propensity_model=response.propensity_model_
        )
    assert [v.path for v in info.value.violations] == ["propensity_model"]
