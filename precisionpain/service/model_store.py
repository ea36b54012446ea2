"""The model the server answers with, and how it is (re)loaded.

A :class:`ModelStore` holds one :class:`LoadedModel`. A new model is read, checked against the server's
feature catalog and warmed up *beside* the current one, then swapped in with one assignment: calls that
already took the old model finish on it. A load that fails leaves the current model serving and logs why.
Loads happen on a background thread: at start, on :meth:`ModelStore.request_reload` (SIGHUP) and when the
periodic check sees a new version behind the alias (or changed files behind a local path).

Every load reads a private copy (a registry download, or a copy of a local folder) and checks every file of the
package against its manifest, and a registry version's manifest against the sha256 recorded on the version,
before anything is parsed: a tampered package is refused like any other broken one.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from precisionpain.errors import (
    ModelCatalogMismatchError,
    ModelError,
    ModelNotLoadedError,
    PrecisionPainError,
)
from precisionpain.models.package import find_package_root, read_package
from precisionpain.recommender import ModelIdentity, Recommender
from precisionpain.service.logs import get_logger, log_event, safe_traceback

log = get_logger("model")


@dataclass(frozen=True)
class FetchedModel:
    """A model copied where only this process reads it: the folder, where it came from, the fingerprint of what
    was fetched, and the manifest sha256 the source recorded for it (None for a local folder: no record)."""

    path: Path
    identity: ModelIdentity
    fingerprint: str
    manifest_sha256: str | None = None


class ModelSource(Protocol):
    """Where models come from: a cheap fingerprint to notice changes, and a fetch into a private folder."""

    description: str

    def fingerprint(self) -> str: ...

    def fetch(self) -> FetchedModel: ...

    def release(self, path: Path) -> None:
        """Forget a fetched copy once it is loaded or has failed."""
        ...


class LocalModelSource:
    """A package folder on disk (``--model-path``): its fingerprint covers every file's name, size and mtime.
    A fetch copies the package (never following symlinks) so that the files checked are the files read."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.description = f"local folder {self.path}"

    def fingerprint(self) -> str:
        if not self.path.exists():
            raise ModelError(f"model folder {self.path} does not exist")
        h = hashlib.sha256()
        for p in sorted(self.path.rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"{p.relative_to(self.path).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def fetch(self) -> FetchedModel:
        before = self.fingerprint()
        root = find_package_root(self.path)
        copy = Path(tempfile.mkdtemp(prefix="precisionpain-local-")) / "package"
        try:
            shutil.copytree(root, copy, symlinks=True)
        except BaseException:
            self.release(copy)
            raise
        return FetchedModel(copy, ModelIdentity(name="", uri=self.path.resolve().as_uri()), before)

    def release(self, path: Path) -> None:
        shutil.rmtree(path.parent, ignore_errors=True)


class RegistryModelSource:
    """A registered model version behind ``models:/NAME@ALIAS`` (or ``models:/NAME/VERSION``)."""

    def __init__(self, uri: str, tracking_uri: str, artifact_root: Path | None = None) -> None:
        from precisionpain.models.registry import ModelRef, Registry

        ModelRef.parse(uri)  # fail early on a malformed URI
        self.uri = uri
        self.registry = Registry(tracking_uri, artifact_root)
        self.description = f"registry {uri}"
        self._downloads = Path(tempfile.mkdtemp(prefix="precisionpain-serve-"))

    def fingerprint(self) -> str:
        return self.registry.resolve(self.uri).version

    def fetch(self) -> FetchedModel:
        resolved = self.registry.resolve(self.uri)
        recorded = (
            resolved.package_manifest_sha256
        )  # a version without a record is refused before downloading
        target = self._downloads / f"v{resolved.version}-{time.monotonic_ns()}"
        path = self.registry.download(resolved, target)
        identity = ModelIdentity(
            name=resolved.name,
            version=resolved.version,
            alias=resolved.alias,
            run_id=resolved.run_id,
            uri=self.uri,
        )
        return FetchedModel(path, identity, resolved.version, recorded)

    def release(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to answer: the engine, where it came from, and when it was loaded."""

    engine: Recommender
    identity: ModelIdentity
    fingerprint: str
    loaded_at: str
    manifest_sha256: str = ""


def _utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def load_model(source: ModelSource, expected_catalog_sha256: str, *, warmup: bool = True) -> LoadedModel:
    """Fetch, verify, read and check one model from ``source``; raises on any problem (the store catches and
    logs)."""
    fetched = source.fetch()
    identity = fetched.identity
    try:
        package = read_package(fetched.path, expected_manifest_sha256=fetched.manifest_sha256)
        if not identity.name:
            identity = ModelIdentity(
                name=package.metadata.registered_model,
                version=identity.version,
                alias=identity.alias,
                run_id=identity.run_id or package.metadata.run_id,
                uri=identity.uri,
            )
        engine = Recommender(package, identity, expected_catalog_sha256=expected_catalog_sha256)
        if warmup:
            engine.warmup()
    finally:
        source.release(fetched.path)
    return LoadedModel(
        engine=engine,
        identity=identity,
        fingerprint=fetched.fingerprint,
        loaded_at=_utc_now(),
        manifest_sha256=package.manifest_sha256,
    )


@dataclass
class _State:
    current: LoadedModel | None = None
    error: PrecisionPainError | None = None  # why the last load failed (kept while nothing is loaded)
    failed_fingerprint: str | None = None
    reload_requested: threading.Event = field(default_factory=threading.Event)


class ModelStore:
    """Loads, checks, warms up and atomically swaps the served model; see the module docstring."""

    def __init__(
        self,
        source: ModelSource,
        expected_catalog_sha256: str,
        *,
        on_change: Callable[[LoadedModel], None] = lambda model: None,
        check_interval_s: float = 0.0,
    ) -> None:
        self.source = source
        self.expected_catalog_sha256 = expected_catalog_sha256
        self.on_change = on_change
        self.check_interval_s = check_interval_s
        self._state = _State()
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------ reading

    def current(self) -> LoadedModel:
        """The model to answer with; raises when none is loaded (UNAVAILABLE / FAILED_PRECONDITION)."""
        model = self._state.current
        if model is not None:
            return model
        error = self._state.error
        if isinstance(error, ModelCatalogMismatchError):
            raise ModelCatalogMismatchError(str(error))
        if error is not None:
            raise ModelNotLoadedError(f"no model is loaded: the last load failed ({type(error).__name__})")
        raise ModelNotLoadedError("no model is loaded yet; retry shortly")

    @property
    def ready(self) -> bool:
        return self._state.current is not None

    # ------------------------------------------------------------------------------------------ loading

    def load(self, *, force: bool = False) -> bool:
        """Load the source's model if it changed (or ``force``); True when a new model was swapped in."""
        with self._load_lock:
            state = self._state
            try:
                fingerprint = self.source.fingerprint()
            except Exception as exc:
                return self._failed(exc, None)
            current = state.current
            unchanged = current is not None and fingerprint in (current.fingerprint, state.failed_fingerprint)
            if unchanged and not force:
                return False
            started = time.perf_counter()
            log_event(log, logging.INFO, "loading model", source=self.source.description)
            try:
                model = load_model(self.source, self.expected_catalog_sha256)
            except Exception as exc:
                return self._failed(exc, fingerprint)
            identity, engine = model.identity, model.engine
            previous = state.current
            state.current = model  # the swap: calls holding the previous model finish on it
            state.error = None
            state.failed_fingerprint = None
            log_event(
                log,
                logging.INFO,
                "model loaded" if previous is None else "model replaced",
                model_name=identity.name,
                model_version=identity.version,
                model_alias=identity.alias,
                catalog_sha256=engine.catalog_sha256,
                package_manifest_sha256=model.manifest_sha256,
                options=len(engine.option_ids),
                load_seconds=round(time.perf_counter() - started, 3),
                previous_version=None if previous is None else previous.identity.version,
            )
        self.on_change(model)
        return True

    def _failed(self, exc: BaseException, fingerprint: str | None) -> bool:
        state = self._state
        state.failed_fingerprint = fingerprint
        if state.current is None:
            state.error = exc if isinstance(exc, PrecisionPainError) else ModelError(type(exc).__name__)
        known = isinstance(exc, PrecisionPainError | OSError)
        log_event(
            log,
            logging.ERROR,
            "model load failed; "
            + ("still serving the previous model" if state.current else "no model is loaded"),
            source=self.source.description,
            error_type=type(exc).__qualname__,
            reason=str(exc) if known else "unexpected error",
            **({} if known else {"stack": safe_traceback(exc)}),
        )
        return False

    # ------------------------------------------------------------------------------------------ watching

    def request_reload(self) -> None:
        """Ask the watcher thread for a forced reload (what SIGHUP does)."""
        self._state.reload_requested.set()

    def start(self) -> None:
        """Load in the background now, then on request and (if configured) on every periodic check."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._watch, name="model-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._state.reload_requested.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _watch(self) -> None:
        self.load(force=self._state.current is None)  # nothing to do when the model was loaded before start
        event = self._state.reload_requested
        while not self._stop.is_set():
            timeout = self.check_interval_s if self.check_interval_s > 0 else None
            forced = event.wait(timeout)
            if self._stop.is_set():
                return
            event.clear()
            # nothing loaded yet: every check retries (the registry may have been unreachable at start)
            self.load(force=forced or self._state.current is None)


def model_source(
    model: str | None, model_path: Path | None, *, home: Path | None = None, tracking_uri: str | None = None
) -> ModelSource:
    """A local package folder (``model_path``) if given, else the registry version behind ``model``
    (``models:/NAME@ALIAS``) in the store that ``home`` / ``tracking_uri`` name."""
    if model_path is not None:
        return LocalModelSource(Path(model_path))
    from precisionpain.settings import artifact_root
    from precisionpain.settings import tracking_uri as resolve_tracking

    if not model:
        raise ModelError("no model given: pass a registry URI (models:/NAME@ALIAS) or a local package folder")
    from precisionpain.models.registry import quiet_mlflow

    quiet_mlflow()
    return RegistryModelSource(model, resolve_tracking(tracking_uri, home), artifact_root(home))
