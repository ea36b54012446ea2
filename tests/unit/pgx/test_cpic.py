"""CPIC guidance lookup: every row of recommendations.tsv is reachable, plus clinically known facts."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from precisionpain.errors import PgxError, ValidationError
from precisionpain.pgx import (
    ActionCode,
    CpicGuidance,
    cpic_guidance,
    cpic_lookup,
    drugs,
    guidance_for_profile,
    lookup_for_profile,
)
from precisionpain.schema import GeneResult, HlaStatus, PatientProfile, Pgx

REPO = Path(__file__).resolve().parents[3]
TSV = REPO / "features" / "pgx" / "recommendations.tsv"


def _table_rows() -> list[dict[str, str]]:
    with TSV.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


ROWS = _table_rows()
DRUGS = list(dict.fromkeys(r["drug"] for r in ROWS))
FIELD = {"CYP2D6": "cyp2d6", "CYP2C9": "cyp2c9", "CYP2C19": "cyp2c19"}


def _keys(row: dict[str, str]) -> dict[str, str]:
    return dict(part.split("=", 1) for part in row["lookup_key"].split("|"))


def pgx_for_keys(keys: dict[str, str]) -> Pgx | None:
    """A Pgx whose CPIC keys are ``keys``; None when a key cannot be expressed (CYP2B6 is not collected)."""
    values: dict[str, Any] = {}
    for gene, key in keys.items():
        if key == "No Result":
            continue
        if key == "any" and gene == "CYP2D6":
            values["cyp2d6"] = GeneResult(diplotype="*1/*4")
        elif gene in ("CYP2D6", "CYP2C9"):
            values[FIELD[gene]] = (
                GeneResult(phenotype="Indeterminate") if key == "n/a" else GeneResult(activity_score=key)
            )
        elif gene == "CYP2C19":
            values["cyp2c19"] = GeneResult(phenotype=key)
        elif gene in ("HLA-A", "HLA-B"):
            values["hla_a_3101" if gene == "HLA-A" else "hla_b_1502"] = key.split()[1]
        elif gene == "OPRM1":
            values["oprm1_rs1799971"] = "A/G"
        elif gene == "COMT":
            values["comt_rs4680"] = "Val/Met"
        else:
            return None
    return Pgx(**values)


POPULATION_FLAGS = {
    "general": {},
    "CBZ naive": {},
    "CBZ use >3mos": {"prior_use_over_3_months": True},
    "CBZ-no alternatives": {"alternatives_available": False},
    "OXC naive": {},
    "OXC use >3 mos": {"prior_use_over_3_months": True},
}


def test_drugs_lists_every_drug_in_the_table(pgx_tables) -> None:
    assert list(drugs(pgx_tables)) == DRUGS
    assert len(DRUGS) == 20  # 19 with CPIC recommendations + oxycodone (no recommendation)


@pytest.mark.parametrize("drug", DRUGS)
def test_every_reachable_row_of_the_drug_is_found(drug: str, pgx_tables) -> None:
    rows = [r for r in ROWS if r["drug"] == drug]
    reached = 0
    for row in rows:
        keys = _keys(row)
        pgx = pgx_for_keys(keys)
        if pgx is None:
            continue
        found = cpic_guidance(drug, pgx, tables=pgx_tables, **POPULATION_FLAGS[row["population"]])
        same_genes = [g for g in found if set(g.genes) == set(keys)]
        assert len(same_genes) == 1, (drug, row["lookup_key"], row["population"])
        g = same_genes[0]
        assert g.action_code == row["action_code"]
        assert g.recommendation == row["recommendation"]
        assert g.classification == row["classification"]
        assert g.population == row["population"]
        assert g.lookup == keys
        assert g.dose_adjustment == tuple(t for t in row["dose_adjustment"].split(";") if t)
        assert g.guideline == row["guideline"] and g.cpic_data_version == row["cpic_data_version"]
        reached += 1
    unreachable = {r["lookup_key"] for r in rows} - {r["lookup_key"] for r in rows if pgx_for_keys(_keys(r))}
    assert all("CYP2B6=" in k and "CYP2B6=No Result" not in k for k in unreachable)
    assert reached > 0


# -------------------------------------------------------------------------------------- clinical facts


def _one(drug: str, pgx: Pgx, tables: Any, **flags: Any) -> CpicGuidance:
    found = [g for g in cpic_guidance(drug, pgx, tables=tables, **flags) if g.has_recommendation]
    assert len(found) == 1, found
    return found[0]


def test_cyp2d6_poor_metabolizer_avoids_codeine_strongly(pgx_tables) -> None:
    g = _one("codeine", Pgx(cyp2d6=GeneResult(diplotype="*4/*4")), pgx_tables)
    assert g.action_code is ActionCode.AVOID
    assert g.classification == "Strong"
    assert g.phenotypes == {"CYP2D6": "Poor Metabolizer (activity score 0.0)"}
    assert g.lookup == {"CYP2D6": "0.0"}
    assert g.guideline_url.startswith("https://cpicpgx.org/")
    assert any(p.startswith("PMID:") for p in g.publications)


@pytest.mark.parametrize("diplotype", ["*1/*1x2", "*1/*2x≥3", "*2x2/*17"])
def test_cyp2d6_ultrarapid_avoids_tramadol(diplotype: str, pgx_tables) -> None:
    g = _one("tramadol", Pgx(cyp2d6=GeneResult(diplotype=diplotype)), pgx_tables)
    assert g.action_code is ActionCode.AVOID
    assert g.phenotypes["CYP2D6"].startswith("Ultrarapid Metabolizer")


def test_cyp2c9_poor_metabolizer_nsaids(pgx_tables) -> None:
    pm = Pgx(cyp2c9=GeneResult(diplotype="*3/*3"))
    assert _one("meloxicam", pm, pgx_tables).action_code is ActionCode.AVOID
    celecoxib = _one("celecoxib", pm, pgx_tables)
    assert celecoxib.action_code is ActionCode.REDUCE_DOSE
    assert "start_25-50pct_of_lowest_dose" in celecoxib.dose_adjustment


def test_hla_b_1502_and_carbamazepine(pgx_tables) -> None:
    positive = Pgx(hla_b_1502=HlaStatus.positive, hla_a_3101=HlaStatus.negative)
    naive = _one("carbamazepine", positive, pgx_tables)
    assert (naive.action_code, naive.classification, naive.population) == (
        ActionCode.AVOID,
        "Strong",
        "CBZ naive",
    )
    assert naive.phenotypes == {"HLA-A": "HLA-A*31:01 negative", "HLA-B": "HLA-B*15:02 positive"}
    prior = _one("carbamazepine", positive, pgx_tables, prior_use_over_3_months=True)
    assert prior.action_code is ActionCode.USE_WITH_CAUTION
    assert prior.population == "CBZ use >3mos"
    # prior use wins over "no alternatives": the SJS/TEN risk window has passed
    both = _one(
        "carbamazepine", positive, pgx_tables, prior_use_over_3_months=True, alternatives_available=False
    )
    assert both.population == "CBZ use >3mos"


def test_hla_a_3101_without_alternatives_is_caution(pgx_tables) -> None:
    pgx = Pgx(hla_b_1502=HlaStatus.negative, hla_a_3101=HlaStatus.positive)
    assert _one("carbamazepine", pgx, pgx_tables).action_code is ActionCode.AVOID
    g = _one("carbamazepine", pgx, pgx_tables, alternatives_available=False)
    assert (g.action_code, g.population) == (ActionCode.USE_WITH_CAUTION, "CBZ-no alternatives")


def test_oxcarbazepine_populations(pgx_tables) -> None:
    pgx = Pgx(hla_b_1502=HlaStatus.positive)
    assert _one("oxcarbazepine", pgx, pgx_tables).action_code is ActionCode.AVOID
    prior = _one("oxcarbazepine", pgx, pgx_tables, prior_use_over_3_months=True)
    assert (prior.action_code, prior.population) == (ActionCode.USE_WITH_CAUTION, "OXC use >3 mos")
    # CPIC has no "no alternatives" population for oxcarbazepine: the naive rows apply, and the note says so
    no_alt = _one("oxcarbazepine", pgx, pgx_tables, alternatives_available=False)
    assert no_alt.population == "OXC naive" and "no separate recommendation" in no_alt.note


def test_amitriptyline_cyp2d6_poor_and_cyp2c19_normal_avoids(pgx_tables) -> None:
    pgx = Pgx(cyp2d6=GeneResult(diplotype="*4/*5"), cyp2c19=GeneResult(diplotype="*1/*1"))
    g = _one("amitriptyline", pgx, pgx_tables)
    assert g.action_code is ActionCode.AVOID
    assert g.genes == ("CYP2D6", "CYP2C19")
    assert g.lookup == {"CYP2D6": "0.0", "CYP2C19": "Normal Metabolizer"}


def test_indeterminate_uses_the_na_key(pgx_tables) -> None:
    (g,) = cpic_guidance("codeine", Pgx(cyp2d6=GeneResult(diplotype="*1/*22")), tables=pgx_tables)
    assert g.lookup == {"CYP2D6": "n/a"}
    assert g.action_code is ActionCode.NO_RECOMMENDATION
    assert g.classification == "No Recommendation"
    assert g.phenotypes["CYP2D6"] == "Indeterminate (activity score n/a)"


def test_guidance_round_trips_through_json(pgx_tables) -> None:
    pgx = Pgx(cyp2d6=GeneResult(diplotype="*1/*4"), cyp2c19=GeneResult(diplotype="*2/*17"))
    for g in cpic_guidance("amitriptyline", pgx, tables=pgx_tables):
        assert CpicGuidance.model_validate_json(g.model_dump_json()) == g


# -------------------------------------------------------------------------------------- phenotype only


def test_phenotype_only_returns_guidance_when_rows_agree(pgx_tables) -> None:
    im = Pgx(cyp2d6=GeneResult(phenotype="Intermediate Metabolizer"))
    g = _one("codeine", im, pgx_tables)
    assert g.action_code is ActionCode.USE_LABEL_DOSING
    assert g.lookup == {"CYP2D6": "Intermediate Metabolizer"}
    assert g.phenotypes == {"CYP2D6": "Intermediate Metabolizer (activity score not given)"}
    assert "0.25, 0.5, 0.75, 1.0" in g.note
    um = Pgx(cyp2d6=GeneResult(phenotype="UM"))
    assert _one("codeine", um, pgx_tables).action_code is ActionCode.AVOID
    pm = Pgx(cyp2c9=GeneResult(phenotype="Poor Metabolizer"))  # AS 0.0 and 0.5 rows agree
    assert _one("celecoxib", pm, pgx_tables).action_code is ActionCode.REDUCE_DOSE


def test_phenotype_only_shows_the_weaker_classification_when_rows_differ_only_in_strength(pgx_tables) -> None:
    im = Pgx(cyp2d6=GeneResult(phenotype="Intermediate Metabolizer"))
    g = _one("nortriptyline", im, pgx_tables)
    assert g.action_code is ActionCode.REDUCE_DOSE
    assert g.classification == "Optional"  # rows 0.25/0.5 are Moderate, 0.75/1.0 Optional
    assert "Moderate or Optional" in g.note


@pytest.mark.parametrize("drug", ["celecoxib", "ibuprofen", "meloxicam", "piroxicam", "tenoxicam"])
def test_phenotype_only_returns_nothing_when_rows_disagree(drug: str, pgx_tables) -> None:
    im = Pgx(cyp2c9=GeneResult(phenotype="Intermediate Metabolizer"))
    out = cpic_lookup(drug, im, tables=pgx_tables)
    assert out.guidance == ()
    assert len(out.unresolved) == 1
    assert out.unresolved[0].genes == ("CYP2C9",)
    assert "activity score" in out.unresolved[0].reason
    # with the score the same patient gets guidance
    assert cpic_guidance(
        drug, Pgx(cyp2c9=GeneResult(phenotype="IM", activity_score="1.0")), tables=pgx_tables
    )


# -------------------------------------------------------------------------------------- untested genes


@pytest.mark.parametrize("drug", DRUGS)
def test_nothing_for_an_untested_patient(drug: str, pgx_tables) -> None:
    out = cpic_lookup(drug, Pgx(), tables=pgx_tables)
    assert out.guidance == () and out.unresolved == ()


def test_single_gene_drug_without_that_gene_gets_nothing(pgx_tables) -> None:
    assert cpic_guidance("codeine", Pgx(cyp2c19=GeneResult(diplotype="*1/*1")), tables=pgx_tables) == ()
    assert cpic_guidance("oxcarbazepine", Pgx(hla_a_3101=HlaStatus.positive), tables=pgx_tables) == ()


def test_no_result_keys_for_untested_genes(pgx_tables) -> None:
    ami = _one("amitriptyline", Pgx(cyp2c19=GeneResult(diplotype="*2/*2")), pgx_tables)
    assert ami.lookup == {"CYP2D6": "No Result", "CYP2C19": "Poor Metabolizer"}
    assert ami.phenotypes["CYP2D6"] == "not tested"
    cbz = _one("carbamazepine", Pgx(hla_a_3101=HlaStatus.negative), pgx_tables)
    assert cbz.lookup == {"HLA-A": "*31:01 negative", "HLA-B": "No Result"}
    assert cbz.action_code is ActionCode.USE_LABEL_DOSING
    sertraline = _one("sertraline", Pgx(cyp2c19=GeneResult(phenotype="Poor Metabolizer")), pgx_tables)
    assert sertraline.lookup == {"CYP2C19": "Poor Metabolizer", "CYP2B6": "No Result"}


# -------------------------------------------------------------------------------------- OPRM1, COMT, oxycodone


def test_oprm1_and_comt_are_reported_as_no_recommendation(pgx_tables) -> None:
    pgx = Pgx(cyp2d6=GeneResult(diplotype="*1/*1"), oprm1_rs1799971="G/G", comt_rs4680="Met/Met")
    found = {g.genes: g for g in cpic_guidance("codeine", pgx, tables=pgx_tables)}
    assert set(found) == {("CYP2D6",), ("OPRM1",), ("COMT",)}
    for genes in (("OPRM1",), ("COMT",)):
        assert found[genes].action_code is ActionCode.NO_RECOMMENDATION
        assert not found[genes].has_recommendation
        assert found[genes].lookup == {genes[0]: "any"}
    assert found[("OPRM1",)].phenotypes == {"OPRM1": "rs1799971 G/G"}
    assert found[("CYP2D6",)].has_recommendation
    # without the genotypes there is nothing to report about them
    only_cyp = cpic_guidance("codeine", Pgx(cyp2d6=GeneResult(diplotype="*1/*1")), tables=pgx_tables)
    assert [g.genes for g in only_cyp] == [("CYP2D6",)]


def test_oxycodone_has_no_cpic_recommendation(pgx_tables) -> None:
    found = cpic_guidance("oxycodone", Pgx(cyp2d6=GeneResult(diplotype="*4/*4")), tables=pgx_tables)
    assert [(g.genes, g.action_code) for g in found] == [(("CYP2D6",), ActionCode.NO_RECOMMENDATION)]


def test_a_diplotype_without_cpic_phenotype_is_unresolved_with_a_reason(pgx_tables) -> None:
    pgx = Pgx(cyp2d6=GeneResult(diplotype="*1/*150"))
    out = cpic_lookup("codeine", pgx, tables=pgx_tables)
    assert out.guidance == ()
    assert "no phenotype" in out.unresolved[0].reason
    # CPIC's "any" rows still apply
    assert cpic_guidance("oxycodone", pgx, tables=pgx_tables)[0].lookup == {"CYP2D6": "any"}


# -------------------------------------------------------------------------------------- errors


def test_unreadable_results_raise_without_echoing_values(pgx_tables) -> None:
    pgx = Pgx(cyp2d6=GeneResult(diplotype="*1/*999"), cyp2c19=GeneResult(diplotype="*2/*2", phenotype="UM"))
    with pytest.raises(ValidationError) as err:
        cpic_guidance("amitriptyline", pgx, tables=pgx_tables)
    paths = {v.path for v in err.value.violations}
    assert paths == {"pgx.cyp2d6.diplotype", "pgx.cyp2c19.phenotype"}
    assert "*999" not in str(err.value) and "UM" not in str(err.value)


def test_unknown_drug(pgx_tables) -> None:
    with pytest.raises(PgxError, match="not in the CPIC recommendation table"):
        cpic_guidance("aspirin", Pgx(), tables=pgx_tables)
    assert cpic_guidance(" Codeine ", Pgx(cyp2d6=GeneResult(diplotype="*4/*4")), tables=pgx_tables)


def test_default_tables_are_used_when_none_given() -> None:
    assert (
        cpic_guidance("codeine", Pgx(cyp2d6=GeneResult(diplotype="*4/*4")))[0].action_code is ActionCode.AVOID
    )


# -------------------------------------------------------------------------------------- whole profile


def _profile(**pgx: Any) -> PatientProfile:
    clinical = {"age_years": 50, "sex": "female", "pain_type": "neuropathic", "baseline_nrs": 6}
    clinical.update(pgx.pop("clinical", {}))
    return PatientProfile.model_validate({"clinical": clinical, "pgx": pgx})


def test_guidance_for_profile_covers_all_drugs(pgx_tables) -> None:
    raw = json.loads((REPO / "examples" / "patients" / "cyp2d6_poor_metabolizer.json").read_text())
    profile = PatientProfile.model_validate(raw)
    found = guidance_for_profile(profile, pgx_tables)
    by_drug = {(g.drug, g.genes): g for g in found}
    assert by_drug[("codeine", ("CYP2D6",))].action_code is ActionCode.AVOID
    assert by_drug[("tramadol", ("CYP2D6",))].action_code is ActionCode.AVOID
    assert by_drug[("carbamazepine", ("HLA-A", "HLA-B"))].action_code is ActionCode.USE_LABEL_DOSING
    assert by_drug[("codeine", ("OPRM1",))].action_code is ActionCode.NO_RECOMMENDATION
    assert {g.drug for g in found} == set(DRUGS)  # this patient was tested for every gene the table needs
    # the same as asking drug by drug
    for drug in DRUGS:
        assert tuple(g for g in found if g.drug == drug) == cpic_guidance(
            drug, profile.pgx, tables=pgx_tables
        )


def test_profile_prior_use_flag_applies_to_carbamazepine_only(pgx_tables) -> None:
    profile = _profile(hla_b_1502="positive", clinical={"carbamazepine_prior_use_over_3_months": True})
    found = {g.drug: g for g in guidance_for_profile(profile, pgx_tables)}
    assert found["carbamazepine"].action_code is ActionCode.USE_WITH_CAUTION
    assert found["oxcarbazepine"].action_code is ActionCode.AVOID
    assert found["oxcarbazepine"].population == "OXC naive"


def test_lookup_for_profile_reports_unresolved_groups(pgx_tables) -> None:
    out = lookup_for_profile(_profile(cyp2c9={"phenotype": "Intermediate Metabolizer"}), pgx_tables)
    assert {u.drug for u in out.unresolved} == {
        "celecoxib", "flurbiprofen", "ibuprofen", "lornoxicam", "meloxicam", "piroxicam", "tenoxicam"
    }  # fmt: skip
    assert out.guidance == ()
