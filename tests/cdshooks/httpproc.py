"""Run a real CDS Hooks service (``precisionpain cds-hooks``, uvicorn) as a subprocess on 127.0.0.1, and a small
real FHIR server (the FHIR searches the service's prefetch templates name) on a free port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.contract.serverproc import REPO, ServerProcess, free_port


@dataclass
class CdsServer(ServerProcess):
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"CDS server exited ({self.proc.returncode}):\n{self.log_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"CDS server not ready within {timeout_s} s:\n{self.log_text()[-3000:]}")


def start_cds_server(
    workdir: Path, args: Sequence[str], *, env: dict[str, str] | None = None, port: int | None = None
) -> CdsServer:
    """``precisionpain cds-hooks --port <free, or port> ARGS``; stderr (JSON logs) goes to a file."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"cds-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PRECISIONPAIN_")}
    full_env.update({"OMP_WAIT_POLICY": "passive", "PYTHONUNBUFFERED": "1", **(env or {})})
    cmd = [sys.executable, "-m", "precisionpain.cli", "cds-hooks", "--port", str(port), *args]
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("wb"),
        start_new_session=True,
    )
    server = CdsServer(proc, port, log_path, tuple(args))
    server.wait_log("listening")
    return server


# ------------------------------------------------------------------------------------------ a FHIR server


@dataclass
class FhirServer:
    """Serves one patient's resources the way a FHIR R4 server answers the prefetch templates' queries: read of
    ``Patient/<id>`` and searches by ``patient`` (paged: two entries per page, ``next`` links), each request's
    path and Authorization header recorded."""

    patient: dict[str, Any]
    by_type: dict[str, list[dict[str, Any]]]
    page_size: int = 2
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def answer(self, path: str, authorization: str | None) -> tuple[int, Any]:
        self.seen.append((path, authorization))
        parts = urlsplit(path)
        route = parts.path.removeprefix("/fhir/")
        query = parse_qs(parts.query)
        if route == f"Patient/{self.patient['id']}":
            return 200, self.patient
        resource_type = route
        if resource_type not in self.by_type or query.get("patient") != [self.patient["id"]]:
            return 404, {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "not-found"}],
            }
        items = self.by_type[resource_type]
        if "code" in query:  # tokens system|code, or system| for any code of the system
            wanted = set(query["code"][0].split(","))
            items = [
                r
                for r in items
                if any(
                    f"{c.get('system')}|{c.get('code')}" in wanted or f"{c.get('system')}|" in wanted
                    for c in r["code"]["coding"]
                )
            ]
        offset = int(query.get("_offset", ["0"])[0])
        page = items[offset : offset + self.page_size]
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(items),
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in page],
        }
        if offset + self.page_size < len(items):
            rest = {k: v[0] for k, v in query.items() if k != "_offset"}
            rest["_offset"] = str(offset + self.page_size)
            link = "&".join(f"{k}={v}" for k, v in rest.items())
            bundle["link"] = [{"relation": "next", "url": f"{self.base}/{resource_type}?{link}"}]
        return 200, bundle


@contextmanager
def running_fhir_server(server: FhirServer) -> Iterator[FhirServer]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = server.answer(self.path, self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
