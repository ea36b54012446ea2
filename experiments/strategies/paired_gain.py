"""Paired gain of a registered model's ranking over the best single option, with its standard error.

For each version: the held-out patients of its own training run (the same table, split and safety rules as
``precisionpain evaluate --split test``), the model's top option the safety rules allow against the best single
option under the same rules (:func:`precisionpain.models.metrics.usable_oracle_metrics`), and the top predicted
option of all against the best single option for everyone. Prints, per version, the mean per-patient difference
in true p (positive: the model's option is truly better) and its standard error over the same patients.

    .venv/bin/python experiments/strategies/paired_gain.py --home /tmp/pp-strat4 \
        --data /tmp/pp-work/c40k-4opt.parquet 1 12 5

Nothing here is imported by the package.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np


def paired(diff: np.ndarray) -> str:
    return f"{diff.mean():+.4f} (se {diff.std(ddof=1) / np.sqrt(diff.size):.4f})"


def main() -> None:
    from precisionpain.features.assemble import assemble_features
    from precisionpain.models.evaluation import held_out, split_by_patient, usable_policy
    from precisionpain.models.metrics import first_usable_in_order, usable_oracle_metrics
    from precisionpain.models.registry import Registry, store_location
    from precisionpain.models.training import check_evaluation_table, load_registered, read_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="The embedded MLflow store's folder.")
    parser.add_argument("--data", type=Path, required=True, help="The training runs' patient table.")
    parser.add_argument("--model", default="precisionpain-response", help="Registered model name.")
    parser.add_argument("versions", nargs="+")
    args = parser.parse_args()
    registry = Registry(*store_location(args.home, None))
    raw = read_table(args.data, "evaluation data")
    tmp = Path(tempfile.mkdtemp(prefix="paired-gain-"))
    for version in args.versions:
        _, pkg = load_registered(registry, f"models:/{args.model}/{version}", tmp / version)
        meta = pkg.metadata
        options = tuple(str(o) for o in pkg.estimator.options_)
        frame = check_evaluation_table(raw, pkg)
        frame = frame.iloc[split_by_patient(frame, meta.split)[1]].reset_index(drop=True)
        X = assemble_features(frame, pkg.catalog, pkg.tables, validate=False).values
        data = held_out(frame, X, meta.outcome, options, pkg.options, pkg.tables, harms=meta.harms)
        assert data.true_p is not None, "the table has no true response probabilities"
        p = pkg.estimator.predict_outcomes(X)
        usable = ~data.avoid
        chosen = usable_policy(p, data.avoid)
        found = usable_oracle_metrics(data.true_p, usable, options, np.asarray(options, dtype=object)[chosen])
        assert found.best_single_option is not None, "no patient has a usable option"
        rows = usable.any(axis=1)
        truth, at = data.true_p[rows], np.arange(int(rows.sum()))
        others = np.argsort(-truth.mean(axis=0), kind="stable")
        first = options.index(found.best_single_option)
        given = first_usable_in_order(usable[rows], np.concatenate([[first], others[others != first]]))
        single = int((data.true_p.max(axis=1)[:, None] - data.true_p).mean(axis=0).argmin())
        every = np.arange(len(p))
        print(
            f"{args.home.name} v{version} {meta.strategy}: same rules: regret {found.regret:.4f} vs "
            f"{found.best_single_regret:.4f} ({found.best_single_option} first), gain "
            f"{paired(truth[at, chosen[rows]] - truth[at, given])}; every option usable: gain "
            f"{paired(data.true_p[every, p.argmax(axis=1)] - data.true_p[:, single])}",
            flush=True,
        )
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
