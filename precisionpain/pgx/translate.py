"""Diplotype -> CPIC activity score -> CPIC phenotype, exactly as the CPIC tables write them.

CYP2D6 and CYP2C9: the activity score is the sum of the two alleles' activity values (a ``≥`` on either is
carried into the sum) and the phenotype comes from the score ranges in phenotype_rules.tsv. CYP2C19: the
phenotype comes from the unordered pair of allele functions. An allele missing from allele_functions.tsv is
an :class:`UnknownAlleleError`; nothing is guessed.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from precisionpain.base import FrozenModel
from precisionpain.errors import DiplotypeFormatError, PgxError, UnknownAlleleError, UnknownGeneError
from precisionpain.pgx.tables import ACTIVITY_SCORE_GENES, TRANSLATED_GENES, AlleleFunction, PgxTables

PHENOTYPE_ORDINAL: dict[str, float] = {
    "Poor Metabolizer": 0.0,
    "Likely Poor Metabolizer": 0.0,
    "Intermediate Metabolizer": 1.0,
    "Likely Intermediate Metabolizer": 1.0,
    "Normal Metabolizer": 2.0,
    "Rapid Metabolizer": 3.0,
    "Ultrarapid Metabolizer": 4.0,
}
PHENOTYPES = (*PHENOTYPE_ORDINAL, "Indeterminate")
PHENOTYPE_ABBREVIATIONS = {
    "PM": "Poor Metabolizer",
    "IM": "Intermediate Metabolizer",
    "NM": "Normal Metabolizer",
    "RM": "Rapid Metabolizer",
    "UM": "Ultrarapid Metabolizer",
    "EM": "Normal Metabolizer",  # "extensive metabolizer", CPIC's former term
}
AT_LEAST = "≥"


class Translation(FrozenModel):
    """The CPIC reading of one diplotype."""

    gene: str
    diplotype: str  # canonical: alleles sorted, CPIC spelling
    alleles: tuple[str, str]
    functions: tuple[str | None, str | None]
    activity_score: str | None  # as CPIC writes it: "1.25", "≥4.0"; None where CPIC has none
    phenotype: str | None  # CPIC term; None if an allele has no CPIC function at all
    note: str = ""


def _tables(tables: PgxTables | None) -> PgxTables:
    if tables is not None:
        return tables
    from precisionpain.catalog.pgx_tables import default_pgx_tables

    return default_pgx_tables()


def normalize_gene(gene: str) -> str:
    g = gene.strip().upper().replace("_", "-")
    if g not in TRANSLATED_GENES:
        raise UnknownGeneError(f"gene {gene!r}: not translated; expected one of {', '.join(TRANSLATED_GENES)}")
    return g


_SPACES_PLUS = re.compile(r"\s*\+\s*")
_COPY = re.compile(r"[xX×]\s*(>=|≥)?\s*(\d+)")


def normalize_allele(allele: str) -> str:
    """Spell an allele the CPIC way: ``*1X>=3`` -> ``*1x≥3``, ``*68+*4`` -> ``*68 + *4``."""
    a = allele.strip()
    a = _SPACES_PLUS.sub(" + ", a)
    a = _COPY.sub(lambda m: "x" + (AT_LEAST if m.group(1) else "") + m.group(2), a)
    return a


def _allele_sort_key(allele: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(n) if n.isdigit() else -1, n) for n in re.findall(r"\d+|\D+", allele))


def split_diplotype(gene: str, diplotype: str) -> tuple[str, str]:
    """``"CYP2D6*1/*4"`` or ``"*1/*4"`` -> ``("*1", "*4")`` in canonical order."""
    text = diplotype.strip()
    if text.upper().startswith(gene):
        text = text[len(gene) :].strip()
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise DiplotypeFormatError(
            f"{gene}: diplotype must be two alleles separated by '/', e.g. '*1/*4' "
            f"(received a string with {len(parts) - 1} '/')"
        )
    a, b = (normalize_allele(p) for p in parts)
    for allele in (a, b):
        for component in allele.split(" + "):
            if not component.startswith("*"):
                raise DiplotypeFormatError(f"{gene}: each allele is a star allele such as '*4'")
    return (a, b) if _allele_sort_key(a) <= _allele_sort_key(b) else (b, a)


def parse_activity_score(text: str) -> tuple[Decimal, bool]:
    """``"1.25"`` -> (1.25, False); ``"≥4.0"`` or ``">=4"`` -> (4.0, True)."""
    t = text.strip()
    at_least = False
    for prefix in (AT_LEAST, ">="):
        if t.startswith(prefix):
            at_least, t = True, t[len(prefix) :].strip()
    try:
        value = Decimal(t)
    except InvalidOperation:
        raise PgxError("activity score must be a number such as '1.25' or '≥4.0'") from None
    if not value.is_finite() or value < 0:
        raise PgxError("activity score must be a finite number >= 0")
    return value, at_least


def format_activity_score(value: Decimal, at_least: bool = False) -> str:
    """Write a score the way CPIC keys are written: ``1.0``, ``0.25``, ``≥4.0``."""
    s = format(value.normalize(), "f")
    if "." not in s:
        s += ".0"
    return (AT_LEAST if at_least else "") + s


def canonical_activity_score(text: str) -> str:
    return format_activity_score(*parse_activity_score(text))


def _function(tables: PgxTables, gene: str, allele: str) -> AlleleFunction:
    known = tables.allele_functions.get(gene, {})
    fn = known.get(allele)
    if fn is None:
        raise UnknownAlleleError(gene, allele)
    return fn


def phenotype_from_activity_score(gene: str, score: str | None, tables: PgxTables | None = None) -> str:
    """The CPIC phenotype for an activity score (None = n/a -> Indeterminate)."""
    g = normalize_gene(gene)
    if g not in ACTIVITY_SCORE_GENES:
        raise PgxError(f"{g}: CPIC assigns phenotypes from allele functions, not activity scores")
    t = _tables(tables)
    value = None if score is None else parse_activity_score(score)[0]
    for rule in t.score_rules[g]:
        if rule.matches(value):
            return rule.phenotype
    raise PgxError(f"{g}: activity score is outside every CPIC range")


def translate_diplotype(gene: str, diplotype: str, tables: PgxTables | None = None) -> Translation:
    """CPIC activity score and phenotype of a diplotype; symmetric in its two alleles."""
    g = normalize_gene(gene)
    t = _tables(tables)
    a, b = split_diplotype(g, diplotype)
    fa, fb = _function(t, g, a), _function(t, g, b)
    functions = (fa.clinical_function, fb.clinical_function)
    canonical = f"{a}/{b}"
    if None in functions:
        without = a if fa.clinical_function is None else b
        return Translation(
            gene=g,
            diplotype=canonical,
            alleles=(a, b),
            functions=functions,
            activity_score=None,
            phenotype=None,
            note=f"{without} has no CPIC function assignment, so CPIC gives this diplotype no phenotype",
        )
    if g in ACTIVITY_SCORE_GENES:
        if fa.activity_value is None or fb.activity_value is None:
            return Translation(
                gene=g,
                diplotype=canonical,
                alleles=(a, b),
                functions=functions,
                activity_score=None,
                phenotype=phenotype_from_activity_score(g, None, t),
                note="an allele has no CPIC activity value (n/a)",
            )
        va, la = parse_activity_score(fa.activity_value)
        vb, lb = parse_activity_score(fb.activity_value)
        score = format_activity_score(va + vb, la or lb)
        return Translation(
            gene=g,
            diplotype=canonical,
            alleles=(a, b),
            functions=functions,
            activity_score=score,
            phenotype=phenotype_from_activity_score(g, score, t),
        )
    pair: tuple[str, str] = tuple(sorted(functions))  # type: ignore[assignment,arg-type]
    phenotype = t.function_pairs[g].get(pair)
    if phenotype is None:
        raise PgxError(f"{g}: CPIC has no phenotype rule for the function pair {pair[0]} + {pair[1]}")
    return Translation(
        gene=g,
        diplotype=canonical,
        alleles=(a, b),
        functions=functions,
        activity_score=None,
        phenotype=phenotype,
    )


def normalize_phenotype(text: str) -> str:
    """Accept CPIC terms in any case and the usual abbreviations (PM, IM, NM, RM, UM)."""
    t = " ".join(text.strip().split())
    if t.upper() in PHENOTYPE_ABBREVIATIONS:
        return PHENOTYPE_ABBREVIATIONS[t.upper()]
    for term in PHENOTYPES:
        if t.lower() == term.lower():
            return term
    raise PgxError(
        "phenotype must be a CPIC term (e.g. 'Poor Metabolizer', 'Indeterminate') or PM/IM/NM/RM/UM"
    )
