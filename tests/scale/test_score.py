"""``precisionpain score``: a Parquet dataset of patients answered into a Parquet dataset of answers.

The answers are compared with what the real gRPC server answers to ``RecommendBatch`` for the same patients (a
server subprocess on the same model package), field by field and exactly; the dask engine (a real
``dask.distributed`` cluster of two worker processes on 127.0.0.1) writes the same files as the local engine and
loads the model once per worker.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.contract.serverproc import ServerProcess, start_server
from tests.model.conftest import write_cohort_file

N_PATIENTS = 240
ROW_GROUP = 40
BAD_AGE_ROW = 5  # age outside the catalog's range
BAD_PAIR_ROW = 131  # a pain condition its pain type does not allow
TOP_K = 5


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of two Parquet files (row groups of 40 patients) with two patients whose rows break a rule."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("score-data")
    table = pq.read_table(write_cohort_file(folder / "_cohort.parquet", N_PATIENTS, 41))
    frame = table.to_pandas()
    frame.loc[BAD_AGE_ROW, "age_years"] = 260.0
    frame.loc[BAD_PAIR_ROW, ["pain_type", "pain_condition"]] = ["neuropathic", "fibromyalgia"]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    data = folder / "patients"
    data.mkdir()
    pq.write_table(table.slice(0, 120), data / "a.parquet", row_group_size=ROW_GROUP)
    pq.write_table(table.slice(120), data / "b.parquet", row_group_size=ROW_GROUP)
    return data


def score(*args: str) -> Any:
    from precisionpain.cli import app

    return CliRunner().invoke(app, ["score", *args], catch_exceptions=False)


def read_answers(folder: Path) -> Any:
    import pyarrow.dataset as ds

    return ds.dataset(folder, format="parquet").to_table()


@pytest.fixture(scope="module")
def local_answers(small_package_dir: Path, dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("score-local") / "answers"
    result = score(
        "--model", str(small_package_dir), "--data", str(dataset), "--out", str(out),
        "--partition-rows", "25", "--top-k", str(TOP_K),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"scored {N_PATIENTS} patients ({N_PATIENTS - 2} answered, 2 refused) in 12 partitions" in result.output
    return out


def test_one_row_per_patient_in_input_order_with_refused_rows_named(local_answers: Path) -> None:
    table = read_answers(local_answers)
    rows = table.to_pylist()
    assert [r["row"] for r in sorted(rows, key=lambda r: r["row"])] == list(range(N_PATIENTS))
    assert sorted(p.name for p in local_answers.glob("part-*.parquet")) == [f"part-{i:05d}.parquet" for i in range(12)]
    by_row = {r["row"]: r for r in rows}
    assert by_row[0]["patient_id"] == "SYN-0000001"
    for bad, field in ((BAD_AGE_ROW, "clinical.age_years"), (BAD_PAIR_ROW, "clinical.pain_condition")):
        r = by_row[bad]
        assert r["error_reason"] == "INVALID_REQUEST" and field in r["error"]
        assert "260" not in r["error"]  # the value never appears
        assert r["options"] is None and r["excluded"] is None
    summary = json.loads((local_answers / "_score.json").read_text())
    assert (summary["rows"], summary["answered"], summary["errors"], summary["engine"]) == (N_PATIENTS, N_PATIENTS - 2, 2, "local")
    meta = json.loads(table.schema.metadata[b"precisionpain"])
    assert meta["top_k"] == TOP_K and len(meta["manifest_sha256"]) == 64


def test_every_answer_adds_up(local_answers: Path) -> None:
    for r in read_answers(local_answers).to_pylist():
        if r["error_reason"] is not None:
            continue
        assert [o["rank"] for o in r["options"]] == list(range(1, len(r["options"]) + 1))
        assert all(o["rank"] is None and o["exclusion_reason"] for o in r["excluded"])
        assert r["options"][0]["tie_group"] == 1 and all(o["net_benefit"] is not None for o in r["options"])
        for o in r["options"] + r["excluded"]:
            assert o["p_lower"] <= o["p_response"] <= o["p_upper"]
            assert [h["outcome"] for h in o["harms"]] == ["adverse_event", "dropout"]  # the package's harm models
            assert all(h["lower"] <= h["probability"] <= h["upper"] for h in o["harms"])
            assert len(o["contributions"]) == TOP_K
            shap = [c["shap_value"] for c in o["contributions"]]
            assert [abs(v) for v in shap] == sorted((abs(v) for v in shap), reverse=True)
            assert math.isclose(o["base_value"] + sum(shap) + o["other_contributions"], o["margin"], abs_tol=1e-9)


@pytest.fixture(scope="module")
def batch_server(small_package_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    server: ServerProcess = start_server(tmp_path_factory.mktemp("score-server"), ["--model-path", str(small_package_dir)])
    try:
        server.wait_serving()
        yield server
    finally:
        server.stop()


def test_answers_equal_recommend_batch_for_the_same_patients(local_answers: Path, dataset: Path, batch_server: Any) -> None:
    import pyarrow.dataset as ds
    from google.rpc import error_details_pb2

    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.features.frame import row_to_profile_dict
    from precisionpain.service.client import RecommendationClient, recommend_request
    from precisionpain.service.status import ERROR_DOMAIN
    from precisionpain.v1 import recommendation_pb2

    catalog = load_feature_catalog(None)
    inputs = ds.dataset(dataset, format="parquet").to_table().to_pandas().to_dict(orient="records")
    answers = {r["row"]: r for r in read_answers(local_answers).to_pylist()}
    tier = recommendation_pb2.GuidelineTier
    outcome = recommendation_pb2.Outcome
    with RecommendationClient(batch_server.target, timeout_s=120) as client:
        for start in range(0, N_PATIENTS, 10):
            requests = [recommend_request(row_to_profile_dict(row, catalog), top_k=TOP_K) for row in inputs[start : start + 10]]
            reply = client.recommend_batch(requests)
            for i, result in enumerate(reply.results, start=start):
                ours = answers[i]
                if result.HasField("error"):
                    info = error_details_pb2.ErrorInfo()
                    assert any(d.Unpack(info) for d in result.error.details) and info.domain == ERROR_DOMAIN
                    assert ours["error_reason"] == info.reason, i
                    continue
                assert ours["error_reason"] is None, i
                resp = result.response
                for theirs, mine in ((resp.options, ours["options"]), (resp.excluded, ours["excluded"])):
                    assert [o.option_id for o in theirs] == [o["option_id"] for o in mine], i
                    for t, m in zip(theirs, mine, strict=True):
                        assert (t.p_response, t.p_response_interval.lower, t.p_response_interval.upper) == (
                            m["p_response"], m["p_lower"], m["p_upper"]
                        )
                        assert t.p_response_interval.level == m["interval_level"]
                        assert [
                            (outcome.Name(h.outcome).removeprefix("OUTCOME_").lower(), h.probability,
                             h.probability_interval.lower, h.probability_interval.upper)
                            for h in t.harms
                        ] == [(h["outcome"], h["probability"], h["lower"], h["upper"]) for h in m["harms"]]
                        nb = t.net_benefit
                        assert (nb.value, nb.value_interval.lower, nb.value_interval.upper) == (
                            m["net_benefit"], m["net_benefit_lower"], m["net_benefit_upper"]
                        )
                        assert tier.Name(t.guideline.tier).removeprefix("GUIDELINE_TIER_").lower() == m["guideline_tier"]
                        assert [r.rule_id for r in t.safety_reasons] == m["safety_rules"]
                        e = t.explanation
                        assert (e.base_value, e.margin, e.other_contributions) == (m["base_value"], m["margin"], m["other_contributions"])
                        assert [(c.feature_id, c.shap_value) for c in e.top_contributions] == [
                            (c["feature_id"], c["shap_value"]) for c in m["contributions"]
                        ]
                        assert [c.value if c.HasField("value") else None for c in e.top_contributions] == [
                            c["value"] for c in m["contributions"]
                        ]
                for o, m in zip(resp.options, ours["options"], strict=True):
                    assert (o.tie_group, o.probability_best, o.tier_overridden) == (
                        m["tie_group"], m["probability_best"], m["tier_overridden"]
                    )
                for o, m in zip(resp.excluded, ours["excluded"], strict=True):
                    assert o.reason == m["exclusion_reason"] and m["tie_group"] is None
                assert [f.code for f in resp.safety_flags] == ours["safety_flags"]


def test_batches_inside_a_partition_change_nothing(
    local_answers: Path, small_package_dir: Path, dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from precisionpain.scale import scoring

    monkeypatch.setattr(scoring, "BATCH_ROWS", 7)  # 25-patient partitions scored 7 at a time
    out = tmp_path / "answers"
    result = score(
        "--model", str(small_package_dir), "--data", str(dataset), "--out", str(out),
        "--partition-rows", "25", "--top-k", str(TOP_K),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for part in sorted(local_answers.glob("part-*.parquet")):
        import pyarrow.parquet as pq

        assert pq.read_table(out / part.name).equals(pq.read_table(part)), part.name


def test_each_answer_is_taken_apart_before_the_next_is_made(small_package_dir: Path, dataset: Path) -> None:
    """A batch's answers are not held together: when the engine makes patient i's answer, no earlier patient's
    answer object is alive any more (held for the whole batch, the garbage collector walked all of them on every
    pass, which cost as much as the scoring)."""
    import gc
    import weakref

    import pyarrow.parquet as pq

    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.errors import PrecisionPainError
    from precisionpain.scale import scoring

    spec = scoring.ModelSpec(load_feature_catalog().sha256, path=str(small_package_dir))
    model = scoring.loaded_model(spec)
    rows = pq.read_table(sorted(dataset.glob("*.parquet"))[0]).slice(0, 30).to_pandas().to_dict(orient="records")
    made: list[weakref.ref[Any]] = []
    alive_when_next_made: list[int] = []

    def watched() -> Any:
        for outcome in scoring.score_rows(model, rows, TOP_K):
            if not isinstance(outcome, PrecisionPainError):
                alive_when_next_made.append(sum(r() is not None for r in made))
                made.append(weakref.ref(outcome.recommendation))
            yield outcome
            del outcome

    enabled = gc.isenabled()
    gc.disable()  # what is freed must be freed by its last reference going, not by a collection
    try:
        table = scoring.answer_table(0, None, None, watched(), TOP_K)
    finally:
        if enabled:
            gc.enable()
    assert table.num_rows == len(rows) and len(made) > 20
    assert alive_when_next_made == [0] * len(made)
    assert all(r() is None for r in made)


def test_refuses_to_overwrite_and_names_bad_flags(local_answers: Path, small_package_dir: Path, dataset: Path, tmp_path: Path) -> None:
    again = score("--model", str(small_package_dir), "--data", str(dataset), "--out", str(local_answers))
    assert again.exit_code == 2 and "--out" in again.output and "--force" in again.output
    flags = score("--model", str(small_package_dir), "--data", str(dataset), "--out", str(tmp_path / "o"), "--top-k", "0", "--partition-rows", "0")
    assert flags.exit_code == 2
    assert "--top-k: must be between 1 and 64" in flags.output and "--partition-rows: must be at least 1" in flags.output
    missing = score("--model", str(small_package_dir), "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o"))
    assert missing.exit_code == 2 and "--data: must be a Parquet file or a folder of them" in missing.output
    no_id = score("--model", str(small_package_dir), "--data", str(dataset), "--out", str(tmp_path / "o"), "--id-column", "mrn")
    assert no_id.exit_code == 2 and "--id-column: must name a column of the dataset" in no_id.output
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_the_dask_engine_writes_what_the_local_engine_writes(
    local_answers: Path, small_package_dir: Path, dataset: Path, tmp_path: Path
) -> None:
    from dask.distributed import Client, LocalCluster

    from precisionpain.scale.scoring import models_loaded

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        out = tmp_path / "answers"
        result = score(
            "--model", str(small_package_dir), "--data", str(dataset), "--out", str(out), "--partition-rows", "25",
            "--top-k", str(TOP_K), "--engine", "dask", "--scheduler", cluster.scheduler_address,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        loads = client.run(models_loaded)
    assert len(loads) == 2 and all(n <= 1 for n in loads.values()) and sum(loads.values()) >= 1  # once per worker
    ours, local = read_answers(out), read_answers(local_answers)
    assert ours.sort_by("row").equals(local.sort_by("row"))
    for part in sorted(local_answers.glob("part-*.parquet")):
        import pyarrow.parquet as pq

        assert pq.read_table(out / part.name).equals(pq.read_table(part)), part.name
    assert json.loads((out / "_score.json").read_text())["engine"] == "dask"
