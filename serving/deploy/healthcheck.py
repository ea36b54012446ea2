"""Health check of a local PrecisionPain server: exit 0 when it answers SERVING, 1 otherwise.

Used by the container image's HEALTHCHECK and usable from any monitor on the host:

    python healthcheck.py [--address 127.0.0.1:50051] [--service precisionpain.v1.RecommendationService]

It asks the standard ``grpc.health.v1.Health/Check`` (no bearer token needed). The port defaults to
``PRECISIONPAIN_SERVE_PORT`` (else 50051). When the server runs TLS, set ``PRECISIONPAIN_HEALTHCHECK_CA`` (the
CA that signed the server certificate), for mutual TLS also ``PRECISIONPAIN_HEALTHCHECK_CERT`` and
``PRECISIONPAIN_HEALTHCHECK_KEY``, and ``PRECISIONPAIN_HEALTHCHECK_SERVER_NAME`` when the certificate does not
name ``localhost``. Only grpcio and grpcio-health-checking are imported, so a check takes a fraction of a
second.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ENV_PORT = "PRECISIONPAIN_SERVE_PORT"
ENV_PREFIX = "PRECISIONPAIN_HEALTHCHECK_"
DEFAULT_PORT = 50051


def _read(name: str) -> bytes | None:
    path = os.environ.get(ENV_PREFIX + name)
    return Path(path).read_bytes() if path else None


def channel(address: str) -> grpc.Channel:
    ca = _read("CA")
    if ca is None:
        return grpc.insecure_channel(address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=_read("KEY"), certificate_chain=_read("CERT")
    )
    server_name = os.environ.get(ENV_PREFIX + "SERVER_NAME")
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    return grpc.secure_channel(address, credentials, options=options)


def check(address: str, service: str = "", timeout_s: float = 3.0) -> str:
    """The serving status name (SERVING, NOT_SERVING, ...) or the gRPC error code name."""
    with channel(address) as ch:
        try:
            reply = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
        except grpc.RpcError as err:
            return str(err.code().name)  # type: ignore[attr-defined]
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def main(argv: list[str] | None = None) -> int:
    port = os.environ.get(ENV_PORT) or str(DEFAULT_PORT)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default=f"localhost:{port}", help=f"HOST:PORT (default localhost:${ENV_PORT})")
    parser.add_argument("--service", default="", help="service name to check ('' = the whole server)")
    parser.add_argument("--timeout-s", type=float, default=3.0)
    args = parser.parse_args(argv)
    status = check(args.address, args.service, args.timeout_s)
    print(status)
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
