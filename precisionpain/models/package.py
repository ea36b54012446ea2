"""The model package: what one registered model version holds, and how to read it back.

    <package>/
      estimator/           TreatmentResponseModel (boosters as UBJSON, calibrators and metadata as JSON)
      catalog/features/    the feature catalog and CPIC tables the model was trained with
      catalog/models/      the treatment-option catalog
      metadata.json        PackageMetadata: catalog identity, features, training ranges, metrics, provenance
      model_card.md        the model card written from the training run

The package is self-contained: serving and batch scoring use the catalog inside it, so a model can never be
fed features encoded by a different catalog. No pickle is involved.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from precisionpain.base import FrozenModel
from precisionpain.catalog.loader import (
    FeatureCatalog,
    OptionCatalog,
    load_feature_catalog,
    load_treatment_options,
)
from precisionpain.catalog.pgx_tables import load_pgx_tables
from precisionpain.errors import ModelError
from precisionpain.models.config import EvaluationConfig, OutcomeConfig, SplitConfig
from precisionpain.pgx.tables import PgxTables
from precisionpain.schema import SubgroupGap

PACKAGE_FORMAT = 1


class PackageMetadata(FrozenModel):
    format_version: int = PACKAGE_FORMAT
    registered_model: str
    catalog_id: str
    catalog_version: str
    catalog_sha256: str
    options_catalog_sha256: str
    option_ids: tuple[str, ...]
    feature_ids: tuple[str, ...]
    training_ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)
    headline_metrics: dict[str, float] = Field(default_factory=dict)
    subgroup_gaps: tuple[SubgroupGap, ...] = ()
    interval_alpha: float = 0.1
    strategy: str = "t_learner"
    intended_use: str = ""
    training_data: str = ""
    data_fingerprint: str = ""
    code_version: str = ""
    git_commit: str = ""
    trained_at: str = ""
    run_id: str = ""
    experiment: str = ""
    # How the training run defined the outcome, split the patients and evaluated (re-used by re-evaluation).
    outcome: OutcomeConfig = OutcomeConfig()
    split: SplitConfig = SplitConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    seed: int = 7


INTENDED_USE = (
    "Supports clinicians choosing a chronic-pain treatment for an adult by estimating, for each option, the "
    "probability of a >=30% pain reduction at 12 weeks, with CPIC pharmacogenomic guidance and explanations. "
    "It supports and does not replace clinical judgment; not for acute pain, children, or emergencies."
)


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


def package_metadata(
    estimator: Any,
    X_train: np.ndarray,
    catalog: FeatureCatalog,
    options: OptionCatalog,
    *,
    registered_model: str,
    training_data: str,
    **fields: Any,
) -> PackageMetadata:
    """The metadata of a package for ``estimator`` fitted on ``X_train`` (catalog column order): catalog
    identity and hashes, option and feature ids, training ranges and the training time, plus ``fields``."""
    return PackageMetadata(
        registered_model=registered_model,
        catalog_id=catalog.catalog_id,
        catalog_version=catalog.version,
        catalog_sha256=catalog.sha256,
        options_catalog_sha256=options.sha256,
        option_ids=tuple(str(o) for o in estimator.options_),
        feature_ids=catalog.feature_ids,
        training_ranges=training_ranges(X_train, catalog.feature_ids),
        intended_use=fields.pop("intended_use", INTENDED_USE),
        training_data=training_data,
        trained_at=fields.pop("trained_at", None) or datetime.now(UTC).replace(microsecond=0).isoformat(),
        **fields,
    )


@dataclass(frozen=True)
class LoadedPackage:
    """A model package read into memory: everything needed to predict and explain."""

    path: Path
    estimator: Any  # precisionpain.models.TreatmentResponseModel
    metadata: PackageMetadata
    catalog: FeatureCatalog
    options: OptionCatalog
    tables: PgxTables
    model_card: str


def write_package(
    directory: Path,
    estimator: Any,
    metadata: PackageMetadata,
    catalog_root: Path,
    model_card: str,
) -> Path:
    """Write a model package folder (used by the training pipeline before logging it to MLflow)."""
    from precisionpain.models.artifacts import save_model

    directory.mkdir(parents=True, exist_ok=True)
    save_model(estimator, directory / "estimator")
    for sub in ("features", "models"):
        shutil.copytree(catalog_root / sub, directory / "catalog" / sub, dirs_exist_ok=True)
    (directory / "metadata.json").write_text(metadata.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (directory / "model_card.md").write_text(model_card, encoding="utf-8")
    return directory


def find_package_root(path: Path) -> Path:
    """A package folder, or an MLflow model folder holding one under artifacts/package."""
    for candidate in (path, path / "artifacts" / "package", path / "package"):
        if (candidate / "metadata.json").is_file() and (candidate / "estimator").is_dir():
            return candidate
    raise ModelError(
        f"{path} holds no PrecisionPain model package (expected metadata.json and estimator/ "
        "or an MLflow model with artifacts/package)"
    )


def read_package(path: str | Path) -> LoadedPackage:
    """Read a package folder (or a downloaded MLflow model holding one) and check it is consistent."""
    from precisionpain.models.artifacts import load_model

    root = find_package_root(Path(path))
    try:
        metadata = PackageMetadata.model_validate(json.loads((root / "metadata.json").read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ModelError(f"model metadata is unreadable ({type(exc).__name__})") from None
    if metadata.format_version != PACKAGE_FORMAT:
        raise ModelError(f"model package format {metadata.format_version} is not supported (expected {PACKAGE_FORMAT})")
    catalog_root = root / "catalog"
    catalog = load_feature_catalog(catalog_root)
    options = load_treatment_options(catalog_root)
    tables = load_pgx_tables(catalog_root)
    if catalog.sha256 != metadata.catalog_sha256:
        raise ModelError("the catalog inside the model package does not match the sha256 recorded at training")
    estimator = load_model(root / "estimator")
    card_path = root / "model_card.md"
    return LoadedPackage(
        path=root,
        estimator=estimator,
        metadata=metadata,
        catalog=catalog,
        options=options,
        tables=tables,
        model_card=card_path.read_text(encoding="utf-8") if card_path.is_file() else "",
    )
