"""The servicer in-process, per call, under the garbage collector's default and serving settings.

    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/servicer_bench.py [--model-path DIR] [--cohort N]

One process, no transport: ``RecommendationServicer.recommend`` from the request message to the response
message (validation, features, TreeSHAP, intervals, safety rules, ranking, conversion), for distinct synthetic
patients, as the server runs it. It prints the mean time per call and the response size three ways: the
collector's default thresholds; serving's settings (``service.server.GC_THRESHOLD``, the heap frozen after
warm-up, as a server does after a model load); and the collector disabled. The gap between the first two is
what collection passes over the long-lived heap cost; serve_bench's (b) adds the transport on top.

``--stages`` then answers one ``RecommendBatch`` of ``--calls`` new patients (serving's collector settings) with
each stage of the answer timed apart in thread CPU time, per patient: reading the request, features, the models
with TreeSHAP, building the predictions, the safety rules, the data warnings, the ranking and the wire codec.
``--stage-runs N`` answers N such batches (other new patients each time) and prints each stage's median over
them: on a shared machine one batch's figures move by tens of percent from run to run.

``--processes N`` then answers ``RecommendBatch`` of ``--calls`` new patients in N forked processes at once
(each with the model loaded before the fork, as ``serving.workers`` processes hold it) and prints each
process's patients per second and all of them together: what splitting one batch over the cores could give at
most, before any transport.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_bench import patient_requests, train_package


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-path", type=Path, help="an existing model package (skips training)")
    parser.add_argument("--cohort", type=int, default=20_000, help="training patients when training")
    parser.add_argument("--calls", type=int, default=400, help="timed calls per setting (distinct patients)")
    parser.add_argument("--stages", action="store_true", help="also time each stage of a batch's answers")
    parser.add_argument(
        "--stage-runs", type=int, default=1, help="batches of new patients timed by stage (medians printed)"
    )
    parser.add_argument(
        "--processes", type=int, default=0, help="also answer a batch in this many processes at once"
    )
    args = parser.parse_args()

    from precisionpain.catalog.catalogs import load_catalogs
    from precisionpain.service.model_store import LocalModelSource, load_model
    from precisionpain.service.servicer import CallInfo, RecommendationServicer

    with tempfile.TemporaryDirectory(prefix="servicer-bench-") as tmp:
        path = args.model_path or train_package(Path(tmp) / "package", args.cohort, 7)
        model = load_model(LocalModelSource(path), load_catalogs(None).features.sha256)
        servicer = RecommendationServicer(lambda: model, max_batch_size=1_000)
        requests = patient_requests(4 * args.calls, 11)
        call = CallInfo(request_id="bench")
        for request in requests[: args.calls]:  # warm-up: caches filled by other patients
            servicer.recommend(request, call)
        settings = {
            "default collector": lambda: None,
            "serving collector (threshold, heap frozen)": lambda: (gc.collect(), gc.freeze(),
                                                                   gc.set_threshold(*_serving_threshold())),
            "collector disabled": gc.disable,
        }  # fmt: skip
        for i, (label, apply) in enumerate(settings.items()):
            apply()
            batch = requests[(i + 1) * args.calls : (i + 2) * args.calls]
            started = time.perf_counter()
            size = sum(servicer.recommend(r, call).ByteSize() for r in batch)
            per_call_ms = (time.perf_counter() - started) / len(batch) * 1e3
            print(f"{label}: {per_call_ms:.2f} ms per call, response {size / len(batch) / 1024:.1f} KiB")
        gc.enable()
        if args.stages:
            runs = [
                stages(servicer, patient_requests(args.calls, 23 + run), call)
                for run in range(max(1, args.stage_runs))
            ]
            if len(runs) > 1:
                print(f"Median of {len(runs)} batches, thread CPU per patient:")
                for label in runs[0]:
                    print(f"  {label}: {statistics.median(r[label] for r in runs):.3f} ms")
        if args.processes > 0:
            in_processes(servicer, call, args.processes, args.calls)


def in_processes(servicer: Any, call: Any, n: int, calls: int) -> None:
    """``RecommendBatch`` of ``calls`` new patients answered in ``n`` forked processes started together."""
    import multiprocessing

    from precisionpain.v1 import service_pb2

    batches = [service_pb2.RecommendBatchRequest(requests=patient_requests(calls, 101 + i)) for i in range(n)]
    servicer.recommend_batch_wire(service_pb2.RecommendBatchRequest(requests=patient_requests(50, 99)), call)
    gc.collect()
    gc.freeze()
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(n + 1)
    results = ctx.SimpleQueue()

    def answer(i: int) -> None:
        start.wait()
        began = time.perf_counter()
        servicer.recommend_batch_wire(batches[i], call)
        results.put((i, time.perf_counter() - began))

    workers = [ctx.Process(target=answer, args=(i,)) for i in range(n)]
    for w in workers:
        w.start()
    start.wait()
    began = time.perf_counter()
    walls = [results.get() for _ in workers]
    total = time.perf_counter() - began
    for w in workers:
        w.join()
    for i, wall in sorted(walls):
        print(f"process {i + 1}: RecommendBatch of {calls} in {wall:.2f} s, {calls / wall:.0f} patients/s")
    print(f"{n} processes together: {n * calls / total:.0f} patients/s ({n * calls} patients in {total:.2f} s)")


STAGES = {
    "reading the request": ("precisionpain.service.servicer", "RecommendationServicer", "_prepare"),
    "features": ("precisionpain.recommender", "Recommender", "_feature_matrix"),
    "models and TreeSHAP": ("precisionpain.recommender", "Recommender", "_score"),
    "predictions": ("precisionpain.recommender", "Recommender", "_predictions"),
    "safety rules": ("precisionpain.recommender", None, "apply_safety_rules"),
    "data warnings": ("precisionpain.recommender", None, "data_warnings"),
    "ranking": ("precisionpain.recommender", None, "rank_options"),
    "wire codec": ("precisionpain.service.servicer", "convert", "recommend_response_bytes"),
}


def stages(servicer: Any, requests: list[Any], call: Any) -> dict[str, float]:
    """One RecommendBatch of ``requests`` (new patients) with each stage timed apart (thread CPU, per patient);
    returns the milliseconds per patient by stage ("in all" and "the rest" included)."""
    import functools
    import importlib

    from precisionpain.v1 import service_pb2

    spent = dict.fromkeys(STAGES, 0.0)
    originals = []
    for label, (module_name, owner_name, name) in STAGES.items():
        module = importlib.import_module(module_name)
        owner = module if owner_name is None else getattr(module, owner_name)
        original = getattr(owner, name)

        def timed(*a: Any, _f: Any = original, _label: str = label, **k: Any) -> Any:
            started = time.thread_time()
            try:
                return _f(*a, **k)
            finally:
                spent[_label] += time.thread_time() - started

        setattr(owner, name, functools.wraps(original)(timed))
        originals.append((owner, name, original))
    try:
        gc.collect()
        gc.freeze()
        gc.set_threshold(*_serving_threshold())
        started = time.thread_time()
        servicer.recommend_batch_wire(service_pb2.RecommendBatchRequest(requests=requests), call)
        total = time.thread_time() - started
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    n = len(requests)
    print(f"RecommendBatch of {n} new patients, thread CPU per patient: {total / n * 1e3:.3f} ms in all")
    out = {"in all": total / n * 1e3}
    for label, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {label}: {seconds / n * 1e3:.3f} ms")
        out[label] = seconds / n * 1e3
    out["the rest"] = (total - sum(spent.values())) / n * 1e3
    print(f"  the rest: {out['the rest']:.3f} ms")
    return out


def _serving_threshold() -> tuple[int, int, int]:
    from precisionpain.service.server import GC_THRESHOLD

    return GC_THRESHOLD


if __name__ == "__main__":
    main()
