"""Recommendation service latency and throughput, all figures from one run.

    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/serve_bench.py [--model-path DIR] [--save-model DIR]

Without ``--model-path`` it first trains a realistic model: a 50,000-patient synthetic cohort and
TreatmentResponseModel with its defaults (n_jobs=2) for the response and, as training ships it, for each harm
outcome of the shipped spec (``--no-harms``: the response only; ``--strategy``: another strategy, e.g. s_learner, for
every outcome), written as a model package (``--save-model`` keeps it). Every option's response and harms are then estimated and explained in every answer.
Patients are drawn from a separate synthetic cohort, so every call carries a different profile. It prints:

(a) the in-process floor: XGBoost ``predict`` (margins) + ``predict(pred_contribs=True)`` on one row, every
    option explained (nthread=1), for the models as trained (one booster per option: the floor the (b) target
    is set against) and for the merged multi-target booster serving builds from them (about 3x faster); plus
    the engine's own in-process time (features, exact TreeSHAP, intervals, CPIC ranking);
(b) Recommend over gRPC on 127.0.0.1 from one client, sequential: p50 and p99 (client-measured), as a ratio
    to both floors; and, for reference, the same calls to a bare gRPC server whose Recommend does the
    merged-booster floor work and returns a prebuilt answer of the usual size as its bytes (as the service sends
    its answers), and to the same server doing no work at all: the cost of the transport and the client;
(c) 8 concurrent clients: throughput and p99, and the ratio to the single-client throughput;
(d) RecommendBatch of 1,000 patients: patients per second.

The server runs as its own process (``python -m precisionpain.service.server``), as in production, with
its access log on (``--log-level INFO``, the default; one JSON line per call into a temporary file). Each
figure is printed with its target and PASS or MISS; the last line counts the targets met (``--strict`` exits
1 when one is missed). The figures are wall-clock on whatever machine runs the script; on a shared machine
other jobs inflate them, so the load average is printed before and after, and the server's peak memory.

``--without-safety-rules`` serves a copy of the package whose safety rules catalog holds no rule that can fire (CPIC "avoid"
still excludes; the features are the same): run it and the plain run one after the other in one sitting for the
rules' share of each figure over gRPC (``benchmarks/safety_share_bench.py`` gives the share in CPU time, without
the transport).

``--server-cpus 1`` pins the server's processes to CPU 1 and this client to the rest: on 2 cores, where the kernel
places the client and the server process that gets its connection otherwise moves (b) between about 5 and 9 ms from
one run to the next, whatever the version.

``--quick`` runs a small version (a 5,000-patient model, fewer calls) to check the script itself; its
figures are not the capacity figures.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"b": 1.3, "c": 1.6, "d": 500.0}


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def train_package(
    directory: Path, n: int, seed: int, *, harms: bool = True, strategy: str = "t_learner"
) -> Path:
    """A package of every option with the estimator's defaults and ``strategy`` (the same for every outcome) and,
    for a strategy that takes one, the shipped spec's first stage (models/response_model.yaml); with ``harms`` also
    one model per option for each harm outcome of the shipped spec, as training ships it."""
    from precisionpain.catalog.loader import load_feature_catalog, load_treatment_options
    from precisionpain.catalog.pgx_tables import load_pgx_tables
    from precisionpain.cohort import generate_cohort
    from precisionpain.features.assemble import assemble_features
    from precisionpain.models.card import LIMITATIONS
    from precisionpain.models.config import default_config_path, load_train_config
    from precisionpain.models.estimator import FIRST_STAGE_STRATEGIES, TreatmentResponseModel
    from precisionpain.models.outcomes import table_means, with_observed_harms
    from precisionpain.models.package import package_metadata, write_package

    catalog = load_feature_catalog(REPO)
    options = load_treatment_options(REPO)
    tables = load_pgx_tables(REPO)
    started = time.perf_counter()
    frame = generate_cohort(n, seed, catalog=catalog, options=options, tables=tables)
    X = assemble_features(frame, catalog, tables).values
    treatment = frame["assigned_option"].to_numpy(dtype=object)
    spec = load_train_config(default_config_path(REPO))
    first_stage = (
        spec.model.estimator_params("binary", seed, feature_ids=catalog.feature_ids)["first_stage_features"]
        if strategy in FIRST_STAGE_STRATEGIES
        else ()
    )
    model = TreatmentResponseModel(
        n_jobs=2, random_state=seed, strategy=strategy, first_stage_features=first_stage
    ).fit(X, treatment, frame["responded"].to_numpy(dtype=float))
    harm_configs = spec.harms if harms else ()
    observed = with_observed_harms(frame, harm_configs, "assigned_option")
    harm_models = {
        h.name: TreatmentResponseModel(
            n_jobs=2, random_state=seed, strategy=strategy, single_class="prior", first_stage_features=first_stage
        ).fit(X, treatment, observed[h.column].to_numpy(dtype=float), propensity_model=model.propensity_model_)
        for h in harm_configs
    }
    metadata = package_metadata(
        model,
        X,
        catalog,
        options,
        registered_model="precisionpain-response",
        training_data=f"Synthetic cohort (PrecisionPain generator; not real patients), {n:,} patients",
        code_version="benchmark",
        run_id="benchmark",
        harms=harm_configs,
        table_means=table_means(
            {"response": model, **harm_models}, X, frame, [str(o) for o in model.options_]
        ),
        ranking=spec.ranking,
    )
    card = "# Model card (benchmark)\n\n" + "\n".join(LIMITATIONS)
    write_package(directory, model, metadata, REPO, card, harm_models)
    rounds = [model.option_fits_[o].n_rounds for o in model.options_]
    print(
        f"trained on {n:,} patients in {time.perf_counter() - started:.0f} s: {len(rounds)} options x "
        f"{1 + len(harm_models)} outcomes, response {min(rounds)}-{max(rounds)} boosting rounds (median "
        f"{int(np.median(rounds))})"
    )
    return directory


def without_safety_rules(package_dir: Path, out: Path) -> Path:
    """A copy of the package whose safety rules catalog holds no rule that can fire, sealed again: CPIC "avoid"
    still excludes (as before the safety layer) and the features are the same, so serving it against the package
    itself gives the rules' share of a call over gRPC. The catalog must hold a rule: it keeps its first one, on
    an eGFR below 0, which no profile passes validation with."""
    import shutil

    import yaml

    from precisionpain.models.package import seal_package

    shutil.copytree(package_dir, out)
    (path,) = out.glob("catalog/**/safety_rules.yaml")
    catalog = yaml.safe_load(path.read_text(encoding="utf-8"))
    first = dict(catalog["rules"][0], when={"field": "clinical.egfr_ml_per_min_1_73m2", "lt": 0})
    catalog["rules"] = [first]
    path.write_text(yaml.safe_dump(catalog, sort_keys=False), encoding="utf-8")
    seal_package(out)
    return out


def patient_requests(n: int, seed: int) -> list[Any]:
    """RecommendRequests for n synthetic patients (profile columns of a fresh cohort)."""
    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.cohort import generate_cohort
    from precisionpain.features.frame import iter_profile_dicts
    from precisionpain.features.validate import validate_profile
    from precisionpain.service.client import recommend_request

    catalog = load_feature_catalog(REPO)
    frame = generate_cohort(n, seed, catalog=catalog)
    out = []
    for i, data in enumerate(iter_profile_dicts(frame, catalog)):
        data["patient_ref"] = f"bench-{i}"
        validate_profile(data, catalog)
        out.append(recommend_request(data))
    return out


def percentiles_ms(times: list[float]) -> tuple[float, float]:
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


@dataclass(frozen=True)
class Floor:
    """(a) in milliseconds: p50 and p99 of each way to score and explain one row."""

    per_option: tuple[float, float]
    merged: tuple[float, float]
    engine: tuple[float, float]
    settle_s: float  # the collection + freeze a serving process does after each model load (calls pause)


def floor(package_dir: Path, requests: list[Any], rows: int, reference_response: Path) -> Floor:
    """(a): XGBoost predict + pred_contribs on one row, per-option boosters and merged booster, and the engine
    in-process. Writes one real response (the first patient's) for the reference server."""
    import xgboost as xgb

    from precisionpain.features.validate import validate_profile
    from precisionpain.models.package import read_package
    from precisionpain.recommender import Recommender
    from precisionpain.service.convert import recommend_input_from_request, recommend_response
    from precisionpain.service.heap import settle_heap

    package = read_package(package_dir)
    engine = Recommender(package)
    engine.warmup()
    t0 = time.perf_counter()
    settle_heap()
    settle_s = time.perf_counter() - t0
    gc.unfreeze()
    estimator = package.estimator
    point, _ = estimator.serving_boosters
    per_option = [estimator.boosters_[o] for o in estimator.options_]
    for booster in (point, *per_option):
        booster.set_param({"nthread": 1})
    profiles = [validate_profile(recommend_input_from_request(r).profile, package.catalog) for r in requests[:rows]]
    X = np.stack([np.asarray(engine.features(p).values, dtype=np.float32) for p in profiles])
    (first,) = engine.score(profiles[:1])
    reference_response.write_bytes(recommend_response(first).SerializeToString())

    def timed(run: Any, items: Any) -> tuple[float, float]:
        for item in items[:20]:
            run(item)
        times = []
        for item in items:
            t0 = time.perf_counter()
            run(item)
            times.append(time.perf_counter() - t0)
        return percentiles_ms(times)

    def xgb_row(boosters: list[Any]) -> Any:
        def run(x: np.ndarray) -> None:
            dm = xgb.DMatrix(x[None, :], missing=np.nan)
            for booster in boosters:
                booster.predict(dm, output_margin=True)
                booster.predict(dm, pred_contribs=True)

        return run

    return Floor(
        per_option=timed(xgb_row(per_option), X),
        merged=timed(xgb_row([point]), X),
        engine=timed(lambda p: engine.score([p]), profiles),
        settle_s=settle_s,
    )


def reference_server(package_dir: Path, port: int, response_path: Path, work: str) -> None:
    """The (b) references: a plain gRPC server (same thread pool, standard health) whose Recommend returns a
    prebuilt answer of the usual size as its bytes, as the service sends its answers (no serialising per call),
    after doing the merged-booster floor work on one row (``work`` "merged") or nothing ("none": the transport
    and the client alone)."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc
    import xgboost as xgb
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    from precisionpain.models.package import read_package
    from precisionpain.service.server import SERVICE_NAME

    package = read_package(package_dir)
    point, _ = package.estimator.serving_boosters
    point.set_param({"nthread": 1})
    rows = np.random.default_rng(0).normal(size=(1024, len(package.metadata.feature_ids))).astype(np.float32)
    answer = response_path.read_bytes()
    calls = itertools.count()

    def recommend(request: bytes, context: Any) -> bytes:
        if work == "merged":
            dm = xgb.DMatrix(rows[next(calls) % len(rows)][None, :], missing=np.nan)
            point.predict(dm, output_margin=True)
            point.predict(dm, pred_contribs=True)
        return answer

    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    handlers = {"Recommend": grpc.unary_unary_rpc_method_handler(recommend)}  # bytes in, bytes out
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),)
    )
    checker = health.HealthServicer()
    checker.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def reference_latency(
    package_dir: Path, response_path: Path, requests: list[Any], calls: int, work: str
) -> tuple[float, float]:
    port = free_port()
    cmd = [sys.executable, __file__, "--reference-server", str(port), "--model-path", str(package_dir),
           "--reference-response", str(response_path), "--reference-work", work]  # fmt: skip
    env = {**os.environ, "OMP_WAIT_POLICY": "passive"}
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        wait_serving(f"127.0.0.1:{port}")
        return percentiles_ms(sequential(f"127.0.0.1:{port}", requests, calls))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    package_dir: Path,
    port: int,
    workers: int,
    log_path: Path,
    log_level: str = "INFO",
    processes: int = 1,
    cpus: set[int] | None = None,
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRECISIONPAIN_SERVE_")}
    env["OMP_WAIT_POLICY"] = "passive"
    cmd = [
        sys.executable, "-m", "precisionpain.service.server",
        "--model-path", str(package_dir), "--port", str(port), "--workers", str(workers),
        "--alias-check-interval-s", "0", "--log-level", log_level, "--processes", str(processes),
    ]  # fmt: skip
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    return subprocess.Popen(
        cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log_path.open("wb"), preexec_fn=pin
    )


def peak_rss_mib(pid: int) -> float | None:
    """Peak resident memory (Linux /proc) of the process and its children (the server processes under a
    supervisor), in MiB."""
    total, found = 0.0, False
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for one in (pid, *map(int, children)):
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
                    found = True
        except OSError:
            continue
    return total if found else None


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def wait_serving(target: str, timeout_s: float = 120.0) -> None:
    from precisionpain.service.client import RecommendationClient, RecommendationServiceError

    deadline = time.monotonic() + timeout_s
    with RecommendationClient(target, timeout_s=2.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.health() == "SERVING":
                    return
            except RecommendationServiceError:
                pass
            time.sleep(0.2)
    raise SystemExit("the server did not become SERVING in time")


def sequential(target: str, requests: list[Any], n: int) -> list[float]:
    from precisionpain.service.client import RecommendationClient

    times = []
    with RecommendationClient(target, timeout_s=30.0) as client:
        for r in requests[:50]:
            client.recommend(r)
        for i in range(n):
            r = requests[i % len(requests)]
            t0 = time.perf_counter()
            client.recommend(r)
            times.append(time.perf_counter() - t0)
    return times


def concurrent(target: str, requests: list[Any], clients: int, per_client: int) -> tuple[float, list[float]]:
    from precisionpain.service.client import RecommendationClient

    times: list[list[float]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)

    def run(k: int) -> None:
        with RecommendationClient(target, timeout_s=60.0) as client:
            client.recommend(requests[k])
            start.wait()
            for i in range(per_client):
                r = requests[(k * per_client + i) % len(requests)]
                t0 = time.perf_counter()
                client.recommend(r)
                times[k].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    flat = [x for ts in times for x in ts]
    return len(flat) / elapsed, flat


def batch(target: str, requests: list[Any], size: int, repeats: int) -> list[float]:
    from precisionpain.service.client import RecommendationClient

    rates = []
    with RecommendationClient(target, timeout_s=300.0) as client:
        client.recommend_batch(requests[:size])
        for k in range(repeats):
            chunk = [requests[(k * size + i) % len(requests)] for i in range(size)]
            t0 = time.perf_counter()
            resp = client.recommend_batch(chunk)
            rates.append(size / (time.perf_counter() - t0))
            errors = sum(1 for r in resp.results if r.HasField("error"))
            if errors:
                raise SystemExit(f"{errors} batch items failed")
    return rates


QUICK = {"cohort": 5_000, "patients": 400, "calls": 200, "per_client": 50, "batch": 200, "batch_repeats": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", type=Path, help="an existing model package (skips training)")
    parser.add_argument("--save-model", type=Path, help="keep the trained package in this folder")
    parser.add_argument("--cohort", type=int, default=50_000, help="training patients when training")
    parser.add_argument("--no-harms", action="store_true", help="train the response model only (no harm outcomes)")
    parser.add_argument(
        "--strategy", default="t_learner", help="the estimator's strategy for every outcome when training"
    )
    parser.add_argument("--patients", type=int, default=2_000, help="distinct patients sent")
    parser.add_argument("--calls", type=int, default=1_000, help="sequential Recommend calls timed")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=250)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--batch-repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="server threads per process")
    parser.add_argument("--processes", type=int, default=2, help="server processes sharing the port (one per core)")
    parser.add_argument("--log-level", default="INFO", help="server log level (INFO: one access line per call)")
    parser.add_argument("--quick", action="store_true", help="a small run to check the script (not capacity figures)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--server-cpus",
        help="pin the server's processes to these CPUs (e.g. 1) and this client to the others, so where the "
        "kernel places them does not change (b) and (d) from run to run; (c) then has only these CPUs",
    )
    parser.add_argument(
        "--without-safety-rules",
        action="store_true",
        help="serve a copy of the package whose safety rules never fire (the rules' share, over gRPC)",
    )
    parser.add_argument("--reference-server", type=int, help=argparse.SUPPRESS)  # internal: (b) reference
    parser.add_argument("--reference-response", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reference-work", default="merged", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_server is not None:
        reference_server(args.model_path, args.reference_server, args.reference_response, args.reference_work)
        return
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, min(getattr(args, key), value))

    print(f"load average before: {load_average()} ({os.cpu_count()} CPUs, shared with other work)")
    results: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as tmp:
        package_dir = args.model_path
        if package_dir is None:
            package_dir = train_package(
                args.save_model or Path(tmp) / "package", args.cohort, seed=7, harms=not args.no_harms,
                strategy=args.strategy,
            )
        if args.without_safety_rules:
            package_dir = without_safety_rules(package_dir, Path(tmp) / "package-without-rules")
        requests = patient_requests(args.patients, seed=99)
        from precisionpain.models.package import read_package

        meta = read_package(package_dir).metadata
        print(f"model: {package_dir} ({len(meta.option_ids)} options, all explained; {len(meta.feature_ids)} features)")

        response_path = Path(tmp) / "reference-response.bin"
        a = floor(package_dir, requests, min(1000, len(requests)), response_path)
        k = len(meta.option_ids)
        print(
            f"(a) XGBoost predict + pred_contribs, one row, all {k} options: {k} per-option boosters (as trained) "
            f"p50 {a.per_option[0]:.3f} ms  p99 {a.per_option[1]:.3f} ms"
        )
        print(f"    merged multi-target serving booster: p50 {a.merged[0]:.3f} ms  p99 {a.merged[1]:.3f} ms")
        print(
            "    engine in-process (features, exact TreeSHAP, intervals, CPIC ranking): "
            f"p50 {a.engine[0]:.3f} ms  p99 {a.engine[1]:.3f} ms"
        )
        print(f"    collection + heap freeze after a model load (calls pause this long): {a.settle_s:.3f} s")
        ref_p50, ref_p99 = reference_latency(package_dir, response_path, requests, args.calls, "merged")
        bare_p50, bare_p99 = reference_latency(package_dir, response_path, requests, args.calls, "none")

        port = free_port()
        log_path = Path(tmp) / "server.log"
        server_cpus = None
        if args.server_cpus:
            server_cpus = {int(c) for c in args.server_cpus.split(",")}
            os.sched_setaffinity(0, os.sched_getaffinity(0) - server_cpus)
            print(f"server pinned to CPUs {sorted(server_cpus)}, client to {sorted(os.sched_getaffinity(0))}")
        server = start_server(
            package_dir, port, args.workers, log_path, args.log_level, args.processes, server_cpus
        )
        target = f"127.0.0.1:{port}"
        try:
            wait_serving(target)
            seq = sequential(target, requests, args.calls)
            p50, p99 = percentiles_ms(seq)
            single_rps = len(seq) / sum(seq)
            ratio_b = p50 / a.per_option[0]
            results["b"] = ratio_b <= TARGETS["b"]
            print(
                f"(b) Recommend over gRPC, 1 client, sequential ({len(seq)} calls): p50 {p50:.3f} ms  p99 {p99:.3f} ms"
                f"  = {ratio_b:.2f} x (a) per-option [target <= {TARGETS['b']}: {verdict(results['b'])}]"
                f"; {p50 / a.merged[0]:.2f} x (a) merged"
            )
            print(
                f"    reference: bare gRPC server doing only the merged-booster work: p50 {ref_p50:.3f} ms  "
                f"p99 {ref_p99:.3f} ms = {ref_p50 / a.merged[0]:.2f} x (a) merged"
            )
            print(
                f"    transport: the same server doing no work, the answer's {response_path.stat().st_size / 1024:.1f} "
                f"KiB as bytes: p50 {bare_p50:.3f} ms  p99 {bare_p99:.3f} ms (client included)"
            )
            rps, times = concurrent(target, requests, args.clients, args.per_client)
            c50, c99 = percentiles_ms(times)
            ratio_c = rps / single_rps
            results["c"] = ratio_c >= TARGETS["c"]
            print(
                f"(c) {args.clients} concurrent clients ({len(times)} calls, {args.processes} server processes x "
                f"{args.workers} threads): "
                f"{rps:.0f} calls/s  p50 {c50:.3f} ms  p99 {c99:.3f} ms  = {ratio_c:.2f} x single-client "
                f"throughput ({single_rps:.0f}/s) [target >= {TARGETS['c']}: {verdict(results['c'])}]"
            )
            rates = batch(target, requests, args.batch, args.batch_repeats)
            rate = statistics.median(rates)
            results["d"] = rate >= TARGETS["d"]
            print(
                f"(d) RecommendBatch of {args.batch}: {rate:.0f} patients/s median "
                f"(best {max(rates):.0f}, {len(rates)} calls) [target >= {TARGETS['d']:.0f}: {verdict(results['d'])}]"
            )
            rss = peak_rss_mib(server.pid)
            if rss is not None:
                print(f"server peak resident memory: {rss:.0f} MiB")
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    print(f"load average after: {load_average()}")
    met = sum(results.values())
    missed = ", ".join(f"({k})" for k, ok in results.items() if not ok)
    print(f"targets met: {met} of {len(results)}" + (f"; missed {missed}" if missed else ""))
    if args.strict and met < len(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
