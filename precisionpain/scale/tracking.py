"""``precisionpain mlflow-server``: MLflow's tracking server with a PostgreSQL backend store and a proxied
artifact store, for a team sharing one registry.

    precisionpain mlflow-server --backend-store-uri postgresql://mlflow@db.internal:5432/mlflow \\
        --artifacts-destination s3://precisionpain-mlflow/artifacts --host 0.0.0.0 --port 5000

It checks the flags, checks that the database answers (one line naming host, port and database when it does
not), then replaces itself with ``python -m mlflow server`` (signals, exit status and logs are MLflow's). The
project's commands then need only ``MLFLOW_TRACKING_URI=http://HOST:PORT``: runs, the registry and the
champion alias live in PostgreSQL, artifacts (model packages, plots) are uploaded and downloaded through the
server, so clients need no credentials for the object store.

``postgresql://`` URIs are run with the psycopg (3) driver (``postgresql+psycopg://``), the one the project
installs. The URI reaches MLflow through its environment (``MLFLOW_BACKEND_STORE_URI``), never on a command
line others can read with ``ps``; keep the password out of the URI altogether with libpq's ``PGPASSWORD`` or
``~/.pgpass``. Messages name the host, port and database, never the user or password.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from precisionpain.errors import ConfigError, RegistryError, Violation, kind_of

#: schemes accepted for --backend-store-uri; all run on the psycopg driver
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
DRIVER = "postgresql+psycopg"
MAX_URI_CHARS = 2048
MAX_HOSTS_CHARS = 1024
CONNECT_TIMEOUT_S = 5
ENV_BACKEND = "MLFLOW_BACKEND_STORE_URI"
ENV_ARTIFACTS = "MLFLOW_ARTIFACTS_DESTINATION"
DEFAULT_PORT = 5000
DEFAULT_WORKERS = 2


@dataclass(frozen=True)
class TrackingServerPlan:
    """What ``mlflow server`` is started with. ``backend_store_uri`` may hold a password: it goes to MLflow
    through the environment only, and :meth:`describe` never shows it."""

    backend_store_uri: str
    artifacts_destination: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = DEFAULT_WORKERS
    allowed_hosts: str | None = None

    def argv(self) -> list[str]:
        """The command line (no secrets on it: the backend store URI is in :meth:`env`)."""
        argv = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--serve-artifacts",
            "--artifacts-destination",
            self.artifacts_destination,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        if self.allowed_hosts:
            argv += ["--allowed-hosts", self.allowed_hosts]
        return argv

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env[ENV_BACKEND] = self.backend_store_uri
        env.pop(ENV_ARTIFACTS, None)  # the flag on the command line is the one that counts
        return env

    def describe(self) -> str:
        """``postgresql+psycopg://HOST:PORT/DB`` with user and password left out."""
        url = _url(self.backend_store_uri)
        return f"{url.drivername}://{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def _url(uri: str) -> Any:
    from sqlalchemy.engine import make_url

    return make_url(uri)


def _scheme(uri: str) -> str:
    head, sep, _ = uri.partition("://")
    return head.lower() if sep else ""


def plan_tracking_server(
    backend_store_uri: str | None,
    artifacts_destination: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    workers: int = DEFAULT_WORKERS,
    allowed_hosts: str | None = None,
) -> TrackingServerPlan:
    """Check the flags (every problem at once, naming the flag and the rule, never echoing a URI) and return
    the plan: the backend store URI on the psycopg driver, a local artifact folder made absolute."""
    problems: list[Violation] = []
    backend = backend_store_uri or ""
    if not backend:
        problems.append(
            Violation("--backend-store-uri", f"is required (or {ENV_BACKEND})", kind_of(backend_store_uri))
        )
    elif len(backend) > MAX_URI_CHARS:
        problems.append(
            Violation("--backend-store-uri", f"must be at most {MAX_URI_CHARS} characters", "longer string")
        )
    elif _scheme(backend) not in POSTGRES_SCHEMES:
        problems.append(
            Violation(
                "--backend-store-uri",
                "must be a PostgreSQL URI, postgresql://USER@HOST:PORT/DATABASE",
                f"a URI with scheme {_scheme(backend)[:20]!r}"
                if _scheme(backend)
                else "a string that is no URI",
            )
        )
    else:
        try:
            url = _url(backend)
        except Exception:  # sqlalchemy's ArgumentError, or a bad port
            problems.append(
                Violation(
                    "--backend-store-uri",
                    "must be a PostgreSQL URI, postgresql://USER@HOST:PORT/DATABASE",
                    "malformed URI",
                )
            )
        else:
            if not url.database:
                problems.append(
                    Violation(
                        "--backend-store-uri", "must name the database (…/DATABASE)", "URI without a database"
                    )
                )
            backend = url.set(drivername=DRIVER).render_as_string(hide_password=False)
    artifacts = artifacts_destination or ""
    if not artifacts:
        problems.append(
            Violation(
                "--artifacts-destination", f"is required (or {ENV_ARTIFACTS})", kind_of(artifacts_destination)
            )
        )
    elif len(artifacts) > MAX_URI_CHARS:
        problems.append(
            Violation(
                "--artifacts-destination", f"must be at most {MAX_URI_CHARS} characters", "longer string"
            )
        )
    elif not _scheme(artifacts):
        artifacts = str(Path(artifacts).expanduser().resolve())
    if not 0 < port < 65536:
        problems.append(Violation("--port", "must be between 1 and 65535", kind_of(port)))
    if workers < 1:
        problems.append(Violation("--workers", "must be at least 1", kind_of(workers)))
    if allowed_hosts is not None and (len(allowed_hosts) > MAX_HOSTS_CHARS or not allowed_hosts.strip()):
        problems.append(
            Violation(
                "--allowed-hosts",
                f"must be a comma-separated list of at most {MAX_HOSTS_CHARS} characters",
                kind_of(allowed_hosts),
            )
        )
    ConfigError.raise_if_any("mlflow-server", problems)
    return TrackingServerPlan(backend, artifacts, host, port, workers, allowed_hosts)


def check_backend(plan: TrackingServerPlan, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Connect once to the backend database; RegistryError naming host, port and database (and PostgreSQL's
    first line, which names no password) when it does not answer or refuses."""
    import psycopg

    url = _url(plan.backend_store_uri)
    params: dict[str, Any] = {k: v for k, v in url.query.items() if isinstance(v, str)}
    try:
        with psycopg.connect(
            host=url.host or None,
            port=url.port or None,
            dbname=url.database,
            user=url.username or None,
            password=url.password or None,
            connect_timeout=max(1, round(timeout_s)),
            **params,
        ):
            pass
    except psycopg.Error as exc:
        said = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
        raise RegistryError(
            f"the backend store {plan.describe()} does not answer ({type(exc).__name__}: {said}); start PostgreSQL "
            "or correct --backend-store-uri"
        ) from None


def run_tracking_server(plan: TrackingServerPlan) -> NoReturn:
    """Replace this process with ``mlflow server`` (a local artifact folder is created first)."""
    if not _scheme(plan.artifacts_destination):
        Path(plan.artifacts_destination).mkdir(parents=True, exist_ok=True)
    argv = plan.argv()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, plan.env())
