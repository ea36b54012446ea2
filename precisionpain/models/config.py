"""The training configuration (experiments/<name>/config.yaml), parsed strictly: an unknown key is an error
and every problem is listed in one message."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from precisionpain.base import FrozenModel
from precisionpain.benefit_harm import RankingSettings
from precisionpain.catalog.loader import parse_as, read_yaml
from precisionpain.errors import CatalogError, ConfigError, Violation

Strategy = Literal["t_learner", "s_learner", "ipw_t_learner", "x_learner", "dr_learner", "auto"]

# Tree parameters that map onto TreatmentResponseModel arguments; other keys go to its ``xgb_params``.
ESTIMATOR_TREE_PARAMS = (
    "n_estimators",
    "learning_rate",
    "max_depth",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
    "tree_method",
    "max_bin",
    "early_stopping_rounds",
)


class OutcomeConfig(FrozenModel):
    column: str = "responded"
    treatment_column: str = "assigned_option"
    objective: Literal["binary", "regression"] = "binary"
    definition: str = ">=30% reduction in 0-10 NRS pain at 12 weeks (IMMPACT moderately important)"


#: The harm outcomes a model may have beside the response, in the order answers list them.
HARM_OUTCOMES: tuple[str, ...] = ("adverse_event", "dropout")
HarmName = Literal["adverse_event", "dropout"]


class HarmConfig(FrozenModel):
    """One harm outcome modelled beside the response: one calibrated model per option on the same patients, split,
    features and estimator settings (the treatment column is ``outcome.treatment_column``; the objective binary).

    ``column`` holds the observed 0/1 outcome of the option each patient received. A synthetic cohort records
    every patient's potential outcome under every option instead (``<factual_prefix><option>``): when the table
    has no ``column`` and ``factual_prefix`` is set, the observed outcome is the one of the option received."""

    name: HarmName
    column: str = Field(min_length=1)
    factual_prefix: str | None = None
    definition: str = ""


class SplitConfig(FrozenModel):
    test_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    group_column: str | None = "patient_id"
    seed: int = 11


class IntervalConfig(FrozenModel):
    method: Literal["jackknife", "bootstrap", "none"] = "jackknife"
    n_bootstrap: int = Field(default=10, ge=2, le=200)
    alpha: float = Field(default=0.1, gt=0.0, lt=0.5)


class ModelConfig(FrozenModel):
    strategy: Strategy = "t_learner"
    calibration: Literal["auto", "isotonic", "sigmoid", "none"] = "auto"
    n_folds: int = Field(default=5, ge=2, le=20)
    min_samples_per_option: int = Field(default=20, ge=2)
    propensity_clip: float = Field(default=0.01, gt=0.0, lt=0.5)
    n_jobs: int = Field(default=2, ge=1, le=64)
    xgboost: dict[str, Any] = Field(default_factory=dict)
    interval: IntervalConfig = IntervalConfig()
    #: seeded random settings of max_depth, learning_rate and min_child_weight tried per booster besides the
    #: given ones (0 = off; see TreatmentResponseModel's tuning_trials)
    tuning_trials: int = Field(default=0, ge=0, le=100)
    #: shrink every option's difference to the most common option towards its population mean: "none", "auto"
    #: (lambda chosen on the training patients) or a lambda in [0, 1] (see TreatmentResponseModel's shrinkage)
    shrinkage: Literal["none", "auto"] | Annotated[float, Field(ge=0.0, le=1.0)] = "none"
    #: what each option's calibrator is fitted to: "none", its own patients; "inverse_propensity", its patients
    #: weighted to the whole population's mix (see TreatmentResponseModel's calibration_weighting)
    calibration_weighting: Literal["none", "inverse_propensity"] = "none"
    #: feature ids (of the feature catalog) each option's booster starts from: a first booster on them alone, the
    #: usual booster a correction to it (see TreatmentResponseModel's first_stage_features); () = none
    first_stage_features: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = Field(
        default=(), max_length=256
    )
    #: L2 penalty of the first stage's leaves (see TreatmentResponseModel's first_stage_lambda)
    first_stage_lambda: float = Field(default=20.0, ge=0.0, le=1e6)

    def estimator_params(
        self,
        objective: str,
        seed: int,
        *,
        single_class: str = "error",
        feature_ids: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments for TreatmentResponseModel (``single_class="prior"`` for a harm outcome, which some
        options' patients may never have had). With ``feature_ids`` (the columns of the matrix the estimator is
        fitted on, in order) ``first_stage_features`` become column positions (a ConfigError names an id that is
        not one of them); without, they stay names (for an X with column names)."""
        tree = {k: v for k, v in self.xgboost.items() if k in ESTIMATOR_TREE_PARAMS}
        extra = {k: v for k, v in self.xgboost.items() if k not in ESTIMATOR_TREE_PARAMS}
        first_stage: tuple[int | str, ...] = self.first_stage_features
        if feature_ids is not None and first_stage:
            index = {f: i for i, f in enumerate(feature_ids)}
            ConfigError.raise_if_any(
                "training config",
                [
                    Violation(f"model.first_stage_features[{i}]", "must be a feature id of the feature catalog", "string")
                    for i, f in enumerate(first_stage)
                    if f not in index
                ],
            )
            first_stage = tuple(index[str(f)] for f in first_stage)
        return {
            "objective": objective,
            "strategy": self.strategy,
            "calibration": self.calibration,
            "n_folds": self.n_folds,
            "min_samples_per_option": self.min_samples_per_option,
            "single_class": single_class,
            "propensity_clip": self.propensity_clip,
            "interval_method": self.interval.method,
            "n_bootstrap": self.interval.n_bootstrap,
            "random_state": seed,
            "n_jobs": self.n_jobs,
            "xgb_params": extra or None,
            "tuning_trials": self.tuning_trials,
            "shrinkage": self.shrinkage,
            "calibration_weighting": self.calibration_weighting,
            "first_stage_features": first_stage,
            "first_stage_lambda": self.first_stage_lambda,
            **tree,
        }


class EvaluationConfig(FrozenModel):
    n_bootstrap: int = Field(default=200, ge=10, le=5000)
    alpha: float = Field(default=0.1, gt=0.0, lt=0.5)
    subgroups: tuple[str, ...] = ("sex", "biogeographic_group", "age_band")
    age_bands_years: tuple[float, ...] = (18.0, 40.0, 65.0, 111.0)
    shap_sample_size: int = Field(default=400, ge=20, le=20_000)
    calibration_bins: int = Field(default=10, ge=3, le=50)
    # Held-out patients on which the intervals' coverage of E[true p | recorded inputs] is estimated (synthetic
    # truth only; a cross-fitted regression of the truth on the features, precisionpain.models.evaluation
    # .expected_truth); 0 skips it.
    expected_truth_rows: int = Field(default=10_000, ge=0, le=200_000)
    reference_option: str | None = None  # sqrt-PEHE reference; None = the option given most often

    @field_validator("age_bands_years")
    @classmethod
    def _increasing(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) < 2 or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError("age band edges must be at least two strictly increasing numbers")
        return v


class PromotionConfig(FrozenModel):
    """When a new version takes ``champion``: the one-sided ``confidence`` lower bound of its paired DR policy
    value gain over the champion, on held-out patients neither model was trained on, must be above
    ``min_improvement`` (a difference in response rate). See precisionpain/models/promotion.py."""

    metric: Literal["dr_policy_value"] = "dr_policy_value"
    min_improvement: float = Field(default=0.005, ge=0.0, le=1.0)
    confidence: float = Field(default=0.95, ge=0.5, lt=1.0)


class TrainConfig(FrozenModel):
    """One experiment's training run."""

    experiment: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/ ]*$")
    registered_model: str = Field(
        default="precisionpain-response", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$"
    )
    description: str = ""
    options: Literal["all"] | tuple[str, ...] = "all"
    seed: int = 7
    outcome: OutcomeConfig = OutcomeConfig()
    harms: tuple[HarmConfig, ...] = ()
    split: SplitConfig = SplitConfig()
    model: ModelConfig = ModelConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    promotion: PromotionConfig = PromotionConfig()
    # How answers weigh the harms against the response and order the options (precisionpain.benefit_harm).
    ranking: RankingSettings = RankingSettings()

    @model_validator(mode="after")
    def _options_unique(self) -> TrainConfig:
        if isinstance(self.options, tuple):
            if len(self.options) < 2:
                raise ValueError("options lists at least two option ids (or is 'all')")
            if len(set(self.options)) != len(self.options):
                raise ValueError("options lists an id more than once")
        names = [h.name for h in self.harms]
        if len(set(names)) != len(names):
            raise ValueError("harms lists an outcome more than once")
        columns = [h.column for h in self.harms]
        if self.outcome.column in columns or len(set(columns)) != len(columns):
            raise ValueError("harms and outcome must each name their own column")
        if self.harms and self.outcome.objective != "binary":
            raise ValueError("harms need the binary objective")
        return self

    @property
    def outcome_names(self) -> tuple[str, ...]:
        """The response followed by the harms, in :data:`HARM_OUTCOMES` order."""
        given = {h.name for h in self.harms}
        return ("response", *(h for h in HARM_OUTCOMES if h in given))

    def harm(self, name: str) -> HarmConfig:
        return next(h for h in self.harms if h.name == name)


def _estimator_violations(model: ModelConfig, objective: str, seed: int) -> list[Violation]:
    """The estimator's own parameter checks (tree parameters, reserved XGBoost keys), paths under model."""
    from precisionpain.models.estimator import TreatmentResponseModel

    params = model.estimator_params(objective, seed)
    try:
        TreatmentResponseModel(**params)._check_params()
    except ConfigError as exc:
        out = []
        for v in exc.violations:
            key = v.path.removeprefix("xgb_params[").removesuffix("]")
            if key in ESTIMATOR_TREE_PARAMS or v.path.startswith("xgb_params["):
                out.append(Violation(f"model.xgboost.{key}", v.rule, v.received))
            else:
                out.append(Violation(f"model.{v.path}", v.rule, v.received))
        return out
    except TypeError as exc:  # an unexpected keyword cannot happen: tree keys are filtered above
        return [Violation("model", str(exc))]
    return []


DEFAULT_CONFIG = "models/response_model.yaml"


def default_config_path(catalog_root: str | os.PathLike[str] | None = None) -> Path:
    """The shipped response-model spec (``models/response_model.yaml`` of the catalog root)."""
    from precisionpain.catalog.loader import resolve_root

    return resolve_root(catalog_root) / DEFAULT_CONFIG


def load_train_config(
    path: str | os.PathLike[str], *, known_options: Sequence[str] | None = None
) -> TrainConfig:
    """Read and validate a training config; every problem is raised at once as a ConfigError.

    With ``known_options`` (the treatment-option catalog's ids) the option ids the config names (``options``,
    ``evaluation.reference_option``) are checked against it in the same pass."""
    p = Path(path)
    what = f"training config {p}"
    try:
        data = read_yaml(p)
    except CatalogError as exc:
        raise ConfigError(what, exc.violations) from None
    if data is None:
        data = {}
    try:
        config = parse_as(TrainConfig, data, what)
    except CatalogError as exc:
        violations = list(exc.violations)
        # Check the estimator parameters too, so one message lists every problem.
        if known_options is not None and isinstance(data, dict):
            violations += _option_violations(data.get("options"), data.get("evaluation"), known_options)
        raw_model = data.get("model") if isinstance(data, dict) else None
        raw_xgb = raw_model.get("xgboost") if isinstance(raw_model, dict) else None
        if isinstance(raw_xgb, dict) and all(isinstance(k, str) for k in raw_xgb):
            model = ModelConfig.model_construct(xgboost=raw_xgb)
            seen = {v.path for v in violations}
            violations += [
                v
                for v in _estimator_violations(model, "binary", 0)
                if v.path.startswith("model.xgboost.") and v.path not in seen
            ]
        raise ConfigError(what, violations) from None
    violations = _estimator_violations(config.model, config.outcome.objective, config.seed)
    if known_options is not None:
        violations += _option_violations(config.options, config.evaluation.model_dump(), known_options)
    ConfigError.raise_if_any(what, violations)
    return config


def _option_violations(options: Any, evaluation: Any, known: Sequence[str]) -> list[Violation]:
    """Option ids in the config that the treatment-option catalog does not define."""
    out: list[Violation] = []
    if isinstance(options, list | tuple):
        unknown = [str(o) for o in options if isinstance(o, str) and o not in known]
        if unknown:
            out.append(
                Violation(
                    "options",
                    f"names option(s) not in models/treatment_options.yaml: {', '.join(unknown)}",
                    "list",
                )
            )
    reference = evaluation.get("reference_option") if isinstance(evaluation, dict) else None
    if isinstance(reference, str) and reference not in known:
        out.append(
            Violation(
                "evaluation.reference_option", "must be an option of models/treatment_options.yaml", "string"
            )
        )
    return out


def check_options(config: TrainConfig, known: tuple[str, ...]) -> tuple[str, ...]:
    """The option ids this run trains, each checked against the treatment-option catalog."""
    if config.options == "all":
        return known
    unknown = [o for o in config.options if o not in known]
    if unknown:
        raise ConfigError(
            "training config",
            [
                Violation(
                    "options",
                    f"names option(s) not in models/treatment_options.yaml: {', '.join(unknown)}",
                    "list",
                )
            ],
        )
    return tuple(config.options)
