"""Genes read by allele presence or a single variant: HLA-A/HLA-B status, OPRM1 rs1799971 and COMT rs4680.

CPIC keys carbamazepine and oxcarbazepine on the *presence* of HLA-B*15:02 and HLA-A*31:01 on either
chromosome, so an HLA diplotype such as ``*15:02/*57:01`` becomes ``positive`` for *15:02 and ``negative`` for
anything that lists neither copy. OPRM1 and COMT genotypes are carried for reporting; CPIC makes no
recommendation on them.
"""

from __future__ import annotations

import re
from typing import cast

from precisionpain.errors import DiplotypeFormatError, PgxError
from precisionpain.pgx.tables import HLA_GENES, HLA_RISK_ALLELES, NO_RESULT
from precisionpain.schema import (
    MAX_DIPLOTYPE_CHARS,
    MAX_PHENOTYPE_CHARS,
    ComtGenotype,
    HlaStatus,
    Oprm1Genotype,
    length_rule,
)

# "*15:02", "B*15:02", "HLA-B*15:02:01:03", "*15:02:01G": two or more fields, an optional expression/group suffix
_HLA_ALLELE = re.compile(r"^(?:HLA-)?(?P<letter>[A-Z])?\*(?P<fields>[0-9]{2,4}(?::[0-9]{2,4}){1,3})[A-Z]?$")
_HLA_STATUS = re.compile(
    r"^(?:HLA-[AB])?(?P<allele>\*[0-9]{2,4}:[0-9]{2,4})\s+(?P<status>positive|negative)$", re.I
)


def _hla_gene(gene: str) -> str:
    g = gene.strip().upper()
    if g not in HLA_GENES:
        raise PgxError(f"gene {gene!r}: not an HLA gene PrecisionPain reads; expected HLA-A or HLA-B")
    return g


def hla_two_field(gene: str, allele: str) -> str:
    """``HLA-B*15:02:01`` -> ``*15:02``: the two-field (protein-level) name CPIC uses."""
    g = _hla_gene(gene)
    m = _HLA_ALLELE.match(allele.strip().upper())
    if m is None or (m["letter"] is not None and m["letter"] != g[-1]):
        raise DiplotypeFormatError(
            f"{g}: each allele must be an {g} allele with at least two fields, e.g. '*15:02' or '{g}*15:02'"
        )
    first, second = m["fields"].split(":")[:2]
    return f"*{first}:{second}"


def hla_status_from_diplotype(gene: str, diplotype: str) -> HlaStatus:
    """Positive if either allele is the CPIC risk allele of the gene (HLA-B*15:02, HLA-A*31:01)."""
    g = _hla_gene(gene)
    if len(diplotype) > MAX_DIPLOTYPE_CHARS:
        raise DiplotypeFormatError(f"{g}: a diplotype {length_rule(MAX_DIPLOTYPE_CHARS)}")
    parts = diplotype.strip().split("/")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise DiplotypeFormatError(
            f"{g}: diplotype must be two alleles separated by '/', e.g. '*15:02/*57:01' "
            f"(received a string with {len(parts) - 1} '/')"
        )
    alleles = [hla_two_field(g, p) for p in parts]
    return HlaStatus.positive if HLA_RISK_ALLELES[g] in alleles else HlaStatus.negative


def hla_status_from_phenotype(gene: str, text: str) -> HlaStatus | None:
    """``*15:02 positive`` -> positive. A result about another allele (``*57:01 positive``) says nothing about
    the risk allele: None."""
    g = _hla_gene(gene)
    if len(text) > MAX_PHENOTYPE_CHARS:
        raise PgxError(f"{g}: a result {length_rule(MAX_PHENOTYPE_CHARS)}")
    m = _HLA_STATUS.match(" ".join(text.split()))
    if m is None:
        raise PgxError(
            f"{g}: result must read like '{HLA_RISK_ALLELES[g]} positive' or '{HLA_RISK_ALLELES[g]} negative'"
        )
    if m["allele"] != HLA_RISK_ALLELES[g]:
        return None
    return HlaStatus(m["status"].lower())


def hla_lookup_key(gene: str, status: HlaStatus) -> str:
    """The CPIC lookup key: ``*15:02 positive``, ``*31:01 negative`` or ``No Result``."""
    g = _hla_gene(gene)
    if status is HlaStatus.not_tested:
        return NO_RESULT
    return f"{HLA_RISK_ALLELES[g]} {status.value}"


_OPRM1 = {"A/A": "A/A", "A/G": "A/G", "G/A": "A/G", "G/G": "G/G"}
_COMT = {
    "VAL/VAL": "Val/Val",
    "VAL/MET": "Val/Met",
    "MET/VAL": "Val/Met",
    "MET/MET": "Met/Met",
    # rs4680 c.472G>A: G codes Val158, A codes Met158
    "G/G": "Val/Val",
    "A/G": "Val/Met",
    "G/A": "Val/Met",
    "A/A": "Met/Met",
}


def _genotype_key(text: str, rsid: str) -> str:
    if len(text) > MAX_DIPLOTYPE_CHARS:
        return ""  # no genotype spelling is that long: the caller reports it as unreadable
    t = text.strip().upper()
    if t.startswith(rsid.upper()):
        t = t[len(rsid) :].strip()
    t = t.replace(" ", "")
    if "/" not in t and len(t) == 2:  # "AG"
        t = f"{t[0]}/{t[1]}"
    return t


def normalize_oprm1_genotype(text: str) -> Oprm1Genotype:
    """OPRM1 rs1799971 (A118G) genotype as ``A/A``, ``A/G`` or ``G/G`` (order and an ``rs1799971`` prefix free)."""
    found = _OPRM1.get(_genotype_key(text, "rs1799971"))
    if found is None:
        raise PgxError("OPRM1: rs1799971 genotype must be A/A, A/G or G/G")
    return cast(Oprm1Genotype, found)


def normalize_comt_genotype(text: str) -> ComtGenotype:
    """COMT rs4680 (Val158Met) genotype as ``Val/Val``, ``Val/Met`` or ``Met/Met``; G/A nucleotides accepted."""
    found = _COMT.get(_genotype_key(text, "rs4680"))
    if found is None:
        raise PgxError("COMT: rs4680 genotype must be Val/Val, Val/Met or Met/Met (or G/G, A/G, A/A)")
    return cast(ComtGenotype, found)
