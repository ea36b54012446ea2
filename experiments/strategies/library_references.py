"""EconML's meta-learners as references, on the same patients, split and features as a training run.

Two steps, because the libraries live in their own virtual environment (they are not project dependencies):

    # 1. in the project's environment: the run's split and features, with the truth of the held-out patients
    .venv/bin/python experiments/strategies/library_references.py export --data /tmp/pp-work/c40k-4opt.parquet \
        --config /tmp/pp-work/cfg4/config_t_learner.yaml --out /tmp/pp-work/4opt.npz
    # 2. in a separate environment with econml and xgboost (python -m venv /tmp/pp-ref; pip install econml xgboost)
    /tmp/pp-ref/bin/python experiments/strategies/library_references.py score --npz /tmp/pp-work/4opt.npz

Step 2 fits EConML's SLearner, TLearner, XLearner and DRLearner with XGBoost base learners (depth 4, 300 rounds at
learning rate 0.05, one thread; the X- and DR-learner's propensity a multinomial logistic regression), each option's effect
against the most common option, and prints the regret and top-1 agreement of "take the option with the
largest effect" against the true response probabilities. Missing values are filled with the training medians
for the libraries' scikit-learn parts. Nothing here is imported by the package.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np


def export(data: Path, config_path: Path, out: Path) -> None:
    from precisionpain.models.config import load_train_config
    from precisionpain.models.training import prepare_data

    config = load_train_config(config_path)
    prepared = prepare_data(data, config)
    options = list(prepared.option_ids)
    truth = prepared.test_frame[[f"true_p_response__{o}" for o in options]].to_numpy(dtype=np.float64)
    index = {o: j for j, o in enumerate(options)}
    np.savez_compressed(
        out,
        X_train=prepared.X_train,
        X_test=prepared.X_test,
        t_train=np.array([index[str(o)] for o in prepared.t_train]),
        y_train=np.asarray(prepared.y_train, dtype=np.float64),
        truth=truth,
        options=np.array(options),
    )
    print(
        f"wrote {out}: {prepared.X_train.shape[0]:,} training, {prepared.X_test.shape[0]:,} held-out patients"
    )


def score(npz: Path) -> None:
    from econml.dr import DRLearner
    from econml.metalearners import SLearner, TLearner, XLearner
    from sklearn.linear_model import LogisticRegression
    from xgboost import XGBRegressor

    d = np.load(npz, allow_pickle=False)
    X, Xt, t, y, truth = d["X_train"], d["X_test"], d["t_train"], d["y_train"], d["truth"]
    med = np.nanmedian(X, axis=0)
    med = np.where(np.isnan(med), 0.0, med)
    Xf, Xtf = np.where(np.isnan(X), med, X), np.where(np.isnan(Xt), med, Xt)
    k = truth.shape[1]
    ref = int(np.bincount(t, minlength=k).argmax())
    order = [ref] + [j for j in range(k) if j != ref]  # econml's control is the first category
    recode = np.empty(k, dtype=int)
    recode[order] = np.arange(k)
    T = recode[t]

    def reg() -> XGBRegressor:
        return XGBRegressor(n_estimators=300, learning_rate=0.05, max_depth=4, n_jobs=1, random_state=0)

    learners = {
        "econml SLearner": lambda: SLearner(overall_model=reg()),
        "econml TLearner": lambda: TLearner(models=reg()),
        "econml XLearner": lambda: XLearner(models=reg(), propensity_model=LogisticRegression(max_iter=1000)),
        "econml DRLearner": lambda: DRLearner(
            model_propensity=LogisticRegression(max_iter=1000),
            model_regression=reg(),
            model_final=reg(),
            cv=3,
            random_state=0,
        ),
    }
    best = truth.max(axis=1)
    rows = np.arange(truth.shape[0])
    single = float((best - truth.mean(axis=0).max()).mean())
    print(
        f"{Path(npz).name}: {X.shape[0]:,} training, {Xt.shape[0]:,} held-out, {k} options; reference option index {ref}"
    )
    print(f"best single option for everyone: regret {single:.4f}")
    for name, make in learners.items():
        start = time.perf_counter()
        est = make()
        est.fit(y, T, X=Xf)
        effects = np.zeros((Xt.shape[0], k))
        for code in range(1, k):
            effects[:, order[code]] = est.effect(Xtf, T0=0, T1=code).ravel()
        pick = effects.argmax(axis=1)
        regret = float((best - truth[rows, pick]).mean())
        top1 = float((pick == truth.argmax(axis=1)).mean())
        print(
            f"{name:>18}: regret {regret:.4f}, top-1 agreement {top1:.3f}, {time.perf_counter() - start:.0f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    e = sub.add_parser("export")
    e.add_argument("--data", type=Path, required=True)
    e.add_argument("--config", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("score")
    s.add_argument("--npz", type=Path, required=True)
    args = parser.parse_args()
    if args.step == "export":
        export(args.data, args.config, args.out)
    else:
        score(args.npz)


if __name__ == "__main__":
    main()
