"""PharmCAT outside-call TSV and phenotype.json import, from the fixtures in tests/fixtures/pharmcat/."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from precisionpain.errors import ValidationError, kind_of
from precisionpain.pgx import (
    ActionCode,
    cpic_guidance,
    pgx_from_pharmcat_outside_calls,
    pgx_from_pharmcat_phenotype,
    read_pharmcat_outside_calls,
    read_pharmcat_phenotype,
)
from precisionpain.schema import GeneResult, HlaStatus, PgxSource

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pharmcat"


def _text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_text(name))
    return data


# ------------------------------------------------------------------------------------------ outside calls


def test_outside_calls(pgx_tables) -> None:
    out = read_pharmcat_outside_calls(_text("outside_calls.tsv"), pgx_tables)
    pgx = out.pgx
    assert pgx.cyp2d6 == GeneResult(
        diplotype="*1/*4",
        phenotype="Intermediate Metabolizer",
        activity_score="1.0",
        source=PgxSource.pharmcat,
    )
    assert pgx.cyp2c9 == GeneResult(
        phenotype="Normal Metabolizer", activity_score="2.0", source=PgxSource.pharmcat
    )
    assert pgx.cyp2c19 is not None and pgx.cyp2c19.phenotype == "Rapid Metabolizer"
    assert pgx.hla_b_1502 is HlaStatus.positive  # HLA-B*15:02:01/HLA-B*57:01
    assert pgx.hla_a_3101 is HlaStatus.negative  # *02:01/*24:02
    assert (pgx.oprm1_rs1799971, pgx.comt_rs4680) == ("A/G", "Val/Met")
    assert out.ignored_genes == ("G6PD", "MT-RNR1")
    assert set(out.genes) == {"CYP2D6", "CYP2C9", "CYP2C19", "HLA-A", "HLA-B", "OPRM1", "COMT"}
    assert pgx_from_pharmcat_outside_calls(_text("outside_calls.tsv"), pgx_tables) == pgx


def test_outside_calls_structural_and_phenotype_only(pgx_tables) -> None:
    out = read_pharmcat_outside_calls(_text("outside_calls_structural.tsv"), pgx_tables)
    pgx = out.pgx
    assert pgx.cyp2d6 is not None
    assert (pgx.cyp2d6.diplotype, pgx.cyp2d6.activity_score) == ("*2x≥3/*68 + *4", "≥3.0")
    assert pgx.cyp2c19 == GeneResult(phenotype="Likely Poor Metabolizer", source=PgxSource.pharmcat)
    assert pgx.cyp2c9 is not None and (pgx.cyp2c9.phenotype, pgx.cyp2c9.activity_score) == (
        "Intermediate Metabolizer",
        "1.5",
    )
    assert pgx.hla_a_3101 is HlaStatus.positive
    # "*57:01 positive" says nothing about *15:02
    assert pgx.hla_b_1502 is HlaStatus.not_tested
    assert any("line 5" in n and "*15:02" in n for n in out.notes)
    assert out.ignored_genes == ("CYP3A5",)


def test_outside_calls_bad_lines_are_listed_by_line_number_without_values(pgx_tables) -> None:
    with pytest.raises(ValidationError) as err:
        read_pharmcat_outside_calls(_text("outside_calls_bad.tsv"), pgx_tables)
    lines = [v.path for v in err.value.violations]
    assert lines == [f"line {n}" for n in (2, 3, 4, 6, 7, 8, 9, 10, 11)]
    message = str(err.value)
    for value in ("*999", "*1*3", "Val/Xyz", "*15/*57", "extra"):
        assert value not in message
    by_line = {v.path: v.rule for v in err.value.violations}
    assert "CYP2D6" in by_line["line 3"] and "allele-function table" in by_line["line 3"]
    assert "line 5" in by_line["line 8"]  # the duplicate names the first line
    assert "disagrees" in by_line["line 9"]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("CYP2D6\t*1/*4\tPoor Metabolizer", "phenotype"),  # phenotype contradicts the diplotype
        ("CYP2D6\t*1/*4\t\t2.0", "activity_score"),  # activity score contradicts the diplotype
        ("CYP2C9\t\tNormal Metabolizer\t1.0", "phenotype"),
        ("HLA-B\t*15:02/*57:01\t*15:02 negative", "*15:02"),
        ("HLA-A\tA*31:01/B*07:02", "HLA-A allele"),
        ("CYP2D6\t*1/*2 or *1/*4", "more than one diplotype"),
        ("CYP2D6\t*1/*4\tslow", "phenotype"),
    ],
)
def test_outside_call_contradictions_are_rejected(line: str, field: str, pgx_tables) -> None:
    with pytest.raises(ValidationError) as err:
        read_pharmcat_outside_calls(f"# header comment\n{line}\n", pgx_tables)
    (violation,) = err.value.violations
    assert violation.path == "line 2"
    assert field in violation.rule


def test_outside_call_details(pgx_tables) -> None:
    text = "\ufeffCYP2D6\t./.\r\nCYP2C19\t*2/*2\t\t1.0\r\nCOMT\tA/G\nOPRM1\trs1799971 GA\n"
    out = read_pharmcat_outside_calls(text, pgx_tables)
    assert out.pgx.cyp2d6 is None  # a no call
    assert out.pgx.cyp2c19 is not None and out.pgx.cyp2c19.phenotype == "Poor Metabolizer"
    assert any("no activity score" in n for n in out.notes)  # ignored for CYP2C19, as PharmCAT does
    assert out.pgx.comt_rs4680 == "Val/Met"
    assert out.pgx.oprm1_rs1799971 == "A/G"
    assert (
        read_pharmcat_outside_calls("", pgx_tables).pgx.model_dump()
        == read_pharmcat_outside_calls("# nothing\n\n", pgx_tables).pgx.model_dump()
    )


def test_imported_outside_calls_drive_cpic_guidance(pgx_tables) -> None:
    pgx = pgx_from_pharmcat_outside_calls(_text("outside_calls.tsv"), pgx_tables)
    cbz = cpic_guidance("carbamazepine", pgx, tables=pgx_tables)[0]
    assert cbz.action_code is ActionCode.AVOID and cbz.lookup["HLA-B"] == "*15:02 positive"


# ------------------------------------------------------------------------------------------ phenotype.json


def test_phenotype_json(pgx_tables) -> None:
    out = read_pharmcat_phenotype(_json("sample.phenotype.json"), pgx_tables)
    pgx = out.pgx
    assert pgx.cyp2d6 == GeneResult(
        diplotype="*1/*4",
        phenotype="Intermediate Metabolizer",
        activity_score="1.0",
        source=PgxSource.pharmcat,
    )
    assert pgx.cyp2c9 is not None and (pgx.cyp2c9.diplotype, pgx.cyp2c9.activity_score) == ("*1/*3", "1.0")
    assert pgx.cyp2c19 is not None and pgx.cyp2c19.phenotype == "Rapid Metabolizer"
    assert pgx.hla_b_1502 is HlaStatus.positive
    assert pgx.hla_a_3101 is HlaStatus.not_tested  # callSource NONE, Unknown/Unknown
    assert out.ignored_genes == ("ABCG2",)
    assert pgx_from_pharmcat_phenotype(_json("sample.phenotype.json"), pgx_tables) == pgx


def test_phenotype_json_structural_calls_and_ambiguity(pgx_tables) -> None:
    out = read_pharmcat_phenotype(_json("structural.phenotype.json"), pgx_tables)
    pgx = out.pgx
    # the copy-number call inferred by PharmCAT (*1x3 -> *1x≥3) is the recommendation diplotype
    assert pgx.cyp2d6 is not None
    assert (pgx.cyp2d6.diplotype, pgx.cyp2d6.activity_score) == ("*1/*1x≥3", "≥4.0")
    assert pgx.cyp2c19 == GeneResult(phenotype="Likely Poor Metabolizer", source=PgxSource.pharmcat)
    assert pgx.hla_a_3101 is HlaStatus.positive
    assert pgx.hla_b_1502 is HlaStatus.not_tested  # "*57:01 positive" only
    # two possible CYP2C9 diplotypes with activity scores 1.5 and 1.0: not imported, and said so
    assert pgx.cyp2c9 is None
    assert any("CYP2C9" in n and "differently" in n for n in out.notes)
    assert out.ignored_genes == ("NUDT15",)


def test_phenotype_json_possible_diplotypes_with_one_reading_import_the_phenotype(pgx_tables) -> None:
    data = _json("structural.phenotype.json")
    dips = data["geneReports"]["CPIC"]["CYP2C9"]["recommendationDiplotypes"]
    dips[1]["allele1"]["name"], dips[1]["allele2"]["name"] = "*1", "*8"  # AS 1.5 like *1/*11
    dips[1]["activityScore"] = "1.5"
    out = read_pharmcat_phenotype(data, pgx_tables)
    assert out.pgx.cyp2c9 == GeneResult(
        phenotype="Intermediate Metabolizer", activity_score="1.5", source=PgxSource.pharmcat
    )


def test_phenotype_json_combination_call_is_not_imported(pgx_tables) -> None:
    data = _json("sample.phenotype.json")
    dip = data["geneReports"]["CPIC"]["CYP2C19"]["recommendationDiplotypes"][0]
    dip["allele2"]["name"], dip["combination"] = "[*2 + *17]", True
    out = read_pharmcat_phenotype(data, pgx_tables)
    assert out.pgx.cyp2c19 is None
    assert any("combination" in n for n in out.notes)


def test_phenotype_json_flat_layout(pgx_tables) -> None:
    nested = _json("sample.phenotype.json")
    flat = {"geneReports": nested["geneReports"]["CPIC"]}
    assert read_pharmcat_phenotype(flat, pgx_tables).pgx == read_pharmcat_phenotype(nested, pgx_tables).pgx


def test_phenotype_json_problems_are_listed_by_path_without_values(pgx_tables) -> None:
    with pytest.raises(ValidationError) as err:
        read_pharmcat_phenotype(_json("bad.phenotype.json"), pgx_tables)
    paths = sorted(v.path for v in err.value.violations)
    assert paths == [
        "geneReports.CPIC.CYP2C19.recommendationDiplotypes[0]",
        "geneReports.CPIC.CYP2C9.recommendationDiplotypes",
        "geneReports.CPIC.CYP2D6.recommendationDiplotypes[0]",
    ]
    assert "*999" not in str(err.value)


@pytest.mark.parametrize("data", [[], {"foo": 1}, {"geneReports": 3}, {"geneReports": {"DPWG": {}}}])
def test_phenotype_json_structure_errors(data: Any, pgx_tables) -> None:
    with pytest.raises(ValidationError):
        read_pharmcat_phenotype(data, pgx_tables)


def test_phenotype_json_hla_alleles_and_phenotypes_must_agree(pgx_tables) -> None:
    data = copy.deepcopy(_json("sample.phenotype.json"))
    dip = data["geneReports"]["CPIC"]["HLA-B"]["recommendationDiplotypes"][0]
    dip["phenotypes"] = ["*15:02 negative", "*57:01 positive", "*58:01 negative"]
    with pytest.raises(ValidationError) as err:
        read_pharmcat_phenotype(data, pgx_tables)
    assert "disagree" in str(err.value)


def test_an_overlong_gene_symbol_is_refused_not_listed_back(pgx_tables) -> None:
    symbol = "G" * 5000
    with pytest.raises(ValidationError) as err:
        read_pharmcat_outside_calls(f"CYP2D6\t*1/*4\n{symbol}\t*1/*1\n", pgx_tables)
    assert [v.path for v in err.value.violations] == ["line 2"]
    assert "at most 32 characters" in err.value.violations[0].rule
    assert symbol not in str(err.value)


def test_overlong_pharmcat_parts_are_refused_for_their_length(pgx_tables) -> None:
    with pytest.raises(ValidationError) as err:
        read_pharmcat_outside_calls(f"CYP2D6\t*1/*4{'1' * 300}\nCYP2C19\t\t{'(' * 20_000}\n", pgx_tables)
    assert [v.path for v in err.value.violations] == ["line 1", "line 2"]
    assert all("at most" in v.rule for v in err.value.violations)


# ------------------------------------------------------------------------------------------ other PharmCAT files

REPORTER_OUTPUT = {
    "title": "PharmCAT Report",
    "timestamp": "2025-01-01T00:00:00Z",
    "pharmcatVersion": "3.0.0",
    "dataVersion": "2024-08",
    "genes": {"CPIC": {"CYP2D6": {"geneSymbol": "CYP2D6", "sourceDiplotypes": []}}},
    "drugs": {"CPIC Guideline Annotation": {}},
    "messages": [],
}
MATCHER_OUTPUT = {
    "metadata": {"pharmcatVersion": "3.0.0", "genomeBuild": "b38", "inputFilename": "sample.vcf"},
    "results": [{"gene": "CYP2C19", "diplotypes": [], "haplotypes": []}],
}


@pytest.mark.parametrize(
    ("data", "stage", "suffix"),
    [(REPORTER_OUTPUT, "reporter", ".report.json"), (MATCHER_OUTPUT, "matcher", ".match.json")],
)
def test_reporter_and_matcher_output_are_named_and_the_phenotyper_file_asked_for(
    data: dict[str, Any], stage: str, suffix: str, pgx_tables
) -> None:
    with pytest.raises(ValidationError) as err:
        read_pharmcat_phenotype(data, pgx_tables)
    (violation,) = err.value.violations
    assert violation.path == "(root)"
    assert f"PharmCAT's {stage} output" in violation.rule and suffix in violation.rule
    assert "pass the phenotyper's *.phenotype.json" in violation.rule
    assert "3.0.0" not in str(err.value) and "sample.vcf" not in str(err.value)


@pytest.mark.parametrize(("number", "score"), [(1.0, "1.0"), (1, "1.0"), (0.25, "0.25"), (1.5, "1.5"), (0, "0.0")])
def test_a_numeric_activity_score_reads_as_the_cpic_score(number: float, score: str, pgx_tables) -> None:
    data = _json("sample.phenotype.json")
    text_dip = data["geneReports"]["CPIC"]["CYP2C9"]["recommendationDiplotypes"][0]
    as_text = read_pharmcat_phenotype(data, pgx_tables).pgx.cyp2c9
    text_dip["activityScore"] = number
    text_dip["phenotypes"], text_dip["allele1"]["name"], text_dip["allele2"]["name"] = [], "Unknown", "Unknown"
    out = read_pharmcat_phenotype(data, pgx_tables).pgx.cyp2c9
    assert out is not None and out.activity_score == score and out.diplotype is None
    if number == 1.0:
        assert as_text is not None and (out.phenotype, out.activity_score) == (as_text.phenotype, as_text.activity_score)


@pytest.mark.parametrize("bad", [True, float("nan"), float("inf"), -1.0, 1e300, [1.0]])
def test_an_activity_score_that_is_no_score_is_refused_by_kind(bad: Any, pgx_tables) -> None:
    data = _json("sample.phenotype.json")
    data["geneReports"]["CPIC"]["CYP2C9"]["recommendationDiplotypes"][0]["activityScore"] = bad
    with pytest.raises(ValidationError) as err:
        read_pharmcat_phenotype(data, pgx_tables)
    (violation,) = err.value.violations
    assert violation.path == "geneReports.CPIC.CYP2C9.recommendationDiplotypes[0].activityScore"
    assert "a CPIC activity score" in violation.rule
    assert violation.received == kind_of(bad)


@pytest.mark.parametrize(
    "header",
    ["Gene\tDiplotype\tPhenotype\tActivity Score", "gene\tdiplotype", "#comment\nHGNC gene symbol\tDiplotype\tPhenotype"],
)
def test_a_header_row_in_outside_calls_is_skipped(header: str, pgx_tables) -> None:
    plain = read_pharmcat_outside_calls(_text("outside_calls.tsv"), pgx_tables)
    with_header = read_pharmcat_outside_calls(f"{header}\n{_text('outside_calls.tsv')}", pgx_tables)
    assert with_header.pgx == plain.pgx
    assert with_header.ignored_genes == plain.ignored_genes == ("G6PD", "MT-RNR1")
    assert any("header row" in n for n in with_header.notes)


def test_a_gene_line_after_the_first_is_never_taken_for_a_header(pgx_tables) -> None:
    out = read_pharmcat_outside_calls("CYP2D6\t*1/*4\nGene\tDiplotype\n", pgx_tables)
    assert out.ignored_genes == ("GENE",)


EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "pharmcat"


def test_the_shipped_pharmcat_samples_import_and_agree(pgx_tables) -> None:
    """examples/pharmcat: the outside calls PharmCAT was given and the phenotype.json it wrote for them."""
    calls = read_pharmcat_outside_calls((EXAMPLES / "outside_calls.tsv").read_text(encoding="utf-8"), pgx_tables)
    phenotype = read_pharmcat_phenotype(
        json.loads((EXAMPLES / "sample.phenotype.json").read_text(encoding="utf-8")), pgx_tables
    )
    assert set(calls.genes) == {"CYP2D6", "HLA-B"}
    for gene in ("cyp2d6", "hla_b_1502"):
        assert getattr(calls.pgx, gene) == getattr(phenotype.pgx, gene), gene
    assert {"CYP2D6", "CYP2C9", "CYP2C19", "HLA-B"} <= set(phenotype.genes)
