"""Every error carries a google.rpc.ErrorInfo with a stable reason from the one status table (AIP-193), in-process
and over a real server; an unset required field is reported as "missing"; a renamed field and its deprecated twin
that disagree are refused naming both."""

from __future__ import annotations

import re
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from precisionpain import errors
from precisionpain.service.client import RecommendationClient, RecommendationServiceError, recommend_request
from precisionpain.service.status import (
    ERROR_DOMAIN,
    INTERNAL_STATUS,
    STATUS_BY_ERROR,
    CallCancelledError,
    DeadlineExpiredError,
    bad_request,
    error_status_for,
    status_for,
)
from precisionpain.v1 import service_pb2
from tests.contract.serverproc import ServerProcess

REASON = re.compile(r"[A-Z][A-Z0-9_]+[A-Z0-9]")  # AIP-193: UPPER_SNAKE_CASE, at most 63 characters


def error_info(status: status_pb2.Status) -> error_details_pb2.ErrorInfo:
    found = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    assert len(found) == 1, status
    info = error_details_pb2.ErrorInfo()
    found[0].Unpack(info)
    return info


def test_every_row_of_the_table_has_a_stable_reason_of_its_own() -> None:
    rows = [*STATUS_BY_ERROR.values(), INTERNAL_STATUS]
    for row in rows:
        assert REASON.fullmatch(row.reason) and len(row.reason) <= 63, row
    assert len({r.reason for r in rows}) == len(rows)


EXAMPLES: list[BaseException] = [
    errors.ProfileValidationError("p", [errors.Violation("clinical.age_years", "missing")]),
    errors.UnknownAlleleError("CYP2D6", "*999"),
    errors.ResourceLimitError("too many"),
    errors.AuthenticationError("no token"),
    errors.ModelNotLoadedError("loading"),
    errors.RegistryError("unreachable"),
    errors.ModelCatalogMismatchError("other catalog"),
    errors.ModelError("cannot score"),
    DeadlineExpiredError("late"),
    CallCancelledError("gone"),
    KeyError("a bug"),
]


@pytest.mark.parametrize("exc", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_status_carries_the_reason_of_its_row(exc: BaseException) -> None:
    status = status_for(exc, "rid-7")
    info = error_info(status)
    assert (info.reason, info.domain) == (error_status_for(exc).reason, ERROR_DOMAIN)
    assert status.code == error_status_for(exc).grpc_code.value[0]
    assert not info.metadata  # nothing of the request travels in it


def test_reasons_tell_apart_what_one_code_lumps_together() -> None:
    unavailable = {error_status_for(e).reason for e in EXAMPLES if error_status_for(e).grpc_code is grpc.StatusCode.UNAVAILABLE}
    precondition = {
        error_status_for(e).reason for e in EXAMPLES if error_status_for(e).grpc_code is grpc.StatusCode.FAILED_PRECONDITION
    }
    assert len(unavailable) == 2 and len(precondition) == 2


def _invalid(client: RecommendationClient, request: service_pb2.RecommendRequest) -> RecommendationServiceError:
    with pytest.raises(RecommendationServiceError) as info:
        client.recommend(request)
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    return info.value


def test_over_the_wire_errors_carry_the_reason_and_name_what_is_missing(shared_server: ServerProcess) -> None:
    request = recommend_request({"clinical": {"age_years": 50, "sex": "female", "pain_type": "neuropathic", "baseline_nrs": 6}})
    request.patient.clinical.ClearField("baseline_nrs")
    request.patient.clinical.sex = 0
    with RecommendationClient(shared_server.target, timeout_s=30) as client:
        err = _invalid(client, request)
        assert err.reason == STATUS_BY_ERROR[errors.ValidationError].reason
        described = {v.path: v.rule for v in err.violations}
        assert set(described) == {"patient.clinical.baseline_nrs", "patient.clinical.sex"}
        assert all(rule.startswith("missing") for rule in described.values()), described

        no_patient = _invalid(client, service_pb2.RecommendRequest())
        assert [v.path for v in no_patient.violations] == ["patient.clinical"]
        assert no_patient.violations[0].rule.startswith("missing")

        both = recommend_request({"clinical": {"age_years": 50, "sex": "female", "pain_type": "neuropathic", "baseline_nrs": 6}})
        both.patient.pgx.hla_b1502_status = 1  # POSITIVE
        both.patient.pgx.hla_b_1502 = 2  # NEGATIVE
        conflict = _invalid(client, both)
        assert [v.path for v in conflict.violations] == ["patient.pgx.hla_b1502_status"]
        assert "deprecated hla_b_1502" in conflict.violations[0].rule

        batch = client.recommend_batch([both, request])
        for result in batch.results:
            assert result.WhichOneof("result") == "error"
            assert error_info(result.error).reason == err.reason
            assert bad_request(result.error)


def test_the_client_reads_the_reason_from_any_status() -> None:
    status = status_for(errors.ModelNotLoadedError("loading"), "rid-1")
    err: Any = RecommendationServiceError.from_status(status)
    assert (err.code, err.reason, err.request_id) == (grpc.StatusCode.UNAVAILABLE, "MODEL_NOT_LOADED", "rid-1")
