"""Mutual TLS and bearer tokens on a real server; health needs no token, reflection only when told to; TLS
handshake failures reach the log as JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from precisionpain.service.client import RecommendationClient, RecommendationServiceError
from precisionpain.v1 import service_pb2, service_pb2_grpc
from tests.contract.certs import Authority, Pem
from tests.contract.serverproc import ServerProcess, running, wait_until

TOKEN = "s3cret-token-for-tests-0123456789"
ENV_TOKEN = "other-token-from-environment-42"


@pytest.fixture(scope="module")
def pki() -> dict[str, Any]:
    ca = Authority.create("PrecisionPain test CA")
    rogue = Authority.create("Someone else")
    return {
        "ca": ca.pem,
        "server": ca.issue("localhost", server=True),
        "client": ca.issue("cds-client", server=False),
        "rogue_client": rogue.issue("cds-client", server=False),
    }


@pytest.fixture(scope="module")
def secure_server(
    pki: dict[str, Any], small_package_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("secure")
    server_cert, server_key = pki["server"].write(workdir, "server")
    ca_file = workdir / "ca.crt"
    ca_file.write_bytes(pki["ca"].cert)
    tokens = workdir / "tokens"
    tokens.write_text(f"# accepted tokens\n{TOKEN}\n")
    args = [
        "--model-path", str(small_package_dir), "--alias-check-interval-s", "0",
        "--tls-cert", str(server_cert), "--tls-key", str(server_key),
        "--tls-client-ca", str(ca_file), "--require-client-auth",
        "--require-token", "--token-file", str(tokens),
    ]  # fmt: skip
    with running(workdir, args, env={"PRECISIONPAIN_API_TOKENS": ENV_TOKEN}) as server:
        with _channel(server, pki["ca"], pki["client"]) as ch:
            server.wait_serving(channel=ch)
        yield server


def _channel(server: ServerProcess, ca: Pem, client: Pem | None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.cert,
        private_key=client.key if client else None,
        certificate_chain=client.cert if client else None,
    )
    return grpc.secure_channel(server.target, credentials)


def _code(fn: Any, *args: Any, **kwargs: Any) -> grpc.StatusCode:
    try:
        fn(*args, timeout=10, **kwargs)
    except grpc.RpcError as err:
        return err.code()  # type: ignore[attr-defined, no-any-return]
    return grpc.StatusCode.OK


def test_token_required(secure_server: ServerProcess, pki: dict[str, Any]) -> None:
    with _channel(secure_server, pki["ca"], pki["client"]) as ch:
        stub = service_pb2_grpc.RecommendationServiceStub(ch)
        request = service_pb2.DescribeModelRequest()
        assert _code(stub.DescribeModel, request) is grpc.StatusCode.UNAUTHENTICATED
        assert _code(stub.DescribeModel, request, metadata=[("authorization", "Bearer wrong-token-xxxxxxxxxxxx")]) is (
            grpc.StatusCode.UNAUTHENTICATED
        )
        assert _code(stub.DescribeModel, request, metadata=[("authorization", TOKEN)]) is grpc.StatusCode.UNAUTHENTICATED
        for token in (TOKEN, ENV_TOKEN):
            assert _code(stub.DescribeModel, request, metadata=[("authorization", f"Bearer {token}")]) is (
                grpc.StatusCode.OK
            )
        # health and reflection stay reachable without a token
        health = health_pb2_grpc.HealthStub(ch)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
        replies = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
        )
        names = {s.name for r in replies for s in r.list_services_response.service}
        assert "precisionpain.v1.RecommendationService" in names
    assert TOKEN not in secure_server.log_text() and ENV_TOKEN not in secure_server.log_text()


def test_client_certificate_required(secure_server: ServerProcess, pki: dict[str, Any]) -> None:
    for client in (None, pki["rogue_client"]):
        with _channel(secure_server, pki["ca"], client) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            assert _code(health.Check, health_pb2.HealthCheckRequest()) is grpc.StatusCode.UNAVAILABLE
    with grpc.insecure_channel(secure_server.target) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        assert _code(health.Check, health_pb2.HealthCheckRequest()) is grpc.StatusCode.UNAVAILABLE


def test_client_class_over_mutual_tls(secure_server: ServerProcess, pki: dict[str, Any], patient_examples) -> None:  # type: ignore[no-untyped-def]
    kwargs = {
        "root_certificates": pki["ca"].cert,
        "private_key": pki["client"].key,
        "certificate_chain": pki["client"].cert,
        "timeout_s": 30.0,
    }
    with RecommendationClient(secure_server.target, token=TOKEN, **kwargs) as client:
        response = client.recommend(patient_examples["hla_b_1502_carrier"])
        assert "carbamazepine" in {o.option_id for o in response.excluded}
        assert client.health() == "SERVING"
    with RecommendationClient(secure_server.target, **kwargs) as client, pytest.raises(RecommendationServiceError) as info:
        client.describe_model()
    assert info.value.code is grpc.StatusCode.UNAUTHENTICATED


def _reflected_services(channel: grpc.Channel, metadata: list[tuple[str, str]] | None = None) -> set[str]:
    replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10, metadata=metadata
    )
    return {s.name for r in replies for s in r.list_services_response.service}


def test_reflection_behind_the_token_when_set(tmp_path: Path, small_package_dir: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKEN}\n")
    args = [
        "--model-path", str(small_package_dir), "--alias-check-interval-s", "0",
        "--require-token", "--token-file", str(tokens), "--reflection-requires-token",
    ]  # fmt: skip
    with running(tmp_path / "run", args) as server, grpc.insecure_channel(server.target) as ch:
        assert server.wait_log("listening")["reflection_requires_token"] is True
        for metadata in (None, [("authorization", "Bearer wrong-token-xxxxxxxxxxxx")]):
            with pytest.raises(grpc.RpcError) as info:
                _reflected_services(ch, metadata)
            assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        assert "precisionpain.v1.RecommendationService" in _reflected_services(ch, [("authorization", f"Bearer {TOKEN}")])
        health = health_pb2_grpc.HealthStub(ch)  # health stays open for probes
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    assert TOKEN not in server.log_text()


def test_tls_handshake_failures_are_json_log_lines(secure_server: ServerProcess, pki: dict[str, Any]) -> None:
    """gRPC core reports a failed handshake on standard error itself: the server turns it into a JSON line."""
    before = len(secure_server.log_records())
    with grpc.insecure_channel(secure_server.target) as ch:  # plaintext to a TLS port
        assert _code(health_pb2_grpc.HealthStub(ch).Check, health_pb2.HealthCheckRequest()) is grpc.StatusCode.UNAVAILABLE
    with _channel(secure_server, pki["ca"], pki["rogue_client"]) as ch:  # a certificate from another CA
        assert _code(health_pb2_grpc.HealthStub(ch).Check, health_pb2.HealthCheckRequest()) is grpc.StatusCode.UNAVAILABLE

    def handshake_records() -> list[dict[str, Any]]:
        return [r for r in secure_server.log_records()[before:] if "Handshake failed" in r.get("message", "")]

    wait_until(lambda: len(handshake_records()) >= 2, timeout_s=20)
    record = handshake_records()[0]
    assert record["logger"] == "precisionpain.service.native" and record["level"] in ("INFO", "WARNING", "ERROR")
    assert record["source"].startswith("ssl_transport_security")
    lines = [line for line in secure_server.log_text().splitlines() if line.strip()]
    not_json = [line for line in lines if not line.startswith("{") or not isinstance(json.loads(line), dict)]
    assert not_json == []
