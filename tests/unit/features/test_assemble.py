"""assemble_features: one code path for one profile and for a table; catalog column order; encodings."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from precisionpain.errors import ProfileValidationError
from precisionpain.features.assemble import FeatureAssembler, assemble_features
from precisionpain.features.frame import flat_columns, profile_to_row, profiles_to_frame, row_to_profile_dict
from precisionpain.features.validate import validate_profile
from precisionpain.schema import FeatureVector
from tests.strategies import profile_dicts


def _profile(**clinical: Any) -> Any:
    base = {"age_years": 50, "sex": "female", "pain_type": "neuropathic", "baseline_nrs": 6}
    base.update(clinical)
    return base


def test_columns_follow_catalog_order(feature_catalog, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    fv = assemble_features(validate_profile(example_profile_dicts["cyp2d6_poor_metabolizer"]))
    assert fv.names == feature_catalog.feature_ids
    assert fv.catalog.sha256 == feature_catalog.sha256


def test_missing_are_nan_and_listed(example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    fv = assemble_features(validate_profile(example_profile_dicts["mostly_missing"]))
    nan_names = {n for n, v in zip(fv.names, fv.values, strict=True) if math.isnan(v)}
    assert nan_names == set(fv.missing)
    assert "age_years" not in fv.missing and "hs_crp_mg_per_l" in fv.missing
    assert fv.value("sex_female") == 0.0 and fv.value("pain_type_mixed") == 1.0


def test_pgx_encodings(example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    pm = assemble_features(validate_profile(example_profile_dicts["cyp2d6_poor_metabolizer"]))
    assert pm.value("cyp2d6_activity_score") == 0.0
    assert pm.value("cyp2d6_phenotype_ordinal") == 0.0
    assert pm.value("comt_met_allele_count") == 1.0
    um = assemble_features(validate_profile(example_profile_dicts["cyp2d6_ultrarapid_diabetic_neuropathy"]))
    assert um.value("cyp2d6_activity_score") == 3.0  # *1/*2x2 = 1 + 2
    assert um.value("cyp2d6_phenotype_ordinal") == 4.0
    assert um.value("cyp2c9_phenotype_ordinal") == 0.0
    hla = assemble_features(validate_profile(example_profile_dicts["hla_b_1502_carrier"]))
    assert hla.value("hla_b_1502_positive") == 1.0 and hla.value("hla_a_3101_positive") == 0.0
    assert hla.value("oprm1_g_allele_count") == 1.0
    ph = assemble_features(validate_profile(example_profile_dicts["phq9_item9_positive"]))
    assert math.isnan(ph.value("hla_b_1502_positive"))  # not tested -> missing
    assert ph.value("cyp2c19_phenotype_ordinal") == 3.0  # *1/*17 rapid


def test_at_least_scores_enter_as_lower_bound() -> None:
    p = validate_profile({"clinical": _profile(), "pgx": {"cyp2d6": {"diplotype": "*1/*1x≥3"}}})
    assert assemble_features(p).value("cyp2d6_activity_score") == 4.0


def test_phenotype_only_has_no_score() -> None:
    p = validate_profile({"clinical": _profile(), "pgx": {"cyp2d6": {"phenotype": "PM"}}})
    fv = assemble_features(p)
    assert fv.value("cyp2d6_phenotype_ordinal") == 0.0 and math.isnan(fv.value("cyp2d6_activity_score"))


def test_tsk_versions_share_one_feature() -> None:
    v11 = validate_profile({"clinical": _profile(), "psychosocial": {"tsk11_total": 44}})
    v17 = validate_profile({"clinical": _profile(), "psychosocial": {"tsk17_total": 17}})
    both = validate_profile({"clinical": _profile(), "psychosocial": {"tsk11_total": 11, "tsk17_total": 68}})
    assert assemble_features(v11).value("tsk_pct_of_range") == 100.0
    assert assemble_features(v17).value("tsk_pct_of_range") == 0.0
    assert assemble_features(both).value("tsk_pct_of_range") == 0.0  # TSK-11 wins


def test_feature_vector_json_round_trip(example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    fv = assemble_features(validate_profile(example_profile_dicts["mostly_missing"]))
    text = fv.model_dump_json()
    assert "NaN" not in text
    back = FeatureVector.model_validate_json(text)
    assert back.names == fv.names and back.missing == fv.missing
    np.testing.assert_array_equal(np.array(back.values), np.array(fv.values))


def test_batch_equals_single(feature_catalog) -> None:  # type: ignore[no-untyped-def]
    @settings(max_examples=15, deadline=None)
    @given(st.lists(profile_dicts(feature_catalog), min_size=1, max_size=80))
    def check(dicts: list[dict[str, Any]]) -> None:
        profiles = [validate_profile(d) for d in dicts]
        singles = np.array([assemble_features(p).values for p in profiles])
        frame = profiles_to_frame(profiles, feature_catalog)
        batch = assemble_features(frame).values
        np.testing.assert_array_equal(np.isnan(singles), np.isnan(batch))
        np.testing.assert_allclose(np.nan_to_num(singles), np.nan_to_num(batch), rtol=0, atol=0)

    check()


def test_flat_row_round_trip(feature_catalog, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    for data in example_profile_dicts.values():
        p = validate_profile(data)
        row = profile_to_row(p, feature_catalog)
        assert tuple(row) == flat_columns(feature_catalog)
        again = validate_profile(row_to_profile_dict(row, feature_catalog))
        # the flat form keeps each medicine's catalog name, not the RxCUI given beside it
        without_codes = p.model_copy(update={"medications": tuple(m.model_copy(update={"rxnorm": None}) for m in p.medications)})
        assert again.model_dump(exclude={"patient_ref"}) == without_codes.model_dump(exclude={"patient_ref"})


def test_frame_violations_name_columns_and_rows(feature_catalog, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    profiles = [validate_profile(d) for d in example_profile_dicts.values()]
    frame = profiles_to_frame(profiles, feature_catalog)
    frame.loc[2, "hs_crp_mg_per_l"] = 999.25
    frame.loc[1, "sex"] = "other"
    frame.loc[3, "cyp2d6_diplotype"] = "*1/*999"
    frame = frame.drop(columns=["baseline_nrs"])
    with pytest.raises(ProfileValidationError) as err:
        assemble_features(frame)
    paths = {v.path for v in err.value.violations}
    assert {"hs_crp_mg_per_l", "sex", "cyp2d6_diplotype", "baseline_nrs"} <= paths
    text = str(err.value)
    assert "rows 2" in text and "999.25" not in text and "*999" not in text


def test_sklearn_transformer(feature_catalog, example_profile_dicts) -> None:  # type: ignore[no-untyped-def]
    profiles = [validate_profile(d) for d in example_profile_dicts.values()]
    frame = profiles_to_frame(profiles, feature_catalog)
    tr = FeatureAssembler().fit(frame)
    out = tr.transform(frame)
    assert out.shape == (len(profiles), len(feature_catalog.features))
    assert list(tr.get_feature_names_out()) == list(feature_catalog.feature_ids)
    pd.testing.assert_frame_equal(
        pd.DataFrame(out), pd.DataFrame(assemble_features(frame).values)
    )
