"""The repository's safety catalogs, compiled once, and profile builders for the safety tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
VIGNETTES = REPO / "tests" / "fixtures" / "safety" / "vignettes.yaml"


@pytest.fixture(scope="session")
def safety_catalogs():  # type: ignore[no-untyped-def]
    from precisionpain.safety import load_safety_catalogs

    return load_safety_catalogs(REPO)


def load_vignettes() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    data = yaml.safe_load(VIGNETTES.read_text(encoding="utf-8"))
    return data["base_clinical"], data["vignettes"]


def vignette_profile(base_clinical: dict[str, Any], profile: dict[str, Any]) -> dict[str, Any]:
    """The vignette's profile with the base clinical section under its own clinical values."""
    out = {k: v for k, v in profile.items() if k != "clinical"}
    out["clinical"] = {**base_clinical, **profile.get("clinical", {})}
    return out
