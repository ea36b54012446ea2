"""Benchmark the safety exclusion matrix evaluation uses: the safety engine over a flat table of patients.

    .venv/bin/python benchmarks/safety_matrix_bench.py --n 200000
    .venv/bin/python benchmarks/safety_matrix_bench.py --quick     # 20,000 patients

Generates a synthetic cohort (not timed), then times ``precisionpain.ranking.safety_exclusion_matrix`` over every
option of the catalog, cold (new catalogs, empty engine caches) and warm, with the number of patient groups the
engine ran on, and prints a verdict against the target of 15 s for 200,000 patients on the project machine. The
machine load is printed too: figures taken on shared cores are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import time

from precisionpain.cohort import generate_cohort
from precisionpain.ranking import _safety_groups, safety_exclusion_matrix
from precisionpain.safety import load_safety_catalogs

TARGET_S_PER_200K = 15.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="patients (default 200,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20,000 patients, to check that it runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.n = 20_000

    print(f"cpus: {os.cpu_count()}, load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    catalogs = load_safety_catalogs()
    frame = generate_cohort(args.n, args.seed, catalog=catalogs.features, options=catalogs.options, tables=catalogs.tables)
    option_ids = list(catalogs.options.ids)
    groups = len({tuple(r) for r in _safety_groups(frame, catalogs)[0]})
    print(f"patients: {args.n:,}, options: {len(option_ids)}, patient groups the engine runs on: {groups:,}")

    timings = []
    for label in ("cold", "warm"):
        t0 = time.perf_counter()
        matrix = safety_exclusion_matrix(frame, option_ids, catalogs)
        seconds = time.perf_counter() - t0
        timings.append(seconds)
        print(f"{label}: {seconds:.1f} s ({args.n / seconds:,.0f} patients/s); excluded cells {matrix.mean():.3f}")
    if args.quick or args.n != 200_000:
        print(f"target: <= {TARGET_S_PER_200K:.0f} s cold for 200,000 patients -> not judged at this size")
    else:
        verdict = "ok" if timings[0] <= TARGET_S_PER_200K else "SLOW"
        print(f"target: <= {TARGET_S_PER_200K:.0f} s cold for 200,000 patients -> {verdict}")
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
