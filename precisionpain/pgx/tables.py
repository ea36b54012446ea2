"""Typed contents of the CPIC-derived tables in features/pgx/ (read by precisionpain.catalog.pgx_tables)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cached_property

TRANSLATED_GENES = ("CYP2D6", "CYP2C9", "CYP2C19")
ACTIVITY_SCORE_GENES = ("CYP2D6", "CYP2C9")
HLA_GENES = ("HLA-A", "HLA-B")
HLA_RISK_ALLELES = {"HLA-A": "*31:01", "HLA-B": "*15:02"}  # the allele whose presence CPIC keys on
NO_RECOMMENDATION_GENES = ("OPRM1", "COMT")
PGX_FIELDS = {
    "CYP2D6": "cyp2d6",
    "CYP2C9": "cyp2c9",
    "CYP2C19": "cyp2c19",
    "HLA-B": "hla_b_1502",
    "HLA-A": "hla_a_3101",
    "OPRM1": "oprm1_rs1799971",
    "COMT": "comt_rs4680",
}  # gene -> the Pgx field that carries its result
NO_RESULT = "No Result"  # CPIC lookup key for a gene that was not tested
ANY_RESULT = "any"  # lookup key of the NO_RECOMMENDATION rows (OPRM1, COMT, oxycodone x CYP2D6)
NOT_APPLICABLE = "n/a"  # CPIC activity-score key when the score is not defined (Indeterminate)


class ActionCode(StrEnum):
    """What a CPIC recommendation row asks for (derived per row in recommendations.tsv; see PROVENANCE.md)."""

    USE_LABEL_DOSING = "USE_LABEL_DOSING"
    REDUCE_DOSE = "REDUCE_DOSE"
    CONSIDER_ALTERNATIVE = "CONSIDER_ALTERNATIVE"
    AVOID = "AVOID"
    USE_WITH_CAUTION = "USE_WITH_CAUTION"
    NO_RECOMMENDATION = "NO_RECOMMENDATION"


# CPIC classification (strength), strongest first; "" = none given (the NO_RECOMMENDATION rows)
CLASSIFICATIONS = ("Strong", "Moderate", "Optional", "No Recommendation", "")


@dataclass(frozen=True, slots=True)
class AlleleFunction:
    gene: str
    allele: str
    clinical_function: str | None  # None: allele known to PharmCAT but without a CPIC function
    activity_value: str | None  # CPIC's string ("1.0", "≥3.0"); None = n/a
    notation: str  # single | copy_number | cis_combination


@dataclass(frozen=True, slots=True)
class ScoreRule:
    """One activity-score range from phenotype_rules.tsv (e.g. ``0 < AS < 1.25`` -> Intermediate)."""

    gene: str
    condition: str
    phenotype: str
    low: Decimal | None = None
    low_inclusive: bool = True
    high: Decimal | None = None
    high_inclusive: bool = True
    applies_to_na: bool = False

    def matches(self, score: Decimal | None) -> bool:
        if score is None:
            return self.applies_to_na
        if self.applies_to_na:
            return False
        if self.low is not None and (score < self.low or (score == self.low and not self.low_inclusive)):
            return False
        return not (
            self.high is not None and (score > self.high or (score == self.high and not self.high_inclusive))
        )


_ASIDE = re.compile(r"\([^()]*\)")  # "(includes all ≥-prefixed scores)"; linear: no nested parentheses
_NUM = r"-?[0-9]+(?:\.[0-9]+)?"
_CONDITION = re.compile(
    rf"^(?:(?P<lo>{_NUM})\s*(?P<lop><=|<)\s*)?AS\s*(?:(?P<rop>==|<=|<|>=|>)\s*(?P<hi>{_NUM}))?$"
)


def parse_score_condition(gene: str, condition: str, phenotype: str) -> ScoreRule:
    """Parse the small grammar used in phenotype_rules.tsv: ``AS == 0``, ``0 < AS < 1.25``, ``AS is n/a``."""
    text = _ASIDE.sub("", condition).strip()
    if text.startswith("AS is n/a"):
        return ScoreRule(gene, condition, phenotype, applies_to_na=True)
    m = _CONDITION.match(text)
    if m is None:
        raise ValueError(f"{gene}: cannot parse activity-score condition {condition!r}")
    rule = ScoreRule(gene, condition, phenotype)
    low, low_inc, high, high_inc = None, True, None, True
    if m["lo"] is not None:
        low, low_inc = Decimal(m["lo"]), m["lop"] == "<="
    rop, hi = m["rop"], m["hi"]
    if rop == "==":
        low = high = Decimal(hi)
    elif rop in ("<", "<="):
        high, high_inc = Decimal(hi), rop == "<="
    elif rop in (">", ">="):
        low, low_inc = Decimal(hi), rop == ">="
    return ScoreRule(
        rule.gene, rule.condition, rule.phenotype, low, low_inc, high, high_inc, applies_to_na=False
    )


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One row of recommendations.tsv, kept verbatim."""

    drug: str
    genes: tuple[str, ...]
    # GENE -> value: activity score, phenotype, "*15:02 positive", "No Result", "any"
    lookup_key: dict[str, str]
    phenotype: str
    activity_score: str
    allele_status: str
    population: str
    classification: str
    action_code: str
    dose_adjustment: tuple[str, ...]
    mentions_alternative: bool
    mentions_tdm: bool
    recommendation: str
    implications: str
    comments: str
    guideline: str
    guideline_url: str
    guideline_latest_year: str
    guideline_publications: str
    cpic_data_version: str
    source: str


@dataclass(frozen=True, eq=False)
class PgxTables:
    """Everything precisionpain.pgx needs, read once from features/pgx/ (hashed by identity)."""

    allele_functions: dict[str, dict[str, AlleleFunction]]
    score_rules: dict[str, tuple[ScoreRule, ...]]
    function_pairs: dict[str, dict[tuple[str, str], str]]  # gene -> sorted function pair -> phenotype
    recommendations: tuple[Recommendation, ...]
    allele_frequencies: dict[str, dict[str, dict[str, float]]]  # gene -> group -> allele -> frequency
    sha256: str
    _by_drug: dict[str, tuple[Recommendation, ...]] = field(default_factory=dict, repr=False, compare=False)

    def recommendations_for(self, drug: str) -> tuple[Recommendation, ...]:
        return self._by_drug.get(drug, ())

    @property
    def drugs(self) -> tuple[str, ...]:
        return tuple(self._by_drug)

    @cached_property
    def highest_activity_scores(self) -> dict[str, Decimal]:
        """Per activity-score gene, the highest score two alleles can sum to (twice the highest allele value,
        a ``≥`` dropped): CYP2D6 6.0 (*1x≥3/*1x≥3), CYP2C9 2.0. A higher score is not a CPIC reading."""
        out: dict[str, Decimal] = {}
        for gene in ACTIVITY_SCORE_GENES:
            values = [
                Decimal(a.activity_value.removeprefix("≥"))
                for a in self.allele_functions.get(gene, {}).values()
                if a.activity_value is not None
            ]
            if values:
                out[gene] = 2 * max(values)
        return out
