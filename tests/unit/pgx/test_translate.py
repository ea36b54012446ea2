"""Diplotype -> CPIC activity score -> phenotype, checked against an oracle written here from CPIC's rules.

The oracle does not read features/pgx/: allele activity values and functions are CPIC's published ones
(CYP2D6 allele functionality table as released in the CPIC data PharmCAT ships, 2024-08-27, where *9 and
*41 carry 0.25 and *10 0.25; CYP2C9 Theken 2020; CYP2C19 Lima 2021), and the phenotype rules are CPIC's:
CYP2D6 (2021) PM = 0, IM 0 < AS < 1.25, NM 1.25-2.25, UM > 2.25 (every "≥" score is UM); CYP2C9 PM 0-0.5,
IM 1.0-1.5, NM 2.0; CYP2C19 by the pair of allele functions.
"""

from __future__ import annotations

import contextlib
import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from precisionpain.errors import DiplotypeFormatError, PgxError, UnknownAlleleError, UnknownGeneError
from precisionpain.pgx import phenotype_from_activity_score, translate_diplotype
from precisionpain.pgx.translate import canonical_activity_score, normalize_phenotype

# ---------------------------------------------------------------------------------------------- the oracle

CYP2D6_VALUES: dict[str, str] = {
    "*1": "1", "*2": "1", "*3": "0", "*4": "0", "*5": "0", "*6": "0", "*9": "0.25", "*10": "0.25",
    "*17": "0.5", "*29": "0.5", "*41": "0.25",
    "*1x2": "2", "*2x2": "2", "*4x2": "0",
    "*1x≥3": ">=3", "*2x≥3": ">=3",
    "*68 + *4": "0", "*36 + *10": "0.25",
}  # fmt: skip
CYP2C9_VALUES: dict[str, str] = {
    "*1": "1",
    "*2": "0.5",
    "*3": "0",
    "*5": "0.5",
    "*6": "0",
    "*8": "0.5",
    "*11": "0.5",
}
CYP2C19_FUNCTIONS: dict[str, str] = {
    "*1": "normal",
    "*2": "no",
    "*3": "no",
    "*17": "increased",
    "*9": "decreased",
}
CYP2C19_PAIRS: dict[frozenset[str], str] = {
    frozenset({"normal"}): "Normal Metabolizer",
    frozenset({"normal", "increased"}): "Rapid Metabolizer",
    frozenset({"increased"}): "Ultrarapid Metabolizer",
    frozenset({"normal", "no"}): "Intermediate Metabolizer",
    frozenset({"increased", "no"}): "Intermediate Metabolizer",
    frozenset({"normal", "decreased"}): "Likely Intermediate Metabolizer",
    frozenset({"increased", "decreased"}): "Likely Intermediate Metabolizer",
    frozenset({"decreased"}): "Likely Intermediate Metabolizer",
    frozenset({"no", "decreased"}): "Likely Poor Metabolizer",
    frozenset({"no"}): "Poor Metabolizer",
}


def _value(text: str) -> tuple[Decimal, bool]:
    return (Decimal(text[2:]), True) if text.startswith(">=") else (Decimal(text), False)


def _cpic_score(total: Decimal, at_least: bool) -> str:
    """CPIC writes scores with at least one decimal: 0.0, 1.25, ≥4.0."""
    text = f"{total:.2f}".rstrip("0")
    text = text + "0" if text.endswith(".") else text
    return ("≥" if at_least else "") + text


def oracle_cyp2d6(a: str, b: str) -> tuple[str, str]:
    (va, la), (vb, lb) = _value(CYP2D6_VALUES[a]), _value(CYP2D6_VALUES[b])
    total, at_least = va + vb, la or lb
    if at_least or total > Decimal("2.25"):
        phenotype = "Ultrarapid Metabolizer"
    elif total >= Decimal("1.25"):
        phenotype = "Normal Metabolizer"
    elif total > 0:
        phenotype = "Intermediate Metabolizer"
    else:
        phenotype = "Poor Metabolizer"
    return _cpic_score(total, at_least), phenotype


def oracle_cyp2c9(a: str, b: str) -> tuple[str, str]:
    total = Decimal(CYP2C9_VALUES[a]) + Decimal(CYP2C9_VALUES[b])
    if total <= Decimal("0.5"):
        phenotype = "Poor Metabolizer"
    elif total <= Decimal("1.5"):
        phenotype = "Intermediate Metabolizer"
    else:
        phenotype = "Normal Metabolizer"
    return _cpic_score(total, False), phenotype


def oracle_cyp2c19(a: str, b: str) -> str:
    return CYP2C19_PAIRS[frozenset({CYP2C19_FUNCTIONS[a], CYP2C19_FUNCTIONS[b]})]


def test_oracle_rounding_is_cpic_style() -> None:
    assert _cpic_score(Decimal("0"), False) == "0.0"
    assert _cpic_score(Decimal("1.25"), False) == "1.25"
    assert _cpic_score(Decimal("4"), True) == "≥4.0"


# ---------------------------------------------------------------------------------------------- all pairs


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations_with_replacement(CYP2D6_VALUES, 2)))
def test_cyp2d6_every_pair_of_common_alleles(a: str, b: str, pgx_tables) -> None:
    score, phenotype = oracle_cyp2d6(a, b)
    tr = translate_diplotype("CYP2D6", f"{a}/{b}", pgx_tables)
    assert (tr.activity_score, tr.phenotype) == (score, phenotype)


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations_with_replacement(CYP2C9_VALUES, 2)))
def test_cyp2c9_every_pair_of_common_alleles(a: str, b: str, pgx_tables) -> None:
    tr = translate_diplotype("CYP2C9", f"{a}/{b}", pgx_tables)
    assert (tr.activity_score, tr.phenotype) == oracle_cyp2c9(a, b)


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations_with_replacement(CYP2C19_FUNCTIONS, 2)))
def test_cyp2c19_every_pair_of_common_alleles(a: str, b: str, pgx_tables) -> None:
    tr = translate_diplotype("CYP2C19", f"{a}/{b}", pgx_tables)
    assert tr.phenotype == oracle_cyp2c19(a, b)
    assert tr.activity_score is None  # CPIC defines no activity score for CYP2C19


# ---------------------------------------------------------------------------------------------- boundaries


@pytest.mark.parametrize(
    ("score", "phenotype"),
    [
        ("0", "Poor Metabolizer"),
        ("0.25", "Intermediate Metabolizer"),
        ("1.0", "Intermediate Metabolizer"),
        ("1.25", "Normal Metabolizer"),
        ("2.25", "Normal Metabolizer"),
        ("2.5", "Ultrarapid Metabolizer"),
        ("≥3.0", "Ultrarapid Metabolizer"),
        (">=6", "Ultrarapid Metabolizer"),
    ],
)
def test_cyp2d6_phenotype_boundaries(score: str, phenotype: str, pgx_tables) -> None:
    assert phenotype_from_activity_score("CYP2D6", score, pgx_tables) == phenotype


@pytest.mark.parametrize(
    ("score", "phenotype"),
    [
        ("0.0", "Poor Metabolizer"),
        ("0.5", "Poor Metabolizer"),
        ("1.0", "Intermediate Metabolizer"),
        ("1.5", "Intermediate Metabolizer"),
        ("2.0", "Normal Metabolizer"),
    ],
)
def test_cyp2c9_phenotype_boundaries(score: str, phenotype: str, pgx_tables) -> None:
    assert phenotype_from_activity_score("CYP2C9", score, pgx_tables) == phenotype


def test_score_na_is_indeterminate_and_out_of_range_is_an_error(pgx_tables) -> None:
    assert phenotype_from_activity_score("CYP2D6", None, pgx_tables) == "Indeterminate"
    assert phenotype_from_activity_score("CYP2C9", None, pgx_tables) == "Indeterminate"
    with pytest.raises(PgxError, match="outside every CPIC range"):
        phenotype_from_activity_score("CYP2C9", "0.75", pgx_tables)
    with pytest.raises(PgxError, match="not activity scores"):
        phenotype_from_activity_score("CYP2C19", "1.0", pgx_tables)


@pytest.mark.parametrize(
    ("text", "canonical"), [("1", "1.0"), ("0.250", "0.25"), (">=4", "≥4.0"), ("≥ 3.0", "≥3.0")]
)
def test_activity_scores_are_written_as_cpic_writes_them(text: str, canonical: str) -> None:
    assert canonical_activity_score(text) == canonical


@pytest.mark.parametrize("bad", ["", "abc", "-1", "nan", "inf"])
def test_bad_activity_scores(bad: str) -> None:
    with pytest.raises(PgxError):
        canonical_activity_score(bad)


# ---------------------------------------------------------------------------------------------- copy number, cis


@pytest.mark.parametrize(
    ("diplotype", "score", "phenotype"),
    [
        ("*1/*1x≥3", "≥4.0", "Ultrarapid Metabolizer"),
        ("*2x≥3/*4", "≥3.0", "Ultrarapid Metabolizer"),
        ("*1x≥3/*2x≥3", "≥6.0", "Ultrarapid Metabolizer"),
        ("*4/*4x2", "0.0", "Poor Metabolizer"),
        ("*41/*41x3", "1.0", "Intermediate Metabolizer"),
        ("*10/*10x2", "0.75", "Intermediate Metabolizer"),
        ("*1/*68 + *4", "1.0", "Intermediate Metabolizer"),
        ("*36 + *10/*36 + *10", "0.5", "Intermediate Metabolizer"),
        ("*10/*36x2 + *10x2", "0.75", "Intermediate Metabolizer"),
        ("*2/*13 + *2", "2.0", "Normal Metabolizer"),
    ],
)
def test_copy_number_and_cis_combinations(diplotype: str, score: str, phenotype: str, pgx_tables) -> None:
    tr = translate_diplotype("CYP2D6", diplotype, pgx_tables)
    assert (tr.activity_score, tr.phenotype) == (score, phenotype)


def test_three_or_more_copies_use_cpics_bin(pgx_tables) -> None:
    for n in (3, 4, 7):
        tr = translate_diplotype("CYP2D6", f"*1x{n}/*4", pgx_tables)
        assert tr.diplotype == "*1x≥3/*4"
        assert tr.activity_score == "≥3.0"
        assert "bins" in tr.note
    # *41x3 has its own CPIC entry and is not binned; *10x3 has neither and is unknown
    assert translate_diplotype("CYP2D6", "*1/*41x3", pgx_tables).activity_score == "1.75"
    with pytest.raises(UnknownAlleleError):
        translate_diplotype("CYP2D6", "*1/*10x3", pgx_tables)


# ---------------------------------------------------------------------------------------------- spelling


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("*1X2/*4", "*1x2/*4"),
        ("*2x>=3/*1", "*1/*2x≥3"),
        ("*2≥3/*1", "*1/*2x≥3"),
        ("*68+*4/*1", "*1/*68 + *4"),
        ("[*68 + *4]/*1", "*1/*68 + *4"),
        ("CYP2D6*1/*4", "*1/*4"),
        ("cyp2d6 *4/*1", "*1/*4"),
        ("CYP2D6*1/CYP2D6*4", "*1/*4"),
        ("  *4 / *1  ", "*1/*4"),
    ],
)
def test_spelling_variants(variant: str, canonical: str, pgx_tables) -> None:
    tr = translate_diplotype("CYP2D6", variant, pgx_tables)
    assert tr.diplotype == canonical
    assert tr == translate_diplotype("CYP2D6", canonical, pgx_tables)


@pytest.mark.parametrize("bad", ["*1", "*1/*4/*5", "", "/", "*1/", "1/4", "*1*4", "*1/ *", "*1/*4 + 5"])
def test_malformed_diplotypes(bad: str, pgx_tables) -> None:
    with pytest.raises(DiplotypeFormatError):
        translate_diplotype("CYP2D6", bad, pgx_tables)


def test_unknown_allele_names_gene_and_allele(pgx_tables) -> None:
    with pytest.raises(UnknownAlleleError) as err:
        translate_diplotype("CYP2C9", "*1/*99", pgx_tables)
    assert err.value.gene == "CYP2C9"
    assert err.value.allele == "*99"
    assert "CYP2C9" in str(err.value) and "*99" in str(err.value)
    assert isinstance(err.value, LookupError)


def test_unknown_gene(pgx_tables) -> None:
    with pytest.raises(UnknownGeneError):
        translate_diplotype("CYP3A5", "*1/*3", pgx_tables)


@pytest.mark.parametrize(("gene", "allele"), [("CYP2D6", "*150"), ("CYP2C9", "*80"), ("CYP2C19", "*40")])
def test_alleles_without_cpic_function_give_no_phenotype(gene: str, allele: str, pgx_tables) -> None:
    tr = translate_diplotype(gene, f"*1/{allele}", pgx_tables)
    assert tr.phenotype is None and tr.activity_score is None
    assert allele in tr.note


@pytest.mark.parametrize(("gene", "allele"), [("CYP2D6", "*22"), ("CYP2C9", "*7"), ("CYP2C19", "*12")])
def test_uncertain_function_is_indeterminate(gene: str, allele: str, pgx_tables) -> None:
    tr = translate_diplotype(gene, f"*1/{allele}", pgx_tables)
    assert tr.phenotype == "Indeterminate"
    assert tr.activity_score is None


def test_gene_name_is_case_insensitive(pgx_tables) -> None:
    assert translate_diplotype("cyp2c19", "*2/*2", pgx_tables).phenotype == "Poor Metabolizer"


# ---------------------------------------------------------------------------------------------- every allele, symmetry


@pytest.mark.parametrize("gene", ["CYP2D6", "CYP2C9", "CYP2C19"])
def test_every_allele_in_the_table_translates(gene: str, pgx_tables) -> None:
    """Each allele of allele_functions.tsv, paired with *1, translates (no allele is silently unknown)."""
    alleles = list(pgx_tables.allele_functions[gene])
    assert len(alleles) > 30
    for allele in alleles:
        tr = translate_diplotype(gene, f"*1/{allele}", pgx_tables)
        assert allele in tr.alleles
        functional = pgx_tables.allele_functions[gene][allele].clinical_function is not None
        assert (tr.phenotype is not None) == functional


@pytest.mark.parametrize("gene", ["CYP2D6", "CYP2C9", "CYP2C19"])
def test_symmetry_for_all_pairs(gene: str, pgx_tables) -> None:
    """A/B == B/A for every pair of alleles of the gene."""
    alleles = list(pgx_tables.allele_functions[gene])
    for a, b in itertools.combinations(alleles, 2):
        assert translate_diplotype(gene, f"{a}/{b}", pgx_tables) == translate_diplotype(
            gene, f"{b}/{a}", pgx_tables
        )


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_symmetry_property_with_spelling_noise(data: st.DataObject, pgx_tables) -> None:
    gene = data.draw(st.sampled_from(["CYP2D6", "CYP2C9", "CYP2C19"]))
    alleles = sorted(pgx_tables.allele_functions[gene])
    a, b = data.draw(st.sampled_from(alleles)), data.draw(st.sampled_from(alleles))
    noisy_b = b.replace(" + ", "+").replace("x", "X")
    prefix = data.draw(st.sampled_from(["", gene, f"{gene} "]))
    forward = translate_diplotype(gene, f"{prefix}{a}/{noisy_b}", pgx_tables)
    backward = translate_diplotype(gene, f"{b}/{a}", pgx_tables)
    assert forward == backward
    assert set(forward.alleles) == {a, b}


# ---------------------------------------------------------------------------------------------- phenotype words


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("PM", "Poor Metabolizer"),
        ("em", "Normal Metabolizer"),
        ("CYP2D6 Ultrarapid Metabolizers (UM)", "Ultrarapid Metabolizer"),
        ("likely cyp2c19 poor metaboliser", "Likely Poor Metabolizer"),
        ("Ultra-rapid metabolizer", "Ultrarapid Metabolizer"),
        ("extensive metabolizer", "Normal Metabolizer"),
        ("INDETERMINATE", "Indeterminate"),
    ],
)
def test_phenotype_spellings(text: str, term: str) -> None:
    assert normalize_phenotype(text) == term


@pytest.mark.parametrize("bad", ["slow", "", "Poor", "positive"])
def test_unknown_phenotype_words(bad: str) -> None:
    with pytest.raises(PgxError):
        normalize_phenotype(bad)


# ---------------------------------------------------------------------------------------------- adversarial input


def test_parsers_refuse_input_longer_than_its_field_before_reading_it(pgx_tables) -> None:
    with pytest.raises(PgxError, match="at most 80 characters"):
        normalize_phenotype("(" * 20_000)
    with pytest.raises(DiplotypeFormatError, match="at most 200 characters"):
        translate_diplotype("CYP2D6", "*1" + " " * 20_000 + "+*4/*1", pgx_tables)
    with pytest.raises(PgxError, match="at most 16 characters"):
        canonical_activity_score("1" * 17)


@pytest.mark.parametrize(
    "bad", ["1e9999999", "1E5", "NaN", "Infinity", "1_0", "+1", "-0", "٣", "0x10", "1.2.3", "≥", "1 0"]
)
def test_activity_scores_are_plain_decimals(bad: str) -> None:
    with pytest.raises(PgxError, match="digits"):
        canonical_activity_score(bad)


@pytest.mark.parametrize(("gene", "score", "highest"), [("CYP2D6", "6.25", "6.0"), ("CYP2C9", "≥2.5", "2.0")])
def test_activity_scores_above_what_two_alleles_can_sum_to_are_refused(
    gene: str, score: str, highest: str, pgx_tables
) -> None:
    with pytest.raises(PgxError, match=f"between 0 and {highest}"):
        phenotype_from_activity_score(gene, score, pgx_tables)
    assert phenotype_from_activity_score(gene, highest, pgx_tables)


@pytest.mark.parametrize(
    "diplotype", ["*1²/*4", "*1/*4٣", "*1x" + "9" * 190 + "/*4", "*1x²/*4", "*4/*1" + "1" * 190]
)
def test_odd_digits_and_absurd_copy_numbers_are_unknown_alleles(diplotype: str, pgx_tables) -> None:
    with pytest.raises(PgxError):
        translate_diplotype("CYP2D6", diplotype, pgx_tables)


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("*68  +   *4/*1", "*1/*68 + *4"),
        ("*2X >= 3/*1", "*1/*2x≥3"),
        ("*1×  2/*4", "*1x2/*4"),
        ("*2≥ 3/*1", "*1/*2x≥3"),
    ],
)
def test_spelling_variants_with_inner_spaces(variant: str, canonical: str, pgx_tables) -> None:
    assert translate_diplotype("CYP2D6", variant, pgx_tables).diplotype == canonical


_PIECES = ["(", ")", " ", "\t", "+", "x", "X", "×", "≥", ">=", "*", "/", "1", "4", "9", "²", "٣", "CYP2D6", "."]
_ADVERSARIAL = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)


@settings(max_examples=400, deadline=None)
@given(diplotype=_ADVERSARIAL, phenotype=_ADVERSARIAL, score=_ADVERSARIAL)
def test_adversarial_text_is_read_or_refused_never_crashes(
    diplotype: str, phenotype: str, score: str, pgx_tables
) -> None:
    """Whatever the characters, a parser either reads the text or raises PgxError (a request's INVALID_ARGUMENT)."""
    for parse in (
        lambda: translate_diplotype("CYP2D6", diplotype, pgx_tables),
        lambda: normalize_phenotype(phenotype),
        lambda: phenotype_from_activity_score("CYP2D6", score, pgx_tables),
    ):
        with contextlib.suppress(PgxError):
            parse()
