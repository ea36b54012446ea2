"""The servicer in-process, per call, under the garbage collector's default and serving settings.

    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/servicer_bench.py [--model-path DIR] [--cohort N]

One process, no transport: ``RecommendationServicer.recommend`` from the request message to the response
message (validation, features, TreeSHAP, intervals, safety rules, ranking, conversion), for distinct synthetic
patients, as the server runs it. It prints the mean time per call and the response size three ways: the
collector's default thresholds; serving's settings (``service.server.GC_THRESHOLD``, the heap frozen after
warm-up, as a server does after a model load); and the collector disabled. The gap between the first two is
what collection passes over the long-lived heap cost; serve_bench's (b) adds the transport on top.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_bench import patient_requests, train_package


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-path", type=Path, help="an existing model package (skips training)")
    parser.add_argument("--cohort", type=int, default=20_000, help="training patients when training")
    parser.add_argument("--calls", type=int, default=400, help="timed calls per setting (distinct patients)")
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


def _serving_threshold() -> tuple[int, int, int]:
    from precisionpain.service.server import GC_THRESHOLD

    return GC_THRESHOLD


if __name__ == "__main__":
    main()
