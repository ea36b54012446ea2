"""The recorded columns: valid for the feature layer, realistic missingness, PGx reports faithful to the truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from precisionpain.features.assemble import assemble_features
from precisionpain.features.frame import flat_columns
from precisionpain.features.validate import frame_violations


def test_frame_validates_and_assembles(cohort: pd.DataFrame, feature_catalog: Any, pgx_tables: Any) -> None:
    profile = cohort[list(flat_columns(feature_catalog))]
    assert frame_violations(profile, feature_catalog, pgx_tables) == []
    matrix = assemble_features(cohort, feature_catalog, pgx_tables)
    assert matrix.values.shape == (len(cohort), len(feature_catalog.feature_ids))
    frame = matrix.to_frame()
    assert frame["pain_type_neuropathic"].sum() == (cohort["pain_type"] == "neuropathic").sum()
    assert not frame["age_years"].isna().any()
    # the assembled CYP2D6 phenotype agrees with the hidden truth wherever the gene is reported
    shown = frame["cyp2d6_phenotype_ordinal"].notna().to_numpy()
    assert shown.mean() > 0.3
    pm = (cohort["true_cyp2d6_phenotype"] == "Poor Metabolizer").to_numpy()
    assert (frame["cyp2d6_phenotype_ordinal"].to_numpy()[shown & pm] == 0).all()


def test_required_fields_never_missing(cohort: pd.DataFrame, feature_catalog: Any) -> None:
    for spec in feature_catalog.fields:
        if spec.field.missing.value == "required":
            assert cohort[spec.id].notna().all(), spec.id


def test_values_inside_catalog_ranges_and_levels(cohort: pd.DataFrame, feature_catalog: Any) -> None:
    for spec in feature_catalog.fields:
        f = spec.field
        if f.id not in cohort.columns:
            continue
        col = cohort[f.id].dropna()
        if f.valid_range is not None:
            lo, hi = f.valid_range
            assert col.between(lo, hi).all(), f.id
        if f.levels is not None:
            assert set(col.unique()) <= set(f.levels), f.id
        if f.type.value == "integer":
            assert (col == np.round(col)).all(), f.id


def test_realistic_missingness(cohort: pd.DataFrame) -> None:
    missing = cohort.isna().mean()
    for col in ("hs_crp_mg_per_l", "il6_pg_per_ml", "bdnf_ng_per_ml", "hrv_rmssd_ms", "steps_per_day"):
        assert 0.3 < missing[col] < 0.95, col
    for col in ("pcs_total", "phq9_total", "pseq_total", "gad7_total", "pain_duration_months"):
        assert 0.03 < missing[col] < 0.4, col
    for col in ("cyp2d6_diplotype", "cyp2c9_phenotype", "oprm1_rs1799971"):
        assert 0.2 < missing[col] < 0.9, col
    assert missing["cyp2c19_activity_score"] == 1.0  # CPIC defines no activity score for CYP2C19
    assert (cohort["hla_b_1502"] == "not_tested").mean() > 0.3
    # a questionnaire total is either fully there or the item with it (PHQ-9 item 9 goes with the total)
    assert (cohort["phq9_item9"].isna() == cohort["phq9_total"].isna()).all()
    assert (cohort["phq9_item9"].fillna(0) <= cohort["phq9_total"].fillna(27)).all()


def test_pgx_report_patterns(cohort: pd.DataFrame) -> None:
    dip = cohort["cyp2d6_diplotype"].notna()
    phe = cohort["cyp2d6_phenotype"].notna()
    assert (dip & phe).mean() > 0.1  # full lab report
    assert (dip & ~phe).mean() > 0.05  # diplotype only
    assert (~dip & phe).mean() > 0.02  # phenotype only
    assert (~dip & ~phe).mean() > 0.3  # untested
    shown = cohort.loc[dip]
    assert (shown["cyp2d6_diplotype"] == shown["true_cyp2d6_diplotype"]).all()
    shown = cohort.loc[phe]
    assert (shown["cyp2d6_phenotype"] == shown["true_cyp2d6_phenotype"]).all()
    tested = cohort["hla_b_1502"] != "not_tested"
    assert (cohort.loc[tested, "hla_b_1502"] == cohort.loc[tested, "true_hla_b_1502"]).all()
    source = cohort["cyp2c9_source"]
    assert (source.notna() == (cohort["cyp2c9_diplotype"].notna() | cohort["cyp2c9_phenotype"].notna())).all()
    assert set(source.dropna().unique()) == {"lab", "pharmcat"}
