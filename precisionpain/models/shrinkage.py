"""Shrinking the per-option models' heterogeneity towards the population, by an amount the data choose.

With many options and few patients per option, the personalised part of each option's model is mostly noise,
and "give everyone the option that is best on average" can rank better than any learner. Shrinkage moves
between the two. With a reference option r (the one with the most patients, by weight) and option j's margins
``m_j(x)`` (log-odds for a binary outcome), option j's shrunk margin is

    m'_j(x) = lambda * m_j(x) + (1 - lambda) * (m_r(x) + a_j),   a_j = population mean of m_j(x) - m_r(x)

so the reference keeps its margin (``a_r = 0``), the difference between j and r is shrunk towards its
population mean, ``(m'_j - m'_r)(x) = a_j + lambda * ((m_j - m_r)(x) - a_j)``, and every patient's ranking at
``lambda = 0`` is the best single option's (by ``a_j``), at ``lambda = 1`` the base learner's. Shrinking the
difference to the reference, rather than each margin towards a constant, keeps each patient's prognosis in the
margin. The calibrators stay the base learner's (fitted on the unshrunk out-of-fold margins) and map the shrunk
margin: refitted per option on shrunk margins, a monotone map re-expands the shrunk differences (isotonic
regression undoes any monotone shrinkage of an option's own patients' margins exactly) and reorders options
against the lambda chosen. The shown probability is therefore the calibrated probability of the shrunk margin;
its calibration against the truth is measured (experiments/strategies), not assumed.

The shrunk margin is an ordinary booster (:func:`shrink_booster`): option j's trees with their leaves times
lambda, followed by the reference's trees times (1 - lambda), the constant folded into the first tree's leaves.
Serving, the merged serving booster and exact TreeSHAP therefore work unchanged, and since TreeSHAP is linear in
the leaves, option j's contributions are ``lambda * phi_j + (1 - lambda) * phi_r`` exactly: the reference's are
unchanged and every option's contributions relative to the reference scale by lambda exactly. It costs up to
the reference's trees once more per option when served (none at lambda 1; option j's own are dropped at 0).

lambda (one for all options) is the one on a grid whose effects against the reference best fit the doubly robust
pseudo-effects of the training patients (:func:`choose_lambda`, a DR-learner loss): each patient's margins come
from boosters that did not see that patient (out of fold for the option received; the other options' boosters
never saw the patient), and the propensities and the calibrators the criterion uses are refitted without the
patient's fold, so no patient's outcome scores a prediction it helped make. The top-1 rule's doubly robust value
was tried first as the criterion: a step function of lambda, it was too noisy to choose by (on pure-noise
heterogeneity it picked lambdas from 0.25 to 0.85 over four seeds; the loss picks 0 to 0.35, and 0.85 to 1 on
strong heterogeneity).
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
from precisionpain.models.calibration import CalibrationKind, Calibrator, fit_calibrator
from precisionpain.models.learners import dr_pseudo_outcomes

#: the lambdas :func:`choose_lambda` tries
LAMBDA_GRID: tuple[float, ...] = tuple(float(v) for v in np.round(np.linspace(0.0, 1.0, 21), 2))


@dataclass(frozen=True)
class ShrinkageChoice:
    """The chosen lambda, the reference option's column, the offsets ``a_j`` (k,) and the criterion of
    :func:`choose_lambda` (a loss: lower is better) at every lambda of ``grid``."""

    lam: float
    reference: int
    offsets: np.ndarray
    grid: tuple[float, ...]
    values: tuple[float, ...]


def reference_option(codes: np.ndarray, weight: np.ndarray, n_options: int) -> int:
    """The option with the most patients (by weight), the first on ties."""
    return int(np.argmax(np.bincount(codes, weights=weight, minlength=n_options)))


def offsets(margins: np.ndarray, reference: int, weight: np.ndarray) -> np.ndarray:
    """``a_j``: the weighted population mean of ``margins[:, j] - margins[:, reference]`` (k,)."""
    diff = margins - margins[:, [reference]]
    return np.asarray(np.average(diff, axis=0, weights=weight), dtype=np.float64)


def shrunk_margins(margins: np.ndarray, reference: int, offset: np.ndarray, lam: float) -> np.ndarray:
    """``lambda * m_j + (1 - lambda) * (m_r + a_j)`` for every column j (n, k)."""
    return lam * margins + (1.0 - lam) * (margins[:, [reference]] + offset[None, :])


def cross_fitted_calibration(
    margins: np.ndarray,
    codes: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    fold: np.ndarray,
    kinds: Sequence[CalibrationKind],
) -> Callable[[np.ndarray], np.ndarray]:
    """A map from margins (n, k) of these patients to calibrated probabilities (n, k) in which patient i's
    margins go through calibrators of the given kinds (one per option) fitted on the out-of-fold margins
    ``margins[codes == j, j]`` and outcomes of option j's patients outside patient i's fold."""
    k = margins.shape[1]
    n_folds = int(fold.max()) + 1
    fitted: list[list[Calibrator]] = []
    for f in range(n_folds):
        per_option = []
        for j in range(k):
            rows = (codes == j) & (fold != f)
            per_option.append(
                fit_calibrator(margins[rows, j], y[rows], weight[rows], method=kinds[j]).calibrator
            )
        fitted.append(per_option)

    def apply(m: np.ndarray) -> np.ndarray:
        out = np.empty_like(m, dtype=np.float64)
        for f in range(n_folds):
            held = fold == f
            for j in range(k):
                out[held, j] = fitted[f][j].apply(m[held, j])
        return out

    return apply


def choose_lambda(
    margins: np.ndarray,
    propensity: np.ndarray,
    codes: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    clip: float,
    grid: Sequence[float] = LAMBDA_GRID,
    to_outcome: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ShrinkageChoice:
    """The lambda whose effects against the reference option best predict the doubly robust pseudo-effects
    (the least weighted mean squared difference; the smallest lambda on ties).

    The pseudo-outcomes ``phi_ij = mu_ij + 1[t_i = j] (y_i - mu_ij) / e_ij`` (:func:`dr_pseudo_outcomes`, with the
    unshrunk expected outcomes as ``mu``) have the true expected outcome as their mean given x, so
    ``(phi_ij - phi_ir) - (p_ij(lambda) - p_ir(lambda))`` squared estimates, up to a constant that does not depend
    on lambda, the squared error of the shrunk effect of j over r: a smooth criterion (the top-1 rule's value,
    a step function of lambda, is too noisy to choose by when there are many options).

    ``margins`` (n, k): each patient's margins from boosters that did not see the patient; ``propensity``
    (n, k): cross-fitted P(option | x); ``weight`` (n,) patient weights; ``to_outcome``: margins to expected
    outcomes (the calibration, fitted without each patient; None: the margins are the outcomes)."""
    k = margins.shape[1]
    ref = reference_option(codes, weight, k)
    a = offsets(margins, ref, weight)
    outcome = (lambda m: m) if to_outcome is None else to_outcome
    phi = dr_pseudo_outcomes(outcome(margins), propensity, codes, y, clip)
    target = phi - phi[:, [ref]]
    losses = []
    for lam in grid:
        p = outcome(shrunk_margins(margins, ref, a, float(lam)))
        err = ((target - (p - p[:, [ref]])) ** 2).sum(axis=1) / max(1, k - 1)
        losses.append(float(np.average(err, weights=weight)))
    best = int(np.argmin(losses))
    return ShrinkageChoice(float(grid[best]), ref, a, tuple(float(g) for g in grid), tuple(losses))


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


def shrink_booster(own: xgb.Booster, reference: xgb.Booster, lam: float, offset: float) -> xgb.Booster:
    """A single-output booster whose margin is ``lam * own(x) + (1 - lam) * (reference(x) + offset)``: ``own``'s
    trees times ``lam``, then ``reference``'s trees times ``1 - lam``, the constant added to the first tree's
    leaves (every row reaches exactly one leaf of it, so its TreeSHAP contributions do not change). ``own``'s
    base score and objective are kept. Returns ``own`` itself at ``lam = 1``."""
    if lam == 1.0:
        return own
    model: dict[str, Any] = json.loads(own.save_raw("json"))
    learner = model["learner"]
    param = learner["learner_model_param"]
    n_features = int(param["num_feature"])
    if (
        int(json.loads(reference.save_raw("json"))["learner"]["learner_model_param"]["num_feature"])
        != n_features
    ):
        raise ModelError("shrink_booster: the boosters differ in number of features")
    parts = [] if lam == 0.0 else [_scaled_trees(own, lam)]
    parts.append(_scaled_trees(reference, 1.0 - lam))
    trees = [t for part in parts for t in part]
    if not trees:
        raise ModelError("shrink_booster: the boosters have no trees")
    shift = (1.0 - lam) * (_base_margin(reference, n_features) + offset - _base_margin(own, n_features))
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
