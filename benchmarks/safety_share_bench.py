"""The safety rules' share of serving, on one model: the same servicer with the shipped rules and with none.

    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/safety_share_bench.py --model-path DIR [--calls N]

One process, no transport, serving's collector settings. The model package's own catalogs are loaded once; the
"without" engine is the same engine whose safety catalogs hold no rule of models/safety_rules.yaml (CPIC
"avoid" still excludes, as it did before the safety layer; the medication list and functional CYP2D6 stay in
the features, since the model reads them). For distinct synthetic patients it times, in thread CPU time, the
answer to one Recommend (request message to the bytes sent) and to a RecommendBatch of ``--batch`` patients,
alternating the two engines for ``--rounds`` rounds and keeping each one's best; it prints both, the answer
sizes, and the rules' share: (with - without) / with. serve_bench's figures add the transport on top of these,
so the rules' share of a call over gRPC is smaller than the share printed here.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_bench import patient_requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-path", type=Path, required=True, help="a model package")
    parser.add_argument("--calls", type=int, default=500, help="single calls per round (distinct patients)")
    parser.add_argument("--batch", type=int, default=500, help="patients per RecommendBatch")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    from precisionpain.catalog.catalogs import load_catalogs
    from precisionpain.safety.engine import compile_safety_catalogs
    from precisionpain.service.heap import GC_THRESHOLD
    from precisionpain.service.model_store import LocalModelSource, load_model
    from precisionpain.service.servicer import CallInfo, RecommendationServicer
    from precisionpain.v1 import service_pb2

    model = load_model(LocalModelSource(args.model_path), load_catalogs(None).features.sha256)
    engine = model.engine
    shipped = engine.safety
    none = compile_safety_catalogs(
        shipped.root,
        shipped.features,
        shipped.options,
        shipped.tables,
        shipped.medications,
        dataclasses.replace(shipped.rules, rules=()),
    )
    servicer = RecommendationServicer(lambda: model, max_batch_size=max(1_000, args.batch))
    requests = patient_requests(args.calls + args.batch, 11)
    singles, batch = requests[: args.calls], service_pb2.RecommendBatchRequest(requests=requests[args.calls :])
    call = CallInfo(request_id="bench")
    versions = {"with the shipped rules": shipped, "without rules": none}
    for safety in versions.values():  # warm-up: every cache filled for these patients
        engine.safety = safety
        for request in singles:
            servicer.recommend_wire(request, call)
        servicer.recommend_batch_wire(batch, call)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    best: dict[str, dict[str, float]] = {v: {"single": 1e9, "batch": 1e9} for v in versions}
    size: dict[str, float] = {}
    for _ in range(args.rounds):
        for label, safety in versions.items():
            engine.safety = safety
            started = time.thread_time()
            size[label] = sum(len(servicer.recommend_wire(r, call)) for r in singles) / len(singles)
            single = (time.thread_time() - started) / len(singles) * 1e3
            started = time.thread_time()
            servicer.recommend_batch_wire(batch, call)
            per_patient = (time.thread_time() - started) / len(batch.requests) * 1e3
            best[label]["single"] = min(best[label]["single"], single)
            best[label]["batch"] = min(best[label]["batch"], per_patient)
    engine.safety = shipped
    print(f"model: {args.model_path} ({len(engine.option_ids)} options, {len(engine.outcomes)} outcomes); "
          f"{len(shipped.rules.rules)} rules; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    for label, b in best.items():
        print(f"{label}: Recommend {b['single']:.3f} ms per call (CPU), RecommendBatch {b['batch']:.3f} ms per "
              f"patient ({1e3 / b['batch']:.0f} patients/s), answer {size[label] / 1024:.1f} KiB")  # fmt: skip
    w, wo = best["with the shipped rules"], best["without rules"]
    share: dict[str, Any] = {k: (w[k] - wo[k]) / w[k] for k in ("single", "batch")}
    print(f"the rules' share: Recommend {share['single']:.1%}, RecommendBatch {share['batch']:.1%}")


if __name__ == "__main__":
    main()
