"""Benchmark of the whole training pipeline on a 200,000-patient synthetic cohort, against the issue's targets.

Generates the cohort with ``precisionpain cohort`` in a child process (or reads ``--data``, a synthetic cohort
with its true probabilities), runs the real pipeline (``precisionpain.models.training.train`` with
experiments/baseline/config.yaml) into a temporary MLflow store, and prints: fit time, whole-run time, peak RSS
(this process and its children) and, with pass/fail text, the targets: train all options in <= 3 min and
<= 6 GiB; regret <= half the regret of the best single option; ECE <= 0.03 for every option (observed, with its
noise floor, against the true probabilities, and what the true probabilities themselves score on the same
patients); the doubly robust policy-value CI contains the true policy value; coverage of the 90% intervals.

    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/train_bench.py [--data cohort.parquet] \
        [--config experiments/baseline/config.yaml] [--n 200000] [--seed 7] [--no-oracle]

Interval coverage is printed twice. The cohort's true response probability of a patient includes an unrecorded
patient effect (docs/cohort.md, "Potential outcomes"), which no model of the recorded features can see, so
intervals for the expected outcome given the features cannot cover it at the nominal rate. Unless
``--no-oracle``, the benchmark also estimates that expected outcome, E[true p | features], by regressing the true
probabilities of the training patients on their features (one XGBoost regression per option, a diagnostic
that uses the truth and is not part of training) and prints the intervals' coverage of that estimate.

The machine's cores may be shared with other work; the times are upper bounds when they are.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIT_LIMIT_S = 180.0
RSS_LIMIT_GIB = 6.0
ECE_LIMIT = 0.03


def peak_rss_gib(who: int) -> float:
    """Peak resident set size in GiB (Linux reports ru_maxrss in KiB); for RUSAGE_CHILDREN, the largest child."""
    return resource.getrusage(who).ru_maxrss / 2**20


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def generate(n: int, seed: int, out: Path) -> float:
    """Write the synthetic cohort with the real CLI in a child process; returns the wall time."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "precisionpain.cli", "cohort", "--n", str(n), "--seed", str(seed), "--out", str(out)],
        check=True,
        cwd=ROOT,
    )
    return time.perf_counter() - start


def oracle_expected(
    X_train: np.ndarray, p_train: np.ndarray, X_test: np.ndarray, n_jobs: int, seed: int
) -> np.ndarray:
    """E[true p | features] for the test rows, estimated by one XGBoost regression per option of the training
    patients' true probabilities on their features (early-stopped on 10% of them)."""
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    val = rng.random(len(X_train)) < 0.1
    X_fit = np.ascontiguousarray(X_train[~val], dtype=np.float32)
    X_val = np.ascontiguousarray(X_train[val], dtype=np.float32)
    d_test = xgb.DMatrix(np.ascontiguousarray(X_test, dtype=np.float32), missing=np.nan, nthread=n_jobs)
    params = {
        "objective": "reg:squarederror",
        "eta": 0.1,
        "max_depth": 6,
        "subsample": 0.8,
        "nthread": n_jobs,
        "seed": seed,
        "verbosity": 0,
    }
    out = np.empty((len(X_test), p_train.shape[1]))
    for j in range(p_train.shape[1]):
        d_fit = xgb.QuantileDMatrix(X_fit, label=p_train[~val, j], missing=np.nan, nthread=n_jobs)
        d_val = xgb.DMatrix(X_val, label=p_train[val, j], missing=np.nan, nthread=n_jobs)
        booster = xgb.train(
            params, d_fit, 2000, evals=[(d_val, "val")], early_stopping_rounds=30, verbose_eval=False
        )
        out[:, j] = booster.predict(d_test, iteration_range=(0, booster.best_iteration + 1))
    return np.clip(out, 0.0, 1.0)


def rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(a**2)))


def truth_observed_ece(frame: Any, p_true: np.ndarray, options: list[str], config: Any) -> np.ndarray:
    """Per option, the observed-outcome ECE that the true probabilities themselves score on the patients who
    received the option (binned like the evaluation): the best any model can show on these patients."""
    from precisionpain.models.metrics import expected_calibration_error

    treatment = frame[config.outcome.treatment_column].astype(str).to_numpy()
    y = frame[config.outcome.column].to_numpy(dtype=float)
    out = []
    for j, option in enumerate(options):
        rows = treatment == option
        out.append(expected_calibration_error(y[rows], p_true[rows, j], n_bins=config.evaluation.calibration_bins))
    return np.asarray(out)


def t_quantile(alpha: float, method: str, n_folds: int) -> float:
    """The quantile the estimator multiplies its standard error by (jackknife: t with K-1 df; bootstrap: z)."""
    from scipy import stats

    if method == "jackknife":
        return float(stats.t.ppf(1 - alpha / 2, n_folds - 1))
    return float(stats.norm.ppf(1 - alpha / 2))



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="Cohort table to train on (default: generate one).")
    parser.add_argument("--config", type=Path, default=ROOT / "experiments" / "baseline" / "config.yaml")
    parser.add_argument("--n", type=int, default=200_000, help="Patients to generate when --data is not given.")
    parser.add_argument("--seed", type=int, default=7, help="Cohort seed when --data is not given.")
    parser.add_argument("--no-oracle", action="store_true", help="Skip the E[true p | features] diagnostic.")
    args = parser.parse_args()

    from precisionpain.catalog.loader import load_treatment_options
    from precisionpain.models.config import load_train_config
    from precisionpain.models.evaluation import true_outcomes
    from precisionpain.models.registry import Registry, quiet_mlflow
    from precisionpain.models.training import load_registered, prepare_data, train

    quiet_mlflow()
    config = load_train_config(args.config, known_options=load_treatment_options(None).ids)
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores, possibly shared)")

    with tempfile.TemporaryDirectory(prefix="precisionpain-train-bench-") as tmp:
        home = Path(tmp)
        data = args.data
        gen_rss = 0.0
        if data is None:
            data = home / "cohort.parquet"
            gen_s = generate(args.n, args.seed, data)
            gen_rss = peak_rss_gib(resource.RUSAGE_CHILDREN)
            print(f"cohort: generated {args.n:,} patients (seed {args.seed}) in {gen_s:.1f} s, peak RSS {gen_rss:.2f} GiB")
        else:
            print(f"cohort: {data}")

        start = time.perf_counter()
        result = train(
            data,
            config,
            tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
            artifact_root=home / "mlartifacts",
            config_path=args.config,
        )
        wall = time.perf_counter() - start
        rss_self = peak_rss_gib(resource.RUSAGE_SELF)
        rss_children = peak_rss_gib(resource.RUSAGE_CHILDREN)
        rss = max(rss_self, rss_children)
        ev = result.evaluation
        h = result.headline
        n_options = len(ev.option_ids)
        print(
            f"\nconfig {args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config}: "
            f"strategy {config.model.strategy}, {n_options} options, n_jobs {config.model.n_jobs}; "
            f"{ev.n_test:,} held-out patients"
        )
        print(f"fit (all options): {result.fit_seconds:.1f} s")
        print(f"whole run (read, split, fit, evaluate, plots, log, register): {result.pipeline_seconds:.1f} s "
              f"({wall:.1f} s wall around train())")
        print(
            f"peak RSS: this process {rss_self:.2f} GiB, largest child {rss_children:.2f} GiB"
            + (f" (includes the cohort generator, {gen_rss:.2f} GiB)" if gen_rss else "")
        )

        # Outside the timed run: the same split again, for the truth-based diagnostics below.
        prepared = prepare_data(data, config)
        options = [str(o) for o in ev.option_ids]
        p_train = true_outcomes(prepared.train_frame, options)
        p_test = true_outcomes(prepared.test_frame, options)

        print("\ntargets")
        print(
            f"  train all options <= 3 min and <= {RSS_LIMIT_GIB:g} GiB: fit {result.fit_seconds:.0f} s "
            f"(whole run {result.pipeline_seconds:.0f} s), peak RSS {rss:.2f} GiB: "
            f"{verdict(result.fit_seconds <= FIT_LIMIT_S and rss <= RSS_LIMIT_GIB)}"
            f" (whole run <= 3 min: {verdict(result.pipeline_seconds <= FIT_LIMIT_S)})"
        )
        regret, single = h["regret"], h["regret_best_single_option"]
        print(
            f"  regret <= half the best single option's: regret {regret:.4f}, best single option "
            f"({ev.oracle_best_single_option}) {single:.4f}, half {single / 2:.4f}: {verdict(regret <= single / 2)}"
        )
        ece = np.array([o.metrics.ece for o in ev.per_option])
        floor = np.array([o.ece_noise_floor for o in ev.per_option])
        ece_true = np.array([o.ece_true for o in ev.per_option], dtype=float)
        worst = int(np.argmax(ece))
        print(
            f"  ECE <= {ECE_LIMIT} for every option (observed outcomes): max {ece.max():.4f} "
            f"({ev.per_option[worst].option_id}, n={ev.per_option[worst].metrics.n:,}), "
            f"{int((ece > ECE_LIMIT).sum())}/{n_options} options above: {verdict(bool((ece <= ECE_LIMIT).all()))}"
        )
        print(
            f"    noise floor (a perfectly calibrated model on the same patients): max {floor.max():.4f}, "
            f"for the worst option {floor[worst]:.4f}; largest excess over the floor "
            f"{np.max(np.maximum(ece - floor, 0.0)):.4f}"
        )
        print(
            f"    against the true probabilities (same patients): max {np.nanmax(ece_true):.4f}: "
            f"{verdict(bool(np.nanmax(ece_true) <= ECE_LIMIT))}; all held-out patients: "
            f"max {h['ece_true_all_max']:.4f}"
        )
        if p_test is not None:
            truth_ece = truth_observed_ece(prepared.test_frame, p_test, options, config)
            print(
                f"    the true probabilities themselves, scored like the model on the same patients: max "
                f"{truth_ece.max():.4f}, {int((truth_ece > ECE_LIMIT).sum())}/{n_options} options above {ECE_LIMIT}"
            )
        dr = ev.policy.policy.dr
        true_value = float(ev.true_policy_value or np.nan)
        print(
            f"  DR policy value CI contains the true value: DR {dr.estimate:.4f} "
            f"[{dr.ci_low:.4f}, {dr.ci_high:.4f}] ({1 - config.evaluation.alpha:.0%}), true {true_value:.4f}: "
            f"{verdict(dr.ci_low <= true_value <= dr.ci_high)}"
        )
        nominal = 1 - ev.interval_alpha
        coverage = ev.interval_coverage
        if coverage is None:
            print("  interval coverage: no intervals (interval.method none)")
        else:
            per = ev.interval_coverage_per_option.values()
            print(
                f"  interval coverage of the true individual probability: {coverage:.3f} "
                f"(per option {min(per):.3f}..{max(per):.3f}, mean width {ev.interval_mean_width:.3f}), "
                f"nominal {nominal:.2f}: {verdict(coverage >= nominal)}"
            )

        if not args.no_oracle and coverage is not None:
            if p_train is None or p_test is None:
                print("  (no true probabilities in the table: E[true p | features] diagnostic skipped)")
                return
            t0 = time.perf_counter()
            registry = Registry(f"sqlite:///{home / 'mlflow.db'}", home / "mlartifacts")
            _version, package = load_registered(registry, result.model_uri, home / "package")
            interval = package.estimator.predict_interval(prepared.X_test, alpha=ev.interval_alpha)
            order = [options.index(str(o)) for o in package.estimator.options_]
            expected = oracle_expected(prepared.X_train, p_train, prepared.X_test, config.model.n_jobs, config.seed)
            expected, p_test = expected[:, order], p_test[:, order]
            inside = (expected >= interval.lower) & (expected <= interval.upper)
            q = t_quantile(ev.interval_alpha, package.estimator.interval_method, package.estimator.n_folds)
            print(
                f"  interval coverage of E[true p | features] (regression of the truth on the features): "
                f"{inside.mean():.3f} (per option {inside.mean(axis=0).min():.3f}..{inside.mean(axis=0).max():.3f}), "
                f"nominal {nominal:.2f}: {verdict(inside.mean() >= nominal)}"
            )
            print(
                f"    RMS error vs the true individual probability: model {rms(interval.estimate - p_test):.4f}, "
                f"the regression on the truth itself {rms(expected - p_test):.4f}; model vs the regression "
                f"{rms(interval.estimate - expected):.4f}; the intervals' standard error (half-width / "
                f"quantile {q:.2f}) {rms((interval.upper - interval.lower) / 2) / q:.4f}"
            )
            print(f"    (diagnostic took {time.perf_counter() - t0:.0f} s, outside the timed run)")


if __name__ == "__main__":
    main()
