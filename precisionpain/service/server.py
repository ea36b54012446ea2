"""The gRPC server: transport around the thin servicer, health, reflection, TLS, reloads and draining.

Per call (RecommendationService only; health stays open, and reflection unless
``auth.reflection_requires_token``): a request id (the caller's ``x-request-id`` if well-formed, else a new
one; returned in trailing metadata and in the response), the bearer-token check when enabled, then the
request's bytes parsed (bytes that are not the message are INVALID_ARGUMENT, after the token check), a
deadline checkpoint between stages, the answer serialized and held to ``max_response_bytes``, the one
exception -> status mapping of :mod:`precisionpain.service.status`, and one JSON access line (request id,
method, status, latency; never a patient value) written when the call has ended, with the status the caller
received. Health is NOT_SERVING until a model is loaded and matches the server's feature catalog; the port
opens once the first load has been tried. SIGHUP reloads the model; SIGTERM/SIGINT turn health to
NOT_SERVING, stop accepting calls and let every call accepted before (queued ones included) finish within
the grace period.

    python -m precisionpain.service.server --model-path DIR --port 50051
"""

from __future__ import annotations

import functools
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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from precisionpain.errors import (
    AuthenticationError,
    ConfigError,
    ResourceLimitError,
    ValidationError,
    Violation,
)
from precisionpain.service.config import ServerSettings, load_tokens
from precisionpain.service.heap import GC_THRESHOLD, settle_heap
from precisionpain.service.logs import (
    configure_logging,
    get_logger,
    log_event,
    route_native_stderr,
    safe_traceback,
)
from precisionpain.service.model_store import (
    LoadedModel,
    ModelSource,
    ModelStore,
    model_source,
)
from precisionpain.service.servicer import BatchAnswer, CallInfo, RecommendationServicer
from precisionpain.service.status import (
    CallCancelledError,
    DeadlineExpiredError,
    grpc_status,
    status_code_for,
    status_for,
)
from precisionpain.v1 import service_pb2

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
            raise AuthenticationError(
                "missing or invalid bearer token (metadata 'authorization: Bearer <token>')"
            )


class InFlight:
    """Counts calls from the moment gRPC accepts them (waiting for a worker thread included) until they have
    ended, so shutdown can tell when every accepted call is done."""

    #: After the count reaches zero, how long it must stay there: a call gRPC accepted just before shutdown
    #: may still be on its way to the worker pool.
    SETTLE_S = 0.05

    def __init__(self) -> None:
        self._n = 0
        self._cond = threading.Condition()

    def enter(self) -> None:
        with self._cond:
            self._n += 1

    def leave(self) -> None:
        with self._cond:
            self._n -= 1
            self._cond.notify_all()

    @property
    def count(self) -> int:
        return self._n

    def wait_idle(self, timeout_s: float) -> bool:
        """True once no call has been in flight for :attr:`SETTLE_S`; False if that did not happen in time."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                if not self._cond.wait_for(
                    lambda: self._n == 0, timeout=max(0.0, deadline - time.monotonic())
                ):
                    return False
                if not self._cond.wait_for(lambda: self._n > 0, timeout=self.SETTLE_S):
                    return True


class CountingExecutor(ThreadPoolExecutor):
    """The server's worker threads. gRPC hands every accepted call to :meth:`submit`; the call counts as in
    flight from then on, while it waits for a free thread too, until its handler is done."""

    def __init__(self, inflight: InFlight, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="rpc")
        self.inflight = inflight

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        self.inflight.enter()
        try:
            return super().submit(self._run, fn, *args, **kwargs)
        except BaseException:
            self.inflight.leave()
            raise

    def _run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            self.inflight.leave()


def _checkpoint(context: grpc.ServicerContext) -> Callable[[], None]:
    def check() -> None:
        if context.time_remaining() <= 0:
            raise DeadlineExpiredError("the call's deadline passed before the work finished")
        if not context.is_active():
            raise CallCancelledError("the caller cancelled the call")

    return check


def parse_request(message_type: type[Message], raw: bytes) -> Any:
    """The request message from the bytes that arrived; bytes that are not that message are a violation."""
    try:
        return message_type.FromString(raw)
    except DecodeError:
        raise ValidationError(
            "request",
            [
                Violation(
                    "(request)",
                    f"must be a {message_type.DESCRIPTOR.full_name} message in the protobuf binary encoding",
                    "undecodable bytes",
                )
            ],
        ) from None


#: The caller's deadline passes before the server's copy of it, by the time the request took to arrive: a call
#: that ends without its answer this close to its deadline was ended by the caller's deadline (DEADLINE_EXCEEDED
#: on the caller's side), not by a cancellation.
DEADLINE_SLACK_S = 0.1


def _answer_lost(context: grpc.ServicerContext) -> bool:
    """Whether the call ended without the caller getting the handler's status (its deadline passed, it cancelled,
    or gRPC refused the answer). gRPC's ServicerContext has no public question for this once the call is over;
    the call state its server keeps records it (``client == "cancelled"``). Without that state: whether the
    deadline has passed."""
    client = getattr(getattr(context, "_state", None), "client", None)
    if isinstance(client, str):
        return client == "cancelled"
    return context.time_remaining() <= 0


class _CallLog:
    """One call's access line, written once both the handler has finished and gRPC has ended the call, with the
    status the caller received; the call leaves the in-flight count at the same moment."""

    def __init__(self, inflight: InFlight, request_id: str, method: str) -> None:
        self.inflight = inflight
        self.request_id = request_id
        self.method = method
        self.started = time.perf_counter()
        self.code = grpc.StatusCode.OK  # the handler's
        self.lost: grpc.StatusCode | None = (
            None  # what the caller got instead, when the handler's status was lost
        )
        self.fields: dict[str, Any] = {}
        self._pending = 2
        self._lock = threading.Lock()
        inflight.enter()

    def ended(self, context: grpc.ServicerContext) -> None:
        """gRPC ended the call (its termination callback)."""
        if _answer_lost(context):
            expired = context.time_remaining() < DEADLINE_SLACK_S
            self.lost = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
        self._done()

    def handled(self) -> None:
        """The handler returned or raised."""
        self._done()

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1
            last = self._pending == 0
        if not last:
            return
        try:
            log_event(
                access_log,
                logging.INFO,
                "call",
                request_id=self.request_id,
                method=self.method,
                status=(self.lost or self.code).name,
                latency_ms=round((time.perf_counter() - self.started) * 1e3, 3),
                **self.fields,
            )
        finally:
            self.inflight.leave()


class RecommendationService:
    """Transport concerns around :class:`RecommendationServicer` (see the module docstring). Its handlers take
    the request's bytes and return the answer's bytes: gRPC's own parsing would answer INTERNAL for bytes that
    are not a message, before the token check and without a request id."""

    def __init__(
        self,
        servicer: RecommendationServicer,
        tokens: TokenCheck,
        inflight: InFlight,
        *,
        max_response_bytes: int | None = None,
    ) -> None:
        self.servicer = servicer
        self.tokens = tokens
        self.inflight = inflight
        self.max_response_bytes = max_response_bytes

    #: Each method of the service: the servicer method that answers it and its request type.
    methods: ClassVar[Mapping[str, tuple[str, type[Message]]]] = {
        "Recommend": ("recommend_wire", service_pb2.RecommendRequest),
        "RecommendBatch": ("recommend_batch_wire", service_pb2.RecommendBatchRequest),
        "ListTreatmentOptions": ("list_treatment_options", service_pb2.ListTreatmentOptionsRequest),
        "DescribeModel": ("describe_model", service_pb2.DescribeModelRequest),
    }

    def add_to(self, server: grpc.Server) -> None:
        """Register every method of the service on ``server`` (bytes in, bytes out)."""
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(functools.partial(self._call, name))
            for name in self.methods
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
        server.add_registered_method_handlers(SERVICE_NAME, handlers)

    def _call(self, method: str, raw: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = context.invocation_metadata()
        request_id = request_id_from(metadata)
        trailing = ((REQUEST_ID_KEY, request_id),)
        call = _CallLog(self.inflight, request_id, f"/{SERVICE_NAME}/{method}")
        if not context.add_callback(functools.partial(call.ended, context)):
            call.ended(context)  # already over (cancelled while it waited for a thread)
        answering, request_type = self.methods[method]
        try:
            self.tokens.check(metadata)
            request = parse_request(request_type, raw)
            checkpoint = _checkpoint(context)
            checkpoint()
            fn: Callable[[Any, CallInfo], Any] = getattr(self.servicer, answering)
            response = fn(request, CallInfo(request_id=request_id, checkpoint=checkpoint))
            if isinstance(response, BatchAnswer):
                call.fields["items"] = response.items
                call.fields["item_errors"] = response.item_errors
                answer = response.data
            elif isinstance(response, bytes):
                answer = response
            else:
                answer = response.SerializeToString()
            if self.max_response_bytes is not None and len(answer) > self.max_response_bytes:
                raise ResourceLimitError(
                    f"the answer would be {len(answer):,} bytes, above the server's max_response_bytes "
                    f"({self.max_response_bytes:,}); ask for less (fewer patients per batch, a smaller top_k_contributions)"
                )
            checkpoint()  # the deadline may have passed while the answer was built
            context.set_trailing_metadata(trailing)
            return answer
        except Exception as exc:
            call.code = status_code_for(exc)
            if call.code is grpc.StatusCode.INTERNAL:
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
            call.handled()


_UNDECODABLE = object()
_EXPERIMENTAL_ATTRIBUTES = ("experimental_non_blocking", "experimental_thread_pool")


class UndecodableIsInvalidArgument(grpc.ServerInterceptor):
    """Health and reflection come with grpcio's own handlers, which parse requests with a deserializer that
    answers INTERNAL for bytes that are not the message; through this interceptor such bytes are
    INVALID_ARGUMENT instead. Handlers without a deserializer (RecommendationService, which parses its own
    requests after the token check) pass unchanged."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return _tolerant(handler)


def _refuse_undecodable(context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request is not the method's protobuf message")


def _tolerant(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """``handler`` with a deserializer that never raises and a behaviour that refuses what it could not parse."""
    deserialize = handler.request_deserializer
    serialize = handler.response_serializer

    def parse(raw: bytes) -> Any:
        try:
            return deserialize(raw)
        except DecodeError:
            return _UNDECODABLE

    def checked(requests: Any, context: grpc.ServicerContext) -> Any:
        for request in requests:
            if request is _UNDECODABLE:
                _refuse_undecodable(context)
            yield request

    def same_attributes(wrapper: Callable[..., Any], behaviour: Callable[..., Any]) -> Callable[..., Any]:
        for name in _EXPERIMENTAL_ATTRIBUTES:  # e.g. health's non-blocking Watch
            if hasattr(behaviour, name):
                setattr(wrapper, name, getattr(behaviour, name))
        return wrapper

    if handler.unary_unary is not None:
        unary_unary = handler.unary_unary

        def one_to_one(request: Any, context: grpc.ServicerContext) -> Any:
            if request is _UNDECODABLE:
                _refuse_undecodable(context)
            return unary_unary(request, context)

        return grpc.unary_unary_rpc_method_handler(same_attributes(one_to_one, unary_unary), parse, serialize)
    if handler.unary_stream is not None:
        unary_stream = handler.unary_stream

        def one_to_many(request: Any, context: grpc.ServicerContext, *args: Any, **kwargs: Any) -> Any:
            if request is _UNDECODABLE:
                _refuse_undecodable(context)
            return unary_stream(request, context, *args, **kwargs)

        return grpc.unary_stream_rpc_method_handler(
            same_attributes(one_to_many, unary_stream), parse, serialize
        )
    if handler.stream_unary is not None:
        stream_unary = handler.stream_unary

        def many_to_one(requests: Any, context: grpc.ServicerContext) -> Any:
            return stream_unary(checked(requests, context), context)

        return grpc.stream_unary_rpc_method_handler(
            same_attributes(many_to_one, stream_unary), parse, serialize
        )
    stream_stream = handler.stream_stream

    def many_to_many(requests: Any, context: grpc.ServicerContext) -> Any:
        return stream_stream(checked(requests, context), context)

    return grpc.stream_stream_rpc_method_handler(
        same_attributes(many_to_many, stream_stream), parse, serialize
    )


class GuardedReflection(reflection.ReflectionServicer):
    """Server reflection behind the service's bearer-token check (``auth.reflection_requires_token``)."""

    def __init__(self, service_names: Sequence[str], tokens: TokenCheck) -> None:
        super().__init__(service_names)
        self.tokens = tokens

    def ServerReflectionInfo(self, request_iterator: Any, context: grpc.ServicerContext) -> Any:
        try:
            self.tokens.check(context.invocation_metadata())
        except AuthenticationError as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        return super().ServerReflectionInfo(request_iterator, context)


# ============================================================================================== assembly


def settings_model_source(settings: ServerSettings) -> ModelSource:
    """The model folder (``model_path``) or the registry URI (``model``) from the settings."""
    return model_source(
        settings.model, settings.model_path, home=settings.home, tracking_uri=settings.tracking_uri
    )


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


#: After SIGTERM the server takes calls for at least this long, even with drain_delay_s 0: a call that reached
#: gRPC just before the signal waits in gRPC's queue until a server thread asks for it, and gRPC cancels what
#: still waits there when the server stops taking calls.
MIN_DRAIN_DELAY_S = 0.2


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
        """NOT_SERVING, then (after drain_delay_s, at least :data:`MIN_DRAIN_DELAY_S`) refuse new calls and let
        every accepted call finish, those still waiting for a worker thread included, for up to grace_period_s."""
        s = self.settings
        log_event(
            log, logging.INFO, "shutting down", in_flight=self.inflight.count, grace_period_s=s.grace_period_s
        )
        self.health.enter_graceful_shutdown()
        time.sleep(max(s.drain_delay_s, MIN_DRAIN_DELAY_S))
        stopped = self.grpc_server.stop(s.grace_period_s)  # new calls refused; accepted ones go on
        drained = self.inflight.wait_idle(s.grace_period_s)
        self.grpc_server.stop(0)  # ends what is left (health watch streams) once the accepted calls are done
        stopped.wait(5.0)
        self.store.stop()
        log_event(log, logging.INFO, "stopped", drained=drained, in_flight=self.inflight.count)


def start_server(
    settings: ServerSettings,
    *,
    source: ModelSource | None = None,
    reuse_port: bool = False,
    freeze_heap: bool = False,
    load_first: bool = False,
) -> Server:
    """Build, bind and start the server; the model loads in the background (health says when it is ready).
    ``reuse_port`` lets sibling processes of :func:`serve_processes` bind the same port; ``load_first`` (what
    :func:`serve` does) loads the model before binding, so no connection reaches a process still loading (if
    that load fails, it binds anyway: health says NOT_SERVING and the watcher retries); ``freeze_heap`` (for a
    process that only serves) freezes the heap after each model load (:func:`settle_heap`)."""
    from precisionpain.catalog.loader import load_feature_catalog

    tokens = TokenCheck(load_tokens(settings.auth))
    catalog = load_feature_catalog(settings.catalog_root)
    limits = settings.limits
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    inflight = InFlight()
    grpc_server = grpc.server(
        CountingExecutor(inflight, settings.workers),
        options=[
            ("grpc.max_receive_message_length", limits.max_request_bytes),
            ("grpc.max_send_message_length", limits.max_response_bytes),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ],
        maximum_concurrent_rpcs=limits.max_concurrent_rpcs,
        interceptors=[UndecodableIsInvalidArgument()],
    )
    store = ModelStore(
        source or settings_model_source(settings),
        catalog.sha256,
        check_interval_s=settings.reload.alias_check_interval_s,
    )
    if load_first:
        store.load(force=True)
    servicer = RecommendationServicer(
        store.current, max_batch_size=limits.max_batch_size, max_response_bytes=limits.max_response_bytes
    )
    service = RecommendationService(servicer, tokens, inflight, max_response_bytes=limits.max_response_bytes)
    service.add_to(grpc_server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    reflected = (
        SERVICE_NAME,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    if settings.auth.reflection_requires_token:
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            GuardedReflection(reflected, tokens), grpc_server
        )
    else:
        reflection.enable_server_reflection(reflected, grpc_server)
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
            "server settings",
            [Violation("port", f"cannot listen on {settings.address} (in use or not allowed)")],
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
        reflection_requires_token=settings.auth.reflection_requires_token,
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
    stderr = (
        route_native_stderr()
    )  # gRPC core's own lines (TLS handshake failures, ...) become JSON lines too
    try:
        return _serve_until_stopped(settings, stderr.stream, reuse_port=reuse_port)
    finally:
        stderr.close()


def _serve_until_stopped(settings: ServerSettings, log_stream: Any, *, reuse_port: bool) -> int:
    configure_logging(settings.log_level, log_stream)
    stop = threading.Event()
    gc.set_threshold(*GC_THRESHOLD)
    server = start_server(settings, reuse_port=reuse_port, freeze_heap=True, load_first=True)

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
                "server settings",
                [Violation("port", f"cannot listen on {host}:{port} (in use or not allowed)")],
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
                log,
                logging.ERROR,
                "a server process ended; stopping the others",
                pid=ended[0].pid,
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
