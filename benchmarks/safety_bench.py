"""Safety engine latency: ``apply_safety_rules`` per patient, in-process, all figures from one run.

    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/safety_bench.py [--patients 2000] [--repeat 5]

Patients are drawn from the synthetic cohort generator (every call a different profile), each given 0-3
medications from the medication catalog at random, and assessed over every option of the option catalog
(17 today) and over a catalog padded to 30 options by duplicating drug options (those with a CPIC drug) under new ids (the rules reach
them by class and by medicine, as they would reach real new options). Printed: per-patient median of the
repeats and the p99 of single calls, for the warm path (repeat visits of the same profiles, the memos filled)
and the cold path (first visit of each profile), each with the 0.1 ms target and PASS or MISS. The load average
is printed before and after: other jobs on a shared machine inflate the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TARGET_US = 100.0


def _padded_root(n_options: int) -> Path:
    """A catalog copy whose option catalog is padded to ``n_options`` by renamed copies of drug options."""
    root = Path(tempfile.mkdtemp(prefix="safety-bench-"))
    for name in ("features", "models", "serving"):
        shutil.copytree(REPO / name, root / name)
    path = root / "models" / "treatment_options.yaml"
    data = yaml.safe_load(path.read_text())
    drugs = [o for o in data["options"] if o.get("cpic_drug")]  # copies reach their medicine by CPIC drug name
    i = 0
    while len(data["options"]) < n_options:
        src = dict(drugs[i % len(drugs)])
        src["id"] = f"{src['id']}_copy{i}"
        data["options"].append(src)
        i += 1
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return root


def _profiles(n: int, catalogs, seed: int) -> list:  # type: ignore[no-untyped-def]
    from precisionpain.cohort.generate import generate_cohort
    from precisionpain.features.frame import iter_profile_dicts
    from precisionpain.schema import PatientProfile

    rng = random.Random(seed)
    names = list(catalogs.medications.names)
    frame = generate_cohort(n, seed=seed)
    out = []
    for d in iter_profile_dicts(frame, catalogs.features):
        d["medications"] = [{"name": m} for m in rng.sample(names, rng.randint(0, 3))]
        c = d["clinical"]
        c.setdefault("egfr_ml_per_min_1_73m2", rng.choice([None, 25.0, 45.0, 75.0, 95.0]))
        c.setdefault("hepatic_impairment", rng.choice([None, "none", "child_pugh_a", "child_pugh_c"]))
        out.append(PatientProfile.model_validate({k: v for k, v in d.items()}))
    return out


def _measure(profiles, catalogs, repeat: int) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    from precisionpain.safety import apply_safety_rules

    cold: list[float] = []
    for p in profiles:
        t = time.perf_counter()
        apply_safety_rules(p, catalogs)
        cold.append(time.perf_counter() - t)
    rounds, singles = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for p in profiles:
            t = time.perf_counter()
            apply_safety_rules(p, catalogs)
            singles.append(time.perf_counter() - t)
        rounds.append((time.perf_counter() - t0) / len(profiles))
    p99 = sorted(singles)[int(0.99 * (len(singles) - 1))]
    return statistics.median(rounds) * 1e6, p99 * 1e6, statistics.median(cold) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    from precisionpain.safety import load_safety_catalogs

    print(f"load average before: {os.getloadavg()[0]:.2f}")
    met = total = 0
    for label, root in (("catalog options", REPO), ("padded to 30 options", _padded_root(30))):
        t = time.perf_counter()
        catalogs = load_safety_catalogs(root)
        load_ms = (time.perf_counter() - t) * 1e3
        profiles = _profiles(args.patients, catalogs, args.seed)
        warm, p99, cold = _measure(profiles, catalogs, args.repeat)
        n_opt = len(catalogs.options.ids)
        print(f"{label}: {n_opt} options, {len(catalogs.rules.rules)} rules, load+compile {load_ms:.0f} ms")
        for name, value in (("warm mean per patient", warm), ("warm p99 single call", p99), ("cold median", cold)):
            ok = value < TARGET_US
            met += ok
            total += 1
            print(f"  {name:24s} {value:8.1f} us  (target < {TARGET_US:.0f} us)  {'PASS' if ok else 'MISS'}")
        if root is not REPO:
            shutil.rmtree(root, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"{met}/{total} targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
