"""Shared fixtures: the repository's catalogs, example profiles and a writable catalog copy."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "patients"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def feature_catalog():  # type: ignore[no-untyped-def]
    from precisionpain.catalog.loader import load_feature_catalog

    return load_feature_catalog(REPO)


@pytest.fixture(scope="session")
def option_catalog():  # type: ignore[no-untyped-def]
    from precisionpain.catalog.loader import load_treatment_options

    return load_treatment_options(REPO)


@pytest.fixture(scope="session")
def pgx_tables():  # type: ignore[no-untyped-def]
    from precisionpain.catalog.pgx_tables import load_pgx_tables

    return load_pgx_tables(REPO)


def load_example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


@pytest.fixture
def example_profile_dicts() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))}


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    """A writable copy of features/, models/ and serving/ to break on purpose."""
    for name in ("features", "models", "serving"):
        src = REPO / name
        if src.exists():
            shutil.copytree(src, tmp_path / name)
    for p in tmp_path.rglob("*"):
        if p.is_file():
            p.chmod(0o644)
    return tmp_path


@pytest.fixture(scope="session")
def small_package_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (small) model package folder, trained once per test session."""
    from tests.support.packages import build_package

    return build_package(tmp_path_factory.mktemp("package") / "package")


@pytest.fixture(scope="session")
def small_package(small_package_dir: Path):  # type: ignore[no-untyped-def]
    from precisionpain.models.package import read_package

    return read_package(small_package_dir)
