"""EconML's meta-learners as references, on the same patients, split and features as a training run.

Two steps, because the libraries live in their own virtual environment (they are not project dependencies):

    # 1. in the project's environment: the run's split and features, with the truth of the held-out patients
    .venv/bin/python experiments/strategies/library_references.py export --data /tmp/pp-work/c40k-4opt.parquet \
        --config /tmp/pp-work/cfg4/config_t_learner.yaml --out /tmp/pp-work/4opt.npz
    # 2. in a separate environment with econml and xgboost (python -m venv /tmp/pp-ref; pip install econml xgboost)
    /tmp/pp-ref/bin/python experiments/strategies/library_references.py score --npz /tmp/pp-work/4opt.npz

Step 2 fits EconML's SLearner, TLearner, XLearner and DRLearner with XGBoost base learners (depth 4, 300 rounds at
learning rate 0.05, one thread; the X- and DR-learner's propensity a multinomial logistic regression), each option's effect
against the most common option, and prints the regret and top-1 agreement of "take the option with the
largest effect" against the true response probabilities. Missing values are filled with the training medians
for the libraries' scikit-learn parts.

    # 3. in the project's environment: this project's strategies on the same file, scored the same way
    .venv/bin/python experiments/strategies/library_references.py ours --npz /tmp/pp-work/4opt.npz

Step 3 fits ``TreatmentResponseModel`` (the experiments' XGBoost settings: depth 4, learning rate 0.05, early
stopping, 5 folds, one thread, seed 7) for the T-learner, the shrunk T-learner and the S-learner (also with the
EconML-like settings: squared error, no row or column subsampling) and prints the same two figures for "take the
option with the largest expected outcome". These regrets take every option as usable: the training runs' regret
(results.md) is of the top option the safety rules allow (CPIC "avoid" and contraindications), measured against
the best option overall, so it is higher by the cost of the exclusions. Nothing here is imported by the package.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np

#: TreatmentResponseModel's settings in these experiments (seed_spread.py uses them too): the experiments' XGBoost
#: settings, one thread, intervals off (they do not change the point predictions)
OUR_SETTINGS: dict[str, object] = dict(
    learning_rate=0.05,
    max_depth=4,
    n_estimators=2000,
    early_stopping_rounds=50,
    n_folds=5,
    n_jobs=1,
    interval_method="none",
)


def export(data: Path, config_path: Path, out: Path) -> None:
    from precisionpain.catalog.catalogs import load_catalogs
    from precisionpain.models.config import load_train_config
    from precisionpain.models.evaluation import held_out
    from precisionpain.models.training import prepare_data

    config = load_train_config(config_path)
    cats = load_catalogs(None)
    prepared = prepare_data(data, config, cats)
    options = list(prepared.option_ids)
    truth = prepared.test_frame[[f"true_p_response__{o}" for o in options]].to_numpy(dtype=np.float64)
    index = {o: j for j, o in enumerate(options)}
    # which options the safety rules exclude for each held-out patient (the matrix the evaluation uses)
    test = held_out(prepared.test_frame, prepared.X_test, config.outcome, options, cats.options, cats.tables)
    np.savez_compressed(
        out,
        X_train=prepared.X_train,
        X_test=prepared.X_test,
        t_train=np.array([index[str(o)] for o in prepared.t_train]),
        y_train=np.asarray(prepared.y_train, dtype=np.float64),
        truth=truth,
        options=np.array(options),
        avoid=test.avoid,
    )
    print(
        f"wrote {out}: {prepared.X_train.shape[0]:,} training, {prepared.X_test.shape[0]:,} held-out patients"
    )


def score(npz: Path, only: list[str]) -> None:
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
        if only and name not in only:
            continue
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


def ours(npz: Path, only: list[str]) -> None:
    from precisionpain.models import TreatmentResponseModel

    d = np.load(npz, allow_pickle=False)
    X, Xt, t, y, truth = d["X_train"], d["X_test"], d["t_train"], d["y_train"], d["truth"]
    base = {**OUR_SETTINGS, "random_state": 7}
    variants: dict[str, dict[str, object]] = {
        "T-learner": {"strategy": "t_learner"},
        "T-learner, shrunk": {"strategy": "t_learner", "shrinkage": "auto"},
        "S-learner": {"strategy": "s_learner"},
        "S-learner, EconML-like settings": {
            "strategy": "s_learner",
            "objective": "regression",
            "subsample": 1.0,
            "colsample_bytree": 1.0,
        },
    }
    best = truth.max(axis=1)
    rows = np.arange(truth.shape[0])
    print(f"{Path(npz).name}: {X.shape[0]:,} training, {Xt.shape[0]:,} held-out, {truth.shape[1]} options")
    print(f"best single option for everyone: regret {float((best - truth.mean(axis=0).max()).mean()):.4f}")
    for name, params in variants.items():
        if only and name not in only:
            continue
        start = time.perf_counter()
        model = TreatmentResponseModel(**{**base, **params}).fit(X, t, y)  # type: ignore[arg-type]
        pick = model.predict_outcomes(Xt).argmax(axis=1)
        regret = float((best - truth[rows, pick]).mean())
        top1 = float((pick == truth.argmax(axis=1)).mean())
        lam = model.shrinkage_
        shown = name + (f" (lambda {lam:.2f})" if lam is not None else "")
        print(
            f"{shown:>40}: regret {regret:.4f}, top-1 agreement {top1:.3f}, {time.perf_counter() - start:.0f} s",
            flush=True,
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
    s.add_argument("--only", action="append", default=[], help="a learner's name, e.g. 'econml SLearner'")
    o = sub.add_parser("ours")
    o.add_argument("--npz", type=Path, required=True)
    o.add_argument("--only", action="append", default=[], help="a variant's name (repeatable; default: all)")
    args = parser.parse_args()
    if args.step == "export":
        export(args.data, args.config, args.out)
    elif args.step == "score":
        score(args.npz, args.only)
    else:
        ours(args.npz, args.only)


if __name__ == "__main__":
    main()
