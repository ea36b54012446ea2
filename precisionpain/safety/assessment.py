"""What the safety engine returns: per option a verdict and every reason, the functional phenotypes, the data
warnings for unknowns that matter, and the catalogs it used. Frozen and JSON round-trippable like every stage
output."""

from __future__ import annotations

from precisionpain.base import FrozenModel
from precisionpain.pgx.phenoconversion import FunctionalPhenotype
from precisionpain.safety.verdicts import Verdict
from precisionpain.schema import CatalogRef, Pgx, SafetyReason

CPIC_RULE_PREFIX = "cpic_"  # SafetyReason.is_cpic reads the same prefix


class OptionSafety(FrozenModel):
    """One option's verdict and every reason behind it, most severe first."""

    option_id: str
    modality: str
    verdict: Verdict
    reasons: tuple[SafetyReason, ...] = ()

    @property
    def excluded(self) -> bool:
        return self.verdict is Verdict.excluded


class SafetyDataWarning(FrozenModel):
    """An unknown that matters: which input, which rule could not be checked, and the message to show."""

    rule_id: str
    field: str
    message: str


class SafetyAssessment(FrozenModel):
    """The safety verdicts for one patient over every option of the option catalog (catalog order).

    ``functional_pgx`` is the Pgx section to look CPIC guidance up with (phenoconverted genes carry their
    functional phenotype and lookup score); ``functional_phenotypes`` keep both readings for display.
    """

    options: tuple[OptionSafety, ...]
    functional_phenotypes: tuple[FunctionalPhenotype, ...] = ()
    functional_pgx: Pgx = Pgx()
    medications: tuple[str, ...] = ()  # the patient's medications, resolved to catalog generic names
    data_warnings: tuple[SafetyDataWarning, ...] = ()
    rules_catalog: CatalogRef
    medication_catalog: CatalogRef

    def option(self, option_id: str) -> OptionSafety:
        for o in self.options:
            if o.option_id == option_id:
                return o
        raise KeyError(option_id)

    @property
    def excluded_ids(self) -> tuple[str, ...]:
        return tuple(o.option_id for o in self.options if o.verdict is Verdict.excluded)

    def phenoconversions(self) -> tuple[FunctionalPhenotype, ...]:
        return tuple(g for g in self.functional_phenotypes if g.phenoconverted)


def alternatives_available(option_id: str, assessment: SafetyAssessment) -> bool:
    """Whether another drug option of the option catalog is usable (not excluded) for this patient.

    Every option in models/treatment_options.yaml treats the catalog's one indication (chronic pain), so "the
    same indication" is the whole catalog. The answer comes from the catalog-wide assessment, never from the
    options a request names: a request that names only carbamazepine does not make it the only choice.
    """
    return any(
        o.option_id != option_id and o.modality == "drug" and o.verdict is not Verdict.excluded
        for o in assessment.options
    )
