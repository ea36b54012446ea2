"""Batch scoring throughput (``precisionpain score``) on the local engine and on Dask with 1 and 2 workers, all
figures from one run, and a simulated capacity table for 10M and 100M patients.

    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/scale_bench.py [--model-path DIR] [--save-model DIR]

Without ``--model-path`` it first trains the model serve_bench trains (a 50,000-patient synthetic cohort,
TreatmentResponseModel with its defaults), written as a model package (``--save-model`` keeps it). The patients
scored are a separate synthetic cohort written as Parquet with one row group per partition. Every figure
explains every option (top-8 contributions of each shown option, as ``score`` writes them). It prints:

(i)   the in-process batch rate: ``RecommendBatch`` of ``--batch`` patients through the servicer in this process
      (request messages in, response messages out, no transport; new patients in every batch, median of three; the
      garbage collector set as the server sets it): what one serving process does per core;
(ii)  the local engine: ``score --engine local`` over the whole dataset, model already loaded;
(iii) Dask with 1 and with 2 workers (a LocalCluster of single-threaded worker processes on 127.0.0.1; the model
      loaded and the TreeSHAP kernels compiled on every worker before the clock starts, as on a standing cluster):
      patients/s, the scaling ratio (target >= 1.7) and the rate per worker against (i) (target >= 80%); the cold
      run (cluster start, model load on each worker) is printed beside it; peak resident memory per worker;
(iv)  per-partition cost (inside the task: read, check, score, write) and the Dask overhead per task;
(v)   a simulated capacity table: 10M and 100M patients on 2 to 256 workers with a core each, scheduling the
      measured CPU cost per partition (resampled) onto the workers greedily, plus the measured start-up and
      per-task overhead, and the output size from the bytes written per patient. CPU time, not wall time: on a
      shared machine the wall time of a task includes the time other jobs held the core.

With ``--train-patients N`` (0 skips it; ``--skip-score`` skips (i)-(v)) it also times ``precisionpain train`` on N
synthetic patients, each engine in its own child process, with the same config (``--train-config``, default the
shipped models/response_model.yaml):

(vi)   ``train --engine local`` against ``train --engine dask`` on a LocalCluster of 2 single-threaded worker
       processes whose memory limit (``--worker-memory-mib``, default half the cohort's size in memory, at least 768 MiB)
       is below the cohort's size from about 800,000 patients on: wall time, fit time, peak RSS of the training process and of each worker, boosters trained, and
       the held-out metrics of both runs side by side;
(vii)  the cohort written as a partitioned dataset (``cohort --engine dask``, 2 workers): CPU seconds per partition;
(viii) a capacity table for 10M and 100M patients from those measured costs: cohort generation simulated as in (v);
       training extrapolated linearly in rows from the measured dask fit (boosters x rows per worker), with the
       fewest workers whose share of the training rows stays under the memory limit measured per row.

    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/scale_bench.py --skip-score --train-patients 1000000

With ``--train-memory-limit MIB`` the training figures are instead those of the table prepared on the workers
(precisionpain.scale.worker_table), which ``train`` does not use yet:

(ix)   ``--train-patients`` synthetic patients written as a partitioned cohort (``cohort --engine local``, part files
       of ``--table-chunk`` patients), read, checked, split and featurised on 2 single-threaded workers whose memory
       limit is MIB (spilling to disk off, so the data stays in memory; Dask's nanny restarts a worker above 95 % of
       the limit, pause at 90 %), started with their scheduler as processes of their own (``dask scheduler``,
       ``dask worker``) so that this process is only the driving one, then every option's response boosters (the config's
       folds with early stopping, and the final booster) fitted from the workers' partitions. Printed: the cohort's
       size in memory against the limit, each worker's peak resident memory (VmHWM), worker restarts, the bytes the
       workers hold for the table, the driving process's peak resident memory and what it holds, the wall times and
       the mean out-of-fold log loss.

    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/scale_bench.py --skip-score --train-patients 400000 \
        --train-memory-limit 600

A worker needs about 300 MiB before it holds any data, and Dask pauses it above 90 % of its limit here, so the
limit must leave room above that: at 300,000 patients (550 MiB in memory) a 450 MiB limit stalled with both
workers paused; 400,000 patients under 600 MiB is the run docs/scale.md reports.

The machine is shared: the load average is printed before and after, and figures move between runs. Each target
is printed with PASS or MISS; ``--strict`` exits 1 when one is missed. ``--quick`` runs a small version to check
the script (not the capacity figures).
"""

from __future__ import annotations

import argparse
import functools
import heapq
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from serve_bench import load_average, train_package  # noqa: E402  (the same model as serve_bench)

REPO = HERE.parent
TARGETS = {"scaling": 1.7, "per_worker": 0.8}
QUICK = {
    "cohort": 5_000, "patients": 2_000, "partition_rows": 250, "batch": 200, "train_patients": 6_000,
    "partition_chunk": 2_000,
}  # fmt: skip
TOP_K = 8
#: a worker process needs about this much before it holds any data (Python, numpy, pandas, xgboost, dask)
WORKER_FLOOR_MIB = 768


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def write_dataset(folder: Path, n: int, partition_rows: int, seed: int) -> Path:
    """n synthetic patients as one Parquet file with a row group per partition."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.cohort import generate_cohort

    frame = generate_cohort(n, seed, catalog=load_feature_catalog(REPO))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "patients.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=partition_rows)
    return path


def in_process_batch(package_dir: Path, data: Path, size: int, repeats: int = 3) -> float:
    """Patients/s of RecommendBatch through the servicer in this process: the median of ``repeats`` batches of
    ``size`` patients each, different patients in every batch (as the scoring run sees each patient once, so the
    engine's caches help both alike), after one warm-up batch."""
    import pyarrow.parquet as pq

    from precisionpain.features.frame import row_to_profile_dict
    from precisionpain.service.client import recommend_request
    from precisionpain.service.heap import serving_threshold, settle_heap
    from precisionpain.service.model_store import LocalModelSource, load_model
    from precisionpain.service.servicer import CallInfo, RecommendationServicer
    from precisionpain.v1 import service_pb2

    loaded = load_model(LocalModelSource(package_dir), _catalog_sha256())
    catalog = loaded.engine.package.catalog
    table = pq.read_table(data)
    batches = []
    for start in range(0, min(table.num_rows, size * (repeats + 1)) - size + 1, size):
        rows = table.slice(start, size).to_pandas().to_dict(orient="records")
        batches.append(
            service_pb2.RecommendBatchRequest(
                requests=[recommend_request(row_to_profile_dict(r, catalog), top_k=TOP_K) for r in rows]
            )
        )
    servicer = RecommendationServicer(lambda: loaded, max_batch_size=size)
    times = []
    settle_heap()  # the collector as a server has it (and as score's tasks have it)
    with serving_threshold():
        servicer.recommend_batch(batches[0], CallInfo("warmup"))
        for i, request in enumerate(batches[1:] or batches):
            started = time.perf_counter()
            servicer.recommend_batch(request, CallInfo(f"bench-{i}"))
            times.append(time.perf_counter() - started)
    return size / statistics.median(times)


def _catalog_sha256() -> str:
    from precisionpain.catalog.loader import load_feature_catalog

    return load_feature_catalog(None).sha256


def _warm(spec: Any, partition: Any, out: str) -> int:
    """On a worker: load the model and score one partition (compiles the TreeSHAP kernels)."""
    from precisionpain.scale.scoring import score_partition

    score_partition(spec, out, TOP_K, "patient_id", partition)
    return os.getpid()


def _peak_rss_mib() -> float:
    """Peak resident memory of this process's own address space (Linux VmHWM). Not ru_maxrss: Linux keeps that
    across execve, so a worker spawned by a process that once held a cohort would report the parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            return float(next(x for x in fh if x.startswith("VmHWM:")).split()[1]) / 1024.0
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_engine(spec: Any, partitions: list[Any], out: Path, engine: str, scheduler: str | None) -> tuple[float, list[Any]]:
    from precisionpain.scale.engines import Engine, map_tasks
    from precisionpain.scale.scoring import score_partition

    task = functools.partial(score_partition, spec, str(out), TOP_K, "patient_id")
    started = time.perf_counter()
    results = map_tasks(task, partitions, engine=Engine(engine), scheduler=scheduler)
    return time.perf_counter() - started, results


def dask_run(spec: Any, partitions: list[Any], tmp: Path, workers: int) -> dict[str, Any]:
    """Cold start, warm-up on every worker, then a timed run over every partition."""
    from dask.distributed import Client, LocalCluster

    cold = time.perf_counter()
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        started_s = time.perf_counter() - cold
        pids = client.run(_warm, spec, partitions[0], str(tmp / f"warm-{workers}"))
        ready_s = time.perf_counter() - cold
        wall_s, results = run_engine(spec, partitions, tmp / f"dask-{workers}", "dask", cluster.scheduler_address)
        peaks = client.run(_peak_rss_mib)
    return {
        "workers": workers,
        "pids": pids,
        "start_s": started_s,
        "ready_s": ready_s,
        "wall_s": wall_s,
        "results": results,
        "peak_mib": list(peaks.values()),
    }


def simulate(costs_s: list[float], partitions: int, workers: int, overhead_s: float, rng: np.random.Generator) -> float:
    """Wall time of ``partitions`` tasks with costs resampled from ``costs_s`` on ``workers`` workers, each task
    going to the first free worker (what the scheduler does for equal tasks), plus ``overhead_s`` per task."""
    finish = [0.0] * workers
    heapq.heapify(finish)
    draws = rng.choice(np.asarray(costs_s), size=partitions) + overhead_s
    for cost in draws.tolist():
        heapq.heappush(finish, heapq.heappop(finish) + cost)
    return max(finish)


def human_s(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --------------------------------------------------------------------------------------------- training


def _child(argv: list[str]) -> tuple[float, float, str]:
    """Run ``precisionpain ARGV`` in a child process: (wall s, its peak RSS in MiB, its stderr)."""
    import subprocess

    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "precisionpain.cli", *argv],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"precisionpain {' '.join(argv[:1])} failed ({proc.returncode}):\n{err[-3000:]}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024.0, err


def _rss_now_mib() -> float:
    """On a worker: its resident memory now (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        line = next(x for x in fh if x.startswith("VmRSS:"))
    return float(line.split()[1]) / 1024.0


def _cohort_mib(path: Path) -> float:
    """The cohort's size in memory as pandas holds it, measured in a child process (so the children started
    after it do not inherit this process's peak in their ru_maxrss)."""
    import subprocess

    code = (
        "import sys, pyarrow.parquet as pq; "
        "print(pq.read_table(sys.argv[1]).to_pandas().memory_usage(deep=True).sum() / 2**20)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def _run_metrics(tracking_uri: str, name: str) -> dict[str, float]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    version = client.get_model_version_by_alias(name, "challenger")
    return dict(client.get_run(version.run_id).data.metrics)


def _write_config(source: Path, name: str, out: Path, options: str | None) -> Path:
    import yaml

    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["registered_model"] = name
    data["experiment"] = name
    if options:
        data["options"] = options.split(",")
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def _part_cost(plan: Any, chunk: int) -> float:
    """On a worker: write one cohort partition; its CPU seconds."""
    from precisionpain.scale.cohort import write_cohort_part

    started = time.process_time()
    write_cohort_part(plan, chunk)
    return time.process_time() - started


def train_section(args: argparse.Namespace, tmp: Path) -> None:
    from dask.distributed import Client, LocalCluster

    from precisionpain.models.config import default_config_path
    from precisionpain.scale.cohort import plan_cohort

    n = args.train_patients
    data = tmp / "train" / "cohort.parquet"
    gen_s, _, _ = _child(["cohort", "--n", str(n), "--seed", "7", "--out", str(data)])
    cohort_mib = _cohort_mib(data)
    limit_mib = args.worker_memory_mib or max(WORKER_FLOOR_MIB, int(cohort_mib / 2))
    source = args.train_config or default_config_path(REPO)
    which = f"options {args.train_options}" if args.train_options else "every option of the config"
    print(
        f"(vi)  train on {n:,} patients ({source.relative_to(REPO) if source.is_relative_to(REPO) else source}, "
        f"{which}): "
        f"the cohort is {cohort_mib:,.0f} MiB in memory ({gen_s:.0f} s to write); worker memory limit "
        f"{limit_mib:,} MiB ({'below' if limit_mib < cohort_mib else 'NOT below'} the cohort)"
    )
    home = tmp / "train" / "home"
    common = ["--data", str(data), "--home", str(home), "--tracking-uri", f"sqlite:///{home / 'mlflow.db'}"]
    home.mkdir(parents=True)
    runs: dict[str, dict[str, Any]] = {}
    local_cfg = _write_config(source, "bench-train-local", tmp / "train" / "local.yaml", args.train_options)
    wall, rss, err = _child(["train", "--config", str(local_cfg), *common])
    runs["local"] = {"wall_s": wall, "rss_mib": rss, "stderr": err, "workers_mib": []}
    dask_cfg = _write_config(source, "bench-train-dask", tmp / "train" / "dask.yaml", args.train_options)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
            memory_limit=f"{limit_mib}MiB",
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        base_mib = max(client.run(_rss_now_mib).values())
        wall, rss, err = _child(
            ["train", "--config", str(dask_cfg), "--engine", "dask", "--scheduler", cluster.scheduler_address, *common]
        )
        workers_mib = list(client.run(_peak_rss_mib).values())
    runs["dask"] = {"wall_s": wall, "rss_mib": rss, "stderr": err, "workers_mib": workers_mib}
    for engine, r in runs.items():
        fit = _fit_seconds(r["stderr"])
        boosters = next((line for line in r["stderr"].splitlines() if "boosters with xgboost.dask" in line), "")
        r["fit_s"] = fit
        workers = ", ".join(f"{m:,.0f} MiB" for m in r["workers_mib"])
        print(
            f"      {engine:5s}: whole run {r['wall_s']:,.0f} s, fit {fit:,.0f} s; peak RSS of the training process "
            f"{r['rss_mib']:,.0f} MiB" + (f"; per worker {workers} (limit {limit_mib:,} MiB)" if workers else "")
            + (f"; {boosters.strip()}" if boosters else "")
        )
    metrics = {e: _run_metrics(f"sqlite:///{home / 'mlflow.db'}", f"bench-train-{e}") for e in runs}
    shown = ("auc_mean", "brier_mean", "log_loss_mean", "ece_max", "dr_policy_value", "regret")
    print(
        "      held-out: "
        + "; ".join(f"{k} {metrics['local'].get(k, math.nan):.4f} / {metrics['dask'].get(k, math.nan):.4f}" for k in shown)
        + " (local / dask)"
    )
    # generating a chunk needs more than a training piece: its own cluster, without the training's limit
    plan = plan_cohort(n, 7, args.partition_chunk, str(tmp / "train" / "parts"), None)
    chunks = list(range(math.ceil(n / args.partition_chunk)))
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        costs = client.gather(client.map(functools.partial(_part_cost, plan), chunks, pure=False))
    print(
        f"(vii) cohort --engine dask, 2 workers: {len(costs)} partitions of {args.partition_chunk:,}: CPU "
        f"{statistics.fmean(costs):.1f} s per partition ({args.partition_chunk / statistics.fmean(costs):,.0f} "
        "patients per CPU-second)"
    )
    boosters_n = _boosters(runs["dask"]["stderr"])
    per_row_fit_s = runs["dask"]["fit_s"] * 2 / n  # CPU-seconds per training row over the 2 workers
    worker_base_mib = base_mib
    per_row_mib = max(1e-9, (max(runs["dask"]["workers_mib"]) - worker_base_mib) / (n / 2))
    rng = np.random.default_rng(5)
    print(
        f"(viii) capacity, extrapolated linearly from (vi) and (vii): training {per_row_fit_s * 1e6:,.0f} "
        f"CPU-us per patient over {boosters_n} boosters; workers' memory above their {worker_base_mib:.0f} MiB at start "
        f"{per_row_mib * 2**20:,.0f} bytes per patient of the cohort"
    )
    print("      patients     min workers at the limit    cohort on 16 / 64      train on 16 / 64 workers")
    for total in (10_000_000, 100_000_000):
        need = max(1, math.ceil(total * per_row_mib / max(1.0, limit_mib - worker_base_mib)))
        parts = math.ceil(total / args.partition_chunk)
        gen = [human_s(simulate(costs, parts, w, 0.05, rng)) for w in (16, 64)]
        fit = [human_s(total * per_row_fit_s / w) for w in (16, 64)]
        print(f"      {total:>11,}   {need:>10,} x {limit_mib:,} MiB     {gen[0]:>7} / {gen[1]:<7}     {fit[0]:>7} / {fit[1]}")


def _worker_pid() -> int:
    return os.getpid()


@contextmanager
def _separate_cluster(folder: Path, limit_mib: int) -> Iterator[str]:
    """A scheduler and 2 single-threaded workers (limit ``limit_mib`` each, spilling off, pause at 90 %, restart
    above 95 %) in processes of their own, so this process is only the client: its memory is the driving
    process's. Yields the scheduler's address."""
    import json
    import subprocess

    env = {
        **os.environ,
        "DASK_DISTRIBUTED__WORKER__MEMORY__TARGET": "False", "DASK_DISTRIBUTED__WORKER__MEMORY__SPILL": "False",
        "DASK_DISTRIBUTED__WORKER__MEMORY__PAUSE": "0.90", "DASK_DISTRIBUTED__WORKER__MEMORY__TERMINATE": "0.95",
    }  # fmt: skip
    file = folder / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env, "cwd": REPO}
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(file)], **quiet,
    )  # fmt: skip
    workers = None
    try:
        for _ in range(600):
            if file.exists() and file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(file.read_text(encoding="utf-8"))["address"]
        workers = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2", "--nthreads", "1",
             "--memory-limit", f"{limit_mib}MiB", "--no-dashboard", "--host", "127.0.0.1"], **quiet,
        )  # fmt: skip
        from dask.distributed import Client

        with Client(address, timeout=60) as probe:
            probe.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in (workers, scheduler):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _memory_settings() -> str:
    """On a worker: Dask's memory thresholds it runs with."""
    import dask

    got = {k: dask.config.get(f"distributed.worker.memory.{k}") for k in ("target", "spill", "pause", "terminate")}
    return ", ".join(f"{k} {v}" for k, v in got.items())


def worker_table_section(args: argparse.Namespace, tmp: Path) -> None:
    """(ix): the table prepared on the workers and every option's response boosters fitted from it, under a worker
    memory limit below the cohort's size in memory."""
    from dask.distributed import Client
    from scipy.special import expit

    from precisionpain.catalog.catalogs import load_catalogs
    from precisionpain.models.config import check_options, default_config_path, load_train_config
    from precisionpain.scale.training import DaskBoosting
    from precisionpain.scale.worker_table import WorkerTable, response_params, response_rounds

    n, limit_mib = args.train_patients, args.train_memory_limit
    folder = tmp / "table" / "cohort"
    gen_s, _, _ = _child(
        ["cohort", "--n", str(n), "--seed", "7", "--engine", "local", "--chunk-size", str(args.table_chunk), "--out", str(folder)]
    )
    cohort_mib = _cohort_mib(folder)
    source = args.train_config or default_config_path(REPO)
    config = load_train_config(_write_config(source, "bench-table", tmp / "table" / "config.yaml", args.train_options))
    options = check_options(config, load_catalogs(None).options.ids)
    print(
        f"(ix)  the table on the workers, {n:,} patients in part files of {args.table_chunk:,} ({gen_s:.0f} s to write): "
        f"the cohort is {cohort_mib:,.0f} MiB in memory; worker memory limit {limit_mib:,} MiB "
        f"({'below' if limit_mib < cohort_mib else 'NOT below'} the cohort); {len(options)} options, "
        f"{config.model.n_folds} folds, at most {response_rounds(config)['max_rounds']:,} rounds"
    )
    driver_before = _rss_now_mib()
    with _separate_cluster(tmp / "table", limit_mib) as address, Client(address) as client:
        pids = set(client.run(_worker_pid).values())
        settings = sorted(set(client.run(_memory_settings).values()))
        base = client.run(_rss_now_mib)
        started = time.perf_counter()
        table = WorkerTable.prepare(client, folder, config, partition_rows=args.table_chunk)
        prepare_s = time.perf_counter() - started
        after_prepare = client.run(_rss_now_mib)
        engine = DaskBoosting(client)
        rounds = response_rounds(config)
        started = time.perf_counter()
        losses, held = [], 0
        for j, option in enumerate(options):
            fit = table.fit_option(engine, option, response_params(config, j), **rounds)
            p = np.clip(expit(fit.oof_margin), 1e-12, 1 - 1e-12)
            losses.append(float(-np.mean(fit.y * np.log(p) + (1 - fit.y) * np.log(1 - p))))
            held = max(held, fit.oof_margin.nbytes + fit.y.nbytes + fit.rows.nbytes)
        fit_s = time.perf_counter() - started
        peaks = client.run(_peak_rss_mib)
        restarted = set(client.run(_worker_pid).values()) != pids
        table_mib = table.nbytes / 2**20
        train_rows, test_rows = table.train_rows, table.test_rows
        partitions = len(table.summaries)
        table.release()
    driver_peak = _peak_rss_mib()
    print(
        f"      prepared on the workers: {train_rows:,} training and {test_rows:,} held-out rows in {partitions} partitions, "
        f"{prepare_s:.1f} s; the workers hold {table_mib:,.0f} MiB for them (features as float32 and the arrays beside them); "
        "resident memory per worker at start " + ", ".join(f"{m:,.0f}" for m in base.values())
        + " MiB, after preparing " + ", ".join(f"{m:,.0f}" for m in after_prepare.values()) + " MiB"
    )
    print(
        f"      fitted {engine.boosters_trained} boosters ({len(options)} options x ({config.model.n_folds} folds + final)) "
        f"from the workers' partitions in {fit_s:,.0f} s; mean out-of-fold log loss {statistics.fmean(losses):.4f}"
    )
    print(
        "      peak resident memory per worker (VmHWM) " + ", ".join(f"{m:,.0f} MiB" for m in peaks.values())
        + f" under the {limit_mib:,} MiB limit ({'; '.join(settings)}) [{verdict(max(peaks.values()) < limit_mib and not restarted)}: "
        f"{'a worker was restarted' if restarted else 'no worker restarted'}]; the cohort is {cohort_mib:,.0f} MiB in memory"
    )
    print(
        f"      the driving process (this one): {driver_before:,.0f} MiB resident before, peak {driver_peak:,.0f} MiB; "
        f"it held the partition counts and, per option, out-of-fold margins, outcomes and row positions "
        f"(at most {held / 2**20:,.1f} MiB for one option), never the table or its features"
    )


def _fit_seconds(stderr: str) -> float:
    import re

    found = re.search(r"\(fit (\d+) s, whole run", stderr)
    return float(found.group(1)) if found else math.nan


def _boosters(stderr: str) -> int:
    import re

    found = re.search(r"trained ([\d,]+) boosters", stderr)
    return int(found.group(1).replace(",", "")) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", type=Path, help="an existing model package (skips training)")
    parser.add_argument("--save-model", type=Path, help="keep the trained package in this folder")
    parser.add_argument("--cohort", type=int, default=50_000, help="training patients when training")
    parser.add_argument("--patients", type=int, default=24_000, help="patients scored")
    parser.add_argument("--partition-rows", type=int, default=2_000, help="patients per partition (row group)")
    parser.add_argument("--batch", type=int, default=1_000, help="patients in the in-process RecommendBatch")
    parser.add_argument("--quick", action="store_true", help="a small run to check the script (not capacity figures)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--skip-score", action="store_true", help="leave out (i)-(v)")
    parser.add_argument(
        "--train-patients", type=int, default=1_000_000, help="patients for (vi)-(viii); 0 leaves them out"
    )
    parser.add_argument("--train-config", type=Path, help="training config (default: the shipped one)")
    parser.add_argument(
        "--train-options", help="comma-separated option ids trained in (vi) (default: the config's, all 28)"
    )
    parser.add_argument("--worker-memory-mib", type=int, help="worker memory limit in (vi) (default: cohort / 2)")
    parser.add_argument("--partition-chunk", type=int, default=100_000, help="patients per cohort partition in (vii)")
    parser.add_argument(
        "--train-memory-limit", type=int,
        help="worker memory limit in MiB for (ix), the table prepared on the workers; replaces (vi)-(viii)",
    )  # fmt: skip
    parser.add_argument("--table-chunk", type=int, default=10_000, help="patients per part file in (ix)")
    args = parser.parse_args()
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, min(getattr(args, key), value))

    from precisionpain.scale.datasets import list_partitions
    from precisionpain.scale.scoring import ModelSpec, loaded_model

    print(f"load average before: {load_average()} ({os.cpu_count()} CPUs, shared with other work)")
    results: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_score:
            package_dir = args.model_path or train_package(args.save_model or tmp / "package", args.cohort, seed=7)
            data = write_dataset(tmp / "data", args.patients, args.partition_rows, seed=99)
            partitions, _ = list_partitions(data, args.partition_rows)
            n = sum(p.rows for p in partitions)
            spec = ModelSpec(_catalog_sha256(), path=str(Path(package_dir).resolve()))
            meta = loaded_model(spec).engine.package.metadata
            print(
                f"model: {package_dir} ({len(meta.option_ids)} options, all explained, top {TOP_K}; "
                f"{len(meta.feature_ids)} features); {n:,} patients in {len(partitions)} partitions of "
                f"{args.partition_rows:,}"
            )

            batch_size = min(args.batch, n // 4)
            batch_rate = in_process_batch(Path(package_dir), data, batch_size)
            print(
                f"(i)   in-process RecommendBatch of {batch_size:,} patients (new ones each time, median of 3): "
                f"{batch_rate:,.0f} patients/s"
            )

            run_engine(spec, partitions[:1], tmp / "local-warm", "local", None)
            local_s, _ = run_engine(spec, partitions, tmp / "local", "local", None)
            local_rate = n / local_s
            print(f"(ii)  score --engine local: {n:,} patients in {local_s:.1f} s = {local_rate:,.0f} patients/s")

            runs = {w: dask_run(spec, partitions, tmp, w) for w in (1, 2)}
            rates = {w: n / r["wall_s"] for w, r in runs.items()}
            for w, r in runs.items():
                cold_rate = n / (r["ready_s"] + r["wall_s"])
                busy = sum(p.cpu_seconds for p in r["results"]) / (r["wall_s"] * w)
                print(
                    f"(iii) score --engine dask, {w} worker{'s' if w > 1 else ''}: {rates[w]:,.0f} patients/s "
                    f"({r['wall_s']:.1f} s; cold, with cluster start {r['start_s']:.1f} s and model load on every "
                    f"worker: {cold_rate:,.0f} patients/s); the workers had {busy:.0%} of their cores (CPU time in "
                    "the tasks / wall time); peak RSS per worker "
                    + ", ".join(f"{m:,.0f} MiB" for m in r["peak_mib"])
                )
            scaling = rates[2] / rates[1]
            per_worker = rates[2] / 2 / batch_rate
            results["scaling"] = scaling >= TARGETS["scaling"]
            results["per_worker"] = per_worker >= TARGETS["per_worker"]
            print(
                f"      scaling 1 -> 2 workers: {scaling:.2f} x [target >= {TARGETS['scaling']}: "
                f"{verdict(results['scaling'])}]"
            )
            print(
                f"      per worker with 2: {rates[2] / 2:,.0f} patients/s = {per_worker:.0%} of (i) "
                f"[target >= {TARGETS['per_worker']:.0%}: {verdict(results['per_worker'])}]; "
                f"{rates[2] / 2 / local_rate:.0%} of (ii)"
            )

            two = runs[2]
            costs = [r.seconds for r in two["results"]]
            cpu_costs = [r.cpu_seconds for r in two["results"]]
            overhead = max(0.0, (two["wall_s"] * 2 - sum(costs)) / len(costs))
            out_bytes = sum(p.stat().st_size for p in (tmp / "dask-2").glob("part-*.parquet"))
            per_patient_bytes = out_bytes / n
            print(
                f"(iv)  per partition of {args.partition_rows:,} (2 workers, inside the task): wall mean "
                f"{statistics.fmean(costs):.2f} s, p95 {float(np.quantile(costs, 0.95)):.2f} s; CPU mean "
                f"{statistics.fmean(cpu_costs):.2f} s ({args.partition_rows / statistics.fmean(cpu_costs):,.0f} patients "
                f"per CPU-second, what a worker with its own core does); gap between tasks "
                f"{overhead * 1000:.0f} ms per task (Dask's scheduling, and any wait for a core); output "
                f"{per_patient_bytes:,.0f} bytes per patient (zstd Parquet)"
            )

            rng = np.random.default_rng(11)
            start_s = two["ready_s"]
            print(
                f"(v)   simulated wall time on workers with a core each (the measured CPU cost per partition resampled, "
                f"greedy on free workers, + {overhead * 1000:.0f} ms per task, + {start_s:.0f} s start-up and model load):"
            )
            worker_counts = (2, 16, 64, 256)
            print("      patients      " + "".join(f"{w:>12} workers" for w in worker_counts) + "      output")
            for total in (10_000_000, 100_000_000):
                parts = math.ceil(total / args.partition_rows)
                cells = [human_s(start_s + simulate(cpu_costs, parts, w, overhead, rng)) for w in worker_counts]
                size_gib = total * per_patient_bytes / 2**30
                print(f"      {total:>11,}" + "".join(f"{c:>20}" for c in cells) + f"   {size_gib:,.0f} GiB")
        if args.train_patients > 0 and args.train_memory_limit:
            worker_table_section(args, tmp)
        elif args.train_patients > 0:
            train_section(args, tmp)
    print(f"load average after: {load_average()}")
    met = sum(results.values())
    print(f"targets met: {met} of {len(results)}")
    if args.strict and met < len(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
