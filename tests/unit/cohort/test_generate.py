"""generate_cohort: determinism, chunking, columns and dtypes, arguments, metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from precisionpain.catalog.loader import load_treatment_options
from precisionpain.cohort import COHORT_SCHEMA_VERSION, cohort_metadata, dgp_fingerprint, generate_cohort
from precisionpain.errors import ConfigError
from precisionpain.features.frame import flat_columns

FAMILIES = (
    "true_p_response__",
    "true_response__",
    "true_adverse_event__",
    "true_dropout__",
    "true_propensity__",
    "true_p_adverse_event__",
    "true_p_dropout__",
)


def test_same_seed_identical_and_different_seed_differs() -> None:
    a = generate_cohort(1200, 5, chunk_size=500)
    b = generate_cohort(1200, 5, chunk_size=500)
    pd.testing.assert_frame_equal(a, b)
    c = generate_cohort(1200, 6, chunk_size=500)
    assert not a["age_years"].equals(c["age_years"])
    assert not a["true_p_response__codeine"].equals(c["true_p_response__codeine"])


def test_complete_chunks_do_not_depend_on_n() -> None:
    short = generate_cohort(2300, 3, chunk_size=1000)
    long = generate_cohort(3000, 3, chunk_size=1000)
    pd.testing.assert_frame_equal(short.iloc[:2000], long.iloc[:2000])
    assert long["patient_id"].iloc[2000] == "SYN-0002001"
    assert short["patient_id"].iloc[-1] == "SYN-0002300"


def test_identical_parquet_files(tmp_path: Path) -> None:
    df = generate_cohort(800, 9, chunk_size=300)
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for path in paths:
        table = pa.Table.from_pandas(generate_cohort(800, 9, chunk_size=300), preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"k": b"v"})
        pq.write_table(table, path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    back = pq.read_table(paths[0]).to_pandas()
    pd.testing.assert_frame_equal(back, df, check_dtype=False)


def test_progress_reports_rows_finished() -> None:
    seen: list[int] = []
    generate_cohort(2500, 1, chunk_size=1000, progress=seen.append)
    assert seen == [1000, 2000, 2500]


def test_columns_and_dtypes(cohort: pd.DataFrame, feature_catalog: Any, option_catalog: Any) -> None:
    flat = flat_columns(feature_catalog)
    assert list(cohort.columns[: 1 + len(flat)]) == ["patient_id", *flat]
    assert {"assigned_option", "responded", "true_p_natural_course", "true_p_placebo"} <= set(cohort.columns)
    for prefix in FAMILIES:
        assert [c for c in cohort.columns if c.startswith(prefix)] == [
            f"{prefix}{o}" for o in option_catalog.ids
        ]
    training_visible = [c for c in cohort.columns if not c.startswith("true_")]
    assert training_visible == ["patient_id", *flat, "assigned_option", "responded"]
    assert cohort["age_years"].dtype == np.float64 and cohort["pcs_total"].dtype == np.float64
    assert cohort["diabetes"].dtype == "boolean"
    assert pd.api.types.is_string_dtype(cohort["sex"]) and pd.api.types.is_string_dtype(
        cohort["cyp2d6_diplotype"]
    )
    assert cohort["responded"].dtype == np.int8 and cohort["true_response__codeine"].dtype == np.int8
    assert cohort["patient_id"].is_unique
    assert cohort["patient_id"].str.fullmatch(r"SYN-\d{7}").all()
    assert cohort["patient_id"].iloc[0] == "SYN-0000001"


def test_zero_patients_gives_empty_frame_with_columns() -> None:
    empty = generate_cohort(0, 1)
    assert len(empty) == 0
    assert "true_p_response__codeine" in empty.columns and "age_years" in empty.columns


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"n": -1, "seed": 1}, "n"),
        ({"n": 10, "seed": -3}, "seed"),
        ({"n": 10, "seed": 1.5}, "seed"),
        ({"n": True, "seed": 1}, "n"),
        ({"n": 10, "seed": 1, "chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        generate_cohort(**kwargs)
    assert [v.path for v in info.value.violations] == [path]


def _options_copy(root: Path, keep: list[str] | None = None, extra: dict[str, Any] | None = None) -> Path:
    path = root / "models" / "treatment_options.yaml"
    data = yaml.safe_load(path.read_text())
    if keep is not None:
        data["options"] = [o for o in data["options"] if o["id"] in keep]
    if extra is not None:
        data["options"].append(extra)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return root


def test_unknown_option_is_a_config_error(catalog_copy: Path) -> None:
    extra = {"id": "acupuncture", "display_name": "Acupuncture", "class": "physical", "modality": "non_drug",
             "genes": [], "description": "Needling."}  # fmt: skip
    options = load_treatment_options(_options_copy(catalog_copy, extra=extra))
    with pytest.raises(ConfigError) as info:
        generate_cohort(10, 1, options=options)
    assert [v.path for v in info.value.violations] == ["options.acupuncture"]


def test_subset_of_options(catalog_copy: Path) -> None:
    keep = ["codeine", "physical_therapy", "guided_icbt"]
    options = load_treatment_options(_options_copy(catalog_copy, keep=keep))
    df = generate_cohort(500, 2, options=options)
    assert set(df["assigned_option"].unique()) <= set(keep)
    prop = df[[f"true_propensity__{o}" for o in keep]].to_numpy()
    np.testing.assert_allclose(prop.sum(axis=1), 1.0)
    assert "true_p_response__oxycodone" not in df.columns


def test_metadata() -> None:
    meta = cohort_metadata(1000, 7)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    assert meta["precisionpain.cohort.schema_version"] == COHORT_SCHEMA_VERSION
    assert meta["precisionpain.cohort.n"] == "1000" and meta["precisionpain.cohort.seed"] == "7"
    assert meta["precisionpain.cohort.chunk_size"] == "100000"
    assert meta["precisionpain.cohort.dgp_sha256"] == dgp_fingerprint()
    assert cohort_metadata(1000, 8)["precisionpain.cohort.seed"] == "8"
    with pytest.raises(ConfigError):
        cohort_metadata(-5, 7)
