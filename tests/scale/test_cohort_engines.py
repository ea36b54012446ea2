"""``precisionpain cohort --engine local|dask``: the cohort as a partitioned Parquet dataset, one part file per chunk.

Each part is byte-identical whichever engine wrote it (the dask engine on a real ``dask.distributed`` cluster of
two worker processes on 127.0.0.1), and the parts put together are the cohort ``precisionpain cohort`` writes as
one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

N = 1_300
SEED = 11
CHUNK = 500  # three parts: 500, 500 and 300 patients


def cohort(*args: str) -> Any:
    from precisionpain.cli import app

    return CliRunner().invoke(app, ["cohort", "--n", str(N), "--seed", str(SEED), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def local_parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort-local") / "cohort"
    result = cohort("--engine", "local", "--chunk-size", str(CHUNK), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {N:,} patients in 3 part files" in result.output
    return out


def test_the_parts_together_are_the_cohort_written_as_one_file(local_parts: Path, tmp_path: Path) -> None:
    import pandas as pd
    import pyarrow.parquet as pq

    single = tmp_path / "cohort.parquet"
    result = cohort("--chunk-size", str(CHUNK), "--out", str(single))
    assert result.exit_code == 0, result.output
    parts = sorted(local_parts.glob("part-*.parquet"))
    assert [p.name for p in parts] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [pq.read_metadata(p).num_rows for p in parts] == [500, 500, 300]
    together = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(together, pd.read_parquet(single))
    whole = pq.read_schema(single).metadata
    for k, p in enumerate(parts):
        meta = pq.read_schema(p).metadata
        assert meta[b"precisionpain.cohort.chunk"] == str(k).encode()
        assert meta[b"precisionpain.cohort.chunks"] == b"3"
        for key in (b"precisionpain.cohort.seed", b"precisionpain.cohort.n", b"precisionpain.cohort.dgp_sha256"):
            assert meta[key] == whole[key]


def test_each_part_is_byte_identical_whichever_engine_wrote_it(
    local_parts: Path, tmp_path: Path, cluster: Any
) -> None:
    out = tmp_path / "cohort"
    result = cohort(
        "--engine", "dask", "--scheduler", cluster.scheduler_address, "--chunk-size", str(CHUNK), "--out", str(out)
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "on the Dask scheduler given" in result.output
    local = sorted(p.name for p in local_parts.iterdir())
    assert sorted(p.name for p in out.iterdir()) == local
    for name in local:
        assert (out / name).read_bytes() == (local_parts / name).read_bytes(), name


def test_an_existing_dataset_is_kept_without_force(local_parts: Path) -> None:
    before = {p.name: p.read_bytes() for p in local_parts.iterdir()}
    result = cohort("--engine", "local", "--chunk-size", str(CHUNK), "--out", str(local_parts))
    assert result.exit_code == 2
    assert "already exists; add --force" in result.output
    assert {p.name: p.read_bytes() for p in local_parts.iterdir()} == before


@pytest.mark.parametrize("chunk", [-1, 3, 1.0, "0"])
def test_a_chunk_outside_the_cohort_is_refused_naming_the_argument(chunk: Any) -> None:
    from precisionpain.cohort.generate import generate_chunk
    from precisionpain.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        generate_chunk(N, SEED, chunk, chunk_size=CHUNK)
    assert "chunk: must be a whole number from 0 to 2" in str(info.value)
