"""Resolve what a report says about a CYP gene (diplotype, phenotype, activity score) into one CPIC reading,
checking that the parts agree. Used by profile validation and by the feature layer.

Readings are cached by the parts as given, so the cache is keyed by what callers send: a part longer than its
field allows is refused before any parsing and never cached, and the cache is bounded in bytes
(:data:`RESOLVE_CACHE_BYTES`), not in entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from precisionpain.bounded_cache import lru_cache_bytes, text_bytes
from precisionpain.errors import DiplotypeFormatError, PgxError, UnknownAlleleError
from precisionpain.pgx.tables import ACTIVITY_SCORE_GENES, PgxTables
from precisionpain.pgx.translate import (
    canonical_activity_score,
    normalize_phenotype,
    phenotype_from_activity_score,
    translate_diplotype,
)
from precisionpain.schema import (
    MAX_ACTIVITY_SCORE_CHARS,
    MAX_DIPLOTYPE_CHARS,
    MAX_PHENOTYPE_CHARS,
    length_rule,
)

RESOLVE_CACHE_BYTES = 16 * 1024 * 1024
_LIMITS = (
    ("diplotype", MAX_DIPLOTYPE_CHARS),
    ("phenotype", MAX_PHENOTYPE_CHARS),
    ("activity_score", MAX_ACTIVITY_SCORE_CHARS),
)


@dataclass(frozen=True, slots=True)
class ResolvedGene:
    gene: str
    diplotype: str | None  # canonical
    activity_score: str | None  # CPIC string
    phenotype: str | None  # CPIC term
    problems: tuple[tuple[str, str], ...] = ()  # (part, rule): never contains the value

    @property
    def ok(self) -> bool:
        return not self.problems


def resolve_gene(
    gene: str,
    diplotype: str | None,
    phenotype: str | None,
    activity_score: str | None,
    tables: PgxTables,
) -> ResolvedGene:
    """One CPIC reading of a gene result; disagreements and unreadable parts are listed, not raised.

    A part longer than its field allows is reported as such and nothing is parsed or cached.
    """
    too_long = tuple(
        (part, length_rule(limit))
        for (part, limit), text in zip(_LIMITS, (diplotype, phenotype, activity_score), strict=True)
        if text is not None and len(text) > limit
    )
    if too_long:
        return ResolvedGene(gene, None, None, None, too_long)
    return _resolve(gene, diplotype, phenotype, activity_score, tables)


def _entry_bytes(args: tuple[Any, ...], r: ResolvedGene) -> int:
    problems = [rule for _, rule in r.problems]
    return text_bytes(*args, r.diplotype, r.activity_score, r.phenotype, *problems) + 64 * (4 + len(problems))


@lru_cache_bytes(RESOLVE_CACHE_BYTES, _entry_bytes)
def _resolve(
    gene: str,
    diplotype: str | None,
    phenotype: str | None,
    activity_score: str | None,
    tables: PgxTables,
) -> ResolvedGene:
    problems: list[tuple[str, str]] = []
    dip_canonical = dip_phenotype = dip_score = None
    translated = False
    if diplotype is not None:
        try:
            tr = translate_diplotype(gene, diplotype, tables)
            dip_canonical, dip_phenotype, dip_score, translated = (
                tr.diplotype,
                tr.phenotype,
                tr.activity_score,
                True,
            )
        except UnknownAlleleError:
            problems.append(
                ("diplotype", f"has an allele that is not in the CPIC allele-function table for {gene}")
            )
        except DiplotypeFormatError:
            problems.append(("diplotype", "must be two star alleles separated by '/', e.g. '*1/*4'"))
        except PgxError as exc:
            problems.append(("diplotype", str(exc)))

    given_phenotype = None
    if phenotype is not None:
        try:
            given_phenotype = normalize_phenotype(phenotype)
        except PgxError as exc:
            problems.append(("phenotype", str(exc)))

    given_score = None
    if activity_score is not None:
        if gene not in ACTIVITY_SCORE_GENES:
            problems.append(
                ("activity_score", f"CPIC defines no activity score for {gene}; give the phenotype")
            )
        else:
            try:
                given_score = canonical_activity_score(activity_score)
            except PgxError as exc:
                problems.append(("activity_score", str(exc)))

    if translated:
        if given_phenotype is not None and given_phenotype != dip_phenotype:
            problems.append(("phenotype", "disagrees with the CPIC phenotype of the diplotype"))
        if given_score is not None and given_score != dip_score:
            problems.append(("activity_score", "disagrees with the CPIC activity score of the diplotype"))
        return ResolvedGene(gene, dip_canonical, dip_score, dip_phenotype, tuple(problems))

    score_phenotype = None
    if given_score is not None:
        try:
            score_phenotype = phenotype_from_activity_score(gene, given_score, tables)
        except PgxError as exc:
            problems.append(("activity_score", str(exc)))
    if given_phenotype is not None and score_phenotype is not None and given_phenotype != score_phenotype:
        problems.append(("phenotype", "disagrees with the CPIC phenotype of the activity score"))
    return ResolvedGene(gene, None, given_score, given_phenotype or score_phenotype, tuple(problems))
