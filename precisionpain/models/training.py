"""The training pipeline: cohort table + config -> fitted, evaluated, tracked and registered model.

Steps: read and check the table; split by patient; assemble features (the same code path as serving); fit
the TreatmentResponseModel; evaluate on the held-out patients; draw calibration and SHAP plots; write the model
card; log everything to one MLflow run; log ONE pyfunc model holding the whole option set; register it as a
new version with alias ``challenger``; move ``champion`` to it only if its doubly robust policy value on the
same held-out patients beats the current champion's. If anything fails or the run is interrupted, the
registry and its aliases are left as they were.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from precisionpain.catalog.loader import (
    FeatureCatalog,
    OptionCatalog,
    load_feature_catalog,
    load_treatment_options,
    resolve_root,
)
from precisionpain.catalog.pgx_tables import load_pgx_tables
from precisionpain.errors import DataError, Violation
from precisionpain.features.assemble import assemble_features
from precisionpain.features.frame import flat_columns
from precisionpain.models import plots
from precisionpain.models.card import model_card, subgroup_gaps
from precisionpain.models.config import TrainConfig, check_options
from precisionpain.models.evaluation import (
    EvaluationResult,
    HeldOut,
    evaluate,
    held_out,
    outcome_arrays,
    policy_dr_value,
    split_by_patient,
    usable_policy,
)
from precisionpain.models.package import INTENDED_USE, PackageMetadata, read_package, write_package
from precisionpain.models.registry import CHALLENGER, CHAMPION, Registry
from precisionpain.pgx.tables import PgxTables
from precisionpain.provenance import code_version, git_commit

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]  # (step description, fraction of the run done)


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


@dataclass(frozen=True)
class _Catalogs:
    root: Path
    features: FeatureCatalog
    options: OptionCatalog
    tables: PgxTables


def data_fingerprint(path: Path, frame: pd.DataFrame) -> str:
    """sha256 of the file's bytes plus its shape: identifies the exact training table."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    h.update(f"{frame.shape[0]}x{frame.shape[1]}".encode())
    return h.hexdigest()


def read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError("training data", [Violation(str(path), "file does not exist", "path")])
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    raise DataError("training data", [Violation(str(path), "must be a .parquet or .csv file", "path")])


def training_ranges(X: np.ndarray, names: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """Per feature, the 0.5th and 99.5th percentiles seen in training (what serving warns outside of)."""
    out: dict[str, tuple[float, float]] = {}
    for j, name in enumerate(names):
        col = X[:, j]
        col = col[~np.isnan(col)]
        if len(col):
            lo, hi = np.quantile(col, [0.005, 0.995])
            out[name] = (float(lo), float(hi))
    return out


def input_example(catalog: FeatureCatalog) -> pd.DataFrame:
    """A one-row example in the flat profile form made from the catalog (mid-range values), never from data."""
    from precisionpain.catalog.types import FieldType

    row: dict[str, Any] = {}
    for spec in catalog.fields:
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
    frame = pd.DataFrame([row], columns=list(flat_columns(catalog)))
    return frame


def _champion_value(
    registry: Registry, name: str, data: HeldOut, estimator: Any, config: TrainConfig
) -> tuple[str | None, float | None, str]:
    """The current champion's version and DR policy value on these held-out patients (same nuisances)."""
    current = registry.version_by_alias(name, CHAMPION)
    if current is None:
        return None, None, "no champion yet"
    try:
        with tempfile.TemporaryDirectory(prefix="precisionpain-champion-") as tmp:
            pkg = read_package(registry.download(current, Path(tmp)))
            X_champion = assemble_features(data.frame, pkg.catalog, pkg.tables).values
            p = pkg.estimator.predict_outcomes(X_champion)
    except Exception as exc:
        return current.version, None, f"champion v{current.version} could not be scored on these patients ({type(exc).__name__})"
    champion_options = [str(o) for o in pkg.estimator.options_]
    ours = [str(o) for o in estimator.options_]
    if champion_options != ours:
        return current.version, None, f"champion v{current.version} ranks a different option set"
    codes = usable_policy(p, data.in_order(champion_options).avoid)
    value = policy_dr_value(estimator, data, codes, config.evaluation, config.seed)
    return current.version, value, ""


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

    from precisionpain.models.estimator import TreatmentResponseModel

    step = progress or (lambda _msg, _frac: None)
    root = resolve_root(catalog_root)
    cats = _Catalogs(root, load_feature_catalog(root), load_treatment_options(root), load_pgx_tables(root))
    option_ids = check_options(config, cats.options.ids)

    step("reading the training table", 0.0)
    frame = read_table(data_path)
    fingerprint = data_fingerprint(data_path, frame)
    if config.options != "all" and config.outcome.treatment_column in frame.columns:
        keep = frame[config.outcome.treatment_column].isin(option_ids).to_numpy()
        frame = frame.loc[keep].reset_index(drop=True)
    outcome_arrays(frame, config.outcome, option_ids)  # every data problem is reported before any work

    step("splitting by patient and assembling features", 0.05)
    train_idx, test_idx = split_by_patient(frame, config.split)
    train_frame = frame.iloc[train_idx].reset_index(drop=True)
    test_frame = frame.iloc[test_idx].reset_index(drop=True)
    X_train = assemble_features(train_frame, cats.features, cats.tables).values
    X_test = assemble_features(test_frame, cats.features, cats.tables).values
    t_train, y_train = outcome_arrays(train_frame, config.outcome, option_ids)
    feature_ids = cats.features.feature_ids

    registry = Registry(tracking_uri, artifact_root)
    experiment_id = registry.experiment_id(config.experiment)
    name = config.registered_model
    with registry.transaction(name) as tx, mlflow.start_run(experiment_id=experiment_id) as run:
        run_id = run.info.run_id
        mlflow.set_tags(
            {
                "precisionpain.code_version": code_version(),
                "precisionpain.git_commit": git_commit() or "",
                "precisionpain.data_fingerprint": fingerprint,
                "precisionpain.data_file": data_path.name,
                "precisionpain.catalog_sha256": cats.features.sha256,
                "precisionpain.options_sha256": cats.options.sha256,
                "precisionpain.pgx_tables_sha256": cats.tables.sha256,
                "mlflow.note.content": config.description or f"PrecisionPain training run ({config.experiment})",
            }
        )
        params = {
            "n_rows": len(frame),
            "n_train": len(train_idx),
            "n_test": len(test_idx),
            "n_features": len(feature_ids),
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
        for rel in (*cats.features.files, cats.options.path.relative_to(root).as_posix()):
            mlflow.log_artifact(str(root / rel), f"catalog/{Path(rel).parent.as_posix()}")
        mlflow.log_dict(
            {
                "feature_catalog": cats.features.identity,
                "options_catalog_sha256": cats.options.sha256,
                "pgx_tables_sha256": cats.tables.sha256,
                "files": {rel: hashlib.sha256((root / rel).read_bytes()).hexdigest() for rel in cats.features.files},
            },
            "catalog/sha256.json",
        )

        step(f"fitting {len(option_ids)} option models on {len(train_idx):,} patients", 0.1)
        estimator = TreatmentResponseModel(**config.model.estimator_params(config.outcome.objective, config.seed))
        t0 = time.perf_counter()
        estimator.fit(X_train, t_train, y_train)
        fit_seconds = time.perf_counter() - t0
        mlflow.log_metric("fit_seconds", fit_seconds)
        overlap = _overlap_summary(estimator)
        mlflow.log_metrics({f"overlap.{k}": v for k, v in overlap.items()})
        mlflow.log_dict({str(o): f.to_dict() for o, f in estimator.option_fits_.items()}, "fit/options.json")

        step(f"evaluating on {len(test_idx):,} held-out patients", 0.6)
        data = held_out(test_frame, X_test, config.outcome, option_ids, cats.options, cats.tables)
        evaluation = evaluate(
            estimator, data, config.evaluation, cats.features, seed=config.seed, interval_alpha=config.model.interval.alpha
        )
        _log_evaluation(evaluation)

        step("explaining (global SHAP) and plotting", 0.75)
        _log_plots(estimator, evaluation, X_test, cats.features, config)

        metadata = PackageMetadata(
            registered_model=name,
            catalog_id=cats.features.catalog_id,
            catalog_version=cats.features.version,
            catalog_sha256=cats.features.sha256,
            options_catalog_sha256=cats.options.sha256,
            option_ids=tuple(str(o) for o in estimator.options_),
            feature_ids=feature_ids,
            training_ranges=training_ranges(X_train, feature_ids),
            headline_metrics={k: float(v) for k, v in evaluation.headline.items() if np.isfinite(v)},
            subgroup_gaps=subgroup_gaps(evaluation),
            interval_alpha=config.model.interval.alpha,
            strategy=config.model.strategy,
            intended_use=INTENDED_USE,
            training_data=_training_data_text(frame, data_path),
            data_fingerprint=fingerprint,
            code_version=code_version(),
            git_commit=git_commit() or "",
            trained_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
            run_id=run_id,
            experiment=config.experiment,
        )
        card = model_card(config, evaluation, metadata, overlap, len(train_idx))
        mlflow.log_text(card, "model_card.md")

        step("logging the model", 0.85)
        model_uri, model_id = _log_model(estimator, metadata, root, card, cats.features)

        step("registering and deciding on the champion", 0.95)
        challenger_value = evaluation.policy.policy.dr.estimate
        champion_version, champion_value, why = _champion_value(registry, name, data, estimator, config)
        version = tx.create_version(
            model_uri,
            run_id,
            model_id,
            {"dr_policy_value": challenger_value, "catalog_sha256": cats.features.sha256, "code_version": code_version()},
        )
        tx.set_alias(CHALLENGER, version)
        promoted, decision = _decide(
            version, challenger_value, champion_version, champion_value, why, config.promotion.min_improvement
        )
        if promoted:
            tx.set_alias(CHAMPION, version)
        mlflow.set_tags(
            {
                "precisionpain.registered_model": name,
                "precisionpain.model_version": version,
                "precisionpain.promotion.promoted": str(promoted).lower(),
                "precisionpain.promotion.decision": decision,
            }
        )
        if champion_value is not None:
            mlflow.log_metric("champion_dr_policy_value_same_data", champion_value)
        mlflow.log_text(decision + "\n", "promotion.txt")
        log.info("promotion: %s", decision)
        final_champion = version if promoted else (champion_version or "")
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
    )


def _decide(
    version: str,
    challenger: float,
    champion_version: str | None,
    champion: float | None,
    why: str,
    min_improvement: float,
) -> tuple[bool, str]:
    if champion_version is None:
        return True, f"v{version} becomes champion: {why} (DR policy value {challenger:.4f})"
    if champion is None:
        return False, f"v{version} stays challenger: {why}; promote it by hand if intended"
    if challenger > champion + min_improvement:
        return True, (
            f"v{version} becomes champion: DR policy value {challenger:.4f} beats champion v{champion_version} "
            f"({champion:.4f}) on the same held-out patients"
        )
    return False, (
        f"v{version} stays challenger: DR policy value {challenger:.4f} does not beat champion v{champion_version} "
        f"({champion:.4f}) on the same held-out patients"
    )


def _training_data_text(frame: pd.DataFrame, path: Path) -> str:
    synthetic = any(str(c).startswith("true_p_response__") for c in frame.columns)
    kind = "Synthetic cohort (PrecisionPain generator; not real patients)" if synthetic else "Patient table"
    return f"{kind} {path.name}, {len(frame):,} patients"


def _overlap_summary(estimator: Any) -> dict[str, float]:
    report = estimator.overlap_
    flat = report.flat() if hasattr(report, "flat") else {}
    keep = {}
    for key, value in flat.items():
        if key.count(".") == 0 and isinstance(value, float) and np.isfinite(value):
            keep[key] = value
    return keep


def _log_evaluation(evaluation: EvaluationResult) -> None:
    import mlflow

    metrics: dict[str, float] = {}
    for opt in evaluation.per_option:
        for k, v in opt.metrics.flat().items():
            metrics[f"option.{opt.option_id}.{k}"] = v
        for k in ("ece_noise_floor", "ece_excess", "ece_true", "ece_true_all"):
            value = getattr(opt, k)
            if value is not None:
                metrics[f"option.{opt.option_id}.{k}"] = value
    metrics.update(evaluation.policy.flat("policy"))
    if evaluation.oracle is not None:
        metrics.update(evaluation.oracle.flat("oracle"))
    for name, report in evaluation.subgroups.items():
        metrics.update({k: v for k, v in report.flat(f"subgroup.{name}").items() if "groups" not in k or k.count(".") <= 4})
    metrics.update(evaluation.headline)
    for k, v in evaluation.policy_share.items():
        metrics[f"policy_share.{k}"] = v
    clean = {k.replace(" ", "_").replace("/", "_"): float(v) for k, v in metrics.items() if np.isfinite(v)}
    mlflow.log_metrics(clean)
    mlflow.log_text(evaluation.model_dump_json(indent=2), "evaluation/evaluation.json")


def _log_plots(estimator: Any, evaluation: EvaluationResult, X_test: np.ndarray, catalog: FeatureCatalog, config: TrainConfig) -> None:
    import mlflow

    curves = {
        o.option_id: (o.calibration_predicted, o.calibration_observed, o.calibration_count) for o in evaluation.per_option
    }
    _log_png(plots.calibration_plot(curves, "Calibration on held-out patients (per option)"), "plots/calibration.png")
    rng = np.random.default_rng(config.seed)
    n = min(config.evaluation.shap_sample_size, len(X_test))
    sample = X_test[rng.choice(len(X_test), size=n, replace=False)]
    explanation = estimator.explain(sample)
    labels = [catalog.feature(f).label for f in catalog.feature_ids]
    summary: dict[str, dict[str, float]] = {}
    for j, option in enumerate(explanation.options):
        contrib = explanation.contributions[:, j, :]
        mean_abs = np.abs(contrib).mean(axis=0)
        summary[str(option)] = {fid: float(v) for fid, v in zip(catalog.feature_ids, mean_abs, strict=True)}
        _log_png(plots.shap_bar_plot(mean_abs, labels, f"{option}: mean |SHAP|"), f"plots/shap/{option}_bar.png")
        _log_png(
            plots.shap_beeswarm_plot(contrib, sample, labels, f"{option}: SHAP values"),
            f"plots/shap/{option}_beeswarm.png",
        )
    mlflow.log_dict(summary, "evaluation/shap_mean_abs.json")


def _log_png(data: bytes, artifact_file: str) -> None:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        path.write_bytes(data)
        mlflow.log_artifact(str(path), str(Path(artifact_file).parent))


def _log_model(
    estimator: Any, metadata: PackageMetadata, catalog_root: Path, card: str, catalog: FeatureCatalog
) -> tuple[str, str | None]:
    """Log the package as ONE pyfunc model (models from code: no pickle) and return its URI and id."""
    import mlflow
    from mlflow.models import infer_signature

    from precisionpain.models.pyfunc import ENTRY_POINT, PrecisionPainPyfunc

    with tempfile.TemporaryDirectory(prefix="precisionpain-package-") as tmp:
        package = write_package(Path(tmp) / "package", estimator, metadata, catalog_root, card)
        entry = Path(tmp) / "precisionpain_model.py"
        entry.write_text(ENTRY_POINT, encoding="utf-8")
        example = input_example(catalog)
        # The signature's output comes from running the model on the example, as MLflow would.
        from mlflow.pyfunc import PythonModelContext

        scorer = PrecisionPainPyfunc()
        scorer.load_context(PythonModelContext(artifacts={"package": str(package)}, model_config={}))
        signature = infer_signature(example, scorer.predict(None, example))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(entry),
            artifacts={"package": str(package)},
            signature=signature,
            input_example=example,
            pip_requirements=[f"precisionpain=={metadata.code_version.split('+')[0]}"],
            metadata={"precisionpain": json.loads(metadata.model_dump_json(exclude={"training_ranges"}))},
        )
    return info.model_uri, getattr(info, "model_id", None)
