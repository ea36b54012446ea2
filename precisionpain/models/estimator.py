"""TreatmentResponseModel: expected outcome under each of several treatment options, from observational data.

The estimator is generic: numeric features X (NaN = missing), any hashable treatment labels (two or more) and a
binary or continuous outcome. It follows the scikit-learn contract (``__init__`` stores parameters only, ``fit``
returns ``self``, learned attributes end in ``_``, ``get_params``/``set_params``/``clone`` work); the only
difference is the signature ``fit(X, treatment, y, sample_weight=None)``.

How it fits (per-option strategies ``t_learner`` and ``ipw_t_learner``; the S-learner does the same once over
all rows with the option as extra one-hot columns):

1. A multinomial logistic propensity model P(option | X) on all rows, for overlap diagnostics (``overlap_``) and,
   for ``ipw_t_learner``, stabilised inverse-propensity weights ``share(t) / max(e_t(x), propensity_clip)``.
2. For each option, ``n_folds`` boosters trained in lockstep on K-1 folds each. Boosting stops when the summed
   held-out loss of the K folds has not improved for ``early_stopping_rounds`` rounds (``xgboost.cv``'s rule,
   steadier on a few hundred rows than a single validation split); the best round count ``n_rounds`` is kept.
3. A final booster per option on all of that option's rows with ``n_rounds`` rounds: ``boosters_[option]``.
4. A calibrator per option fitted on the out-of-fold predictions (each row predicted by the fold booster that did
   not see it): isotonic, Platt or none, chosen by cross-validated Brier score when ``calibration="auto"``.
5. Intervals: ``interval_method="jackknife"`` (default) re-uses the K fold boosters as a grouped (delete-a-fold)
   jackknife: ``se^2 = (K-1)/K * sum_k (m_k - mean m)^2`` on the margin (log-odds) scale, bounds
   ``m_full -/+ t_{K-1, 1-alpha/2} * se`` mapped through the calibrator; it costs no extra training.
   ``"bootstrap"`` trains ``n_bootstrap`` more boosters per option on bootstrap resamples (multinomial row
   counts as weights) and uses ``m_full -/+ z * sd``.
6. All final boosters (and all interval replicates) are merged into one multi-target booster each, so serving
   scores every option of a patient in one XGBoost call. Target j reproduces ``boosters_[option_j]`` bit for bit.

Rare binary outcomes (an adverse event that no patient of an option had): with ``single_class="prior"`` such an
option is fitted with two pseudo-patients added (one of each class, every feature missing, weight 1/2 each, the
Jeffreys prior on a rate), so its model predicts a small rate instead of refusing to fit; ``"error"`` (default)
refuses the option, naming it.

These are intervals for the expected outcome (the response probability), not for one patient's outcome. They
reflect estimation variance only; the bias of shrunken boosted trees is not in them, so their coverage of the
true probability is measured (benchmarks/estimator_bench.py) rather than assumed.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self, cast

import numpy as np
import xgboost as xgb
from scipy import stats
from scipy.special import expit
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

from precisionpain.errors import ConfigError, ModelError, ValidationError, Violation, kind_of
from precisionpain.models import boosting, learners, shrinkage
from precisionpain.models.calibration import CalibrationMethod, Calibrator, fit_calibrator
from precisionpain.models.inputs import check_features, check_outcome, check_sample_weight, check_treatment
from precisionpain.models.propensity import (
    PropensityModel,
    fit_propensity,
    overlap_diagnostics,
    stabilised_weights,
)

Objective = Literal["binary", "regression"]
Strategy = Literal["t_learner", "s_learner", "ipw_t_learner", "x_learner", "dr_learner", "auto"]
IntervalMethod = Literal["jackknife", "bootstrap", "none"]

OBJECTIVES: tuple[str, ...] = ("binary", "regression")
STRATEGIES: tuple[str, ...] = ("t_learner", "s_learner", "ipw_t_learner", "x_learner", "dr_learner", "auto")
#: what ``strategy="auto"`` chooses among, the default first; a name ending in ``SHRUNK_SUFFIX`` is that
#: strategy with ``shrinkage="auto"`` (see :func:`candidate_setting`)
SHRUNK_SUFFIX = "_shrunk"
AUTO_CANDIDATES: tuple[str, ...] = (
    "t_learner",
    "s_learner",
    "ipw_t_learner",
    "x_learner",
    "dr_learner",
    "t_learner" + SHRUNK_SUFFIX,
)
CALIBRATIONS: tuple[str, ...] = ("auto", "isotonic", "sigmoid", "none")
INTERVAL_METHODS: tuple[str, ...] = ("jackknife", "bootstrap", "none")
SINGLE_CLASS: tuple[str, ...] = ("error", "prior")
#: weight of each of the two pseudo-patients ``single_class="prior"`` adds (Jeffreys: half an event, half a non-event)
PRIOR_WEIGHT = 0.5
TREE_METHODS: tuple[str, ...] = ("hist", "approx", "exact")
#: the named ``shrinkage`` settings (a number in [0, 1] is the lambda itself)
SHRINKAGE_SETTINGS: tuple[str, ...] = ("none", "auto")
CALIBRATION_WEIGHTINGS: tuple[str, ...] = ("none", "inverse_propensity")

#: the tuning search (``tuning_trials``): max_depth from these, learning_rate and min_child_weight log-uniform
TUNING_MAX_DEPTH: tuple[int, ...] = (2, 3, 4, 5, 6)
TUNING_LEARNING_RATE: tuple[float, float] = (0.02, 0.2)
TUNING_MIN_CHILD_WEIGHT: tuple[float, float] = (1.0, 50.0)

#: the first stage (``first_stage_features``): boosted with a larger step on its few columns, stopped early
#: after fewer idle rounds; its leaves are shrunk by ``first_stage_lambda`` (see the class doc)
FIRST_STAGE_LEARNING_RATE = 0.3
FIRST_STAGE_MAX_ROUNDS = 200
FIRST_STAGE_PATIENCE = 10
#: the strategies a first stage applies to (one booster per option on its own patients)
FIRST_STAGE_STRATEGIES: tuple[str, ...] = ("t_learner", "ipw_t_learner")
MAX_FIRST_STAGE_FEATURES = 256

_CHUNK_ROWS = 65_536  # rows scored per XGBoost call; bounds memory for the stacked S-learner input
#: up to this many rows, interval replicates are scored by the compiled tree table instead of XGBoost
SMALL_BATCH_ROWS = 16


def fitted_strategy(model: Any) -> str:
    """The strategy a fitted estimator's boosters follow: ``strategy_`` (for ``strategy="auto"``, the one it
    chose), else ``strategy`` (a loaded model: saved as the strategy it was fitted with)."""
    return str(getattr(model, "strategy_", model.strategy))


def candidate_setting(candidate: str) -> tuple[str, str]:
    """The (strategy, shrinkage) of an ``AUTO_CANDIDATES`` name."""
    if candidate.endswith(SHRUNK_SUFFIX):
        return candidate.removesuffix(SHRUNK_SUFFIX), "auto"
    return candidate, "none"


def choose_candidate(values: Mapping[str, np.ndarray], weight: np.ndarray) -> tuple[str, dict[str, float]]:
    """``strategy="auto"``'s choice from each candidate's per-patient doubly robust values (in candidate order,
    the first the reference of the standard errors): the best weighted mean, the first on ties. Returns the
    choice and ``{candidate: score, candidate + "_se": standard error of its paired difference to the first}``."""
    names = list(values)
    base = names[0]
    scores: dict[str, float] = {}
    chosen, best = base, float(np.average(values[base], weights=weight))
    for candidate in names:
        score = float(np.average(values[candidate], weights=weight))
        scores[candidate] = score
        scores[candidate + "_se"] = shrinkage.paired_difference(values[candidate] - values[base], weight)[1]
        if score > best:
            chosen, best = candidate, score
    return chosen, scores


@dataclass(frozen=True)
class _FirstStage:
    """An option's first stage (``first_stage_features``): the rows with only its columns, its parameters and
    round count, each fold booster's margins on every row and the fold boosters, and (once :meth:`refit`) the
    booster on all rows with its margins on them."""

    X: np.ndarray
    params: Mapping[str, Any]
    n_rounds: int
    fold_margins: tuple[np.ndarray, ...]
    folds: tuple[xgb.Booster, ...]
    booster: xgb.Booster | None = None
    margin: np.ndarray | None = None

    def refit(self, y: np.ndarray, w: np.ndarray) -> _FirstStage:
        """The first stage's booster on all rows with weights ``w`` (the fitted round count)."""
        booster = boosting.train(self.X, y, w, self.params, self.n_rounds)
        margin = boosting.predict_margins(booster, self.X)[:, 0]
        return dataclasses.replace(self, booster=booster, margin=margin)

    def then(self, correction: xgb.Booster) -> xgb.Booster:
        """One booster: this stage's trees followed by ``correction``'s (fitted on :attr:`margin`)."""
        assert self.booster is not None, "refit() first"
        return boosting.concat_boosters(self.booster, [correction])


class NotFittedModelError(ModelError, NotFittedError):
    """A TreatmentResponseModel method that needs a fitted model was called before ``fit``."""


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Explanation:
    """Exact TreeSHAP contributions per option (XGBoost ``pred_contribs``) on the raw margin scale.

    - ``contributions``: (n, k, n_features); ``base_values``: (n, k); ``margins``: (n, k); for every row i and
      option j, ``base_values[i, j] + contributions[i, j].sum() == margins[i, j]`` (float32 rounding only).
    - The margin is the raw booster's output before calibration: log-odds for ``objective="binary"``, the
      predicted value for ``"regression"``.
    - Per-option strategies: ``base_values`` is the same for every row (the booster's bias term). S-learner:
      the one-hot option columns' contributions are folded into ``base_values``, which therefore varies by row.
    """

    contributions: np.ndarray
    base_values: np.ndarray
    margins: np.ndarray
    options: tuple[Hashable, ...]
    feature_names: tuple[str, ...]


@dataclass(frozen=True)
class OutcomeInterval:
    """Point estimate and (1 - alpha) interval of the expected outcome per option; arrays (n, k) in
    ``options`` order (probabilities for ``objective="binary"``)."""

    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    alpha: float
    options: tuple[Hashable, ...]


@dataclass(frozen=True)
class OptionFit:
    """What fitting learned for one option."""

    option: Hashable
    n_patients: int
    n_rounds: int
    calibration: str
    calibration_cv_brier: Mapping[str, float]
    #: the tree parameters the tuning search chose (empty without tuning)
    tuned: Mapping[str, float] = dataclasses.field(default_factory=dict)
    #: the shrinkage lambda applied (None without shrinkage; see :mod:`precisionpain.models.shrinkage`)
    shrinkage: float | None = None
    #: with ``calibration_weighting``: how many equally weighted patients the calibrator's weights are worth,
    #: (sum w)^2 / sum w^2 (None without weighting)
    calibration_effective_n: float | None = None
    #: with ``first_stage_features``: the first stage's boosting rounds (in ``n_rounds``; 0 when the first stage
    #: did not beat the option's mean on the held-out folds and was left out)
    first_stage_rounds: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "n_patients": self.n_patients,
            "n_rounds": self.n_rounds,
            "calibration": self.calibration,
            "calibration_cv_brier": dict(self.calibration_cv_brier),
        }
        if self.tuned:
            out["tuned"] = dict(self.tuned)
        if self.shrinkage is not None:
            out["shrinkage"] = self.shrinkage
        if self.calibration_effective_n is not None:
            out["calibration_effective_n"] = self.calibration_effective_n
        if self.first_stage_rounds is not None:
            out["first_stage_rounds"] = self.first_stage_rounds
        return out


@dataclass(frozen=True)
class _Fitted:
    booster: xgb.Booster
    replicates: tuple[xgb.Booster, ...]
    oof_margin: np.ndarray
    n_rounds: int
    tuned: Mapping[str, float] = dataclasses.field(default_factory=dict)
    first_stage_rounds: int | None = None  # see OptionFit


def sorted_options(labels: Sequence[Hashable]) -> tuple[Hashable, ...]:
    """Distinct labels in sorted order (by type name, then value, when the labels are of mixed types)."""
    unique = list(dict.fromkeys(labels))
    try:
        return tuple(sorted(unique))  # type: ignore[type-var]
    except TypeError:
        return tuple(sorted(unique, key=lambda v: (type(v).__name__, repr(v))))


def _number(
    violations: list[Violation],
    name: str,
    value: object,
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    ok_type = isinstance(value, int | np.integer) if integer else isinstance(value, int | float | np.number)
    if isinstance(value, bool) or not ok_type:
        violations.append(
            Violation(name, f"must be {'an integer' if integer else 'a number'}", kind_of(value))
        )
        return
    v = float(value)  # type: ignore[arg-type]
    bad = v != v
    if low is not None:
        bad = bad or (v <= low if low_open else v < low)
    if high is not None:
        bad = bad or (v >= high if high_open else v > high)
    if bad:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        violations.append(
            Violation(name, f"must be {' and '.join(x for x in (lo, hi) if x)}", kind_of(value))
        )


def _choice(violations: list[Violation], name: str, value: object, allowed: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in allowed:
        violations.append(
            Violation(name, f"must be one of {', '.join(repr(a) for a in allowed)}", kind_of(value))
        )


def _n_rows(X: Any) -> int | None:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        return None


class TreatmentResponseModel(BaseEstimator):
    """Expected outcome under each treatment option, one gradient-boosted model per option by default.

    Parameters
    ----------
    objective: ``"binary"`` (y is 0/1; outcomes are probabilities) or ``"regression"`` (continuous y).
    strategy: ``"t_learner"`` (one booster per option on its own patients), ``"ipw_t_learner"`` (the same with
        stabilised, clipped inverse-propensity weights, so each option's booster fits the whole population's
        covariate mix), ``"s_learner"`` (one booster on all rows with the option as one-hot columns), or the
        meta-learners ``"x_learner"`` and ``"dr_learner"`` (the T-learner followed by correction trees fitted to
        imputed effects or doubly robust pseudo-outcomes, see :mod:`precisionpain.models.learners`; jackknife or
        no intervals), or ``"auto"``: one of ``AUTO_CANDIDATES`` chosen by a cross-fitted doubly robust policy
        value (see ``_choose_strategy``; ``strategy_`` is the chosen strategy, ``shrinkage_`` its lambda when
        the choice was a shrunk one, ``strategy_scores_`` every candidate's score; about twice the candidates'
        fits together, plus the chosen one's).
    n_estimators: upper bound on boosting rounds; the actual count comes from cross-validated early stopping.
    learning_rate, max_depth, min_child_weight, subsample, colsample_bytree, reg_lambda, tree_method, max_bin:
        XGBoost tree parameters (``reg_lambda`` is XGBoost's ``lambda``).
    early_stopping_rounds: stop when the summed held-out loss of the folds has not improved for this many rounds.
    n_folds: cross-fitting folds (out-of-fold predictions for calibration, early stopping, jackknife intervals).
    calibration: ``"auto"`` (isotonic, Platt or none, chosen by cross-validated Brier score on the out-of-fold
        predictions), ``"isotonic"``, ``"sigmoid"`` or ``"none"``; binary objective only (regression: ``"auto"``
        and ``"none"`` both mean none).
    interval_method: ``"jackknife"`` (from the fold boosters, free), ``"bootstrap"`` (``n_bootstrap`` extra
        boosters per option) or ``"none"``.
    propensity_clip: lower clip of propensities for weights and the overlap threshold.
    propensity_l2: L2 penalty of the multinomial logistic propensity model (standardised features).
    min_samples_per_option: fewer patients than this on an option is an error naming the option.
    single_class: binary objective, an option whose patients all had the same outcome: ``"error"`` (default)
        refuses it; ``"prior"`` fits it with two pseudo-patients of weight 1/2 (see the module doc).
    random_state: seed (``None`` draws one; the seed used is kept in ``seed_``).
    n_jobs: threads, passed explicitly to XGBoost; several options are fitted in parallel, one thread each.
    tuning_trials: 0 (default) uses the tree parameters as given; N > 0 also tries N seeded random settings of
        max_depth, learning_rate and min_child_weight (``TUNING_*``) per booster, each cross-fitted with early
        stopping on the same folds. The final booster and its interval replicates use the setting with the least
        summed held-out loss; each fold's out-of-fold margins (for calibration) come from the setting with the
        least loss on the OTHER folds (:func:`boosting.leave_fold_out_choice`), so no patient's out-of-fold margin
        comes from a choice that scored that patient. Costs about N + 1 times the fit; meta-learners' second
        stage uses the given parameters.
    xgb_params: extra XGBoost parameters merged last (not the keys in ``boosting.RESERVED_XGB_KEYS``).
    shrinkage: ``"none"`` (default); ``"auto"`` shrinks the differences between options towards their population
        means (each option's margin towards a prognosis booster fitted on all patients plus the option's mean
        difference to it) by a lambda in [0, 1] chosen by the R-loss on the training patients (0: everyone gets
        the best single option; 1: the base strategy); a number in [0, 1] uses that lambda. Per-option
        strategies only (not ``s_learner``; with ``strategy="auto"`` only ``"none"``, the candidates say their
        own). See :mod:`precisionpain.models.shrinkage`; ``shrinkage_`` is the lambda applied (None without),
        ``shrinkage_scores_`` the criterion (a loss) of each lambda tried. The calibrators are fitted on the
        shrunk out-of-fold margins. Costs the prognosis booster (one more fit on all patients), the cross-fitted
        propensity (k-class logistic fits, one per fold), the cross-fitted calibration of every lambda tried
        and, when served, the prognosis' trees once more per option.
    calibration_weighting: ``"none"`` (default): each option's calibrator is fitted on its own patients'
        out-of-fold margins, so its probabilities are calibrated for patients like those who received it;
        ``"inverse_propensity"``: the same patients weighted by stabilised, clipped inverse propensities
        (``propensity_clip``), so the calibration targets the whole population's covariate mix, which is who
        the estimates are shown for (every option, every patient). Binary objective with a calibrator only; not
        with shrinkage or ``"auto"`` (their choices calibrate with the plain weights).
    first_stage_features: ``()`` (default) or the columns (positions, or names when X is a DataFrame) each
        option's booster starts from. A first booster is fitted on those columns alone (the others missing),
        cross-fitted and early-stopped on the same folds, with step ``FIRST_STAGE_LEARNING_RATE`` and leaves
        shrunk by ``first_stage_lambda``; the usual booster is then fitted as a correction to its margins (fold
        k's correction starts from fold k's first-stage booster, so every out-of-fold margin is free of its own
        fold's outcomes and jackknife replicate k is fold k's two boosters), and the option's booster is the first
        one's trees followed by the correction's
        (:func:`boosting.concat_boosters`: calibration, intervals, serving and exact TreeSHAP work unchanged;
        the first stage's share of every explanation goes to its columns). Meant for a few strong effect
        modifiers that few patients share, such as the pain condition: an early-stopped booster on every feature
        spends its few rounds on what most patients share and leaves a small condition where an option does not
        work (NSAIDs in fibromyalgia) at the option's average. An option whose first stage does not predict its
        held-out folds better than the boosters' own start (``base_score`` when set, else the training folds'
        mean outcome) is fitted without it
        (``OptionFit.first_stage_rounds`` 0). Per-option strategies (``FIRST_STAGE_STRATEGIES``) without
        shrinkage only.
    first_stage_lambda: L2 penalty of the first stage's leaves (XGBoost's ``lambda``), in hessian units: each
        round moves a condition's margin by at most its patients' hessian over that plus ``first_stage_lambda``
        of the way (about ``first_stage_lambda / (p (1 - p))`` patients of prior weight), so a condition with few
        patients moves slowly; over many rounds it can still get most of the way, and early stopping on the
        held-out folds' loss is what ends it.

    Attributes (after fit)
    ----------------------
    options_: tuple of option labels, sorted; every (n, k) output follows this order.
    n_features_in_, feature_names_in_ (only when X was a DataFrame with string column names).
    boosters_: dict option -> ``xgboost.Booster``; its input is ``booster_input(X, option)``. Per-option
        strategies: the option's own booster on the raw features. S-learner: every option maps to the one shared
        booster, whose input is X followed by one-hot option columns (in ``options_`` order).
    interval_boosters_: dict option -> tuple of boosters (fold or bootstrap replicates; empty for ``"none"``).
    calibrators_: dict option -> Calibrator (binary only; empty dict for regression).
    propensity_model_: PropensityModel; overlap_: OverlapReport on the training data.
    option_fits_: dict option -> OptionFit (patients, boosting rounds, calibration chosen); seed_: int.
    first_stage_columns_: the positions of ``first_stage_features`` in X (empty without a first stage).
    """

    def __init__(
        self,
        *,
        objective: Objective = "binary",
        strategy: Strategy = "t_learner",
        n_estimators: int = 2000,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        tree_method: str = "hist",
        max_bin: int = 256,
        early_stopping_rounds: int = 50,
        n_folds: int = 5,
        calibration: str = "auto",
        interval_method: IntervalMethod = "jackknife",
        n_bootstrap: int = 10,
        propensity_clip: float = 0.01,
        propensity_l2: float = 1.0,
        min_samples_per_option: int = 20,
        single_class: str = "error",
        random_state: int | None = 0,
        n_jobs: int = 1,
        xgb_params: Mapping[str, Any] | None = None,
        tuning_trials: int = 0,
        shrinkage: str | float = "none",
        calibration_weighting: str = "none",
        first_stage_features: Sequence[int | str] = (),
        first_stage_lambda: float = 20.0,
    ) -> None:
        self.objective = objective
        self.strategy = strategy
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.tree_method = tree_method
        self.max_bin = max_bin
        self.early_stopping_rounds = early_stopping_rounds
        self.n_folds = n_folds
        self.calibration = calibration
        self.interval_method = interval_method
        self.n_bootstrap = n_bootstrap
        self.propensity_clip = propensity_clip
        self.propensity_l2 = propensity_l2
        self.min_samples_per_option = min_samples_per_option
        self.single_class = single_class
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.xgb_params = xgb_params
        self.tuning_trials = tuning_trials
        self.shrinkage = shrinkage
        self.calibration_weighting = calibration_weighting
        self.first_stage_features = first_stage_features
        self.first_stage_lambda = first_stage_lambda

    # ------------------------------------------------------------------ parameters

    def _check_params(self) -> None:
        v: list[Violation] = []
        _choice(v, "objective", self.objective, OBJECTIVES)
        _choice(v, "strategy", self.strategy, STRATEGIES)
        _number(v, "n_estimators", self.n_estimators, integer=True, low=1)
        _number(v, "learning_rate", self.learning_rate, low=0.0, high=1.0, low_open=True)
        _number(v, "max_depth", self.max_depth, integer=True, low=1, high=20)
        _number(v, "min_child_weight", self.min_child_weight, low=0.0)
        _number(v, "subsample", self.subsample, low=0.0, high=1.0, low_open=True)
        _number(v, "colsample_bytree", self.colsample_bytree, low=0.0, high=1.0, low_open=True)
        _number(v, "reg_lambda", self.reg_lambda, low=0.0)
        _choice(v, "tree_method", self.tree_method, TREE_METHODS)
        _number(v, "max_bin", self.max_bin, integer=True, low=2)
        _number(v, "early_stopping_rounds", self.early_stopping_rounds, integer=True, low=1)
        _number(v, "n_folds", self.n_folds, integer=True, low=2, high=20)
        _choice(v, "calibration", self.calibration, CALIBRATIONS)
        if self.objective == "regression" and self.calibration in ("isotonic", "sigmoid"):
            v.append(
                Violation("calibration", "must be 'auto' or 'none' for objective='regression'", "string")
            )
        _choice(v, "interval_method", self.interval_method, INTERVAL_METHODS)
        if self.strategy in (*learners.META_STRATEGIES, "auto") and self.interval_method == "bootstrap":
            v.append(
                Violation(
                    "interval_method",
                    f"must be 'jackknife' or 'none' for strategy={self.strategy!r}",
                    "string",
                )
            )
        _number(v, "n_bootstrap", self.n_bootstrap, integer=True, low=2, high=1000)
        _number(v, "propensity_clip", self.propensity_clip, low=0.0, high=0.5, low_open=True, high_open=True)
        _number(v, "propensity_l2", self.propensity_l2, low=0.0)
        _number(v, "min_samples_per_option", self.min_samples_per_option, integer=True, low=2)
        if (
            isinstance(self.min_samples_per_option, int)
            and isinstance(self.n_folds, int)
            and self.min_samples_per_option < self.n_folds
        ):
            v.append(Violation("min_samples_per_option", "must be >= n_folds", "integer"))
        _choice(v, "single_class", self.single_class, SINGLE_CLASS)
        if self.random_state is not None:
            _number(v, "random_state", self.random_state, integer=True, low=0, high=2**32 - 1)
        _number(v, "n_jobs", self.n_jobs, integer=True, low=1, high=256)
        _number(v, "tuning_trials", self.tuning_trials, integer=True, low=0, high=100)
        if isinstance(self.shrinkage, str):
            _choice(v, "shrinkage", self.shrinkage, SHRINKAGE_SETTINGS)
        else:
            _number(v, "shrinkage", self.shrinkage, low=0.0, high=1.0)
        if self.shrinkage != "none" and self.strategy in ("s_learner", "auto"):
            v.append(
                Violation(
                    "shrinkage",
                    f"must be 'none' for strategy={self.strategy!r}"
                    + (
                        " (one booster is shared by every option)"
                        if self.strategy == "s_learner"
                        else " (each candidate says its own)"
                    ),
                    kind_of(self.shrinkage),
                )
            )
        _choice(v, "calibration_weighting", self.calibration_weighting, CALIBRATION_WEIGHTINGS)
        if self.calibration_weighting != "none":
            if self.objective != "binary":
                v.append(
                    Violation(
                        "calibration_weighting",
                        "must be 'none' for objective='regression' (nothing is calibrated)",
                        "string",
                    )
                )
            elif self.calibration == "none":
                v.append(
                    Violation(
                        "calibration_weighting",
                        "must be 'none' with calibration='none' (no calibrator)",
                        "string",
                    )
                )
            if self.shrinkage != "none" or self.strategy == "auto":
                v.append(
                    Violation(
                        "calibration_weighting",
                        "must be 'none' with shrinkage or strategy='auto' (their choices calibrate with the plain "
                        "weights)",
                        "string",
                    )
                )
        self._check_first_stage(v)
        if self.xgb_params is not None:
            if not isinstance(self.xgb_params, Mapping) or not all(
                isinstance(k, str) for k in self.xgb_params
            ):
                v.append(
                    Violation(
                        "xgb_params",
                        "must be a mapping of XGBoost parameter names to values",
                        kind_of(self.xgb_params),
                    )
                )
            else:
                for key in sorted(set(self.xgb_params) & boosting.RESERVED_XGB_KEYS):
                    v.append(
                        Violation(
                            f"xgb_params[{key}]",
                            "is set by the estimator (use objective, n_jobs or random_state)",
                            kind_of(self.xgb_params[key]),
                        )
                    )
        if v:
            raise ConfigError("TreatmentResponseModel parameters", v)

    def _check_first_stage(self, v: list[Violation]) -> None:
        _number(v, "first_stage_lambda", self.first_stage_lambda, low=0.0, high=1e6)
        columns = self.first_stage_features
        if isinstance(columns, str | bytes) or not isinstance(columns, Sequence):
            v.append(
                Violation("first_stage_features", "must be a list of column positions or names", kind_of(columns))
            )
            return
        if len(columns) > MAX_FIRST_STAGE_FEATURES:
            v.append(
                Violation(
                    "first_stage_features",
                    f"must list at most {MAX_FIRST_STAGE_FEATURES} columns",
                    f"{len(columns)} columns",
                )
            )
            return
        before = len(v)
        for i, c in enumerate(columns):
            if isinstance(c, bool) or not isinstance(c, int | np.integer | str) or (
                not isinstance(c, str) and c < 0
            ):
                v.append(
                    Violation(
                        f"first_stage_features[{i}]", "must be a column position (>= 0) or name", kind_of(c)
                    )
                )
        if len(v) == before and len(set(columns)) != len(columns):  # every element valid (hashable) by now
            v.append(Violation("first_stage_features", "must not list a column twice", "a repeated column"))
        if columns and (self.strategy not in FIRST_STAGE_STRATEGIES or self.shrinkage != "none"):
            v.append(
                Violation(
                    "first_stage_features",
                    f"must be empty unless strategy is one of {', '.join(FIRST_STAGE_STRATEGIES)} without "
                    "shrinkage (a first stage is fitted per option)",
                    "another strategy" if self.strategy not in FIRST_STAGE_STRATEGIES else "shrinkage set",
                )
            )

    def _first_stage_columns(self, names: tuple[str, ...] | None, p: int) -> tuple[tuple[int, ...], list[Violation]]:
        """The positions of ``first_stage_features`` in X (names need a DataFrame's column names)."""
        out: list[int] = []
        v: list[Violation] = []
        for i, c in enumerate(self.first_stage_features):
            if isinstance(c, str):
                if names is None or c not in names:
                    v.append(
                        Violation(
                            f"first_stage_features[{i}]",
                            "must name a column of X" if names is not None else "a name needs X as a DataFrame",
                            "an unknown column name" if names is not None else "a column name",
                        )
                    )
                else:
                    out.append(names.index(c))
            elif int(c) >= p:
                v.append(
                    Violation(f"first_stage_features[{i}]", f"must be a column position below {p}", "integer")
                )
            else:
                out.append(int(c))
        return tuple(out), v

    def _params(self, *, nthread: int, seed: int) -> dict[str, Any]:
        return boosting.booster_params(
            objective=self.objective,
            learning_rate=float(self.learning_rate),
            max_depth=int(self.max_depth),
            min_child_weight=float(self.min_child_weight),
            subsample=float(self.subsample),
            colsample_bytree=float(self.colsample_bytree),
            reg_lambda=float(self.reg_lambda),
            tree_method=self.tree_method,
            max_bin=int(self.max_bin),
            nthread=nthread,
            seed=seed,
            extra=self.xgb_params,
        )

    # ------------------------------------------------------------------ fit

    def fit(
        self,
        X: Any,
        treatment: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        propensity_model: PropensityModel | None = None,
    ) -> Self:
        """Fit the propensity model, the per-option boosters, the calibrators and the interval replicates.

        X: numeric (n, p) array or DataFrame, NaN = missing. treatment: n hashable labels (two or more distinct).
        y: n outcomes (0/1 for binary). sample_weight: n non-negative weights (optional). ``propensity_model``:
        the fitted propensity model of another outcome model of the same X, treatment and weights (the propensity
        does not depend on y), reused instead of fitted again. Returns ``self``.
        """
        self._check_params()
        n = _n_rows(X)
        Xv, names, violations = check_features(X)
        first_stage: tuple[int, ...] = ()
        if Xv is not None:
            n = Xv.shape[0]
            first_stage, v = self._first_stage_columns(names, Xv.shape[1])
            violations += v
        labels, v = check_treatment(treatment, n)
        violations += v
        yv, v = check_outcome(y, n, self.objective)
        violations += v
        wv, v = check_sample_weight(sample_weight, n)
        violations += v
        options: tuple[Hashable, ...] = ()
        codes = np.empty(0, dtype=np.int64)
        if labels is not None:
            options = sorted_options(labels)
            if len(options) < 2:
                violations.append(
                    Violation(
                        "treatment",
                        "must contain at least two distinct options",
                        f"{len(options)} distinct option",
                    )
                )
            index = {o: i for i, o in enumerate(options)}
            codes = np.fromiter((index[lab] for lab in labels), dtype=np.int64, count=len(labels))
            counts = np.bincount(codes, minlength=len(options))
            for opt, count in zip(options, counts, strict=True):
                if count < self.min_samples_per_option:
                    violations.append(
                        Violation(
                            "treatment",
                            f"option {opt!r} has {count} patients; every option needs at least "
                            f"min_samples_per_option={self.min_samples_per_option}",
                            "too few rows",
                        )
                    )
            if wv is not None:
                for j, opt in enumerate(options):
                    if counts[j] and not wv[codes == j].sum() > 0:
                        violations.append(
                            Violation(
                                "sample_weight",
                                f"must have a positive sum over the patients of option {opt!r}",
                                "all zeros",
                            )
                        )
            if (
                yv is not None
                and self.objective == "binary"
                and len(options) >= 2
                and self.single_class == "error"
            ):
                for j, opt in enumerate(options):
                    yj = yv[codes == j]
                    if yj.size and (yj.min() == yj.max()):
                        violations.append(
                            Violation(
                                "y",
                                f"must contain both outcomes (0 and 1) among the patients of option {opt!r}",
                                "a single outcome class",
                            )
                        )
        if propensity_model is not None and (
            not isinstance(propensity_model, PropensityModel)
            or propensity_model.n_options != len(options)
            or (Xv is not None and propensity_model.medians.shape[0] != Xv.shape[1])
        ):
            violations.append(
                Violation(
                    "propensity_model",
                    "must be a fitted PropensityModel of the same features and options",
                    kind_of(propensity_model),
                )
            )
        ValidationError.raise_if_any("TreatmentResponseModel.fit", violations)
        self.first_stage_columns_ = first_stage
        assert Xv is not None and yv is not None and labels is not None  # narrowed by the checks above
        scores: dict[str, float] = {}
        chosen, shrink = str(self.strategy), self.shrinkage
        if chosen == "auto":
            candidate, scores = self._choose_strategy(Xv, names, options, codes, yv, wv)
            chosen, shrink = candidate_setting(candidate)
        self.strategy_ = chosen  # before the fit: the serving boosters are laid out for it
        self.strategy_scores_ = scores
        self._fit_checked(Xv, names, options, codes, yv, wv, propensity_model, strategy=chosen, shrink=shrink)
        return self

    @property
    def shrinkage_setting_(self) -> str | float:
        """The ``shrinkage`` setting the fitted boosters follow (for ``strategy="auto"``, its candidate's)."""
        self._check_fitted()
        if self.strategy == "auto":
            return "none" if getattr(self, "shrinkage_", None) is None else "auto"
        return self.shrinkage

    @property
    def _layout(self) -> str:
        """The strategy the fitted boosters follow: ``strategy``, or for ``"auto"`` the one it chose."""
        if self.strategy == "auto":
            return str(getattr(self, "strategy_", "t_learner"))
        return str(self.strategy)

    def _choose_strategy(
        self,
        Xv: np.ndarray,
        names: tuple[str, ...] | None,
        options: tuple[Hashable, ...],
        codes: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
    ) -> tuple[str, dict[str, float]]:
        """``strategy="auto"``: every candidate in ``AUTO_CANDIDATES`` is fitted on one half of the patients and
        scored on the other (and the other way round) by the doubly robust value of its top-1 rule, with the
        outcome and propensity models of that half's T-learner as nuisances (:func:`learners.dr_policy_values`).
        The candidate of the best score is chosen, the first in ``AUTO_CANDIDATES`` on ties. (An earlier rule
        kept the T-learner unless a gain exceeded one standard error of the paired difference: with 28 and with 4
        options it kept the T-learner although the S-learner had scored best and was better against the truth
        both times; since ``t_learner_shrunk`` spans the T-learner (lambda 1) and the best single option (0),
        no candidate has a claim to be privileged. Picking among candidates within the noise costs at most
        their true difference.) Returns the choice and ``{candidate: score, candidate + "_se": standard error of
        its paired difference to the T-learner}``."""
        seed = 0 if self.random_state is None else int(self.random_state)
        binary = self.objective == "binary"
        strata = codes * 2 + (y > 0.5) if binary else codes
        half = boosting.make_folds(strata, 2, np.random.default_rng([seed, 31]))
        values = {c: np.empty(codes.shape[0]) for c in AUTO_CANDIDATES}
        for h in (0, 1):
            tr, te = half != h, half == h
            X_te = np.ascontiguousarray(Xv[te], dtype=np.float32)
            w_tr = None if sample_weight is None else sample_weight[tr]
            nuisance: TreatmentResponseModel | None = None
            for candidate in AUTO_CANDIDATES:
                strategy, shrink = candidate_setting(candidate)
                model = cast(
                    TreatmentResponseModel,
                    clone(self).set_params(strategy=strategy, interval_method="none"),
                )
                model._fit_checked(
                    Xv[tr],
                    names,
                    options,
                    codes[tr],
                    y[tr],
                    w_tr,
                    None if nuisance is None else nuisance.propensity_model_,
                    strategy=strategy,
                    shrink=shrink,
                )
                if nuisance is None:
                    nuisance = model
                    mu = model._to_outcome(model._margins(model._point_booster_, X_te)[:, :, 0])
                    e = model.propensity_model_.predict(X_te.astype(np.float64))
                pick = model._to_outcome(model._margins(model._point_booster_, X_te)[:, :, 0]).argmax(axis=1)
                values[candidate][te] = learners.dr_policy_values(
                    mu, e, codes[te], y[te], pick, float(self.propensity_clip)
                )
        w = np.ones(codes.shape[0]) if sample_weight is None else sample_weight
        return choose_candidate(values, w)

    def _fit_checked(
        self,
        Xv: np.ndarray,
        names: tuple[str, ...] | None,
        options: tuple[Hashable, ...],
        codes: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        propensity_model: PropensityModel | None = None,
        strategy: str | None = None,
        shrink: str | float | None = None,
    ) -> None:
        strategy = strategy or self.strategy
        shrink = self.shrinkage if shrink is None else shrink
        n, p = Xv.shape
        k = len(options)
        seed = (
            int(self.random_state)
            if self.random_state is not None
            else int(np.random.SeedSequence().generate_state(1)[0])
        )
        base_w = np.ones(n) if sample_weight is None else sample_weight * (n / sample_weight.sum())

        propensity = propensity_model or fit_propensity(
            Xv, codes, k, base_w, l2=float(self.propensity_l2), n_jobs=int(self.n_jobs)
        )
        e = propensity.predict(Xv)
        overlap = overlap_diagnostics(
            e, codes, options, threshold=float(self.propensity_clip), sample_weight=base_w
        )
        train_w = base_w.copy()
        if strategy == "ipw_t_learner":
            train_w *= stabilised_weights(e, codes, propensity.shares, float(self.propensity_clip))
        calibration_w = base_w
        if self.calibration_weighting == "inverse_propensity":
            calibration_w = base_w * stabilised_weights(
                e, codes, propensity.shares, float(self.propensity_clip)
            )

        X32 = np.ascontiguousarray(Xv, dtype=np.float32)
        if strategy == "s_learner":
            design = np.concatenate([X32, np.eye(k, dtype=np.float32)[codes]], axis=1)
            w = train_w / train_w.mean()
            strata = codes * 2 + (y > 0.5) if self.objective == "binary" else codes
            tasks: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = [
                (0, design, y, w, strata)
            ]
        else:
            tasks = []
            for j in range(k):
                rows = codes == j
                wj = train_w[rows] / train_w[rows].mean()
                Xj, yj = X32[rows], y[rows]
                # single_class="prior" (checked in fit): two pseudo-patients, one of each class
                if self.objective == "binary" and yj.min() == yj.max():
                    Xj = np.concatenate([Xj, np.full((2, p), np.nan, dtype=np.float32)])
                    yj = np.concatenate([yj, [0.0, 1.0]])
                    wj = np.concatenate([wj, [PRIOR_WEIGHT, PRIOR_WEIGHT]])
                tasks.append((j, Xj, yj, wj, self._strata(yj)))
        tasks.sort(key=lambda t: -t[1].shape[0])  # largest first balances the thread pool
        n_jobs = int(self.n_jobs)
        nthread = max(1, n_jobs // len(tasks))
        workers = max(1, min(n_jobs, len(tasks)))
        fitted: dict[int, _Fitted] = {}
        # On an error or an interruption (Ctrl-C) queued fits are cancelled and running ones stop at their next
        # boosting round, so fit() returns promptly instead of finishing every option first.
        stop = threading.Event()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
        try:
            futures = {
                pool.submit(self._fit_one, Xt, yt, wt, st, seed, key, nthread, stop): key
                for key, Xt, yt, wt, st in tasks
            }
            for fut in concurrent.futures.as_completed(futures):
                fitted[futures[fut]] = fut.result()
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        if strategy in learners.META_STRATEGIES:
            fitted = self._fit_second_stage(strategy, X32, codes, y, base_w, e, fitted, seed, stop)
        del e
        shrunk: shrinkage.ShrinkageChoice | None = None
        if shrink != "none" and strategy != "s_learner":
            fitted, shrunk = self._shrink(shrink, X32, codes, y, base_w, fitted, seed, stop)

        calibrators: dict[Hashable, Calibrator] = {}
        fits: dict[Hashable, OptionFit] = {}
        for j, opt in enumerate(options):
            rows = codes == j
            if strategy == "s_learner":
                oof, n_rounds = fitted[0].oof_margin[rows], fitted[0].n_rounds
            else:  # the real patients' rows come first (pseudo-patients of a single-class option follow)
                oof, n_rounds = fitted[j].oof_margin[: int(rows.sum())], fitted[j].n_rounds
            kind, scores = "none", {}
            if self.objective == "binary":
                method = cast(CalibrationMethod, self.calibration)
                choice = fit_calibrator(
                    oof,
                    y[rows],
                    calibration_w[rows],
                    method=method,
                    rng=np.random.default_rng([seed, j, 7]),
                )
                calibrators[opt] = choice.calibrator
                kind, scores = choice.calibrator.kind, dict(choice.cv_brier)
            tuned = fitted[0].tuned if strategy == "s_learner" else fitted[j].tuned
            lam = None if shrunk is None else shrunk.lam
            effective = None
            if self.calibration_weighting != "none":
                w = calibration_w[rows]
                effective = float(w.sum() ** 2 / (w**2).sum())
            first = None if strategy == "s_learner" else fitted[j].first_stage_rounds
            fits[opt] = OptionFit(opt, int(rows.sum()), n_rounds, kind, scores, tuned, lam, effective, first)

        if strategy == "s_learner":
            boosters = {opt: fitted[0].booster for opt in options}
            replicates = {opt: fitted[0].replicates for opt in options}
        else:
            boosters = {opt: fitted[j].booster for j, opt in enumerate(options)}
            replicates = {opt: fitted[j].replicates for j, opt in enumerate(options)}

        for attr in ("feature_names_in_",):
            if hasattr(self, attr):
                delattr(self, attr)
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = p
        self.options_ = options
        self.seed_ = seed
        self.propensity_model_ = propensity
        self.overlap_ = overlap
        self.calibrators_ = calibrators
        self.option_fits_ = fits
        self.interval_boosters_ = replicates
        self.boosters_ = boosters
        self.shrinkage_ = None if shrunk is None else shrunk.lam
        self.shrinkage_scores_ = (
            {} if shrunk is None else {f"{g:.2f}": v for g, v in zip(shrunk.grid, shrunk.values, strict=True)}
        )
        self._build_serving(probe=X32[: min(n, 64)])

    def _shrink(
        self,
        setting: str | float,
        X32: np.ndarray,
        codes: np.ndarray,
        y: np.ndarray,
        weight: np.ndarray,
        fitted: Mapping[int, _Fitted],
        seed: int,
        stop: threading.Event,
    ) -> tuple[dict[int, _Fitted], shrinkage.ShrinkageChoice]:
        """Every option's boosters, replicates and out-of-fold margins shrunk towards a prognosis booster fitted
        on all patients, by the lambda of ``setting`` (``"auto"``: chosen on these patients); see
        models/shrinkage.py. The calibrators are then fitted on the shrunk out-of-fold margins as usual. To
        choose lambda as it will be served, each lambda's margins are calibrated too: every patient's through
        calibrators refitted on the shrunk out-of-fold margins without the patient's fold (of the kind the
        unshrunk margins choose)."""
        k = len(fitted)
        stages = [
            learners.StageFit(f.booster, f.replicates, f.oof_margin, f.n_rounds)
            for f in (fitted[j] for j in range(k))
        ]
        M = learners.stage_one_margins(X32, codes, stages)
        strata = codes * 2 + (y > 0.5) if self.objective == "binary" else codes
        prognosis = self._fit_one(X32, y, weight, strata, seed, k, int(self.n_jobs), stop)
        g = prognosis.oof_margin
        if setting == "auto":
            fold = boosting.make_folds(codes, int(self.n_folds), np.random.default_rng([seed, 29]))
            e_cf = learners.cross_fitted_propensity(
                X32, codes, k, weight, fold, l2=float(self.propensity_l2), n_jobs=int(self.n_jobs)
            )
            to_outcome = None
            if self.objective == "binary":
                kinds = [
                    fit_calibrator(
                        M[codes == j, j],
                        y[codes == j],
                        weight[codes == j],
                        method=cast(CalibrationMethod, self.calibration),
                        rng=np.random.default_rng([seed, j, 7]),
                    ).calibrator.kind
                    for j in range(k)
                ]

                def to_outcome(m: np.ndarray) -> np.ndarray:
                    return shrinkage.cross_fitted_calibration(m, codes, y, weight, fold, kinds)

            choice = shrinkage.choose_lambda(
                M,
                g,
                e_cf,
                codes,
                y,
                weight,
                to_outcome=to_outcome,
                prognosis_outcome=expit(g) if self.objective == "binary" else g,
            )
        else:
            a = shrinkage.offsets(M, g, weight)
            choice = shrinkage.ShrinkageChoice(float(setting), a, (float(setting),), (float("nan"),))
        lam = choice.lam
        shrunk = shrinkage.shrunk_margins(M, g, choice.offsets, lam)
        out: dict[int, _Fitted] = {}
        for j in range(k):
            f = fitted[j]
            offset = float(choice.offsets[j])
            try:
                booster = shrinkage.shrink_booster(f.booster, prognosis.booster, lam, offset)
                reps = tuple(
                    shrinkage.shrink_booster(b, gb, lam, offset)
                    for b, gb in zip(f.replicates, prognosis.replicates, strict=True)
                )
            except xgb.core.XGBoostError as exc:
                raise ModelError(f"XGBoost failed while shrinking: {str(exc).splitlines()[0]}") from None
            out[j] = _Fitted(booster, reps, shrunk[codes == j, j], f.n_rounds, f.tuned)
        return out, choice

    def _fit_second_stage(
        self,
        strategy: str,
        X32: np.ndarray,
        codes: np.ndarray,
        y: np.ndarray,
        weight: np.ndarray,
        propensity: np.ndarray,
        stage1: Mapping[int, _Fitted],
        seed: int,
        stop: threading.Event,
    ) -> dict[int, _Fitted]:
        """The X- or DR-learner's boosters on top of the T-learner's (``stage1``); see models/learners.py."""
        k = propensity.shape[1]
        first = [
            learners.StageFit(f.booster, f.replicates, f.oof_margin, f.n_rounds)
            for f in (stage1[j] for j in range(k))
        ]
        params = self._params(nthread=int(self.n_jobs), seed=seed)
        settings = learners.BoostSettings(
            n_folds=int(self.n_folds),
            max_rounds=int(self.n_estimators),
            patience=int(self.early_stopping_rounds),
            keep_replicates=self.interval_method == "jackknife",
            nthread=int(self.n_jobs),
        )
        binary = self.objective == "binary"
        try:
            if strategy == "x_learner":
                out = learners.fit_x_learner(
                    X32,
                    codes,
                    y,
                    weight,
                    propensity,
                    first,
                    params,
                    settings,
                    binary=binary,
                    seed=seed,
                    stop=stop,
                )
            else:
                fold = boosting.make_folds(codes, int(self.n_folds), np.random.default_rng([seed, 29]))
                e_cf = learners.cross_fitted_propensity(
                    X32, codes, k, weight, fold, l2=float(self.propensity_l2), n_jobs=int(self.n_jobs)
                )
                out = learners.fit_dr_learner(
                    X32,
                    codes,
                    y,
                    weight,
                    e_cf,
                    first,
                    params,
                    settings,
                    binary=binary,
                    seed=seed,
                    clip=float(self.propensity_clip),
                    stop=stop,
                )
        except xgb.core.XGBoostError as exc:
            raise ModelError(f"XGBoost failed while fitting: {str(exc).splitlines()[0]}") from None
        return {
            j: _Fitted(f.booster, f.replicates, f.oof_margin, f.n_rounds, stage1[j].tuned)
            for j, f in enumerate(out)
        }

    def _strata(self, y: np.ndarray) -> np.ndarray:
        if self.objective == "binary":
            return (y > 0.5).astype(np.int64)
        edges = np.quantile(y, np.linspace(0, 1, self.n_folds + 1)[1:-1])
        return np.searchsorted(edges, y).astype(np.int64)

    def _fit_one(
        self,
        X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        strata: np.ndarray,
        seed: int,
        key: int,
        nthread: int,
        stop: threading.Event | None = None,
    ) -> _Fitted:
        rng = np.random.default_rng([seed, key])
        params = self._params(nthread=nthread, seed=int(rng.integers(2**31 - 1)))
        if self.single_class == "prior" and self.objective == "binary" and "base_score" not in params:
            # A rare outcome leaves some folds' training rows with no event, where XGBoost would start from a rate
            # of 0 (a margin it cannot use): start every booster of the option from its smoothed rate instead.
            params["base_score"] = float((w @ y + PRIOR_WEIGHT) / (w.sum() + 2 * PRIOR_WEIGHT))
        fold = boosting.make_folds(strata, int(self.n_folds), rng)
        tuned: dict[str, float] = {}
        try:
            first = self._fit_first_stage(X, y, w, fold, params, stop)
            candidates = [params, *self._tuning_candidates(params, np.random.default_rng([seed, key, 41]))]
            fits = [
                boosting.cross_fit(
                    X,
                    y,
                    w,
                    fold,
                    p,
                    max_rounds=int(self.n_estimators),
                    patience=int(self.early_stopping_rounds),
                    stop=stop,
                    fold_base_margins=None if first is None else first.fold_margins,
                )
                for p in candidates
            ]
            cf = fits[0]
            if len(fits) > 1:
                best, per_fold = boosting.leave_fold_out_choice(np.array([f.fold_losses for f in fits]))
                oof = np.empty_like(cf.oof_margin)
                for k, choice in enumerate(per_fold):
                    oof[fold == k] = fits[int(choice)].oof_margin[fold == k]
                params = candidates[best]
                cf = boosting.CrossFit(fits[best].boosters, oof, fits[best].n_rounds, fits[best].fold_losses)
                tuned = {
                    "max_depth": float(params["max_depth"]),
                    "learning_rate": float(params["eta"]),
                    "min_child_weight": float(params["min_child_weight"]),
                }
            boosting.raise_if_stopped(stop)
            if first is None:
                full = boosting.train(X, y, w, params, cf.n_rounds)
            else:
                full = first.then(boosting.train(X, y, w, params, cf.n_rounds, base_margin=first.margin))
            replicates: tuple[xgb.Booster, ...] = ()
            if self.interval_method == "jackknife":
                replicates = (
                    cf.boosters
                    if first is None
                    else tuple(
                        boosting.concat_boosters(f, [b]) for f, b in zip(first.folds, cf.boosters, strict=True)
                    )
                )
            elif self.interval_method == "bootstrap":
                reps = []
                for _b in range(int(self.n_bootstrap)):
                    boosting.raise_if_stopped(stop)
                    counts = rng.multinomial(X.shape[0], np.full(X.shape[0], 1.0 / X.shape[0]))
                    params_b = dict(params, seed=int(rng.integers(2**31 - 1)))
                    if first is None:
                        reps.append(boosting.train(X, y, w * counts, params_b, cf.n_rounds))
                    else:  # the first stage refitted on the same resample, then the correction on its margins
                        first_b = first.refit(y, w * counts)
                        correction = boosting.train(
                            X, y, w * counts, params_b, cf.n_rounds, base_margin=first_b.margin
                        )
                        reps.append(first_b.then(correction))
                replicates = tuple(reps)
        except xgb.core.XGBoostError as exc:
            raise ModelError(f"XGBoost failed while fitting: {str(exc).splitlines()[0]}") from None
        first_rounds = 0 if first is None else first.n_rounds  # None below: no first stage was asked for
        asked = bool(getattr(self, "first_stage_columns_", ()))
        return _Fitted(
            full, replicates, cf.oof_margin, cf.n_rounds + first_rounds, tuned, first_rounds if asked else None
        )

    def _fit_first_stage(
        self,
        X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        fold: np.ndarray,
        params: Mapping[str, Any],
        stop: threading.Event | None,
    ) -> _FirstStage | None:
        """The first stage on ``first_stage_columns_`` (see the class doc), or None without one."""
        columns = getattr(self, "first_stage_columns_", ())
        if not columns:
            return None
        only = np.full_like(X, np.nan)
        only[:, list(columns)] = X[:, list(columns)]
        p1 = dict(
            params,
            eta=FIRST_STAGE_LEARNING_RATE,
            subsample=1.0,
            colsample_bytree=1.0,
            **{"lambda": float(self.first_stage_lambda)},
        )
        cf = boosting.cross_fit(
            only, y, w, fold, p1, max_rounds=FIRST_STAGE_MAX_ROUNDS, patience=FIRST_STAGE_PATIENCE, stop=stop
        )
        boosting.raise_if_stopped(stop)
        # kept only if it predicts the held-out folds better than the boosters' start (their base score, or each
        # fold's mean outcome): a first stage that learnt nothing would only add its folds' noise to the margins
        # the main booster starts from
        start = p1.get("base_score")
        baseline = boosting.intercept_fold_losses(
            y, w, fold, str(p1["eval_metric"]), None if start is None else float(start)
        )
        if sum(cf.fold_losses) >= baseline.sum():
            return None
        # each fold booster's margins on every row: fold k's correction starts from them on its training and
        # held-out rows alike, so its out-of-fold margins depend on no outcome of fold k
        fold_margins = tuple(boosting.predict_margins(b, only)[:, 0] for b in cf.boosters)
        return _FirstStage(only, p1, cf.n_rounds, fold_margins, cf.boosters).refit(y, w)

    def _tuning_candidates(self, params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
        """``tuning_trials`` seeded random settings of the tuned tree parameters (see the class doc)."""
        out = []
        for _ in range(int(self.tuning_trials)):
            lr_lo, lr_hi = np.log(TUNING_LEARNING_RATE)
            mcw_lo, mcw_hi = np.log(TUNING_MIN_CHILD_WEIGHT)
            out.append(
                dict(
                    params,
                    max_depth=int(rng.choice(TUNING_MAX_DEPTH)),
                    eta=float(np.exp(rng.uniform(lr_lo, lr_hi))),
                    min_child_weight=float(np.exp(rng.uniform(mcw_lo, mcw_hi))),
                )
            )
        return out

    # ------------------------------------------------------------------ serving boosters

    def _build_serving(
        self,
        probe: np.ndarray | None = None,
        point: xgb.Booster | None = None,
        interval: xgb.Booster | None = None,
    ) -> None:
        """Merge the final boosters (and the interval replicates) into multi-target boosters for fast scoring,
        check them against their sources on ``probe`` rows, and compile the replicates for single patients.
        ``point``/``interval`` are previously merged boosters (from a saved model) to check instead of merging."""
        options = self.options_
        # a fixed synthetic probe (the same at fit and at load, so the compiled table is too), plus real rows
        rng = np.random.default_rng(0)
        synthetic = rng.normal(scale=3.0, size=(32, self.n_features_in_)).astype(np.float32)
        synthetic[rng.random(synthetic.shape) < 0.2] = np.nan
        probe = synthetic if probe is None else np.concatenate([probe, synthetic])

        def as_input(rows: np.ndarray) -> np.ndarray:
            return self._stack_design(rows[:8]) if self._layout == "s_learner" else rows

        if self._layout == "s_learner":
            point = self.boosters_[options[0]]
            reps = list(self.interval_boosters_[options[0]])
        else:
            sources = [self.boosters_[o] for o in options]
            point = boosting.merge_boosters(sources) if point is None else point
            boosting.check_merged(point, sources, probe)
            reps = [b for o in options for b in self.interval_boosters_[o]]
        table = None
        if reps:
            if interval is None:
                interval = boosting.merge_boosters(reps) if len(reps) > 1 else reps[0]
            boosting.check_merged(interval, reps, as_input(probe))
            table = boosting.TreeTable.from_booster(interval, as_input(synthetic))
        else:
            interval = None
        self._point_booster_ = point
        self._interval_booster_ = interval
        self._interval_table_ = table
        self._apply_threads()

    def _apply_threads(self) -> None:
        nthread = int(self.n_jobs)
        boosters = [*self.boosters_.values(), self._point_booster_]
        boosters += [b for reps in self.interval_boosters_.values() for b in reps]
        if self._interval_booster_ is not None:
            boosters.append(self._interval_booster_)
        for b in {id(b): b for b in boosters}.values():
            boosting.set_threads(b, nthread)
        self._threads_ = nthread

    @property
    def serving_boosters(self) -> tuple[xgb.Booster, xgb.Booster | None]:
        """The merged (point, interval) boosters used for prediction; saved with the model to skip re-merging."""
        self._check_fitted()
        return self._point_booster_, self._interval_booster_

    def _stack_design(self, X32: np.ndarray) -> np.ndarray:
        """S-learner input for every option: k copies of X (option-major) with the one-hot option columns."""
        n = X32.shape[0]
        k = len(self.options_)
        onehot = np.repeat(np.eye(k, dtype=np.float32), n, axis=0)
        return np.concatenate([np.tile(X32, (k, 1)), onehot], axis=1)

    # ------------------------------------------------------------------ prediction

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "_threads_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedModelError(
                f"this {type(self).__name__} is not fitted yet; call fit(X, treatment, y) first"
            )

    def _features(self, X: Any) -> np.ndarray:
        self._check_fitted()
        if self._threads_ != self.n_jobs and isinstance(self.n_jobs, int) and self.n_jobs >= 1:
            self._apply_threads()  # n_jobs changed through set_params after fit
        names = getattr(self, "feature_names_in_", None)
        Xv, _names, violations = check_features(
            X, n_features=self.n_features_in_, feature_names=None if names is None else tuple(names)
        )
        ValidationError.raise_if_any(f"{type(self).__name__} input", violations)
        assert Xv is not None
        return np.ascontiguousarray(Xv, dtype=np.float32)

    def _margins(self, booster: xgb.Booster, X32: np.ndarray) -> np.ndarray:
        """Margins (n, k, r): per option, r targets (r = 1 for the point booster, replicates for intervals)."""
        n = X32.shape[0]
        k = len(self.options_)
        parts = []
        step = max(1, _CHUNK_ROWS // k) if self._layout == "s_learner" else _CHUNK_ROWS
        for start in range(0, n, step):
            chunk = X32[start : start + step]
            m = chunk.shape[0]
            if self._layout == "s_learner":
                out = boosting.predict_margins(booster, self._stack_design(chunk))  # (k*m, r)
                parts.append(out.reshape(k, m, -1).transpose(1, 0, 2))
            else:
                parts.append(boosting.predict_margins(booster, chunk).reshape(m, k, -1))
        if not parts:
            return np.empty((0, k, 1))
        return np.concatenate(parts, axis=0)

    def _replicate_margins(self, X32: np.ndarray) -> np.ndarray:
        """Interval replicate margins (n, k, r); a few rows go through the compiled tree table (see TreeTable)."""
        n, k = X32.shape[0], len(self.options_)
        if self._interval_booster_ is None:
            raise ModelError(
                "predict_interval needs a model fitted with interval_method 'jackknife' or 'bootstrap'"
            )
        if n > SMALL_BATCH_ROWS or self._interval_table_ is None:
            return self._margins(self._interval_booster_, X32)
        if self._layout == "s_learner":
            out = self._interval_table_.margins(self._stack_design(X32))  # (k*n, r)
            return out.reshape(k, n, -1).transpose(1, 0, 2)
        return self._interval_table_.margins(X32).reshape(n, k, -1)

    def outcomes_from_margins(self, margins: np.ndarray) -> np.ndarray:
        """Expected outcomes (n, k) from point margins (n, k) computed elsewhere (calibration applied)."""
        self._check_fitted()
        return self._to_outcome(np.asarray(margins, dtype=np.float64))

    def _to_outcome(self, margins: np.ndarray) -> np.ndarray:
        """Map margins (n, k, ...) to expected outcomes (calibrated probabilities for binary). The options whose
        calibrator is the plain sigmoid, or Platt scaling, are mapped together (the same elementwise arithmetic
        as :meth:`Calibrator.apply`, so the same numbers); isotonic ones one by one."""
        if self.objective != "binary":
            return margins
        plain, platt, slope, intercept, others = self._calibration_groups()
        out = np.empty_like(margins)
        if plain.size:
            out[:, plain] = expit(margins[:, plain])
        if platt.size:
            shape = (1, platt.size) + (1,) * (margins.ndim - 2)
            out[:, platt] = expit(slope.reshape(shape) * margins[:, platt] + intercept.reshape(shape))
        for j in others:
            out[:, j] = self.calibrators_[self.options_[j]].apply(margins[:, j])
        return out

    def _calibration_groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
        """(columns with no calibration, Platt columns, their slopes, their intercepts, isotonic columns), cached
        for the calibrators they were made from."""
        cached = getattr(self, "_calibration_groups_", None)
        if cached is not None and cached[0] is self.calibrators_:
            return cached[1]
        kinds = [self.calibrators_[o] for o in self.options_]
        plain = np.asarray([j for j, c in enumerate(kinds) if c.kind == "none"], dtype=np.intp)
        platt = np.asarray([j for j, c in enumerate(kinds) if c.kind == "sigmoid"], dtype=np.intp)
        slope = np.asarray([kinds[j].slope for j in platt], dtype=np.float64)
        intercept = np.asarray([kinds[j].intercept for j in platt], dtype=np.float64)
        others = tuple(j for j, c in enumerate(kinds) if c.kind not in ("none", "sigmoid"))
        groups = (plain, platt, slope, intercept, others)
        self._calibration_groups_ = (self.calibrators_, groups)
        return groups

    def predict_margins(self, X: Any) -> np.ndarray:
        """Raw booster margins (n, k) per option, before calibration (log-odds for binary)."""
        X32 = self._features(X)
        return self._margins(self._point_booster_, X32)[:, :, 0]

    def predict_outcomes(self, X: Any) -> np.ndarray:
        """Expected outcome under each option, (n, k) in ``options_`` order: calibrated P(y=1) for binary."""
        X32 = self._features(X)
        return self._to_outcome(self._margins(self._point_booster_, X32)[:, :, 0])

    def predict_effects(self, X: Any, reference: Hashable) -> np.ndarray:
        """``predict_outcomes(X)`` minus the column of ``reference``, (n, k); the reference column is 0."""
        self._check_fitted()
        if not self._is_option(reference):
            raise ValidationError(
                f"{type(self).__name__}.predict_effects",
                [Violation("reference", "must be one of the fitted options (options_)", kind_of(reference))],
            )
        outcomes = self.predict_outcomes(X)
        return outcomes - outcomes[:, [self.options_.index(reference)]]

    def predict_interval(self, X: Any, alpha: float = 0.1) -> OutcomeInterval:
        """Point estimate and (1 - alpha) interval of the expected outcome per option (see the module doc)."""
        self._check_fitted()
        v: list[Violation] = []
        _number(v, "alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
        ValidationError.raise_if_any(f"{type(self).__name__}.predict_interval", v)
        if self._interval_booster_ is None:
            raise ModelError(
                "predict_interval needs a model fitted with interval_method 'jackknife' or 'bootstrap'"
            )
        X32 = self._features(X)
        m = self._margins(self._point_booster_, X32)[:, :, 0]
        return self.interval_from_margins(m, self._replicate_margins(X32), alpha)

    def interval_from_margins(self, m: np.ndarray, reps: np.ndarray, alpha: float = 0.1) -> OutcomeInterval:
        """The interval of :meth:`predict_interval` from point margins (n, k) and replicate margins (n, k, r)
        computed elsewhere (e.g. by a fast tree evaluator over ``interval_boosters_``)."""
        r = reps.shape[2]
        if self.interval_method == "jackknife":
            se = np.sqrt((r - 1) / r * ((reps - reps.mean(axis=2, keepdims=True)) ** 2).sum(axis=2))
            q = float(stats.t.ppf(1.0 - alpha / 2.0, r - 1))
        else:
            se = reps.std(axis=2, ddof=1)
            q = float(stats.norm.ppf(1.0 - alpha / 2.0))
        lo = self._to_outcome(m - q * se)
        hi = self._to_outcome(m + q * se)
        return OutcomeInterval(
            estimate=_frozen(self._to_outcome(m)),
            lower=_frozen(np.minimum(lo, hi)),
            upper=_frozen(np.maximum(lo, hi)),
            alpha=float(alpha),
            options=self.options_,
        )

    def predict_replicates(self, X: Any) -> np.ndarray:
        """The expected outcome under each option by every interval replicate (fold or bootstrap booster), (n, k, r)
        in ``options_`` order, calibrated like :meth:`predict_outcomes`: the spread the intervals come from, for a
        caller that needs the joint uncertainty of several options (differences, which option is best)."""
        self._check_fitted()
        if self._interval_booster_ is None:
            raise ModelError(
                "predict_replicates needs a model fitted with interval_method 'jackknife' or 'bootstrap'"
            )
        return self._to_outcome(self._replicate_margins(self._features(X)))

    def predict_propensity(self, X: Any, clip: bool = False) -> np.ndarray:
        """P(option | x), (n, k) in ``options_`` order; ``clip=True`` floors it at ``propensity_clip``."""
        X32 = self._features(X)
        e = self.propensity_model_.predict(X32.astype(np.float64))
        return np.maximum(e, float(self.propensity_clip)) if clip else e

    def booster_input(self, X: Any, option: Hashable) -> np.ndarray:
        """The float32 matrix that ``boosters_[option]`` expects for rows X (S-learner: with one-hot columns)."""
        self._check_fitted()
        if not self._is_option(option):
            raise ValidationError(
                f"{type(self).__name__}.booster_input",
                [Violation("option", "must be one of the fitted options (options_)", kind_of(option))],
            )
        X32 = self._features(X)
        if self._layout != "s_learner":
            return X32
        onehot = np.zeros((X32.shape[0], len(self.options_)), dtype=np.float32)
        onehot[:, self.options_.index(option)] = 1.0
        return np.concatenate([X32, onehot], axis=1)

    def explain(self, X: Any, options: Sequence[Hashable] | None = None) -> Explanation:
        """Exact TreeSHAP contributions per option on the raw margin scale (see :class:`Explanation`).

        ``options`` restricts the explanation to some options (in the order given); default: all ``options_``.
        """
        X32 = self._features(X)
        chosen = self._check_option_list(options, "explain")
        n, p = X32.shape
        idx = [self.options_.index(o) for o in chosen]
        if self._layout == "s_learner":
            k = len(self.options_)
            onehot = np.zeros((len(idx) * n, k), dtype=np.float32)
            for pos, j in enumerate(idx):
                onehot[pos * n : (pos + 1) * n, j] = 1.0
            design = np.concatenate([np.tile(X32, (len(idx), 1)), onehot], axis=1)
            booster = self._point_booster_
            raw = np.asarray(
                booster.predict(xgb.DMatrix(design, missing=np.nan), pred_contribs=True), dtype=np.float64
            ).reshape(len(idx), n, p + k + 1)
            contributions = raw[:, :, :p].transpose(1, 0, 2)
            base = raw[:, :, p:].sum(axis=2).T
            margins = boosting.predict_margins(booster, design)[:, 0].reshape(len(idx), n).T
        elif len(idx) == len(self.options_) and idx == sorted(idx):
            raw = np.asarray(
                self._point_booster_.predict(xgb.DMatrix(X32, missing=np.nan), pred_contribs=True),
                dtype=np.float64,
            ).reshape(n, len(idx), p + 1)
            contributions = raw[:, :, :p]
            base = raw[:, :, p]
            margins = self._margins(self._point_booster_, X32)[:, :, 0]
        else:
            matrix = xgb.DMatrix(X32, missing=np.nan)
            raw = np.stack(
                [
                    np.asarray(
                        self.boosters_[self.options_[j]].predict(matrix, pred_contribs=True), dtype=np.float64
                    )
                    for j in idx
                ],
                axis=1,
            ).reshape(n, len(idx), p + 1)
            contributions = raw[:, :, :p]
            base = raw[:, :, p]
            margins = self._margins(self._point_booster_, X32)[:, idx, 0]
        names = getattr(self, "feature_names_in_", None)
        feature_names = tuple(names) if names is not None else tuple(f"x{i}" for i in range(p))
        return Explanation(
            contributions=_frozen(np.ascontiguousarray(contributions)),
            base_values=_frozen(np.ascontiguousarray(base)),
            margins=_frozen(np.ascontiguousarray(margins)),
            options=tuple(chosen),
            feature_names=feature_names,
        )

    def _check_option_list(self, options: Sequence[Hashable] | None, method: str) -> tuple[Hashable, ...]:
        if options is None:
            return self.options_
        v: list[Violation] = []
        if isinstance(options, str | bytes) or not isinstance(options, Sequence) or len(options) == 0:
            v.append(Violation("options", "must be a non-empty list of fitted options", kind_of(options)))
        else:
            for i, o in enumerate(options):
                if not self._is_option(o):
                    v.append(
                        Violation(f"options[{i}]", "must be one of the fitted options (options_)", kind_of(o))
                    )
            if not v and len(set(options)) != len(options):
                v.append(Violation("options", "must not list an option twice", "list"))
        ValidationError.raise_if_any(f"{type(self).__name__}.{method}", v)
        return tuple(options)

    def _is_option(self, value: object) -> bool:
        try:
            return value in self.options_
        except TypeError:
            return False
