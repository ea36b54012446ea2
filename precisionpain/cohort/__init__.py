"""Synthetic cohort: a population grounded in published facts, a confounded prescriber policy and the true
potential outcomes of every patient under every treatment option (see docs/cohort.md)."""

from __future__ import annotations

from precisionpain.cohort.generate import (
    COHORT_SCHEMA_VERSION,
    DEFAULT_CHUNK_SIZE,
    cohort_file_name,
    cohort_metadata,
    dgp_fingerprint,
    generate_cohort,
    write_cohort,
)

__all__ = [
    "COHORT_SCHEMA_VERSION",
    "DEFAULT_CHUNK_SIZE",
    "cohort_file_name",
    "cohort_metadata",
    "dgp_fingerprint",
    "generate_cohort",
    "write_cohort",
]
