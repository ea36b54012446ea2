"""Evaluation metrics of response models and of the treatment policies they imply. Generic: arrays in, frozen
result types out (pydantic ``FrozenModel``; ``.flat()`` gives a flat ``{name: float}`` dict for metric logging).

Conventions: an outcome is "higher is better" (a response probability, a pain reduction); a policy is an array
with the chosen option label per row; (n, k) matrices (propensities, predicted or true outcomes) have their
columns in the order of ``options``. Nothing here reads files or prints.

- Classification: :func:`roc_auc`, :func:`brier_score`, :func:`log_loss`, :func:`expected_calibration_error`,
  :func:`calibration_curve`, :func:`classification_metrics`, :func:`per_option_metrics`.
- Policy value on observational data: :func:`policy_value` (self-normalised IPW and doubly robust AIPW, with
  bootstrap intervals) and :func:`evaluate_policy` (the policy against the observed treatment and the best
  single option for everyone, with paired bootstrap differences).
- With the true expected outcomes (synthetic data): :func:`oracle_metrics` (regret, top-1 agreement, Kendall tau
  of the rankings, sqrt-PEHE per option against a reference) and :func:`usable_oracle_metrics` (the same regret
  and top-1 agreement when some options are excluded per row, against the best usable option, and the best
  single option that obeys the same exclusions).
- Subgroups: :func:`subgroup_metrics` (AUC and calibration per group and the largest gaps).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from sklearn.metrics import roc_auc_score

from precisionpain.base import FrozenModel
from precisionpain.errors import ValidationError, Violation, kind_of

BinStrategy = Literal["quantile", "uniform"]


class MetricResult(FrozenModel):
    """Base of the metric results: ``flat()`` flattens nested numbers into ``{"a.b": value}``."""

    def flat(self, prefix: str = "") -> dict[str, float]:
        out: dict[str, float] = {}

        def walk(value: Any, key: str) -> None:
            if isinstance(value, MetricResult):
                for name in type(value).model_fields:
                    walk(getattr(value, name), f"{key}.{name}" if key else name)
            elif isinstance(value, Mapping):
                for k, v in value.items():
                    walk(v, f"{key}.{k}" if key else str(k))
            elif isinstance(value, bool | int | float):
                out[key] = float(value)

        walk(self, prefix)
        return out


# ---------------------------------------------------------------------------------------------- input checks


def _vector(
    value: Any, path: str, n: int | None, violations: list[Violation], *, numeric: bool = True
) -> np.ndarray:
    arr = np.asarray(value) if numeric else np.asarray(value, dtype=object)
    if arr.ndim != 1:
        violations.append(Violation(path, "must be 1-D", f"{arr.ndim}-D array"))
        return arr
    if n is not None and arr.shape[0] != n:
        violations.append(Violation(path, f"must have {n} entries (one per row)", f"length {arr.shape[0]}"))
    if numeric:
        if arr.dtype.kind not in "biuf":
            violations.append(Violation(path, "must be numeric", f"array of dtype {arr.dtype}"))
        elif not np.isfinite(arr.astype(np.float64)).all():
            violations.append(Violation(path, "must be finite (no NaN)", "NaN or infinite number"))
    return arr


def _matrix(value: Any, path: str, n: int, k: int, violations: list[Violation]) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.shape != (n, k):
        violations.append(
            Violation(path, f"must have shape ({n}, {k}) (rows x options)", f"shape {arr.shape}")
        )
    elif arr.dtype.kind not in "biuf":
        violations.append(Violation(path, "must be numeric", f"array of dtype {arr.dtype}"))
    elif not np.isfinite(arr.astype(np.float64)).all():
        violations.append(Violation(path, "must be finite (no NaN)", "NaN or infinite number"))
    return arr


def _binary(y: np.ndarray, path: str, violations: list[Violation]) -> None:
    if y.dtype.kind in "biuf" and y.ndim == 1 and not np.isin(y, (0, 1)).all():
        violations.append(Violation(path, "must be 0/1", "numbers other than 0 and 1"))


def _probabilities(p: np.ndarray, path: str, violations: list[Violation]) -> None:
    if p.dtype.kind in "biuf" and np.isfinite(p.astype(np.float64)).all() and ((p < 0) | (p > 1)).any():
        violations.append(Violation(path, "must be probabilities in [0, 1]", "number outside [0, 1]"))


def _weights(sample_weight: Any, n: int, violations: list[Violation]) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n)
    w = _vector(sample_weight, "sample_weight", n, violations)
    if w.dtype.kind in "biuf" and w.ndim == 1 and (w < 0).any():
        violations.append(Violation("sample_weight", "must be >= 0", "negative number"))
    return w.astype(np.float64) if w.dtype.kind in "biuf" else np.ones(n)


def _y_p(y: Any, p: Any, what: str, sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v: list[Violation] = []
    yy = _vector(y, "y", None, v)
    pp = _vector(p, "p", yy.shape[0] if yy.ndim == 1 else None, v)
    _binary(yy, "y", v)
    _probabilities(pp, "p", v)
    if yy.ndim == 1 and yy.shape[0] == 0:
        v.append(Violation("y", "must have at least one row", "0 rows"))
    n = yy.shape[0] if yy.ndim == 1 else 0
    w = _weights(sample_weight, n, v)
    ValidationError.raise_if_any(what, v)
    return yy.astype(np.float64), pp.astype(np.float64), w


def _codes(
    labels: Any, options: Sequence[Hashable], path: str, n: int | None, v: list[Violation]
) -> np.ndarray:
    arr = _vector(labels, path, n, v, numeric=False)
    index = {o: j for j, o in enumerate(options)}
    codes = np.full(arr.shape[0] if arr.ndim == 1 else 0, -1, dtype=np.int64)
    for i, lab in enumerate(arr if arr.ndim == 1 else ()):
        key = lab.item() if isinstance(lab, np.generic) else lab
        try:
            codes[i] = index.get(key, -1)
        except TypeError:
            codes[i] = -1
    if (codes < 0).any():
        bad = arr[codes < 0][0]
        v.append(Violation(path, "every entry must be one of options", kind_of(bad)))
    return codes


# ---------------------------------------------------------------------------------------------- classification


def roc_auc(y: Any, p: Any, sample_weight: Any = None) -> float:
    """Area under the ROC curve; NaN when y has a single class."""
    yy, pp, w = _y_p(y, p, "roc_auc", sample_weight)
    if np.unique(yy).size < 2:
        return float("nan")
    return float(roc_auc_score(yy, pp, sample_weight=w))


def brier_score(y: Any, p: Any, sample_weight: Any = None) -> float:
    """Weighted mean of (p - y)^2."""
    yy, pp, w = _y_p(y, p, "brier_score", sample_weight)
    return float(np.average((pp - yy) ** 2, weights=w))


def log_loss(y: Any, p: Any, sample_weight: Any = None, eps: float = 1e-15) -> float:
    """Weighted mean negative log-likelihood, p clipped to [eps, 1 - eps]."""
    yy, pp, w = _y_p(y, p, "log_loss", sample_weight)
    q = np.clip(pp, eps, 1.0 - eps)
    return float(np.average(-(yy * np.log(q) + (1.0 - yy) * np.log1p(-q)), weights=w))


def _bins(p: np.ndarray, n_bins: int, strategy: BinStrategy) -> np.ndarray:
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
    # bin i holds edges[i] <= p < edges[i+1]; the last bin is closed on the right
    return np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))


def _check_bins(n_bins: int, strategy: str, what: str) -> None:
    v: list[Violation] = []
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        v.append(Violation("n_bins", "must be an integer >= 1", kind_of(n_bins)))
    if strategy not in ("quantile", "uniform"):
        v.append(Violation("strategy", "must be 'quantile' or 'uniform'", kind_of(strategy)))
    ValidationError.raise_if_any(what, v)


class CalibrationCurve(MetricResult):
    """Per non-empty bin: mean predicted probability, observed rate and (weighted) count, for plotting."""

    mean_predicted: tuple[float, ...]
    observed_rate: tuple[float, ...]
    count: tuple[float, ...]


def calibration_curve(
    y: Any, p: Any, n_bins: int = 10, strategy: BinStrategy = "quantile", sample_weight: Any = None
) -> CalibrationCurve:
    """Reliability-diagram points: bins of p (equal-count ``quantile`` or equal-width ``uniform``)."""
    _check_bins(n_bins, strategy, "calibration_curve")
    yy, pp, w = _y_p(y, p, "calibration_curve", sample_weight)
    b = _bins(pp, n_bins, strategy)
    size = int(b.max()) + 1
    count = np.bincount(b, weights=w, minlength=size)
    keep = count > 0
    mean_p = np.bincount(b, weights=w * pp, minlength=size)[keep] / count[keep]
    rate = np.bincount(b, weights=w * yy, minlength=size)[keep] / count[keep]
    return CalibrationCurve(
        mean_predicted=tuple(float(x) for x in mean_p),
        observed_rate=tuple(float(x) for x in rate),
        count=tuple(float(x) for x in count[keep]),
    )


def expected_calibration_error(
    y: Any, p: Any, n_bins: int = 10, strategy: BinStrategy = "quantile", sample_weight: Any = None
) -> float:
    """ECE: sum over bins of (bin weight share) x |observed rate - mean predicted probability|."""
    curve = calibration_curve(y, p, n_bins=n_bins, strategy=strategy, sample_weight=sample_weight)
    count = np.asarray(curve.count)
    gap = np.abs(np.asarray(curve.observed_rate) - np.asarray(curve.mean_predicted))
    return float((count * gap).sum() / count.sum())


def ece_noise_floor(
    p: Any, n_bins: int = 10, strategy: BinStrategy = "quantile", n_sim: int = 200, random_state: int = 0
) -> float:
    """Expected ECE of a PERFECTLY calibrated model with these predictions: the mean ECE when outcomes are drawn
    as Bernoulli(p) (consistency resampling, Broecker & Smith 2007). With a few thousand patients the binned
    ECE is biased upwards by sampling noise of about this size."""
    pp = np.asarray(p, dtype=np.float64)
    rng = np.random.default_rng(random_state)
    return _simulated_ece(pp, n_bins, strategy, n_sim, lambda: (rng.random(pp.shape[0]) < pp) - pp)


def _simulated_ece(
    pp: np.ndarray, n_bins: int, strategy: BinStrategy, n_sim: int, deviation: Callable[[], np.ndarray]
) -> float:
    """The mean over ``n_sim`` draws of the binned ECE of ``pp`` against ``pp + deviation()`` (a simulated
    outcome or true probability per row): per bin of ``pp``, |sum of the deviations|, over all rows."""
    if not len(pp):
        return float("nan")
    b = _bins(pp, n_bins, strategy)
    size = int(b.max()) + 1
    out = np.empty(n_sim)
    for s in range(n_sim):
        out[s] = float(np.abs(np.bincount(b, weights=deviation(), minlength=size)).sum() / pp.shape[0])
    return float(out.mean())


def ece_against_truth(p: Any, true_p: Any, n_bins: int = 10, strategy: BinStrategy = "quantile") -> float:
    """ECE measured against known true probabilities (synthetic data): per bin of p, |mean true p - mean p|,
    weighted by bin size. Free of the outcome sampling noise that inflates the observed-outcome ECE."""
    pp = np.asarray(p, dtype=np.float64)
    tt = np.asarray(true_p, dtype=np.float64)
    b = _bins(pp, n_bins, strategy)
    size = int(b.max()) + 1
    count = np.bincount(b, minlength=size).astype(np.float64)
    keep = count > 0
    gap = (
        np.abs(
            np.bincount(b, weights=tt, minlength=size)[keep]
            - np.bincount(b, weights=pp, minlength=size)[keep]
        )
        / count[keep]
    )
    return float((count[keep] * gap).sum() / count[keep].sum())


def ece_truth_noise_floor(
    p: Any,
    residual_sd: float,
    n_bins: int = 10,
    strategy: BinStrategy = "quantile",
    n_sim: int = 200,
    random_state: int = 0,
) -> float:
    """Expected :func:`ece_against_truth` of a model that is exactly right in expectation, E[true p | x] = p, when
    each patient's own true probability scatters around it with sd ``residual_sd`` (effects the inputs do not
    record): the mean ECE of ``p`` against ``p + N(0, residual_sd**2)`` over ``n_sim`` draws. With a few
    hundred patients per bin this floor is of the order of ``0.8 * residual_sd / sqrt(patients per bin)``,
    so a binned ECE against the truth cannot go below it however good the model."""
    pp = np.asarray(p, dtype=np.float64)
    if not len(pp) or not np.isfinite(residual_sd) or residual_sd <= 0:
        return 0.0
    rng = np.random.default_rng(random_state)
    return _simulated_ece(
        pp, n_bins, strategy, n_sim, lambda: np.asarray(rng.normal(scale=residual_sd, size=pp.shape[0]))
    )


class ClassificationMetrics(MetricResult):
    n: int
    prevalence: float
    mean_predicted: float
    auc: float
    brier: float
    log_loss: float
    ece: float


def classification_metrics(
    y: Any, p: Any, n_bins: int = 10, strategy: BinStrategy = "quantile", sample_weight: Any = None
) -> ClassificationMetrics:
    """AUC, Brier, log loss and ECE of probabilities p for binary outcomes y."""
    yy, pp, w = _y_p(y, p, "classification_metrics", sample_weight)
    return ClassificationMetrics(
        n=int(yy.shape[0]),
        prevalence=float(np.average(yy, weights=w)),
        mean_predicted=float(np.average(pp, weights=w)),
        auc=roc_auc(yy, pp, w),
        brier=brier_score(yy, pp, w),
        log_loss=log_loss(yy, pp, w),
        ece=expected_calibration_error(yy, pp, n_bins, strategy, w),
    )


def per_option_metrics(
    y: Any,
    treatment: Any,
    predicted: Any,
    options: Sequence[Hashable],
    n_bins: int = 10,
    strategy: BinStrategy = "quantile",
) -> dict[str, ClassificationMetrics]:
    """Classification metrics of each option's predicted column on the patients who received that option
    (the only ones whose outcome under it is observed). Keys are ``str(option)``; options nobody received are
    left out."""
    v: list[Violation] = []
    yy = _vector(y, "y", None, v)
    n = yy.shape[0]
    codes = _codes(treatment, options, "treatment", n, v)
    pred = _matrix(predicted, "predicted", n, len(options), v)
    ValidationError.raise_if_any("per_option_metrics", v)
    out = {}
    for j, opt in enumerate(options):
        rows = codes == j
        if rows.any():
            out[str(opt)] = classification_metrics(yy[rows], pred[rows, j], n_bins, strategy)
    return out


# ---------------------------------------------------------------------------------------------- policy value


class ValueEstimate(MetricResult):
    """A point estimate with a (1 - alpha) percentile bootstrap interval."""

    estimate: float
    ci_low: float
    ci_high: float


class PolicyValue(MetricResult):
    """Value (mean outcome if everyone followed the policy) by self-normalised IPW and by AIPW (doubly robust).
    ``match_rate`` is the share of patients whose observed treatment equals the policy's choice."""

    ipw: ValueEstimate
    dr: ValueEstimate
    match_rate: float
    n: int


class PolicyEvaluation(MetricResult):
    """A policy against the observed treatment and the best single option given to everyone.

    ``best_single_option`` is chosen by its DR value on the same data (so its value is slightly optimistic).
    ``dr_gain_vs_observed`` and ``dr_gain_vs_best_single`` are paired bootstrap differences of DR values."""

    policy: PolicyValue
    observed: ValueEstimate
    best_single_option: str
    best_single: PolicyValue
    single_option_dr: dict[str, float]
    dr_gain_vs_observed: ValueEstimate
    dr_gain_vs_best_single: ValueEstimate
    alpha: float
    n_boot: int


def _policy_terms(
    policy_codes: np.ndarray,
    treat_codes: np.ndarray,
    y: np.ndarray,
    propensity: np.ndarray,
    predicted: np.ndarray,
    clip: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row pieces: IPW numerator weights*y, IPW weights, AIPW score."""
    rows = np.arange(y.shape[0])
    match = (policy_codes == treat_codes).astype(np.float64)
    e = np.maximum(propensity[rows, policy_codes], clip)
    w = match / e
    mu = predicted[rows, policy_codes]
    dr = mu + w * (y - mu)
    return w * y, w, dr


def _percentile(values: np.ndarray, alpha: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _estimate(point: float, replicates: np.ndarray, alpha: float) -> ValueEstimate:
    lo, hi = _percentile(replicates, alpha)
    return ValueEstimate(estimate=point, ci_low=lo, ci_high=hi)


def _boot_indices(n: int, n_boot: int, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.integers(0, n, size=n) for _ in range(n_boot)]


def _ratio(num: np.ndarray, den: np.ndarray) -> float:
    d = float(den.sum())
    return float(num.sum()) / d if d > 0 else float("nan")


def _value(
    policy_codes: np.ndarray,
    treat_codes: np.ndarray,
    y: np.ndarray,
    propensity: np.ndarray,
    predicted: np.ndarray,
    clip: float,
    boots: Sequence[np.ndarray],
    alpha: float,
) -> tuple[PolicyValue, np.ndarray]:
    """The policy's value and its DR bootstrap replicates (for paired differences)."""
    wy, w, dr = _policy_terms(policy_codes, treat_codes, y, propensity, predicted, clip)
    ipw_boot = np.array([_ratio(wy[b], w[b]) for b in boots])
    dr_boot = np.array([dr[b].mean() for b in boots])
    ipw = _estimate(_ratio(wy, w), ipw_boot, alpha)
    drv = _estimate(float(dr.mean()), dr_boot, alpha)
    match = float((policy_codes == treat_codes).mean())
    return PolicyValue(ipw=ipw, dr=drv, match_rate=match, n=int(y.shape[0])), dr_boot


def _check_policy_inputs(
    what: str,
    policy: Any,
    treatment: Any,
    y: Any,
    propensity: Any,
    predicted: Any,
    options: Sequence[Hashable],
    n_boot: int,
    alpha: float,
    clip: float,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    v: list[Violation] = []
    opts = list(options)
    if len(opts) < 1 or len(set(map(repr, opts))) != len(opts):
        v.append(Violation("options", "must list at least one option, each once", kind_of(options)))
    yy = _vector(y, "y", None, v)
    n = yy.shape[0] if yy.ndim == 1 else 0
    if n == 0:
        v.append(Violation("y", "must have at least one row", "0 rows"))
    treat = _codes(treatment, opts, "treatment", n, v)
    pol = _codes(policy, opts, "policy", n, v) if policy is not None else None
    e = _matrix(propensity, "propensity", n, len(opts), v)
    mu = _matrix(predicted, "predicted", n, len(opts), v)
    if e.dtype.kind in "biuf" and e.shape == (n, len(opts)) and ((e < 0) | (e > 1)).any():
        v.append(Violation("propensity", "must be probabilities in [0, 1]", "number outside [0, 1]"))
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 0:
        v.append(Violation("n_boot", "must be an integer >= 0", kind_of(n_boot)))
    if not isinstance(alpha, int | float) or not 0.0 < float(alpha) < 1.0:
        v.append(Violation("alpha", "must be a number in (0, 1)", kind_of(alpha)))
    if not isinstance(clip, int | float) or not 0.0 < float(clip) < 1.0:
        v.append(Violation("clip", "must be a number in (0, 1)", kind_of(clip)))
    ValidationError.raise_if_any(what, v)
    return pol, treat, yy.astype(np.float64), e.astype(np.float64), mu.astype(np.float64)


def policy_value(
    policy: Any,
    treatment: Any,
    y: Any,
    propensity: Any,
    predicted: Any,
    options: Sequence[Hashable],
    *,
    n_boot: int = 200,
    alpha: float = 0.05,
    clip: float = 0.01,
    random_state: int = 0,
) -> PolicyValue:
    """Value of a deterministic policy on observational data.

    IPW (self-normalised): ``sum_i w_i y_i / sum_i w_i`` with ``w_i = 1[t_i = pi_i] / e_{pi_i}(x_i)``.
    AIPW (doubly robust): ``mean_i [mu_{pi_i}(x_i) + w_i (y_i - mu_{pi_i}(x_i))]``, consistent if either the
    propensity ``e`` or the outcome model ``mu`` (``predicted``) is right. Propensities are floored at ``clip``.
    Intervals: percentile bootstrap over patients (``n_boot`` resamples, seeded by ``random_state``).
    """
    pol, treat, yy, e, mu = _check_policy_inputs(
        "policy_value", policy, treatment, y, propensity, predicted, options, n_boot, alpha, clip
    )
    assert pol is not None
    boots = _boot_indices(yy.shape[0], n_boot, np.random.default_rng(random_state))
    return _value(pol, treat, yy, e, mu, clip, boots, alpha)[0]


def policy_dr_scores(
    policy: Any,
    treatment: Any,
    y: Any,
    propensity: Any,
    predicted: Any,
    options: Sequence[Hashable],
    *,
    clip: float = 0.01,
) -> np.ndarray:
    """Each patient's AIPW (doubly robust) score under a deterministic policy; their mean is the DR estimate of
    :func:`policy_value`. Scores of two policies on the same patients with the same nuisances (``propensity``,
    ``predicted``) are paired, so their per-patient differences give the noise of the difference."""
    pol, treat, yy, e, mu = _check_policy_inputs(
        "policy_dr_scores", policy, treatment, y, propensity, predicted, options, 0, 0.05, clip
    )
    assert pol is not None
    return _policy_terms(pol, treat, yy, e, mu, clip)[2]


def evaluate_policy(
    policy: Any,
    treatment: Any,
    y: Any,
    propensity: Any,
    predicted: Any,
    options: Sequence[Hashable],
    *,
    n_boot: int = 200,
    alpha: float = 0.05,
    clip: float = 0.01,
    random_state: int = 0,
) -> PolicyEvaluation:
    """The policy's IPW and DR value, the observed treatment's value (mean observed outcome), the best single
    option for everyone (by DR value) and the paired bootstrap DR gains of the policy over both.

    Typical use: ``policy = np.asarray(model.options_)[model.predict_outcomes(X).argmax(axis=1)]`` on a held-out
    split, ``propensity = model.predict_propensity(X)`` and ``predicted = model.predict_outcomes(X)``.
    """
    pol, treat, yy, e, mu = _check_policy_inputs(
        "evaluate_policy", policy, treatment, y, propensity, predicted, options, n_boot, alpha, clip
    )
    assert pol is not None
    n = yy.shape[0]
    boots = _boot_indices(n, n_boot, np.random.default_rng(random_state))
    value, pol_boot = _value(pol, treat, yy, e, mu, clip, boots, alpha)
    obs_boot = np.array([yy[b].mean() for b in boots])
    observed = _estimate(float(yy.mean()), obs_boot, alpha)
    single_dr: dict[str, float] = {}
    best_j, best_val = 0, -np.inf
    for j, opt in enumerate(options):
        _, _, dr = _policy_terms(np.full(n, j), treat, yy, e, mu, clip)
        single_dr[str(opt)] = float(dr.mean())
        if dr.mean() > best_val:
            best_j, best_val = j, float(dr.mean())
    best, best_boot = _value(np.full(n, best_j), treat, yy, e, mu, clip, boots, alpha)
    _, _, dr_pol = _policy_terms(pol, treat, yy, e, mu, clip)
    _, _, dr_best = _policy_terms(np.full(n, best_j), treat, yy, e, mu, clip)

    return PolicyEvaluation(
        policy=value,
        observed=observed,
        best_single_option=str(options[best_j]),
        best_single=best,
        single_option_dr=single_dr,
        dr_gain_vs_observed=_estimate(float(dr_pol.mean() - yy.mean()), pol_boot - obs_boot, alpha),
        dr_gain_vs_best_single=_estimate(float(dr_pol.mean() - dr_best.mean()), pol_boot - best_boot, alpha),
        alpha=float(alpha),
        n_boot=int(n_boot),
    )


# ---------------------------------------------------------------------------------------------- oracle metrics


class OracleMetrics(MetricResult):
    """Against the true expected outcomes (synthetic data only).

    ``regret``: mean over patients of (true outcome of the best option - true outcome of the chosen one);
    ``top1_agreement``: share of patients whose chosen option is the truly best one; ``kendall_tau``: mean
    per-patient Kendall tau-b between predicted and true rankings of the options; ``sqrt_pehe``: per option,
    sqrt(mean((predicted effect - true effect)^2)) of its effect against ``reference``."""

    regret: float
    top1_agreement: float
    kendall_tau: float
    sqrt_pehe: dict[str, float]
    reference: str
    n: int


def kendall_tau_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall tau-b between row i of ``a`` and row i of ``b`` (n, k), vectorised; NaN where a row is constant."""
    k = a.shape[1]
    iu, ju = np.triu_indices(k, 1)
    sa = np.sign(a[:, iu] - a[:, ju])
    sb = np.sign(b[:, iu] - b[:, ju])
    num = (sa * sb).sum(axis=1)
    den = np.sqrt((sa != 0).sum(axis=1) * (sb != 0).sum(axis=1).astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def policy_regret(true_outcomes: Any, policy_codes: Any) -> float:
    """Mean (max_j true[i, j] - true[i, policy_i]) for a policy given as column indices."""
    t = np.asarray(true_outcomes, dtype=np.float64)
    c = np.asarray(policy_codes, dtype=np.int64)
    return float((t.max(axis=1) - t[np.arange(t.shape[0]), c]).mean())


def oracle_metrics(
    true_outcomes: Any,
    predicted: Any,
    options: Sequence[Hashable],
    reference: Hashable,
    policy: Any = None,
) -> OracleMetrics:
    """Compare predicted (n, k) outcomes with the true expected outcomes (n, k). The policy defaults to the
    argmax of ``predicted``; pass ``policy`` (labels) to score another one (e.g. the observed treatment)."""
    v: list[Violation] = []
    t_arr = np.asarray(true_outcomes)
    n = t_arr.shape[0] if t_arr.ndim == 2 else 0
    k = len(options)
    t = _matrix(true_outcomes, "true_outcomes", n, k, v)
    p = _matrix(predicted, "predicted", n, k, v)
    if n == 0:
        v.append(Violation("true_outcomes", "must have at least one row", kind_of(true_outcomes)))
    try:
        ref_ok = reference in list(options)
    except TypeError:
        ref_ok = False
    if not ref_ok:
        v.append(Violation("reference", "must be one of options", kind_of(reference)))
    codes = _codes(policy, options, "policy", n, v) if policy is not None else None
    ValidationError.raise_if_any("oracle_metrics", v)
    t = t.astype(np.float64)
    p = p.astype(np.float64)
    chosen = p.argmax(axis=1) if codes is None else codes
    best = t.argmax(axis=1)
    ref = list(options).index(reference)
    true_eff = t - t[:, [ref]]
    pred_eff = p - p[:, [ref]]
    pehe = {
        str(opt): float(np.sqrt(np.mean((pred_eff[:, j] - true_eff[:, j]) ** 2)))
        for j, opt in enumerate(options)
        if j != ref
    }
    tau = kendall_tau_rows(p, t)
    return OracleMetrics(
        regret=policy_regret(t, chosen),
        top1_agreement=float((chosen == best).mean()),
        kendall_tau=float(np.nanmean(tau)) if np.isfinite(tau).any() else float("nan"),
        sqrt_pehe=pehe,
        reference=str(reference),
        n=n,
    )


class UsableOracleMetrics(MetricResult):
    """Against the true expected outcomes when some options are excluded per row (synthetic data only), over the
    ``n`` rows with at least one usable option; every figure is against the best USABLE option of the row.

    ``regret``: mean (true outcome of the best usable option - true outcome of the chosen one); ``top1_agreement``:
    share of rows whose chosen option is the best usable one. ``best_single_regrets``: for each option j, the
    regret of the fixed order "j first, then the others by their mean true outcome over these rows", each row
    getting the first usable option of that order (j itself where it is usable); ``best_single_option`` is the j
    with the least of them and ``best_single_regret`` that least (a generous baseline: the order is chosen with
    the truth). None and NaN when no row has a usable option."""

    n: int
    regret: float
    top1_agreement: float
    best_single_option: str | None
    best_single_regret: float
    best_single_regrets: dict[str, float]


def first_usable_in_order(usable: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Column index, per row of ``usable`` (n, k), of the first usable option of ``order`` (column indices, most
    preferred first); 0 for a row with none."""
    rank = np.empty(usable.shape[1], dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(usable.shape[1])
    return np.where(usable, rank, usable.shape[1]).argmin(axis=1)


def usable_oracle_metrics(
    true_outcomes: Any, usable: Any, options: Sequence[Hashable], policy: Any
) -> UsableOracleMetrics:
    """Regret and top-1 agreement of ``policy`` (labels, one per row; it should choose usable options) against the
    best usable option of each row, and the best single option under the same exclusions (see
    :class:`UsableOracleMetrics`). ``usable`` (n, k) is True where the option may be given to that row."""
    v: list[Violation] = []
    t_arr = np.asarray(true_outcomes)
    n = t_arr.shape[0] if t_arr.ndim == 2 else 0
    k = len(options)
    t = _matrix(true_outcomes, "true_outcomes", n, k, v)
    if n == 0:
        v.append(Violation("true_outcomes", "must have at least one row", kind_of(true_outcomes)))
    ok = np.asarray(usable)
    if ok.shape != (n, k) or ok.dtype != np.bool_:
        v.append(
            Violation(
                "usable",
                f"must be a boolean array of shape ({n}, {k})",
                f"{ok.dtype} array of shape {ok.shape}",
            )
        )
    codes = _codes(policy, options, "policy", n, v)
    ValidationError.raise_if_any("usable_oracle_metrics", v)
    rows = ok.any(axis=1)
    t, ok, codes = t[rows].astype(np.float64), ok[rows], codes[rows]
    m = t.shape[0]
    if m == 0:
        nan = float("nan")
        return UsableOracleMetrics(
            n=0, regret=nan, top1_agreement=nan, best_single_option=None, best_single_regret=nan,
            best_single_regrets={},
        )  # fmt: skip
    masked = np.where(ok, t, -np.inf)
    best = masked.max(axis=1)
    at = np.arange(m)
    others = np.argsort(-t.mean(axis=0), kind="stable")
    singles = {}
    for j, opt in enumerate(options):
        given = first_usable_in_order(ok, np.concatenate([[j], others[others != j]]))
        singles[str(opt)] = float((best - t[at, given]).mean())
    best_single = min(singles, key=lambda o: singles[o])
    return UsableOracleMetrics(
        n=m,
        regret=float((best - t[at, codes]).mean()),
        top1_agreement=float((codes == masked.argmax(axis=1)).mean()),
        best_single_option=best_single,
        best_single_regret=singles[best_single],
        best_single_regrets=singles,
    )


# ---------------------------------------------------------------------------------------------- subgroups


class GroupMetrics(MetricResult):
    n: int
    auc: float
    ece: float
    mean_predicted: float
    observed_rate: float
    calibration_in_the_large: float  # mean predicted - observed rate


class SubgroupReport(MetricResult):
    """Metrics per group and the largest gaps between groups (max - min over groups with a finite value).
    Groups with fewer than ``min_group_size`` patients are listed but left out of the gaps."""

    groups: dict[str, GroupMetrics]
    auc_gap: float
    ece_gap: float
    calibration_in_the_large_gap: float
    min_group_size: int


def subgroup_metrics(
    y: Any,
    p: Any,
    groups: Any,
    *,
    n_bins: int = 10,
    strategy: BinStrategy = "quantile",
    min_group_size: int = 30,
) -> SubgroupReport:
    """AUC and calibration (ECE, mean predicted vs observed) per group of ``groups`` (one label per row)."""
    yy, pp, _ = _y_p(y, p, "subgroup_metrics")
    v: list[Violation] = []
    g = _vector(groups, "groups", yy.shape[0], v, numeric=False)
    ValidationError.raise_if_any("subgroup_metrics", v)
    keys = np.array([str(x) for x in g], dtype=object)
    out: dict[str, GroupMetrics] = {}
    for key in sorted(set(keys.tolist())):
        rows = keys == key
        yg, pg = yy[rows], pp[rows]
        out[key] = GroupMetrics(
            n=int(rows.sum()),
            auc=roc_auc(yg, pg),
            ece=expected_calibration_error(yg, pg, n_bins=n_bins, strategy=strategy),
            mean_predicted=float(pg.mean()),
            observed_rate=float(yg.mean()),
            calibration_in_the_large=float(pg.mean() - yg.mean()),
        )

    def gap(field: str) -> float:
        vals = [getattr(m, field) for m in out.values() if m.n >= min_group_size]
        vals = [x for x in vals if np.isfinite(x)]
        return float(max(vals) - min(vals)) if len(vals) >= 2 else float("nan")

    return SubgroupReport(
        groups=out,
        auc_gap=gap("auc"),
        ece_gap=gap("ece"),
        calibration_in_the_large_gap=gap("calibration_in_the_large"),
        min_group_size=min_group_size,
    )
