"""Diplotype -> CPIC activity score -> CPIC phenotype, exactly as the CPIC tables write them.

CYP2D6 and CYP2C9: the activity score is the sum of the two alleles' activity values (a ``≥`` on either is
carried into the sum) and the phenotype comes from the score ranges in phenotype_rules.tsv. CYP2C19: the
phenotype comes from the unordered pair of allele functions. An allele missing from allele_functions.tsv is
an :class:`UnknownAlleleError`; nothing is guessed.

Every parser here first checks its input against the bound of its field (``precisionpain.schema``), and every
pattern is linear in its input (no two repeats next to each other that can match the same characters), so a
caller's string cannot make the work grow faster than its length.
"""

from __future__ import annotations

import re
from decimal import Decimal

from precisionpain.base import FrozenModel
from precisionpain.errors import DiplotypeFormatError, PgxError, UnknownAlleleError, UnknownGeneError
from precisionpain.pgx.tables import ACTIVITY_SCORE_GENES, TRANSLATED_GENES, AlleleFunction, PgxTables
from precisionpain.schema import (
    MAX_ACTIVITY_SCORE_CHARS,
    MAX_DIPLOTYPE_CHARS,
    MAX_PHENOTYPE_CHARS,
    length_rule,
)

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
        raise UnknownGeneError(
            f"gene {gene!r}: not translated; expected one of {', '.join(TRANSLATED_GENES)}"
        )
    return g


# "x3", "X 3", "×3", "x>=3", "x≥ 3", "≥3": a copy number. One whitespace run between any two tokens, so linear.
_COPY = re.compile(r"(?:[xX×]\s*(?:(>=|≥)\s*)?|(>=|≥)\s*)([0-9]+)")
_COPY_NUMBER = re.compile(r"^(?P<base>\*[0-9]+)x(?P<n>[0-9]{1,2})$")  # more than 99 copies is no reading
_DIGITS_OR_NOT = re.compile(r"[0-9]+|[^0-9]+")
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
BINNED_COPY_NUMBER = 3  # CPIC bins three or more copies of *1, *2 and *4 as x≥3


def normalize_allele(allele: str) -> str:
    """Spell an allele the CPIC way: ``*1X>=3`` -> ``*1x≥3``, ``*68+*4`` and ``[*68 + *4]`` -> ``*68 + *4``."""
    a = allele.strip()
    if a.startswith("[") and a.endswith("]"):  # PharmCAT's combination syntax
        a = a[1:-1].strip()
    a = " + ".join(part.strip() for part in a.split("+"))
    a = _COPY.sub(lambda m: "x" + (AT_LEAST if (m.group(1) or m.group(2)) else "") + m.group(3), a)
    return a


def _allele_sort_key(allele: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(n) if n[0] in "0123456789" else -1, n) for n in _DIGITS_OR_NOT.findall(allele))


def split_diplotype(gene: str, diplotype: str) -> tuple[str, str]:
    """``"CYP2D6*1/*4"`` or ``"*1/*4"`` -> ``("*1", "*4")`` in canonical order."""
    if len(diplotype) > MAX_DIPLOTYPE_CHARS:
        raise DiplotypeFormatError(f"{gene}: a diplotype {length_rule(MAX_DIPLOTYPE_CHARS)}")
    parts = diplotype.strip().split("/")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise DiplotypeFormatError(
            f"{gene}: diplotype must be two alleles separated by '/', e.g. '*1/*4' "
            f"(received a string with {len(parts) - 1} '/')"
        )
    a, b = (normalize_allele(_strip_gene(gene, p)) for p in parts)
    for allele in (a, b):
        for component in allele.split(" + "):
            if not component.startswith("*") or len(component) < 2:
                raise DiplotypeFormatError(f"{gene}: each allele is a star allele such as '*4'")
    return (a, b) if _allele_sort_key(a) <= _allele_sort_key(b) else (b, a)


def _strip_gene(gene: str, allele: str) -> str:
    """``CYP2D6*4`` or ``CYP2D6 *4`` -> ``*4`` (lab reports often prefix each allele with the gene)."""
    a = allele.strip()
    if a.upper().startswith(gene):
        a = a[len(gene) :].strip()
    return a


def parse_activity_score(text: str) -> tuple[Decimal, bool]:
    """``"1.25"`` -> (1.25, False); ``"≥4.0"`` or ``">=4"`` -> (4.0, True).

    Only plain decimals are read (ASCII digits, at most one point): no sign, exponent, NaN, infinity or digit
    separators, so reading a score can neither overflow nor take long.
    """
    if len(text) > MAX_ACTIVITY_SCORE_CHARS:
        raise PgxError(f"activity score {length_rule(MAX_ACTIVITY_SCORE_CHARS)}")
    t = text.strip()
    at_least = False
    for prefix in (AT_LEAST, ">="):
        if t.startswith(prefix):
            at_least, t = True, t[len(prefix) :].strip()
    if _PLAIN_DECIMAL.fullmatch(t) is None:
        raise PgxError("activity score must be a number >= 0 written in digits, such as '1.25' or '≥4.0'")
    return Decimal(t), at_least


def format_activity_score(value: Decimal, at_least: bool = False) -> str:
    """Write a score the way CPIC keys are written: ``1.0``, ``0.25``, ``≥4.0``."""
    s = format(value.normalize(), "f")
    if "." not in s:
        s += ".0"
    return (AT_LEAST if at_least else "") + s


def canonical_activity_score(text: str) -> str:
    return format_activity_score(*parse_activity_score(text))


def _function(tables: PgxTables, gene: str, allele: str) -> AlleleFunction:
    """The CPIC entry of an allele; ``*1x3`` and higher copy numbers use CPIC's ``*1x≥3`` bin where one exists."""
    known = tables.allele_functions.get(gene, {})
    fn = known.get(allele)
    if fn is None:
        m = _COPY_NUMBER.match(allele)
        if m is not None and int(m["n"]) >= BINNED_COPY_NUMBER:
            fn = known.get(f"{m['base']}x{AT_LEAST}{BINNED_COPY_NUMBER}")
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
    highest = t.highest_activity_scores.get(g)
    if value is not None and highest is not None and value > highest:
        raise PgxError(
            f"{g}: activity score must be between 0 and {format_activity_score(highest)} "
            "(the highest sum of two CPIC allele activity values)"
        )
    for rule in t.score_rules[g]:
        if rule.matches(value):
            return rule.phenotype
    raise PgxError(f"{g}: activity score is outside every CPIC range")


def translate_diplotype(gene: str, diplotype: str, tables: PgxTables | None = None) -> Translation:
    """CPIC activity score and phenotype of a diplotype; symmetric in its two alleles.

    Raises :class:`DiplotypeFormatError` for a string that is not two star alleles, and
    :class:`UnknownAlleleError` (naming gene and allele) for an allele missing from the CPIC table.
    """
    g = normalize_gene(gene)
    t = _tables(tables)
    a_in, b_in = split_diplotype(g, diplotype)
    fa, fb = _function(t, g, a_in), _function(t, g, b_in)
    notes = [
        f"{given} read as {fn.allele} (CPIC bins three or more copies)"
        for given, fn in ((a_in, fa), (b_in, fb))
        if given != fn.allele
    ]
    if _allele_sort_key(fb.allele) < _allele_sort_key(fa.allele):
        fa, fb = fb, fa
    a, b = fa.allele, fb.allele
    functions = (fa.clinical_function, fb.clinical_function)

    def result(score: str | None, phenotype: str | None, note: str = "") -> Translation:
        return Translation(
            gene=g,
            diplotype=f"{a}/{b}",
            alleles=(a, b),
            functions=functions,
            activity_score=score,
            phenotype=phenotype,
            note="; ".join([*notes, note] if note else notes),
        )

    fn_a, fn_b = functions
    if fn_a is None or fn_b is None:
        without = a if fn_a is None else b
        return result(
            None,
            None,
            f"{without} has no CPIC function assignment, so CPIC gives this diplotype no phenotype",
        )
    if g in ACTIVITY_SCORE_GENES:
        if fa.activity_value is None or fb.activity_value is None:
            return result(
                None, phenotype_from_activity_score(g, None, t), "an allele has no CPIC activity value (n/a)"
            )
        va, la = parse_activity_score(fa.activity_value)
        vb, lb = parse_activity_score(fb.activity_value)
        score = format_activity_score(va + vb, la or lb)
        return result(score, phenotype_from_activity_score(g, score, t))
    pair = (fn_a, fn_b) if fn_a <= fn_b else (fn_b, fn_a)
    phenotype = t.function_pairs[g].get(pair)
    if phenotype is None:
        raise PgxError(f"{g}: CPIC has no phenotype rule for the function pair {pair[0]} + {pair[1]}")
    return result(None, phenotype)


# a parenthesised aside without nested parentheses: each scan stops at the next parenthesis, so linear
_PHENOTYPE_NOISE = re.compile(r"\([^()]*\)|\bCYP2(?:D6|C9|C19)\b", re.IGNORECASE)


def normalize_phenotype(text: str) -> str:
    """Accept CPIC terms in any case and the usual variants of them.

    PM/IM/NM/RM/UM (and EM, CPIC's former "extensive"), British spelling and plurals ("metabolisers"), a gene
    symbol or a parenthesised abbreviation around the term ("CYP2D6 Poor Metabolizer (PM)"), "ultra-rapid".
    """
    if len(text) > MAX_PHENOTYPE_CHARS:
        raise PgxError(f"phenotype {length_rule(MAX_PHENOTYPE_CHARS)}")
    t = " ".join(_PHENOTYPE_NOISE.sub(" ", text).split())
    if t.upper() in PHENOTYPE_ABBREVIATIONS:
        return PHENOTYPE_ABBREVIATIONS[t.upper()]
    t = re.sub(r"metaboli[sz]ers?\b", "metabolizer", t, flags=re.IGNORECASE)
    t = re.sub(r"\bultra[- ]rapid\b", "ultrarapid", t, flags=re.IGNORECASE)
    t = re.sub(r"\bextensive metabolizer\b", "normal metabolizer", t, flags=re.IGNORECASE)
    for term in PHENOTYPES:
        if t.lower() == term.lower():
            return term
    raise PgxError(
        "phenotype must be a CPIC term (e.g. 'Poor Metabolizer', 'Indeterminate') or PM/IM/NM/RM/UM"
    )
