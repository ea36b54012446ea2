"""Phenoconversion: the functional CYP phenotype of a patient who takes an inhibitor of the enzyme.

Method (the catalog's ``phenoconversion`` block in models/safety_rules.yaml holds the numbers and sources):

- CYP2D6 and CYP2C9 with a genotype activity score: the score is multiplied by the multiplier of the strongest
  inhibitor of the gene the patient takes (strong 0, moderate 0.5, weak 1 in the shipped catalog) and read again
  with CPIC's activity-score ranges (features/pgx/phenotype_rules.tsv, through
  :func:`precisionpain.pgx.translate.phenotype_from_activity_score`). A score between two CPIC ranges (CYP2C9
  0.75) reads as the lower phenotype. Published methods differ (one public implementation subtracts 0.5 for a
  moderate inhibitor); this is the multiplicative one.
- A gene given as a phenotype only, and CYP2C19 (CPIC assigns it no score): a strong inhibitor reads as Poor
  Metabolizer; a moderate one moves the phenotype down by the catalog's map (Normal -> Intermediate, ...).
- The CPIC lookup needs a score CPIC writes: the functional score itself when CPIC's rows use it, otherwise the
  nearest score of the same phenotype that the rows use (the lower one first); none at all when the phenotype
  has no scored row (the lookup then matches rows by phenotype).
- ``assumed_activity_scores``: a phenotype without a score for which the safer CPIC row is taken (CYP2C9
  Intermediate Metabolizer -> 1.0).

The output keeps both readings: the genotype phenotype and the functional one, with the inhibitors behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

from pydantic import Field

from precisionpain.base import FrozenModel
from precisionpain.pgx.resolve import resolve_gene
from precisionpain.pgx.tables import (
    ACTIVITY_SCORE_GENES,
    NOT_APPLICABLE,
    PGX_FIELDS,
    TRANSLATED_GENES,
    PgxTables,
)
from precisionpain.pgx.translate import format_activity_score, parse_activity_score
from precisionpain.schema import GeneResult, Pgx

POOR = "Poor Metabolizer"
#: Genotype phenotypes whose CPIC guidance phenoconversion never lifts (see :func:`functional_change`).
INCREASED_FUNCTION = frozenset({"Ultrarapid Metabolizer", "Rapid Metabolizer", "Likely Ultrarapid Metabolizer",
                                "Likely Rapid Metabolizer"})  # fmt: skip
INDETERMINATE = "Indeterminate"


class InhibitorStrength(StrEnum):
    """Inhibitor strength as in FDA's table of CYP inhibitors; ``none`` = not an inhibitor of the gene."""

    strong = "strong"
    moderate = "moderate"
    weak = "weak"
    none = "none"


STRENGTH_ORDER = (
    InhibitorStrength.strong,
    InhibitorStrength.moderate,
    InhibitorStrength.weak,
    InhibitorStrength.none,
)


class PhenoconversionMethod(FrozenModel):
    """The numbers of the method (from the safety-rules catalog)."""

    genes: tuple[str, ...] = TRANSLATED_GENES
    activity_multipliers: dict[InhibitorStrength, float]
    phenotype_only: dict[InhibitorStrength, str | dict[str, str]] = Field(default_factory=dict)
    assumed_activity_scores: dict[str, dict[str, str]] = Field(
        default_factory=dict
    )  # gene -> phenotype -> score

    def phenotype_map(self, strength: InhibitorStrength, phenotype: str) -> str:
        rule = self.phenotype_only.get(strength)
        if rule is None:
            return phenotype
        if isinstance(rule, str):
            return rule
        return rule.get(phenotype, phenotype)


class Inhibitor(FrozenModel):
    """One medication the patient takes that inhibits a CYP gene."""

    medication: str
    gene: str
    strength: InhibitorStrength


class FunctionalPhenotype(FrozenModel):
    """One gene: the genotype reading, the functional reading and what changed it."""

    gene: str
    genotype_phenotype: str | None
    genotype_activity_score: str | None
    functional_phenotype: str | None
    functional_activity_score: str | None
    lookup_activity_score: str | None  # the score the CPIC lookup uses (None: match rows by phenotype)
    inhibitors: tuple[str, ...] = ()  # medications behind the strongest inhibition
    strength: InhibitorStrength = InhibitorStrength.none
    phenoconverted: bool = False  # the functional phenotype differs from the genotype one
    assumed_score: bool = False  # lookup_activity_score comes from assumed_activity_scores
    note: str = ""

    def describe(self) -> str:
        """E.g. "genotype Normal Metabolizer; functional Poor Metabolizer with paroxetine"."""
        genotype = self.genotype_phenotype or "no CPIC phenotype"
        if not self.phenoconverted:
            return f"{self.gene} {genotype}"
        return (
            f"{self.gene}: genotype {genotype}; functional {self.functional_phenotype} "
            f"with {', '.join(self.inhibitors)}"
        )


class FunctionalPgx(FrozenModel):
    """Every translated gene's functional reading and a Pgx section to look CPIC guidance up with."""

    genes: tuple[FunctionalPhenotype, ...]
    pgx: Pgx  # genes that changed carry the functional phenotype and lookup score; the others are as given

    def gene(self, gene: str) -> FunctionalPhenotype | None:
        for g in self.genes:
            if g.gene == gene:
                return g
        return None


# --------------------------------------------------------------------------------------- score helpers


def _classify(gene: str, score: Decimal, tables: PgxTables) -> str:
    """CPIC phenotype of a score; a score between two ranges reads as the lower (safer) phenotype."""
    rules = tables.score_rules[gene]
    for rule in rules:
        if rule.matches(score):
            return rule.phenotype
    below = [r for r in rules if not r.applies_to_na and r.high is not None and r.high < score]
    if below:
        return max(below, key=lambda r: r.high or Decimal(0)).phenotype
    return POOR


@lru_cache(maxsize=16)
def _keyed_scores(gene: str, tables: PgxTables) -> tuple[tuple[Decimal, str, str], ...]:
    """The activity scores CPIC's recommendation rows key on for ``gene``: (value, text, phenotype), sorted."""
    found: dict[str, None] = {}
    for drug in tables.drugs:
        for rec in tables.recommendations_for(drug):
            key = rec.lookup_key.get(gene)
            if key and key[0].isdigit():
                found.setdefault(key, None)
    out = []
    for text in found:
        value, at_least = parse_activity_score(text)
        if not at_least:
            out.append((value, text, _classify(gene, value, tables)))
    return tuple(sorted(out))


def _lookup_score(gene: str, score: Decimal, phenotype: str, tables: PgxTables) -> str | None:
    same = [(v, t) for v, t, p in _keyed_scores(gene, tables) if p == phenotype]
    if not same:
        return None
    for v, t in same:
        if v == score:
            return t
    lower = [t for v, t in same if v < score]
    return lower[-1] if lower else same[0][1]


# --------------------------------------------------------------------------------------- one gene


def _strongest(inhibitors: Sequence[Inhibitor], gene: str) -> tuple[InhibitorStrength, tuple[str, ...]]:
    mine = [i for i in inhibitors if i.gene == gene and i.strength is not InhibitorStrength.none]
    for strength in STRENGTH_ORDER:
        names = tuple(dict.fromkeys(i.medication for i in mine if i.strength is strength))
        if names:
            return strength, names
    return InhibitorStrength.none, ()


def _unchanged(
    gene: str,
    phenotype: str | None,
    score_text: str | None,
    names: tuple[str, ...],
    strength: InhibitorStrength,
    note: str,
) -> FunctionalPhenotype:
    """A reading that phenoconversion could not change (gene untested or its result unreadable)."""
    return FunctionalPhenotype.model_construct(
        gene=gene,
        genotype_phenotype=phenotype,
        genotype_activity_score=score_text,
        functional_phenotype=phenotype,
        functional_activity_score=score_text,
        lookup_activity_score=score_text,
        inhibitors=names,
        strength=strength,
        note=note,
    )


def functional_phenotype(
    gene: str,
    result: GeneResult | None,
    inhibitors: Sequence[Inhibitor],
    method: PhenoconversionMethod,
    tables: PgxTables,
) -> FunctionalPhenotype:
    """The functional reading of one translated gene (an untested gene stays unknown).

    Built without validation: every part comes from a validated result, the catalog's method and CPIC's tables.
    """
    strength, names = _strongest(inhibitors, gene) if gene in method.genes else (InhibitorStrength.none, ())
    if result is None:
        note = f"{gene} not tested: phenoconversion cannot be assessed" if names else ""
        return _unchanged(gene, None, None, names, strength, note)
    resolved = resolve_gene(gene, result.diplotype, result.phenotype, result.activity_score, tables)
    phenotype, score_text = resolved.phenotype, resolved.activity_score
    functional, functional_score, lookup = phenotype, score_text, score_text
    note = ""
    if phenotype is None or not resolved.ok:
        note = "no CPIC phenotype could be read, so phenoconversion cannot be assessed" if names else ""
        return _unchanged(gene, phenotype, score_text, names, strength, note)
    multiplier = Decimal(str(method.activity_multipliers.get(strength, 1.0)))
    if multiplier != 1:
        if gene in ACTIVITY_SCORE_GENES and score_text is not None:
            value, at_least = parse_activity_score(score_text)
            product = value * multiplier
            functional = _classify(gene, product, tables)
            functional_score = format_activity_score(product, at_least and product > 0)
            lookup = _lookup_score(gene, product, functional, tables)
        else:
            functional = method.phenotype_map(strength, phenotype)
            zero = (
                functional == POOR and gene in ACTIVITY_SCORE_GENES and strength is InhibitorStrength.strong
            )
            functional_score = lookup = "0.0" if zero else None
    assumed = False
    if lookup is None and functional is not None:
        guess = method.assumed_activity_scores.get(gene, {}).get(functional)
        if guess is not None:
            lookup, assumed = guess, True
            note = (
                f"{gene} {functional} without an activity score: the activity-score-{guess} CPIC rows apply"
            )
    if functional == INDETERMINATE and gene in ACTIVITY_SCORE_GENES:
        lookup = None
    return FunctionalPhenotype.model_construct(
        gene=gene,
        genotype_phenotype=phenotype,
        genotype_activity_score=score_text,
        functional_phenotype=functional,
        functional_activity_score=functional_score,
        lookup_activity_score=lookup,
        inhibitors=names if functional != phenotype else (),
        strength=strength,
        phenoconverted=functional != phenotype,
        assumed_score=assumed,
        note=note,
    )


def functional_readings(
    pgx: Pgx, inhibitors: Sequence[Inhibitor], method: PhenoconversionMethod, tables: PgxTables
) -> tuple[FunctionalPhenotype, ...]:
    """The functional reading of every translated gene (CYP2D6, CYP2C9, CYP2C19), in that order."""
    return tuple(
        functional_phenotype(gene, getattr(pgx, PGX_FIELDS[gene]), inhibitors, method, tables)
        for gene in TRANSLATED_GENES
    )


def functional_change(reading: FunctionalPhenotype, result: GeneResult | None) -> GeneResult | None:
    """What the CPIC lookup reads for one gene instead of the result as given: the functional phenotype and
    lookup score of a phenoconverted gene or of a gene with an assumed score (None: the result as given). Built
    without validation: the phenotype and score are CPIC's own terms."""
    if result is None or not (reading.phenoconverted or reading.assumed_score):
        return None
    if reading.genotype_phenotype in INCREASED_FUNCTION and reading.functional_phenotype != POOR:
        # An inhibitor that brings an ultrarapid or rapid genotype towards normal never lifts CPIC's guidance for
        # that genotype: inhibition depends on dose and adherence, and stopping the inhibitor restores the
        # increased activity (codeine/tramadol toxicity in CYP2D6 ultrarapid metabolizers). Our judgement: the
        # lookup keeps the genotype's, more restrictive, guidance; the functional reading is still shown.
        return None
    score = reading.lookup_activity_score if reading.gene in ACTIVITY_SCORE_GENES else None
    if score == NOT_APPLICABLE:
        score = None
    return GeneResult.model_construct(
        phenotype=reading.functional_phenotype, activity_score=score, source=result.source
    )


def functional_changes(pgx: Pgx, genes: Sequence[FunctionalPhenotype]) -> dict[str, GeneResult]:
    """The Pgx fields the CPIC lookup must read differently (empty when nothing changed)."""
    changes: dict[str, GeneResult] = {}
    for g in genes:
        field = PGX_FIELDS[g.gene]
        change = functional_change(g, getattr(pgx, field))
        if change is not None:
            changes[field] = change
    return changes


def functional_pgx(
    pgx: Pgx, inhibitors: Sequence[Inhibitor], method: PhenoconversionMethod, tables: PgxTables
) -> FunctionalPgx:
    """Functional readings of CYP2D6, CYP2C9 and CYP2C19, and the Pgx section the CPIC lookup should use."""
    genes = functional_readings(pgx, inhibitors, method, tables)
    changes = functional_changes(pgx, genes)
    return FunctionalPgx(genes=genes, pgx=pgx.model_copy(update=changes) if changes else pgx)
