"""Response models: the generic treatment-response estimator, its calibration, propensity and overlap
diagnostics, evaluation metrics and pickle-free serialisation.

``TreatmentResponseModel`` knows nothing about pain: any numeric features, any treatment labels, a binary or
continuous outcome. Importing this package loads no model and reads no file.
"""

from __future__ import annotations

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
