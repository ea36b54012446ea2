"""Propensity model P(option | X) and overlap diagnostics.

The model is a multinomial logistic regression with an L2 penalty on standardised features; a missing value is
imputed with the column's training median and flagged by a missing-indicator column, so NaN carries information.
It is fitted with L-BFGS in numpy (no pickled scikit-learn object), serialises to plain JSON and predicts with one
matrix product. A linear propensity model is deliberate: it is cheap on 200,000 patients and 17 options, smooth
(it does not overfit to 0/1 propensities the way a deep tree ensemble can), and good enough for what it is used
for here: overlap diagnostics, stabilised inverse-propensity weights and the policy-value estimators.

Overlap is reported per option (propensity quantiles, Kish effective sample size of the inverse-propensity
weights, share of patients for whom the option is nearly never chosen) together with the share of patients
outside overlap, in two senses: at least one option's propensity below an absolute threshold (where weights get
clipped), and at least one option's propensity below a fraction of that option's overall share (the patient is,
say, ten times less likely than average to get it; this scales with the number of options, so it is the one
that raises ``poor_overlap``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from threadpoolctl import threadpool_limits

from precisionpain.base import FrozenModel
from precisionpain.errors import ModelError

QUANTILE_LEVELS: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _frozen(a: Any, dtype: type = np.float64) -> np.ndarray:
    out: np.ndarray = np.array(a, dtype=dtype)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class PropensityModel:
    """Multinomial logistic P(option | X); columns of :meth:`predict` follow the estimator's ``options_``."""

    medians: np.ndarray  # (p,) imputation value per feature
    missing_columns: np.ndarray  # (m,) features that get a missing-indicator column
    means: np.ndarray  # (p + m,) standardisation of the design columns
    scales: np.ndarray  # (p + m,)
    coef: np.ndarray  # (p + m, k)
    intercept: np.ndarray  # (k,)
    shares: np.ndarray  # (k,) weighted share of each option in the training data

    @property
    def n_options(self) -> int:
        return int(self.intercept.shape[0])

    def _design(self, X: np.ndarray) -> np.ndarray:
        Xf = np.asarray(X, dtype=np.float64)
        miss = np.isnan(Xf)
        filled = np.where(miss, self.medians, Xf)
        design = np.concatenate([filled, miss[:, self.missing_columns].astype(np.float64)], axis=1)
        return (design - self.means) / self.scales

    def predict(self, X: np.ndarray) -> np.ndarray:
        """P(option | x) for each row, shape (n, k), rows sum to 1 (not clipped)."""
        logits = self._design(X) @ self.coef + self.intercept
        return np.asarray(softmax(logits, axis=1))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "multinomial_logistic",
            "medians": self.medians.tolist(),
            "missing_columns": self.missing_columns.tolist(),
            "means": self.means.tolist(),
            "scales": self.scales.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "shares": self.shares.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PropensityModel:
        if data.get("kind") != "multinomial_logistic":
            raise ModelError("propensity model: kind must be multinomial_logistic")
        try:
            model = cls(
                medians=_frozen(data["medians"]),
                missing_columns=_frozen(data["missing_columns"], np.int64),
                means=_frozen(data["means"]),
                scales=_frozen(data["scales"]),
                coef=_frozen(data["coef"]),
                intercept=_frozen(data["intercept"]),
                shares=_frozen(data["shares"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"propensity model: malformed ({type(exc).__name__})") from None
        p, q, k = model.medians.shape[0], model.means.shape[0], model.intercept.shape[0]
        if (
            q != p + model.missing_columns.shape[0]
            or model.scales.shape != (q,)
            or model.coef.shape != (q, k)
            or model.shares.shape != (k,)
        ):
            raise ModelError("propensity model: array shapes are inconsistent")
        return model


def fit_propensity(
    X: np.ndarray,
    treatment_codes: np.ndarray,
    n_options: int,
    sample_weight: np.ndarray | None = None,
    *,
    l2: float = 1.0,
    max_iter: int = 300,
    n_jobs: int = 1,
) -> PropensityModel:
    """Fit the multinomial logistic propensity model (penalty ``l2 / 2 * ||coef||^2`` on the summed loss)."""
    Xf = np.asarray(X, dtype=np.float64)
    n, p = Xf.shape
    t = np.asarray(treatment_codes, dtype=np.int64)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w = w * (n / w.sum())
    miss = np.isnan(Xf)
    with np.errstate(all="ignore"):
        counts = (~miss).sum(axis=0)
        medians = np.zeros(p)
        for j in np.flatnonzero(counts):
            medians[j] = float(np.median(Xf[~miss[:, j], j]))
    missing_columns = np.flatnonzero(miss.any(axis=0))
    design = np.concatenate(
        [np.where(miss, medians, Xf), miss[:, missing_columns].astype(np.float64)], axis=1
    )
    means = np.average(design, axis=0, weights=w)
    scales = np.sqrt(np.average((design - means) ** 2, axis=0, weights=w))
    scales[~(scales > 1e-12)] = 1.0
    Z = (design - means) / scales
    q = Z.shape[1]
    Y = np.zeros((n, n_options))
    Y[np.arange(n), t] = 1.0
    shares = np.bincount(t, weights=w, minlength=n_options) / n

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W = theta[: q * n_options].reshape(q, n_options)
        b = theta[q * n_options :]
        logp = log_softmax(Z @ W + b, axis=1)
        loss = -float((w * (logp * Y).sum(axis=1)).sum()) + 0.5 * l2 * float((W * W).sum())
        R = (np.exp(logp) - Y) * w[:, None]
        gW = Z.T @ R + l2 * W
        gb = R.sum(axis=0)
        return loss / n, np.concatenate([gW.ravel(), gb]) / n

    theta0 = np.concatenate([np.zeros(q * n_options), np.log(np.clip(shares, 1e-12, None))])
    with threadpool_limits(limits=n_jobs):
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    coef = res.x[: q * n_options].reshape(q, n_options)
    return PropensityModel(
        medians=_frozen(medians),
        missing_columns=_frozen(missing_columns, np.int64),
        means=_frozen(means),
        scales=_frozen(scales),
        coef=_frozen(coef),
        intercept=_frozen(res.x[q * n_options :]),
        shares=_frozen(shares),
    )


def stabilised_weights(
    propensity: np.ndarray, treatment_codes: np.ndarray, shares: np.ndarray, clip: float
) -> np.ndarray:
    """Stabilised inverse-propensity weights ``share(t_i) / max(e_t_i(x_i), clip)`` for the observed option."""
    e = propensity[np.arange(propensity.shape[0]), treatment_codes]
    return np.asarray(shares[treatment_codes] / np.maximum(e, clip))


class PropensityQuantiles(FrozenModel):
    q01: float
    q05: float
    q25: float
    q50: float
    q75: float
    q95: float
    q99: float


def _quantiles(values: np.ndarray) -> PropensityQuantiles:
    if values.size == 0:
        qs = [float("nan")] * len(QUANTILE_LEVELS)
    else:
        qs = [float(v) for v in np.quantile(values, QUANTILE_LEVELS)]
    return PropensityQuantiles(
        **dict(zip(("q01", "q05", "q25", "q50", "q75", "q95", "q99"), qs, strict=True))
    )


class OptionOverlap(FrozenModel):
    """Overlap of one option. ``effective_sample_size`` is Kish's ESS of the clipped inverse-propensity weights
    among the patients who received the option; ``share_below_threshold`` is the share of ALL patients whose
    propensity for this option is below the threshold (for them the option is almost never chosen)."""

    option: str
    n_treated: int
    share: float
    propensity_all: PropensityQuantiles
    propensity_treated: PropensityQuantiles
    effective_sample_size: float
    ess_fraction: float
    share_below_threshold: float
    share_below_relative: float


class OverlapReport(FrozenModel):
    """Overlap diagnostics for a propensity matrix. ``share_outside_overlap``: share of patients with at least
    one option's propensity below ``threshold``. ``share_outside_relative``: share with at least one option's
    propensity below ``relative_threshold`` x that option's share. ``max_propensity_ratio_q99``: 99th percentile
    over patients of max_j e_j(x) / min_j e_j(x) (floored at ``threshold``). ``poor_overlap`` is set when any
    listed reason holds."""

    n: int
    threshold: float
    relative_threshold: float
    options: tuple[OptionOverlap, ...]
    share_outside_overlap: float
    share_outside_relative: float
    max_propensity_ratio_q99: float
    poor_overlap: bool
    reasons: tuple[str, ...]


def overlap_diagnostics(
    propensity: np.ndarray,
    treatment_codes: np.ndarray,
    options: Sequence[object],
    *,
    threshold: float = 0.01,
    relative_threshold: float = 0.1,
    sample_weight: np.ndarray | None = None,
    max_share_outside: float = 0.05,
    min_ess_fraction: float = 0.1,
) -> OverlapReport:
    """Overlap diagnostics from a propensity matrix (n, k) and the observed option codes (0..k-1).

    ``poor_overlap`` is raised when more than ``max_share_outside`` of patients are outside overlap in the
    relative sense, or when an option's inverse-propensity weights keep less than ``min_ess_fraction`` of its
    patients' information (Kish effective sample size / patients).
    """
    e = np.asarray(propensity, dtype=np.float64)
    t = np.asarray(treatment_codes, dtype=np.int64)
    n, k = e.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    shares = np.bincount(t, weights=w, minlength=k) / w.sum()
    below_relative = e < relative_threshold * shares
    per_option = []
    reasons = []
    for j in range(k):
        treated = t == j
        ipw = w[treated] / np.maximum(e[treated, j], threshold)
        ess = float(ipw.sum() ** 2 / (ipw**2).sum()) if ipw.size else 0.0
        n_j = int(treated.sum())
        frac = ess / n_j if n_j else 0.0
        per_option.append(
            OptionOverlap(
                option=str(options[j]),
                n_treated=n_j,
                share=float(w[treated].sum() / w.sum()),
                propensity_all=_quantiles(e[:, j]),
                propensity_treated=_quantiles(e[treated, j]),
                effective_sample_size=ess,
                ess_fraction=frac,
                share_below_threshold=float(w[e[:, j] < threshold].sum() / w.sum()),
                share_below_relative=float(w[below_relative[:, j]].sum() / w.sum()),
            )
        )
        if frac < min_ess_fraction:
            reasons.append(
                f"option {options[j]!s}: effective sample size is {frac:.1%} of its patients "
                f"(below {min_ess_fraction:.0%})"
            )
    outside = float(w[(e < threshold).any(axis=1)].sum() / w.sum())
    outside_relative = float(w[below_relative.any(axis=1)].sum() / w.sum())
    if outside_relative > max_share_outside:
        reasons.insert(
            0,
            f"{outside_relative:.1%} of patients have an option with propensity below {relative_threshold:g} x "
            f"its share (more than {max_share_outside:.0%})",
        )
    clipped = np.maximum(e, threshold)
    ratio = clipped.max(axis=1) / clipped.min(axis=1)
    return OverlapReport(
        n=n,
        threshold=threshold,
        relative_threshold=relative_threshold,
        options=tuple(per_option),
        share_outside_overlap=outside,
        share_outside_relative=outside_relative,
        max_propensity_ratio_q99=float(np.quantile(ratio, 0.99)),
        poor_overlap=bool(reasons),
        reasons=tuple(reasons),
    )
