"""The one exception tree of PrecisionPain.

Every error the package raises on purpose is a :class:`PrecisionPainError`. Each class also inherits the
builtin it refines (``ValueError``, ``LookupError``, ``RuntimeError``), so callers that only know the
builtins still catch it. Messages name the thing, the rule and the *kind* of value that arrived; they never
contain a patient value or identifier. The service maps these classes to gRPC status codes in one table
(``precisionpain.service.status``); the CLI maps them to exit codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: where (field path), which rule, and what kind of value arrived (never the value)."""

    path: str
    rule: str
    received: str = ""

    def describe(self) -> str:
        arrived = f" (received {self.received})" if self.received else ""
        return f"{self.path}: {self.rule}{arrived}"


def kind_of(value: object) -> str:
    """Describe a value by its kind only, so messages never echo patient data."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "infinite number"
        return "number"
    if isinstance(value, str):
        return "empty string" if not value else "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


class PrecisionPainError(Exception):
    """Base of every error PrecisionPain raises on purpose."""


class ValidationError(PrecisionPainError, ValueError):
    """Input broke one or more rules. Carries every violation; raised once after checking everything."""

    def __init__(self, what: str, violations: Iterable[Violation]) -> None:
        self.what = what
        self.violations: tuple[Violation, ...] = tuple(violations)
        lines = "\n".join(f"  - {v.describe()}" for v in self.violations)
        n = len(self.violations)
        super().__init__(f"{what}: {n} problem{'s' if n != 1 else ''}\n{lines}")

    @classmethod
    def raise_if_any(cls, what: str, violations: Sequence[Violation]) -> None:
        if violations:
            raise cls(what, violations)


class ProfileValidationError(ValidationError):
    """A patient profile (or a batch of them) does not satisfy the schema and the feature catalog."""


class CatalogError(ValidationError):
    """A catalog file (features/, models/, serving/) is malformed or inconsistent."""


class ConfigError(ValidationError):
    """A training, serving or settings configuration is invalid."""


class PgxError(PrecisionPainError, ValueError):
    """A pharmacogenomic input cannot be interpreted."""


class UnknownAlleleError(PgxError, LookupError):
    """A star allele is not in the CPIC allele-function table for its gene."""

    def __init__(self, gene: str, allele: str) -> None:
        self.gene = gene
        self.allele = allele
        super().__init__(
            f"{gene}: allele {allele!r} is not in the CPIC allele-function table "
            f"(features/pgx/allele_functions.tsv); no phenotype is guessed"
        )


class UnknownGeneError(PgxError, LookupError):
    """A gene is not one PrecisionPain translates."""


class DiplotypeFormatError(PgxError):
    """A diplotype string is not of the form ``A/B``."""


class DataUnavailableError(ValidationError):
    """Data a decision needs were neither given nor obtainable (a CDS Hooks prefetch key the request left out and
    the service could not fetch from the client's FHIR server); each violation names the missing part and why."""


class DataError(ValidationError):
    """A data table (cohort, training table) is missing columns or has unusable content."""


class ModelError(PrecisionPainError, RuntimeError):
    """A model cannot be trained, loaded or used."""


class ModelNotLoadedError(ModelError):
    """No model is loaded yet (the service answers UNAVAILABLE)."""


class ModelCatalogMismatchError(ModelError):
    """The loaded model was trained against a different feature catalog than the one in use."""


class RegistryError(ModelError):
    """The model registry refused an operation or does not hold what was asked for."""


class AuthenticationError(PrecisionPainError, PermissionError):
    """A caller did not present valid credentials."""


class RequestTimeoutError(PrecisionPainError, TimeoutError):
    """A caller took longer than allowed to send its request (the CDS Hooks service's body read timeout)."""


class ResourceLimitError(PrecisionPainError, ValueError):
    """A request exceeds a configured limit (batch size, message size)."""
