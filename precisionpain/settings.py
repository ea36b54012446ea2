"""Runtime settings, built once at the edge (CLI / server) and passed down: flags > environment > files.

Nothing here runs at import time; :func:`data_dir` and :func:`tracking_uri` read the environment when called.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "PRECISIONPAIN_HOME"
ENV_TRACKING = "MLFLOW_TRACKING_URI"
DEFAULT_HOME = ".precisionpain"
DEFAULT_MODEL_NAME = "precisionpain-response"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the embedded MLflow store, cohorts and reports live: flag, then PRECISIONPAIN_HOME, then ./.precisionpain."""
    raw = explicit if explicit is not None else os.environ.get(ENV_HOME) or DEFAULT_HOME
    return Path(raw).expanduser().resolve()


def tracking_uri(explicit: str | None = None, home: str | os.PathLike[str] | None = None) -> str:
    """MLflow tracking URI: flag, then MLFLOW_TRACKING_URI, then a SQLite file in the data directory."""
    if explicit:
        return explicit
    env = os.environ.get(ENV_TRACKING)
    if env:
        return env
    return f"sqlite:///{data_dir(home) / 'mlflow.db'}"


def artifact_root(home: str | os.PathLike[str] | None = None) -> Path:
    """Local artifact folder used when the tracking store is the embedded SQLite file."""
    return data_dir(home) / "mlartifacts"
