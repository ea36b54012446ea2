"""Response models: the generic treatment-response estimator, its calibration, propensity and overlap
diagnostics, evaluation metrics and pickle-free serialisation.

``TreatmentResponseModel`` knows nothing about pain: any numeric features, any treatment labels, a binary or
continuous outcome. Importing this package loads no model and reads no file; the names below are imported on
first use, so the command line starts without loading XGBoost.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from precisionpain.models.artifacts import load_model, save_model
    from precisionpain.models.calibration import Calibrator, fit_calibrator
    from precisionpain.models.estimator import (
        Explanation,
        NotFittedModelError,
        OptionFit,
        OutcomeInterval,
        TreatmentResponseModel,
    )
    from precisionpain.models.propensity import OverlapReport, PropensityModel, overlap_diagnostics

_HOME = {
    "load_model": "artifacts",
    "save_model": "artifacts",
    "Calibrator": "calibration",
    "fit_calibrator": "calibration",
    "Explanation": "estimator",
    "NotFittedModelError": "estimator",
    "OptionFit": "estimator",
    "OutcomeInterval": "estimator",
    "TreatmentResponseModel": "estimator",
    "OverlapReport": "propensity",
    "PropensityModel": "propensity",
    "overlap_diagnostics": "propensity",
}

__all__ = [
    "Calibrator",
    "Explanation",
    "NotFittedModelError",
    "OptionFit",
    "OutcomeInterval",
    "OverlapReport",
    "PropensityModel",
    "TreatmentResponseModel",
    "fit_calibrator",
    "load_model",
    "overlap_diagnostics",
    "save_model",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
