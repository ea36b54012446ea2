"""Second-stage meta-learners over the per-option boosters: the X-learner and the DR-learner.

Both start from the T-learner's first stage (one booster per option on its own patients, with out-of-fold margins
for those patients) and end, for every option, in ONE ordinary single-output booster of the model's objective:
the first-stage booster with correction trees appended (:func:`boosting.concat_boosters`). Everything downstream
(calibration on out-of-fold margins, the merged serving booster, exact TreeSHAP that sums to the margin, pickling,
MLflow) therefore works unchanged. Margins are log-odds for ``objective="binary"``.

First-stage margins ``M`` (n, k): option j's booster on every patient; for option j's own patients the out-of-fold
margin (the fold booster that did not see them), so no second-stage target is built from an in-sample fit.

**X-learner** (Kuenzel et al. 2019, multi-arm against a reference): the reference r is the option with the most
patients (by weight). For every other option j:

1. ``tau1_j``: trees fitted on option j's patients, outcome y, starting from the reference's margin
   ``M[:, r]``: the effect of j over r imputed where j was given (binary: on the log-odds scale, by likelihood).
2. ``tau0_j``: trees fitted on the reference's patients, outcome y, starting from option j's margin
   ``M[:, j]``; ``-tau0_j`` is the effect imputed where r was given.
3. Combined with the propensity model's weights ``g = e_j / (e_j + e_r)``:
   ``tau_j = g * (-tau0_j) + (1 - g) * tau1_j`` (each from out-of-fold fits where the patient was a training row),
   and distilled by a squared-error booster on up to ``distill_rows`` patients (a smooth, noise-free target;
   stopped when a round gains less than 0.1% of held-out squared error, at most 500 rounds).
4. Option j's booster: the reference booster followed by the distilled trees (margin ``m_r + tau_j``).

**DR-learner** (Kennedy 2023, per option): cross-fitted propensities ``e`` (the propensity model refitted without
each fold) and the first stage's ``mu_j`` (probabilities for binary) give the doubly robust pseudo-outcome
``phi_j = mu_j + 1[T = j] (y - mu_j) / max(e_j, clip)`` for every patient, whose mean given x is the expected
outcome under j when either nuisance is right (:func:`dr_pseudo_outcomes`). Correction trees are fitted on all
patients to ``phi_j``, starting from ``M[:, j]`` (binary: logistic loss with real-valued labels,
:func:`boosting.soft_logistic_objective`; regression: squared error). Effects are differences of options.

Intervals (jackknife): replicate k of option j is the first stage's fold-k booster followed by the second stage's
fold-k trees. A binary option whose patients all had one outcome (``single_class="prior"``) keeps its first-stage
booster (there is no effect to learn from one class).

Costs: the X-learner adds two stage-2 fits on the option's and the reference's patients plus one distillation per
option; the DR-learner one fit on all patients per option, so about k times the T-learner's rows.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb
from scipy.special import expit

from precisionpain.models import boosting
from precisionpain.models.propensity import fit_propensity

META_STRATEGIES: tuple[str, ...] = ("x_learner", "dr_learner")
#: patients the X-learner's combined effect is distilled on (a deterministic target: more rows add little)
DISTILL_ROWS = 50_000
#: the distillation stops when a round lowers the held-out squared error by less than this share, and after at
#: most this many rounds (its trees are scored for every patient served)
DISTILL_MIN_IMPROVEMENT = 1e-3
DISTILL_MAX_ROUNDS = 500


@dataclass(frozen=True)
class StageFit:
    """One option's boosters: final booster, interval replicates, out-of-fold margins of the option's own
    patients (in row order; single-class pseudo-patients follow) and the boosting rounds of its trees."""

    booster: xgb.Booster
    replicates: tuple[xgb.Booster, ...]
    oof_margin: np.ndarray
    n_rounds: int


@dataclass(frozen=True)
class BoostSettings:
    n_folds: int
    max_rounds: int
    patience: int
    keep_replicates: bool
    nthread: int


@dataclass(frozen=True)
class _Correction:
    full: xgb.Booster
    folds: tuple[xgb.Booster, ...]
    oof_margin: np.ndarray  # includes the base margin
    n_rounds: int


def dr_pseudo_outcomes(
    mu: np.ndarray, propensity: np.ndarray, codes: np.ndarray, y: np.ndarray, clip: float
) -> np.ndarray:
    """Doubly robust pseudo-outcomes (n, k): ``mu[:, j] + 1[codes = j] (y - mu[:, j]) / max(e[:, j], clip)``.

    ``mu`` (n, k): the outcome model's expected outcome per option; ``propensity`` (n, k): P(option | x). When the
    propensity is right, the mean of column j over patients is the mean outcome under option j whatever ``mu`` is.
    """
    phi = np.array(mu, dtype=np.float64, copy=True)
    rows = np.arange(phi.shape[0])
    own = phi[rows, codes]
    phi[rows, codes] = own + (y - own) / np.maximum(propensity[rows, codes], clip)
    return phi


def dr_policy_values(
    mu: np.ndarray, propensity: np.ndarray, codes: np.ndarray, y: np.ndarray, pick: np.ndarray, clip: float
) -> np.ndarray:
    """Per patient, the doubly robust value of giving option ``pick[i]`` (n,): ``mu[i, pick] + 1[codes = pick]
    (y - mu[i, pick]) / max(e[i, pick], clip)``; their mean estimates the expected outcome of the rule."""
    rows = np.arange(mu.shape[0])
    m = mu[rows, pick]
    hit = codes == pick
    return np.asarray(m + hit * (y - m) / np.maximum(propensity[rows, pick], clip))


def cross_fitted_propensity(
    X: np.ndarray,
    codes: np.ndarray,
    n_options: int,
    weight: np.ndarray,
    fold: np.ndarray,
    *,
    l2: float,
    n_jobs: int,
) -> np.ndarray:
    """P(option | x) (n, k), each row predicted by a propensity model fitted without the row's fold."""
    out = np.empty((X.shape[0], n_options))
    Xf = np.asarray(X, dtype=np.float64)
    for k in range(int(fold.max()) + 1):
        held = fold == k
        model = fit_propensity(Xf[~held], codes[~held], n_options, weight[~held], l2=l2, n_jobs=n_jobs)
        out[held] = model.predict(Xf[held])
    return out


def stage_one_margins(X32: np.ndarray, codes: np.ndarray, stage1: Sequence[StageFit]) -> np.ndarray:
    """``M`` (n, k): option j's first-stage booster on every patient, out-of-fold for j's own patients."""
    M = np.column_stack([boosting.predict_margins(f.booster, X32)[:, 0] for f in stage1])
    for j, f in enumerate(stage1):
        rows = codes == j
        M[rows, j] = f.oof_margin[: int(rows.sum())]
    return M


def _strata(y: np.ndarray, binary: bool, n_folds: int) -> np.ndarray:
    if binary:
        return (y > 0.5).astype(np.int64)
    edges = np.quantile(y, np.linspace(0, 1, n_folds + 1)[1:-1])
    return np.searchsorted(edges, y).astype(np.int64)


def _fit_correction(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    strata: np.ndarray,
    base_margin: np.ndarray,
    params: Mapping[str, Any],
    settings: BoostSettings,
    rng: np.random.Generator,
    stop: threading.Event | None,
    obj: boosting.Objective | None = None,
    distill: bool = False,
) -> _Correction:
    fold = boosting.make_folds(strata, settings.n_folds, rng)
    params = dict(params, seed=int(rng.integers(2**31 - 1)), nthread=settings.nthread)
    cf = boosting.cross_fit(
        X,
        y,
        w,
        fold,
        params,
        max_rounds=min(settings.max_rounds, DISTILL_MAX_ROUNDS) if distill else settings.max_rounds,
        patience=settings.patience,
        stop=stop,
        base_margin=base_margin,
        obj=obj,
        min_improvement=DISTILL_MIN_IMPROVEMENT if distill else 1e-12,
    )
    boosting.raise_if_stopped(stop)
    full = boosting.train(X, y, w, params, cf.n_rounds, base_margin=base_margin, obj=obj)
    return _Correction(full, cf.boosters, cf.oof_margin, cf.n_rounds)


def _combine(
    first: StageFit, tail: Sequence[_Correction], settings: BoostSettings, oof: np.ndarray
) -> StageFit:
    booster = boosting.concat_boosters(first.booster, [c.full for c in tail])
    replicates: tuple[xgb.Booster, ...] = ()
    if settings.keep_replicates and first.replicates:
        replicates = tuple(
            boosting.concat_boosters(rep, [c.folds[i] for c in tail])
            for i, rep in enumerate(first.replicates)
        )
    return StageFit(booster, replicates, oof, first.n_rounds + sum(c.n_rounds for c in tail))


def _single_class(y: np.ndarray, rows: np.ndarray, binary: bool) -> bool:
    yj = y[rows]
    return binary and bool(yj.min() == yj.max())


def fit_x_learner(
    X32: np.ndarray,
    codes: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    propensity: np.ndarray,
    stage1: Sequence[StageFit],
    params: Mapping[str, Any],
    settings: BoostSettings,
    *,
    binary: bool,
    seed: int,
    stop: threading.Event | None = None,
    distill_rows: int = DISTILL_ROWS,
) -> list[StageFit]:
    """The X-learner's per-option boosters (see the module doc); ``propensity`` (n, k) from the propensity model."""
    n, k = propensity.shape
    M = stage_one_margins(X32, codes, stage1)
    counts = np.bincount(codes, weights=weight, minlength=k)
    ref = int(np.argmax(counts))
    ref_rows = codes == ref
    distill_params = {kk: v for kk, v in params.items() if kk != "base_score"}
    distill_params.update(objective="reg:squarederror", eval_metric="rmse")
    rng_rows = np.random.default_rng([seed, 101])
    sample = np.sort(rng_rows.permutation(n)[: min(n, distill_rows)])
    in_sample = np.zeros(n, dtype=bool)
    in_sample[sample] = True
    out: list[StageFit] = []
    for j in range(k):
        rows = codes == j
        if j == ref or _single_class(y, rows, binary) or _single_class(y, ref_rows, binary):
            out.append(stage1[j])
            continue
        rng = np.random.default_rng([seed, j, 17])
        # tau1: effect of j over r where j was given (trees on top of the reference's margin)
        c1 = _fit_correction(
            X32[rows],
            y[rows],
            weight[rows],
            _strata(y[rows], binary, settings.n_folds),
            M[rows, ref],
            params,
            settings,
            rng,
            stop,
        )
        # tau0: effect where r was given (trees on top of j's margin learn -tau0)
        c0 = _fit_correction(
            X32[ref_rows],
            y[ref_rows],
            weight[ref_rows],
            _strata(y[ref_rows], binary, settings.n_folds),
            M[ref_rows, j],
            params,
            settings,
            rng,
            stop,
        )
        tau1 = boosting.tree_margins(c1.full, X32)
        tau1[rows] = c1.oof_margin - M[rows, ref]
        tau0 = -boosting.tree_margins(c0.full, X32)
        tau0[ref_rows] = -(c0.oof_margin - M[ref_rows, j])
        ej, er = propensity[:, j], propensity[:, ref]
        g = ej / np.maximum(ej + er, 1e-12)
        tau = g * tau0 + (1.0 - g) * tau1
        boosting.raise_if_stopped(stop)
        d = _fit_correction(
            X32[sample],
            tau[sample],
            np.ones(sample.shape[0]),
            _strata(tau[sample], False, settings.n_folds),
            np.zeros(sample.shape[0]),
            distill_params,
            settings,
            rng,
            stop,
            distill=True,
        )
        distilled = boosting.tree_margins(d.full, X32[rows])
        distilled[in_sample[rows]] = d.oof_margin[rows[sample]]
        oof = M[rows, ref] + distilled
        out.append(_combine(stage1[ref], [d], settings, oof))
    return out


def fit_dr_learner(
    X32: np.ndarray,
    codes: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    propensity: np.ndarray,
    stage1: Sequence[StageFit],
    params: Mapping[str, Any],
    settings: BoostSettings,
    *,
    binary: bool,
    seed: int,
    clip: float,
    stop: threading.Event | None = None,
) -> list[StageFit]:
    """The DR-learner's per-option boosters (see the module doc); ``propensity`` (n, k) cross-fitted."""
    k = propensity.shape[1]
    M = stage_one_margins(X32, codes, stage1)
    mu = expit(M) if binary else M
    phi = dr_pseudo_outcomes(mu, propensity, codes, y, clip)
    obj = boosting.soft_logistic_objective if binary else None
    out: list[StageFit] = []
    for j in range(k):
        rows = codes == j
        if _single_class(y, rows, binary):
            out.append(stage1[j])
            continue
        rng = np.random.default_rng([seed, j, 23])
        strata = codes * 2 + (y > 0.5) if binary else codes
        c = _fit_correction(X32, phi[:, j], weight, strata, M[:, j], params, settings, rng, stop, obj)
        out.append(_combine(stage1[j], [c], settings, c.oof_margin[rows]))
    return out
