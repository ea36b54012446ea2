"""Saving and loading a fitted TreatmentResponseModel without pickle.

Layout of a saved model directory::

    model.json                      format name and version, estimator params, options, feature names, seed,
                                    calibrators, propensity model, overlap report, per-option fit summary,
                                    and the booster files with their sha256
    boosters/option_000.ubj         final booster of options_[0] (XGBoost UBJSON), ... one per option
    boosters/option_000_rep_00.ubj  interval replicates of options_[0] (fold or bootstrap boosters)
    boosters/shared.ubj             S-learner: the one shared booster (and shared_rep_00.ubj, ...)
    boosters/serving_*.ubj          the merged multi-target boosters used for prediction (checked against the
                                    per-option boosters on load, so they cannot drift apart)

Option labels are stored with their type (str, int, float or bool), so a model fitted on integer labels loads
with integer labels. A loaded model predicts exactly what the saved one predicted.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from precisionpain.errors import ModelError
from precisionpain.models.calibration import Calibrator
from precisionpain.models.estimator import OptionFit, TreatmentResponseModel
from precisionpain.models.propensity import OverlapReport, PropensityModel

FORMAT = "precisionpain.treatment_response_model"
FORMAT_VERSION = 1
METADATA_FILE = "model.json"
BOOSTER_DIR = "boosters"


def _encode_option(option: Hashable) -> dict[str, Any]:
    if isinstance(option, bool):
        return {"type": "bool", "value": option}
    if isinstance(option, int):
        return {"type": "int", "value": option}
    if isinstance(option, float) and math.isfinite(option):
        return {"type": "float", "value": option}
    if isinstance(option, str):
        return {"type": "str", "value": option}
    raise ModelError(
        f"save_model: option labels must be str, int, float or bool to be saved (received {type(option).__name__})"
    )


def _decode_option(data: Any) -> Hashable:
    kinds: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}
    if not isinstance(data, dict) or data.get("type") not in kinds:
        raise ModelError("load_model: malformed option entry in model.json")
    value = data.get("value")
    expected = kinds[data["type"]]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected:
        raise ModelError("load_model: option value does not match its declared type in model.json")
    result: Hashable = value
    return result


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jsonable(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        raise ModelError(f"save_model: {what} is not JSON-serialisable") from None


def save_model(
    model: TreatmentResponseModel, directory: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write a fitted model to ``directory`` (created if needed) and return the path of its model.json."""
    if not isinstance(model, TreatmentResponseModel) or not model.__sklearn_is_fitted__():
        raise ModelError("save_model: needs a fitted TreatmentResponseModel")
    root = Path(directory)
    meta_path = root / METADATA_FILE
    if meta_path.exists() and not overwrite:
        raise ModelError("save_model: the directory already holds a saved model (pass overwrite=True)")
    options = model.options_
    encoded_options = [_encode_option(o) for o in options]
    params = model.get_params(deep=False)
    if params["strategy"] == "auto":  # saved as a model of the strategy it chose (as training registers it)
        params["strategy"] = str(model.strategy_)
        params["shrinkage"] = "none" if model.shrinkage_ is None else float(model.shrinkage_)
    stacked = params["strategy"] == "s_learner"
    params["first_stage_features"] = [  # numpy integers as plain ones
        c if isinstance(c, str) else int(c) for c in params.get("first_stage_features", ())
    ]
    params = _jsonable(params, "the estimator parameters")
    (root / BOOSTER_DIR).mkdir(parents=True, exist_ok=True)

    files: dict[str, str] = {}

    def write(booster: xgb.Booster, name: str) -> str:
        rel = f"{BOOSTER_DIR}/{name}.ubj"
        booster.save_model(str(root / rel))
        files[rel] = _sha256(root / rel)
        return rel

    if stacked:
        shared = model.boosters_[options[0]]
        point = [write(shared, "shared")] * len(options)
        shared_reps = [
            write(b, f"shared_rep_{r:02d}") for r, b in enumerate(model.interval_boosters_[options[0]])
        ]
        replicates = [shared_reps] * len(options)
    else:
        point = [write(model.boosters_[o], f"option_{j:03d}") for j, o in enumerate(options)]
        replicates = [
            [write(b, f"option_{j:03d}_rep_{r:02d}") for r, b in enumerate(model.interval_boosters_[o])]
            for j, o in enumerate(options)
        ]
    merged_point, merged_interval = model.serving_boosters
    serving = {
        "point": None if stacked else write(merged_point, "serving_point"),
        "interval": None if merged_interval is None else write(merged_interval, "serving_interval"),
    }
    names = getattr(model, "feature_names_in_", None)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": type(model).__name__,
        "xgboost_version": xgb.__version__,
        "params": params,
        "options": encoded_options,
        "n_features_in": int(model.n_features_in_),
        "feature_names_in": None if names is None else [str(x) for x in names],
        "seed": int(model.seed_),
        "boosters": {"point": point, "replicates": replicates, "serving": serving, "sha256": files},
        "calibrators": [model.calibrators_[o].to_dict() for o in options] if model.calibrators_ else [],
        "propensity_model": model.propensity_model_.to_dict(),
        "overlap": model.overlap_.model_dump(mode="json"),
        "option_fits": [model.option_fits_[o].to_dict() for o in options],
    }
    meta_path.write_text(json.dumps(_jsonable(meta, "the model metadata"), indent=1, sort_keys=True))
    return meta_path


def load_model(directory: str | os.PathLike[str]) -> TreatmentResponseModel:
    """Read a model written by :func:`save_model`; booster files are checked against their recorded sha256."""
    root = Path(directory)
    meta_path = root / METADATA_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ModelError(f"load_model: no {METADATA_FILE} in the model directory") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelError(f"load_model: {METADATA_FILE} is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"load_model: {METADATA_FILE} is not a saved TreatmentResponseModel")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"load_model: format_version must be {FORMAT_VERSION} (this version of precisionpain cannot read others)"
        )
    try:
        params = dict(meta["params"])
        if "first_stage_features" in params:  # a JSON list: back to the tuple it was saved from
            params["first_stage_features"] = tuple(params["first_stage_features"])
        model = TreatmentResponseModel(**params)
        options = tuple(_decode_option(o) for o in meta["options"])
        booster_meta = meta["boosters"]
        checksums: dict[str, str] = booster_meta["sha256"]
        cache: dict[str, xgb.Booster] = {}

        def read(rel: str) -> xgb.Booster:
            if rel not in cache:
                path = root / rel
                if rel not in checksums or not path.is_file() or _sha256(path) != checksums[rel]:
                    raise ModelError("load_model: a booster file is missing or does not match its sha256")
                cache[rel] = xgb.Booster(model_file=str(path))
            return cache[rel]

        point = booster_meta["point"]
        replicates = booster_meta["replicates"]
        if len(point) != len(options) or len(replicates) != len(options):
            raise ModelError("load_model: booster lists do not match the options")
        model.boosters_ = {o: read(rel) for o, rel in zip(options, point, strict=True)}
        model.interval_boosters_ = {
            o: tuple(read(rel) for rel in reps) for o, reps in zip(options, replicates, strict=True)
        }
        calibrators = meta["calibrators"]
        model.calibrators_ = (
            {o: Calibrator.from_dict(c) for o, c in zip(options, calibrators, strict=True)}
            if calibrators
            else {}
        )
        model.option_fits_ = {
            o: OptionFit(
                o,
                int(f["n_patients"]),
                int(f["n_rounds"]),
                str(f["calibration"]),
                {str(k): float(v) for k, v in f["calibration_cv_brier"].items()},
                {str(k): float(v) for k, v in f.get("tuned", {}).items()},
                None if f.get("shrinkage") is None else float(f["shrinkage"]),
                None if f.get("calibration_effective_n") is None else float(f["calibration_effective_n"]),
                None if f.get("first_stage_rounds") is None else int(f["first_stage_rounds"]),
            )
            for o, f in zip(options, meta["option_fits"], strict=True)
        }
        model.propensity_model_ = PropensityModel.from_dict(meta["propensity_model"])
        model.overlap_ = OverlapReport.model_validate(meta["overlap"])
        model.options_ = options
        model.n_features_in_ = int(meta["n_features_in"])
        if meta["feature_names_in"] is not None:
            model.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        model.seed_ = int(meta["seed"])
        if hasattr(model, "feature_names_in_") or all(isinstance(c, int) for c in model.first_stage_features):
            names = getattr(model, "feature_names_in_", None)
            model.first_stage_columns_, _ = model._first_stage_columns(
                None if names is None else tuple(str(x) for x in names), model.n_features_in_
            )
        serving = booster_meta["serving"]
        merged_point = None if serving["point"] is None else read(serving["point"])
        merged_interval = None if serving["interval"] is None else read(serving["interval"])
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"load_model: {METADATA_FILE} is malformed ({type(exc).__name__})") from None
    except xgb.core.XGBoostError:
        raise ModelError("load_model: a booster file could not be read by XGBoost") from None
    if model.objective == "binary" and len(model.calibrators_) != len(options):
        raise ModelError("load_model: a binary model needs one calibrator per option")
    model._build_serving(point=merged_point, interval=merged_interval)
    return model
