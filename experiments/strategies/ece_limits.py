"""How far the per-option calibration target (ECE against the true probabilities <= 0.02) is from what the
training outcomes allow: for a registered model, each option's ECE against the truth on the held-out patients
who received it, the floor an exactly right model would score there, and the same model with the one thing no
estimator can know removed: the sampling noise of the outcomes it was trained on.

    .venv/bin/python experiments/strategies/ece_limits.py --home /tmp/pp-e200-t2 \
        --data /tmp/pp-work/c200k.parquet 1 [--by-condition ibuprofen carbamazepine]

Per option (the held-out patients of the version's own training run, the same table and split as
``precisionpain evaluate --split test``):

- ``ece``: the model's ECE against the truth on the option's own held-out patients (the run's ``ece_true``);
- ``floor``: the expected ECE of an exactly right model on the same patients and bins (the run's
  ``ece_true_floor``: their true probabilities scatter around E[p | inputs] by what the inputs do not record);
- ``noise``: observed minus true response rate over the option's *training* patients, and that difference in
  binomial standard errors. A model fitted to these outcomes follows the observed rate, so its
  calibration-in-the-large is off by about this much against the truth, whatever the estimator;
- ``ece, truth's level``: the model with each option's log-odds shifted so that its mean over the option's
  training patients equals their mean *true* probability (only a synthetic cohort can do this), scored on the
  same held-out patients. It removes the training outcomes' noise in the level, not in the shape.

The worst option and the mean over options are printed for each column. With ``--by-condition``, for the
options named, the mean estimate minus the mean truth over all held-out patients of each pain condition, and how
many training patients of that condition received the option. Nothing here is imported by the package.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit

EPS = 1e-6


def level_shift(p_train: np.ndarray, target: float) -> float:
    """The log-odds shift that makes the mean of ``p_train`` equal ``target``."""
    z = logit(np.clip(p_train, EPS, 1 - EPS))
    return float(brentq(lambda d: float(expit(z + d).mean()) - target, -5.0, 5.0))


def main() -> None:
    from precisionpain.features.assemble import assemble_features
    from precisionpain.models.evaluation import (
        expected_truth,
        outcome_arrays,
        residual_sd,
        split_by_patient,
        true_outcomes,
    )
    from precisionpain.models.metrics import ece_against_truth, ece_truth_noise_floor
    from precisionpain.models.registry import Registry, store_location
    from precisionpain.models.training import check_evaluation_table, load_registered, read_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="The embedded MLflow store's folder.")
    parser.add_argument("--data", type=Path, required=True, help="The training run's patient table.")
    parser.add_argument("--model", default="precisionpain-response", help="Registered model name.")
    parser.add_argument(
        "--by-condition",
        nargs="*",
        default=[],
        metavar="OPTION",
        help="also print, for these options, the mean estimate minus the mean truth over all held-out patients "
        "of each pain condition, with how many training patients of that condition received the option",
    )
    parser.add_argument("version")
    args = parser.parse_args()
    registry = Registry(*store_location(args.home, None))
    tmp = Path(tempfile.mkdtemp(prefix="ece-limits-"))
    try:
        _, pkg = load_registered(registry, f"models:/{args.model}/{args.version}", tmp / "pkg")
        meta = pkg.metadata
        options = tuple(str(o) for o in pkg.estimator.options_)
        frame = check_evaluation_table(read_table(args.data, "evaluation data"), pkg)
        train_idx, test_idx = split_by_patient(frame, meta.split)
        parts = {}
        for name, idx in (("train", train_idx), ("test", test_idx)):
            f = frame.iloc[idx].reset_index(drop=True)
            X = assemble_features(f, pkg.catalog, pkg.tables, validate=False).values
            t, y = outcome_arrays(f, meta.outcome, options)
            truth = true_outcomes(f, options)
            if truth is None:
                raise SystemExit(
                    "the table has no true response probabilities (a synthetic cohort's p_true_*)"
                )
            parts[name] = (X, t, y, truth, pkg.estimator.predict_outcomes(X))
        conditions = {
            name: frame.iloc[idx]["pain_condition"].fillna("(not given)").astype(str).to_numpy()
            for name, idx in (("train", train_idx), ("test", test_idx))
        }
        X, t, _, truth, p = parts["test"]
        _, t_tr, y_tr, truth_tr, p_tr = parts["train"]
        sd = residual_sd(truth, expected_truth(X, truth, rows=10_000, seed=0, nthread=2))
        rows = []
        for j, option in enumerate(options):
            own, own_tr = t == option, t_tr == option
            level = level_shift(p_tr[own_tr, j], float(truth_tr[own_tr, j].mean()))
            shifted = expit(logit(np.clip(p[own, j], EPS, 1 - EPS)) + level)
            gap = float(y_tr[own_tr].mean() - truth_tr[own_tr, j].mean())
            se = float(np.sqrt((truth_tr[own_tr, j] * (1 - truth_tr[own_tr, j])).mean() / own_tr.sum()))
            floor = ece_truth_noise_floor(p[own, j], float(sd[j])) if sd is not None else float("nan")
            rows.append(
                (
                    option,
                    int(own.sum()),
                    int(own_tr.sum()),
                    ece_against_truth(p[own, j], truth[own, j]),
                    floor,
                    gap,
                    gap / se,
                    ece_against_truth(shifted, truth[own, j]),
                )
            )
    finally:
        shutil.rmtree(tmp)
    print(f"{args.home.name} v{args.version} ({meta.strategy}), {len(options)} options")
    print(
        f"{'option':30s} {'held-out':>8s} {'trained':>8s} {'ece':>7s} {'floor':>7s} {'noise':>8s} {'(se)':>6s} "
        f"{'ece, truth level':>16s}"
    )
    for option, n, n_tr, ece, floor, gap, z, shifted in sorted(rows, key=lambda r: -r[3]):
        print(f"{option:30s} {n:8d} {n_tr:8d} {ece:7.4f} {floor:7.4f} {gap:+8.4f} {z:+6.1f} {shifted:16.4f}")
    cols = np.array([[r[3], r[4], abs(r[5]), r[7]] for r in rows])
    worst, mean = cols.max(axis=0), cols.mean(axis=0)
    print(
        f"{'worst':30s} {'':8s} {'':8s} {worst[0]:7.4f} {worst[1]:7.4f} {worst[2]:8.4f} {'':6s} {worst[3]:16.4f}"
    )
    print(
        f"{'mean':30s} {'':8s} {'':8s} {mean[0]:7.4f} {mean[1]:7.4f} {mean[2]:8.4f} {'':6s} {mean[3]:16.4f}"
    )
    over = [r[0] for r in rows if r[3] > 0.02]
    print(f"options above 0.02: {len(over)} as fitted, {sum(r[7] > 0.02 for r in rows)} at the truth's level")
    for option in args.by_condition:
        j = options.index(option)
        print(f"\n{option}: estimate minus truth over all held-out patients, by pain condition")
        for c in sorted(set(conditions["test"])):
            rows_c = conditions["test"] == c
            trained = int(((t_tr == option) & (conditions["train"] == c)).sum())
            bias = float(p[rows_c, j].mean() - truth[rows_c, j].mean())
            print(f"  {c:30s} {int(rows_c.sum()):7d} held-out {bias:+.3f}   ({trained} trained on)")


if __name__ == "__main__":
    main()
