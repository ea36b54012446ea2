"""How much of the difference between strategies is the seed: each strategy fitted with several seeds on the same
patients, split and features (an export of ``library_references.py``), scored as ``library_references.py ours``
scores them (every option usable, "take the option with the largest expected outcome", regret against the true
response probabilities of the held-out patients).

    .venv/bin/python experiments/strategies/seed_spread.py --npz /tmp/pp-work/28opt-s7.npz --seeds 1 2 3 4 5

Prints, per strategy, the regret for each seed, their mean and standard deviation, and per seed the paired
difference to the T-learner (same seed), so a gain can be read against the spread a seed alone makes. When the
export holds the safety rules' exclusions (``avoid``), the same with the rules applied, as the evaluation's
``regret_usable`` and ``regret_best_single_option_usable`` measure it: the top allowed option against the best
allowed one, and the best single option under the same rules (:func:`precisionpain.models.metrics
.usable_oracle_metrics`). The
XGBoost settings are the experiments' (depth 4, learning rate 0.05, early stopping after 50 rounds, 5 folds, one
thread), intervals off (they do not change the point predictions). Nothing here is imported by the package.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np

STRATEGIES: dict[str, dict[str, object]] = {
    "T-learner": {"strategy": "t_learner"},
    "T-learner, shrunk": {"strategy": "t_learner", "shrinkage": "auto"},
    "S-learner": {"strategy": "s_learner"},
}


def main() -> None:
    # library_references.py is this folder's script: run as a script, its folder is on the path
    from library_references import OUR_SETTINGS

    from precisionpain.models import TreatmentResponseModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", type=Path, required=True, help="an export of library_references.py")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument(
        "--strategies", nargs="+", choices=list(STRATEGIES), default=list(STRATEGIES), help="(the T-learner always)"
    )
    args = parser.parse_args()
    d = np.load(args.npz, allow_pickle=False)
    X, Xt, t, y, truth = d["X_train"], d["X_test"], d["t_train"], d["y_train"], d["truth"]
    best, rows = truth.max(axis=1), np.arange(truth.shape[0])
    print(f"{args.npz.name}: {X.shape[0]:,} training, {Xt.shape[0]:,} held-out, {truth.shape[1]} options")
    print(f"best single option for everyone: regret {float((best - truth.mean(axis=0).max()).mean()):.4f}")
    base = OUR_SETTINGS
    avoid = d["avoid"] if "avoid" in d.files else None
    options = [str(o) for o in d["options"]]
    if avoid is not None:
        from precisionpain.models.evaluation import usable_policy
        from precisionpain.models.metrics import usable_oracle_metrics

        usable = ~avoid
        single = usable_oracle_metrics(
            truth, usable, options, np.asarray(options, dtype=object)[usable_policy(truth, avoid)]
        )
        print(
            f"with the safety rules: best single option under the same rules {single.best_single_regret:.4f}"
        )
    regrets: dict[str, dict[str, list[float]]] = {"every option usable": {}, "with the safety rules": {}}
    for name, params in STRATEGIES.items():
        if name != "T-learner" and name not in args.strategies:
            continue
        for seed in args.seeds:
            start = time.perf_counter()
            model = TreatmentResponseModel(**{**base, **params, "random_state": seed}).fit(X, t, y)  # type: ignore[arg-type]
            p = model.predict_outcomes(Xt)
            regrets["every option usable"].setdefault(name, []).append(
                float((best - truth[rows, p.argmax(axis=1)]).mean())
            )
            shown = f"regret {regrets['every option usable'][name][-1]:.4f}"
            if avoid is not None:
                chosen = np.asarray(options, dtype=object)[usable_policy(p, avoid)]
                found = usable_oracle_metrics(truth, usable, options, chosen)
                regrets["with the safety rules"].setdefault(name, []).append(found.regret)
                shown += f", with the safety rules {found.regret:.4f}"
            print(f"{name:>20} seed {seed}: {shown} ({time.perf_counter() - start:.0f} s)", flush=True)
    for label, table in regrets.items():
        if not table:
            continue
        reference = np.array(table["T-learner"])
        print(f"{label}:")
        print(
            f"{'strategy':>20}  {'mean':>7}  {'sd':>7}  {'min':>7}  {'max':>7}  vs T-learner, paired by seed"
        )
        for name, values in table.items():
            v = np.array(values)
            diff = (v - reference) / reference
            print(
                f"{name:>20}  {v.mean():.4f}  {v.std(ddof=1):.4f}  {v.min():.4f}  {v.max():.4f}  "
                f"{diff.mean():+.1%} (seeds {', '.join(f'{x:+.0%}' for x in diff)})"
            )


if __name__ == "__main__":
    main()
