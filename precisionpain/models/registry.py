"""MLflow tracking store and model registry: experiments, versions, aliases, downloads.

Registry changes made by a training run are transactional: :class:`RegistryTransaction` records each alias it
moves and, if anything fails or the run is interrupted before it commits, deletes the version it created and
puts back every alias it moved that still points where it left it (an alias another run has moved since is that
run's decision and stays).

Transactions of the same registered model are serialised, so runs that train at once (on a shared tracking
server) register and decide on the champion one after the other: a transaction takes the model's registry lock
when it first reads an alias through its registry (the champion it will be compared with), creates a version or
moves an alias, and holds it until it commits or rolls back. What it decided from the champion it read therefore
still holds when it moves the alias. The lock is a registered model named ``<name>.registry-lock``: creating a
registered model is atomic in every MLflow store (a unique name in the database), and it is deleted when the
transaction ends. A lock left by a process that died holding it is broken after :data:`LOCK_STALE_S`.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import tempfile
import threading
import time
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
#: registered model whose existence is the lock of ``<name>``'s registry transactions (see the module docstring)
LOCK_SUFFIX = ".registry-lock"
LOCK_HOLDER_TAG = "holder"
#: a lock older than this was left by a process that died holding it, and is broken (the registration and
#: champion decision it guards take seconds to a minute)
LOCK_STALE_S = 900.0
#: longest wait for the lock before giving up
LOCK_WAIT_S = 1200.0
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
        self._open: dict[str, RegistryTransaction] = {}  # registered model -> its transaction in progress

    # -- experiments
    def experiment_id(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        location = None
        if self.artifact_root is not None and self.tracking_uri.startswith("sqlite:"):
            self.artifact_root.mkdir(parents=True, exist_ok=True)
            location = (self.artifact_root / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)).as_uri()
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.create_experiment(name, artifact_location=location))
        except MlflowException as exc:
            # Two trainings started together both found no experiment; the other one created it first.
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        exp = self.client.get_experiment_by_name(name)
        if exp is None:  # created and deleted meanwhile: a real conflict, not a race to paper over
            raise RegistryError(
                f"experiment {name!r} was created and removed by another process while this one started"
            )
        return str(exp.experiment_id)

    # -- registered models and aliases
    def ensure_registered_model(self, name: str, description: str = "") -> bool:
        """Create the registered model unless it exists; True when this call created it."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
            return False
        except MlflowException:
            pass
        try:
            self.client.create_registered_model(name, description=description or None)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # created meanwhile by someone else: fine
                raise
            return False
        return True

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
        """Move ``alias``; inside a transaction of ``name`` the transaction does it (locked, undone on rollback)."""
        tx = self._open.get(name)
        if tx is not None:
            tx.set_alias(alias, version)
            return
        self.client.set_registered_model_alias(name, alias, version)

    def set_version_tags(self, name: str, version: str, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, str(value))

    def version_by_alias(self, name: str, alias: str) -> ResolvedVersion | None:
        """The version behind ``alias``; inside a transaction of ``name`` it is read under the model's lock."""
        from mlflow.exceptions import MlflowException

        tx = self._open.get(name)
        if tx is not None:
            tx.lock()
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
        self._open[name] = tx
        try:
            yield tx
            if interrupt_received.is_set():  # a signal whose KeyboardInterrupt was swallowed on the way
                raise KeyboardInterrupt
        except BaseException:
            tx.rollback()
            raise
        finally:
            self._open.pop(name, None)
            tx.release()


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


def lock_name(name: str) -> str:
    """The registered model that is the lock of ``name``'s registry transactions."""
    return f"{name}{LOCK_SUFFIX}"


class RegistryTransaction:
    """What one training run changes in the registry, and how to undo it (see :meth:`Registry.transaction`)."""

    def __init__(self, registry: Registry, name: str, run_id: str | None = None) -> None:
        self.registry = registry
        self.name = name
        self.run_id = run_id
        self.created_model = False
        self.created_version: str | None = None
        self.moved: dict[str, str | None] = {}  # alias -> the version it pointed at before this transaction
        self.set_to: dict[str, str] = {}  # alias -> the version this transaction moved it to
        self.token = secrets.token_hex(16)
        self.locked = False

    # -- the model's lock
    def lock(self) -> None:
        """Hold ``name``'s registry lock from now until the transaction ends (waits while another holds it)."""
        if self.locked:
            return
        from mlflow.exceptions import MlflowException

        client = self.registry.client
        lock = lock_name(self.name)
        give_up = time.monotonic() + LOCK_WAIT_S
        delay_s = 0.05
        while True:
            try:
                client.create_registered_model(
                    lock,
                    tags={LOCK_HOLDER_TAG: self.token, "run_id": self.run_id or ""},
                    description=f"Held while a run registers a version of {self.name} and decides on its aliases",
                )
                self.locked = True
                return
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            self._break_if_stale(lock)
            if time.monotonic() > give_up:
                raise RegistryError(
                    f"the registry lock of {self.name!r} has been held by another run for more than "
                    f"{LOCK_WAIT_S:.0f} s; if no training or promotion of it is running, delete the registered "
                    f"model {lock!r}"
                )
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 2.0)

    def _break_if_stale(self, lock: str) -> None:
        from mlflow.exceptions import MlflowException

        client = self.registry.client
        try:
            held = client.get_registered_model(lock)
        except MlflowException:
            return  # released meanwhile
        age_s = time.time() - (held.creation_timestamp or 0) / 1000.0
        if age_s <= LOCK_STALE_S:
            return
        log.warning(
            "breaking the registry lock of %s, held for %.0f s by a run that did not release it",
            self.name,
            age_s,
        )
        try:
            again = client.get_registered_model(lock)
            if (again.tags or {}).get(LOCK_HOLDER_TAG) == (held.tags or {}).get(LOCK_HOLDER_TAG):
                client.delete_registered_model(lock)
        except MlflowException:
            pass

    def release(self) -> None:
        """Give the lock back (only our own: one broken as stale and taken by another run is left alone)."""
        if not self.locked:
            return
        self.locked = False
        with _signals_deferred():
            try:
                client = self.registry.client
                held = client.get_registered_model(lock_name(self.name))
                if (held.tags or {}).get(LOCK_HOLDER_TAG) == self.token:
                    client.delete_registered_model(lock_name(self.name))
            except Exception as exc:  # the lock then goes stale; it must not hide what happened before
                log.error("registry lock of %s not released: %s", self.name, type(exc).__name__)

    # -- changes
    def create_version(self, model_uri: str, run_id: str, model_id: str | None, tags: dict[str, Any]) -> str:
        self.lock()
        self.created_model |= self.registry.ensure_registered_model(
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
        self.lock()
        if alias not in self.moved:
            self.moved[alias] = self.registry.aliases(self.name).get(alias)
        self.registry.client.set_registered_model_alias(self.name, alias, version)
        self.set_to[alias] = version

    def rollback(self) -> None:
        """Put back the aliases this run moved (those still where it left them) and remove every version it
        created (also one whose creation was cut off before its number came back: versions are found by run id).
        Best effort; a failure is logged."""
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
        for alias, version in self.set_to.items():
            if now.get(alias) != version:
                continue  # moved since by another run: its decision stands
            previous = self.moved.get(alias)
            if previous is None:
                client.delete_registered_model_alias(self.name, alias)
            else:
                client.set_registered_model_alias(self.name, alias, previous)
        created = {self.created_version} if self.created_version is not None else set()
        if self.run_id is not None:
            created |= {
                v for v, run in self.registry.snapshot(self.name).versions.items() if run == self.run_id
            }
        for version in sorted(created, key=int):
            client.delete_model_version(self.name, version)
        if self.created_model and not self.registry.snapshot(self.name).versions:
            client.delete_registered_model(self.name)
