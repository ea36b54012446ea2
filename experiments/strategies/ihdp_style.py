"""sqrt-PEHE on an IHDP-style semi-synthetic benchmark: the response surface "B" of Hill (2011) on covariates
simulated with IHDP's shape (747 children, 139 treated; 6 continuous covariates, standardised, and 19 binary
ones), for each strategy of TreatmentResponseModel (regression objective).

Response surface B (Hill 2011, section 4.1; the setting of the published IHDP results): coefficients beta drawn
from (0, 0.1, 0.2, 0.3, 0.4) with probabilities (0.6, 0.1, 0.1, 0.1, 0.1); ``mu0 = exp((X + 0.5) beta)``,
``mu1 = X beta - omega``, omega set so the mean effect on the treated is 4; outcomes ``mu + N(0, 1)``.

The real IHDP covariates are not redistributed here, so they are simulated: binary covariates with shares
spread over 0.1-0.6 and a latent factor that correlates all of them, and treatment assigned by a logistic model
of the covariates with 139 / 747 treated on average (IHDP's treated group differs from its controls after
Hill's removal of non-white treated children). Figures are therefore comparable between strategies in the same
run, and only roughly with the published 0.76-0.95 of representation learners on the real covariates.

    .venv/bin/python experiments/strategies/ihdp_style.py [--replications 10] [--seed 0] [--strategies ...]

Prints, per strategy, the mean and standard error of sqrt-PEHE over replications (in-sample, as in the IHDP
literature's "within-sample" figure, and on 2,000 new children of the same design: "out-of-sample").
Nothing here is imported by the package.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np
from scipy.special import expit

from precisionpain.models import TreatmentResponseModel
from precisionpain.models.estimator import SHRUNK_SUFFIX, candidate_setting

N, N_TREATED, N_CONT, N_BIN = 747, 139, 6, 19
#: a name ending in SHRUNK_SUFFIX is that strategy with shrinkage="auto" (as auto's candidates are named)
STRATEGIES = ("t_learner", "t_learner" + SHRUNK_SUFFIX, "s_learner", "x_learner", "dr_learner", "auto")
MODEL = {
    "objective": "regression",
    "n_estimators": 1000,
    "learning_rate": 0.05,
    "max_depth": 3,
    "early_stopping_rounds": 30,
    "n_folds": 5,
    "n_jobs": 1,
    "min_samples_per_option": 20,
}


def covariates(rng: np.random.Generator, n: int, shares: np.ndarray, load: np.ndarray) -> np.ndarray:
    latent = rng.normal(size=(n, 1))
    cont = 0.5 * latent + rng.normal(size=(n, N_CONT))
    cont = (cont - cont.mean(axis=0)) / cont.std(axis=0)
    z = latent * load + rng.normal(size=(n, N_BIN))
    binary = (expit(z * 1.5) < shares).astype(np.float64)
    return np.concatenate([cont, binary], axis=1)


def replication(seed: int, strategies: tuple[str, ...] = STRATEGIES) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(seed)
    shares = rng.uniform(0.1, 0.6, size=N_BIN)
    load = rng.normal(scale=0.5, size=N_BIN)
    X = covariates(rng, N, shares, load)
    X_new = covariates(rng, 2000, shares, load)
    gamma = rng.normal(scale=0.4, size=X.shape[1])
    score = X @ gamma
    offset = np.log(N_TREATED / (N - N_TREATED))
    t = (rng.random(N) < expit(score + offset)).astype(int)
    beta = rng.choice([0.0, 0.1, 0.2, 0.3, 0.4], size=X.shape[1], p=[0.6, 0.1, 0.1, 0.1, 0.1])

    def surfaces(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.exp((Z + 0.5) @ beta), Z @ beta

    mu0, mu1_raw = surfaces(X)
    omega = float((mu1_raw[t == 1] - mu0[t == 1]).mean() - 4.0)
    mu1 = mu1_raw - omega
    y = np.where(t == 1, mu1, mu0) + rng.normal(size=N)
    new0, new1_raw = surfaces(X_new)
    tau, tau_new = mu1 - mu0, (new1_raw - omega) - new0
    out = {}
    for strategy in strategies:
        base, shrinkage = candidate_setting(strategy)
        model = TreatmentResponseModel(strategy=base, shrinkage=shrinkage, random_state=seed, **MODEL).fit(X, t, y)
        within = model.predict_effects(X, reference=0)[:, 1]
        beyond = model.predict_effects(X_new, reference=0)[:, 1]
        out[strategy] = (
            float(np.sqrt(np.mean((within - tau) ** 2))),
            float(np.sqrt(np.mean((beyond - tau_new) ** 2))),
        )
        if strategy == "auto":
            out["auto_chose_" + model.strategy_] = (np.nan, np.nan)
    out["n_treated"] = (float(t.sum()), np.nan)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    args = parser.parse_args()
    strategies = tuple(args.strategies)
    results = [replication(args.seed + r, strategies) for r in range(args.replications)]
    print(f"IHDP-style response surface B, {args.replications} replications, n={N} (treated: see below)")
    print(f"{'strategy':>17} {'sqrt-PEHE within':>18} {'sqrt-PEHE out-of-sample':>24}")
    for strategy in strategies:
        within = np.array([r[strategy][0] for r in results])
        beyond = np.array([r[strategy][1] for r in results])
        se = np.sqrt(args.replications)
        print(
            f"{strategy:>17} {within.mean():10.3f} +- {within.std(ddof=1) / se:.3f} "
            f"{beyond.mean():15.3f} +- {beyond.std(ddof=1) / se:.3f}"
        )
    treated = [r["n_treated"][0] for r in results]
    print(f"treated children per replication: {min(treated):.0f}-{max(treated):.0f}")
    chose = [k.removeprefix("auto_chose_") for r in results for k in r if k.startswith("auto_chose_")]
    if "auto" in strategies:
        print("auto chose: " + ", ".join(f"{c} x{chose.count(c)}" for c in sorted(set(chose))))


if __name__ == "__main__":
    main()
