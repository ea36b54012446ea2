"""Running the CDS Hooks service: settings, model store, uvicorn with TLS, signals.

The same settings as the gRPC server (``serving/server.yaml``, ``PRECISIONPAIN_SERVE_*``, flags): its model source
and reloads (SIGHUP, alias polling; a broken model never replaces a working one), TLS and mutual TLS, bearer
tokens (and CDS Hooks JWTs of the EHRs in ``cds_hooks.client_jwks_file``, :mod:`precisionpain.cdshooks.auth`),
``limits.max_request_bytes`` (request bodies) and ``limits.max_concurrent_rpcs`` (connections and calls
at once), JSON logs, plus its own ``cds_hooks`` section; ``cds_hooks.request_read_timeout_s`` bounds the time a
caller may take to send a request's headers, then its body. The model is loaded before the port opens; SIGTERM or
SIGINT stop taking connections and let calls in flight finish within ``grace_period_s``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import ssl
from types import FrameType
from typing import Any

from precisionpain.errors import AuthenticationError, ConfigError, Violation
from precisionpain.service.config import ServerSettings, load_tokens
from precisionpain.service.logs import configure_logging, get_logger, log_event

log = get_logger("cds")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise ConfigError(
            "server settings",
            [Violation("cds_hooks.port", f"cannot listen on {host}:{port} (in use or not allowed)")],
        ) from None
    sock.set_inheritable(True)
    return sock


def header_timeout_protocol(timeout_s: float) -> type:
    """uvicorn's h11 protocol with a deadline for request headers: a connection whose next request's headers have
    not all arrived ``timeout_s`` after it opened (or after its first bytes, on a kept-alive connection) is closed.
    uvicorn has no such timeout, so a caller trickling headers could hold connections (and the
    ``limit_concurrency`` slots) for ever, before any token can be checked."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        _header_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:
                self._arm()  # bytes of the next request's headers: they get the same time
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._header_deadline is None:
                self._header_deadline = self.loop.call_later(timeout_s, self._late)

        def _disarm(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None

        def _late(self) -> None:
            self._header_deadline = None
            if self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete):
                self.transport.close()

    return HeaderTimeoutProtocol


def build_service(settings: ServerSettings) -> tuple[Any, Any]:
    """(the CDS Hooks service over a loaded model store, the store): the model is loaded before this returns."""
    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.cdshooks.fhir_fetch import FhirFetcher
    from precisionpain.cdshooks.hooks import CdsHooksService, ReportStore
    from precisionpain.cdshooks.mapping import load_fhir_mapping
    from precisionpain.service.model_store import ModelStore
    from precisionpain.service.server import settings_model_source

    catalog = load_feature_catalog(settings.catalog_root)
    mapping = load_fhir_mapping(settings.catalog_root)
    cds = settings.cds_hooks
    store = ModelStore(
        settings_model_source(settings),
        catalog.sha256,
        check_interval_s=settings.reload.alias_check_interval_s,
    )
    store.load(force=True)
    fetcher = FhirFetcher(
        cds.fhir_server_allowlist, timeout_s=cds.fhir_fetch_timeout_s, max_bytes=cds.max_fhir_response_bytes
    )
    reports = ReportStore(cds.report_ttl_s, cds.max_reports_kept) if cds.report_ttl_s > 0 else None
    return CdsHooksService(store.current, mapping, fetcher, reports), store


def serve_cds_hooks(settings: ServerSettings) -> int:
    """Run the CDS Hooks service until SIGTERM/SIGINT (SIGHUP reloads the model); returns the exit status."""
    import uvicorn

    from precisionpain.cdshooks.app import create_app
    from precisionpain.cdshooks.auth import ClientJwtCheck, load_client_jwks
    from precisionpain.service.heap import GC_THRESHOLD, settle_heap
    from precisionpain.service.server import TokenCheck

    configure_logging(settings.log_level)
    tokens = TokenCheck(load_tokens(settings.auth))
    gc.set_threshold(*GC_THRESHOLD)
    service, store = build_service(settings)
    store.on_change = lambda model: settle_heap()
    if store.ready:
        settle_heap()
    store.start()
    cds = settings.cds_hooks

    jwts = ClientJwtCheck(load_client_jwks(cds.client_jwks_file)) if cds.client_jwks_file else None

    def check_token(header: str | None, aud: str) -> None:
        """A static bearer token of the server's, or a CDS Hooks JWT of a trusted EHR for ``aud``."""
        if not tokens.enabled and jwts is None:
            return
        if tokens.enabled:
            try:
                tokens.check([("authorization", header)] if header is not None else [])
                return
            except AuthenticationError:
                if jwts is None:
                    raise
        presented = header[7:].strip() if header and header[:7].lower() == "bearer " else ""
        assert jwts is not None
        jwts.check(presented, aud)

    app = create_app(
        service,
        check_token=check_token,
        max_request_bytes=settings.limits.max_request_bytes,
        request_read_timeout_s=cds.request_read_timeout_s,
        ready=lambda: store.ready,
        public_base_url=cds.public_base_url,
    )
    tls = settings.tls
    sock = _bind(settings.host, cds.port)
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="off",
        timeout_graceful_shutdown=max(1, round(settings.grace_period_s)),
        limit_concurrency=settings.limits.max_concurrent_rpcs,
        http=header_timeout_protocol(cds.request_read_timeout_s),
        ssl_certfile=str(tls.cert_file) if tls.cert_file else None,
        ssl_keyfile=str(tls.key_file) if tls.key_file else None,
        ssl_ca_certs=str(tls.client_ca_file) if tls.client_ca_file else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if tls.require_client_auth else ssl.CERT_NONE,
    )
    server = uvicorn.Server(config)

    def on_hup(signum: int, frame: FrameType | None) -> None:
        log_event(log, logging.INFO, "reload requested (SIGHUP)")
        store.request_reload()

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_hup)
    log_event(
        log,
        logging.INFO,
        "listening",
        host=settings.host,
        port=port,
        tls=tls.enabled,
        mutual_tls=tls.require_client_auth,
        token_auth=tokens.enabled,
        jwt_clients=len(jwts.issuers) if jwts is not None else 0,
        fhir_servers_allowed=len(cds.fhir_server_allowlist),
        report_links=service.reports is not None,
        model_source=store.source.description,
    )
    try:
        server.run(sockets=[sock])
    finally:
        store.stop()
        log_event(log, logging.INFO, "stopped")
    return 0
