"""``precisionpain evaluate --engine dask``: the held-out predictions (probabilities, propensities, intervals and
replicates of the response and harm models) and the SHAP sample computed on a real ``dask.distributed`` cluster of
two worker processes on 127.0.0.1, partition by partition with the model loaded once per worker; the rest of the
evaluation is the local engine's own code.

Both engines run the same boosters on the same float32 rows, so the metrics agree to 1e-9 (relative; in practice
bit for bit), and so do the SHAP summaries logged with ``--shap-plots``; the same patients read from a folder of
part files give the same metrics again.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.model.conftest import GOOD_MODEL, Store, config_dict, small_cohort_file, store, write_config

__all__ = ["small_cohort_file", "store"]  # session fixtures shared with tests/model

NAME = "pp-evaluate-engines"
#: the two engines' metrics agree to this (relative): the same boosters predict the same rows
RELATIVE_TOLERANCE = 1e-9
HARMS = [{"name": "adverse_event", "column": "adverse_event", "factual_prefix": "true_adverse_event__"}]


@pytest.fixture(scope="module")
def registered(store: Store, small_cohort_file: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A model with a harm outcome and jackknife intervals, trained on the small cohort: its URI."""
    from precisionpain.models.config import load_train_config
    from precisionpain.models.training import train

    path = write_config(tmp_path_factory.mktemp("config") / "config.yaml", config_dict(NAME, GOOD_MODEL, harms=HARMS))
    result = train(small_cohort_file, load_train_config(path), config_path=path, **store.kwargs)
    return f"models:/{NAME}/{result.version}"


def evaluate(store: Store, *args: str) -> Any:
    from precisionpain.cli import app

    return CliRunner().invoke(
        app,
        ["evaluate", *args, "--tracking-uri", store.tracking_uri, "--home", str(store.artifact_root.parent)],
        catch_exceptions=False,
    )


def assert_same_numbers(ours: Any, theirs: Any, where: str = "") -> None:
    """Nested JSON values equal, numbers within RELATIVE_TOLERANCE (NaN equals NaN)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), where
        for key in theirs:
            assert_same_numbers(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same_numbers(a, b, f"{where}[{i}]")
    elif isinstance(theirs, float) and not isinstance(theirs, bool):
        if math.isnan(theirs):
            assert isinstance(ours, float) and math.isnan(ours), where
        else:
            assert ours == pytest.approx(theirs, rel=RELATIVE_TOLERANCE, abs=1e-12), where
    else:
        assert ours == theirs, where


def _artifact(store: Store, run_id: str, path: str, into: Path) -> Any:
    import mlflow

    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=path, dst_path=str(into), tracking_uri=store.tracking_uri
    )
    return json.loads(Path(local).read_text())


@pytest.mark.slow
def test_evaluate_on_the_dask_engine_gives_the_local_metrics_and_shap(
    cluster: Any, store: Store, registered: str, small_cohort_file: Path, tmp_path: Path
) -> None:
    from dask.distributed import Client

    from precisionpain.scale.scoring import models_loaded

    common = ["--model", registered, "--data", str(small_cohort_file), "--split", "all", "--shap-plots"]
    local = evaluate(store, *common, "--json", str(tmp_path / "local.json"))
    assert local.exit_code == 0, local.output
    with Client(cluster, set_as_default=False) as client:
        before = client.run(models_loaded)
        remote = evaluate(
            store, *common, "--json", str(tmp_path / "dask.json"), "--engine", "dask",
            "--scheduler", cluster.scheduler_address, "--partition-rows", "300",
        )  # fmt: skip
        assert remote.exit_code == 0, remote.output
        loads = client.run(models_loaded)
    assert "held-out predictions of" in remote.output and "partitions on the Dask scheduler given" in remote.output
    # the model is loaded at most once per worker, though each worker ran several partitions
    assert len(loads) == 2 and all(loads[w] - before[w] <= 1 for w in loads) and sum(loads.values()) > sum(before.values())

    ours = json.loads((tmp_path / "dask.json").read_text())
    theirs = json.loads((tmp_path / "local.json").read_text())
    assert ours["n_test"] == theirs["n_test"] > 900  # several partitions of 300
    assert set(ours["harms"]) == {"adverse_event"} and ours["benefit_harm"] is not None
    provenance = ours.pop("provenance"), theirs.pop("provenance")
    assert provenance[0].pop("run_id") != provenance[1].pop("run_id")
    assert provenance[0] == provenance[1]
    assert_same_numbers(ours, theirs)

    shap = [
        _artifact(store, json.loads((tmp_path / f"{name}.json").read_text())["provenance"]["run_id"],
                  "evaluation/shap_mean_abs.json", tmp_path / f"artifacts-{name}")
        for name in ("dask", "local")
    ]  # fmt: skip
    assert set(shap[0]) == {o["option_id"] for o in theirs["per_option"]}
    assert_same_numbers(shap[0], shap[1])

    # the same patients as a folder of part files (as cohort --engine writes them): the same metrics again
    import pyarrow.parquet as pq

    folder = tmp_path / "parts"
    folder.mkdir()
    table = pq.read_table(small_cohort_file)
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), folder / "part-00000.parquet")
    pq.write_table(table.slice(half), folder / "part-00001.parquet")
    parts = evaluate(
        store, "--model", registered, "--data", str(folder), "--split", "all", "--no-log", "--json",
        str(tmp_path / "parts.json"), "--engine", "dask", "--scheduler", cluster.scheduler_address,
    )  # fmt: skip
    assert parts.exit_code == 0, parts.output
    from_parts = json.loads((tmp_path / "parts.json").read_text())
    assert_same_numbers(from_parts["headline"], theirs["headline"])


def test_evaluate_dask_flags_are_checked_before_any_work(store: Store, tmp_path: Path) -> None:
    result = evaluate(
        store, "--model", f"models:/{NAME}/1", "--data", str(tmp_path / "missing.parquet"), "--engine", "dask",
        "--partition-rows", "0",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--partition-rows" in result.output and "at least 1" in result.output
