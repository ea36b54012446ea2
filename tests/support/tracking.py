"""A real PostgreSQL and a real MLflow tracking server on it, for tests.

PostgreSQL comes from Debian's ``postgresql`` package (``make postgres`` installs it; the binaries live in
/usr/lib/postgresql/<version>/bin): :class:`Postgres` runs ``initdb`` and ``pg_ctl`` in a temporary folder on a
free 127.0.0.1 port (as the ``postgres`` system user when the tests run as root, since PostgreSQL refuses to run
as root). :func:`start_tracking_server` starts ``precisionpain mlflow-server`` on it, as an operator would.
Tests that need them fail when PostgreSQL is missing and ``CI`` is set, and skip otherwise.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.contract.serverproc import free_port

REPO = Path(__file__).resolve().parents[2]
DEBIAN_POSTGRES = Path("/usr/lib/postgresql")


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, else the newest of Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("pg_ctl")
    if found and (Path(found).resolve().parent / "initdb").is_file():
        return Path(found).resolve().parent
    versions = sorted(
        (p for p in DEBIAN_POSTGRES.glob("*/bin") if (p / "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


def require_postgres() -> Path:
    bindir = postgres_bindir()
    if bindir is None:
        problem = "PostgreSQL is not installed; run `make postgres` (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem)
    return bindir


@dataclass
class Postgres:
    """One PostgreSQL cluster in ``folder`` listening on 127.0.0.1:``port`` (trust authentication)."""

    bindir: Path
    folder: Path
    port: int
    user: str = "postgres"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def uri(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        """Run a server binary as the owner of the folder (``postgres`` when we are root)."""
        as_root = os.geteuid() == 0
        cmd = [str(self.bindir / args[0]), *args[1:]]
        subprocess.run(
            cmd,
            check=True,
            capture_output=True,
            timeout=120,
            user="postgres" if as_root else None,
            cwd=self.folder,
        )

    def start(self) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--no-sync")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "postgres.log"), "-o", options, "-w", "start")

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def query(self, database: str, sql: str) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=database) as conn:
            return list(conn.execute(sql).fetchall())

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@contextlib.contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A fresh cluster in its own temporary folder (not under pytest's, which the ``postgres`` user may not be
    allowed to enter), removed afterwards."""
    bindir = require_postgres()
    folder = Path(tempfile.mkdtemp(prefix="precisionpain-pg-"))
    pg = Postgres(bindir, folder, free_port())
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class TrackingServer:
    proc: subprocess.Popen[bytes]
    port: int
    artifacts: Path
    log_path: Path

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_tracking_server(pg: Postgres, database: str, folder: Path, *, timeout_s: float = 180.0) -> TrackingServer:
    """``precisionpain mlflow-server`` on ``database`` with artifacts under ``folder``; waits for /health."""
    port = free_port()
    artifacts = folder / "artifacts"
    log_path = folder / f"mlflow-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PRECISIONPAIN_"))}
    env.update({"OMP_WAIT_POLICY": "passive", "PYTHONUNBUFFERED": "1"})
    cmd = [
        sys.executable,
        "-m",
        "precisionpain.cli",
        "mlflow-server",
        "--backend-store-uri",
        pg.uri(database),
        "--artifacts-destination",
        str(artifacts),
        "--port",
        str(port),
        "--workers",
        "2",
    ]
    proc = subprocess.Popen(
        cmd, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=log_path.open("wb"), start_new_session=True
    )
    server = TrackingServer(proc, port, artifacts, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow-server exited ({proc.returncode}):\n{server.log_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{server.uri}/health", timeout=2) as reply:
            if reply.status == 200:
                return server
        time.sleep(0.5)
    server.stop()
    raise AssertionError(f"mlflow-server not healthy within {timeout_s} s:\n{server.log_text()[-3000:]}")
