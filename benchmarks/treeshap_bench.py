"""Latency and throughput of TreeSHAP for all treatment options at once, against XGBoost and shap.

Trains boosters shaped like the service's (one binary:logistic booster per option, 42 numeric features with
~20% missing, hist, max_depth 5, 200-300 trees, 3,000-12,000 rows each), then prints per-row latency
(p50/p99 over single rows) and batch throughput for:

- XGBoost ``predict(pred_contribs=True)`` for every option (one DMatrix per row, nthread=1), and XGBoost
  ``inplace_predict`` margins (prediction only, nthread=1);
- ``shap.TreeExplainer(booster).shap_values`` for every option (path-dependent, raw output);
- ``TreeEnsembleSet.explain`` and ``TreeEnsembleSet.margins`` (all options in one call, one thread).

It also prints the largest differences from XGBoost's contributions, bias and margins (float32 arithmetic)
and from shap's own float64 TreeSHAP. Timings are wall-clock on whatever machine runs it; on a shared
machine other jobs inflate them, so the script reports the load average next to the figures.

Usage: ``OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/treeshap_bench.py [--rows 500] [--batch 1000]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import argparse
import time
from collections.abc import Callable

import numpy as np
import xgboost as xgb

from precisionpain.explain.treeshap import TreeEnsembleSet

N_FEATURES = 42


def train_boosters(n_options: int, seed: int, n_jobs: int) -> tuple[dict[str, xgb.Booster], float]:
    rng = np.random.default_rng(seed)
    boosters: dict[str, xgb.Booster] = {}
    started = time.perf_counter()
    for k in range(n_options):
        n = int(rng.integers(3_000, 12_001))
        X = rng.normal(size=(n, N_FEATURES))
        beta = rng.normal(size=N_FEATURES) * (rng.random(N_FEATURES) < 0.4)
        logit = 0.5 * X @ beta + 0.8 * np.sin(2 * X[:, k % N_FEATURES])
        logit += 0.5 * X[:, (k + 1) % N_FEATURES] * X[:, (k + 2) % N_FEATURES]
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
        X[rng.random(X.shape) < 0.2] = np.nan
        params = {
            "objective": "binary:logistic",
            "tree_method": "hist",
            "max_depth": 5,
            "eta": 0.05,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "nthread": n_jobs,
            "seed": seed + k,
        }
        rounds = int(rng.integers(200, 301))
        booster = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=rounds)
        booster.set_param({"nthread": 1})
        boosters[f"option_{k:02d}"] = booster
    return boosters, time.perf_counter() - started


def test_rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    X[rng.random(X.shape) < 0.2] = np.nan
    return X


def latency_ms(fn: Callable[[np.ndarray], object], X: np.ndarray) -> tuple[float, float]:
    fn(X[:1])
    times = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        row = X[i : i + 1]
        started = time.perf_counter()
        fn(row)
        times[i] = time.perf_counter() - started
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def throughput(fn: Callable[[np.ndarray], object], X: np.ndarray) -> tuple[float, float]:
    started = time.perf_counter()
    fn(X)
    elapsed = time.perf_counter() - started
    return X.shape[0] / elapsed, elapsed * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", type=int, default=17)
    parser.add_argument("--rows", type=int, default=500, help="single rows timed for latency")
    parser.add_argument("--batch", type=int, default=1000, help="rows in the throughput batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-jobs", type=int, default=2, help="XGBoost threads while training")
    args = parser.parse_args()

    import shap

    print(
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs, shared)"
    )
    boosters, train_s = train_boosters(args.options, args.seed, args.train_jobs)
    n_trees = sum(b.num_boosted_rounds() for b in boosters.values())
    print(f"trained {len(boosters)} boosters, {n_trees} trees, max_depth 5, in {train_s:.1f} s")
    names = [f"f{i}" for i in range(N_FEATURES)]

    started = time.perf_counter()
    ensembles = TreeEnsembleSet.from_boosters(boosters, names)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    ensembles.warmup()
    warmup_s = time.perf_counter() - started
    print(
        f"TreeEnsembleSet: built in {build_s:.2f} s, warmup (numba compile) {warmup_s:.2f} s; {ensembles!r}"
    )

    explainers = [shap.TreeExplainer(b) for b in boosters.values()]
    booster_list = list(boosters.values())

    def xgb_contribs(X: np.ndarray) -> list[np.ndarray]:
        dmatrix = xgb.DMatrix(X, nthread=1)
        return [b.predict(dmatrix, pred_contribs=True) for b in booster_list]

    def xgb_margins(X: np.ndarray) -> list[np.ndarray]:
        return [b.inplace_predict(X, predict_type="margin") for b in booster_list]

    def shap_all(X: np.ndarray) -> list[np.ndarray]:
        return [e.shap_values(X, check_additivity=False) for e in explainers]

    methods: list[tuple[str, Callable[[np.ndarray], object]]] = [
        ("xgboost pred_contribs (DMatrix, nthread=1)", xgb_contribs),
        ("shap.TreeExplainer.shap_values", shap_all),
        ("TreeEnsembleSet.explain", ensembles.explain),
        ("xgboost inplace_predict margins (nthread=1)", xgb_margins),
        ("TreeEnsembleSet.margins", ensembles.margins),
    ]
    X_rows = test_rows(args.rows, args.seed + 1)
    X_batch = test_rows(args.batch, args.seed + 2)
    print(f"\nper row, all {len(boosters)} options ({args.rows} single rows; ms)")
    print(f"  {'method':<46} {'p50':>8} {'p99':>8}")
    for name, fn in methods:
        p50, p99 = latency_ms(fn, X_rows)
        print(f"  {name:<46} {p50:8.3f} {p99:8.3f}")
    print(f"\nbatch of {args.batch} rows, all {len(boosters)} options")
    print(f"  {'method':<46} {'rows/s':>10} {'total ms':>10}")
    for name, fn in methods:
        rate, total = throughput(fn, X_batch)
        print(f"  {name:<46} {rate:10.0f} {total:10.1f}")

    contributions, margins = ensembles.explain(X_batch)
    reference = xgb_contribs(X_batch)
    diff_phi = max(float(np.abs(contributions[:, k, :] - r[:, :-1]).max()) for k, r in enumerate(reference))
    diff_bias = max(float(abs(ensembles.base_values[k] - r[0, -1])) for k, r in enumerate(reference))
    xgb_margin = xgb_margins(X_batch)
    diff_margin = max(float(np.abs(margins[:, k] - m).max()) for k, m in enumerate(xgb_margin))
    additivity = float(np.abs(ensembles.base_values + contributions.sum(axis=2) - margins).max())
    print(f"\nmax |difference| over {args.batch} rows x {len(boosters)} options")
    print(f"  contributions vs xgboost pred_contribs (float32):   {diff_phi:.2e}")
    print(f"  base values vs pred_contribs bias column:          {diff_bias:.2e}")
    print(f"  margins vs xgboost output margin (float32):        {diff_margin:.2e}")
    print(f"  base + sum(contributions) - margins (ours):        {additivity:.2e}")
    subset = X_batch[:100]
    ours_vs_f64, xgb_vs_f64 = 0.0, 0.0
    for k, explainer in enumerate(explainers[:3]):
        explainer.model.model_type = "internal"  # shap's own float64 algorithm instead of pred_contribs
        exact = explainer.shap_values(subset, check_additivity=False)
        ours_vs_f64 = max(ours_vs_f64, float(np.abs(exact - contributions[:100, k, :]).max()))
        xgb_vs_f64 = max(xgb_vs_f64, float(np.abs(exact - reference[k][:100, :-1]).max()))
    print("  against shap's float64 TreeSHAP (3 options x 100 rows):")
    print(f"    ours:                                             {ours_vs_f64:.2e}")
    print(f"    xgboost pred_contribs:                            {xgb_vs_f64:.2e}")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
