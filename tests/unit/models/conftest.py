"""Fitted models and datasets shared by the model tests (data helpers in models_testdata.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.models.models_testdata import FAST, simulate_hte


@pytest.fixture(scope="session")
def hte_train() -> dict[str, Any]:
    return simulate_hte(3000, seed=1)


@pytest.fixture(scope="session")
def hte_test() -> dict[str, Any]:
    return simulate_hte(2000, seed=2)


@pytest.fixture(scope="session")
def fitted_t(hte_train: dict[str, Any]) -> Any:
    from precisionpain.models import TreatmentResponseModel

    return TreatmentResponseModel(**FAST).fit(hte_train["X"], hte_train["t"], hte_train["y"])


@pytest.fixture(scope="session")
def fitted_s(hte_train: dict[str, Any]) -> Any:
    from precisionpain.models import TreatmentResponseModel

    return TreatmentResponseModel(strategy="s_learner", **FAST).fit(
        hte_train["X"], hte_train["t"], hte_train["y"]
    )
