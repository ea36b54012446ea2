"""Benchmark of TreatmentResponseModel at the size of the real cohort, on generic simulated data.

Simulates 200,000 training patients (plus a held-out set), 42 numeric features with missing values, 17 options
with unequal shares (3 % to 12 %) assigned with confounding, and a binary outcome whose true probability under
every option is known. Fits the estimator with its defaults and n_jobs=2, then prints: training time, peak RSS,
held-out AUC and ECE per option, coverage of ``predict_interval`` of the true probabilities, policy metrics
against the truth, and single-patient serving latency.

    OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/estimator_bench.py [--n-train 200000] [--n-jobs 2] \
        [--strategy t_learner|s_learner|ipw_t_learner|x_learner|dr_learner|auto] [--tuning-trials 0] \
        [--shrinkage none|auto|LAMBDA]

The machine's cores may be shared with other work; the figures are upper bounds when they are.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import argparse
import resource
import tempfile
import time

import numpy as np
from scipy.special import expit, softmax

from precisionpain.models import TreatmentResponseModel, load_model, save_model
from precisionpain.models.metrics import (
    classification_metrics,
    evaluate_policy,
    oracle_metrics,
)

N_FEATURES = 42
N_OPTIONS = 17


def option_shares(k: int = N_OPTIONS, low: float = 0.03, high: float = 0.12) -> np.ndarray:
    """k shares from ``low`` to ``high`` that sum to 1: low + (high - low) * u**a with a found by bisection."""
    u = np.linspace(0.0, 1.0, k)
    a_lo, a_hi = 0.01, 50.0
    for _ in range(100):
        a = 0.5 * (a_lo + a_hi)
        total = (low + (high - low) * u**a).sum()
        a_lo, a_hi = (a, a_hi) if total > 1.0 else (a_lo, a)
    return np.asarray(low + (high - low) * u**a)


def simulate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X (n, 42) with NaN, treatment codes (n,), y (n,), true P(y=1 | x, option) (n, 17)."""
    rng = np.random.default_rng(seed)
    shares = option_shares()
    latent = rng.normal(size=(n, 6))
    load = rng.normal(scale=0.5, size=(6, N_FEATURES))
    X = latent @ load + rng.normal(size=(n, N_FEATURES))
    X[:, 30:38] = (X[:, 30:38] > 0.3).astype(np.float64)  # binary features
    X[:, 38:42] = np.clip(np.round(X[:, 38:42] + 2.0), 0.0, 4.0)  # ordinal scores 0..4
    miss_rate = rng.uniform(0.0, 0.3, size=N_FEATURES)
    X[rng.random((n, N_FEATURES)) < miss_rate] = np.nan
    Z = np.nan_to_num(X, nan=0.0)  # the truth is a function of what the model sees (NaN acts as 0)
    # confounded assignment: prognostic features also drive the choice of option
    assign = Z[:, :6] @ rng.normal(scale=0.25, size=(6, N_OPTIONS)) + np.log(shares)
    e = softmax(assign, axis=1)
    t = (e.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    prognostic = 0.6 * Z[:, 0] - 0.4 * Z[:, 1] + 0.3 * Z[:, 2] * Z[:, 3] + 0.25 * Z[:, 30] - 0.15 * Z[:, 38]
    effect_base = rng.normal(scale=0.35, size=N_OPTIONS)
    modifiers = rng.normal(scale=0.3, size=(6, N_OPTIONS))
    logits = -0.6 + prognostic[:, None] + effect_base + Z[:, [4, 5, 6, 7, 31, 39]] @ modifiers
    p_true = expit(logits)
    y = (rng.random(n) < p_true[np.arange(n), t]).astype(np.float64)
    return X, t, y, p_true


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=200_000)
    parser.add_argument("--n-test", type=int, default=40_000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--interval-method", default="jackknife")
    parser.add_argument(
        "--strategy",
        default="t_learner",
        choices=("t_learner", "s_learner", "ipw_t_learner", "x_learner", "dr_learner", "auto"),
    )
    parser.add_argument("--tuning-trials", type=int, default=0)
    parser.add_argument(
        "--shrinkage",
        default="none",
        help="none (default), auto, or a lambda in [0, 1] (per-option strategies)",
    )
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    shrinkage: str | float = args.shrinkage if args.shrinkage in ("none", "auto") else float(args.shrinkage)

    X, t, y, p_true = simulate(args.n_train + args.n_test, args.seed)
    tr = slice(0, args.n_train)
    te = slice(args.n_train, None)
    labels = np.array([f"option_{j:02d}" for j in range(N_OPTIONS)])
    counts = np.bincount(t[tr], minlength=N_OPTIONS)
    print(
        f"data: {args.n_train} train / {args.n_test} held-out rows, {N_FEATURES} features "
        f"({np.isnan(X).mean():.1%} missing), {N_OPTIONS} options "
        f"(train patients per option {counts.min()}..{counts.max()}), response rate {y.mean():.3f}"
    )
    print(f"load average before fit: {os.getloadavg()[0]:.2f} (2 cores shared with other work)")
    rss_before = peak_rss_mib()

    model = TreatmentResponseModel(
        n_jobs=args.n_jobs,
        interval_method=args.interval_method,
        strategy=args.strategy,
        tuning_trials=args.tuning_trials,
        shrinkage=shrinkage,
        random_state=0,
    )
    start = time.perf_counter()
    cpu_start = time.process_time()
    model.fit(X[tr], labels[t[tr]], y[tr])
    fit_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start
    print(
        f"\nfit: {fit_s:.1f} s wall, {cpu_s:.1f} s CPU (strategy={args.strategy}"
        + (f" chose {model.strategy_}" if args.strategy == "auto" else "")
        + (f", shrinkage lambda {model.shrinkage_:.2f}" if model.shrinkage_ is not None else "")
        + f", tuning_trials={args.tuning_trials}, "
        f"interval_method={args.interval_method}, n_jobs={args.n_jobs}); "
        f"peak RSS {peak_rss_mib():.0f} MiB (before fit {rss_before:.0f} MiB)"
    )
    rounds = [f.n_rounds for f in model.option_fits_.values()]
    kinds = [f.calibration for f in model.option_fits_.values()]
    print(
        f"boosting rounds per option: min {min(rounds)}, median {int(np.median(rounds))}, max {max(rounds)}; "
        f"calibration chosen: " + ", ".join(f"{k} x{kinds.count(k)}" for k in sorted(set(kinds)))
    )
    ov = model.overlap_
    print(
        f"overlap: {ov.share_outside_relative:.1%} of patients have an option with propensity < "
        f"{ov.relative_threshold} x its share, {ov.share_outside_overlap:.1%} one below {ov.threshold}; "
        f"min ESS fraction {min(o.ess_fraction for o in ov.options):.2f}; poor_overlap={ov.poor_overlap}"
    )

    Xte, tte, yte, pte = X[te], t[te], y[te], p_true[te]
    start = time.perf_counter()
    interval = model.predict_interval(Xte, alpha=0.1)
    pred_s = time.perf_counter() - start
    p_hat = interval.estimate
    print(f"\npredict_interval on {Xte.shape[0]} rows x {N_OPTIONS} options: {pred_s:.2f} s")
    print(f"{'option':>10} {'n_test':>6} {'AUC':>6} {'ECE':>6} {'MAE_true':>8} {'cover90':>7} {'width':>6}")
    covered = (interval.lower <= pte) & (pte <= interval.upper)
    eces = []
    for j in range(N_OPTIONS):
        rows = tte == j
        m = classification_metrics(yte[rows], p_hat[rows, j])
        ece_true = float(np.abs(p_hat[rows, j] - pte[rows, j]).mean())
        eces.append(m.ece)
        print(
            f"{labels[j]:>10} {rows.sum():6d} {m.auc:6.3f} {m.ece:6.3f} {ece_true:8.3f} "
            f"{covered[:, j].mean():7.3f} {(interval.upper[:, j] - interval.lower[:, j]).mean():6.3f}"
        )
    print(
        f"held-out ECE (observed outcomes, 10 quantile bins): median {np.median(eces):.3f}, max {max(eces):.3f}"
    )
    print(
        f"coverage of the true probability by the 90% interval, all options x all held-out patients: "
        f"{covered.mean():.3f} (per option {covered.mean(axis=0).min():.3f}..{covered.mean(axis=0).max():.3f})"
    )
    print(f"mean |p_hat - p_true|: {np.abs(p_hat - pte).mean():.4f}")

    oracle = oracle_metrics(pte, p_hat, list(labels), reference=labels[0])
    observed_regret = float((pte.max(axis=1) - pte[np.arange(len(tte)), tte]).mean())
    print(
        f"\npolicy vs truth: regret {oracle.regret:.4f} (observed treatment: {observed_regret:.4f}), "
        f"top-1 agreement {oracle.top1_agreement:.3f}, Kendall tau {oracle.kendall_tau:.3f}, "
        f"median sqrt-PEHE {np.median(list(oracle.sqrt_pehe.values())):.4f}"
    )
    policy = labels[p_hat.argmax(axis=1)]
    ev = evaluate_policy(
        policy, labels[tte], yte, model.predict_propensity(Xte), p_hat, list(labels), n_boot=200, alpha=0.1
    )
    true_value = float(pte[np.arange(len(tte)), p_hat.argmax(axis=1)].mean())
    print(
        f"policy value: true {true_value:.4f}; DR {ev.policy.dr.estimate:.4f} "
        f"[{ev.policy.dr.ci_low:.4f}, {ev.policy.dr.ci_high:.4f}]; IPW {ev.policy.ipw.estimate:.4f}; "
        f"observed {ev.observed.estimate:.4f}; best single option {ev.best_single_option} "
        f"DR {ev.best_single.dr.estimate:.4f}"
    )

    one = Xte[:1]
    for n_jobs in (1, 2):
        model.set_params(n_jobs=n_jobs)
        for name, fn in (
            ("predict_outcomes", lambda: model.predict_outcomes(one)),
            ("predict_interval", lambda: model.predict_interval(one)),
            ("explain (all options)", lambda: model.explain(one)),
            ("explain (3 options)", lambda: model.explain(one, options=list(labels[:3]))),
        ):
            fn()
            reps = 100
            start = time.perf_counter()
            for _ in range(reps):
                fn()
            ms = (time.perf_counter() - start) / reps * 1000
            print(f"serving latency, 1 patient x {N_OPTIONS} options, n_jobs={n_jobs}, {name}: {ms:.2f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        save_model(model, tmp + "/m")
        save_s = time.perf_counter() - start
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tmp) for f in fs)
        start = time.perf_counter()
        loaded = load_model(tmp + "/m")
        load_s = time.perf_counter() - start
        same = np.array_equal(loaded.predict_outcomes(Xte[:1000]), model.predict_outcomes(Xte[:1000]))
    print(
        f"save {save_s:.2f} s, load {load_s:.2f} s, {size / 2**20:.1f} MiB on disk, identical after load: {same}"
    )
    print(f"final peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
