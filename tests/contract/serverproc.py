"""Run a real recommendation server as a subprocess on 127.0.0.1 and talk to it (contract tests)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[2]


def wait_until(predicate: Any, timeout_s: float = 60.0) -> None:
    """Poll ``predicate`` every 50 ms until it is true; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    args: tuple[str, ...] = field(default=())

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                out.append(json.loads(line))
        return out

    def access(self, request_id: str) -> dict[str, Any] | None:
        for record in self.log_records():
            if record.get("message") == "call" and record.get("request_id") == request_id:
                return record
        return None

    def wait_log(self, message: str, timeout_s: float = 60.0, after: int = 0) -> dict[str, Any]:
        """The first log record with this message among records[after:] (waits for it)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            records = self.log_records()[after:]
            for record in records:
                if record.get("message", "").startswith(message):
                    return record
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited ({self.proc.returncode}):\n{self.log_text()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"no log record {message!r} within {timeout_s} s:\n{self.log_text()[-3000:]}")

    def health(self, channel: grpc.Channel, service: str = "") -> str:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    def wait_serving(self, timeout_s: float = 90.0, channel: grpc.Channel | None = None) -> None:
        own = channel is None
        ch = channel or grpc.insecure_channel(self.target)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"server exited ({self.proc.returncode}):\n{self.log_text()[-3000:]}")
                with contextlib.suppress(grpc.RpcError):
                    if self.health(ch) == "SERVING":
                        return
                time.sleep(0.1)
        finally:
            if own:
                ch.close()
        raise AssertionError(f"server not SERVING within {timeout_s} s:\n{self.log_text()[-3000:]}")

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return int(self.proc.returncode)


def start_server(
    workdir: Path, args: Sequence[str], *, env: dict[str, str] | None = None, wait_listening: bool = True
) -> ServerProcess:
    """``python -m precisionpain.service.server --port <free> ARGS``; stderr (JSON logs) goes to a file."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"server-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PRECISIONPAIN_")}
    full_env.update({"OMP_WAIT_POLICY": "passive", "PYTHONUNBUFFERED": "1"})
    full_env.update(env or {})
    cmd = [sys.executable, "-m", "precisionpain.service.server", "--port", str(port), *args]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=full_env, stdout=subprocess.DEVNULL, stderr=log_path.open("wb"), start_new_session=True
    )
    server = ServerProcess(proc, port, log_path, tuple(args))
    if wait_listening:
        server.wait_log("listening")
    return server


@contextlib.contextmanager
def running(workdir: Path, args: Sequence[str], **kwargs: Any) -> Iterator[ServerProcess]:
    server = start_server(workdir, args, **kwargs)
    try:
        yield server
    finally:
        server.stop()
