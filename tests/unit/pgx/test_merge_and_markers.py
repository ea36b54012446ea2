"""merge_pgx, HLA status, OPRM1/COMT genotypes, and that importing the package reads no file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from precisionpain.errors import DiplotypeFormatError, PgxError, ValidationError
from precisionpain.pgx import (
    hla_status_from_diplotype,
    hla_status_from_phenotype,
    merge_pgx,
    normalize_comt_genotype,
    normalize_oprm1_genotype,
)
from precisionpain.schema import GeneResult, HlaStatus, Pgx, PgxSource

REPO = Path(__file__).resolve().parents[3]

# ------------------------------------------------------------------------------------------ merge


def test_merge_adds_genes_the_base_lacks(pgx_tables) -> None:
    base = Pgx(cyp2d6=GeneResult(diplotype="*1/*4"), hla_a_3101=HlaStatus.negative, oprm1_rs1799971="A/A")
    update = Pgx(
        cyp2c19=GeneResult(diplotype="*1/*2", source=PgxSource.pharmcat), hla_b_1502=HlaStatus.positive
    )
    merged = merge_pgx(base, update, tables=pgx_tables)
    assert merged.cyp2d6 == base.cyp2d6
    assert merged.cyp2c19 == update.cyp2c19
    assert (merged.hla_a_3101, merged.hla_b_1502) == (HlaStatus.negative, HlaStatus.positive)
    assert merged.oprm1_rs1799971 == "A/A"
    assert merge_pgx(base, Pgx(), tables=pgx_tables) == base
    assert merge_pgx(Pgx(), base, tables=pgx_tables) == base


def test_merge_keeps_the_more_detailed_agreeing_result(pgx_tables) -> None:
    phenotype_only = Pgx(cyp2d6=GeneResult(phenotype="Intermediate Metabolizer"))
    diplotype = Pgx(cyp2d6=GeneResult(diplotype="*1/*4", source=PgxSource.pharmcat))
    assert merge_pgx(phenotype_only, diplotype, tables=pgx_tables).cyp2d6 == diplotype.cyp2d6
    assert merge_pgx(diplotype, phenotype_only, tables=pgx_tables).cyp2d6 == diplotype.cyp2d6


def test_merge_conflicts_are_listed_once(pgx_tables) -> None:
    base = Pgx(cyp2d6=GeneResult(diplotype="*1/*4"), hla_b_1502=HlaStatus.negative, comt_rs4680="Val/Val")
    update = Pgx(cyp2d6=GeneResult(diplotype="*4/*4"), hla_b_1502=HlaStatus.positive, comt_rs4680="Met/Met")
    with pytest.raises(ValidationError) as err:
        merge_pgx(base, update, tables=pgx_tables)
    assert {v.path for v in err.value.violations} == {"pgx.cyp2d6", "pgx.hla_b_1502", "pgx.comt_rs4680"}
    assert "*4/*4" not in str(err.value)
    replaced = merge_pgx(base, update, replace=True, tables=pgx_tables)
    assert replaced == update


def test_merge_refuses_unreadable_results(pgx_tables) -> None:
    with pytest.raises(ValidationError):
        merge_pgx(
            Pgx(cyp2d6=GeneResult(diplotype="*1/*999")),
            Pgx(cyp2d6=GeneResult(diplotype="*1/*1")),
            tables=pgx_tables,
        )


# ------------------------------------------------------------------------------------------ markers


@pytest.mark.parametrize(
    ("gene", "diplotype", "status"),
    [
        ("HLA-B", "*15:02/*57:01", HlaStatus.positive),
        ("HLA-B", "B*15:02:01:03/B*15:02", HlaStatus.positive),
        ("HLA-B", "HLA-B*15:21/*57:01", HlaStatus.negative),  # *15:21 is not *15:02
        ("HLA-B", "*07:02/*35:01", HlaStatus.negative),
        ("HLA-A", "*31:01/*02:01", HlaStatus.positive),
        ("HLA-A", "A*31:01:02G/A*24:02", HlaStatus.positive),
        ("HLA-A", "*32:01/*68:03", HlaStatus.negative),
    ],
)
def test_hla_status_from_diplotype(gene: str, diplotype: str, status: HlaStatus) -> None:
    assert hla_status_from_diplotype(gene, diplotype) is status


@pytest.mark.parametrize(
    "bad", ["*15:02", "*15/*57", "*15:02/*57:01/*58:01", "A*15:02/*57:01", "15:02/57:01"]
)
def test_hla_malformed(bad: str) -> None:
    with pytest.raises(DiplotypeFormatError):
        hla_status_from_diplotype("HLA-B", bad)


def test_hla_status_from_phenotype() -> None:
    assert hla_status_from_phenotype("HLA-B", "*15:02 positive") is HlaStatus.positive
    assert hla_status_from_phenotype("HLA-B", "HLA-B*15:02  Negative") is HlaStatus.negative
    assert hla_status_from_phenotype("HLA-B", "*57:01 positive") is None
    assert hla_status_from_phenotype("HLA-A", "*31:01 negative") is HlaStatus.negative
    with pytest.raises(PgxError):
        hla_status_from_phenotype("HLA-B", "positive")
    with pytest.raises(PgxError):
        hla_status_from_phenotype("HLA-C", "*15:02 positive")


@pytest.mark.parametrize(
    ("text", "genotype"), [("A/A", "A/A"), ("G/A", "A/G"), ("gg", "G/G"), ("rs1799971 A/G", "A/G")]
)
def test_oprm1(text: str, genotype: str) -> None:
    assert normalize_oprm1_genotype(text) == genotype


@pytest.mark.parametrize(
    ("text", "genotype"),
    [("val/met", "Val/Met"), ("Met/Val", "Val/Met"), ("G/G", "Val/Val"), ("rs4680 AA", "Met/Met")],
)
def test_comt(text: str, genotype: str) -> None:
    assert normalize_comt_genotype(text) == genotype


@pytest.mark.parametrize("bad", ["A/C", "", "A", "Val/Met/Met"])
def test_bad_genotypes(bad: str) -> None:
    with pytest.raises(PgxError):
        normalize_oprm1_genotype(bad)
    with pytest.raises(PgxError):
        normalize_comt_genotype(bad)


# ------------------------------------------------------------------------------------------ import safety


def test_importing_the_package_opens_no_file_of_the_catalog() -> None:
    code = (
        "import sys\n"
        "opened = []\n"
        "sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == 'open' else None)\n"
        "import precisionpain.pgx\n"
        "print([p for p in opened if p.endswith(('.tsv', '.yaml'))])\n"
        "print('precisionpain.catalog.pgx_tables' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "False"]


# ------------------------------------------------------------------------------------------ adversarial input


def test_marker_parsers_refuse_overlong_text_without_reading_it() -> None:
    with pytest.raises(DiplotypeFormatError, match="at most 200 characters"):
        hla_status_from_diplotype("HLA-B", "*15:02/*57:01" + " " * 5000)
    with pytest.raises(PgxError, match="at most 80 characters"):
        hla_status_from_phenotype("HLA-B", "*15:02" + " " * 5000 + "positive")
    with pytest.raises(PgxError):
        normalize_oprm1_genotype("A/G" + " " * 5000)
    with pytest.raises(DiplotypeFormatError):
        hla_status_from_diplotype("HLA-B", "*15:0²/*57:01")
