"""``make quickstart`` from a fresh clone, timed: the first run (venv, install, cohort, training, server, reports)
and a re-run (cohort and champion reused).

    python3 benchmarks/quickstart_bench.py [--n 200000] [--keep DIR]

The clone is of the current commit of this repository (uncommitted changes are not in it), into a temporary
folder that is removed afterwards unless ``--keep`` names one. Packages come from whatever index pip is set up
to use, so the first figure includes the download time from it. Prints both wall times and what the
quickstart itself reported (its "done in ..." line).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 600.0


def run(clone: Path, n: int) -> tuple[float, str]:
    env = {**os.environ, "OMP_WAIT_POLICY": "passive"}
    env.pop("PRECISIONPAIN_HOME", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    started = time.perf_counter()
    done = subprocess.run(
        ["make", "quickstart", f"QUICKSTART_ARGS=--n {n}"], cwd=clone, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.stdout.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"make quickstart failed (exit {done.returncode})")
    found = re.findall(r"done in .*", done.stdout)
    return seconds, found[-1] if found else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="patients in the quickstart cohort")
    parser.add_argument("--keep", type=Path, help="clone here and keep it")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="pp-quickstart-"))
    clone = base / "clone"
    try:
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        first, first_said = run(clone, args.n)
        again, again_said = run(clone, args.n)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    verdict = "PASS" if first <= TARGET_S else "MISS"
    print(f"fresh clone, make quickstart: {first:.0f} s [target <= {TARGET_S:.0f} s: {verdict}]  ({first_said})")
    print(f"re-run, make quickstart:      {again:.0f} s  ({again_said})")


if __name__ == "__main__":
    main()
