"""Safety engine latency: ``apply_safety_rules`` per patient, in-process, all figures from one run.

    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/safety_bench.py [--patients 2000] [--repeat 5]

The engine runs on every Recommend call and for every patient of a RecommendBatch, so its budget is a small part
of Recommend's p50 (about 3.3 ms) and of a batch patient's share at 800 patients/s (1.25 ms). Targets:

- varied patients, warm, catalog padded to 30 options: at most 60 us per patient;
- the common case (no medications, no kidney, liver or pregnancy facts), warm, 30 options: at most 25 us.

Both are judged on repeat visits (the "warm" of the first version of this script: the same patients again, the
caches filled by them) and on new patients (stricter: caches filled by other patients, as on a server whose every
request carries a different profile).

Patients come from the synthetic cohort generator (age, sex, ancestry, psychosocial scores and PGx results as the
cohort draws them; every patient a different profile). The facts the safety rules read beyond those are drawn by
the bench itself, replacing the cohort's, so the figures do not move with the cohort's marginals: 0-3 medications
(45% none, 25% one, 18% two, 12% three; mostly common co-medications of chronic pain, some drawn from the whole
medication catalog), eGFR for 35% of patients (8% of those below 30, 22% 30-59), liver status for 25%, pregnancy
and breastfeeding status for some women under 50, a current opioid dose for half the opioid users, and GI
bleeding, cardiovascular and seizure histories for 30%. The common-case patients are the same cohort patients
without medications and without kidney, liver, pregnancy and breastfeeding facts.

Figures, for the option catalog (17 options today) and for a copy padded to 30 options by duplicating drug options
under new ids (the rules reach them by class and medicine, as they would reach real new options):

Each figure is the best of ``--repeat`` runs, each on freshly loaded catalogs (the run least disturbed by other
jobs):

- warm, new patients: the engine's caches filled by a first set of patients, then the mean per patient over a
  second, different set, each seen once (the request path of a running server; as there, the patients' CYP
  results have already been read by profile validation and feature assembly, through the shared cache of
  ``precisionpain.pgx.resolve``);
- warm, repeat visits: the second set again (the mean of ``--repeat`` rounds);
- p99 of single warm calls on new patients; cold: the median of the first 200 calls on freshly loaded catalogs.

Targets are judged on the CPU time of the calling thread (``time.thread_time``), which other jobs on a shared
machine inflate much less than wall-clock time (also printed; on an idle machine the two agree). The collector
runs with the serving processes' threshold and a frozen heap after the catalogs load, as in ``precisionpain
serve``. The load average is printed before and after. The last line counts the targets met (``--strict`` exits
1 when one is missed).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
VARIED_TARGET_US = 60.0  # varied patients, warm, 30 options
COMMON_TARGET_US = 25.0  # no medications, no organ or pregnancy facts, warm, 30 options
RECOMMEND_P50_US = 3300.0  # Recommend over gRPC, p50 before the safety layer (serve_bench)
BATCH_PATIENT_US = 1e6 / 800  # RecommendBatch floor: 800 patients/s

# Co-medications common in a chronic-pain clinic (ASSUMPTION: the bench's mix, not an epidemiological estimate).
COMMON_MEDICATIONS = (
    "sertraline", "escitalopram", "citalopram", "fluoxetine", "paroxetine", "bupropion", "trazodone", "mirtazapine",
    "venlafaxine", "duloxetine", "amitriptyline", "gabapentin", "pregabalin", "ibuprofen", "naproxen", "aspirin",
    "omeprazole", "oxycodone", "hydrocodone", "tramadol", "alprazolam", "lorazepam", "clonazepam", "zolpidem",
    "warfarin", "apixaban",
)  # fmt: skip
ORGAN_AND_PREGNANCY = (
    "egfr_ml_per_min_1_73m2", "hepatic_impairment", "pregnant", "gestational_age_weeks", "breastfeeding",
)  # fmt: skip
HISTORIES = ("history_gi_bleed", "cardiovascular_disease", "seizure_disorder")


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


def _medications(rng: random.Random, catalog_names: Sequence[str]) -> list[dict[str, str]]:
    count = rng.choices((0, 1, 2, 3), weights=(45, 25, 18, 12))[0]
    common = [m for m in COMMON_MEDICATIONS if m in catalog_names]
    names: list[str] = []
    while len(names) < count:
        name = rng.choice(common) if rng.random() < 0.8 else rng.choice(list(catalog_names))
        if name not in names:
            names.append(name)
    return [{"name": n} for n in names]


def _clinic_facts(rng: random.Random, clinical: dict[str, Any], medications: list[dict[str, str]]) -> None:
    """The bench's own mix of the facts the safety rules read beyond the cohort's (drawn here, replacing what the
    cohort gives, so the figures do not move when the cohort's marginals do)."""
    c = clinical
    for name in (*ORGAN_AND_PREGNANCY, "opioid_mme_per_day", *HISTORIES):
        c.pop(name, None)
    if rng.random() < 0.35:
        band = rng.choices(("low", "mid", "normal"), weights=(8, 22, 70))[0]
        low, high = {"low": (10, 29), "mid": (30, 59), "normal": (60, 120)}[band]
        c["egfr_ml_per_min_1_73m2"] = float(rng.randint(low, high))
    if rng.random() < 0.25:
        levels = ("none", "child_pugh_a", "child_pugh_b", "child_pugh_c")
        c["hepatic_impairment"] = rng.choices(levels, weights=(85, 10, 4, 1))[0]
    if c.get("sex") == "female" and c.get("age_years", 99) < 50:
        if rng.random() < 0.4:
            c["pregnant"] = rng.random() < 0.05
            if c["pregnant"] and rng.random() < 0.8:
                c["gestational_age_weeks"] = float(rng.randint(4, 40))
        if rng.random() < 0.2:
            c["breastfeeding"] = rng.random() < 0.05
    opioids = ("oxycodone", "hydrocodone", "tramadol", "morphine", "codeine", "tapentadol")
    takes_opioid = c.get("current_opioid_use") or any(m["name"] in opioids for m in medications)
    if takes_opioid and rng.random() < 0.5:
        c["opioid_mme_per_day"] = float(rng.choice((10, 20, 30, 45, 60, 90, 120, 200)))
    for history, prevalence in zip(HISTORIES, (0.05, 0.15, 0.02), strict=True):
        if rng.random() < 0.3:
            c[history] = rng.random() < prevalence


def _profiles(n: int, catalogs: Any, seed: int, common_case: bool = False) -> list[Any]:
    from precisionpain.cohort.generate import generate_cohort
    from precisionpain.features.frame import iter_profile_dicts
    from precisionpain.schema import PatientProfile

    rng = random.Random(seed)
    names = catalogs.medications.names
    out = []
    for d in iter_profile_dicts(generate_cohort(n, seed=seed), catalogs.features):
        d["medications"] = _medications(rng, names)
        _clinic_facts(rng, d["clinical"], d["medications"])
        if common_case:
            d["medications"] = []
            d["clinical"] = {k: v for k, v in d["clinical"].items() if k not in ORGAN_AND_PREGNANCY}
        out.append(PatientProfile.model_validate(d))
    return out


def _read_genes(profiles: Sequence[Any], tables: Any) -> None:
    """Resolve each profile's CYP results, as profile validation and feature assembly do on the request path before
    the safety rules run (through the same cache); the engine's own caches stay cold for these patients."""
    from precisionpain.pgx.resolve import resolve_gene

    for p in profiles:
        for gene, result in (("CYP2D6", p.pgx.cyp2d6), ("CYP2C9", p.pgx.cyp2c9), ("CYP2C19", p.pgx.cyp2c19)):
            if result is not None:
                resolve_gene(gene, result.diplotype, result.phenotype, result.activity_score, tables)


def _settle() -> None:
    from precisionpain.service.heap import GC_THRESHOLD

    gc.set_threshold(*GC_THRESHOLD)
    gc.collect()
    gc.freeze()


@dataclass
class Pass:
    cpu_us: float  # mean CPU time of the calling thread per patient
    wall_us: float  # mean wall-clock time per patient
    singles_us: list[float]  # wall-clock time of each call


def _run(profiles: Sequence[Any], call: Callable[[Any], Any]) -> Pass:
    singles = []
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    for p in profiles:
        t = time.perf_counter()
        call(p)
        singles.append((time.perf_counter() - t) * 1e6)
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    return Pass(cpu / len(profiles) * 1e6, wall / len(profiles) * 1e6, singles)


def _measure(root: Path, n: int, repeat: int, seed: int, common_case: bool) -> dict[str, Any]:
    """Best of ``repeat`` runs, each on freshly loaded catalogs: cold first calls, a warm-up set, then a second set
    of new patients (each seen once), then that set again (repeat visits)."""
    from precisionpain.safety import apply_safety_rules, load_safety_catalogs

    catalogs = load_safety_catalogs(root)
    warm_up = _profiles(n, catalogs, seed, common_case)
    fresh = _profiles(n, catalogs, seed + 1, common_case)
    _read_genes(warm_up + fresh, catalogs.tables)
    runs: list[tuple[Pass, Pass, float]] = []
    for _ in range(repeat):
        catalogs = load_safety_catalogs(root)
        _settle()

        def assess(p: Any, catalogs: Any = catalogs) -> Any:
            return apply_safety_rules(p, catalogs)

        cold = [_run(warm_up[i : i + 1], assess).singles_us[0] for i in range(min(n, 200))]
        _run(warm_up[200:], assess)  # fills the caches
        runs.append((_run(fresh, assess), _run(fresh, assess), statistics.median(cold)))
        gc.unfreeze()
    # an older engine (the same script measures any checkout) has no cache_info
    info = catalogs.cache_info() if hasattr(catalogs, "cache_info") else {}
    new = min((r[0] for r in runs), key=lambda r: r.cpu_us)
    return {
        "options": len(catalogs.options.ids),
        "new": new,
        "repeat": min((r[1] for r in runs), key=lambda r: r.cpu_us),
        "p99": sorted(new.singles_us)[int(0.99 * (len(new.singles_us) - 1))],
        "cold": min(r[2] for r in runs),
        "hit_share": sum(i.hits for i in info.values()) / max(sum(i.hits + i.misses for i in info.values()), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000, help="patients per set (warm-up set and measured set)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure, the best kept")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--padded-only", action="store_true", help="only the catalog padded to 30 options")
    args = parser.parse_args(argv)

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    padded = _padded_root(30)
    verdicts: list[bool] = []
    try:
        roots = [("padded to 30 options", padded)]
        if not args.padded_only:
            roots.insert(0, ("option catalog", REPO))
        for label, root in roots:
            for mix, common in (("varied patients", False), ("common case", True)):
                f = _measure(root, args.patients, args.repeat, args.seed, common)
                print(f"{label} ({f['options']:.0f} options), {mix}:")
                target = COMMON_TARGET_US if common else VARIED_TARGET_US
                judged = label.startswith("padded")
                for name, key in (("warm, new patients", "new"), ("warm, repeat visits", "repeat")):
                    r: Pass = f[key]
                    line = f"  {name:22s} {r.cpu_us:7.1f} us CPU per patient ({r.wall_us:7.1f} us wall)"
                    if judged:
                        ok = r.cpu_us <= target
                        verdicts.append(ok)
                        line += f"  target <= {target:.0f} us  {'PASS' if ok else 'MISS'}"
                    print(line)
                print(f"  {'p99 single warm call':22s} {f['p99']:7.1f} us wall (new patients)")
                print(f"  {'cold (first calls)':22s} {f['cold']:7.1f} us wall, median")
                cpu = f["new"].cpu_us
                print(
                    f"  cache hits {f['hit_share']:.0%}; a warm new patient costs {cpu / RECOMMEND_P50_US:.1%} of "
                    f"Recommend's p50 and {cpu / BATCH_PATIENT_US:.1%} of a batch patient's share at 800/s"
                )
    finally:
        shutil.rmtree(padded, ignore_errors=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{sum(verdicts)}/{len(verdicts)} targets met")
    return 1 if args.strict and not all(verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
