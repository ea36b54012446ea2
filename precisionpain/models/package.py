"""The model package: what one registered model version holds, and how to read it back.

    <package>/
      estimator/           TreatmentResponseModel of the response (boosters as UBJSON, calibrators and metadata
                           as JSON)
      harms/<outcome>/     one TreatmentResponseModel per harm outcome (adverse_event, dropout), same layout
      catalog/features/    the feature catalog and CPIC tables the model was trained with
      catalog/models/      the treatment-option catalog
      metadata.json        PackageMetadata: catalog identity, features, training ranges, metrics, provenance
      model_card.md        the model card written from the training run
      manifest.json        every other file of the package with its sha256 and size

The package is self-contained: serving and batch scoring use the catalog inside it, so a model can never be
fed features encoded by a different catalog. No pickle is involved.

Integrity: :func:`write_package` ends by sealing the package (:func:`seal_package` writes ``manifest.json``);
the sha256 of the manifest itself is what a training run records on its run and on the registered model version.
:func:`read_package` first checks every file against the manifest (a changed, missing or added file, a symlink,
or a manifest whose sha256 differs from the recorded one is refused) and only then parses anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from precisionpain.base import FrozenModel
from precisionpain.benefit_harm import RankingSettings
from precisionpain.catalog.loader import (
    FeatureCatalog,
    OptionCatalog,
    load_feature_catalog,
    load_treatment_options,
)
from precisionpain.catalog.pgx_tables import load_pgx_tables
from precisionpain.errors import ModelError
from precisionpain.models.config import EvaluationConfig, HarmConfig, OutcomeConfig, SplitConfig
from precisionpain.pgx.tables import PgxTables
from precisionpain.schema import SubgroupGap

PACKAGE_FORMAT = 2  # 2: every file listed in manifest.json
MANIFEST_FILE = "manifest.json"
HARMS_DIR = "harms"
MANIFEST_FORMAT = "precisionpain.package_manifest"
MANIFEST_FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20
MAX_PACKAGE_FILES = 10_000
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_SHOWN_PROBLEMS = 5


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
    # The harm outcomes modelled beside the response (packages written before them have none).
    harms: tuple[HarmConfig, ...] = ()
    split: SplitConfig = SplitConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    seed: int = 7
    # How answers weigh harms against the response and order the options (the spec's ``ranking`` section).
    ranking: RankingSettings = RankingSettings()
    # Per recorded condition (or pain type; and "all"), per outcome, each option's mean predicted probability over
    # the training patients (option_ids order): the tier policy's order within a tier (models/outcomes.table_means).
    table_means: dict[str, dict[str, tuple[float, ...]]] = Field(default_factory=dict)

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The response and the harm outcomes the package holds a model for, in answer order."""
        from precisionpain.models.outcomes import OUTCOMES

        given = {h.name for h in self.harms}
        return tuple(o for o in OUTCOMES if o == "response" or o in given)


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
    manifest_sha256: str = ""
    #: outcome name -> its TreatmentResponseModel, for each harm the package holds (in metadata.outcomes order)
    harms: Mapping[str, Any] = field(default_factory=dict)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _shown(rel: str) -> str:
    """A file name from disk as it may appear in a message: printable and bounded."""
    text = rel if rel.isprintable() else rel.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 120 else text[:117] + "..."


def _package_files(root: Path) -> tuple[dict[str, Path], list[str]]:
    """Every regular file under ``root`` except the manifest (relative POSIX path -> path), and the entries that
    are neither regular files nor directories (symlinks included, which are never followed)."""
    files: dict[str, Path] = {}
    odd: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames):
            if (base / name).is_symlink():
                odd.append((base / name).relative_to(root).as_posix())
        for name in sorted(filenames):
            path = base / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink() or not path.is_file():
                odd.append(rel)
            elif rel != MANIFEST_FILE:
                files[rel] = path
        if len(files) + len(odd) > MAX_PACKAGE_FILES:
            raise ModelError(f"model package holds more than {MAX_PACKAGE_FILES} files")
    return dict(sorted(files.items())), sorted(odd)


def seal_package(root: Path) -> str:
    """Write ``root/manifest.json`` listing every other file of the package with its sha256 and size, and
    return the sha256 of the manifest itself (what the registry records for the version)."""
    files, odd = _package_files(Path(root))
    if odd:
        raise ModelError(f"cannot seal the model package: {_shown(odd[0])} is not a regular file")
    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_FORMAT_VERSION,
        "algorithm": "sha256",
        "files": {rel: {"sha256": _file_sha256(p), "bytes": p.stat().st_size} for rel, p in files.items()},
    }
    data = _canonical(manifest)
    (Path(root) / MANIFEST_FILE).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _canonical(manifest: Any) -> bytes:
    """The one byte form of a manifest (so its sha256 is a function of its content)."""
    return (json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


def _manifest_entries(raw: bytes) -> dict[str, tuple[str, int]]:
    """The (sha256, size) of each file a manifest lists; ModelError naming the rule when it is malformed."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError(f"the model package's {MANIFEST_FILE} is not valid JSON") from None
    if (
        not isinstance(data, dict)
        or data.get("format") != MANIFEST_FORMAT
        or data.get("format_version") != MANIFEST_FORMAT_VERSION
        or data.get("algorithm", "sha256") != "sha256"
    ):
        raise ModelError(
            f"the model package's {MANIFEST_FILE} is not a PrecisionPain package manifest "
            f"(format {MANIFEST_FORMAT} version {MANIFEST_FORMAT_VERSION})"
        )
    listed = data.get("files")
    if not isinstance(listed, dict):
        raise ModelError(f"the model package's {MANIFEST_FILE} is malformed (files must be an object)")
    entries: dict[str, tuple[str, int]] = {}
    for rel, entry in listed.items():
        parts = rel.split("/")
        ok_path = (
            rel != MANIFEST_FILE and "\\" not in rel and all(part not in ("", ".", "..") for part in parts)
        )
        ok_entry = (
            isinstance(entry, dict)
            and isinstance(entry.get("sha256"), str)
            and _SHA256_HEX.match(entry["sha256"]) is not None
            and type(entry.get("bytes")) is int
            and entry["bytes"] >= 0
        )
        if not (ok_path and ok_entry):
            raise ModelError(
                f"the model package's {MANIFEST_FILE} is malformed (each entry is a relative path inside the "
                "package with its sha256 and bytes)"
            )
        entries[rel] = (entry["sha256"], entry["bytes"])
    if _canonical(data) != raw:
        raise ModelError(f"the model package's {MANIFEST_FILE} is not in the form seal_package writes")
    return entries


def verify_package(root: Path, expected_manifest_sha256: str | None = None) -> str:
    """Check every file of the package folder ``root`` against its manifest, and the manifest against
    ``expected_manifest_sha256`` (the registry's record) when given; return the manifest's sha256.

    Refused (ModelError naming the files, never their contents): no manifest, a manifest larger than
    ``MAX_MANIFEST_BYTES`` or malformed, a manifest whose sha256 differs from the expected one, a listed file
    that is missing or changed (size or sha256), a file the manifest does not list, anything that is not a
    regular file (a symlink)."""
    if expected_manifest_sha256 is not None and _SHA256_HEX.match(expected_manifest_sha256) is None:
        raise ModelError("the recorded sha256 of the package manifest is malformed (expected 64 hex digits)")
    path = root / MANIFEST_FILE
    if path.is_symlink() or not path.is_file():
        raise ModelError(
            f"the model package has no {MANIFEST_FILE} (it lists every file with its sha256; packages written "
            f"before package format {PACKAGE_FORMAT} have none): refusing it; retrain the model"
        )
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ModelError(f"the model package's {MANIFEST_FILE} is larger than {MAX_MANIFEST_BYTES} bytes")
    raw = path.read_bytes()[: MAX_MANIFEST_BYTES + 1]
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ModelError(f"the model package's {MANIFEST_FILE} is larger than {MAX_MANIFEST_BYTES} bytes")
    digest = hashlib.sha256(raw).hexdigest()
    if expected_manifest_sha256 is not None and digest != expected_manifest_sha256:
        raise ModelError(
            f"the model package's {MANIFEST_FILE} does not match the sha256 recorded for this model version "
            "in the registry: refusing it"
        )
    entries = _manifest_entries(raw)
    files, odd = _package_files(root)
    problems = [f"{_shown(rel)} is not a regular file" for rel in odd]
    problems += [f"{_shown(rel)} is missing" for rel in entries if rel not in files and rel not in odd]
    problems += [f"{_shown(rel)} is not in the manifest" for rel in files if rel not in entries]
    for rel, p in files.items():
        if rel in entries:
            sha, size = entries[rel]
            if p.stat().st_size != size or _file_sha256(p) != sha:
                problems.append(f"{_shown(rel)} changed")
    if problems:
        more = len(problems) - _SHOWN_PROBLEMS
        raise ModelError(
            "the model package does not match its manifest: "
            + "; ".join(problems[:_SHOWN_PROBLEMS])
            + (f"; and {more} more" if more > 0 else "")
            + ": refusing it"
        )
    return digest


def write_package(
    directory: Path,
    estimator: Any,
    metadata: PackageMetadata,
    catalog_root: Path,
    model_card: str,
    harms: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model package folder (used by the training pipeline before logging it to MLflow), sealed with
    its manifest (see :func:`seal_package`; :func:`package_manifest_sha256` reads the manifest's sha256).
    ``harms`` (outcome name -> fitted model) must be the harms ``metadata`` lists, on the same options."""
    from precisionpain.models.artifacts import save_model

    harms = dict(harms or {})
    listed = {h.name for h in metadata.harms}
    if set(harms) != listed:
        raise ModelError("write_package: the harm models must be the harm outcomes the metadata lists")
    for name, model in harms.items():
        if sorted(str(o) for o in model.options_) != sorted(metadata.option_ids):
            raise ModelError(f"write_package: the {name} model ranks other options than the response model")
    directory.mkdir(parents=True, exist_ok=True)
    save_model(estimator, directory / "estimator")
    for name, model in harms.items():
        save_model(model, directory / HARMS_DIR / name)
    for sub in ("features", "models"):
        shutil.copytree(catalog_root / sub, directory / "catalog" / sub, dirs_exist_ok=True)
    (directory / "metadata.json").write_text(metadata.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (directory / "model_card.md").write_text(model_card, encoding="utf-8")
    seal_package(directory)
    return directory


def package_manifest_sha256(root: Path) -> str:
    """The sha256 of a sealed package's manifest (what a training run records); the package is verified."""
    return verify_package(Path(root))


def find_package_root(path: Path) -> Path:
    """A package folder, or an MLflow model folder holding one under artifacts/package."""
    for candidate in (path, path / "artifacts" / "package", path / "package"):
        if (candidate / "metadata.json").is_file() and (candidate / "estimator").is_dir():
            return candidate
    raise ModelError(
        f"{path} holds no PrecisionPain model package (expected metadata.json and estimator/ "
        "or an MLflow model with artifacts/package)"
    )


def read_package(path: str | Path, *, expected_manifest_sha256: str | None = None) -> LoadedPackage:
    """Read a package folder (or a downloaded MLflow model holding one) after checking every file against its
    manifest and, when given, the manifest against ``expected_manifest_sha256`` (see :func:`verify_package`)."""
    from precisionpain.features.medications import read_safety_inputs
    from precisionpain.models.artifacts import load_model

    root = find_package_root(Path(path))
    manifest_sha256 = verify_package(root, expected_manifest_sha256)
    try:
        metadata = PackageMetadata.model_validate(
            json.loads((root / "metadata.json").read_text(encoding="utf-8"))
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"model metadata is unreadable ({type(exc).__name__})") from None
    if metadata.format_version != PACKAGE_FORMAT:
        raise ModelError(
            f"model package format {metadata.format_version} is not supported (expected {PACKAGE_FORMAT})"
        )
    catalog_root = root / "catalog"
    catalog = load_feature_catalog(catalog_root)
    options = load_treatment_options(catalog_root)
    tables = load_pgx_tables(catalog_root)
    read_safety_inputs(
        catalog
    )  # the root may be a temporary copy: read what the feature layer needs of it now
    if catalog.sha256 != metadata.catalog_sha256:
        raise ModelError(
            "the catalog inside the model package does not match the sha256 recorded at training"
        )
    estimator = load_model(root / "estimator")
    harms = {h.name: load_model(root / HARMS_DIR / h.name) for h in metadata.harms}
    option_ids = sorted(str(o) for o in estimator.options_)
    for name, model in harms.items():
        if sorted(str(o) for o in model.options_) != option_ids:
            raise ModelError(f"the model package's {name} model ranks other options than its response model")
    card_path = root / "model_card.md"
    return LoadedPackage(
        path=root,
        estimator=estimator,
        metadata=metadata,
        catalog=catalog,
        options=options,
        tables=tables,
        model_card=card_path.read_text(encoding="utf-8") if card_path.is_file() else "",
        manifest_sha256=manifest_sha256,
        harms={o: harms[o] for o in metadata.outcomes if o in harms},
    )
