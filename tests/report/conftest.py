"""Report fixtures: explained recommendations for the example patients, and a headless Chromium.

Chromium comes from Debian's packages (``make browser`` installs it at /usr/bin/chromium) and is driven by
Playwright's bundled driver; browser tests fail when it is missing and ``CI`` is set, and skip otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.report.report_testdata import build_explained, load_raw, model_summary

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="session")
def explained_for(
    feature_catalog: Any, option_catalog: Any, pgx_tables: Any
) -> Callable[[str], tuple[Any, Any]]:
    cache: dict[str, tuple[Any, Any]] = {}

    def make(name: str) -> tuple[Any, Any]:
        if name not in cache:
            cache[name] = build_explained(load_raw(name), feature_catalog, option_catalog, pgx_tables)
        return cache[name]

    return make


@pytest.fixture(scope="session")
def report_for(
    explained_for: Callable[[str], tuple[Any, Any]],
    feature_catalog: Any,
    option_catalog: Any,
    pgx_tables: Any,
) -> Callable[[str], Any]:
    from precisionpain.explain.report import build_report

    cache: dict[str, Any] = {}

    def make(name: str) -> Any:
        if name not in cache:
            explained, profile = explained_for(name)
            cache[name] = build_report(
                explained, profile, model_summary(), feature_catalog, pgx_tables, options=option_catalog
            )
        return cache[name]

    return make


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    problem = ""
    if not CHROMIUM.is_file():
        problem = f"Chromium is not installed at {CHROMIUM}; run `make browser` (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            problem = (
                "the playwright package is not installed; install the dev extras (pip install -e '.[dev]')"
            )
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need a headless Chromium: {problem}", pytrace=False)
        pytest.skip(problem)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
