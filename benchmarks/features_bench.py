"""Feature-layer speed: one profile JSON -> validated -> feature vector, and a table of profiles -> matrix.

    python benchmarks/features_bench.py [--rows 1000000] [--repeats 5000]

Prints p50/p99 latency for the single-profile path and wall time plus peak RSS for the table path. The table
is a synthetic cohort generated first (only its profile columns are kept, as a real table would have).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

REPO = Path(__file__).resolve().parent.parent


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def single(repeats: int) -> None:
    from precisionpain.features.assemble import assemble_features
    from precisionpain.features.validate import validate_profile

    for path in sorted((REPO / "examples" / "patients").glob("*.json")):
        raw = path.read_text()
        assemble_features(validate_profile(raw))  # warm caches
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            assemble_features(validate_profile(raw))
            times.append(time.perf_counter() - t0)
        times.sort()
        p50 = statistics.median(times) * 1e3
        p99 = times[int(0.99 * len(times))] * 1e3
        print(f"single profile {path.stem:<40} p50 {p50:.3f} ms   p99 {p99:.3f} ms")


def table(rows: int) -> None:
    """Generate the table here, then read and featurize it in a fresh process so peak RSS is its own."""
    import subprocess

    from precisionpain.catalog.loader import default_feature_catalog
    from precisionpain.cohort import generate_cohort
    from precisionpain.features.frame import flat_columns

    catalog = default_feature_catalog()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "profiles.parquet"
        t0 = time.perf_counter()
        generate_cohort(rows, seed=1)[list(flat_columns(catalog))].to_parquet(path)
        print(f"prepared {rows:,} profiles in {time.perf_counter() - t0:.1f} s (not timed)")
        subprocess.run([sys.executable, __file__, "--featurize", str(path)], check=True)


def featurize(path: Path) -> None:
    import pyarrow.parquet as pq

    from precisionpain.features.assemble import assemble_features

    t0 = time.perf_counter()
    profiles = pq.read_table(path).to_pandas()
    t_read = time.perf_counter() - t0
    t1 = time.perf_counter()
    matrix = assemble_features(profiles)
    t_assemble = time.perf_counter() - t1
    print(
        f"table {len(profiles):,} profiles -> {matrix.values.shape} matrix: {t_assemble:.2f} s "
        f"(validation included; reading the parquet file took {t_read:.2f} s more)"
    )
    print(f"peak RSS of the featurizing process {peak_rss_gib():.2f} GiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5000)
    parser.add_argument("--featurize", type=Path, help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.featurize is not None:
        featurize(ns.featurize)
        return 0
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    single(ns.repeats)
    table(ns.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
