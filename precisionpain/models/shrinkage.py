"""Shrinking the per-option models' heterogeneity towards the population, by an amount the data choose.

With many options and few patients per option, the personalised part of each option's model is mostly noise,
and "give everyone the option that is best on average" can rank better than any learner. Shrinkage moves
between the two. With option j's margins ``m_j(x)`` (log-odds for a binary outcome) and a prognosis ``g(x)``,
one booster of the same settings fitted on all patients without the option (the outcome expected under the
prescribers' mix), option j's shrunk margin is

    m'_j(x) = lambda * m_j(x) + (1 - lambda) * (g(x) + a_j),   a_j = population mean of m_j(x) - g(x)

so the difference between any two options is shrunk towards its population mean,
``(m'_j - m'_i)(x) = (a_j - a_i) + lambda * ((m_j - m_i)(x) - (a_j - a_i))``; every patient's ranking at
``lambda = 0`` is the best single option's (by ``a_j``), at ``lambda = 1`` the base learner's. Shrinking the
differences, rather than each margin towards a constant, keeps each patient's prognosis in the margin. The
prognosis is pooled over all patients rather than taken from one option's model, so no option's own effect
modification is lent to the others (shrinking towards the most common option's model did that: an option whose
effect runs against that option's got a margin with the wrong slope, which its calibrator then flattened).

Probabilities: the margin is shrunk and the calibrators are refitted on the shrunk out-of-fold margins (the
usual calibration step), so the probability shown is calibrated for what is served. A per-option calibrator
can partly re-expand a shrunk difference (it is a monotone map of the option's own margin), so lambda is chosen
with that calibration in the loop: each lambda's margins are calibrated, cross-fitted, before they are scored.
(Keeping the unshrunk model's calibrators on the shrunk margin instead left the probabilities miscalibrated
where the heterogeneity is real: ECE against the truth 0.034 vs the T-learner's 0.015 on the four-option
cohort.) Consequently lambda = 0 is the best single option for everyone on the margin scale; the calibrated
probabilities may still order options differently for some patients.

The shrunk margin is an ordinary booster (:func:`shrink_booster`): option j's trees with their leaves times
lambda, followed by the prognosis' trees times (1 - lambda), the constant folded into the first tree's leaves.
Serving, the merged serving booster and exact TreeSHAP therefore work unchanged, and since TreeSHAP is linear in
the leaves, option j's contributions are ``lambda * phi_j + (1 - lambda) * phi_g`` exactly: every option's
contributions relative to any other option's are the base learner's times lambda, exactly. It costs one more
booster fit on all patients and, when served, the prognosis' trees once more per option (none at lambda 1;
option j's own are dropped at 0).

lambda (one for all options) is the one on a grid of least R-loss on the training patients (:func:`choose_lambda`):
each patient's margins come from boosters that did not see that patient (out of fold for the option received and
for the prognosis; the other options' boosters never saw the patient), and the propensities and the calibrators
the criterion uses are refitted without the patient's fold, so no patient's outcome scores a prediction it helped
make. Two criteria were tried first. The top-1 rule's doubly robust value, a step function of lambda, was too
noisy to choose by (on pure-noise heterogeneity, 3,000 patients and 6 options, it picked lambdas from 0.25 to
0.85 over four seeds). The squared error against doubly robust pseudo-effects was smooth and right with 4-6
options, but flat within its noise with 28 (its 1/e terms reach 100 at the 0.01 clip), and so was the R-loss's
minimum (lambda 0.9 and 1.0 on the two 28-option cohorts). The smallest lambda within one standard error of the
least R-loss picks 0 to 0.1 on pure-noise heterogeneity (3,000 and 12,000 patients) and 0.9 to 0.95 on strong
heterogeneity with 12,000 patients (0.55 to 0.8 with 3,000, where the estimates are noisier).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from precisionpain.errors import ModelError
from precisionpain.models import boosting
from precisionpain.models.calibration import CalibrationKind, fit_calibrator

#: the lambdas :func:`choose_lambda` tries
LAMBDA_GRID: tuple[float, ...] = tuple(float(v) for v in np.round(np.linspace(0.0, 1.0, 21), 2))


@dataclass(frozen=True)
class ShrinkageChoice:
    """The chosen lambda, the offsets ``a_j`` (k,) and the criterion of :func:`choose_lambda` (a loss: lower is
    better) at every lambda of ``grid``."""

    lam: float
    offsets: np.ndarray
    grid: tuple[float, ...]
    values: tuple[float, ...]


def paired_difference(diff: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """The weighted mean of per-patient paired differences and its standard error."""
    mean = float(np.average(diff, weights=weight))
    n = max(1, diff.shape[0] - 1)
    return mean, float(np.sqrt(np.average((diff - mean) ** 2, weights=weight) / n))


def offsets(margins: np.ndarray, prognosis: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``a_j``: the weighted population mean of ``margins[:, j] - prognosis`` (k,)."""
    return np.asarray(np.average(margins - prognosis[:, None], axis=0, weights=weight), dtype=np.float64)


def shrunk_margins(margins: np.ndarray, prognosis: np.ndarray, offset: np.ndarray, lam: float) -> np.ndarray:
    """``lambda * m_j + (1 - lambda) * (g + a_j)`` for every column j (n, k)."""
    return lam * margins + (1.0 - lam) * (prognosis[:, None] + offset[None, :])


def cross_fitted_calibration(
    margins: np.ndarray,
    codes: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    fold: np.ndarray,
    kinds: Sequence[CalibrationKind],
) -> np.ndarray:
    """Calibrated probabilities (n, k) of margins (n, k) of these patients: patient i's margin under option j
    goes through a calibrator of ``kinds[j]`` fitted on the margins ``margins[codes == j, j]`` (out of fold for
    the option's own patients) and outcomes of option j's patients outside patient i's fold."""
    k = margins.shape[1]
    out = np.empty_like(margins, dtype=np.float64)
    for f in range(int(fold.max()) + 1):
        held = fold == f
        for j in range(k):
            rows = (codes == j) & ~held
            calibrator = fit_calibrator(margins[rows, j], y[rows], weight[rows], method=kinds[j]).calibrator
            out[held, j] = calibrator.apply(margins[held, j])
    return out


def choose_lambda(
    margins: np.ndarray,
    prognosis: np.ndarray,
    propensity: np.ndarray,
    codes: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    grid: Sequence[float] = LAMBDA_GRID,
    to_outcome: Callable[[np.ndarray], np.ndarray] | None = None,
    prognosis_outcome: np.ndarray | None = None,
) -> ShrinkageChoice:
    """The smallest lambda whose R-loss (Nie and Wager 2021, multi-arm) is within one standard error of the least
    (the standard error of the per-patient paired difference): the least personalisation the data cannot tell
    from the best. The R-loss is

        R(lambda) = mean_i w_i (y_i - m_i - (p_i,t_i(lambda) - sum_j e_ij p_ij(lambda)))^2

    with ``m_i`` the expected outcome under the prescribers' mix (the prognosis) and ``e`` the propensities. Its
    expectation is least for the true effects between options; it has no inverse propensity in it, so it stays
    usable with many options and small propensities (a doubly robust pseudo-effect loss was flat within its noise
    with 28 options: its 1/e terms reach 100 at the 0.01 clip). Where the heterogeneity estimates are noise the
    loss is flat in lambda and the rule takes the population end; where they are real it rises steeply as lambda
    falls, and the rule stays near 1.

    ``margins`` (n, k) and ``prognosis`` (n,): each patient's margins from boosters that did not see the patient;
    ``propensity`` (n, k): cross-fitted P(option | x); ``weight`` (n,) patient weights; ``to_outcome``: margins
    to expected outcomes (the calibration, fitted without each patient; None: the margins are the outcomes);
    ``prognosis_outcome`` (n,): ``m`` (default: ``prognosis``)."""
    a = offsets(margins, prognosis, weight)
    outcome = (lambda m: m) if to_outcome is None else to_outcome
    m = prognosis if prognosis_outcome is None else prognosis_outcome
    rows = np.arange(codes.shape[0])
    residual = y - m
    per_patient = []
    for lam in grid:
        p = outcome(shrunk_margins(margins, prognosis, a, float(lam)))
        effect = p[rows, codes] - (propensity * p).sum(axis=1)
        per_patient.append((residual - effect) ** 2)
    losses = [float(np.average(v, weights=weight)) for v in per_patient]
    best = int(np.argmin(losses))
    chosen = best
    for i in range(best):
        mean, se = paired_difference(per_patient[i] - per_patient[best], weight)
        if mean <= se:
            chosen = i
            break
    return ShrinkageChoice(float(grid[chosen]), a, tuple(float(g) for g in grid), tuple(losses))


def _scaled_trees(booster: xgb.Booster, factor: float) -> list[dict[str, Any]]:
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    out = []
    for tree in trees:
        tree = dict(tree)
        leaf = np.asarray(tree["left_children"]) == -1
        cond = np.asarray(tree["split_conditions"], dtype=np.float64)
        cond[leaf] *= factor
        tree["split_conditions"] = cond.tolist()
        tree["base_weights"] = (np.asarray(tree["base_weights"], dtype=np.float64) * factor).tolist()
        out.append(tree)
    return out


def _base_margin(booster: xgb.Booster, n_features: int) -> float:
    row = np.zeros((1, n_features), dtype=np.float32)
    return float(boosting.predict_margins(booster, row)[0, 0] - boosting.tree_margins(booster, row)[0])


def shrink_booster(own: xgb.Booster, prognosis: xgb.Booster, lam: float, offset: float) -> xgb.Booster:
    """A single-output booster whose margin is ``lam * own(x) + (1 - lam) * (prognosis(x) + offset)``: ``own``'s
    trees times ``lam``, then ``prognosis``' trees times ``1 - lam``, the constant added to the first tree's
    leaves (every row reaches exactly one leaf of it, so its TreeSHAP contributions do not change). ``own``'s
    base score and objective are kept. Returns ``own`` itself at ``lam = 1``."""
    if lam == 1.0:
        return own
    model: dict[str, Any] = json.loads(own.save_raw("json"))
    learner = model["learner"]
    param = learner["learner_model_param"]
    n_features = int(param["num_feature"])
    if (
        int(json.loads(prognosis.save_raw("json"))["learner"]["learner_model_param"]["num_feature"])
        != n_features
    ):
        raise ModelError("shrink_booster: the boosters differ in number of features")
    parts = [] if lam == 0.0 else [_scaled_trees(own, lam)]
    parts.append(_scaled_trees(prognosis, 1.0 - lam))
    trees = [t for part in parts for t in part]
    if not trees:
        raise ModelError("shrink_booster: the boosters have no trees")
    shift = (1.0 - lam) * (_base_margin(prognosis, n_features) + offset - _base_margin(own, n_features))
    first = trees[0]
    leaf = np.asarray(first["left_children"]) == -1
    cond = np.asarray(first["split_conditions"], dtype=np.float64)
    cond[leaf] += shift
    first["split_conditions"] = cond.tolist()
    weights = np.asarray(first["base_weights"], dtype=np.float64)
    weights[leaf] += shift
    first["base_weights"] = weights.tolist()
    for i, tree in enumerate(trees):
        tree["id"] = i
    gbm_model = learner["gradient_booster"]["model"]
    learner["attributes"] = {}
    gbm_model["trees"] = trees
    gbm_model["tree_info"] = [0] * len(trees)
    gbm_model["iteration_indptr"] = list(range(len(trees) + 1))
    gbm_model["gbtree_model_param"]["num_trees"] = str(len(trees))
    return xgb.Booster(model_file=bytearray(json.dumps(model).encode()))
