"""The gRPC server: transport around the thin servicer, health, reflection, TLS, reloads and draining.

Per call (RecommendationService only; health and reflection stay open): a request id (the caller's
``x-request-id`` if well-formed, else a new one; returned in trailing metadata and in the response), the
bearer-token check when enabled, a deadline checkpoint between stages, the one exception -> status mapping of
:mod:`precisionpain.service.status`, and one JSON access line (request id, method, status, latency; never a
patient value). Health is NOT_SERVING until a model is loaded and matches the server's feature catalog.
SIGHUP reloads the model; SIGTERM/SIGINT turn health to NOT_SERVING, stop accepting calls and drain the
calls in flight within the grace period.

    python -m precisionpain.service.server --model-path DIR --port 50051
"""

from __future__ import annotations

import gc
import hmac
import logging
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from precisionpain.errors import AuthenticationError, ConfigError, Violation
from precisionpain.service.config import ServerSettings, load_tokens
from precisionpain.service.logs import configure_logging, get_logger, log_event, safe_traceback
from precisionpain.service.model_store import (
    LoadedModel,
    ModelSource,
    ModelStore,
    model_source,
)
from precisionpain.service.servicer import CallInfo, RecommendationServicer
from precisionpain.service.status import (
    CallCancelledError,
    DeadlineExpiredError,
    grpc_status,
    status_code_for,
    status_for,
)
from precisionpain.v1 import service_pb2, service_pb2_grpc

SERVICE_NAME: str = service_pb2.DESCRIPTOR.services_by_name["RecommendationService"].full_name
REQUEST_ID_KEY = "x-request-id"
AUTHORIZATION_KEY = "authorization"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

access_log = get_logger("access")
log = get_logger("server")


def request_id_from(metadata: Sequence[tuple[str, Any]] | None) -> str:
    """The caller's x-request-id when well-formed (1-64 of A-Z a-z 0-9 . _ : -), else a new random id."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _REQUEST_ID.match(value):
            return value
    return uuid.uuid4().hex


class TokenCheck:
    """Bearer-token authentication, compared in constant time against every accepted token."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._tokens = tuple(t.encode() for t in tokens)

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def check(self, metadata: Sequence[tuple[str, Any]] | None) -> None:
        if not self._tokens:
            return
        presented = b""
        for key, value in metadata or ():
            if key == AUTHORIZATION_KEY and isinstance(value, str) and value[:7].lower() == "bearer ":
                presented = value[7:].strip().encode()
        ok = False
        for token in self._tokens:
            ok |= hmac.compare_digest(presented, token)
        if not ok:
            raise AuthenticationError("missing or invalid bearer token (metadata 'authorization: Bearer <token>')")


class InFlight:
    """Counts calls from arrival until gRPC reports them terminated (response sent, or cancelled), so
    shutdown can tell when the drain is complete."""

    def __init__(self) -> None:
        self._n = 0
        self._cond = threading.Condition()

    def track(self, context: grpc.ServicerContext) -> None:
        with self._cond:
            self._n += 1
        if not context.add_callback(self._leave):
            self._leave()  # already terminated

    def _leave(self) -> None:
        with self._cond:
            self._n -= 1
            self._cond.notify_all()

    @property
    def count(self) -> int:
        return self._n

    def wait_idle(self, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._n == 0, timeout=timeout_s)


def _checkpoint(context: grpc.ServicerContext) -> Callable[[], None]:
    def check() -> None:
        if context.time_remaining() <= 0:
            raise DeadlineExpiredError("the call's deadline passed before the work finished")
        if not context.is_active():
            raise CallCancelledError("the caller cancelled the call")

    return check


class RecommendationService(service_pb2_grpc.RecommendationServiceServicer):
    """Transport concerns around :class:`RecommendationServicer` (see the module docstring)."""

    def __init__(self, servicer: RecommendationServicer, tokens: TokenCheck, inflight: InFlight) -> None:
        self.servicer = servicer
        self.tokens = tokens
        self.inflight = inflight

    def Recommend(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._call("Recommend", self.servicer.recommend, request, context)

    def RecommendBatch(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._call("RecommendBatch", self.servicer.recommend_batch, request, context)

    def ListTreatmentOptions(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._call("ListTreatmentOptions", self.servicer.list_treatment_options, request, context)

    def DescribeModel(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._call("DescribeModel", self.servicer.describe_model, request, context)

    def _call(self, method: str, fn: Callable[[Any, CallInfo], Any], request: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        metadata = context.invocation_metadata()
        request_id = request_id_from(metadata)
        trailing = ((REQUEST_ID_KEY, request_id),)
        code = grpc.StatusCode.OK
        fields: dict[str, Any] = {}
        self.inflight.track(context)
        try:
            self.tokens.check(metadata)
            checkpoint = _checkpoint(context)
            checkpoint()
            response = fn(request, CallInfo(request_id=request_id, checkpoint=checkpoint))
            if method == "RecommendBatch":
                fields["items"] = len(response.results)
                fields["item_errors"] = sum(1 for r in response.results if r.HasField("error"))
            context.set_trailing_metadata(trailing)
            return response
        except Exception as exc:
            code = status_code_for(exc)
            if code is grpc.StatusCode.INTERNAL:
                log_event(
                    log,
                    logging.ERROR,
                    "internal error",
                    request_id=request_id,
                    method=method,
                    error_type=type(exc).__qualname__,
                    stack=safe_traceback(exc),
                )
            status = status_for(exc, request_id, path_prefix="")
            context.abort_with_status(grpc_status(status, trailing))
            raise AssertionError("abort_with_status returned") from None
        finally:
            log_event(
                access_log,
                logging.INFO,
                "call",
                request_id=request_id,
                method=f"/{SERVICE_NAME}/{method}",
                status=code.name,
                latency_ms=round((time.perf_counter() - started) * 1e3, 3),
                **fields,
            )


# ============================================================================================== assembly


def settings_model_source(settings: ServerSettings) -> ModelSource:
    """The model folder (``model_path``) or the registry URI (``model``) from the settings."""
    return model_source(settings.model, settings.model_path, home=settings.home, tracking_uri=settings.tracking_uri)


def _read(path: Path | None) -> bytes | None:
    return None if path is None else Path(path).read_bytes()


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    tls = settings.tls
    if not tls.enabled:
        return None
    key, cert = _read(tls.key_file), _read(tls.cert_file)
    assert key is not None and cert is not None
    return grpc.ssl_server_credentials(
        [(key, cert)],
        root_certificates=_read(tls.client_ca_file),
        require_client_auth=tls.require_client_auth,
    )


@dataclass
class Server:
    """A started server: the gRPC server, its port, the model store and health, ready to be stopped."""

    settings: ServerSettings
    grpc_server: grpc.Server
    port: int
    store: ModelStore
    health: health.HealthServicer
    inflight: InFlight
    freeze_heap: bool = False

    def set_serving(self, model: LoadedModel) -> None:
        if self.freeze_heap:
            settle_heap()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def stop(self) -> None:
        """NOT_SERVING, then (after drain_delay_s) refuse new calls and drain those in flight."""
        s = self.settings
        log_event(log, logging.INFO, "shutting down", in_flight=self.inflight.count, grace_period_s=s.grace_period_s)
        self.health.enter_graceful_shutdown()
        if s.drain_delay_s > 0:
            time.sleep(s.drain_delay_s)
        stopped = self.grpc_server.stop(s.grace_period_s)
        drained = self.inflight.wait_idle(s.grace_period_s)
        self.grpc_server.stop(0)  # ends what is left (health watch streams) once our calls are done
        stopped.wait(5.0)
        self.store.stop()
        log_event(log, logging.INFO, "stopped", drained=drained, in_flight=self.inflight.count)


# A call allocates tens of thousands of short-lived objects; with the default threshold (700) the collector
# runs many times per call, and its full passes walk the whole loaded model. Serving processes raise it.
GC_THRESHOLD = (20_000, 20, 20)


def settle_heap() -> None:
    """After a model load: collect (the previous model's cycles included), then move every live object to the
    permanent generation, so later collections only walk what calls allocate."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def start_server(
    settings: ServerSettings,
    *,
    source: ModelSource | None = None,
    reuse_port: bool = False,
    freeze_heap: bool = False,
    load_first: bool = False,
) -> Server:
    """Build, bind and start the server; the model loads in the background (health says when it is ready).
    ``reuse_port`` lets sibling processes of :func:`serve_processes` bind the same port; ``load_first`` (for
    them) loads the model before binding, so no connection reaches a process still loading while its siblings
    serve (if that load fails, it binds anyway: health says NOT_SERVING and the watcher retries);
    ``freeze_heap`` (for a process that only serves) freezes the heap after each model load
    (:func:`settle_heap`)."""
    from precisionpain.catalog.loader import load_feature_catalog

    tokens = TokenCheck(load_tokens(settings.auth))
    catalog = load_feature_catalog(settings.catalog_root)
    limits = settings.limits
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    grpc_server = grpc.server(
        ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="rpc"),
        options=[
            ("grpc.max_receive_message_length", limits.max_request_bytes),
            ("grpc.max_send_message_length", limits.max_response_bytes),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ],
        maximum_concurrent_rpcs=limits.max_concurrent_rpcs,
    )
    store = ModelStore(
        source or settings_model_source(settings),
        catalog.sha256,
        check_interval_s=settings.reload.alias_check_interval_s,
    )
    if load_first:
        store.load(force=True)
    inflight = InFlight()
    servicer = RecommendationServicer(
        store.current, max_batch_size=limits.max_batch_size, max_response_bytes=limits.max_response_bytes
    )
    service_pb2_grpc.add_RecommendationServiceServicer_to_server(
        RecommendationService(servicer, tokens, inflight), grpc_server
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        grpc_server,
    )
    credentials = server_credentials(settings)
    try:
        if credentials is None:
            port = grpc_server.add_insecure_port(settings.address)
        else:
            port = grpc_server.add_secure_port(settings.address, credentials)
    except RuntimeError:
        port = 0
    if port == 0:
        raise ConfigError(
            "server settings", [Violation("port", f"cannot listen on {settings.address} (in use or not allowed)")]
        )
    server = Server(settings, grpc_server, port, store, health_servicer, inflight, freeze_heap=freeze_heap)
    store.on_change = server.set_serving
    if store.ready:
        server.set_serving(store.current())
    grpc_server.start()
    log_event(
        log,
        logging.INFO,
        "listening",
        host=settings.host,
        port=port,
        tls=settings.tls.enabled,
        mutual_tls=settings.tls.require_client_auth,
        token_auth=tokens.enabled,
        workers=settings.workers,
        max_batch_size=limits.max_batch_size,
        model_source=store.source.description,
    )
    store.start()
    return server


def serve(settings: ServerSettings, *, reuse_port: bool = False) -> int:
    """Run until SIGTERM/SIGINT (SIGHUP reloads the model); returns the exit status. With ``processes`` above 1
    the work goes to that many server processes on the same port (:func:`serve_processes`)."""
    if settings.processes > 1:
        return serve_processes(settings)
    configure_logging(settings.log_level)
    stop = threading.Event()
    gc.set_threshold(*GC_THRESHOLD)
    server = start_server(settings, reuse_port=reuse_port, freeze_heap=True, load_first=reuse_port)

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        log_event(log, logging.INFO, "reload requested (SIGHUP)")
        server.store.request_reload()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_hup)
    while not stop.wait(1.0):
        pass
    server.stop()
    return 0


def _claim_port(host: str, port: int) -> int:
    """The port the processes will share: ``port``, checked free (a plain bind, so another server that allows
    port sharing is not joined by mistake), or any free port for 0."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            raise ConfigError(
                "server settings", [Violation("port", f"cannot listen on {host}:{port} (in use or not allowed)")]
            ) from None
        return int(sock.getsockname()[1])


def _serve_child(settings: ServerSettings) -> None:
    raise SystemExit(serve(settings, reuse_port=True))


def serve_processes(settings: ServerSettings) -> int:
    """``settings.processes`` server processes on one port (SO_REUSEPORT): the kernel spreads connections over
    them, so CPU-bound calls use every core instead of queueing behind one interpreter lock. This process
    supervises: it forwards SIGHUP (reload) and SIGTERM/SIGINT (drain), and if one server process dies it stops
    the others and exits 1, so the service manager restarts the whole unit."""
    import multiprocessing

    port = _claim_port(settings.host, settings.port)
    configure_logging(settings.log_level)
    child = settings.model_copy(update={"processes": 1, "port": port})
    context = multiprocessing.get_context("spawn")  # no fork: gRPC and OpenMP state must not be copied
    procs = [
        context.Process(target=_serve_child, args=(child,), name=f"precisionpain-serve-{i}")
        for i in range(settings.processes)
    ]
    stop = threading.Event()

    def forward(signum: int) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signum)

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        log_event(log, logging.INFO, "reload requested (SIGHUP); forwarded to every server process")
        forward(signal.SIGHUP)

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_hup)
    for p in procs:
        p.start()
    log_event(log, logging.INFO, "supervising", processes=len(procs), port=port, pids=[p.pid for p in procs])
    status = 0
    while not stop.wait(0.5):
        ended = [p for p in procs if not p.is_alive()]
        if ended:
            log_event(
                log, logging.ERROR, "a server process ended; stopping the others", pid=ended[0].pid,
                exit_code=ended[0].exitcode,
            )
            status = 1
            break
    forward(signal.SIGTERM)
    deadline = time.monotonic() + settings.drain_delay_s + settings.grace_period_s + 15.0
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()
            status = 1
    log_event(log, logging.INFO, "stopped every server process", status=status)
    return status


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m precisionpain.service.server`` takes the same options as ``precisionpain serve``."""
    import typer

    from precisionpain.cli_support import handle_errors
    from precisionpain.service.commands import serve_command

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(handle_errors(serve_command))
    app(args=list(argv) if argv is not None else None, prog_name="python -m precisionpain.service.server")


if __name__ == "__main__":
    main()
