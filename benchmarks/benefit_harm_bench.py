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
  and each patient's own true probability;
- the shipped ranking (its first option under the default policy) against fixed policies chosen on the TRAINING
  patients' truth, all measured on the same held-out patients: the best single option for everyone (by mean true
  net benefit, and by mean true response) and the guideline's first line for all (per table, the first-line option
  of highest mean true net benefit); each patient gets the first option of a comparator's order the safety rules
  allow. Per policy, overall and per guideline table: regret on the true response and on the true net benefit,
  and top-1 agreement with the truly best usable option (on each). Then the shipped model's calibration against
  the true probabilities (ECE per option: min, median, max, per outcome and, for the response, per table) and the
  evaluation's headline figures (what every training run logs). The exit status is 1 when the bench's first
  options differ from the ones the evaluation scores.

Keep n_jobs low on a shared machine (--n-jobs 1); the figures in the README come from
    nice -n 10 .venv/bin/python benchmarks/benefit_harm_bench.py --n 200000 --seed 7 --n-jobs 1
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

ROOT = Path(__file__).resolve().parent.parent


def write_cohort(path: Path, n: int, seed: int) -> None:
    from precisionpain.catalog.loader import load_feature_catalog, load_treatment_options
    from precisionpain.catalog.pgx_tables import load_pgx_tables
    from precisionpain.cohort import generate_cohort, write_cohort

    catalog, options, tables = load_feature_catalog(ROOT), load_treatment_options(ROOT), load_pgx_tables(ROOT)
    frame = generate_cohort(n, seed, catalog=catalog, options=options, tables=tables)
    write_cohort(frame, path, n=n, seed=seed, catalog=catalog, options=options, tables=tables)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# ------------------------------------------------------------------ the shipped ranking against fixed comparators

ALL_LABEL = "all patients"


def first_usable(order: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Each patient's first option of ``order`` (a ranking of the k columns) that ``usable`` (n, k) allows; -1 for a
    patient with no usable option."""
    ranked = usable[:, order]
    return np.where(ranked.any(axis=1), order[ranked.argmax(axis=1)], -1)


def best_single_order(train_truth: np.ndarray) -> np.ndarray:
    """The options by their mean true value over the training patients, best first: the best single option for
    everyone, and the next one for a patient it is excluded for."""
    return np.argsort(-train_truth.mean(axis=0), kind="stable")


def first_line_for_all(
    train_truth: np.ndarray, train_tables: np.ndarray, tiers: np.ndarray, tables: np.ndarray, usable: np.ndarray
) -> tuple[np.ndarray, dict[str, int]]:
    """The guideline's first line for all, chosen on the training patients' truth: per guideline table of the
    held-out patients, the options by tier, then by mean true value over the training patients of that table (all
    training patients when it has none); each held-out patient gets the first usable one. Returns the choice per
    patient and the option each table gives (its first in that order)."""
    chosen = np.full(len(tables), -1, dtype=np.int64)
    choice: dict[str, int] = {}
    overall = train_truth.mean(axis=0)
    for label in sorted(set(tables.tolist()), key=str):
        rows = tables == label
        train_rows = train_tables == label
        mean = train_truth[train_rows].mean(axis=0) if train_rows.any() else overall
        order = np.lexsort((-mean, tiers[rows][0]))
        chosen[rows] = first_usable(order, usable[rows])
        choice[str(label)] = int(order[0])
    return chosen, choice


def default_first_choice(
    estimate: np.ndarray,
    replicates: np.ndarray,
    tiers: np.ndarray,
    tables: np.ndarray,
    usable: np.ndarray,
    prior: Mapping[str, np.ndarray] | None,
    *,
    method: str,
    confidence: float,
) -> np.ndarray:
    """Each patient's first option under the default policy (guideline tier, then net benefit), ordered by the
    engine's own rule (:func:`precisionpain.benefit_harm.order_options`) from the estimated net benefit (n, k), its
    replicates (n, k, r) and, when given, the training patients' average net benefit per table (``prior``, keyed
    like :func:`precisionpain.models.outcomes.table_means`); -1 for a patient with no usable option."""
    from precisionpain.benefit_harm import order_options
    from precisionpain.models.evaluation import _tiers_of
    from precisionpain.models.outcomes import ALL_PATIENTS
    from precisionpain.schema import RankingPolicy

    chosen = np.full(len(tables), -1, dtype=np.int64)
    for i in range(len(tables)):
        ok = np.flatnonzero(usable[i])
        if ok.size == 0:
            continue
        own = None
        if prior is not None:
            found = prior.get(str(tables[i]), prior.get(ALL_PATIENTS))
            own = None if found is None else found[ok]
        ordering = order_options(
            estimate[i, ok], replicates[i, ok], _tiers_of(tiers[i, ok]), RankingPolicy.tier_then_net_benefit,
            method=method, confidence=confidence, prior=own,
        )  # fmt: skip
        chosen[i] = ok[ordering.order[0]]
    return chosen


def policy_scores(chosen: np.ndarray, truth: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per patient: the regret (the best usable option's true value minus the chosen one's) and whether the chosen
    option is the truly best usable one (1.0 or 0.0; an exact tie with it counts); NaN for a patient with no usable
    option."""
    masked = np.where(usable, truth, -np.inf)
    best = masked.max(axis=1)
    has = chosen >= 0
    rows = np.flatnonzero(has)
    regret = np.full(len(chosen), np.nan)
    agree = np.full(len(chosen), np.nan)
    regret[rows] = best[rows] - truth[rows, chosen[rows]]
    agree[rows] = (regret[rows] <= 0.0).astype(float)
    return regret, agree


def group_means(values: np.ndarray, tables: np.ndarray) -> list[tuple[str, int, float]]:
    """The mean of per-patient ``values`` (NaN: left out) over all patients, then per guideline table, with the
    number of patients counted."""
    out = []
    for label, rows in ((ALL_LABEL, np.ones(len(values), dtype=bool)), *(
        (str(t), tables == t) for t in sorted(set(tables.tolist()), key=str)
    )):  # fmt: skip
        kept = values[rows & ~np.isnan(values)]
        out.append((label, int(kept.size), float(kept.mean()) if kept.size else float("nan")))
    return out


SHIPPED = "shipped"
POLICY_NAMES = {
    SHIPPED: "the shipped model's ranking: guideline tier, then net benefit (the default policy)",
    "response_only": "the shipped model's chance of response alone (its highest usable option)",
    "single_net_benefit": "the best single option for everyone by mean true net benefit",
    "single_response": "the best single option for everyone by mean true response",
    "first_line": "the guideline's first line for all: per table, the first-line option of highest mean true net benefit",
}
SHORT_NAMES = {
    SHIPPED: "shipped",
    "response_only": "resp. only",
    "single_net_benefit": "single (NB)",
    "single_response": "single (resp)",
    "first_line": "first line",
}


def print_table(title: str, per_policy: Mapping[str, np.ndarray], tables: np.ndarray, digits: int = 4) -> None:
    """One row per group of patients (all, then each guideline table), one column per policy."""
    print(title)
    print(f"{'table':44} {'n':>6} " + " ".join(f"{SHORT_NAMES[p]:>13}" for p in per_policy))
    columns = {p: group_means(v, tables) for p, v in per_policy.items()}
    first = next(iter(columns.values()))
    for row, (label, n, _) in enumerate(first):
        print(f"{label:44} {n:>6,} " + " ".join(f"{columns[p][row][2]:>13.{digits}f}" for p in per_policy))


def spread(values: Mapping[str, float]) -> str:
    """min (option), median, max (option) of per-option figures."""
    items = sorted(values.items(), key=lambda kv: kv[1])
    return (
        f"min {items[0][1]:.4f} ({items[0][0]}), median {float(np.median([v for _, v in items])):.4f}, "
        f"max {items[-1][1]:.4f} ({items[-1][0]})"
    )


def compare_with_fixed_policies(
    response: Any, harms: Mapping[str, Any], prepared: Any, heldout: Any, config: Any, cats: Any,
    means: Mapping[str, Mapping[str, Sequence[float]]], ev: Any,
) -> bool:  # fmt: skip
    """Print the shipped ranking against the best single option for everyone and the guideline's first line for
    all, every comparator chosen on the training patients' truth, on the held-out patients: regret on the true
    response and on the true net benefit, top-1 agreement with the truly best usable option, overall and per
    guideline table; and the shipped model's calibration against the true probabilities. Returns whether the
    shipped ranking's regret on the true net benefit is the evaluation's (the same first option per patient)."""
    from precisionpain.benefit_harm import UtilityWeights, net_benefit
    from precisionpain.models.evaluation import _priors, held_out, usable_policy
    from precisionpain.models.metrics import ece_against_truth
    from precisionpain.models.outcomes import predict_in_order

    t0 = time.perf_counter()
    options = [str(o) for o in response.options_]
    test = heldout.in_order(options)
    train = held_out(
        prepared.train_frame, prepared.X_train, config.outcome, prepared.option_ids, cats.options, cats.tables,
        harms=config.harms,
    ).in_order(options)  # fmt: skip
    assert train.true_p is not None and train.tables is not None  # a synthetic cohort with tiers (as bh needs)
    ranking = config.ranking
    weights = UtilityWeights(adverse_event=ranking.adverse_event_weight, dropout=ranking.dropout_weight)

    def nb(source: Mapping[str, np.ndarray]) -> np.ndarray:
        return net_benefit(source["response"], {o: v for o, v in source.items() if o != "response"}, weights)

    models = {"response": response, **harms}
    truth = {"response": test.true_p, **{o: test.harm_true_p[o] for o in harms}}
    train_truth = {"response": train.true_p, **{o: train.harm_true_p[o] for o in harms}}
    usable = ~test.avoid
    p = {o: predict_in_order(m, test.X, options) for o, m in models.items()}
    replicates = {}
    for o, m in models.items():
        own = [str(x) for x in m.options_]
        replicates[o] = m.predict_replicates(test.X)[:, [own.index(x) for x in options], :]
    prior = {t: nb(by) for t, by in _priors(means, response, options).items()}
    chosen = {
        SHIPPED: default_first_choice(
            nb(p),
            nb(replicates),
            test.tiers,
            test.tables,
            usable,
            prior,
            method=str(response.interval_method),
            confidence=ranking.confidence,
        ),
        "response_only": np.where(usable.any(axis=1), usable_policy(p["response"], test.avoid), -1),
        "single_net_benefit": first_usable(best_single_order(nb(train_truth)), usable),
        "single_response": first_usable(best_single_order(train_truth["response"]), usable),
    }
    chosen["first_line"], first_line = first_line_for_all(
        nb(train_truth), train.tables, test.tiers, test.tables, usable
    )
    print(f"\nThe shipped ranking against fixed policies ({time.perf_counter() - t0:.0f} s)")
    print(
        f"{test.X.shape[0]:,} held-out patients; every comparator chosen on the {train.X.shape[0]:,} training "
        "patients' truth (true probabilities the synthetic cohort keeps), each patient given the first option of "
        "the comparator's order that the safety rules allow; 'truly best' = the best usable option on the truth."
    )
    for key, text in POLICY_NAMES.items():
        print(f"  {SHORT_NAMES[key]:>13}: {text}")
    print(f"  best single option by true net benefit: {options[best_single_order(nb(train_truth))[0]]}; "
          f"by true response: {options[best_single_order(train_truth['response'])[0]]}")  # fmt: skip
    print("  first line for all gives: " + "; ".join(f"{t}: {options[j]}" for t, j in first_line.items()))
    scores = {
        target: {name: policy_scores(c, value, usable) for name, c in chosen.items()}
        for target, value in (("response", truth["response"]), ("net benefit", nb(truth)))
    }
    nb_weights = f"P(response) - {weights.adverse_event:g} x P(adverse event)"
    if weights.dropout:
        nb_weights += f" - {weights.dropout:g} x P(dropout)"
    for target, what in (("response", "P(response)"), ("net benefit", nb_weights)):
        print()
        print_table(
            f"Regret on the true {target} ({what}; lower is better)",
            {name: s[0] for name, s in scores[target].items()}, test.tables,
        )  # fmt: skip
    for target in ("response", "net benefit"):
        print()
        print_table(
            f"Top-1 agreement with the option of highest true {target} (share of patients; higher is better)",
            {name: s[1] for name, s in scores[target].items()}, test.tables, digits=3,
        )  # fmt: skip
    shipped = float(np.nanmean(scores["net benefit"][SHIPPED][0]))
    evaluated = ev.benefit_harm.overall.regret["tier_then_net_benefit"]
    same = abs(shipped - evaluated) < 1e-9
    print(f"\nshipped regret on the true net benefit {shipped:.4f}, the evaluation's {evaluated:.4f}: "
          f"{'the same first options' if same else 'DIFFERENT first options'}")  # fmt: skip

    print("\nCalibration of the shipped model against the true probabilities (ECE per option, all held-out patients)")
    rows = [("response", ev.per_option), *((n, h.per_option) for n, h in ev.harms.items())]
    for name, per_option in rows:
        eces = {o.option_id: o.ece_true_all for o in per_option if o.ece_true_all is not None}
        print(f"  {name:14} {spread(eces)}")
    bins = config.evaluation.calibration_bins
    print("Response ECE against the truth per guideline table (per option; small tables have noisy bins)")
    for label in sorted(set(test.tables.tolist()), key=str):
        rows_t = test.tables == label
        eces = {
            o: ece_against_truth(p["response"][rows_t, j], truth["response"][rows_t, j], n_bins=bins)
            for j, o in enumerate(options)
        }
        print(f"  {label:44} {int(rows_t.sum()):>6,}  {spread(eces)}")
    h = ev.headline
    print(
        "\nEvaluation headline (every training run logs these): regret on the true response of the model's highest "
        f"usable option {h['regret']:.4f} (best single option for everyone, chosen on the held-out truth: "
        f"{h['regret_best_single_option']:.4f}; top-1 agreement {h['top1_agreement']:.3f}); ECE against the truth "
        f"max {h['ece_true_all_max']:.4f}; DR policy value {h['dr_policy_value']:.3f} "
        f"[{h['dr_policy_value_ci_low']:.3f}, {h['dr_policy_value_ci_high']:.3f}], true value "
        f"{h['true_policy_value']:.3f}; 90% interval coverage of E[p | x] "
        f"{h.get('interval_coverage_expected', float('nan')):.3f}, of each patient's p "
        f"{h.get('interval_coverage', float('nan')):.3f}; ECE against observed outcomes max {h['ece_max']:.4f}, "
        f"its sampling noise floor up to {h['ece_noise_floor_max']:.4f} (held-out patients per option: "
        f"{min(o.metrics.n for o in ev.per_option):,} to {max(o.metrics.n for o in ev.per_option):,})"
    )
    return same


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
            response = TreatmentResponseModel(
                **config.model.estimator_params(
                    config.outcome.objective, config.seed, feature_ids=cats.features.feature_ids
                )
            )
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
    same = compare_with_fixed_policies(response, harms, prepared, heldout, config, cats, means, ev)
    print()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; total {time.perf_counter() - started:.0f} s")
    print(f"{len(bh.by_table) + 1 - misses} of {len(bh.by_table) + 1} rows: the default ranking beats both comparators")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
