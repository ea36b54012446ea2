"""Benchmark the synthetic cohort: generation time, peak memory and parquet write time.

    .venv/bin/python benchmarks/cohort_bench.py --n 1000000

Prints seconds to generate, peak resident memory (resource.getrusage), and seconds to write the frame to a
parquet file (pyarrow, with cohort_metadata in the schema metadata) in a temporary folder, plus the file size.
The machine load is printed too: figures taken on shared cores are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from precisionpain.cohort import DEFAULT_CHUNK_SIZE, cohort_metadata, generate_cohort


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 1024.0 / 1024.0  # Linux: KiB, macOS: bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="patients to generate (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    args = parser.parse_args(argv)

    print(f"cpus: {os.cpu_count()}, load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    df = generate_cohort(args.n, args.seed, chunk_size=args.chunk_size)
    gen_s = time.perf_counter() - t0
    gen_cpu = time.process_time() - cpu0
    print(
        f"generate_cohort: n={args.n:,} rows x {df.shape[1]} columns in {gen_s:.1f} s wall ({gen_cpu:.1f} s CPU)"
    )
    print(f"rows per second: {args.n / gen_s:,.0f}")
    print(f"frame memory: {df.memory_usage(deep=False).sum() / 2**20:,.0f} MiB (without string payloads)")
    print(f"peak RSS after generation: {_peak_rss_mib():,.0f} MiB")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cohort.parquet"
        t1 = time.perf_counter()
        table = pa.Table.from_pandas(df, preserve_index=False)
        meta = {
            k.encode(): v.encode()
            for k, v in cohort_metadata(args.n, args.seed, chunk_size=args.chunk_size).items()
        }
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
        pq.write_table(table, path)
        write_s = time.perf_counter() - t1
        size = path.stat().st_size
    print(f"parquet write: {write_s:.1f} s, {size / 2**20:,.0f} MiB")
    print(f"peak RSS overall: {_peak_rss_mib():,.0f} MiB")
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
