"""Derive the "4 options, the prescriber's confounding doubled" setting from a synthetic cohort file.

Keeps the patients of the cohort and their true potential outcomes, restricts the options to four, and redraws
who received which option from the prescriber's own propensities (``true_propensity__<option>``) with the
confounding doubled: the prescriber's log-odds between any two of the four options are multiplied by
``--strength`` (2 = doubled), i.e. ``e'_j proportional to e_j ** strength``. The observed response (and the harm
outcomes, through the cohort's ``true_*__`` columns) then follow the new assignment, and ``true_propensity__``
holds the new propensities, so the evaluation's truth stays exact.

    .venv/bin/python experiments/strategies/four_options.py --data /tmp/pp-work/c40k.parquet \
        --out /tmp/pp-work/c40k-4opt.parquet [--strength 2] [--seed 1]

Nothing here is imported by the package.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

#: two CYP2D6 opioids (pharmacogenomic effect modification), an SNRI and a tricyclic
OPTIONS = ("codeine", "tramadol", "duloxetine", "amitriptyline")


def derive(frame: pd.DataFrame, options: tuple[str, ...], strength: float, seed: int) -> pd.DataFrame:
    prop = frame[[f"true_propensity__{o}" for o in options]].to_numpy(dtype=np.float64)
    logits = strength * np.log(prop)
    logits -= logits.max(axis=1, keepdims=True)
    new = np.exp(logits)
    new /= new.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    chosen = (new.cumsum(axis=1) > rng.random((len(frame), 1))).argmax(axis=1)
    out = frame.drop(columns=[c for c in frame.columns if c.startswith("true_propensity__")]).copy()
    rows = np.arange(len(frame))
    out["assigned_option"] = np.asarray(options, dtype=object)[chosen]
    out["responded"] = frame[[f"true_response__{o}" for o in options]].to_numpy()[rows, chosen]
    for column, prefix in (("adverse_event", "true_adverse_event__"), ("dropped_out", "true_dropout__")):
        if column in out:
            out[column] = frame[[f"{prefix}{o}" for o in options]].to_numpy()[rows, chosen]
    for j, o in enumerate(options):
        out[f"true_propensity__{o}"] = new[:, j]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--strength", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    frame = pd.read_parquet(args.data)
    out = derive(frame, OPTIONS, args.strength, args.seed)
    out.to_parquet(args.out, index=False)
    shares = out["assigned_option"].value_counts(normalize=True).round(3).to_dict()
    print(f"wrote {args.out}: {len(out):,} patients, shares {shares}")


if __name__ == "__main__":
    main()
