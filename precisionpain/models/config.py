"""The training configuration (experiments/<name>/config.yaml), parsed strictly: an unknown key is an error
and every problem is listed in one message."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from precisionpain.base import FrozenModel
from precisionpain.catalog.loader import parse_as, read_yaml
from precisionpain.errors import CatalogError, ConfigError

Strategy = Literal["t_learner", "s_learner", "ipw_t_learner", "x_learner", "dr_learner"]


class OutcomeConfig(FrozenModel):
    column: str = "responded"
    treatment_column: str = "assigned_option"
    objective: Literal["binary", "regression"] = "binary"
    definition: str = ">=30% reduction in 0-10 NRS pain at 12 weeks (IMMPACT moderately important)"


class SplitConfig(FrozenModel):
    test_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    group_column: str | None = "patient_id"
    seed: int = 11


class IntervalConfig(FrozenModel):
    method: Literal["bootstrap", "none"] = "bootstrap"
    n_bootstrap: int = Field(default=4, ge=2, le=200)
    alpha: float = Field(default=0.1, gt=0.0, lt=0.5)


class ModelConfig(FrozenModel):
    strategy: Strategy = "t_learner"
    calibration: Literal["auto", "isotonic", "sigmoid", "none"] = "auto"
    min_samples_per_option: int = Field(default=20, ge=2)
    n_jobs: int = Field(default=2, ge=1, le=64)
    xgboost: dict[str, Any] = Field(default_factory=dict)
    interval: IntervalConfig = IntervalConfig()

    @field_validator("xgboost")
    @classmethod
    def _no_threads(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in ("nthread", "n_jobs"):
            if key in v:
                raise ValueError(f"set threads with model.n_jobs, not xgboost.{key}")
        return v


class EvaluationConfig(FrozenModel):
    n_bootstrap: int = Field(default=200, ge=10, le=5000)
    alpha: float = Field(default=0.1, gt=0.0, lt=0.5)
    subgroups: tuple[str, ...] = ("sex", "biogeographic_group", "age_band")
    age_bands_years: tuple[float, ...] = (18.0, 40.0, 65.0, 111.0)
    shap_sample_size: int = Field(default=400, ge=20, le=20_000)
    calibration_bins: int = Field(default=10, ge=3, le=50)

    @field_validator("age_bands_years")
    @classmethod
    def _increasing(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) < 2 or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError("age band edges must be at least two strictly increasing numbers")
        return v


class PromotionConfig(FrozenModel):
    metric: Literal["dr_policy_value"] = "dr_policy_value"
    min_improvement: float = Field(default=0.0, ge=0.0)


class TrainConfig(FrozenModel):
    """One experiment's training run."""

    experiment: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/ ]*$")
    registered_model: str = Field(default="precisionpain-response", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    options: Literal["all"] | tuple[str, ...] = "all"
    seed: int = 7
    outcome: OutcomeConfig = OutcomeConfig()
    split: SplitConfig = SplitConfig()
    model: ModelConfig = ModelConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    promotion: PromotionConfig = PromotionConfig()

    @model_validator(mode="after")
    def _options_unique(self) -> TrainConfig:
        if isinstance(self.options, tuple):
            if len(self.options) < 2:
                raise ValueError("options lists at least two option ids (or is 'all')")
            if len(set(self.options)) != len(self.options):
                raise ValueError("options lists an id more than once")
        return self


def load_train_config(path: str | os.PathLike[str]) -> TrainConfig:
    """Read and validate a training config; every problem is raised at once as a ConfigError."""
    p = Path(path)
    try:
        data = read_yaml(p)
        if data is None:
            data = {}
        return parse_as(TrainConfig, data, str(p))
    except CatalogError as exc:
        raise ConfigError(f"training config {p}", exc.violations) from None


def check_options(config: TrainConfig, known: tuple[str, ...]) -> tuple[str, ...]:
    """The option ids this run trains, each checked against the treatment-option catalog."""
    if config.options == "all":
        return known
    from precisionpain.errors import Violation

    unknown = [o for o in config.options if o not in known]
    if unknown:
        raise ConfigError(
            "training config",
            [Violation("options", f"names option(s) not in models/treatment_options.yaml: {', '.join(unknown)}", "list")],
        )
    return tuple(config.options)
