"""``--data`` of ``train``, ``evaluate`` and ``score`` takes a partitioned cohort (the folder of part files that
``cohort --engine ...`` writes) wherever it takes a Parquet file: training on the folder is training on the single
file with the same patients, and a folder without part files is refused naming ``--data``, the rule and what arrived.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.model.conftest import GOOD_MODEL, Store, config_dict, store, write_config

__all__ = ["store"]  # session fixture shared with tests/model

N = 6_000
SEED = 23
CHUNK = 2_000  # three part files


def cli(*args: str) -> Any:
    from precisionpain.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same patients as one file and as a folder of three part files."""
    root = tmp_path_factory.mktemp("partitioned")
    single, folder = root / "cohort.parquet", root / "cohort"
    common = ("cohort", "--n", str(N), "--seed", str(SEED), "--chunk-size", str(CHUNK))
    for extra in (("--out", str(single)), ("--engine", "local", "--out", str(folder))):
        result = cli(*common, *extra)
        assert result.exit_code == 0, result.output
    assert len(list(folder.glob("part-*.parquet"))) == 3
    return single, folder


def test_the_folder_reads_as_the_single_file(cohorts: tuple[Path, Path]) -> None:
    import pandas as pd

    from precisionpain.models.training import data_namespace, read_table

    single, folder = cohorts
    pd.testing.assert_frame_equal(read_table(folder), read_table(single))
    assert data_namespace(folder) == data_namespace(single) != ""  # the same synthetic patients' ids


@pytest.mark.slow
def test_training_on_the_folder_equals_training_on_the_file(
    cohorts: tuple[Path, Path], store: Store, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    from precisionpain.models.config import load_train_config
    from precisionpain.models.training import load_registered, train

    single, folder = cohorts
    from_file = write_config(tmp_path / "file.yaml", config_dict("pp-data-file", GOOD_MODEL))
    from_folder = write_config(tmp_path / "folder.yaml", config_dict("pp-data-folder", GOOD_MODEL))
    on_file = train(single, load_train_config(from_file), config_path=from_file, **store.kwargs)
    result = cli(
        "train", "--data", str(folder), "--config", str(from_folder), "--tracking-uri", store.tracking_uri,
        "--home", str(store.artifact_root.parent),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    registry = store.registry()
    version = registry.version_by_alias("pp-data-folder", "champion")
    assert version is not None

    client = MlflowClient(store.tracking_uri)
    ours, theirs = (client.get_run(r).data for r in (version.run_id, on_file.run_id))
    timeless = ({k: v for k, v in m.items() if not k.endswith("_seconds")} for m in (ours.metrics, theirs.metrics))
    assert next(timeless) == next(timeless)  # every metric but the timings, exactly
    # the same parameters but the names (and the package, which records its name and data fingerprint)
    differ = {k for k in set(ours.params) | set(theirs.params) if ours.params.get(k) != theirs.params.get(k)}
    assert differ == {"config.experiment", "config.registered_model", "package_manifest_sha256"}
    assert ours.tags["precisionpain.data_fingerprint"] != theirs.tags["precisionpain.data_fingerprint"]  # other files

    (_, mine), (_, reference) = (
        load_registered(registry, uri, tmp_path / name)
        for uri, name in ((f"models:/pp-data-folder/{version.version}", "a"), (on_file.model_uri, "b"))
    )
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, len(reference.catalog.feature_ids)))
    np.testing.assert_array_equal(mine.estimator.predict_outcomes(X), reference.estimator.predict_outcomes(X))
    assert mine.metadata.split == reference.metadata.split

    # evaluate reads the folder too, and finds the patients the file holds
    outs = []
    for data in (folder, single):
        out = tmp_path / f"{data.name}.json"
        evaluated = cli(
            "evaluate", "--model", f"models:/pp-data-folder/{version.version}", "--data", str(data), "--split", "test",
            "--no-log", "--json", str(out), "--tracking-uri", store.tracking_uri, "--home", str(store.artifact_root.parent),
        )  # fmt: skip
        assert evaluated.exit_code == 0, evaluated.output
        outs.append(json.loads(out.read_text()))
    assert outs[0]["headline"] == outs[1]["headline"]
    assert outs[0]["headline"]["auc_mean"] == pytest.approx(ours.metrics["auc_mean"], abs=1e-12)


@pytest.mark.parametrize("command", ["train", "evaluate", "score"])
def test_a_folder_without_part_files_is_refused_naming_data(command: str, store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a part file\n")
    args = {
        "train": ["train", "--data", str(folder)],
        "evaluate": ["evaluate", "--model", "models:/pp-data-folder/1", "--data", str(folder), "--no-log"],
        "score": ["score", "--model", "models:/pp-data-folder@champion", "--data", str(folder), "--out", str(tmp_path / "o")],
    }[command]
    result = cli(*args, "--tracking-uri", store.tracking_uri, "--home", str(store.artifact_root.parent))
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "--data" in message
    assert "must hold at least one .parquet part file" in message
    assert "a folder without .parquet files" in message


@pytest.mark.parametrize("reader", ["read_frame", "list_partitions"])
def test_a_part_that_is_not_parquet_is_refused_naming_data_and_not_its_bytes(tmp_path: Path, reader: str) -> None:
    from precisionpain.errors import DataError
    from precisionpain.scale import datasets

    folder = tmp_path / "cohort"
    folder.mkdir()
    (folder / "part-00000.parquet").write_bytes(b"patient 123, not parquet")
    with pytest.raises(DataError) as err:
        if reader == "read_frame":
            datasets.read_frame(folder)
        else:
            datasets.list_partitions(folder, 1000)
    (v,) = err.value.violations
    assert v.path == "--data" and v.rule == "every file must be readable Parquet"
    assert v.received.startswith("unreadable file (") and "123" not in str(err.value)
