"""MLflow tracking store and model registry: experiments, versions, aliases, downloads.

Registry changes made by a training run are transactional: :class:`RegistryTransaction` records the aliases
before the run touches them and, if anything fails or the run is interrupted before it commits, deletes the
version it created and puts every alias back where it was.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from precisionpain.errors import ModelError, RegistryError

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
#: version tag holding the sha256 of the package's manifest.json, written when the version is registered
PACKAGE_MANIFEST_TAG = "package_manifest_sha256"
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[A-Za-z0-9_\-]+)|/(?P<version>\d+))$")


# Set by the CLI's signal handler next to raising KeyboardInterrupt. Python swallows an exception raised inside a
# finalizer (``__del__``), so a Ctrl-C that lands there would be lost; a transaction checks this flag before it
# commits and rolls back all the same.
interrupt_received = threading.Event()


def quiet_mlflow() -> None:
    """Keep MLflow's own logging and progress bars out of the CLI and server output (called at the edge)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    for name in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def store_location(home: str | os.PathLike[str] | None, tracking_uri: str | None) -> tuple[str, Path]:
    """(tracking URI, artifact folder) from the flags and the environment, MLflow's own output kept quiet;
    creates the data directory only when the embedded SQLite store is used."""
    from precisionpain.settings import artifact_root, data_dir
    from precisionpain.settings import tracking_uri as resolve_tracking

    quiet_mlflow()
    uri = resolve_tracking(tracking_uri, home)
    if uri.startswith("sqlite:"):
        data_dir(home).mkdir(parents=True, exist_ok=True)
    return uri, artifact_root(home)


@dataclass(frozen=True)
class ModelRef:
    """A parsed ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI."""

    name: str
    alias: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, uri: str) -> ModelRef:
        m = _MODEL_URI.match(uri.strip())
        if m is None:
            raise RegistryError(
                "model URI must look like models:/NAME@ALIAS or models:/NAME/VERSION (received a string that does not)"
            )
        return cls(name=m["name"], alias=m["alias"], version=m["version"])

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias else f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class RegistrySnapshot:
    """The versions (version -> run id) and aliases (alias -> version) of one registered model."""

    name: str
    versions: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedVersion:
    name: str
    version: str
    alias: str
    run_id: str
    source: str
    tags: dict[str, str]

    @property
    def package_manifest_sha256(self) -> str:
        """The sha256 the registry recorded for this version's package manifest; a version without one (registered
        before packages had manifests, or by hand) cannot be verified and is refused."""
        recorded = self.tags.get(PACKAGE_MANIFEST_TAG, "")
        if _SHA256_HEX.match(recorded) is None:
            raise ModelError(
                f"registered model {self.name!r} version {self.version} records no sha256 of its package manifest "
                f"(version tag {PACKAGE_MANIFEST_TAG}), so its files cannot be verified: refusing it; retrain the model"
            )
        return recorded


class Registry:
    """A thin, typed view of MlflowClient for what PrecisionPain needs."""

    def __init__(self, tracking_uri: str, artifact_root: Path | None = None) -> None:
        import mlflow
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    # -- experiments
    def experiment_id(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        location = None
        if self.artifact_root is not None and self.tracking_uri.startswith("sqlite:"):
            self.artifact_root.mkdir(parents=True, exist_ok=True)
            location = (self.artifact_root / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)).as_uri()
        return str(self.client.create_experiment(name, artifact_location=location))

    # -- registered models and aliases
    def ensure_registered_model(self, name: str, description: str = "") -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name, description=description or None)

    def aliases(self, name: str) -> dict[str, str]:
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(name)
        except MlflowException:
            return {}
        return {alias: str(version) for alias, version in (model.aliases or {}).items()}

    def snapshot(self, name: str) -> RegistrySnapshot:
        """Every version of ``name`` with its run id, and every alias; empty when the model does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(filter_string=f"name = '{_quote(name)}'")
        except MlflowException:
            return RegistrySnapshot(name)
        versions = {str(mv.version): str(mv.run_id or "") for mv in found}
        return RegistrySnapshot(
            name, dict(sorted(versions.items(), key=lambda kv: int(kv[0]))), self.aliases(name)
        )

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def set_version_tags(self, name: str, version: str, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, str(value))

    def version_by_alias(self, name: str, alias: str) -> ResolvedVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return None
        return ResolvedVersion(
            name=name,
            version=str(mv.version),
            alias=alias,
            run_id=mv.run_id or "",
            source=mv.source or "",
            tags=dict(mv.tags or {}),
        )

    def resolve(self, uri: str) -> ResolvedVersion:
        ref = ModelRef.parse(uri)
        if ref.alias is not None:
            found = self.version_by_alias(ref.name, ref.alias)
            if found is None:
                raise RegistryError(f"registered model {ref.name!r} has no version with alias {ref.alias!r}")
            return found
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(ref.name, str(ref.version))
        except MlflowException:
            raise RegistryError(f"registered model {ref.name!r} has no version {ref.version}") from None
        aliases = [a for a, v in self.aliases(ref.name).items() if v == str(mv.version)]
        return ResolvedVersion(
            name=ref.name,
            version=str(mv.version),
            alias=aliases[0] if aliases else "",
            run_id=mv.run_id or "",
            source=mv.source or "",
            tags=dict(mv.tags or {}),
        )

    def download(self, version: ResolvedVersion, dst: Path | None = None) -> Path:
        """Copy a version's model files to a local folder (a temporary one unless ``dst`` is given)."""
        from mlflow.artifacts import download_artifacts

        target = dst or Path(tempfile.mkdtemp(prefix="precisionpain-model-"))
        target.mkdir(parents=True, exist_ok=True)
        uri = f"models:/{version.name}/{version.version}"
        return Path(
            download_artifacts(artifact_uri=uri, dst_path=str(target), tracking_uri=self.tracking_uri)
        )

    def download_run_artifacts(self, run_id: str, artifact_path: str, dst: Path) -> Path | None:
        """Copy a folder of a run's artifacts to ``dst``; None when the run or the folder does not exist."""
        from mlflow.artifacts import download_artifacts
        from mlflow.exceptions import MlflowException

        if not run_id:
            return None
        dst.mkdir(parents=True, exist_ok=True)
        try:
            path = download_artifacts(
                run_id=run_id, artifact_path=artifact_path, dst_path=str(dst), tracking_uri=self.tracking_uri
            )
        except (MlflowException, OSError):
            return None
        return Path(path)

    @contextmanager
    def transaction(self, name: str, run_id: str | None = None) -> Iterator[RegistryTransaction]:
        """Registry changes inside the block are undone unless the block finishes (exception, Ctrl-C, or a
        SIGTERM turned into KeyboardInterrupt by the caller)."""
        tx = RegistryTransaction(self, name, run_id)
        try:
            yield tx
            if interrupt_received.is_set():  # a signal whose KeyboardInterrupt was swallowed on the way
                raise KeyboardInterrupt
        except BaseException:
            tx.rollback()
            raise


def _quote(text: str) -> str:
    return text.replace("'", "''")


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM for the duration (main thread only), so a second Ctrl-C cannot cut a rollback
    short; the exception being handled is re-raised afterwards anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, signal.SIG_IGN)
    except ValueError:  # not in the main interpreter
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


class RegistryTransaction:
    """What one training run changes in the registry, and how to undo it (see :meth:`Registry.transaction`)."""

    def __init__(self, registry: Registry, name: str, run_id: str | None = None) -> None:
        self.registry = registry
        self.name = name
        self.run_id = run_id
        self.existed = bool(
            registry.client.search_registered_models(filter_string=f"name = '{_quote(name)}'")
        )
        self.before = registry.aliases(name)
        self.created_version: str | None = None

    def create_version(self, model_uri: str, run_id: str, model_id: str | None, tags: dict[str, Any]) -> str:
        self.registry.ensure_registered_model(
            self.name, "PrecisionPain treatment-response models (one per option set)"
        )
        mv = self.registry.client.create_model_version(
            self.name,
            source=model_uri,
            run_id=run_id,
            tags={k: str(v) for k, v in tags.items()},
            model_id=model_id,
        )
        self.created_version = str(mv.version)
        return self.created_version

    def set_alias(self, alias: str, version: str) -> None:
        self.registry.client.set_registered_model_alias(self.name, alias, version)

    def rollback(self) -> None:
        """Put aliases back and remove every version this run created (also one whose creation was cut off
        before its number came back: versions are found by run id). Best effort; a failure is logged."""
        with _signals_deferred():
            try:
                self._rollback()
            except Exception as exc:  # rollback must not hide the original error
                log.error("registry rollback incomplete: %s", type(exc).__name__)

    def _rollback(self) -> None:
        client = self.registry.client
        if not bool(client.search_registered_models(filter_string=f"name = '{_quote(self.name)}'")):
            return
        now = self.registry.aliases(self.name)
        for alias in now:
            if alias not in self.before:
                client.delete_registered_model_alias(self.name, alias)
        for alias, version in self.before.items():
            if now.get(alias) != version:
                client.set_registered_model_alias(self.name, alias, version)
        created = {self.created_version} if self.created_version is not None else set()
        if self.run_id is not None:
            created |= {
                v for v, run in self.registry.snapshot(self.name).versions.items() if run == self.run_id
            }
        for version in sorted(created, key=int):
            client.delete_model_version(self.name, version)
        if not self.existed and not self.registry.snapshot(self.name).versions:
            client.delete_registered_model(self.name)
