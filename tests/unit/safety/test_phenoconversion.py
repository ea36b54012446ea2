"""Phenoconversion: activity score x inhibitor multiplier, re-read with the CPIC ranges; phenotype-only mapping;
the CPIC lookup score; both readings kept."""

from __future__ import annotations

import pytest

from precisionpain.pgx.cpic import cpic_guidance
from precisionpain.pgx.phenoconversion import (
    Inhibitor,
    InhibitorStrength,
    functional_pgx,
    functional_phenotype,
)
from precisionpain.schema import GeneResult, Pgx


@pytest.fixture(scope="module")
def method(safety_catalogs):  # type: ignore[no-untyped-def]
    return safety_catalogs.rules.method


def _inh(name: str, gene: str, strength: str) -> Inhibitor:
    return Inhibitor(medication=name, gene=gene, strength=InhibitorStrength(strength))


@pytest.mark.parametrize(
    ("diplotype", "strength", "phenotype", "score"),
    [
        ("*1/*1", "strong", "Poor Metabolizer", "0.0"),
        ("*1/*1", "moderate", "Intermediate Metabolizer", "1.0"),
        ("*1/*1", "weak", "Normal Metabolizer", "2.0"),
        ("*1/*41", "moderate", "Intermediate Metabolizer", "0.625"),  # 1.25 x 0.5
        ("*1/*1x2", "moderate", "Normal Metabolizer", "1.5"),
        ("*4/*4", "strong", "Poor Metabolizer", "0.0"),
    ],
)
def test_cyp2d6_score_times_multiplier(method, pgx_tables, diplotype, strength, phenotype, score) -> None:  # type: ignore[no-untyped-def]
    g = functional_phenotype(
        "CYP2D6", GeneResult(diplotype=diplotype), [_inh("x", "CYP2D6", strength)], method, pgx_tables
    )
    assert (g.functional_phenotype, g.functional_activity_score) == (phenotype, score)
    assert g.phenoconverted == (g.genotype_phenotype != phenotype)


def test_both_readings_and_the_inhibitor_are_kept(method, pgx_tables) -> None:  # type: ignore[no-untyped-def]
    g = functional_phenotype(
        "CYP2D6", GeneResult(diplotype="*1/*1"), [_inh("paroxetine", "CYP2D6", "strong")], method, pgx_tables
    )
    assert g.genotype_phenotype == "Normal Metabolizer" and g.genotype_activity_score == "2.0"
    assert g.describe() == "CYP2D6: genotype Normal Metabolizer; functional Poor Metabolizer with paroxetine"


def test_strongest_inhibitor_counts_and_other_genes_are_untouched(method, pgx_tables) -> None:  # type: ignore[no-untyped-def]
    inhibitors = [_inh("sertraline", "CYP2D6", "weak"), _inh("duloxetine", "CYP2D6", "moderate"),
                  _inh("omeprazole", "CYP2C19", "moderate")]
    g = functional_phenotype("CYP2D6", GeneResult(diplotype="*1/*1"), inhibitors, method, pgx_tables)
    assert g.functional_phenotype == "Intermediate Metabolizer" and g.inhibitors == ("duloxetine",)


def test_phenotype_only_mapping(method, pgx_tables) -> None:  # type: ignore[no-untyped-def]
    nm = GeneResult(phenotype="Normal Metabolizer")
    strong = functional_phenotype("CYP2C19", nm, [_inh("fluvoxamine", "CYP2C19", "strong")], method, pgx_tables)
    moderate = functional_phenotype("CYP2C19", nm, [_inh("omeprazole", "CYP2C19", "moderate")], method, pgx_tables)
    um = functional_phenotype(
        "CYP2D6", GeneResult(phenotype="Ultrarapid Metabolizer"), [_inh("d", "CYP2D6", "moderate")], method, pgx_tables
    )
    assert (strong.functional_phenotype, moderate.functional_phenotype) == ("Poor Metabolizer", "Intermediate Metabolizer")
    assert um.functional_phenotype == "Normal Metabolizer"


def test_cyp2c9_score_between_ranges_reads_lower(method, pgx_tables) -> None:  # type: ignore[no-untyped-def]
    g = functional_phenotype(
        "CYP2C9", GeneResult(diplotype="*1/*2"), [_inh("fluconazole", "CYP2C9", "moderate")], method, pgx_tables
    )
    assert g.genotype_activity_score == "1.5"
    assert (g.functional_activity_score, g.functional_phenotype) == ("0.75", "Poor Metabolizer")
    assert g.lookup_activity_score == "0.5"


def test_cyp2c9_intermediate_without_score_assumes_1(method, pgx_tables) -> None:  # type: ignore[no-untyped-def]
    out = functional_pgx(Pgx(cyp2c9=GeneResult(phenotype="Intermediate Metabolizer")), [], method, pgx_tables)
    g = out.gene("CYP2C9")
    assert g is not None and g.assumed_score and g.lookup_activity_score == "1.0" and not g.phenoconverted
    # before: CPIC's IM rows differ by score, so nothing could be returned for meloxicam
    assert cpic_guidance("meloxicam", Pgx(cyp2c9=GeneResult(phenotype="Intermediate Metabolizer")), tables=pgx_tables) == ()
    (after,) = cpic_guidance("meloxicam", out.pgx, tables=pgx_tables)
    assert after.lookup["CYP2C9"] == "1.0"


def test_functional_pgx_drives_the_cpic_lookup(method, pgx_tables) -> None:  # type: ignore[no-untyped-def]
    pgx = Pgx(cyp2d6=GeneResult(diplotype="*1/*1"))
    out = functional_pgx(pgx, [_inh("paroxetine", "CYP2D6", "strong")], method, pgx_tables)
    (genotype,) = cpic_guidance("codeine", pgx, tables=pgx_tables)
    (functional,) = cpic_guidance("codeine", out.pgx, tables=pgx_tables)
    assert genotype.action_code.value == "USE_LABEL_DOSING" and functional.action_code.value == "AVOID"


def test_untested_gene_and_no_inhibitor_are_unchanged(method, pgx_tables) -> None:  # type: ignore[no-untyped-def]
    pgx = Pgx(cyp2d6=GeneResult(diplotype="*1/*4"))
    out = functional_pgx(pgx, [], method, pgx_tables)
    assert out.pgx is pgx and not any(g.phenoconverted for g in out.genes)
    untested = functional_pgx(Pgx(), [_inh("paroxetine", "CYP2D6", "strong")], method, pgx_tables).gene("CYP2D6")
    assert untested is not None and untested.functional_phenotype is None and "not tested" in untested.note
