"""Pharmacogenomics: diplotype -> CPIC activity score -> phenotype, CPIC guidance lookup, PharmCAT import.

Importing this package reads no file; the CPIC tables in features/pgx/ are loaded on first use (or passed in
as ``tables=``).
"""

from __future__ import annotations

from precisionpain.pgx.cpic import (
    CpicGuidance,
    CpicLookup,
    UnresolvedGuidance,
    cpic_guidance,
    cpic_lookup,
    drugs,
    guidance_for_profile,
    lookup_for_profile,
)
from precisionpain.pgx.lab_table import TableRowMessage, TranslatedTable, translate_table
from precisionpain.pgx.markers import (
    hla_status_from_diplotype,
    hla_status_from_phenotype,
    normalize_comt_genotype,
    normalize_oprm1_genotype,
)
from precisionpain.pgx.merge import merge_pgx
from precisionpain.pgx.pharmcat_import import (
    PharmcatImport,
    pgx_from_pharmcat_outside_calls,
    pgx_from_pharmcat_phenotype,
    read_pharmcat_outside_calls,
    read_pharmcat_phenotype,
)
from precisionpain.pgx.resolve import ResolvedGene, resolve_gene
from precisionpain.pgx.tables import ActionCode
from precisionpain.pgx.translate import (
    Translation,
    normalize_phenotype,
    phenotype_from_activity_score,
    translate_diplotype,
)

__all__ = [
    "ActionCode",
    "CpicGuidance",
    "CpicLookup",
    "PharmcatImport",
    "ResolvedGene",
    "TableRowMessage",
    "TranslatedTable",
    "Translation",
    "UnresolvedGuidance",
    "cpic_guidance",
    "cpic_lookup",
    "drugs",
    "guidance_for_profile",
    "hla_status_from_diplotype",
    "hla_status_from_phenotype",
    "lookup_for_profile",
    "merge_pgx",
    "normalize_comt_genotype",
    "normalize_oprm1_genotype",
    "normalize_phenotype",
    "pgx_from_pharmcat_outside_calls",
    "pgx_from_pharmcat_phenotype",
    "phenotype_from_activity_score",
    "read_pharmcat_outside_calls",
    "read_pharmcat_phenotype",
    "resolve_gene",
    "translate_diplotype",
    "translate_table",
]
