"""Exceptions -> gRPC status codes and google.rpc.Status messages: the service's ONE mapping table.

Errors raised on purpose (the :mod:`precisionpain.errors` tree) keep their message, which by convention names
the field, the rule and the kind of value, never a value. Validation errors also carry a google.rpc.BadRequest
listing every field violation. Anything not in the table is a bug: INTERNAL with a fixed message and the
request id (the stack is logged under the same id). Every status carries a google.rpc.RequestInfo.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status as grpc_rpc_status

from precisionpain.errors import (
    AuthenticationError,
    ModelCatalogMismatchError,
    ModelError,
    ModelNotLoadedError,
    PgxError,
    PrecisionPainError,
    RegistryError,
    ResourceLimitError,
    ValidationError,
)


class DeadlineExpiredError(PrecisionPainError, TimeoutError):
    """The caller's deadline passed before the work finished; the rest of the work is skipped."""


class CallCancelledError(PrecisionPainError, RuntimeError):
    """The caller cancelled the call (or went away); the rest of the work is skipped."""


#: The one table. Looked up along the exception's MRO, so the most specific class listed wins.
STATUS_BY_ERROR: Mapping[type[BaseException], grpc.StatusCode] = {
    ValidationError: grpc.StatusCode.INVALID_ARGUMENT,
    PgxError: grpc.StatusCode.INVALID_ARGUMENT,
    ResourceLimitError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    AuthenticationError: grpc.StatusCode.UNAUTHENTICATED,
    ModelNotLoadedError: grpc.StatusCode.UNAVAILABLE,
    RegistryError: grpc.StatusCode.UNAVAILABLE,
    ModelCatalogMismatchError: grpc.StatusCode.FAILED_PRECONDITION,
    ModelError: grpc.StatusCode.FAILED_PRECONDITION,  # e.g. a catalog option the loaded model cannot score
    DeadlineExpiredError: grpc.StatusCode.DEADLINE_EXCEEDED,
    CallCancelledError: grpc.StatusCode.CANCELLED,
}

INTERNAL_MESSAGE = "internal error; quote request id {request_id} when reporting it"


def status_code_for(exc: BaseException) -> grpc.StatusCode:
    """The status code of an exception; INTERNAL for anything not raised on purpose."""
    for cls in type(exc).__mro__:
        code = STATUS_BY_ERROR.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def status_for(exc: BaseException, request_id: str, *, path_prefix: str = "") -> status_pb2.Status:
    """The google.rpc.Status for an exception (BadRequest details for validation errors)."""
    code = status_code_for(exc)
    internal = code is grpc.StatusCode.INTERNAL
    message = INTERNAL_MESSAGE.format(request_id=request_id) if internal else str(exc)
    status = status_pb2.Status(code=_code_number(code), message=message)
    if isinstance(exc, ValidationError):
        bad = error_details_pb2.BadRequest()
        for v in exc.violations:
            field = f"{path_prefix}{v.path}" if path_prefix else v.path
            received = f" (received {v.received})" if v.received else ""
            bad.field_violations.add(field=field, description=f"{v.rule}{received}")
        status.details.append(_pack(bad))
    status.details.append(_pack(error_details_pb2.RequestInfo(request_id=request_id)))
    return status


def _code_number(code: grpc.StatusCode) -> int:
    return int(code.value[0])


_CODE_NAMES = {int(c.value[0]): c for c in grpc.StatusCode}


def code_from_number(number: int) -> grpc.StatusCode:
    return _CODE_NAMES.get(number, grpc.StatusCode.UNKNOWN)


class _GrpcStatus(collections.namedtuple("_GrpcStatus", ("code", "details", "trailing_metadata")), grpc.Status):
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

