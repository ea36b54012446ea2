"""CPIC guidance for a patient's pharmacogenomic results, looked up in features/pgx/recommendations.tsv.

How a patient's results become CPIC lookup keys:

- CYP2D6, CYP2C9: the activity score as CPIC writes it ("1.25", "≥4.0"); ``n/a`` when the phenotype is
  Indeterminate. A gene given only as a phenotype matches every row of that phenotype; the guidance is
  returned only if those rows agree on action code, recommendation text and dose adjustment (otherwise
  nothing is returned for the drug and :class:`UnresolvedGuidance` says why).
- CYP2C19: the phenotype.
- HLA-B / HLA-A: ``*15:02 positive|negative`` / ``*31:01 positive|negative``.
- A gene that was not tested: ``No Result`` where the table has such rows (amitriptyline, carbamazepine,
  sertraline's CYP2B6); a drug whose genes are all untested gets nothing.
- OPRM1, COMT and oxycodone x CYP2D6: rows with the key ``any`` and action NO_RECOMMENDATION, reported when
  the genotype is present, so a report can say that CPIC makes no recommendation.

Carbamazepine and oxcarbazepine have populations: prior use over three months, then "no alternatives"
(carbamazepine only), else drug-naive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from precisionpain.base import FrozenModel
from precisionpain.errors import PgxError, ValidationError, Violation
from precisionpain.pgx.markers import hla_lookup_key
from precisionpain.pgx.resolve import resolve_gene
from precisionpain.pgx.tables import (
    ACTIVITY_SCORE_GENES,
    ANY_RESULT,
    CLASSIFICATIONS,
    NO_RESULT,
    NOT_APPLICABLE,
    PGX_FIELDS,
    TRANSLATED_GENES,
    ActionCode,
    PgxTables,
    Recommendation,
)
from precisionpain.schema import GeneResult, HlaStatus, PatientProfile, Pgx

NOT_TESTED = "not tested"


class CpicGuidance(FrozenModel):
    """One CPIC recommendation that applies to the patient, with the keys it was found under."""

    drug: str
    genes: tuple[str, ...]
    # gene -> key used: "0.0", "Poor Metabolizer", "*15:02 positive", "No Result", "any"
    lookup: dict[str, str]
    phenotypes: dict[str, str]  # gene -> display text, e.g. "Poor Metabolizer (activity score 0.0)"
    population: str
    classification: str  # CPIC's strength verbatim: Strong, Moderate, Optional, No Recommendation, or ""
    action_code: ActionCode
    dose_adjustment: tuple[str, ...]
    mentions_alternative: bool
    mentions_tdm: bool
    recommendation: str
    implications: str
    comments: str
    guideline: str
    guideline_url: str
    guideline_year: str
    publications: tuple[str, ...]
    cpic_data_version: str
    note: str = ""

    @property
    def has_recommendation(self) -> bool:
        """False for the rows that only record that CPIC makes no recommendation."""
        return self.action_code is not ActionCode.NO_RECOMMENDATION


class UnresolvedGuidance(FrozenModel):
    """A drug/gene group for which no guidance is returned although a result was given, and why."""

    drug: str
    genes: tuple[str, ...]
    reason: str


class CpicLookup(FrozenModel):
    """Everything a lookup found: the guidance that applies and the groups left unresolved."""

    guidance: tuple[CpicGuidance, ...] = ()
    unresolved: tuple[UnresolvedGuidance, ...] = ()


# ------------------------------------------------------------------------------------------- gene states


class GeneState(NamedTuple):
    """What the lookup knows about one gene: its exact CPIC key, or a phenotype to match rows by. A tuple, so
    that hashing it (the ranking's CPIC cache key) runs in C."""

    gene: str
    tested: bool
    key: str | None  # exact lookup key; None when only the phenotype is known or nothing can be read
    phenotype: str | None  # the CPIC phenotype (phenotype-only matching for activity-score genes)
    display: str
    problem: str = ""  # why a tested gene has no key and no phenotype


def _cyp_state(gene: str, result: GeneResult, tables: PgxTables, violations: list[Violation]) -> GeneState:
    resolved = resolve_gene(gene, result.diplotype, result.phenotype, result.activity_score, tables)
    for part, rule in resolved.problems:
        violations.append(Violation(f"pgx.{PGX_FIELDS[gene]}.{part}", rule, "string"))
    phenotype = resolved.phenotype
    if gene in ACTIVITY_SCORE_GENES:
        if resolved.activity_score is not None:
            return GeneState(
                gene,
                True,
                resolved.activity_score,
                phenotype,
                f"{phenotype} (activity score {resolved.activity_score})",
            )
        if phenotype == "Indeterminate":
            return GeneState(
                gene, True, NOT_APPLICABLE, phenotype, f"Indeterminate (activity score {NOT_APPLICABLE})"
            )
        if phenotype is not None:
            return GeneState(gene, True, None, phenotype, f"{phenotype} (activity score not given)")
    elif phenotype is not None:
        return GeneState(gene, True, phenotype, phenotype, phenotype)
    return GeneState(
        gene,
        True,
        None,
        None,
        "no CPIC phenotype",
        problem=f"{gene} has an allele without a CPIC function assignment, so CPIC gives it no phenotype",
    )


def gene_states(pgx: Pgx, tables: PgxTables) -> dict[str, GeneState]:
    """The lookup state of every gene the Pgx section carries; raises ValidationError for unreadable results."""
    violations: list[Violation] = []
    states: dict[str, GeneState] = {}
    for gene in TRANSLATED_GENES:
        result: GeneResult | None = getattr(pgx, PGX_FIELDS[gene])
        if result is None:
            states[gene] = GeneState(gene, False, NO_RESULT, None, NOT_TESTED)
        else:
            states[gene] = _cyp_state(gene, result, tables, violations)
    for gene, status in (("HLA-B", pgx.hla_b_1502), ("HLA-A", pgx.hla_a_3101)):
        key = hla_lookup_key(gene, status)
        tested = status is not HlaStatus.not_tested
        states[gene] = GeneState(gene, tested, key, None, f"{gene}{key}" if tested else NOT_TESTED)
    for gene, rsid, genotype in (
        ("OPRM1", "rs1799971", pgx.oprm1_rs1799971),
        ("COMT", "rs4680", pgx.comt_rs4680),
    ):
        if genotype is None:
            states[gene] = GeneState(gene, False, NO_RESULT, None, NOT_TESTED)
        else:
            states[gene] = GeneState(gene, True, ANY_RESULT, None, f"{rsid} {genotype}")
    ValidationError.raise_if_any("pharmacogenomic results", violations)
    return states


def _state(states: dict[str, GeneState], gene: str) -> GeneState:
    """Genes PrecisionPain does not collect (e.g. CYP2B6 for sertraline) count as not tested."""
    return states.get(gene) or GeneState(gene, False, NO_RESULT, None, NOT_TESTED)


# ------------------------------------------------------------------------------------------- table index


@dataclass(frozen=True, slots=True)
class _Row:
    rec: Recommendation
    phenotype: dict[str, str]  # gene -> CPIC phenotype of the row (from the phenotype column)


@dataclass(frozen=True, slots=True)
class _Group:
    drug: str
    genes: tuple[str, ...]
    rows: tuple[_Row, ...]


def _split_keyed(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split("|"):
        gene, sep, value = part.partition("=")
        if sep:
            out[gene] = value
    return out


@lru_cache(maxsize=8)
def _groups(tables: PgxTables) -> dict[str, tuple[_Group, ...]]:
    """Rows of each drug grouped by their gene set, in table order (cached per tables object)."""
    out: dict[str, tuple[_Group, ...]] = {}
    for drug in tables.drugs:
        by_genes: dict[tuple[str, ...], list[_Row]] = {}
        for rec in tables.recommendations_for(drug):
            by_genes.setdefault(rec.genes, []).append(_Row(rec, _split_keyed(rec.phenotype)))
        out[drug] = tuple(_Group(drug, genes, tuple(rows)) for genes, rows in by_genes.items())
    return out


@lru_cache(maxsize=256)
def drug_genes(drug: str, tables: PgxTables) -> tuple[str, ...]:
    """The genes CPIC's rows for ``drug`` read, in ``PGX_FIELDS`` order (its lookup depends on nothing else)."""
    genes = {g for group in _groups(tables)[_normalize_drug(drug, tables)] for g in group.genes}
    return tuple(g for g in PGX_FIELDS if g in genes)


@lru_cache(maxsize=256)
def chooses_population(drug: str, tables: PgxTables) -> bool:
    """Whether CPIC's rows for ``drug`` name more than one population (carbamazepine: drug-naive, prior use, no
    alternatives), so that prior use and available alternatives can change its lookup; for other drugs they
    cannot."""
    return any(
        len({r.rec.population for r in group.rows}) > 1
        for group in _groups(tables)[_normalize_drug(drug, tables)]
    )


@lru_cache(maxsize=256)
def drug_pgx_fields(drug: str, tables: PgxTables) -> tuple[str, ...]:
    """The Pgx fields whose results CPIC's rows for ``drug`` read."""
    return tuple(PGX_FIELDS[g] for g in drug_genes(drug, tables))


def _default_tables(tables: PgxTables | None) -> PgxTables:
    if tables is not None:
        return tables
    from precisionpain.catalog.pgx_tables import default_pgx_tables

    return default_pgx_tables()


def drugs(tables: PgxTables | None = None) -> tuple[str, ...]:
    """Every drug in the CPIC recommendation table, in table order."""
    return _default_tables(tables).drugs


# ------------------------------------------------------------------------------------------- populations


def _population_kind(population: str) -> str:
    p = population.lower()
    if re.search(r">\s*3\s*mo", p):
        return "prior_use"
    if "no alternative" in p:
        return "no_alternatives"
    if "naive" in p:
        return "naive"
    if p == "general":
        return "general"
    return "unknown"


def _choose_population(
    rows: Sequence[_Row], prior_use: bool | None, alternatives_available: bool
) -> tuple[str | None, str]:
    """The population whose rows apply, and a note when the wanted one does not exist for this drug."""
    populations = list(dict.fromkeys(r.rec.population for r in rows))
    if len(populations) == 1:
        return populations[0], ""
    by_kind = {_population_kind(p): p for p in populations}
    if prior_use is True:
        wanted = ["prior_use", "naive"]
    elif not alternatives_available:
        wanted = ["no_alternatives", "naive"]
    else:
        wanted = ["naive", "general"]
    for i, kind in enumerate(wanted):
        if kind in by_kind:
            note = ""
            if i > 0:
                note = f"CPIC gives no separate recommendation for {wanted[0].replace('_', ' ')}; drug-naive rows used"
            return by_kind[kind], note
    return None, ""


# ------------------------------------------------------------------------------------------- lookup


def _matches(row: _Row, state: GeneState) -> bool:
    key = row.rec.lookup_key.get(state.gene)
    if key == ANY_RESULT:
        return state.tested
    if state.key is not None:
        return key == state.key
    return state.phenotype is not None and row.phenotype.get(state.gene) == state.phenotype


def _weakest(classifications: Sequence[str]) -> str:
    rank = {c: i for i, c in enumerate(CLASSIFICATIONS)}
    return max(classifications, key=lambda c: rank.get(c, len(rank)))


def _distinct(values: Sequence[str]) -> str:
    return " / ".join(dict.fromkeys(v for v in values if v))


def _guidance(
    group: _Group, states: Sequence[GeneState], rows: Sequence[_Row], population: str, notes: list[str]
) -> CpicGuidance:
    first = rows[0].rec
    classification = first.classification
    classifications = list(dict.fromkeys(r.rec.classification for r in rows))
    if len(classifications) > 1:
        classification = _weakest(classifications)
        notes.append(
            f"CPIC classifies this recommendation {' or '.join(classifications)} depending on the activity "
            f"score, which was not given; the weaker ({classification}) is shown"
        )
    lookup: dict[str, str] = {}
    for s in states:
        if first.lookup_key[s.gene] == ANY_RESULT:
            lookup[s.gene] = ANY_RESULT
        elif s.key is not None:
            lookup[s.gene] = s.key
        else:
            lookup[s.gene] = s.phenotype or ""
            keys = ", ".join(dict.fromkeys(r.rec.lookup_key[s.gene] for r in rows))
            notes.append(
                f"{s.gene} was given as a phenotype without an activity score; CPIC's rows for activity "
                f"scores {keys} agree"
            )
    return CpicGuidance(
        drug=group.drug,
        genes=group.genes,
        lookup=lookup,
        phenotypes={s.gene: s.display for s in states},
        population=population,
        classification=classification,
        action_code=ActionCode(first.action_code),
        dose_adjustment=first.dose_adjustment,
        mentions_alternative=first.mentions_alternative,
        mentions_tdm=first.mentions_tdm,
        recommendation=first.recommendation,
        implications=_distinct([r.rec.implications for r in rows]),
        comments=_distinct([r.rec.comments for r in rows]),
        guideline=first.guideline,
        guideline_url=first.guideline_url,
        guideline_year=first.guideline_latest_year,
        publications=tuple(p.strip() for p in first.guideline_publications.split(";") if p.strip()),
        cpic_data_version=first.cpic_data_version,
        note="; ".join(notes),
    )


def _lookup_group(
    group: _Group, states: dict[str, GeneState], prior_use: bool | None, alternatives_available: bool
) -> CpicGuidance | UnresolvedGuidance | None:
    group_states = [_state(states, g) for g in group.genes]
    if not any(s.tested for s in group_states):
        return None

    def unresolved(reason: str) -> UnresolvedGuidance:
        return UnresolvedGuidance(drug=group.drug, genes=group.genes, reason=reason)

    unreadable = [
        s
        for s in group_states
        if s.tested
        and s.key is None
        and s.phenotype is None
        and any(r.rec.lookup_key.get(s.gene) != ANY_RESULT for r in group.rows)
    ]
    if unreadable:
        return unresolved("; ".join(s.problem for s in unreadable))
    population, population_note = _choose_population(group.rows, prior_use, alternatives_available)
    if population is None:
        return unresolved("the CPIC table lists populations this version cannot choose between")
    rows = [
        r for r in group.rows if r.rec.population == population and all(_matches(r, s) for s in group_states)
    ]
    if not rows:
        untested = [s.gene for s in group_states if not s.tested]
        detail = f" ({', '.join(untested)} not tested)" if untested else ""
        return unresolved(f"CPIC has no recommendation row for this combination of results{detail}")
    differing = [
        name
        for name, values in (
            ("action code", {r.rec.action_code for r in rows}),
            ("recommendation text", {r.rec.recommendation for r in rows}),
            ("dose adjustment", {r.rec.dose_adjustment for r in rows}),
        )
        if len(values) > 1
    ]
    if differing:
        genes = ", ".join(s.gene for s in group_states if s.key is None)
        return unresolved(
            f"{genes} was given as a phenotype without an activity score, and CPIC's rows for that phenotype "
            f"differ in {' and '.join(differing)} by activity score; give the diplotype or the activity score"
        )
    notes = [population_note] if population_note else []
    return _guidance(group, group_states, rows, population, notes)


def _normalize_drug(drug: str, tables: PgxTables) -> str:
    d = drug.strip().lower()
    if d not in tables.drugs:
        raise PgxError(
            f"drug {drug!r}: not in the CPIC recommendation table; known drugs: {', '.join(tables.drugs)}"
        )
    return d


def _lookup_drug(
    drug: str,
    states: dict[str, GeneState],
    tables: PgxTables,
    prior_use: bool | None,
    alternatives_available: bool,
) -> CpicLookup:
    found: list[CpicGuidance] = []
    unresolved: list[UnresolvedGuidance] = []
    for group in _groups(tables)[drug]:
        out = _lookup_group(group, states, prior_use, alternatives_available)
        if isinstance(out, CpicGuidance):
            found.append(out)
        elif isinstance(out, UnresolvedGuidance):
            unresolved.append(out)
    return CpicLookup(guidance=tuple(found), unresolved=tuple(unresolved))


def lookup_states(
    drug: str,
    states: Sequence[GeneState],
    tables: PgxTables,
    *,
    prior_use_over_3_months: bool | None = None,
    alternatives_available: bool = True,
) -> CpicLookup:
    """:func:`cpic_lookup` from genes already read by :func:`gene_states` (a gene not among ``states`` counts
    as not tested). The lookup depends on nothing else, so callers can key a cache by the states: they take
    few values (a phenotype and a score), where the results they come from take many (diplotype spellings)."""
    return _lookup_drug(
        _normalize_drug(drug, tables),
        {s.gene: s for s in states},
        tables,
        prior_use_over_3_months,
        alternatives_available,
    )


def cpic_lookup(
    drug: str,
    pgx: Pgx,
    *,
    prior_use_over_3_months: bool | None = None,
    alternatives_available: bool = True,
    tables: PgxTables | None = None,
) -> CpicLookup:
    """CPIC guidance for one drug plus the gene groups left unresolved (with the reason)."""
    t = _default_tables(tables)
    d = _normalize_drug(drug, t)
    return _lookup_drug(d, gene_states(pgx, t), t, prior_use_over_3_months, alternatives_available)


def cpic_guidance(
    drug: str,
    pgx: Pgx,
    *,
    prior_use_over_3_months: bool | None = None,
    alternatives_available: bool = True,
    tables: PgxTables | None = None,
) -> tuple[CpicGuidance, ...]:
    """Every CPIC recommendation for ``drug`` that applies to these results (empty if none can be given).

    ``prior_use_over_3_months`` and ``alternatives_available`` choose the carbamazepine/oxcarbazepine
    population; other drugs ignore them. Raises :class:`PgxError` for a drug not in the table and
    :class:`ValidationError` for gene results that contradict the CPIC tables.
    """
    return cpic_lookup(
        drug,
        pgx,
        prior_use_over_3_months=prior_use_over_3_months,
        alternatives_available=alternatives_available,
        tables=tables,
    ).guidance


def lookup_for_profile(profile: PatientProfile, tables: PgxTables | None = None) -> CpicLookup:
    """:func:`cpic_lookup` over every drug in the table for one patient.

    The prior-use flag (``clinical.carbamazepine_prior_use_over_3_months``) applies to carbamazepine only;
    oxcarbazepine is looked up as drug-naive because the profile records no prior oxcarbazepine use.
    """
    t = _default_tables(tables)
    states = gene_states(profile.pgx, t)
    found: list[CpicGuidance] = []
    unresolved: list[UnresolvedGuidance] = []
    for drug in t.drugs:
        prior = profile.clinical.carbamazepine_prior_use_over_3_months if drug == "carbamazepine" else None
        out = _lookup_drug(drug, states, t, prior, True)
        found += out.guidance
        unresolved += out.unresolved
    return CpicLookup(guidance=tuple(found), unresolved=tuple(unresolved))


def guidance_for_profile(
    profile: PatientProfile, tables: PgxTables | None = None
) -> tuple[CpicGuidance, ...]:
    """Every CPIC recommendation that applies to the patient, over all drugs in the table."""
    return lookup_for_profile(profile, tables).guidance
