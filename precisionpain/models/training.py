"""The training pipeline: cohort table + config -> fitted, evaluated, tracked and registered model; and the
re-evaluation and manual promotion of registered versions.

:func:`train` steps: read and check the table (every problem in one DataError, before any tracking); split by
patient; assemble features (the same code path as serving); fit the TreatmentResponseModel; evaluate on the
held-out patients; draw calibration and SHAP plots; write the model card; log everything to one MLflow run (with
a keyed-hash record of the training patients); log ONE pyfunc model holding the whole option set; register it as
a new version with alias ``challenger``; move ``champion`` to it only if its doubly robust policy value beats the
current champion's by more than the noise, on held-out patients neither was trained on
(:mod:`precisionpain.models.promotion`). If anything fails or the run is interrupted, the registry and its
aliases are left as they were.

:func:`evaluate_registered` re-scores any registered version on a table (whole or the held-out split) with the
catalog inside its own package and logs an evaluation run tagged with the version; :func:`promote` moves
``champion`` by hand and logs why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from precisionpain.catalog.catalogs import Catalogs, load_catalogs
from precisionpain.catalog.loader import (
    FeatureCatalog,
)
from precisionpain.errors import DataError, PrecisionPainError, Violation
from precisionpain.features.assemble import assemble_features
from precisionpain.features.frame import flat_columns
from precisionpain.models import plots
from precisionpain.models.card import model_card, subgroup_gaps
from precisionpain.models.config import EvaluationConfig, TrainConfig, check_options
from precisionpain.models.evaluation import (
    EvaluationResult,
    HeldOut,
    check_table,
    evaluate,
    harm_arrays,
    held_out,
    option_count_violations,
    outcome_arrays,
    policy_dr_scores,
    split_by_patient,
    usable_policy,
)
from precisionpain.models.outcomes import table_means, with_observed_harms
from precisionpain.models.package import (
    LoadedPackage,
    PackageMetadata,
    package_manifest_sha256,
    package_metadata,
    read_package,
    training_ranges,
    write_package,
)
from precisionpain.models.promotion import (
    RECORD_FOLDER,
    PairedComparison,
    TrainingPatients,
    compare_paired,
    decide_promotion,
    overlap_reason,
    promotion_rule,
)
from precisionpain.models.registry import (
    CHALLENGER,
    CHAMPION,
    PACKAGE_MANIFEST_TAG,
    Registry,
    ResolvedVersion,
)
from precisionpain.provenance import code_version, git_commit

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]  # (step description, fraction of the run done)
EvaluationSplit = Literal["all", "test", "train"]

TAG = "precisionpain."
RUN_KIND = TAG + "run_kind"


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    experiment_id: str
    registered_model: str
    version: str
    champion_version: str
    promoted: bool
    decision: str
    headline: dict[str, float]
    model_uri: str
    fit_seconds: float
    pipeline_seconds: float
    evaluation: EvaluationResult
    comparison: PairedComparison | None = None  # challenger vs champion, when they could be compared


@dataclass(frozen=True)
class PromotionResult:
    registered_model: str
    version: str
    previous_champion: str | None
    changed: bool
    decision: str
    run_id: str | None


#: ``evaluate --engine``'s hook (precisionpain.scale.evaluation.HeldOutPredictions): called with the resolved
#: version, its package, the held-out features, the rows of the SHAP sample (None: no SHAP plots) and the interval
#: alpha, it returns stand-ins of the response and harm models that answer the evaluation from predictions
#: computed elsewhere
HeldOutPredictions = Callable[
    [ResolvedVersion, LoadedPackage, np.ndarray, np.ndarray | None, float], tuple[Any, dict[str, Any]]
]


def _noop(_message: str, _fraction: float) -> None:
    return None


def data_fingerprint(path: Path, frame: pd.DataFrame) -> str:
    """sha256 of the file's bytes plus its shape: identifies the exact table a run read. For a partitioned
    dataset (a folder of part files), of each part's name and bytes in name order instead of the file's."""
    h = hashlib.sha256()
    if path.is_dir():
        h.update(_partitioned().files_sha256(path).encode())
    else:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    h.update(f"{frame.shape[0]}x{frame.shape[1]}".encode())
    return h.hexdigest()


# -- partitioned datasets: a folder of Parquet part files (``cohort --engine ...`` writes one) is read wherever a
#    Parquet file is, by precisionpain.scale.datasets (files in name order, every file with the same columns)


def _partitioned() -> Any:
    from precisionpain.scale import datasets

    return datasets


def data_namespace(path: Path) -> str:
    """Whose patient ids a table holds: for a synthetic cohort file (parquet with the generator's metadata) the
    generator's seed and parameters, since its ids repeat in every cohort; "" for any other table."""
    if path.suffix.lower() not in (".parquet", ".pq") and not path.is_dir():
        return ""
    import pyarrow.parquet as pq

    try:
        raw = (
            _partitioned().file_schema_metadata(path)
            if path.is_dir()
            else pq.read_schema(path).metadata or {}
        )
    except (OSError, ValueError):
        return ""
    meta = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace")[:200] for k, v in raw.items()}
    seed, dgp = meta.get("precisionpain.cohort.seed"), meta.get("precisionpain.cohort.dgp_sha256")
    if seed is None or dgp is None or not seed.isdigit():
        return ""
    return f"synthetic cohort seed {int(seed)}, generator parameters {dgp[:12]}"


def read_table(path: Path, what: str = "training data") -> pd.DataFrame:
    """A .parquet or .csv patient table, or a folder of .parquet part files read as one table; a missing or
    unreadable file is a DataError."""
    if path.is_dir():
        frame: pd.DataFrame = _partitioned().read_frame(path)
        return frame
    if not path.is_file():
        raise DataError(what, [Violation(str(path), "file does not exist", "path")])
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise DataError(what, [Violation(str(path), "must be a .parquet or .csv file", "path")])
    try:
        return pd.read_parquet(path) if suffix in (".parquet", ".pq") else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(
            what, [Violation(str(path), "cannot be read as a table", type(exc).__name__)]
        ) from None


def input_example(catalog: FeatureCatalog) -> pd.DataFrame:
    """A one-row example in the flat profile form made from the catalog (mid-range values), never from data."""
    from precisionpain.catalog.types import FieldType

    row: dict[str, Any] = {}
    for spec in catalog.input_fields:
        f = spec.field
        if f.type is FieldType.pgx_gene:
            row[f"{f.id}_diplotype"] = "*1/*1"
            row[f"{f.id}_phenotype"] = None
            row[f"{f.id}_activity_score"] = None
            row[f"{f.id}_source"] = "lab"
        elif f.type is FieldType.category:
            row[f.id] = (f.levels or ("",))[0]
        elif f.type is FieldType.boolean:
            row[f.id] = False
        elif f.valid_range is not None:
            mid = (f.valid_range[0] + f.valid_range[1]) / 2
            row[f.id] = float(round(mid)) if f.type is FieldType.integer else float(mid)
        else:
            row[f.id] = None
    for (
        c
    ) in catalog.constraints:  # a level the other field's example level allows (pain condition, pain type)
        first, second = c.fields
        if (
            c.allowed is not None
            and row.get(first) is not None
            and row.get(second) not in c.allowed[row[first]]
        ):
            row[first] = next((level for level, ok in c.allowed.items() if row.get(second) in ok), None)
    return pd.DataFrame([row], columns=list(flat_columns(catalog)))


@dataclass(frozen=True)
class PreparedData:
    """A checked training table split by patient, with features assembled (what :func:`train` fits on)."""

    frame: pd.DataFrame
    fingerprint: str
    option_ids: tuple[str, ...]
    train_frame: pd.DataFrame
    test_frame: pd.DataFrame
    X_train: np.ndarray
    X_test: np.ndarray
    t_train: np.ndarray
    y_train: np.ndarray
    namespace: str = ""  # see data_namespace
    harm_train: dict[str, np.ndarray] = field(default_factory=dict)  # each harm's observed outcome, by name


def prepare_data(data_path: Path, config: TrainConfig, catalogs: Catalogs | None = None) -> PreparedData:
    """Read, check (one DataError listing every problem), filter to the configured options, split by patient
    and assemble features. Nothing is tracked or registered yet."""
    cats = catalogs or load_catalogs(None)
    option_ids = check_options(config, cats.options.ids)
    raw = read_table(data_path)
    fingerprint = data_fingerprint(data_path, raw)
    frame = check_table(
        with_observed_harms(raw, config.harms, config.outcome.treatment_column),
        outcome=config.outcome,
        option_ids=option_ids,
        known_option_ids=cats.options.ids,
        catalog=cats.features,
        tables=cats.tables,
        group_column=config.split.group_column,
        harms=config.harms,
    )
    train_idx, test_idx = split_by_patient(frame, config.split)
    train_frame = frame.iloc[train_idx].reset_index(drop=True)
    test_frame = frame.iloc[test_idx].reset_index(drop=True)
    t_train, y_train = outcome_arrays(train_frame, config.outcome, option_ids)
    DataError.raise_if_any(
        "training data",
        option_count_violations(
            t_train, y_train, option_ids, config.model.min_samples_per_option, config.outcome.objective
        ),
    )
    X_train = assemble_features(train_frame, cats.features, cats.tables, validate=False).values
    X_test = assemble_features(test_frame, cats.features, cats.tables, validate=False).values
    return PreparedData(
        frame,
        fingerprint,
        option_ids,
        train_frame,
        test_frame,
        X_train,
        X_test,
        t_train,
        y_train,
        data_namespace(data_path),
        harm_arrays(train_frame, config.harms),
    )


def _patient_ids(frame: pd.DataFrame, split: Any) -> list[Any] | None:
    """The patient ids of a table's rows (one per patient), or None when rows are not grouped by patient."""
    column = split.group_column
    if column is None or column not in frame.columns:
        return None
    return list(pd.unique(frame[column].astype(object)))


def _log_training_patients(prepared: PreparedData, config: TrainConfig) -> None:
    """Record who this run trained on (keyed hashes of the ids; see TrainingPatients) as run artifacts."""
    import mlflow

    ids = _patient_ids(prepared.train_frame, config.split)
    if ids is None or config.split.group_column is None:
        return
    record = TrainingPatients.of(ids, namespace=prepared.namespace, group_column=config.split.group_column)
    with tempfile.TemporaryDirectory(prefix="precisionpain-patients-") as tmp:
        record.write(Path(tmp))
        mlflow.log_artifacts(tmp, RECORD_FOLDER)


def _compare_with_champion(
    registry: Registry, name: str, data: HeldOut, estimator: Any, config: TrainConfig, prepared: PreparedData
) -> tuple[str | None, PairedComparison | None, str]:
    """(champion version, paired comparison, why there is none). The current champion scores this run's held-out
    patients with its own package; both policies are valued patient by patient with the same DR estimator and this
    run's nuisance models, so the difference is due to the choices, not to the estimator. No comparison when the
    champion cannot be read or scored, ranks another option set, or was trained on some of these patients."""
    current = registry.version_by_alias(name, CHAMPION)
    if current is None:
        return None, None, "no champion yet"
    try:
        with tempfile.TemporaryDirectory(prefix="precisionpain-champion-") as tmp:
            _, pkg = read_registered(registry, current, Path(tmp) / "model")
            X_champion = assemble_features(data.frame, pkg.catalog, pkg.tables, validate=False).values
            p_champion = pkg.estimator.predict_outcomes(X_champion)
            record_dir = registry.download_run_artifacts(current.run_id, RECORD_FOLDER, Path(tmp) / "record")
            champion_patients = None if record_dir is None else TrainingPatients.read(record_dir)
    except Exception as exc:
        detail = str(exc) if isinstance(exc, PrecisionPainError) else type(exc).__name__
        return (
            current.version,
            None,
            f"champion v{current.version} could not be scored on these patients ({detail})",
        )
    champion_options = [str(o) for o in pkg.estimator.options_]
    ours = [str(o) for o in estimator.options_]
    if champion_options != ours:
        return current.version, None, f"champion v{current.version} ranks a different option set"
    overlap = overlap_reason(
        current.version,
        champion_patients,
        pkg.metadata.data_fingerprint,
        pkg.metadata.split,
        fingerprint=prepared.fingerprint,
        split=config.split,
        namespace=prepared.namespace,
        held_out_ids=_patient_ids(data.frame, config.split),
    )
    if overlap:
        return current.version, None, overlap
    data = data.in_order(ours)
    champion_codes = usable_policy(p_champion, data.avoid)
    challenger_codes = usable_policy(estimator.predict_outcomes(data.X), data.avoid)
    comparison = compare_paired(
        policy_dr_scores(estimator, data, challenger_codes),
        policy_dr_scores(estimator, data, champion_codes),
        confidence=config.promotion.confidence,
        n_discordant=int((champion_codes != challenger_codes).sum()),
    )
    return current.version, comparison, ""


def train(
    data_path: Path,
    config: TrainConfig,
    *,
    tracking_uri: str,
    artifact_root: Path | None,
    catalog_root: Path | None = None,
    config_path: Path | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Run the whole pipeline; see the module docstring."""
    import mlflow

    from precisionpain.models.estimator import SHRUNK_SUFFIX, TreatmentResponseModel

    started = time.perf_counter()
    step = progress or _noop
    cats = load_catalogs(catalog_root)
    # the estimator's settings (first-stage features as catalog columns) are checked before anything is read
    params = config.model.estimator_params(config.outcome.objective, config.seed, feature_ids=cats.features.feature_ids)
    step("reading and checking the training table", 0.0)
    prepared = prepare_data(data_path, config, cats)
    option_ids = prepared.option_ids
    n_train, n_test = len(prepared.train_frame), len(prepared.test_frame)

    registry = Registry(tracking_uri, artifact_root)
    experiment_id = registry.experiment_id(config.experiment)
    name = config.registered_model
    run_name = f"{config.model.strategy}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    with (
        mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run,
        registry.transaction(name, run.info.run_id) as tx,
    ):
        run_id = run.info.run_id
        mlflow.set_tags(
            {
                RUN_KIND: "training",
                TAG + "strategy": config.model.strategy,
                TAG + "code_version": code_version(),
                TAG + "git_commit": git_commit() or "unknown",
                TAG + "data_fingerprint": prepared.fingerprint,
                TAG + "data_file": data_path.name,
                TAG + "catalog_sha256": cats.features.sha256,
                TAG + "options_sha256": cats.options.sha256,
                TAG + "pgx_tables_sha256": cats.tables.sha256,
                TAG + "registered_model": name,
                TAG + "data_namespace": prepared.namespace or "patient ids of the table",
                "mlflow.note.content": config.description
                or f"PrecisionPain training run ({config.experiment})",
            }
        )
        _log_config_and_catalog(config, config_path, cats, prepared, option_ids)
        _log_training_patients(prepared, config)

        step(f"fitting {len(option_ids)} option models on {n_train:,} patients", 0.1)
        estimator = TreatmentResponseModel(**params)
        t0 = time.perf_counter()
        estimator.fit(prepared.X_train, prepared.t_train, prepared.y_train)
        harms = fit_harms(estimator, prepared, config)
        fit_seconds = time.perf_counter() - t0
        means = table_means(
            {"response": estimator, **harms},
            prepared.X_train,
            prepared.train_frame,
            [str(o) for o in estimator.options_],
        )
        mlflow.log_metric("fit_seconds", fit_seconds)
        effective = [f.calibration_effective_n for f in estimator.option_fits_.values()]
        if all(e is not None for e in effective):  # calibration_weighting: the thinnest weighted calibrator
            mlflow.log_metric("calibration_effective_n_min", min(e for e in effective if e is not None))
        strategy = str(estimator.strategy_)
        if estimator.shrinkage_ is not None:
            mlflow.log_metric("shrinkage_lambda", estimator.shrinkage_)
            mlflow.log_metrics(
                {f"shrinkage_loss.{k}": v for k, v in estimator.shrinkage_scores_.items() if np.isfinite(v)}
            )
        if estimator.strategy_scores_:  # strategy: auto
            mlflow.log_metrics({f"strategy_auto.{k}": v for k, v in estimator.strategy_scores_.items()})
            shrunk = estimator.shrinkage_ is not None
            mlflow.set_tag(TAG + "strategy_chosen", strategy + (SHRUNK_SUFFIX if shrunk else ""))
            # the package is a model of the chosen strategy (saved, loaded and served like one)
            estimator.set_params(strategy=strategy, shrinkage=estimator.shrinkage_ if shrunk else "none")
        overlap = overlap_summary(estimator)
        mlflow.log_metrics({f"overlap.{k}": v for k, v in overlap.items()})
        mlflow.log_dict({str(o): f.to_dict() for o, f in estimator.option_fits_.items()}, "fit/options.json")
        for outcome, model in harms.items():
            fits = {str(o): f.to_dict() for o, f in model.option_fits_.items()}
            mlflow.log_dict(fits, f"fit/{outcome}.json")
        mlflow.log_dict(estimator.overlap_.model_dump(mode="json"), "fit/overlap.json")

        step(f"evaluating on {n_test:,} held-out patients", 0.6)
        t0 = time.perf_counter()
        data = held_out(
            prepared.test_frame,
            prepared.X_test,
            config.outcome,
            option_ids,
            cats.options,
            cats.tables,
            harms=config.harms,
        )
        evaluation = evaluate(
            estimator,
            data,
            config.evaluation,
            cats.features,
            seed=config.seed,
            interval_alpha=config.model.interval.alpha,
            harms=harms,
            ranking=config.ranking,
            table_means=means,
        )
        mlflow.log_metric("evaluate_seconds", time.perf_counter() - t0)
        log_evaluation(evaluation)

        step("explaining (global SHAP) and plotting", 0.75)
        log_plots(
            estimator, evaluation, prepared.X_test, cats.features, config.evaluation, config.seed, harms=harms
        )

        metadata = package_metadata(
            estimator,
            prepared.X_train,
            cats.features,
            cats.options,
            registered_model=name,
            training_data=_training_data_text(prepared.frame, data_path),
            headline_metrics={k: float(v) for k, v in evaluation.headline.items() if np.isfinite(v)},
            subgroup_gaps=subgroup_gaps(evaluation),
            interval_alpha=config.model.interval.alpha,
            strategy=strategy,
            data_fingerprint=prepared.fingerprint,
            code_version=code_version(),
            git_commit=git_commit() or "",
            run_id=run_id,
            experiment=config.experiment,
            outcome=config.outcome,
            harms=config.harms,
            split=config.split,
            evaluation=config.evaluation,
            seed=config.seed,
            ranking=config.ranking,
            table_means=means,
        )
        card = model_card(
            config,
            evaluation,
            metadata,
            overlap,
            n_train,
            strategy_scores=estimator.strategy_scores_,
            shrinkage=_shrinkage_text(estimator),
        )
        mlflow.log_text(card, "model_card.md")

        step("logging the model", 0.85)
        model_uri, model_id, manifest_sha256 = _log_model(
            estimator, metadata, cats.root, card, cats.features, harms
        )
        mlflow.set_tag(TAG + PACKAGE_MANIFEST_TAG, manifest_sha256)

        step("registering and deciding on the champion", 0.95)
        challenger_value = evaluation.policy.policy.dr.estimate
        champion_version, comparison, why = _compare_with_champion(
            registry, name, data, estimator, config, prepared
        )
        version = tx.create_version(
            model_uri,
            run_id,
            model_id,
            {
                "dr_policy_value": challenger_value,
                "catalog_sha256": cats.features.sha256,
                "code_version": code_version(),
                "strategy": strategy,
                "data_fingerprint": prepared.fingerprint,
                PACKAGE_MANIFEST_TAG: manifest_sha256,
            },
        )
        tx.set_alias(CHALLENGER, version)
        promoted, decision = decide_promotion(
            version, challenger_value, champion_version, comparison, why, config.promotion
        )
        if promoted:
            tx.set_alias(CHAMPION, version)
        rule = promotion_rule(config.promotion)
        figures: dict[str, Any] = {}
        if comparison is not None:
            figures = {
                "promotion_dr_difference": f"{comparison.difference:.6f}",
                "promotion_dr_difference_lower_bound": f"{comparison.lower_bound:.6f}",
                "promotion_n_patients": comparison.n_patients,
            }
        registry.set_version_tags(
            name,
            version,
            {
                "promotion_decision": decision,
                "promotion_rule": rule,
                "promotion_compared_with": f"v{champion_version}" if comparison is not None else "",
                **figures,
            },
        )
        mlflow.set_tags(
            {
                TAG + "model_version": version,
                TAG + "promotion.promoted": str(promoted).lower(),
                TAG + "promotion.decision": decision,
                TAG + "promotion.rule": rule,
                TAG + "promotion.previous_champion": champion_version or "",
                **({TAG + "promotion.not_compared": why} if why else {}),
            }
        )
        mlflow.log_metric("promotion.min_improvement", config.promotion.min_improvement)
        if comparison is not None:
            mlflow.log_metric("champion_dr_policy_value_same_data", comparison.champion_value)
            mlflow.log_metrics(comparison.metrics())
        mlflow.log_text(decision + "\n" + rule + "\n", "promotion.txt")
        log.info("promotion: %s", decision)
        final_champion = version if promoted else (champion_version or "")
        pipeline_seconds = time.perf_counter() - started
        mlflow.log_metric("pipeline_seconds", pipeline_seconds)
    step("done", 1.0)
    return TrainResult(
        run_id=run_id,
        experiment_id=experiment_id,
        registered_model=name,
        version=version,
        champion_version=final_champion,
        promoted=promoted,
        decision=decision,
        headline=evaluation.headline,
        model_uri=f"models:/{name}/{version}",
        fit_seconds=fit_seconds,
        pipeline_seconds=pipeline_seconds,
        evaluation=evaluation,
        comparison=comparison,
    )


def _shrinkage_text(estimator: Any) -> str | None:
    """The model card's account of the shrinkage applied (None without)."""
    lam = estimator.shrinkage_
    if lam is None:
        return None
    how = (
        "chosen on the training patients by the R-loss of the effects between options"
        if estimator.shrinkage_scores_ and len(estimator.shrinkage_scores_) > 1
        else "as configured"
    )
    return (
        "the differences between options shrunk towards their population means (each option's margin towards a "
        f"prognosis model fitted on all training patients plus the option's mean difference to it) with lambda "
        f"{lam:.2f}, {how} (0 = the best single option for everyone, 1 = the unshrunk model); each option's "
        "explanation is lambda times its own model's contributions plus (1 - lambda) times the prognosis "
        "model's, so the contributions to the difference between two options are the unshrunk ones times lambda"
    )


def fit_harms(response: Any, prepared: PreparedData, config: TrainConfig) -> dict[str, Any]:
    """One model per harm outcome (``config.harms``) on the response model's patients, features and settings,
    reusing its propensity model and its strategy (the one ``strategy: auto`` chose); an option none of whose
    patients had the harm gets the estimator's prior (``single_class="prior"``). Returned in answer order
    (``config.outcome_names``)."""
    from precisionpain.models.estimator import TreatmentResponseModel, fitted_strategy

    params = config.model.estimator_params("binary", config.seed, single_class="prior")
    params["strategy"] = fitted_strategy(response)
    params["shrinkage"] = response.shrinkage_setting_
    params["first_stage_features"] = response.first_stage_features  # the response's, resolved to columns
    out: dict[str, Any] = {}
    for name in config.outcome_names[1:]:
        out[name] = TreatmentResponseModel(**params).fit(
            prepared.X_train,
            prepared.t_train,
            prepared.harm_train[name],
            propensity_model=response.propensity_model_,
        )
    return out


def _training_data_text(frame: pd.DataFrame, path: Path) -> str:
    synthetic = any(str(c).startswith("true_p_response__") for c in frame.columns)
    kind = "Synthetic cohort (PrecisionPain generator; not real patients)" if synthetic else "Patient table"
    return f"{kind} {path.name}, {len(frame):,} patients"


def overlap_summary(estimator: Any) -> dict[str, float]:
    """The overlap report's headline numbers (per-option details go to fit/overlap.json)."""
    report = estimator.overlap_
    out = {
        "share_outside_overlap": float(report.share_outside_overlap),
        "share_outside_relative": float(report.share_outside_relative),
        "max_propensity_ratio_q99": float(report.max_propensity_ratio_q99),
        "poor_overlap": float(bool(report.poor_overlap)),
    }
    if report.options:
        out["min_ess_fraction"] = float(min(o.ess_fraction for o in report.options))
    return {k: v for k, v in out.items() if np.isfinite(v)}


def _metric_key(key: str) -> str:
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in key)


def evaluation_metrics(evaluation: EvaluationResult) -> dict[str, float]:
    """Every finite number of an evaluation as flat MLflow metric names."""
    metrics: dict[str, float] = {}
    for opt in evaluation.per_option:
        for k, v in opt.metrics.flat().items():
            metrics[f"option.{opt.option_id}.{k}"] = v
        for k in ("ece_noise_floor", "ece_excess", "ece_true", "ece_true_all", "ece_true_floor"):
            value = getattr(opt, k)
            if value is not None:
                metrics[f"option.{opt.option_id}.{k}"] = value
    for o, v in evaluation.interval_coverage_per_option.items():
        metrics[f"option.{o}.interval_coverage"] = v
    for o, v in evaluation.interval_coverage_expected_per_option.items():
        metrics[f"option.{o}.interval_coverage_expected"] = v
    for name, harm in evaluation.harms.items():
        for opt in harm.per_option:
            for k, v in opt.metrics.flat().items():
                metrics[f"{name}.option.{opt.option_id}.{k}"] = v
            for k in ("ece_true", "ece_true_all", "ece_true_floor"):
                value = getattr(opt, k)
                if value is not None:
                    metrics[f"{name}.option.{opt.option_id}.{k}"] = value
        for o, v in harm.interval_coverage_per_option.items():
            metrics[f"{name}.option.{o}.interval_coverage"] = v
        for o, v in harm.interval_coverage_expected_per_option.items():
            metrics[f"{name}.option.{o}.interval_coverage_expected"] = v
    metrics.update(evaluation.policy.flat("policy"))
    if evaluation.oracle is not None:
        metrics.update(evaluation.oracle.flat("oracle"))
    for name, report in evaluation.subgroups.items():
        metrics.update(report.flat(f"subgroup.{name}"))
    for k, v in evaluation.policy_share.items():
        metrics[f"policy_share.{k}"] = v
    metrics.update(evaluation.headline)
    return {_metric_key(k): float(v) for k, v in metrics.items() if np.isfinite(v)}


def log_evaluation(evaluation: EvaluationResult) -> None:
    """Log an evaluation's metrics and its full JSON to the active MLflow run."""
    import mlflow

    mlflow.log_metrics(evaluation_metrics(evaluation))
    mlflow.log_text(evaluation.model_dump_json(indent=2), "evaluation/evaluation.json")


def shap_sample_rows(n_rows: int, config: EvaluationConfig, seed: int) -> np.ndarray:
    """The rows of the global SHAP plots: a seeded sample of ``config.shap_sample_size`` of ``n_rows``, in order."""
    rng = np.random.default_rng(seed)
    n = min(config.shap_sample_size, n_rows)
    return np.sort(rng.choice(n_rows, size=n, replace=False))


def log_plots(
    estimator: Any,
    evaluation: EvaluationResult,
    X: np.ndarray,
    catalog: FeatureCatalog,
    config: EvaluationConfig,
    seed: int,
    *,
    shap: bool = True,
    harms: dict[str, Any] | None = None,
) -> None:
    """Calibration plot per option and (``shap``) global SHAP bar and beeswarm plots per option, on a seeded
    sample of ``config.shap_sample_size`` rows of X, logged under plots/ in the active run. Each harm outcome's
    models (``harms``) get their calibration plot and SHAP bar plots under plots/<outcome>/, and their mean
    |SHAP| per feature in evaluation/shap_mean_abs_<outcome>.json."""
    import mlflow

    def curves(per_option: Any) -> dict[str, Any]:
        return {
            o.option_id: (o.calibration_predicted, o.calibration_observed, o.calibration_count)
            for o in per_option
        }

    with tempfile.TemporaryDirectory(prefix="precisionpain-plots-") as tmp:
        folder = Path(tmp)
        (folder / "shap").mkdir()
        (folder / "calibration.png").write_bytes(
            plots.calibration_plot(
                curves(evaluation.per_option), "Calibration on held-out patients (per option)"
            )
        )
        for name, harm in evaluation.harms.items():
            (folder / name / "shap").mkdir(parents=True)
            (folder / name / "calibration.png").write_bytes(
                plots.calibration_plot(curves(harm.per_option), f"{name}: calibration on held-out patients")
            )
        if shap:
            sample = X[shap_sample_rows(len(X), config, seed)]
            labels = [catalog.feature(f).label for f in catalog.feature_ids]
            models = {
                "response": estimator,
                **{k: v for k, v in (harms or {}).items() if k in evaluation.harms},
            }
            for outcome, model in models.items():
                explanation = model.explain(sample)
                summary: dict[str, dict[str, float]] = {}
                where = folder / "shap" if outcome == "response" else folder / outcome / "shap"
                for j, option in enumerate(explanation.options):
                    contrib = explanation.contributions[:, j, :]
                    mean_abs = np.abs(contrib).mean(axis=0)
                    summary[str(option)] = {
                        fid: float(v) for fid, v in zip(catalog.feature_ids, mean_abs, strict=True)
                    }
                    title = (
                        f"{option}: mean |SHAP| (log-odds)"
                        if outcome == "response"
                        else f"{option}, {outcome}"
                    )
                    (where / f"{option}_bar.png").write_bytes(plots.shap_bar_plot(mean_abs, labels, title))
                    if outcome == "response":
                        (where / f"{option}_beeswarm.png").write_bytes(
                            plots.shap_beeswarm_plot(contrib, sample, labels, f"{option}: SHAP values")
                        )
                suffix = "" if outcome == "response" else f"_{outcome}"
                mlflow.log_dict(summary, f"evaluation/shap_mean_abs{suffix}.json")
        mlflow.log_artifacts(str(folder), "plots")


def _log_config_and_catalog(
    config: TrainConfig,
    config_path: Path | None,
    cats: Catalogs,
    prepared: PreparedData,
    option_ids: tuple[str, ...],
) -> None:
    import mlflow

    params: dict[str, Any] = {
        "n_rows": len(prepared.frame),
        "n_train": len(prepared.train_frame),
        "n_test": len(prepared.test_frame),
        "n_features": len(cats.features.feature_ids),
        "n_options": len(option_ids),
        "options": ",".join(option_ids),
        "catalog_version": cats.features.version,
        "seed": config.seed,
    }
    flat_config = pd.json_normalize(config.model_dump(mode="json"), sep=".").iloc[0].to_dict()
    params.update({f"config.{k}": v for k, v in flat_config.items()})
    mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
    mlflow.log_dict(config.model_dump(mode="json"), "config/config.json")
    if config_path is not None:
        mlflow.log_artifact(str(config_path), "config")
    files = (*cats.features.files, cats.options.path.relative_to(cats.root).as_posix())
    for rel in files:
        mlflow.log_artifact(str(cats.root / rel), f"catalog/{Path(rel).parent.as_posix()}")
    mlflow.log_dict(
        {
            "feature_catalog": cats.features.identity,
            "options_catalog_sha256": cats.options.sha256,
            "pgx_tables_sha256": cats.tables.sha256,
            "files": {rel: hashlib.sha256((cats.root / rel).read_bytes()).hexdigest() for rel in files},
        },
        "catalog/sha256.json",
    )


def _log_model(
    estimator: Any,
    metadata: PackageMetadata,
    catalog_root: Path,
    card: str,
    catalog: FeatureCatalog,
    harms: dict[str, Any],
) -> tuple[str, str | None, str]:
    """Log the package as ONE pyfunc model (models from code: no pickle) and return its URI, its id and the
    sha256 of the package's manifest."""
    import mlflow
    from mlflow.pyfunc import PythonModelContext

    from precisionpain.models.pyfunc import (
        ENTRY_POINT,
        MANIFEST_CONFIG_KEY,
        PrecisionPainPyfunc,
        model_signature,
    )

    with tempfile.TemporaryDirectory(prefix="precisionpain-package-") as tmp:
        package = write_package(Path(tmp) / "package", estimator, metadata, catalog_root, card, harms)
        manifest_sha256 = package_manifest_sha256(package)
        model_config = {MANIFEST_CONFIG_KEY: manifest_sha256}
        entry = Path(tmp) / "precisionpain_model.py"
        entry.write_text(ENTRY_POINT, encoding="utf-8")
        example = input_example(catalog)
        signature = model_signature(metadata.option_ids, metadata.outcomes)
        # The package must score its own example before it is logged.
        scorer = PrecisionPainPyfunc()
        scorer.load_context(
            PythonModelContext(artifacts={"package": str(package)}, model_config=model_config)
        )
        scorer.predict(None, example)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(entry),
            artifacts={"package": str(package)},
            model_config=model_config,
            signature=signature,
            input_example=example,
            pip_requirements=[f"precisionpain=={metadata.code_version.split('+')[0]}"],
            metadata={"precisionpain": json.loads(metadata.model_dump_json(exclude={"training_ranges"}))},
        )
    return info.model_uri, getattr(info, "model_id", None), manifest_sha256


# --------------------------------------------------------------------------------------------- registered


def load_registered(
    registry: Registry, model_uri: str, directory: Path
) -> tuple[ResolvedVersion, LoadedPackage]:
    """Resolve ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``, download it into ``directory`` and read it
    (every file checked against the package manifest, the manifest against the version's recorded sha256)."""
    return read_registered(registry, registry.resolve(model_uri), directory)


def read_registered(
    registry: Registry, version: ResolvedVersion, directory: Path
) -> tuple[ResolvedVersion, LoadedPackage]:
    """Download a resolved version into ``directory`` and read its package, verified against the registry."""
    recorded = version.package_manifest_sha256
    return version, read_package(registry.download(version, directory), expected_manifest_sha256=recorded)


def evaluate_registered(
    model_uri: str,
    data_path: Path,
    *,
    tracking_uri: str,
    artifact_root: Path | None,
    config: EvaluationConfig | None = None,
    log_to_mlflow: bool = True,
    split: EvaluationSplit = "all",
    experiment: str | None = None,
    plots_shap: bool = False,
    progress: Progress | None = None,
    predictions: HeldOutPredictions | None = None,
) -> EvaluationResult:
    """Re-evaluate a registered version on a patient table.

    The version is downloaded and its package read; features are assembled with the package's own catalog and
    CPIC tables; the table is checked like training data (rows given an option the model does not rank are left
    out). ``split="all"`` scores every row; ``"test"``/``"train"`` take that side of the training run's own
    split (same config, so on the training table ``"test"`` reproduces the training evaluation). ``config``
    defaults to the training run's evaluation settings. With ``log_to_mlflow`` an evaluation run is logged
    (default experiment: the training run's) with the metrics, the calibration plot (and SHAP plots with
    ``plots_shap``) and tags naming the version. The result's ``provenance`` names what was evaluated.
    ``predictions`` computes the models' held-out predictions and SHAP sample elsewhere (``evaluate --engine dask``,
    see :data:`HeldOutPredictions`); everything else is the same.
    """
    import mlflow

    step = progress or _noop
    registry = Registry(tracking_uri, artifact_root)
    step(f"downloading {model_uri}", 0.0)
    with tempfile.TemporaryDirectory(prefix="precisionpain-evaluate-") as tmp:
        version, pkg = load_registered(registry, model_uri, Path(tmp))
        eval_config = config or pkg.metadata.evaluation
        meta = pkg.metadata
        held_out_models: Callable[[np.ndarray], tuple[Any, dict[str, Any]]] | None = None
        if predictions is not None:
            hook = predictions

            def held_out_models(X: np.ndarray) -> tuple[Any, dict[str, Any]]:
                shown = plots_shap and log_to_mlflow
                rows = shap_sample_rows(len(X), eval_config, meta.seed) if shown else None
                return hook(version, pkg, X, rows, meta.interval_alpha)

        evaluation, X, frame, fingerprint, estimator = _evaluate_package(
            pkg, data_path, config, split, step, held_out_models
        )
        provenance = {
            "model_uri": model_uri,
            "registered_model": version.name,
            "model_version": version.version,
            "model_run_id": version.run_id,
            "data_file": data_path.name,
            "data_fingerprint": fingerprint,
            "split": split,
            "catalog_sha256": meta.catalog_sha256,
            "code_version": code_version(),
        }
        if not log_to_mlflow:
            step("done", 1.0)
            return evaluation.model_copy(update={"provenance": provenance})

        step("logging the evaluation run", 0.8)
        experiment_id = registry.experiment_id(experiment or meta.experiment or "precisionpain-evaluations")
        run_name = f"evaluate-{version.name}-v{version.version}"
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
            mlflow.set_tags(
                {
                    RUN_KIND: "evaluation",
                    TAG + "registered_model": version.name,
                    TAG + "model_version": version.version,
                    TAG + "model_uri": model_uri,
                    TAG + "model_alias": version.alias,
                    TAG + "model_run_id": version.run_id,
                    TAG + "evaluation_split": split,
                    TAG + "data_fingerprint": fingerprint,
                    TAG + "data_file": data_path.name,
                    TAG + "catalog_sha256": meta.catalog_sha256,
                    TAG + "code_version": code_version(),
                    TAG + "git_commit": git_commit() or "unknown",
                    TAG + "strategy": meta.strategy,
                }
            )
            mlflow.log_params({"n_rows": len(frame), "split": split, "seed": meta.seed})
            mlflow.log_dict(eval_config.model_dump(mode="json"), "config/evaluation.json")
            log_evaluation(evaluation)
            log_plots(estimator, evaluation, X, pkg.catalog, eval_config, meta.seed, shap=plots_shap)
            provenance["run_id"] = run.info.run_id
            mlflow.log_dict(provenance, "evaluation/provenance.json")
    step("done", 1.0)
    return evaluation.model_copy(update={"provenance": provenance})


def check_evaluation_table(raw: pd.DataFrame, pkg: LoadedPackage, *, grouped: bool = True) -> pd.DataFrame:
    """``raw`` checked as evaluation data of ``pkg`` (its options, catalog, tables, outcome and harms; with
    ``grouped``, the split's patient column too), the observed harms derived where the table has only the
    truth's."""
    meta = pkg.metadata
    return check_table(
        with_observed_harms(raw, meta.harms, meta.outcome.treatment_column, "evaluation data"),
        outcome=meta.outcome,
        option_ids=tuple(str(o) for o in pkg.estimator.options_),
        known_option_ids=pkg.options.ids,
        catalog=pkg.catalog,
        tables=pkg.tables,
        group_column=meta.split.group_column if grouped else None,
        what="evaluation data",
        harms=meta.harms,
    )


def _evaluate_package(
    pkg: LoadedPackage,
    data_path: Path,
    config: EvaluationConfig | None,
    split: EvaluationSplit,
    step: Progress,
    held_out_models: Callable[[np.ndarray], tuple[Any, dict[str, Any]]] | None = None,
) -> tuple[EvaluationResult, np.ndarray, pd.DataFrame, str, Any]:
    """Check the table against the package, pick the rows, assemble features and evaluate; ``held_out_models``
    gives stand-ins of the package's models whose predictions on those features were computed elsewhere. Returns
    the response model evaluated (the package's or its stand-in) too."""
    meta = pkg.metadata
    option_ids = tuple(str(o) for o in pkg.estimator.options_)
    step("reading and checking the table", 0.1)
    raw = read_table(data_path, "evaluation data")
    fingerprint = data_fingerprint(data_path, raw)
    frame = check_evaluation_table(raw, pkg, grouped=split != "all")
    if split != "all":
        train_idx, test_idx = split_by_patient(frame, meta.split)
        frame = frame.iloc[test_idx if split == "test" else train_idx].reset_index(drop=True)
    step(f"evaluating on {len(frame):,} patients", 0.3)
    X = assemble_features(frame, pkg.catalog, pkg.tables, validate=False).values
    data = held_out(frame, X, meta.outcome, option_ids, pkg.options, pkg.tables, harms=meta.harms)
    estimator, harms = (pkg.estimator, dict(pkg.harms)) if held_out_models is None else held_out_models(X)
    evaluation = evaluate(
        estimator,
        data,
        config or meta.evaluation,
        pkg.catalog,
        seed=meta.seed,
        interval_alpha=meta.interval_alpha,
        harms=harms,
        ranking=meta.ranking,
        table_means=meta.table_means,
    )
    return evaluation, X, frame, fingerprint, estimator


def promote(
    model_uri: str,
    *,
    tracking_uri: str,
    artifact_root: Path | None,
    reason: str = "",
    alias: str = CHAMPION,
) -> PromotionResult:
    """Move ``alias`` (``champion``) to the version ``model_uri`` names, by hand, and log it: the version gets
    tags with the decision, and a promotion run records the previous and new holder and the reason."""
    import mlflow

    registry = Registry(tracking_uri, artifact_root)
    target = registry.resolve(model_uri)
    name = target.name
    previous = registry.version_by_alias(name, alias)
    previous_version = previous.version if previous is not None else None
    if previous_version == target.version:
        return PromotionResult(
            name, target.version, previous_version, False, f"v{target.version} already holds {alias}", None
        )
    because = f": {reason}" if reason else ""
    decision = (
        f"v{target.version} becomes {alias} by hand"
        + (f" (was v{previous_version})" if previous_version else " (no previous holder)")
        + because
    )
    experiment_id = _experiment_of_run(registry, target.run_id) or registry.experiment_id(
        "precisionpain-promotions"
    )
    with (
        mlflow.start_run(experiment_id=experiment_id, run_name=f"promote-{name}-v{target.version}") as run,
        registry.transaction(name, run.info.run_id),
    ):
        mlflow.set_tags(
            {
                RUN_KIND: "promotion",
                TAG + "registered_model": name,
                TAG + "model_version": target.version,
                TAG + "promotion.alias": alias,
                TAG + "promotion.previous": previous_version or "",
                TAG + "promotion.decision": decision,
                TAG + "promotion.reason": reason,
                TAG + "code_version": code_version(),
            }
        )
        mlflow.log_text(decision + "\n", "promotion.txt")
        registry.set_alias(name, alias, target.version)
        registry.set_version_tags(
            name,
            target.version,
            {
                "promotion_decision": decision,
                "promoted_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            },
        )
        run_id = run.info.run_id
    log.info("promotion: %s", decision)
    return PromotionResult(name, target.version, previous_version, True, decision, run_id)


def _experiment_of_run(registry: Registry, run_id: str) -> str | None:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    try:
        return str(registry.client.get_run(run_id).info.experiment_id)
    except MlflowException:
        return None


__all__ = [
    "EvaluationSplit",
    "PreparedData",
    "PromotionResult",
    "TrainResult",
    "data_fingerprint",
    "decide_promotion",
    "evaluate_registered",
    "evaluation_metrics",
    "fit_harms",
    "input_example",
    "load_registered",
    "log_evaluation",
    "log_plots",
    "overlap_summary",
    "prepare_data",
    "promote",
    "read_table",
    "train",
    "training_ranges",
]
