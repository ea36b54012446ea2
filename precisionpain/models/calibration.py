"""Probability calibration of a booster's raw log-odds, fitted on held-out (out-of-fold) predictions.

A :class:`Calibrator` maps a raw margin (log-odds) to a calibrated probability:

- ``none``: the booster's own probability, ``sigmoid(margin)``;
- ``sigmoid`` (Platt scaling): ``sigmoid(slope * margin + intercept)``, fitted by weighted logistic regression on
  the margin with Platt's smoothed targets;
- ``isotonic``: a non-decreasing step-linear map of ``sigmoid(margin)``, kept inside ``[eps, 1 - eps]`` with
  ``eps = 0.5 / (n + 1)`` so that no patient is told a response is certain or impossible.

:func:`fit_calibrator` with ``method="auto"`` picks among the three by cross-validated Brier score on the
held-out predictions (ties go to the simpler map). All maps are monotone non-decreasing in the margin (the
sigmoid slope is constrained to be >= 0), so interval bounds on the margin scale map to interval bounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression

from precisionpain.errors import ModelError
from precisionpain.models.boosting import make_folds

CalibrationKind = Literal["none", "sigmoid", "isotonic"]
CalibrationMethod = Literal["auto", "none", "sigmoid", "isotonic"]
KINDS: tuple[CalibrationKind, ...] = ("none", "sigmoid", "isotonic")


def _frozen(a: np.ndarray) -> np.ndarray:
    out = np.array(a, dtype=np.float64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Calibrator:
    """A fitted margin -> probability map (see the module docstring). Serialises to and from plain JSON."""

    kind: CalibrationKind
    slope: float = 1.0
    intercept: float = 0.0
    x_thresholds: np.ndarray = field(default_factory=lambda: _frozen(np.empty(0)))
    y_thresholds: np.ndarray = field(default_factory=lambda: _frozen(np.empty(0)))

    def apply(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw margins (any shape)."""
        m = np.asarray(margin, dtype=np.float64)
        if self.kind == "sigmoid":
            return np.asarray(expit(self.slope * m + self.intercept))
        p = np.asarray(expit(m))
        if self.kind == "isotonic":
            return np.interp(p, self.x_thresholds, self.y_thresholds)
        return p

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "sigmoid":
            out |= {"slope": self.slope, "intercept": self.intercept}
        elif self.kind == "isotonic":
            out |= {"x_thresholds": self.x_thresholds.tolist(), "y_thresholds": self.y_thresholds.tolist()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        kind = data.get("kind")
        if kind == "none":
            return cls("none")
        if kind == "sigmoid":
            return cls("sigmoid", slope=float(data["slope"]), intercept=float(data["intercept"]))
        if kind == "isotonic":
            x = _frozen(np.asarray(data["x_thresholds"], dtype=np.float64))
            y = _frozen(np.asarray(data["y_thresholds"], dtype=np.float64))
            if x.ndim != 1 or x.shape != y.shape or x.size == 0 or np.any(np.diff(x) < 0):
                raise ModelError("calibrator: isotonic thresholds must be two equal-length increasing lists")
            return cls("isotonic", x_thresholds=x, y_thresholds=y)
        raise ModelError("calibrator: kind must be one of none, sigmoid, isotonic")


def _fit_sigmoid(margin: np.ndarray, y: np.ndarray, weight: np.ndarray) -> Calibrator:
    pos = y > 0.5
    n_pos = float(weight[pos].sum())
    n_neg = float(weight[~pos].sum())
    # Platt (1999): smoothed targets keep the fit finite when the margin separates the classes
    target = np.where(pos, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    scale = float(np.std(margin)) or 1.0
    z = margin / scale

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        s = ab[0] * z + ab[1]
        # log(1 + e^s) - t*s, written stably
        ll = np.logaddexp(0.0, s) - target * s
        r = (expit(s) - target) * weight
        return float((weight * ll).sum()), np.array([(r * z).sum(), r.sum()])

    res = minimize(
        loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B", bounds=[(0.0, None), (None, None)]
    )
    return Calibrator("sigmoid", slope=float(res.x[0]) / scale, intercept=float(res.x[1]))


def _fit_isotonic(margin: np.ndarray, y: np.ndarray, weight: np.ndarray) -> Calibrator:
    p = expit(margin)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    iso.fit(p, y, sample_weight=weight)
    eps = 0.5 / (y.shape[0] + 1.0)
    x = np.asarray(iso.X_thresholds_, dtype=np.float64)
    yt = np.clip(np.asarray(iso.y_thresholds_, dtype=np.float64), eps, 1.0 - eps)
    return Calibrator("isotonic", x_thresholds=_frozen(x), y_thresholds=_frozen(yt))


def _fit_kind(kind: CalibrationKind, margin: np.ndarray, y: np.ndarray, weight: np.ndarray) -> Calibrator:
    if kind == "sigmoid":
        return _fit_sigmoid(margin, y, weight)
    if kind == "isotonic":
        return _fit_isotonic(margin, y, weight)
    return Calibrator("none")


@dataclass(frozen=True)
class CalibrationChoice:
    """The fitted calibrator and, for ``auto``, the cross-validated Brier score of every candidate."""

    calibrator: Calibrator
    cv_brier: Mapping[str, float]


def fit_calibrator(
    margin: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None = None,
    *,
    method: CalibrationMethod = "auto",
    n_folds: int = 5,
    rng: np.random.Generator | None = None,
) -> CalibrationChoice:
    """Fit a calibrator on held-out margins ``margin`` and binary outcomes ``y``.

    ``method="auto"`` scores none/sigmoid/isotonic by ``n_folds``-fold cross-validated weighted Brier score on
    these held-out predictions, keeps the best (a candidate must beat a simpler one by more than 0.1 % to be
    preferred) and refits it on all rows.
    """
    m = np.asarray(margin, dtype=np.float64)
    yy = np.asarray(y, dtype=np.float64)
    w = np.ones_like(m) if weight is None else np.asarray(weight, dtype=np.float64)
    if method != "auto":
        return CalibrationChoice(_fit_kind(method, m, yy, w), {})
    gen = rng if rng is not None else np.random.default_rng(0)
    fold = make_folds(yy.astype(np.int64), n_folds, gen)
    scores: dict[str, float] = {}
    for kind in KINDS:
        total = 0.0
        for k in range(n_folds):
            tr, te = fold != k, fold == k
            if not te.any() or np.unique(yy[tr]).size < 2:
                continue
            p = _fit_kind(kind, m[tr], yy[tr], w[tr]).apply(m[te])
            total += float((w[te] * (p - yy[te]) ** 2).sum())
        scores[kind] = total / float(w.sum())
    best: CalibrationKind = "none"
    for kind in KINDS[1:]:
        if scores[kind] < scores[best] * (1.0 - 1e-3):
            best = kind
    return CalibrationChoice(_fit_kind(best, m, yy, w), scores)
