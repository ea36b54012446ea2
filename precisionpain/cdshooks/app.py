"""The HTTP transport of the CDS Hooks services (FastAPI): tokens, body limits, request ids, errors, access lines.

Per call: a request id (the caller's ``x-request-id`` when well-formed, else a new one; returned in the
``x-request-id`` header and in error bodies); for the hook services the bearer-token check before the body is read
(401), the body bounded by ``limits.max_request_bytes`` before it is parsed (413) and by
``cds_hooks.request_read_timeout_s`` while it arrives (408), then the service; errors are
answered through the one table of :mod:`precisionpain.service.status` (its HTTP column), as JSON naming the field,
the rule and the kind of value, never a value; anything unlisted is a bug: 500 with a fixed message and the
request id (its stack logged under the same id). One JSON access line per call (request id, method, route,
status, latency, hook, card count); never a patient value, identifier or token.

Routes: ``GET /cds-services`` (discovery, open), ``POST /cds-services/{id}`` (the services), ``POST
/cds-services/{id}/feedback`` (what the clinician did with a card: counted in the access line, never kept), ``GET
/cds-services/about`` (the model and catalogs the cards cite, open), ``GET /reports/{id}`` (a card's full report,
behind its unguessable id), ``GET /health`` (200 once a model is loaded, else 503).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response

from precisionpain.cdshooks.hooks import (
    SERVICES,
    CdsHooksService,
    feedback_fields,
    parse_feedback,
    render_stored_report,
)
from precisionpain.errors import RequestTimeoutError, ResourceLimitError, ValidationError, Violation
from precisionpain.service.logs import get_logger, log_event, safe_traceback
from precisionpain.service.status import bad_request, error_status_for, http_status_for, status_for

REQUEST_ID_HEADER = "x-request-id"
_HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,64}\](:[0-9]{1,5})?$")
_REPORT_ID = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")

access_log = get_logger("cds.access")
log = get_logger("cds")


async def read_bounded_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``limit`` bytes: from Content-Length before
    reading, else while it streams in; and refused (408) when it has not all arrived within ``timeout_s``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ResourceLimitError(
            f"the request body is {int(declared):,} bytes, above the service's limits.max_request_bytes ({limit:,})"
        )
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise ResourceLimitError(
                        f"the request body is above the service's limits.max_request_bytes ({limit:,})"
                    )
    except TimeoutError:
        raise RequestTimeoutError(
            f"the request body did not arrive within the service's cds_hooks.request_read_timeout_s ({timeout_s:g} s)"
        ) from None
    return bytes(body)


def parse_json(body: bytes) -> Any:
    """A request body as JSON: UTF-8 only (RFC 8259; ``json.loads`` would guess UTF-16 or UTF-32 from bytes)."""
    try:
        return json.loads(body.decode("utf-8"))
    except RecursionError:
        raise ValidationError(
            "CDS Hooks request", [Violation("(body)", "is nested too deeply", "JSON")]
        ) from None
    except UnicodeDecodeError:
        raise ValidationError(
            "CDS Hooks request", [Violation("(body)", "must be UTF-8 JSON", "bytes")]
        ) from None
    except ValueError as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ValidationError(
            "CDS Hooks request", [Violation("(body)", f"is not valid JSON{where}", "text")]
        ) from None


def error_body(exc: BaseException, request_id: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of an exception, from the one status table."""
    status = status_for(exc, request_id)
    row = error_status_for(exc)
    body: dict[str, Any] = {
        "error": {
            "status": http_status_for(exc),
            "code": row.grpc_code.name,
            "reason": row.reason,
            "message": status.message,
            "request_id": request_id,
        }
    }
    violations = bad_request(status)
    if violations:
        body["error"]["violations"] = [{"field": f, "description": d} for f, d in violations]
    return http_status_for(exc), body


def create_app(
    service: CdsHooksService,
    *,
    check_token: Callable[[str | None, str], None],
    max_request_bytes: int,
    ready: Callable[[], bool],
    request_read_timeout_s: float = 10.0,
    public_base_url: str | None = None,
) -> FastAPI:
    """The FastAPI application. ``check_token(authorization header, URL called)`` raises
    :class:`AuthenticationError` for a missing or wrong ``Authorization`` header value (a token, or a CDS Hooks
    JWT whose aud must be the URL called)."""
    from precisionpain.service.server import request_id_from

    app = FastAPI(title="PrecisionPain CDS Hooks", docs_url=None, redoc_url=None, openapi_url=None)
    # CDS Hooks 2.0 asks services to allow browser-based clients (CORS); the token check still applies
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
        expose_headers=[REQUEST_ID_HEADER],
    )

    def base_url(request: Request) -> str:
        if public_base_url:
            return public_base_url.rstrip("/")
        host = request.headers.get("host", "")
        if not _HOST.match(host):
            host = (
                f"{request.url.hostname}:{request.url.port}"
                if request.url.port
                else str(request.url.hostname)
            )
        return f"{request.url.scheme}://{host}"

    def failed(exc: BaseException, request: Request) -> Response:
        request_id: str = request.state.request_id
        code, body = error_body(exc, request_id)
        if code == 500:
            log_event(
                log,
                logging.ERROR,
                "internal error",
                request_id=request_id,
                error_type=type(exc).__qualname__,
                stack=safe_traceback(exc),
            )
        return JSONResponse(body, status_code=code, headers={"cache-control": "no-store"})

    @app.middleware("http")
    async def transport(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        request_id = request_id_from([(REQUEST_ID_HEADER, request.headers.get(REQUEST_ID_HEADER))])
        request.state.request_id = request_id
        request.state.fields = {}
        try:
            response = await call_next(request)
        except Exception as exc:  # what a route did not answer itself
            response = failed(exc, request)
        response.headers[REQUEST_ID_HEADER] = request_id
        route = request.scope.get("route")
        log_event(
            access_log,
            logging.INFO,
            "call",
            request_id=request_id,
            method=request.method,
            route=getattr(route, "path", "(no route)"),
            status=response.status_code,
            latency_ms=round((time.perf_counter() - started) * 1e3, 3),
            **request.state.fields,
        )
        return response

    @app.get("/cds-services")
    def discover() -> dict[str, Any]:
        return service.discovery()

    @app.get("/cds-services/about")
    def about(request: Request) -> Response:
        try:
            return JSONResponse(service.about())
        except Exception as exc:
            return failed(exc, request)

    @app.get("/health")
    def health() -> Response:
        serving = ready()
        return JSONResponse(
            {"status": "SERVING" if serving else "NOT_SERVING"}, status_code=200 if serving else 503
        )

    @app.get("/reports/{report_id}")
    def report(report_id: str, request: Request) -> Response:
        stored = service.reports.get(report_id) if service.reports and _REPORT_ID.match(report_id) else None
        if stored is None:
            return JSONResponse(
                {
                    "error": {
                        "status": 404,
                        "message": "no such report (report links expire; see report_ttl_s)",
                    }
                },
                status_code=404,
            )
        try:
            html = render_stored_report(stored)
        except Exception as exc:
            return failed(exc, request)
        return HTMLResponse(
            html,
            headers={
                "cache-control": "no-store",
                "x-robots-tag": "noindex",
                # the random id in the URL is the report's only key: never send it on to the sites it links to
                "referrer-policy": "no-referrer",
                "x-content-type-options": "nosniff",
            },
        )

    def hook_route(service_id: str) -> Callable[[Request], Awaitable[Response]]:
        async def call(request: Request) -> Response:
            try:
                check_token(request.headers.get("authorization"), base_url(request) + request.url.path)
                body = await read_bounded_body(request, max_request_bytes, request_read_timeout_s)
                data = parse_json(body)
                answer = await run_in_threadpool(service.call, service_id, data, base_url(request))
            except Exception as exc:
                return failed(exc, request)
            request.state.fields = answer.fields
            return JSONResponse({"cards": answer.cards}, headers={"cache-control": "no-store"})

        return call

    async def feedback(request: Request) -> Response:
        """CDS Hooks 2.0 feedback: what the clinician did with a card, counted in the access line."""
        try:
            check_token(request.headers.get("authorization"), base_url(request) + request.url.path)
            body = await read_bounded_body(request, max_request_bytes, request_read_timeout_s)
            fields = feedback_fields(parse_feedback(parse_json(body)))
        except Exception as exc:
            return failed(exc, request)
        request.state.fields = fields
        return Response(status_code=200, headers={"cache-control": "no-store"})

    for service_id in SERVICES:
        app.add_api_route(f"/cds-services/{service_id}", hook_route(service_id), methods=["POST"])
        app.add_api_route(f"/cds-services/{service_id}/feedback", feedback, methods=["POST"])
    return app
