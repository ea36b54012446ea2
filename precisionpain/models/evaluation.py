"""Evaluate a fitted response model on held-out patients: per-option discrimination and calibration, the
value of the policy "take the model's top usable option" (IPW and doubly robust, bootstrap CIs) next to the
observed prescriber policy and the best single option for everyone, subgroup gaps, and, when the table holds
the synthetic cohort's true potential outcomes, regret, top-1 agreement, Kendall tau, sqrt-PEHE and interval
coverage against the truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import Field

from precisionpain.base import FrozenModel
from precisionpain.catalog.loader import FeatureCatalog, OptionCatalog
from precisionpain.errors import DataError, Violation
from precisionpain.models.config import EvaluationConfig, HarmConfig, OutcomeConfig, SplitConfig
from precisionpain.models.metrics import (
    ClassificationMetrics,
    OracleMetrics,
    PolicyEvaluation,
    SubgroupReport,
    UsableOracleMetrics,
    calibration_curve,
    ece_against_truth,
    ece_noise_floor,
    ece_truth_noise_floor,
    evaluate_policy,
    oracle_metrics,
    per_option_metrics,
    policy_regret,
    subgroup_metrics,
    usable_oracle_metrics,
)
from precisionpain.models.metrics import policy_dr_scores as aipw_scores
from precisionpain.pgx.tables import PgxTables

if TYPE_CHECKING:
    from precisionpain.safety import SafetyCatalogs

TRUE_P_PREFIX = "true_p_response__"


def split_by_patient(frame: pd.DataFrame, split: SplitConfig) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the training and test patients; every row of a patient lands on one side.

    ``split.group_column`` names the patient column; when it is None every row is its own patient. A configured
    column that the table lacks is a DataError (see :func:`check_table`), never a silent per-row split.
    """
    from sklearn.model_selection import GroupShuffleSplit

    if split.group_column is not None:
        if split.group_column not in frame.columns:
            raise DataError(
                "training data", [Violation(split.group_column, "split.group_column is absent", "no column")]
            )
        groups = pd.factorize(frame[split.group_column].astype(object), use_na_sentinel=False)[0]
    else:
        groups = np.arange(len(frame))
    splitter = GroupShuffleSplit(n_splits=1, test_size=split.test_fraction, random_state=split.seed)
    train, test = next(splitter.split(np.zeros(len(frame)), groups=groups))
    return np.sort(train), np.sort(test)


def _label_text(labels: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def check_table(
    frame: pd.DataFrame,
    *,
    outcome: OutcomeConfig,
    option_ids: Sequence[str],
    known_option_ids: Sequence[str],
    catalog: FeatureCatalog,
    tables: PgxTables,
    group_column: str | None,
    what: str = "training data",
    harms: Sequence[HarmConfig] = (),
) -> pd.DataFrame:
    """Check a patient table for training or evaluation and return the rows whose treatment is one of
    ``option_ids`` (rows given an option of the catalog that this run does not use are left out).
    ``harms``: the harm outcomes' columns are checked like the outcome's, on those rows (see
    :func:`precisionpain.models.outcomes.with_observed_harms` for a synthetic cohort's).

    Every problem is collected and raised once as a :class:`DataError`: absent columns (treatment, outcome,
    patient, required catalog fields), treatments that are missing or not in the treatment-option catalog,
    outcomes that are missing, not numeric or (binary objective) not 0/1, catalog rule violations (ranges,
    levels, diplotypes). Messages name columns, rules and row positions, never values (option ids are catalog
    ids). Whether each option has enough patients is checked on the training rows by
    :func:`option_count_violations`.
    """
    from precisionpain.features.validate import frame_violations

    problems: list[Violation] = []
    if len(frame) == 0:
        DataError.raise_if_any(what, [Violation("table", "must have at least one row", "0 rows")])
    required = [outcome.treatment_column, outcome.column]
    if group_column is not None:
        required.append(group_column)
    for col in required:
        if col not in frame.columns:
            problems.append(Violation(col, "required column is absent", "no column"))
    keep = np.ones(len(frame), dtype=bool)
    treatment: np.ndarray | None = None
    if outcome.treatment_column in frame.columns:
        treatment = frame[outcome.treatment_column].astype(object).to_numpy()
        missing_t = pd.isna(treatment)
        if missing_t.any():
            problems.append(
                Violation(
                    outcome.treatment_column, f"{int(missing_t.sum())} row(s) have no treatment", "null"
                )
            )
        labels = pd.Series(treatment[~missing_t]).astype(str)
        unknown = sorted(set(labels.unique()) - set(known_option_ids))
        if unknown:
            problems.append(
                Violation(
                    outcome.treatment_column,
                    f"names option(s) not in models/treatment_options.yaml: {_label_text(unknown)}",
                    "string",
                )
            )
        keep = np.isin(np.asarray(pd.Series(treatment).astype(str)), list(option_ids)) & ~missing_t
        if not keep.any():
            problems.append(
                Violation(
                    outcome.treatment_column, "no row received one of the options this run uses", "string"
                )
            )
    problems += _outcome_problems(frame, outcome.column, outcome.objective == "binary")
    for harm in harms:
        if harm.column not in frame.columns:
            problems.append(Violation(harm.column, "required column is absent", "no column"))
        else:
            problems += _outcome_problems(frame, harm.column, True, rows=keep)
    problems += frame_violations(frame, catalog, tables)
    DataError.raise_if_any(what, problems)
    return frame.loc[keep].reset_index(drop=True) if not keep.all() else frame


def _outcome_problems(
    frame: pd.DataFrame, column: str, binary: bool, rows: np.ndarray | None = None
) -> list[Violation]:
    """An outcome column's missing, non-numeric and (binary) non-0/1 values, counted over ``rows`` (all rows by
    default: a harm read from a synthetic cohort's per-option columns is only defined on the rows kept)."""
    if column not in frame.columns:
        return []
    raw = frame[column] if rows is None else frame.loc[rows, column]
    problems: list[Violation] = []
    y = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    not_numeric = np.isnan(y) & ~raw.isna().to_numpy()
    if not_numeric.any():
        problems.append(
            Violation(column, f"{int(not_numeric.sum())} row(s) have a non-numeric outcome", "string")
        )
    if raw.isna().any():
        problems.append(Violation(column, f"{int(raw.isna().sum())} row(s) have no outcome", "null"))
    finite = y[~np.isnan(y)]
    if binary and not np.isin(finite, (0.0, 1.0)).all():
        problems.append(
            Violation(
                column,
                f"must be 0 or 1 for the binary objective ({int((~np.isin(finite, (0.0, 1.0))).sum())} "
                "row(s) are not)",
                "number",
            )
        )
    return problems


def option_count_violations(
    treatment: np.ndarray, y: np.ndarray, option_ids: Sequence[str], min_patients: int, objective: str
) -> list[Violation]:
    """Options with fewer than ``min_patients`` patients, or (binary) only one outcome class among them."""
    codes = pd.Categorical(np.asarray(treatment, dtype=object).astype(str), categories=list(option_ids)).codes
    known = codes >= 0
    counts = np.bincount(codes[known], minlength=len(option_ids))
    positives = np.bincount(
        codes[known], weights=np.asarray(y, dtype=float)[known], minlength=len(option_ids)
    )
    out = []
    for j, opt in enumerate(option_ids):
        if counts[j] < min_patients:
            out.append(
                Violation(
                    "treatment",
                    f"option {opt} has {counts[j]} training patient(s); min_samples_per_option is {min_patients}",
                    "too few rows",
                )
            )
        elif objective == "binary" and positives[j] in (0.0, float(counts[j])):
            out.append(
                Violation("outcome", f"has a single outcome class among the patients of {opt}", "number")
            )
    return out


def outcome_arrays(
    frame: pd.DataFrame, outcome: OutcomeConfig, option_ids: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Treatment labels and outcomes of a table already checked by :func:`check_table` (re-checked cheaply:
    both columns present, no missing values, only ``option_ids``, binary y for the binary objective)."""
    problems: list[Violation] = []
    for col in (outcome.treatment_column, outcome.column):
        if col not in frame.columns:
            problems.append(Violation(col, "required column is absent", "no column"))
    DataError.raise_if_any("patient table", problems)
    treatment = frame[outcome.treatment_column].astype(object).to_numpy()
    y = pd.to_numeric(frame[outcome.column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    missing_t = pd.isna(treatment)
    if missing_t.any():
        problems.append(
            Violation(outcome.treatment_column, f"{int(missing_t.sum())} rows have no treatment", "null")
        )
    if np.isnan(y).any():
        problems.append(
            Violation(outcome.column, f"{int(np.isnan(y).sum())} rows have no numeric outcome", "null")
        )
    unknown = sorted({str(t) for t in treatment[~missing_t]} - set(option_ids))
    if unknown:
        problems.append(
            Violation(
                outcome.treatment_column,
                f"names option(s) this model does not rank: {_label_text(unknown)}",
                "string",
            )
        )
    if outcome.objective == "binary" and not np.isin(y[~np.isnan(y)], (0.0, 1.0)).all():
        problems.append(Violation(outcome.column, "must be 0 or 1 for the binary objective", "number"))
    DataError.raise_if_any("patient table", problems)
    return np.asarray([str(t) for t in treatment], dtype=object), y


def harm_arrays(frame: pd.DataFrame, harms: Sequence[HarmConfig]) -> dict[str, np.ndarray]:
    """Each harm's observed 0/1 outcome (a table checked by :func:`check_table` with these harms), by name."""
    return {
        h.name: pd.to_numeric(frame[h.column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        for h in harms
    }


def true_outcomes(
    frame: pd.DataFrame, option_ids: Sequence[str], prefix: str = TRUE_P_PREFIX
) -> np.ndarray | None:
    """The synthetic cohort's true probabilities (n, k) of the response (or of the outcome whose columns start
    with ``prefix``), or None when the table has none."""
    cols = [f"{prefix}{o}" for o in option_ids]
    if not all(c in frame.columns for c in cols):
        return None
    return frame[cols].to_numpy(dtype=float)


def age_bands(age: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    labels = [f"{edges[i]:g}-{edges[i + 1]:g}" for i in range(len(edges) - 1)]
    idx = np.clip(np.searchsorted(np.asarray(edges), age, side="right") - 1, 0, len(labels) - 1)
    out = np.array(labels, dtype=object)[idx]
    out[np.isnan(age)] = "unknown"
    return out


def usable_policy(p: np.ndarray, avoid: np.ndarray) -> np.ndarray:
    """Column index of the highest predicted option the safety rules do not exclude (``avoid``: the exclusion
    matrix of :func:`held_out`)."""
    masked = np.where(avoid, -np.inf, p)
    return masked.argmax(axis=1)


class OptionEvaluation(FrozenModel):
    """One option's model on the held-out patients who received it.

    ``metrics.ece`` is the usual binned ECE against observed outcomes; ``ece_noise_floor`` is what a perfectly
    calibrated model would score on the same patients (sampling noise) and ``ece_excess`` the part above it.
    With the synthetic truth: ``ece_true`` (these patients) and ``ece_true_all`` (every held-out patient); and
    ``ece_true_floor``, what ``ece_true`` would be in expectation for a model exactly right in expectation, given
    how far the patients' own true probabilities scatter around E[true p | x] (:func:`ece_truth_noise_floor`,
    the scatter taken from the cross-fitted estimate of E[true p | x], whose own error adds to it: an upper bound
    of sorts; None without it). An ``ece_true`` near its floor is consistent with no miscalibration; above it,
    the difference is only a lower bound of the miscalibration (a bin's gap is |bias + scatter|)."""

    option_id: str
    metrics: ClassificationMetrics
    ece_noise_floor: float
    ece_excess: float
    ece_true: float | None = None
    ece_true_all: float | None = None
    ece_true_floor: float | None = None
    calibration_predicted: tuple[float, ...]
    calibration_observed: tuple[float, ...]
    calibration_count: tuple[int, ...]


class HarmEvaluation(FrozenModel):
    """One harm outcome's models on the held-out patients (see :func:`evaluate`): each option's discrimination and
    calibration on the patients who received it; with the synthetic truth, interval coverage of the true
    probabilities. ``headline`` holds the summary figures (``auc_mean``, ``ece_max``, ...)."""

    outcome: str
    per_option: tuple[OptionEvaluation, ...]
    interval_coverage: float | None = None
    interval_coverage_per_option: dict[str, float] = Field(default_factory=dict)
    interval_mean_width: float | None = None
    interval_coverage_expected: float | None = None  # of E[true p | recorded inputs] (see Coverage)
    interval_coverage_expected_per_option: dict[str, float] = Field(default_factory=dict)
    headline: dict[str, float] = Field(default_factory=dict)


class EvaluationResult(FrozenModel):
    """Every metric of one model on one set of patients (see :func:`evaluate`).

    With the synthetic truth: ``oracle`` (regret, top-1, Kendall tau, sqrt-PEHE against ``reference_option``),
    the regret of the observed prescribers (``oracle_observed_regret``), of the truly best single option for
    everyone (``oracle_best_single_regret``) and of the single option the DR estimate picks
    (``oracle_dr_best_single_regret``), the true value of the model's policy and the share of true
    probabilities inside the model's (1 - ``interval_alpha``) intervals, overall and per option. The intervals are
    for the expected outcome given the recorded features, while a synthetic patient's true probability also
    carries unrecorded patient effects, so this coverage stays far below nominal even for a correctly sized
    interval (experiments/baseline/notes.md, "Intervals").

    Two comparisons with the best single option, because the model's policy obeys the safety rules (the top
    option they allow, ``avoid`` of :class:`HeldOut`) and ``oracle.regret`` measures it against the best option
    overall, while ``oracle_best_single_regret`` gives everyone one option even where the rules exclude it:

    - under the same rules (``oracle_usable``, :class:`~precisionpain.models.metrics.UsableOracleMetrics`): the
      model's policy and the best single option that obeys the rules (the first allowed option of one fixed
      order, "j first, then the others by mean true p", the best j), both against the best USABLE option of
      each patient with at least one;
    - with every option usable: the model's top predicted option without exclusions
      (``oracle_all_usable_regret``) and ``oracle_best_single_regret``, both against the best option overall.

    ``provenance`` records what was evaluated when the result comes from a registered version."""

    n_test: int
    option_ids: tuple[str, ...]
    per_option: tuple[OptionEvaluation, ...]
    policy: PolicyEvaluation
    policy_share: dict[str, float]
    reference_option: str
    oracle: OracleMetrics | None = None
    oracle_observed_regret: float | None = None
    oracle_best_single_option: str | None = None
    oracle_best_single_regret: float | None = None
    oracle_dr_best_single_regret: float | None = None
    oracle_usable: UsableOracleMetrics | None = None
    oracle_all_usable_regret: float | None = None
    true_policy_value: float | None = None
    interval_coverage: float | None = None
    interval_coverage_per_option: dict[str, float] = Field(default_factory=dict)
    interval_mean_width: float | None = None
    # coverage of the interval's own target, E[true p | recorded inputs], estimated (see Coverage)
    interval_coverage_expected: float | None = None
    interval_coverage_expected_per_option: dict[str, float] = Field(default_factory=dict)
    interval_alpha: float
    subgroups: dict[str, SubgroupReport] = Field(default_factory=dict)
    headline: dict[str, float] = Field(default_factory=dict)
    provenance: dict[str, str] = Field(default_factory=dict)
    harms: dict[str, HarmEvaluation] = Field(default_factory=dict)  # the harm outcomes' evaluations, by name
    # the final ranking against the true net benefit (synthetic truth, harm models and guideline tiers only)
    benefit_harm: BenefitHarmEvaluation | None = None


@dataclass(frozen=True)
class HeldOut:
    """What evaluation needs about the held-out patients, computed once."""

    frame: pd.DataFrame
    X: np.ndarray
    treatment: np.ndarray
    y: np.ndarray
    avoid: np.ndarray  # (n, k) in option_ids order: excluded by the safety rules (CPIC avoid included)
    true_p: np.ndarray | None  # (n, k) in option_ids order
    option_ids: tuple[str, ...]
    harm_y: Mapping[str, np.ndarray] = field(default_factory=dict)  # observed harm outcomes, by outcome name
    harm_true_p: Mapping[str, np.ndarray] = field(default_factory=dict)  # (n, k) each, synthetic truth only
    tiers: np.ndarray | None = None  # (n, k) guideline tier ranks (benefit_harm.TIER_ORDER) for each patient
    tables: np.ndarray | None = None  # (n,) the guideline table each patient's tiers come from

    def in_order(self, options: Sequence[str]) -> HeldOut:
        """The same patients with the (n, k) matrices reordered to ``options`` (e.g. an estimator's options_)."""
        if tuple(options) == self.option_ids:
            return self
        missing = [o for o in options if o not in self.option_ids]
        if missing:
            raise DataError(
                "held-out data",
                [Violation("options", f"no column for option(s) {', '.join(missing)}", "list")],
            )
        idx = [self.option_ids.index(o) for o in options]
        return HeldOut(
            frame=self.frame,
            X=self.X,
            treatment=self.treatment,
            y=self.y,
            avoid=self.avoid[:, idx],
            true_p=None if self.true_p is None else self.true_p[:, idx],
            option_ids=tuple(options),
            harm_y=self.harm_y,
            harm_true_p={k: v[:, idx] for k, v in self.harm_true_p.items()},
            tiers=None if self.tiers is None else self.tiers[:, idx],
            tables=self.tables,
        )


def held_out(
    frame: pd.DataFrame,
    X: np.ndarray,
    outcome: OutcomeConfig,
    option_ids: Sequence[str],
    options: OptionCatalog,
    tables: PgxTables,
    *,
    safety: SafetyCatalogs | None = None,
    harms: Sequence[HarmConfig] = (),
) -> HeldOut:
    """The held-out patients with their outcomes and, per option, whether the safety rules exclude it (the engine
    the ranking obeys, over every patient: :func:`precisionpain.ranking.safety_exclusion_matrix`). ``safety``
    defaults to the rules and medication catalog beside ``options`` (a model package's own copy), compiled with
    these options and CPIC tables."""
    from precisionpain.ranking import safety_exclusion_matrix

    if safety is None:
        safety = _safety_catalogs(options, tables)
    from precisionpain.models.outcomes import TRUE_PROBABILITY_PREFIX

    treatment, y = outcome_arrays(frame, outcome, option_ids)
    harm_true = {h.name: true_outcomes(frame, option_ids, TRUE_PROBABILITY_PREFIX[h.name]) for h in harms}
    tiers = tier_tables = None
    guidelines = _guideline_catalog(options)
    if guidelines is not None and "pain_type" in frame.columns:
        tiers, tier_tables = _tier_matrix(frame, option_ids, guidelines)
    return HeldOut(
        frame=frame,
        X=X,
        treatment=treatment,
        y=y,
        avoid=safety_exclusion_matrix(frame, option_ids, safety),
        true_p=true_outcomes(frame, option_ids),
        option_ids=tuple(option_ids),
        harm_y=harm_arrays(frame, harms),
        harm_true_p={k: v for k, v in harm_true.items() if v is not None},
        tiers=tiers,
        tables=tier_tables,
    )


def _guideline_catalog(options: OptionCatalog) -> Any:
    """The guideline catalog beside ``options`` (a model package's own copy), or None when it has none."""
    from precisionpain.catalog.guidelines import GUIDELINES_FILE, load_guideline_catalog

    root = options.path.parent.parent  # <root>/models/treatment_options.yaml
    if not (root / GUIDELINES_FILE).is_file():
        return None
    return load_guideline_catalog(options, root)


def _safety_catalogs(options: OptionCatalog, tables: PgxTables) -> SafetyCatalogs:
    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.catalog.safety import load_medication_catalog, load_safety_rules
    from precisionpain.safety import compile_safety_catalogs

    root = options.path.parent.parent  # <root>/models/treatment_options.yaml
    features = load_feature_catalog(root)
    medications = load_medication_catalog(root)
    rules = load_safety_rules(features, options, medications, root)
    return compile_safety_catalogs(root, features, options, tables, medications, rules)


def _per_option_evaluations(
    p: np.ndarray,
    y: np.ndarray,
    treatment: np.ndarray,
    true_p: np.ndarray | None,
    options: Sequence[str],
    config: EvaluationConfig,
    seed: int,
    residual_sd: np.ndarray | None = None,
) -> tuple[OptionEvaluation, ...]:
    """Each option's discrimination and calibration on the patients who received it (and, with the truth, its
    calibration against the true probabilities and that calibration's floor, from ``residual_sd`` (k,): see
    :func:`residual_sd`), for one outcome's predictions ``p`` (n, k)."""
    metrics = per_option_metrics(y, treatment, p, options, n_bins=config.calibration_bins)
    codes_t = pd.Categorical(treatment, categories=list(options)).codes
    out = []
    for j, opt in enumerate(options):
        if opt not in metrics:
            continue
        rows = codes_t == j
        curve = calibration_curve(y[rows], p[rows, j], n_bins=config.calibration_bins)
        floor = ece_noise_floor(p[rows, j], n_bins=config.calibration_bins, random_state=seed + j)
        true_ece = true_ece_all = true_floor = None
        if true_p is not None:
            true_ece = ece_against_truth(p[rows, j], true_p[rows, j], n_bins=config.calibration_bins)
            true_ece_all = ece_against_truth(p[:, j], true_p[:, j], n_bins=config.calibration_bins)
            if residual_sd is not None:
                true_floor = ece_truth_noise_floor(
                    p[rows, j], float(residual_sd[j]), n_bins=config.calibration_bins, random_state=seed + j
                )
        out.append(
            OptionEvaluation(
                option_id=opt,
                metrics=metrics[opt],
                ece_noise_floor=floor,
                ece_excess=max(0.0, metrics[opt].ece - floor),
                ece_true=true_ece,
                ece_true_all=true_ece_all,
                ece_true_floor=true_floor,
                calibration_predicted=tuple(float(x) for x in curve.mean_predicted),
                calibration_observed=tuple(float(x) for x in curve.observed_rate),
                calibration_count=tuple(round(x) for x in curve.count),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class Coverage:
    """How often the (1 - alpha) intervals contain each of their two possible targets (synthetic truth only):

    - ``individual``: the patient's own true probability, which carries effects the recorded inputs do not (the
      cohort's unrecorded patient effects), so no interval of the expected outcome can reach nominal for it;
    - ``expected``: the expected probability given the recorded inputs, E[true p | x], which is what the interval
      estimates. It is not known, so it is estimated by a regression of the true probabilities on the features,
      cross-fitted on the held-out patients (:func:`expected_truth`); that estimate's own error can only lower
      the figure, so it is a lower bound of sorts. None when ``evaluation.expected_truth_rows`` is 0."""

    individual: float
    individual_per_option: dict[str, float]
    mean_width: float
    expected: float | None = None
    expected_per_option: dict[str, float] = field(default_factory=dict)
    expected_rows: int = 0


def expected_truth(
    X: np.ndarray, true_p: np.ndarray, *, rows: int, seed: int, nthread: int
) -> tuple[np.ndarray, np.ndarray]:
    """(row positions, E[true p | x] estimates (m, k)) for up to ``rows`` of the patients: one multi-target XGBoost
    regression of the true probabilities on the features, fitted on half of them and predicting the other half,
    then the other way round (cross-fitting: no row is predicted by a model that saw it). Small and early-stopped
    on purpose: it runs in every evaluation."""
    import xgboost as xgb

    rng = np.random.default_rng([seed, 2024])
    n = X.shape[0]
    idx = np.sort(rng.choice(n, size=min(rows, n), replace=False))
    Xs = np.ascontiguousarray(X[idx], dtype=np.float32)
    Ys = np.ascontiguousarray(true_p[idx], dtype=np.float32)
    half = rng.permutation(idx.shape[0]) % 2
    out = np.empty(Ys.shape, dtype=np.float64)
    params = {
        "objective": "reg:squarederror",
        "eta": 0.3,
        "max_depth": 4,
        "max_bin": 64,
        "subsample": 0.8,
        "tree_method": "hist",
        "multi_strategy": "one_output_per_tree",
        "nthread": nthread,
        "seed": seed,
        "verbosity": 0,
    }
    for k in (0, 1):
        fit, other = half != k, half == k
        dfit = xgb.QuantileDMatrix(Xs[fit], label=Ys[fit], missing=np.nan, nthread=nthread, max_bin=64)
        dother = xgb.DMatrix(Xs[other], label=Ys[other], missing=np.nan, nthread=nthread)
        booster = xgb.train(
            params, dfit, 60, evals=[(dother, "other")], early_stopping_rounds=8, verbose_eval=False
        )
        predicted = booster.predict(dother, iteration_range=(0, booster.best_iteration + 1))
        out[other] = np.asarray(predicted, dtype=np.float64).reshape(int(other.sum()), -1)
    return idx, np.clip(out, 0.0, 1.0)


def _coverage(
    estimator: Any,
    X: np.ndarray,
    true_p: np.ndarray,
    options: Sequence[str],
    alpha: float,
    expected: tuple[np.ndarray, np.ndarray] | None,
) -> Coverage | None:
    """The intervals' coverage of both targets (:class:`Coverage`); ``expected`` is (rows, E[true p | x] estimate)
    from :func:`expected_truth`. None for a model without intervals."""
    if getattr(estimator, "interval_method", "none") == "none":
        return None
    interval = estimator.predict_interval(X, alpha=alpha)
    idx = [[str(o) for o in estimator.options_].index(o) for o in options]
    lower, upper = interval.lower[:, idx], interval.upper[:, idx]
    inside = (true_p >= lower) & (true_p <= upper)
    per = {o: float(inside[:, j].mean()) for j, o in enumerate(options)}
    found = Coverage(float(inside.mean()), per, float((upper - lower).mean()))
    if expected is None:
        return found
    rows, estimate = expected
    within = (estimate >= lower[rows]) & (estimate <= upper[rows])
    return Coverage(
        found.individual,
        found.individual_per_option,
        found.mean_width,
        float(within.mean()),
        {o: float(within[:, j].mean()) for j, o in enumerate(options)},
        int(rows.shape[0]),
    )


def residual_sd(true_p: np.ndarray | None, expected: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray | None:
    """Per option, the sd of the patients' own true probabilities around the estimate of E[true p | x] on the rows
    it covers (see :func:`expected_truth`): the scatter no model of the recorded inputs can follow. The estimate's
    own error adds to it, so floors computed from it are upper bounds of sorts."""
    if true_p is None or expected is None:
        return None
    idx, estimate = expected
    return np.asarray((true_p[idx] - estimate).std(axis=0), dtype=np.float64)


def _expected_truths(
    data: HeldOut, outcomes: Sequence[str], config: EvaluationConfig, seed: int, nthread: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """E[true p | x] of each outcome on the same held-out rows (see :func:`expected_truth`); empty without the
    truth or with ``evaluation.expected_truth_rows`` 0."""
    truth: dict[str, np.ndarray | None] = {"response": data.true_p, **data.harm_true_p}
    if config.expected_truth_rows <= 0 or data.X.shape[0] < 50:
        return {}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for o in outcomes:
        values = truth.get(o)
        if values is not None:
            out[o] = expected_truth(
                data.X, values, rows=config.expected_truth_rows, seed=seed, nthread=nthread
            )
    return out


def _truth_calibration_headline(per_option: Sequence[OptionEvaluation]) -> dict[str, float]:
    """Calibration against the synthetic truth over the options: the worst and the mean ECE on each option's own
    patients (``ece_true_max``, ``ece_true_mean``), the worst over all patients (``ece_true_all_max``) and, when
    the floors are known, the worst and the mean floor (``ece_true_floor_max``, ``ece_true_floor_mean``). The mean
    is the steadier figure for comparing models: the worst of many options is mostly the option whose patients'
    outcomes happened to stray furthest from their truth (experiments/strategies/ece_limits.py). The floor is not
    subtracted from the ECE: a bin's gap is |bias + scatter|, so ECE minus floor is not the miscalibration; it
    only bounds it from below. Empty without the truth."""
    scored = [m for m in per_option if m.ece_true is not None and np.isfinite(m.ece_true)]
    if not scored:
        return {}
    own = [float(m.ece_true or 0.0) for m in scored]
    every = [m.ece_true_all for m in scored if m.ece_true_all is not None and np.isfinite(m.ece_true_all)]
    out = {"ece_true_max": max(own), "ece_true_mean": float(np.mean(own))}
    if every:
        out["ece_true_all_max"] = float(max(every))
    floors = [m.ece_true_floor for m in scored]
    known = [float(f) for f in floors if f is not None]
    if len(known) == len(floors):
        out.update(ece_true_floor_max=max(known), ece_true_floor_mean=float(np.mean(known)))
    return out


def _harm_evaluation(
    name: str,
    model: Any,
    data: HeldOut,
    options: Sequence[str],
    config: EvaluationConfig,
    seed: int,
    interval_alpha: float,
    expected: tuple[np.ndarray, np.ndarray] | None = None,
) -> HarmEvaluation:
    """One harm outcome's models on the held-out patients: each option's discrimination and calibration, and
    (synthetic data) calibration and interval coverage against the true probabilities (``expected``: this
    outcome's E[true p | x] estimate, see :func:`expected_truth`)."""
    from precisionpain.models.outcomes import predict_in_order

    p = predict_in_order(model, data.X, options)
    true_p = data.harm_true_p.get(name)
    per_option = _per_option_evaluations(
        p, data.harm_y[name], data.treatment, true_p, options, config, seed, residual_sd(true_p, expected)
    )
    coverage = (
        _coverage(model, data.X, true_p, options, interval_alpha, expected) if true_p is not None else None
    )
    auc = [m.metrics.auc for m in per_option]
    ece = [m.metrics.ece for m in per_option]
    headline = {
        "auc_mean": float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan"),
        "auc_min": float(np.nanmin(auc)) if np.isfinite(auc).any() else float("nan"),
        "ece_mean": float(np.nanmean(ece)),
        "ece_max": float(np.nanmax(ece)),
        "ece_excess_max": float(np.nanmax([m.ece_excess for m in per_option])),
    }
    if true_p is not None:
        headline.update(_truth_calibration_headline(per_option))
    if coverage is not None:
        headline["interval_coverage"] = coverage.individual
        headline["interval_mean_width"] = coverage.mean_width
        if coverage.expected is not None:
            headline["interval_coverage_expected"] = coverage.expected
    return HarmEvaluation(
        outcome=name,
        per_option=per_option,
        interval_coverage=None if coverage is None else coverage.individual,
        interval_coverage_per_option={} if coverage is None else coverage.individual_per_option,
        interval_mean_width=None if coverage is None else coverage.mean_width,
        interval_coverage_expected=None if coverage is None else coverage.expected,
        interval_coverage_expected_per_option={} if coverage is None else coverage.expected_per_option,
        headline={k: v for k, v in headline.items() if np.isfinite(v)},
    )


def policy_dr_scores(estimator: Any, data: HeldOut, policy_codes: np.ndarray) -> np.ndarray:
    """Each patient's DR (AIPW) score under a policy given as column indices of ``estimator.options_``, with this
    estimator's propensity and outcome predictions as the nuisance models; the mean is the policy's DR value.
    Two policies scored with the same estimator on the same patients are paired patient by patient."""
    options = [str(o) for o in estimator.options_]
    data = data.in_order(options)
    return aipw_scores(
        np.asarray(options, dtype=object)[policy_codes],
        data.treatment,
        data.y,
        estimator.predict_propensity(data.X),
        estimator.predict_outcomes(data.X),
        options,
        clip=estimator.propensity_clip,
    )


def evaluate(
    estimator: Any,
    data: HeldOut,
    config: EvaluationConfig,
    catalog: FeatureCatalog,
    *,
    seed: int = 0,
    interval_alpha: float = 0.1,
    harms: Mapping[str, Any] | None = None,
    ranking: Any = None,
    table_means: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
) -> EvaluationResult:
    """Every metric of one fitted model on held-out patients; ``harms`` (outcome name -> fitted model of the same
    options) are evaluated beside it, each outcome's calibration and discrimination per option.

    With the synthetic truth the headline compares the model's policy with the best single option three ways
    (see :class:`EvaluationResult`); every regret is a mean loss in true p, lower is better:

    - ``regret`` / ``regret_best_single_option``: the top option the safety rules allow, and one option for
      everyone regardless of the rules, both against the best option overall (kept for continuity; not like for
      like, since only the model is charged for the exclusions);
    - ``regret_usable`` (with ``top1_agreement_usable``) / ``regret_best_single_option_usable``: the same rules
      for both, against the best usable option, over the patients with at least one usable option;
    - ``regret_all_usable`` / ``regret_best_single_option_all_usable`` (the same figure as
      ``regret_best_single_option``): no rules for either, the top predicted option of all, against the best
      option overall."""
    options = tuple(str(o) for o in estimator.options_)
    data = data.in_order(options)
    expected = (
        _expected_truths(
            data, ["response", *(harms or {})], config, seed, int(getattr(estimator, "n_jobs", 1) or 1)
        )
        if data.true_p is not None
        else {}
    )
    harm_results = {
        name: _harm_evaluation(name, model, data, options, config, seed, interval_alpha, expected.get(name))
        for name, model in (harms or {}).items()
        if name in data.harm_y
    }
    p = estimator.predict_outcomes(data.X)
    propensity = estimator.predict_propensity(data.X)
    codes = usable_policy(p, data.avoid)
    policy_labels = np.asarray(options, dtype=object)[codes]

    per_option = _per_option_evaluations(
        p, data.y, data.treatment, data.true_p, options, config, seed, residual_sd(data.true_p, expected.get("response"))
    )
    codes_t = pd.Categorical(data.treatment, categories=options).codes

    policy = evaluate_policy(
        policy_labels,
        data.treatment,
        data.y,
        propensity,
        p,
        options,
        n_boot=config.n_bootstrap,
        alpha=config.alpha,
        clip=estimator.propensity_clip,
        random_state=seed,
    )
    share = pd.Series(policy_labels).value_counts(normalize=True)
    policy_share = {o: float(share.get(o, 0.0)) for o in options}

    # Subgroups: each patient's predicted probability for the option actually received vs the outcome.
    p_assigned = p[np.arange(len(p)), codes_t]
    factors: dict[str, np.ndarray] = {}
    for factor in config.subgroups:
        if factor == "age_band" and "age_years" in data.frame.columns:
            factors[factor] = age_bands(data.frame["age_years"].to_numpy(dtype=float), config.age_bands_years)
        elif factor in data.frame.columns:
            factors[factor] = data.frame[factor].astype(object).fillna("unknown").to_numpy()
    subgroups = {
        name: subgroup_metrics(data.y, p_assigned, groups, n_bins=config.calibration_bins)
        for name, groups in factors.items()
    }

    reference = _reference_option(config, options, data.treatment)
    oracle = observed_regret = single_regret = dr_single_regret = true_value = coverage = width = None
    oracle_single: str | None = None
    oracle_usable: UsableOracleMetrics | None = None
    all_usable_regret: float | None = None
    coverage_per_option: dict[str, float] = {}
    coverage_expected: float | None = None
    expected_per_option: dict[str, float] = {}
    if data.true_p is not None:
        oracle = oracle_metrics(data.true_p, p, options, reference=reference, policy=policy_labels)
        rows = np.arange(len(p))
        best = data.true_p.max(axis=1)
        observed_regret = float((best - data.true_p[rows, codes_t]).mean())
        single_regrets = (best[:, None] - data.true_p).mean(axis=0)
        oracle_single = options[int(single_regrets.argmin())]
        single_regret = float(single_regrets.min())
        dr_single_regret = float(single_regrets[options.index(policy.best_single_option)])
        oracle_usable = usable_oracle_metrics(data.true_p, ~data.avoid, options, policy_labels)
        all_usable_regret = policy_regret(data.true_p, p.argmax(axis=1))
        true_value = float(data.true_p[rows, codes].mean())
        found = _coverage(estimator, data.X, data.true_p, options, interval_alpha, expected.get("response"))
        if found is not None:
            coverage, coverage_per_option, width = (
                found.individual,
                found.individual_per_option,
                found.mean_width,
            )
            coverage_expected, expected_per_option = found.expected, found.expected_per_option

    auc = [m.metrics.auc for m in per_option]
    ece = [m.metrics.ece for m in per_option]
    dr = policy.policy.dr
    headline = {
        "auc_mean": float(np.nanmean(auc)),
        "auc_min": float(np.nanmin(auc)),
        "ece_mean": float(np.nanmean(ece)),
        "ece_max": float(np.nanmax(ece)),
        "ece_noise_floor_max": float(np.nanmax([m.ece_noise_floor for m in per_option])),
        "ece_excess_max": float(np.nanmax([m.ece_excess for m in per_option])),
        "brier_mean": float(np.nanmean([m.metrics.brier for m in per_option])),
        "log_loss_mean": float(np.nanmean([m.metrics.log_loss for m in per_option])),
        "dr_policy_value": dr.estimate,
        "dr_policy_value_ci_low": dr.ci_low,
        "dr_policy_value_ci_high": dr.ci_high,
        "ipw_policy_value": policy.policy.ipw.estimate,
        "ipw_policy_value_ci_low": policy.policy.ipw.ci_low,
        "ipw_policy_value_ci_high": policy.policy.ipw.ci_high,
        "observed_policy_value": policy.observed.estimate,
        "best_single_option_dr_value": policy.best_single.dr.estimate,
        "best_single_option_ipw_value": policy.best_single.ipw.estimate,
        "dr_gain_vs_observed": policy.dr_gain_vs_observed.estimate,
        "dr_gain_vs_best_single": policy.dr_gain_vs_best_single.estimate,
    }
    for name, report in subgroups.items():
        headline[f"subgroup_{name}_auc_gap"] = report.auc_gap
        headline[f"subgroup_{name}_ece_gap"] = report.ece_gap
        headline[f"subgroup_{name}_calibration_gap"] = report.calibration_in_the_large_gap
    if oracle is not None and true_value is not None:
        headline.update(
            {
                "regret": oracle.regret,
                "top1_agreement": oracle.top1_agreement,
                "kendall_tau": oracle.kendall_tau,
                "sqrt_pehe_mean": float(np.mean(list(oracle.sqrt_pehe.values()))),
                "regret_best_single_option": float(single_regret or 0.0),
                "regret_dr_best_single_option": float(dr_single_regret or 0.0),
                "regret_observed_policy": float(observed_regret or 0.0),
                "regret_all_usable": float(all_usable_regret or 0.0),
                "regret_best_single_option_all_usable": float(single_regret or 0.0),
                "true_policy_value": true_value,
                "dr_ci_covers_true_value": float(dr.ci_low <= true_value <= dr.ci_high),
            }
        )
        headline.update(_truth_calibration_headline(per_option))
        if oracle_usable is not None and oracle_usable.n > 0:
            headline["regret_usable"] = oracle_usable.regret
            headline["top1_agreement_usable"] = oracle_usable.top1_agreement
            headline["regret_best_single_option_usable"] = oracle_usable.best_single_regret
        if coverage is not None and width is not None:
            headline["interval_coverage"] = coverage
            headline["interval_mean_width"] = width
        if coverage_expected is not None:
            headline["interval_coverage_expected"] = coverage_expected
    for name, result in harm_results.items():
        headline.update({f"{name}_{k}": v for k, v in result.headline.items()})
    benefit = _benefit_harm(estimator, harms or {}, data, options, ranking, expected, table_means)
    if benefit is not None:
        for policy_name, value in benefit.overall.regret.items():
            headline[f"net_benefit_regret_{policy_name}"] = value
        headline["probability_best_ece"] = benefit.probability_best.ece
        if benefit.probability_best_expected is not None:
            headline["probability_best_ece_expected"] = benefit.probability_best_expected.ece
        headline["best_in_first_group"] = benefit.best_in_first_group
        headline["first_group_size"] = benefit.first_group_size
    return EvaluationResult(
        n_test=len(p),
        option_ids=options,
        per_option=tuple(per_option),
        policy=policy,
        policy_share=policy_share,
        reference_option=reference,
        oracle=oracle,
        oracle_observed_regret=observed_regret,
        oracle_best_single_option=oracle_single,
        oracle_best_single_regret=single_regret,
        oracle_dr_best_single_regret=dr_single_regret,
        oracle_usable=oracle_usable,
        oracle_all_usable_regret=all_usable_regret,
        true_policy_value=true_value,
        interval_coverage=coverage,
        interval_coverage_per_option=coverage_per_option,
        interval_mean_width=width,
        interval_coverage_expected=coverage_expected,
        interval_coverage_expected_per_option=expected_per_option,
        interval_alpha=interval_alpha,
        subgroups=subgroups,
        headline=headline,
        harms=harm_results,
        benefit_harm=benefit,
    )


def _reference_option(config: EvaluationConfig, options: Sequence[str], treatment: np.ndarray) -> str:
    """The option effects (sqrt-PEHE) are measured against: the configured one, else the most given one."""
    if config.reference_option is not None and config.reference_option in options:
        return config.reference_option
    counts = pd.Series(np.asarray(treatment, dtype=object)).value_counts()
    given = [o for o in counts.index if o in options]
    return str(given[0]) if given else str(options[0])


# ------------------------------------------------------------------------------------------ benefit and harm

GUIDELINE_FIRST_LINE_FOR_ALL = "guideline_first_line_for_all"
#: a first-line option of the patient's table taken at random (the mean over its usable first-line options)
GUIDELINE_FIRST_LINE_ANY = "guideline_first_line_any"
RESPONSE_ONLY = "response_only"


class PolicyRegret(FrozenModel):
    """Mean regret on the true net benefit (the best usable option's true net benefit minus the chosen one's) of
    the model's ranking under each policy and of the comparators, on one group of held-out patients."""

    n: int
    regret: dict[str, float]  # policy -> mean regret


class ProbabilityBestCalibration(FrozenModel):
    """The probability of being best against how often the option was truly best (the highest true net benefit of
    the usable options), over every held-out patient and usable option, in bins of the predicted probability."""

    ece: float
    bins_predicted: tuple[float, ...]
    bins_observed: tuple[float, ...]
    bins_count: tuple[int, ...]


class BenefitHarmEvaluation(FrozenModel):
    """The final ranking against the synthetic truth of net benefit (see :func:`benefit_harm_evaluation`)."""

    adverse_event_weight: float
    dropout_weight: float
    policies: tuple[str, ...]
    overall: PolicyRegret
    # per guideline table each patient's tiers come from (the recorded condition, or the pain type)
    by_table: dict[str, PolicyRegret]
    probability_best: ProbabilityBestCalibration
    # against the option with the highest EXPECTED true net benefit given the recorded inputs (estimated, see
    # expected_truth): what the probability is about, as the intervals are about E[p | x]; None without it
    probability_best_expected: ProbabilityBestCalibration | None = None
    best_in_first_group: float  # share of patients whose truly best usable option is in group 1
    first_group_size: float  # mean number of options in group 1
    first_line_choice: dict[str, str]  # table -> the first-line option the comparator gives everyone


def _tier_matrix(
    frame: pd.DataFrame, option_ids: Sequence[str], guidelines: Any
) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) guideline tier ranks (benefit_harm.TIER_ORDER) of every option for each patient's recorded condition
    (or pain type), and each patient's table label."""
    from precisionpain.benefit_harm import TIER_ORDER, table_key
    from precisionpain.schema import PainCondition, PainType

    conditions = frame["pain_condition"].astype(object) if "pain_condition" in frame.columns else None
    pain_types = frame["pain_type"].astype(object).to_numpy()
    n = len(frame)
    tiers = np.full((n, len(option_ids)), TIER_ORDER[None], dtype=np.int64)
    labels = np.empty(n, dtype=object)
    keys = list(
        zip(
            [
                None if conditions is None or pd.isna(c) else str(c)
                for c in (conditions if conditions is not None else [None] * n)
            ],
            [str(t) for t in pain_types],
            strict=True,
        )
    )
    cache: dict[tuple[str | None, str], tuple[np.ndarray, str]] = {}
    for i, key in enumerate(keys):
        if key not in cache:
            condition = PainCondition(key[0]) if key[0] is not None else None
            table = guidelines.table(condition, PainType(key[1]))
            row = np.array([TIER_ORDER.get(table[o].tier if o in table else None, 3) for o in option_ids])
            label = table_key(key[0], key[1])
            cache[key] = (row, label)
        tiers[i], labels[i] = cache[key]
    return tiers, labels


def benefit_harm_evaluation(
    p: Mapping[str, np.ndarray],
    replicates: Mapping[str, np.ndarray],
    truth: Mapping[str, np.ndarray],
    avoid: np.ndarray,
    tiers: np.ndarray,
    tables: np.ndarray,
    settings: Any,
    option_ids: Sequence[str],
    *,
    method: str,
    bins: int = 10,
    expected_truth: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    prior: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> BenefitHarmEvaluation:
    """Regret on the true net benefit (the spec's default weights) of: the model's ranking under the default
    policy and under each other policy, ranking by the estimated chance of response alone, and giving every
    patient the guideline's first-line option for their table (the one whose true net benefit is highest on
    average over that table's held-out patients, the next usable one when it is excluded: a generous baseline
    that knows the truth); overall and per table. Also the calibration of the probability of being best and how
    often the truly best option is in the first group. ``p``, ``replicates`` and ``truth`` are per outcome, (n, k)
    and (n, k, r) in one option order; ``avoid`` (n, k) the safety exclusions; ``tiers`` (n, k) tier ranks."""
    from precisionpain.benefit_harm import UtilityWeights, net_benefit, order_options, probability_best
    from precisionpain.models.outcomes import ALL_PATIENTS
    from precisionpain.schema import RankingPolicy

    weights = UtilityWeights(adverse_event=settings.adverse_event_weight, dropout=settings.dropout_weight)

    def nb(source: Mapping[str, np.ndarray]) -> np.ndarray:
        return net_benefit(source["response"], {o: v for o, v in source.items() if o != "response"}, weights)

    estimate, true_nb = nb(p), nb(truth)
    reps = nb(replicates)
    prior_nb = None if prior is None else {t: nb(by) for t, by in prior.items()}
    usable = ~avoid
    n = estimate.shape[0]
    best_true = np.where(usable, true_nb, -np.inf).max(axis=1)
    truly_best = np.where(usable, true_nb, -np.inf).argmax(axis=1)
    policies = (
        RankingPolicy.tier_then_net_benefit.value,
        RankingPolicy.net_benefit_only.value,
        RESPONSE_ONLY,
        GUIDELINE_FIRST_LINE_FOR_ALL,
        GUIDELINE_FIRST_LINE_ANY,
    )
    chosen = {name: np.zeros(n, dtype=np.int64) for name in policies}
    chosen[RankingPolicy.net_benefit_only.value] = np.where(usable, estimate, -np.inf).argmax(axis=1)
    chosen[RESPONSE_ONLY] = np.where(usable, p["response"], -np.inf).argmax(axis=1)
    # the guideline comparator: per table, options by (tier, -mean true net benefit of the table's patients)
    first_line_order: dict[str, np.ndarray] = {}
    for label in pd.unique(tables):
        rows = tables == label
        mean_true = true_nb[rows].mean(axis=0)
        first_line_order[str(label)] = np.lexsort((-mean_true, tiers[rows][0]))
    first_line_choice: dict[str, str] = {}
    predicted_best: list[float] = []
    observed_best: list[float] = []
    best_positions: list[int] = []  # the patient of each entry of predicted_best
    any_first_regret = np.full(n, np.nan)
    in_first = np.zeros(n, dtype=bool)
    first_size = np.zeros(n)
    confidence = float(settings.confidence)
    for i in range(n):
        ok = np.flatnonzero(usable[i])
        if ok.size == 0:
            continue
        order = first_line_order[str(tables[i])]
        chosen[GUIDELINE_FIRST_LINE_FOR_ALL][i] = next(j for j in order if usable[i, j])
        own_prior = None
        if prior_nb is not None:
            found = prior_nb.get(str(tables[i]), prior_nb.get(ALL_PATIENTS))
            own_prior = None if found is None else found[ok]
        tiered = order_options(
            estimate[i, ok], reps[i, ok], _tiers_of(tiers[i, ok]), RankingPolicy.tier_then_net_benefit,
            method=method, confidence=confidence, prior=own_prior,
        )  # fmt: skip
        chosen[RankingPolicy.tier_then_net_benefit.value][i] = ok[tiered.order[0]]
        first = [ok[j] for j, g in zip(tiered.order, tiered.groups, strict=True) if g == 1]
        in_first[i] = truly_best[i] in first
        first_size[i] = len(first)
        best = probability_best(estimate[i, ok], reps[i, ok], method)
        predicted_best.extend(best.tolist())
        observed_best.extend((ok == truly_best[i]).astype(float).tolist())
        best_positions.extend([i] * ok.size)
        firsts = [j for j in ok if tiers[i, j] == tiers[i, ok].min()]
        any_first_regret[i] = float(np.mean(best_true[i] - true_nb[i, firsts]))
    for label, order in first_line_order.items():
        first_line_choice[label] = str(option_ids[int(order[0])])
    has = usable.any(axis=1)

    def regret(rows: np.ndarray) -> PolicyRegret:
        take = rows & has
        idx = np.flatnonzero(take)
        out = {
            name: float((best_true[idx] - true_nb[idx, chosen[name][idx]]).mean())
            if idx.size
            else float("nan")
            for name in policies
            if name != GUIDELINE_FIRST_LINE_ANY
        }
        out[GUIDELINE_FIRST_LINE_ANY] = float(any_first_regret[idx].mean()) if idx.size else float("nan")
        return PolicyRegret(n=int(take.sum()), regret=out)

    pred = np.asarray(predicted_best)
    positions = np.asarray(best_positions, dtype=np.int64)
    calibration = _reliability(pred, np.asarray(observed_best), bins)
    calibration_expected = None
    if expected_truth is not None:
        rows = next(iter(expected_truth.values()))[0]
        expected_nb = np.full(true_nb.shape, np.nan)
        expected_nb[rows] = nb({o: v[1] for o, v in expected_truth.items()})
        sampled = np.zeros(n, dtype=bool)
        sampled[rows] = True
        best_expected = np.where(usable, np.nan_to_num(expected_nb, nan=-np.inf), -np.inf).argmax(axis=1)
        keep = sampled[positions]
        option_of = np.concatenate([np.flatnonzero(usable[i]) for i in range(n) if usable[i].any()])
        calibration_expected = _reliability(
            pred[keep], (option_of[keep] == best_expected[positions[keep]]).astype(float), bins
        )
    return BenefitHarmEvaluation(
        adverse_event_weight=weights.adverse_event,
        dropout_weight=weights.dropout,
        policies=policies,
        overall=regret(np.ones(n, dtype=bool)),
        by_table={str(label): regret(tables == label) for label in sorted(pd.unique(tables), key=str)},
        probability_best=calibration,
        probability_best_expected=calibration_expected,
        best_in_first_group=float(in_first[has].mean()) if has.any() else float("nan"),
        first_group_size=float(first_size[has].mean()) if has.any() else float("nan"),
        first_line_choice=first_line_choice,
    )


def _reliability(predicted: np.ndarray, observed: np.ndarray, bins: int) -> ProbabilityBestCalibration:
    """Stated probabilities against outcomes in ``bins`` equal-width bins, and the count-weighted mean gap (ECE)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    sum_p = np.bincount(which, weights=predicted, minlength=bins)
    sum_o = np.bincount(which, weights=observed, minlength=bins)
    nonzero = count > 0
    return ProbabilityBestCalibration(
        ece=float(np.abs(sum_p[nonzero] - sum_o[nonzero]).sum() / max(int(count.sum()), 1)),
        bins_predicted=tuple(float(x) for x in sum_p[nonzero] / count[nonzero]),
        bins_observed=tuple(float(x) for x in sum_o[nonzero] / count[nonzero]),
        bins_count=tuple(int(c) for c in count[nonzero]),
    )


def _benefit_harm(
    estimator: Any,
    harms: Mapping[str, Any],
    data: HeldOut,
    options: Sequence[str],
    ranking: Any,
    expected: Mapping[str, tuple[np.ndarray, np.ndarray]],
    table_means: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
) -> BenefitHarmEvaluation | None:
    """The final ranking's evaluation on the true net benefit, when the data and the models allow it: the truth of
    every outcome, the harm models, replicates (intervals) and the patients' guideline tiers."""
    from precisionpain.benefit_harm import RankingSettings
    from precisionpain.models.outcomes import predict_in_order

    models = {"response": estimator, **harms}
    if (
        data.true_p is None
        or data.tiers is None
        or data.tables is None
        or any(h not in data.harm_true_p for h in harms)
        or any(getattr(m, "interval_method", "none") == "none" for m in models.values())
    ):
        return None
    p = {o: predict_in_order(m, data.X, options) for o, m in models.items()}
    replicates = {}
    for o, m in models.items():
        own = [str(x) for x in m.options_]
        replicates[o] = m.predict_replicates(data.X)[:, [own.index(x) for x in options], :]
    truth = {"response": data.true_p, **{o: data.harm_true_p[o] for o in harms}}
    have = all(o in expected for o in models)
    return benefit_harm_evaluation(
        p,
        replicates,
        truth,
        data.avoid,
        data.tiers,
        data.tables,
        ranking or RankingSettings(),
        options,
        method=str(estimator.interval_method),
        expected_truth={o: expected[o] for o in models} if have else None,
        prior=_priors(table_means, estimator, options) if table_means else None,
    )


def _priors(
    table_means: Mapping[str, Mapping[str, Sequence[float]]], estimator: Any, options: Sequence[str]
) -> dict[str, dict[str, np.ndarray]]:
    """The package's table means (in the estimator's option order) in ``options`` order, as arrays."""
    own = [str(o) for o in estimator.options_]
    idx = [own.index(o) for o in options]
    return {
        t: {o: np.asarray(v, dtype=np.float64)[idx] for o, v in by.items()} for t, by in table_means.items()
    }


def _tiers_of(ranks: np.ndarray) -> list[Any]:
    """Tier ranks back to tiers (for order_options)."""
    from precisionpain.benefit_harm import TIER_ORDER

    back = {v: t for t, v in TIER_ORDER.items() if t is not None}
    return [back.get(int(r)) for r in ranks]
