"""Run every benchmark (``benchmarks/*_bench.py``) in turn and summarise: ``make bench``.

    .venv/bin/python benchmarks/run_all.py [--only NAME ...] [--quick]

Each script runs as its own process with ``OMP_WAIT_POLICY=passive``, one after the other (never two at once:
they measure the machine), and its output is streamed as it comes, each line prefixed with the script's
name. The summary at the end gives every script's exit status and wall time; the exit status is 1 when any
script failed.

``--only NAME`` runs the named scripts only (``serve``, ``serve_bench`` or ``serve_bench.py``; repeat it or
separate names with commas). ``--quick`` passes each script its smaller-size flags (the table below, or
``--quick`` when the script has that option) to check that everything runs; its figures are not the real ones.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# Smaller sizes per script for --quick (options each script's argparse defines).
QUICK_ARGS: dict[str, list[str]] = {
    "cohort_bench": ["--n", "50000"],
    "estimator_bench": ["--n-train", "20000", "--n-test", "5000"],
    "features_bench": ["--rows", "50000", "--repeats", "500"],
    "quickstart_bench": ["--n", "20000"],
    "serve_bench": ["--quick"],
    "train_bench": ["--n", "20000", "--no-oracle"],
    "treeshap_bench": ["--rows", "100", "--batch", "200"],
}


@dataclass
class Outcome:
    name: str
    status: int | None  # None: not run (interrupted before it started)
    seconds: float


def scripts() -> list[Path]:
    return sorted(HERE.glob("*_bench.py"))


def wanted(all_scripts: list[Path], only: list[str]) -> list[Path]:
    if not only:
        return all_scripts
    names = {n.strip().removesuffix(".py").removesuffix("_bench") for item in only for n in item.split(",") if n.strip()}
    known = {p.stem.removesuffix("_bench"): p for p in all_scripts}
    unknown = sorted(names - set(known))
    if unknown:
        raise SystemExit(f"no benchmark named {', '.join(unknown)} (have: {', '.join(sorted(known))})")
    return [p for p in all_scripts if p.stem.removesuffix("_bench") in names]


def quick_args(script: Path) -> list[str]:
    if script.stem in QUICK_ARGS:
        return QUICK_ARGS[script.stem]
    help_text = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=REPO, timeout=120
    ).stdout
    return ["--quick"] if "--quick" in help_text else []


def run(script: Path, args: list[str]) -> int:
    """Run one script, streaming its output line by line; returns its exit status."""
    env = dict(os.environ, OMP_WAIT_POLICY="passive", PYTHONUNBUFFERED="1")
    prefix = f"[{script.stem}] "
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            sys.stdout.write(prefix + line)
            sys.stdout.flush()
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise


def summary(outcomes: list[Outcome]) -> str:
    width = max([len(o.name) for o in outcomes] + [len("benchmark")])
    lines = ["", f"{'benchmark':<{width}}  {'exit':>4}  {'wall time':>10}"]
    for o in outcomes:
        status = "-" if o.status is None else str(o.status)
        lines.append(f"{o.name:<{width}}  {status:>4}  {o.seconds:>9.1f}s")
    failed = [o.name for o in outcomes if o.status not in (0, None)]
    total = sum(o.seconds for o in outcomes)
    lines.append(f"{len(outcomes)} benchmark(s) in {total:.1f}s; " + (f"failed: {', '.join(failed)}" if failed else "all exited 0"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this benchmark")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, to check the scripts run")
    args = parser.parse_args(argv)

    selected = wanted(scripts(), args.only)
    print(f"running {len(selected)} benchmark(s): {', '.join(p.stem for p in selected)}" + (" (quick)" if args.quick else ""))
    outcomes: list[Outcome] = []
    try:
        for script in selected:
            extra = quick_args(script) if args.quick else []
            print(f"\n=== {script.name} {' '.join(extra)}".rstrip(), flush=True)
            started = time.perf_counter()
            status = run(script, extra)
            outcomes.append(Outcome(script.stem, status, time.perf_counter() - started))
    except KeyboardInterrupt:
        print("\ninterrupted")
        done = {o.name for o in outcomes}
        outcomes += [Outcome(p.stem, None, 0.0) for p in selected if p.stem not in done]
        print(summary(outcomes))
        return 130
    print(summary(outcomes))
    return 1 if any(o.status != 0 for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
