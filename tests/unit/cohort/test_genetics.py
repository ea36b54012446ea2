"""Genotype sampling: CPIC frequencies by group, only translatable alleles, HLA/OPRM1/COMT by group."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from precisionpain.cohort.genetics import GenotypeModel
from precisionpain.cohort.population import GROUPS
from precisionpain.pgx.translate import translate_diplotype


def _draw(pgx_tables: Any, group: str, n: int = 20000) -> Any:
    model = GenotypeModel(pgx_tables)
    return model.draw(np.random.default_rng(3), np.full(n, GROUPS.index(group)))


def _allele_share(diplotypes: np.ndarray, allele: str) -> float:
    alleles = pd.Series(diplotypes).str.split("/", expand=True)
    return float(((alleles[0] == allele).sum() + (alleles[1] == allele).sum()) / (2 * len(alleles)))


def test_only_known_alleles_and_renormalized(pgx_tables: Any) -> None:
    model = GenotypeModel(pgx_tables)
    for gene, probs in model.probs.items():
        np.testing.assert_allclose(probs.sum(axis=1), 1.0)
        known = pgx_tables.allele_functions[gene]
        assert all(a in known for a in model.alleles[gene])


def test_drawn_diplotypes_translate_to_the_same_reading(pgx_tables: Any) -> None:
    geno = _draw(pgx_tables, "european", 3000)
    calls = geno.cyp["CYP2D6"]
    for dip in pd.unique(calls.diplotype)[:200]:
        tr = translate_diplotype("CYP2D6", str(dip), pgx_tables)
        rows = calls.diplotype == dip
        assert tr.diplotype == dip
        assert set(calls.phenotype[rows]) == {tr.phenotype}


def test_cyp2d6_population_patterns(pgx_tables: Any) -> None:
    eur = _draw(pgx_tables, "european").cyp["CYP2D6"]
    eas = _draw(pgx_tables, "east_asian").cyp["CYP2D6"]
    assert _allele_share(eur.diplotype, "*4") > 0.12  # *4 common in Europeans
    assert _allele_share(eas.diplotype, "*10") > 0.3  # *10 common in East Asians
    pm_eur = np.mean(eur.phenotype == "Poor Metabolizer")
    pm_eas = np.mean(eas.phenotype == "Poor Metabolizer")
    assert 0.03 < pm_eur < 0.12 and pm_eas < 0.03  # PM 5-10% Europeans, 1-2% East Asians


def test_cyp2c19_europeans_match_published_phenotypes(pgx_tables: Any) -> None:
    calls = _draw(pgx_tables, "european").cyp["CYP2C19"]
    shares = pd.Series(calls.phenotype).str.replace("Likely ", "").value_counts(normalize=True)
    assert abs(shares["Normal Metabolizer"] - 0.406) < 0.03
    assert abs(shares["Rapid Metabolizer"] - 0.276) < 0.03
    assert abs(shares["Intermediate Metabolizer"] - 0.248) < 0.03
    assert abs(shares["Poor Metabolizer"] - 0.021) < 0.01


def test_hla_and_oprm1_by_group(pgx_tables: Any) -> None:
    eur = _draw(pgx_tables, "european")
    eas = _draw(pgx_tables, "east_asian")
    assert eas.hla_b_1502.mean() > 0.04 and eur.hla_b_1502.mean() < 0.01
    assert eur.hla_a_3101.mean() > 0.02
    assert abs(eur.oprm1_g.mean() / 2 - 0.15) < 0.02 and abs(eas.oprm1_g.mean() / 2 - 0.40) < 0.02
    comt = np.bincount(eur.comt, minlength=3) / len(eur.comt)
    np.testing.assert_allclose(comt, [0.25, 0.41, 0.34], atol=0.02)
