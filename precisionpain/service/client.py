"""A small client for clinical decision-support integrators.

    from precisionpain.service.client import RecommendationClient

    with RecommendationClient("cds-gateway:50051", token="...", root_certificates=ca_pem) as client:
        response = client.recommend(profile_dict, candidates=["duloxetine", "pregabalin"])
        for option in response.options:
            print(option.rank, option.display_name, round(option.p_response, 2))

Profiles are given as their JSON form (a dict, as in examples/patients), a
:class:`precisionpain.schema.PatientProfile` or a ``precisionpain.v1.PatientProfile`` message. A failed call
raises :class:`RecommendationServiceError` with the status code, the message, every field violation of an
INVALID_ARGUMENT, and the request id to quote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from precisionpain.errors import PrecisionPainError, Violation
from precisionpain.schema import ExplainedRecommendation, ModelSummary, PatientProfile
from precisionpain.service import convert
from precisionpain.service.status import code_from_number
from precisionpain.v1 import patient_pb2, service_pb2, service_pb2_grpc

__all__ = [
    "RecommendationClient",
    "RecommendationServiceError",
    "explained_recommendation_from_response",
    "model_summary_from_response",
]

explained_recommendation_from_response = convert.explained_recommendation_from_response
model_summary_from_response = convert.model_summary_from_response

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024 * 1024
_DETAILS_KEY = "grpc-status-details-bin"

Profile = Mapping[str, Any] | PatientProfile | patient_pb2.PatientProfile


class RecommendationServiceError(PrecisionPainError, RuntimeError):
    """A call to the recommendation service failed: status code, message, field violations, request id and the
    stable reason (google.rpc.ErrorInfo, e.g. "INVALID_REQUEST", "MODEL_NOT_LOADED") to branch on."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        violations: Sequence[Violation] = (),
        request_id: str = "",
        reason: str = "",
    ) -> None:
        self.code = code
        self.message = message
        self.violations: tuple[Violation, ...] = tuple(violations)
        self.request_id = request_id
        self.reason = reason
        rid = f" [request id {request_id}]" if request_id else ""
        super().__init__(f"{code.name}: {message}{rid}")

    @classmethod
    def from_status(cls, status: status_pb2.Status, request_id: str = "") -> RecommendationServiceError:
        """From a google.rpc.Status (a RecommendBatch item's error, or a call's rich status)."""
        violations: list[Violation] = []
        reason = ""
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations += [Violation(v.field, v.description) for v in bad.field_violations]
            elif detail.Is(error_details_pb2.RequestInfo.DESCRIPTOR) and not request_id:
                info = error_details_pb2.RequestInfo()
                detail.Unpack(info)
                request_id = info.request_id
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                error_info = error_details_pb2.ErrorInfo()
                detail.Unpack(error_info)
                reason = error_info.reason
        return cls(code_from_number(status.code), status.message, violations, request_id, reason)

    @classmethod
    def from_rpc_error(cls, err: grpc.RpcError) -> RecommendationServiceError:
        call: Any = err
        trailing = dict(call.trailing_metadata() or ())
        request_id = str(trailing.get("x-request-id", ""))
        raw = trailing.get(_DETAILS_KEY)
        if isinstance(raw, bytes):
            return cls.from_status(status_pb2.Status.FromString(raw), request_id)
        return cls(call.code(), call.details() or "", (), request_id)


def patient_message(profile: Profile) -> patient_pb2.PatientProfile:
    """Any accepted profile form -> a PatientProfile message."""
    if isinstance(profile, patient_pb2.PatientProfile):
        return profile
    if isinstance(profile, PatientProfile):
        return convert.profile_proto_from_dict(profile.model_dump(mode="json", exclude_none=True))
    return convert.profile_proto_from_dict(profile)


def recommend_request(
    profile: Profile, candidates: Sequence[str] | None = None, top_k: int = 8
) -> service_pb2.RecommendRequest:
    if isinstance(profile, Mapping):
        ids = list(candidates or profile.get("candidate_option_ids") or ())
    elif isinstance(profile, PatientProfile):
        ids = list(candidates or profile.candidate_option_ids or ())
    else:
        ids = list(candidates or ())
    return service_pb2.RecommendRequest(
        patient=patient_message(profile), candidate_option_ids=ids, top_k_contributions=top_k
    )


class RecommendationClient:
    """Calls RecommendationService; one channel, reused for every call. Use it as a context manager."""

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
        server_name: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self._token = token
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # its own connection: gRPC would otherwise share one TCP connection among every channel to the same
            # target in the process, and a server with several processes sees all of them as one client
            ("grpc.use_local_subchannel_pool", 1),
        ]
        if any(x is not None for x in (root_certificates, private_key, certificate_chain)):
            if server_name:
                options.append(("grpc.ssl_target_name_override", server_name))
            credentials = grpc.ssl_channel_credentials(
                root_certificates=root_certificates,
                private_key=private_key,
                certificate_chain=certificate_chain,
            )
            self.channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(target, options=options)
        self._stub = service_pb2_grpc.RecommendationServiceStub(self.channel)
        self._health = health_pb2_grpc.HealthStub(self.channel)

    # ------------------------------------------------------------------------------------------ plumbing

    def _metadata(self, request_id: str | None) -> list[tuple[str, str]]:
        md: list[tuple[str, str]] = []
        if self._token:
            md.append(("authorization", f"Bearer {self._token}"))
        if request_id:
            md.append(("x-request-id", request_id))
        return md

    def _invoke(self, method: Any, request: Any, request_id: str | None, timeout_s: float | None) -> Any:
        try:
            return method(request, timeout=timeout_s or self.timeout_s, metadata=self._metadata(request_id))
        except grpc.RpcError as err:
            raise RecommendationServiceError.from_rpc_error(err) from None

    # ------------------------------------------------------------------------------------------ calls

    def recommend(
        self,
        profile: Profile | service_pb2.RecommendRequest,
        candidates: Sequence[str] | None = None,
        top_k: int = 8,
        *,
        request_id: str | None = None,
        timeout_s: float | None = None,
    ) -> service_pb2.RecommendResponse:
        """Ranked, explained options for one patient."""
        request = (
            profile
            if isinstance(profile, service_pb2.RecommendRequest)
            else recommend_request(profile, candidates, top_k)
        )
        return self._invoke(self._stub.Recommend, request, request_id, timeout_s)

    def recommend_batch(
        self,
        profiles: Sequence[Profile | service_pb2.RecommendRequest],
        candidates: Sequence[str] | None = None,
        top_k: int = 8,
        *,
        request_id: str | None = None,
        timeout_s: float | None = None,
    ) -> service_pb2.RecommendBatchResponse:
        """Many patients in one call; results come back in order, each a response or that patient's error
        (see :meth:`RecommendationServiceError.from_status`). The server bounds the batch size
        (DescribeModel's ``max_batch_size``)."""
        requests = [
            p if isinstance(p, service_pb2.RecommendRequest) else recommend_request(p, candidates, top_k)
            for p in profiles
        ]
        batch = service_pb2.RecommendBatchRequest(requests=requests)
        return self._invoke(self._stub.RecommendBatch, batch, request_id, timeout_s)

    def list_options(self, *, timeout_s: float | None = None) -> service_pb2.ListTreatmentOptionsResponse:
        return self._invoke(
            self._stub.ListTreatmentOptions, service_pb2.ListTreatmentOptionsRequest(), None, timeout_s
        )

    def describe_model(self, *, timeout_s: float | None = None) -> service_pb2.DescribeModelResponse:
        return self._invoke(self._stub.DescribeModel, service_pb2.DescribeModelRequest(), None, timeout_s)

    def model_summary(self, *, timeout_s: float | None = None) -> ModelSummary:
        """DescribeModel as the ModelSummary a report shows."""
        return model_summary_from_response(self.describe_model(timeout_s=timeout_s))

    def explained(
        self, profile: Profile, candidates: Sequence[str] | None = None, top_k: int = 8
    ) -> ExplainedRecommendation:
        """``recommend`` as the stage type (e.g. to build the clinician report from a remote call)."""
        return explained_recommendation_from_response(self.recommend(profile, candidates, top_k))

    def health(self, service: str = "", *, timeout_s: float | None = None) -> str:
        """The standard health status name: SERVING, NOT_SERVING, SERVICE_UNKNOWN or UNKNOWN."""
        try:
            reply = self._health.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s or self.timeout_s
            )
        except grpc.RpcError as err:
            raise RecommendationServiceError.from_rpc_error(err) from None
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> RecommendationClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
