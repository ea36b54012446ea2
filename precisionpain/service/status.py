"""Exceptions -> gRPC status codes, HTTP status codes and google.rpc.Status messages: the ONE mapping table.

Every adapter reads the same row: the gRPC server its ``grpc_code``, the CDS Hooks (HTTP) service its
``http_status``. Nothing unlisted is mapped anywhere else.

Errors raised on purpose (the :mod:`precisionpain.errors` tree) keep their message, which by convention names
the field, the rule and the kind of value, never a value. Validation errors also carry a google.rpc.BadRequest
listing the field violations. Anything not in the table is a bug: INTERNAL with a fixed message and the
request id (the stack is logged under the same id). Every status carries a google.rpc.ErrorInfo with the row's
stable ``reason`` (domain :data:`ERROR_DOMAIN`; clients branch on it, never on the message) and a
google.rpc.RequestInfo.

A status travels in the call's trailing metadata (``grpc-message`` and ``grpc-status-details-bin``), which
gRPC clients refuse above a few KiB (RESOURCE_EXHAUSTED, and the request id lost with it). So a status stays
within :data:`MAX_DETAILS_BYTES`: at most :data:`MAX_VIOLATIONS_LISTED` violations, fewer if they are long,
each text cut to a bound, and the message says how many problems there were and how many are listed.
"""

from __future__ import annotations

import base64
import collections
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status as grpc_rpc_status

from precisionpain.errors import (
    AuthenticationError,
    DataUnavailableError,
    ModelCatalogMismatchError,
    ModelError,
    ModelNotLoadedError,
    PgxError,
    PrecisionPainError,
    RegistryError,
    RequestTimeoutError,
    ResourceLimitError,
    ValidationError,
    Violation,
)


class DeadlineExpiredError(PrecisionPainError, TimeoutError):
    """The caller's deadline passed before the work finished; the rest of the work is skipped."""


class CallCancelledError(PrecisionPainError, RuntimeError):
    """The caller cancelled the call (or went away); the rest of the work is skipped."""


@dataclass(frozen=True, slots=True)
class ErrorStatus:
    """One row of the table: how each transport answers an error class."""

    grpc_code: grpc.StatusCode
    http_status: int
    reason: str  # google.rpc.ErrorInfo.reason: stable, UPPER_SNAKE_CASE (AIP-193)


#: The one table. Looked up along the exception's MRO, so the most specific class listed wins. HTTP codes follow
#: google.rpc's HTTP mapping except where the server's state, not the caller, is at fault (503), where a
#: request is too large (413, the body or batch over a configured limit) or sent too slowly (408), and where CDS Hooks
#: names its own (412).
STATUS_BY_ERROR: Mapping[type[BaseException], ErrorStatus] = {
    ValidationError: ErrorStatus(grpc.StatusCode.INVALID_ARGUMENT, 400, "INVALID_REQUEST"),
    # CDS Hooks 2.0: data neither prefetched nor fetchable from the client's FHIR server is 412
    DataUnavailableError: ErrorStatus(grpc.StatusCode.FAILED_PRECONDITION, 412, "DATA_UNAVAILABLE"),
    PgxError: ErrorStatus(grpc.StatusCode.INVALID_ARGUMENT, 400, "INVALID_PGX_RESULT"),
    ResourceLimitError: ErrorStatus(grpc.StatusCode.RESOURCE_EXHAUSTED, 413, "LIMIT_EXCEEDED"),
    AuthenticationError: ErrorStatus(grpc.StatusCode.UNAUTHENTICATED, 401, "INVALID_CREDENTIALS"),
    ModelNotLoadedError: ErrorStatus(grpc.StatusCode.UNAVAILABLE, 503, "MODEL_NOT_LOADED"),
    RegistryError: ErrorStatus(grpc.StatusCode.UNAVAILABLE, 503, "MODEL_REGISTRY_UNAVAILABLE"),
    ModelCatalogMismatchError: ErrorStatus(
        grpc.StatusCode.FAILED_PRECONDITION, 503, "MODEL_CATALOG_MISMATCH"
    ),
    # e.g. a catalog option the loaded model cannot score
    ModelError: ErrorStatus(grpc.StatusCode.FAILED_PRECONDITION, 503, "MODEL_CANNOT_ANSWER"),
    DeadlineExpiredError: ErrorStatus(grpc.StatusCode.DEADLINE_EXCEEDED, 504, "DEADLINE_EXCEEDED"),
    RequestTimeoutError: ErrorStatus(grpc.StatusCode.DEADLINE_EXCEEDED, 408, "REQUEST_TIMEOUT"),
    CallCancelledError: ErrorStatus(grpc.StatusCode.CANCELLED, 499, "CALL_CANCELLED"),
}

#: The row of anything not raised on purpose: a bug.
INTERNAL_STATUS = ErrorStatus(grpc.StatusCode.INTERNAL, 500, "INTERNAL_ERROR")

#: google.rpc.ErrorInfo.domain of every error this service raises.
ERROR_DOMAIN = "precisionpain.org"

INTERNAL_MESSAGE = "internal error; quote request id {request_id} when reporting it"


def error_status_for(exc: BaseException) -> ErrorStatus:
    """The table's row for an exception; :data:`INTERNAL_STATUS` for anything not raised on purpose."""
    for cls in type(exc).__mro__:
        row = STATUS_BY_ERROR.get(cls)
        if row is not None:
            return row
    return INTERNAL_STATUS


def status_code_for(exc: BaseException) -> grpc.StatusCode:
    """The gRPC status code of an exception; INTERNAL for anything not raised on purpose."""
    return error_status_for(exc).grpc_code


def http_status_for(exc: BaseException) -> int:
    """The HTTP status code of an exception; 500 for anything not raised on purpose."""
    return error_status_for(exc).http_status


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


#: Bytes a status may take in the trailing metadata: the message percent-encoded (``grpc-message``) plus the
#: whole status base64-encoded (``grpc-status-details-bin``). gRPC clients accept 8 KiB of metadata by default
#: and start refusing some above it; this leaves half of that for the rest (request id, other headers).
MAX_DETAILS_BYTES = 4096
#: Field violations listed at most; the message gives the total.
MAX_VIOLATIONS_LISTED = 20
#: Longest field path or rule text, in encoded bytes, before it is cut.
MAX_TEXT_BYTES = 240
_MAX_MESSAGE_BYTES = 1024


def _encoded_len(text: str) -> int:
    """Bytes of ``text`` in ``grpc-message``: UTF-8 with every byte outside printable ASCII (and ``%``) as %XX."""
    return sum(1 if 0x20 <= b <= 0x7E and b != 0x25 else 3 for b in text.encode("utf-8"))


def _bounded(text: str, max_bytes: int) -> str:
    """``text`` cut (with an ellipsis) so that it takes at most ``max_bytes`` in ``grpc-message``."""
    if _encoded_len(text) <= max_bytes:
        return text
    out: list[str] = []
    used = 9  # the ellipsis, percent-encoded
    for ch in text:
        used += _encoded_len(ch)
        if used > max_bytes:
            break
        out.append(ch)
    return "".join(out) + "…"


def trailer_bytes(status: status_pb2.Status) -> int:
    """Bytes a status takes in the trailing metadata (see :data:`MAX_DETAILS_BYTES`)."""
    return _encoded_len(status.message) + len(base64.b64encode(status.SerializeToString()))


def status_for(exc: BaseException, request_id: str, *, path_prefix: str = "") -> status_pb2.Status:
    """The google.rpc.Status for an exception (BadRequest details for validation errors), within
    :data:`MAX_DETAILS_BYTES`."""
    row = error_status_for(exc)
    code = row.grpc_code
    info = [
        _pack(error_details_pb2.ErrorInfo(reason=row.reason, domain=ERROR_DOMAIN)),
        _pack(error_details_pb2.RequestInfo(request_id=request_id)),
    ]
    if code is grpc.StatusCode.INTERNAL:
        message = INTERNAL_MESSAGE.format(request_id=request_id)
    else:
        message = _bounded(str(exc), _MAX_MESSAGE_BYTES)
    if not isinstance(exc, ValidationError) or not exc.violations:
        return status_pb2.Status(code=_code_number(code), message=message, details=info)
    violations = [
        Violation(
            _bounded(f"{path_prefix}{v.path}", MAX_TEXT_BYTES),
            _bounded(v.rule, MAX_TEXT_BYTES),
            _bounded(v.received, MAX_TEXT_BYTES),
        )
        for v in exc.violations[:MAX_VIOLATIONS_LISTED]
    ]
    header = _bounded(str(exc).split("\n", 1)[0], MAX_TEXT_BYTES)
    listed = len(violations)
    while True:
        status = _validation_status(code, header, len(exc.violations), violations[:listed], info)
        if listed <= 1 or trailer_bytes(status) <= MAX_DETAILS_BYTES:
            return status
        listed -= max(1, listed // 4)


def _validation_status(
    code: grpc.StatusCode, header: str, total: int, listed: Sequence[Violation], info: Sequence[any_pb2.Any]
) -> status_pb2.Status:
    """``header`` (e.g. "recommend request: 60 problems") and the ``listed`` violations, in the message and in a
    BadRequest, saying how many of the ``total`` are listed."""
    if len(listed) < total:
        header += f" (the first {len(listed)} listed)"
    message = "\n".join([header, *(f"  - {v.describe()}" for v in listed)])
    bad = error_details_pb2.BadRequest()
    for v in listed:
        received = f" (received {v.received})" if v.received else ""
        bad.field_violations.add(field=v.path, description=f"{v.rule}{received}")
    return status_pb2.Status(code=_code_number(code), message=message, details=[_pack(bad), *info])


def _code_number(code: grpc.StatusCode) -> int:
    return int(code.value[0])


_CODE_NAMES = {int(c.value[0]): c for c in grpc.StatusCode}


def code_from_number(number: int) -> grpc.StatusCode:
    return _CODE_NAMES.get(number, grpc.StatusCode.UNKNOWN)


class _GrpcStatus(
    collections.namedtuple("_GrpcStatus", ("code", "details", "trailing_metadata")), grpc.Status
):
    """A grpc.Status with our own trailing metadata added (request id) next to the rich status."""


def grpc_status(status: status_pb2.Status, trailing: tuple[tuple[str, str | bytes], ...] = ()) -> grpc.Status:
    """A google.rpc.Status -> what ``context.abort_with_status`` takes, keeping ``trailing`` metadata."""
    base = grpc_rpc_status.to_status(status)
    return _GrpcStatus(base.code, base.details, (*trailing, *base.trailing_metadata))


def bad_request(status: status_pb2.Status) -> list[tuple[str, str]]:
    """(field, description) of every BadRequest field violation inside a google.rpc.Status."""
    out: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out
