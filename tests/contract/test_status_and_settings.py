"""The exception -> status table, settings precedence and strictness, tokens, request ids, INTERNAL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from precisionpain import errors
from precisionpain.service.config import build_settings, env_name, load_tokens, setting_paths
from precisionpain.service.server import InFlight, RecommendationService, TokenCheck, request_id_from
from precisionpain.service.servicer import CallInfo
from precisionpain.service.status import (
    STATUS_BY_ERROR,
    CallCancelledError,
    DeadlineExpiredError,
    bad_request,
    http_status_for,
    status_code_for,
    status_for,
)
from precisionpain.v1 import service_pb2, service_pb2_grpc
from tests.contract.serverproc import wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("exc", "code", "http"),
    [
        (errors.ProfileValidationError("p", [errors.Violation("clinical.age_years", "required")]), "INVALID_ARGUMENT", 400),
        (errors.UnknownAlleleError("CYP2D6", "*999"), "INVALID_ARGUMENT", 400),
        (errors.ResourceLimitError("too many"), "RESOURCE_EXHAUSTED", 413),
        (errors.AuthenticationError("no token"), "UNAUTHENTICATED", 401),
        (errors.ModelNotLoadedError("not yet"), "UNAVAILABLE", 503),
        (errors.ModelCatalogMismatchError("other catalog"), "FAILED_PRECONDITION", 503),
        (DeadlineExpiredError("late"), "DEADLINE_EXCEEDED", 504),
        (CallCancelledError("gone"), "CANCELLED", 499),
        (KeyError("bug"), "INTERNAL", 500),
        (ZeroDivisionError(), "INTERNAL", 500),
    ],
)
def test_status_table(exc: BaseException, code: str, http: int) -> None:
    assert status_code_for(exc).name == code
    assert http_status_for(exc) == http


def test_every_error_class_of_the_tree_has_a_status() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.PrecisionPainError)]
    for cls in classes:
        if cls is errors.PrecisionPainError:
            continue
        assert any(issubclass(cls, listed) for listed in STATUS_BY_ERROR), cls.__name__


def test_bad_request_lists_every_violation_and_the_request_id() -> None:
    exc = errors.ProfileValidationError(
        "patient",
        [errors.Violation("patient.clinical.age_years", "must be between 18 and 110", "number"),
         errors.Violation("candidate_option_ids[0]", "is not an option id", "string")],
    )
    status = status_for(exc, "req-7")
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert bad_request(status) == [
        ("patient.clinical.age_years", "must be between 18 and 110 (received number)"),
        ("candidate_option_ids[0]", "is not an option id (received string)"),
    ]
    info = error_details_pb2.RequestInfo()
    assert status.details[-1].Unpack(info) and info.request_id == "req-7"


def test_request_ids() -> None:
    assert request_id_from([("x-request-id", "abc-123_x.y:z")]) == "abc-123_x.y:z"
    for bad in ("", "has space", "x" * 65, "-leading-dash", "ünicode"):
        generated = request_id_from([("x-request-id", bad)])
        assert generated != bad and len(generated) == 32
    assert request_id_from(None) != request_id_from(None)


def test_token_check() -> None:
    check = TokenCheck(["a" * 20, "b" * 20])
    check.check([("authorization", "Bearer " + "b" * 20)])
    check.check([("authorization", "bearer " + "a" * 20)])
    for md in ([], [("authorization", "Bearer " + "c" * 20)], [("authorization", "a" * 20)]):
        with pytest.raises(errors.AuthenticationError):
            check.check(md)
    TokenCheck([]).check([])


def test_settings_precedence_flags_env_file(tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text("version: 1\nport: 7000\nworkers: 3\nlimits:\n  max_batch_size: 10\nmodel: models:/a@champion\n")
    s = build_settings({}, config_path=config, environ={})
    assert (s.port, s.workers, s.limits.max_batch_size, s.model) == (7000, 3, 10, "models:/a@champion")
    env = {env_name("port"): "7001", env_name("limits.max_batch_size"): "20"}
    s = build_settings({}, config_path=config, environ=env)
    assert (s.port, s.workers, s.limits.max_batch_size) == (7001, 3, 20)
    s = build_settings({"port": 7002, "model_path": tmp_path}, config_path=config, environ=env)
    assert (s.port, s.model_path, s.model) == (7002, tmp_path, None)
    assert s.host == "127.0.0.1"


def test_settings_report_every_problem_at_once(tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text("version: 1\nport: -1\nwokers: 3\nlimits:\n  max_batch_size: 0\ntls:\n  cert_file: /nope.pem\n")
    env = {env_name("workers"): "many", "PRECISIONPAIN_SERVE_PROT": "1"}
    with pytest.raises(errors.ConfigError) as info:
        build_settings({}, config_path=config, environ=env)
    text = str(info.value)
    for expected in ("port", "wokers", "limits.max_batch_size", "tls", "workers (from PRECISIONPAIN_SERVE_WORKERS)",
                     "PRECISIONPAIN_SERVE_PROT"):
        assert expected in text, expected


def test_a_client_ca_without_required_client_auth_is_refused(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    flags = {"model_path": tmp_path, "tls.cert_file": pem, "tls.key_file": pem, "tls.client_ca_file": pem}
    with pytest.raises(errors.ConfigError, match="require_client_auth"):
        build_settings(flags, config_path=None, environ={})
    settings = build_settings({**flags, "tls.require_client_auth": True}, config_path=None, environ={})
    assert settings.tls.require_client_auth


def test_reflection_behind_the_token_is_a_setting(tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text("version: 1\n")
    assert build_settings({}, config_path=config, environ={}).auth.reflection_requires_token is False  # open by default
    env = {env_name("auth.require_token"): "true", env_name("auth.reflection_requires_token"): "true"}
    assert build_settings({}, config_path=config, environ=env).auth.reflection_requires_token is True
    flags = {"auth.require_token": True, "auth.reflection_requires_token": False}
    assert build_settings(flags, config_path=config, environ=env).auth.reflection_requires_token is False
    with pytest.raises(errors.ConfigError, match=r"auth.reflection_requires_token: is true but auth.require_token is false"):
        build_settings({"auth.reflection_requires_token": True}, config_path=config, environ={})


def test_repository_server_yaml_is_valid() -> None:
    s = build_settings({}, config_path=REPO / "serving" / "server.yaml", environ={})
    assert s.host == "127.0.0.1" and s.model and s.model.startswith("models:/")
    assert set(setting_paths()) >= {
        "port", "limits.max_batch_size", "tls.cert_file", "auth.token_file", "auth.reflection_requires_token"
    }
    assert s.auth.reflection_requires_token is False  # development default; production turns it on


def test_tokens(tmp_path: Path) -> None:
    from precisionpain.service.config import AuthSettings

    tokens = tmp_path / "tokens"
    tokens.write_text("# comment\n" + "t" * 24 + "\n\n")
    auth = AuthSettings(require_token=True, token_file=tokens, token_env="MY_TOKENS")
    assert load_tokens(auth, {"MY_TOKENS": "u" * 20 + ", " + "v" * 20}) == ("t" * 24, "u" * 20, "v" * 20)
    with pytest.raises(errors.ConfigError, match="no token"):
        load_tokens(AuthSettings(require_token=True, token_env="NONE_SET"), {})
    with pytest.raises(errors.ConfigError, match="16 characters"):
        load_tokens(AuthSettings(require_token=True, token_env="T"), {"T": "short"})
    assert load_tokens(AuthSettings(), {"PRECISIONPAIN_API_TOKENS": "x" * 20}) == ()


# ---------------------------------------------------------------------------------------------- INTERNAL

SECRET = "patient-secret-value-4711"


class _Broken:
    """A servicer with a bug: its exception message quotes input, which must reach neither client nor log."""

    def recommend_wire(self, request: Any, call: CallInfo) -> bytes:
        raise KeyError(SECRET)

    def describe_model(self, request: Any, call: CallInfo) -> Any:
        raise errors.ModelNotLoadedError("no model is loaded yet; retry shortly")


@pytest.fixture
def broken_server() -> Iterator[str]:
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    service = RecommendationService(_Broken(), TokenCheck([]), InFlight())  # type: ignore[arg-type]
    service.add_to(server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0)


def test_internal_errors_have_a_fixed_message_and_a_logged_request_id(
    broken_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="precisionpain.service")
    with grpc.insecure_channel(broken_server) as ch:
        stub = service_pb2_grpc.RecommendationServiceStub(ch)
        with pytest.raises(grpc.RpcError) as info:
            stub.Recommend(service_pb2.RecommendRequest(), metadata=[("x-request-id", "bug-report-1")], timeout=5)
        err: Any = info.value
        assert err.code() is grpc.StatusCode.INTERNAL
        assert err.details() == "internal error; quote request id bug-report-1 when reporting it"
        assert SECRET not in err.details()
        trailing = dict(err.trailing_metadata())
        assert trailing["x-request-id"] == "bug-report-1"
        status = status_pb2.Status.FromString(trailing["grpc-status-details-bin"])
        assert status.code == grpc.StatusCode.INTERNAL.value[0]
        with pytest.raises(grpc.RpcError) as info:
            stub.DescribeModel(service_pb2.DescribeModelRequest(), timeout=5)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]

    def records_of_the_call() -> list[logging.LogRecord]:
        return [r for r in caplog.records if getattr(r, "fields", {}).get("request_id") == "bug-report-1"]

    wait_until(lambda: len(records_of_the_call()) == 2, timeout_s=10)  # the access line follows the call's end
    records = records_of_the_call()
    assert {r.getMessage() for r in records} == {"internal error", "call"}
    bug = next(r for r in records if r.getMessage() == "internal error")
    assert bug.fields["error_type"] == "KeyError" and "recommend" in bug.fields["stack"]  # type: ignore[attr-defined]
    from precisionpain.service.logs import JsonFormatter

    assert all(SECRET not in JsonFormatter().format(r) for r in caplog.records)
