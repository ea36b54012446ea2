"""Base class for every frozen boundary type (stage outputs, catalog entries, settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """Immutable, strict about unknown keys, and round-trips through JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
