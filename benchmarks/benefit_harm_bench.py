"""Benefit against harm on the synthetic cohort, every figure from one run.

    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/benefit_harm_bench.py [--n 60000] [--seed 7] [--data FILE]

Trains the shipped spec (models/response_model.yaml: one calibrated model per option per outcome, the ranking
section's weights) on a synthetic cohort's training split and evaluates the final ranking on its held-out patients
against their true potential outcomes (no MLflow: the same prepare, fit and evaluate the pipeline runs). It prints:

- regret on the true net benefit (P(response) - w x P(adverse event), the spec's weights) of the top option under
  the default policy (guideline tier, then net benefit), under net benefit alone, ranking by the estimated chance
  of response alone, and giving everyone the guideline's first-line option of their table (the one with the
  highest mean true net benefit over that table's held-out patients: a generous comparator that knows the truth),
  overall and per guideline table of the recorded condition, with a verdict per row (the default policy below
  both comparators);
- the calibration of the probability of being best (bins of the stated probability against how often the option
  truly had the highest net benefit), how often the truly best option is in the first group, its mean size;
- each outcome's per-option AUC and calibration range and the intervals' coverage of both targets: the expected
  probability given the recorded inputs (what they estimate; estimated by a cross-fitted regression of the truth)
  and each patient's own true probability.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

ROOT = Path(__file__).resolve().parent.parent


def write_cohort(path: Path, n: int, seed: int) -> None:
    from precisionpain.catalog.loader import load_feature_catalog, load_treatment_options
    from precisionpain.catalog.pgx_tables import load_pgx_tables
    from precisionpain.cohort import generate_cohort, write_cohort

    cats = {"catalog": load_feature_catalog(ROOT), "options": load_treatment_options(ROOT), "tables": load_pgx_tables(ROOT)}
    write_cohort(generate_cohort(n, seed, **cats), path, n=n, seed=seed, **cats)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60_000, help="cohort size when generating one")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, help="an existing cohort file (skips generation)")
    parser.add_argument("--config", type=Path, help="training config (default: the shipped spec)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--save-model", type=Path, help="keep the fitted models as a package in this folder")
    parser.add_argument("--model-path", type=Path, help="a package fitted by this script on the same cohort (skips fitting)")
    args = parser.parse_args()

    from precisionpain.catalog.catalogs import load_catalogs
    from precisionpain.models.config import default_config_path, load_train_config
    from precisionpain.models.estimator import TreatmentResponseModel
    from precisionpain.models.evaluation import evaluate, held_out
    from precisionpain.models.outcomes import table_means
    from precisionpain.models.package import package_metadata, read_package, write_package
    from precisionpain.models.training import fit_harms, prepare_data

    started = time.perf_counter()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cats = load_catalogs(None)
    config = load_train_config(args.config or default_config_path(), known_options=cats.options.ids)
    config = config.model_copy(update={"model": config.model.model_copy(update={"n_jobs": args.n_jobs})})
    with tempfile.TemporaryDirectory(prefix="benefit-harm-bench-") as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / f"cohort-{args.n}-seed{args.seed}.parquet"
            t0 = time.perf_counter()
            write_cohort(data, args.n, args.seed)
            print(f"cohort: {args.n:,} patients, seed {args.seed} ({time.perf_counter() - t0:.0f} s)")
        prepared = prepare_data(data, config, cats)
        t0 = time.perf_counter()
        if args.model_path is not None:
            package = read_package(args.model_path)
            response, harms = package.estimator, dict(package.harms)
            print(f"models read from {args.model_path}")
        else:
            response = TreatmentResponseModel(**config.model.estimator_params(config.outcome.objective, config.seed))
            response.fit(prepared.X_train, prepared.t_train, prepared.y_train)
            harms = fit_harms(response, prepared, config)
            print(
                f"fit: {len(prepared.option_ids)} options x {1 + len(harms)} outcomes on "
                f"{len(prepared.train_frame):,} patients ({time.perf_counter() - t0:.0f} s)"
            )
        if args.save_model is not None:
            metadata = package_metadata(
                response, prepared.X_train, cats.features, cats.options, registered_model="benefit-harm-bench",
                training_data=f"Synthetic cohort (PrecisionPain generator; not real patients), {len(prepared.frame):,} patients",
                harms=config.harms, ranking=config.ranking, outcome=config.outcome, split=config.split,
                table_means=table_means(
                    {"response": response, **harms}, prepared.X_train, prepared.train_frame,
                    [str(o) for o in response.options_],
                ),
            )  # fmt: skip
            write_package(args.save_model, response, metadata, ROOT, "# Model card (benchmark)\n", harms)
        t0 = time.perf_counter()
        heldout = held_out(
            prepared.test_frame, prepared.X_test, config.outcome, prepared.option_ids, cats.options, cats.tables,
            harms=config.harms,
        )  # fmt: skip
        means = table_means(
            {"response": response, **harms}, prepared.X_train, prepared.train_frame,
            [str(o) for o in response.options_],
        )  # fmt: skip
        ev = evaluate(
            response, heldout, config.evaluation, cats.features, seed=config.seed,
            interval_alpha=config.model.interval.alpha, harms=harms, ranking=config.ranking, table_means=means,
        )  # fmt: skip
        print(f"evaluation on {ev.n_test:,} held-out patients ({time.perf_counter() - t0:.0f} s)")

    bh = ev.benefit_harm
    if bh is None:
        print("no benefit-harm evaluation (the table needs every outcome's truth, the harm models and tiers)")
        return 1
    names = {
        "tier_then_net_benefit": "tier, then net benefit (default)",
        "net_benefit_only": "net benefit only",
        "response_only": "response only",
        "guideline_first_line_for_all": "first line for all",
        "guideline_first_line_any": "any first line",
    }
    print()
    weights = f"P(response) - {bh.adverse_event_weight:g} x P(adverse event)"
    if bh.dropout_weight:
        weights += f" - {bh.dropout_weight:g} x P(dropout)"
    print(f"Regret on the true net benefit ({weights}), per guideline table of the recorded condition")
    header = f"{'table':30} {'n':>6} " + " ".join(f"{names[p]:>20}" for p in bh.policies) + "  verdict"
    print(header)
    misses = 0
    for label, found in (("all patients", bh.overall), *bh.by_table.items()):
        r = found.regret
        ok = r["tier_then_net_benefit"] < r["response_only"] and r["tier_then_net_benefit"] < r[
            "guideline_first_line_for_all"
        ]
        misses += not ok
        print(f"{label:30} {found.n:>6,} " + " ".join(f"{r[p]:>20.4f}" for p in bh.policies) + f"  {verdict(ok)}")
    print()
    print("first line for all gives each table: " + "; ".join(f"{t}: {o}" for t, o in bh.first_line_choice.items()))
    for what, pb in (
        ("the option with the highest true net benefit (each patient's own)", bh.probability_best),
        ("the option with the highest expected net benefit given the recorded inputs", bh.probability_best_expected),
    ):
        if pb is None:
            continue
        print()
        print(f"Probability of being best against {what}, on held-out patients: ECE {pb.ece:.4f}")
        print(f"{'stated (mean)':>14} {'was best':>9} {'n':>8}")
        for predicted, observed, count in zip(pb.bins_predicted, pb.bins_observed, pb.bins_count, strict=True):
            print(f"{predicted:>14.3f} {observed:>9.3f} {count:>8,}")
    print(
        f"truly best usable option in the first group: {bh.best_in_first_group:.3f} of patients; "
        f"mean size of the first group {bh.first_group_size:.2f}"
    )
    print()
    print("Outcomes (per-option AUC range; 90% interval coverage of E[p | recorded inputs] and of each patient's p)")
    rows = [("response", ev.per_option, ev.interval_coverage_expected, ev.interval_coverage)]
    rows += [(n, h.per_option, h.interval_coverage_expected, h.interval_coverage) for n, h in ev.harms.items()]
    for name, per_option, expected, individual in rows:
        aucs = [o.metrics.auc for o in per_option if o.metrics.auc == o.metrics.auc]
        eces = [o.ece_true_all for o in per_option if o.ece_true_all is not None]
        print(
            f"  {name:14} AUC {min(aucs):.3f}-{max(aucs):.3f}, ECE vs truth max {max(eces):.3f}; coverage "
            f"E[p | x] {expected if expected is not None else float('nan'):.3f}, individual p "
            f"{individual if individual is not None else float('nan'):.3f}"
        )
    print()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; total {time.perf_counter() - started:.0f} s")
    print(f"{len(bh.by_table) + 1 - misses} of {len(bh.by_table) + 1} rows: the default ranking beats both comparators")
    return 0


if __name__ == "__main__":
    sys.exit(main())
