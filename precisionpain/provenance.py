"""Code, catalog and model versions recorded on every run, response and report."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

from precisionpain import __version__

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


@cache
def git_commit() -> str | None:
    """The source tree's commit (with ``-dirty`` if it has uncommitted changes), or None outside git."""
    if not (_SOURCE_ROOT / ".git").exists():
        return None
    try:
        sha = subprocess.run(
            ["git", "-C", str(_SOURCE_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(_SOURCE_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


@cache
def code_version() -> str:
    """Package version plus the short commit when running from a git checkout, e.g. ``0.1.0+g1d71cef``."""
    commit = git_commit()
    if commit is None:
        return __version__
    short = commit[:7] + (".dirty" if commit.endswith("-dirty") else "")
    return f"{__version__}+g{short}"
