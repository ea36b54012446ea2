"""The model card (Mitchell et al. 2019, arXiv 1810.03993), written from a training run's own figures."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from precisionpain.schema import ModelSummary, Outcome, OutcomeDefinition, SubgroupGap

if TYPE_CHECKING:  # imported on use, so the report can read the figures' meanings without the training stack
    from precisionpain.models.config import TrainConfig
    from precisionpain.models.evaluation import EvaluationResult
    from precisionpain.models.package import PackageMetadata

LIMITATIONS = (
    "Trained on a synthetic cohort by default: its figures show that the pipeline recovers a known truth, not "
    "how the model performs on real patients. Validate on local data before clinical use.",
    "Observational training data: who received which option was confounded; estimates for options rarely given "
    "to patients like this one are less certain (see the overlap diagnostics).",
    "Response means a >=30% drop in 0-10 pain at 12 weeks; it does not capture function, adverse events, cost "
    "or patient preference.",
    "CPIC guidance is applied as published (CPIC database v1.30.0 tables); drug-drug interactions, renal and "
    "hepatic function are not modelled.",
    "The interval shown with each probability is for the expected response of patients with the same recorded "
    "data: it reflects estimation error, not the variation between such patients that unrecorded factors cause, "
    "so one patient's own response probability often lies outside it.",
    "The recommendation supports and does not replace clinical judgment.",
)

INTERVAL_NOTE = (
    "On the synthetic cohort, where each patient's true response probability is known, that probability "
    "includes unrecorded patient effects that no model of the recorded data can see; the interval's coverage of "
    "it is therefore far below nominal. Against the quantity the interval estimates (the expected response "
    "given the recorded data, approximated by a regression of the true probabilities on a million further "
    "synthetic patients) the fold-jackknife intervals covered 0.84 for a nominal 0.90 (experiments/"
    "interval_coverage). Widening them by the jackknife bias estimate raised that to 0.96 at 1.8 times the "
    "width, so the default was kept; single binary outcomes cannot identify the rest."
)


# ------------------------------------------------------------------------------------ validation figures

#: the groups of the validation table, in the order a clinician reads them
VALIDATION_GROUPS = ("Discrimination", "Calibration", "Ranking quality", "Policy value", "Subgroups")

#: how a figure reads: a share or rate (percent), a size of a difference of probabilities (percentage points),
#: a signed gain in percentage points, a score on its own scale, or yes/no
MetricKind = Literal["rate", "points", "gain", "score", "yes_no"]


@dataclass(frozen=True)
class MetricMeaning:
    """A validation figure for a clinician: its group, a plain name, what it means in one line, how it reads."""

    group: str
    name: str
    meaning: str
    kind: MetricKind


#: every figure a training run records (``EvaluationResult.headline``), in the table's order; a figure's
#: ``<key>_ci_low`` and ``<key>_ci_high`` are its interval and are shown with it
VALIDATION_METRICS: dict[str, MetricMeaning] = {
    "auc_mean": MetricMeaning(
        "Discrimination",
        "Discrimination (AUC), average over options",
        "How well the estimates separate patients who responded from those who did not: 0.5 is chance, 1 is "
        "perfect.",
        "score",
    ),
    "auc_min": MetricMeaning(
        "Discrimination",
        "Discrimination (AUC), weakest option",
        "The same, for the option where it is lowest.",
        "score",
    ),
    "ece_mean": MetricMeaning(
        "Calibration",
        "Calibration error, average over options",
        "Average gap between the estimated chance of response and the response rate observed in patients "
        "given that estimate (0 is perfect).",
        "points",
    ),
    "ece_max": MetricMeaning(
        "Calibration",
        "Calibration error, worst option",
        "The largest such gap among the options.",
        "points",
    ),
    "ece_noise_floor_max": MetricMeaning(
        "Calibration",
        "Calibration error expected from chance alone, worst option",
        "The gap a perfectly calibrated model would still show on this few patients.",
        "points",
    ),
    "ece_excess_max": MetricMeaning(
        "Calibration",
        "Calibration error beyond chance, worst option",
        "How far the worst gap exceeds what chance alone explains.",
        "points",
    ),
    "ece_true_max": MetricMeaning(
        "Calibration",
        "Calibration error against the true chance, worst option (synthetic data)",
        "Gap between the estimates and the simulated patients' true chance of response, among patients who "
        "received the option.",
        "points",
    ),
    "ece_true_mean": MetricMeaning(
        "Calibration",
        "Calibration error against the true chance, average over options (synthetic data)",
        "The same gap averaged over the options: steadier than the worst option, which is mostly the option "
        "whose patients' outcomes happened to stray furthest from their true chance.",
        "points",
    ),
    "ece_true_all_max": MetricMeaning(
        "Calibration",
        "Calibration error against the true chance in all patients, worst option (synthetic data)",
        "The same over every held-out patient, whichever option they received.",
        "points",
    ),
    "ece_true_floor_max": MetricMeaning(
        "Calibration",
        "Floor of the calibration error against the true chance, worst option (synthetic data)",
        "What that error would be for a model exactly right on average for each kind of patient: each patient's "
        "own true chance differs from that average by effects the inputs do not record, and a few hundred "
        "patients per bin cannot average that away.",
        "points",
    ),
    "ece_true_floor_mean": MetricMeaning(
        "Calibration",
        "Floor of the calibration error against the true chance, average over options (synthetic data)",
        "The same floor averaged over the options, to read beside the average error.",
        "points",
    ),
    "brier_mean": MetricMeaning(
        "Calibration",
        "Brier score, average over options",
        "Mean squared difference between estimate and outcome (lower is better; always guessing 50% scores "
        "0.25).",
        "score",
    ),
    "log_loss_mean": MetricMeaning(
        "Calibration",
        "Log loss, average over options",
        "Penalty that grows with confident wrong estimates (lower is better).",
        "score",
    ),
    "interval_coverage": MetricMeaning(
        "Calibration",
        "Intervals that contain the true chance (synthetic data)",
        "Share of patients whose true chance of response lies inside the interval shown with the estimate "
        "(see the limitations).",
        "rate",
    ),
    "interval_coverage_expected": MetricMeaning(
        "Calibration",
        "Intervals that contain the expected chance given the recorded data (synthetic data)",
        "What the interval is for: the share of patients for whom it contains the expected chance of response of "
        "patients with the same recorded data (estimated; nominally the interval's level, e.g. 90%).",
        "rate",
    ),
    "interval_mean_width": MetricMeaning(
        "Calibration",
        "Average interval width",
        "Average distance between the lower and upper end of the interval.",
        "points",
    ),
    "top1_agreement": MetricMeaning(
        "Ranking quality",
        "Top option is the truly best option (synthetic data)",
        "Share of patients whose first-ranked usable option is the one with the highest true chance of "
        "response.",
        "rate",
    ),
    "kendall_tau": MetricMeaning(
        "Ranking quality",
        "Agreement with the true order of options (Kendall tau, synthetic data)",
        "From -1 (reversed) through 0 (unrelated) to 1 (the same order).",
        "score",
    ),
    "regret": MetricMeaning(
        "Ranking quality",
        "Chance of response lost by following the ranking (regret, synthetic data)",
        "Average loss in true chance of response from taking the top option instead of the truly best one "
        "(lower is better).",
        "points",
    ),
    "regret_best_single_option": MetricMeaning(
        "Ranking quality",
        "Chance lost by giving everyone the truly best single option (synthetic data)",
        "The same loss if every patient got the one option that is best on average.",
        "points",
    ),
    "regret_dr_best_single_option": MetricMeaning(
        "Ranking quality",
        "Chance lost by giving everyone the option estimated best on average (synthetic data)",
        "The same loss for the single option the policy estimate below picks.",
        "points",
    ),
    "regret_usable": MetricMeaning(
        "Ranking quality",
        "Chance lost by following the ranking, against the best allowed option (synthetic data)",
        "Average loss in true chance of response from taking the top option instead of the truly best option "
        "the medication safety rules allow, for patients with at least one allowed option.",
        "points",
    ),
    "top1_agreement_usable": MetricMeaning(
        "Ranking quality",
        "Top option is the truly best allowed option (synthetic data)",
        "Share of patients whose first-ranked usable option is the allowed option with the highest true chance "
        "of response.",
        "rate",
    ),
    "regret_best_single_option_usable": MetricMeaning(
        "Ranking quality",
        "Chance lost by one fixed order of options for everyone under the same rules (synthetic data)",
        "The same loss against the best allowed option if every patient got the first allowed option of one "
        "fixed order, the order that does best.",
        "points",
    ),
    "regret_all_usable": MetricMeaning(
        "Ranking quality",
        "Chance lost by the top option if every option were allowed (synthetic data)",
        "The loss against the truly best option if the medication safety rules excluded nothing.",
        "points",
    ),
    "regret_best_single_option_all_usable": MetricMeaning(
        "Ranking quality",
        "Chance lost by the truly best single option if every option were allowed (synthetic data)",
        "The same loss for the one option that is best on average; the figure to set against the one above.",
        "points",
    ),
    "regret_observed_policy": MetricMeaning(
        "Ranking quality",
        "Chance lost with the treatments actually given (synthetic data)",
        "The same loss for the options the simulated prescribers chose.",
        "points",
    ),
    "net_benefit_regret_tier_then_net_benefit": MetricMeaning(
        "Ranking quality",
        "Net benefit lost by following the ranking (synthetic data)",
        "Average loss in true net benefit (chance of response less the weighted chance of stopping for side "
        "effects) from taking the top option instead of the truly best usable one (lower is better).",
        "points",
    ),
    "net_benefit_regret_net_benefit_only": MetricMeaning(
        "Ranking quality",
        "Net benefit lost ranking by net benefit alone, without the guideline tiers (synthetic data)",
        "The same loss if the tiers did not come first.",
        "points",
    ),
    "net_benefit_regret_response_only": MetricMeaning(
        "Ranking quality",
        "Net benefit lost ranking by the chance of response alone (synthetic data)",
        "The same loss if the side effects were ignored.",
        "points",
    ),
    "net_benefit_regret_guideline_first_line_for_all": MetricMeaning(
        "Ranking quality",
        "Net benefit lost giving everyone the guideline's first-line option (synthetic data)",
        "The same loss if every patient got their condition's first-line option that does best on average.",
        "points",
    ),
    "net_benefit_regret_guideline_first_line_any": MetricMeaning(
        "Ranking quality",
        "Net benefit lost giving everyone one of the guideline's first-line options (synthetic data)",
        "The same loss, averaged over the first-line options a patient could be given.",
        "points",
    ),
    "probability_best_ece_expected": MetricMeaning(
        "Ranking quality",
        "Calibration of the chance of being the best option, for patients with the same recorded data (synthetic "
        "data)",
        "The same gap against the option that is best on average for patients with the same recorded data, which "
        "is what the chance is about (estimated).",
        "points",
    ),
    "probability_best_ece": MetricMeaning(
        "Ranking quality",
        "Calibration of the chance of being the best option (synthetic data)",
        "Average gap between the stated chance that an option has the highest net benefit and how often it truly "
        "had (0 is perfect).",
        "points",
    ),
    "best_in_first_group": MetricMeaning(
        "Ranking quality",
        "Truly best option among the 'equally good choices' (synthetic data)",
        "Share of patients whose truly best usable option is in the first group of the ranking.",
        "rate",
    ),
    "first_group_size": MetricMeaning(
        "Ranking quality",
        "Options in the first group, on average",
        "How many options the ranking cannot tell apart from the best, on average.",
        "score",
    ),
    "sqrt_pehe_mean": MetricMeaning(
        "Ranking quality",
        "Error in the estimated difference between options (synthetic data)",
        "Typical error of the estimated difference in chance of response between an option and the reference"
        " option (square root of PEHE).",
        "points",
    ),
    "dr_policy_value": MetricMeaning(
        "Policy value",
        "Response rate if the top option is followed",
        "Estimated share of patients who would respond if each took their top usable option (doubly robust "
        "estimate, with its interval).",
        "rate",
    ),
    "ipw_policy_value": MetricMeaning(
        "Policy value",
        "Response rate if the top option is followed, second estimate",
        "The same, estimated by weighting each patient by how rarely patients like them got their option "
        "(inverse-propensity estimate, with its interval).",
        "rate",
    ),
    "observed_policy_value": MetricMeaning(
        "Policy value",
        "Response rate with the treatments actually given",
        "Share of held-out patients who responded to the option they received.",
        "rate",
    ),
    "best_single_option_dr_value": MetricMeaning(
        "Policy value",
        "Response rate if everyone got the best single option",
        "Estimated share responding if every patient got the one option that is best on average (doubly "
        "robust estimate).",
        "rate",
    ),
    "best_single_option_ipw_value": MetricMeaning(
        "Policy value",
        "Response rate if everyone got the best single option, second estimate",
        "The same, by the inverse-propensity estimate.",
        "rate",
    ),
    "dr_gain_vs_observed": MetricMeaning(
        "Policy value",
        "Gain over the treatments actually given",
        "Response rate following the ranking minus the rate with the treatments actually given.",
        "gain",
    ),
    "dr_gain_vs_best_single": MetricMeaning(
        "Policy value",
        "Gain over the best single option",
        "Response rate following the ranking minus the rate if everyone got the best single option.",
        "gain",
    ),
    "true_policy_value": MetricMeaning(
        "Policy value",
        "True response rate if the top option is followed (synthetic data)",
        "What the simulated patients' true chances of response give for the same rule.",
        "rate",
    ),
    "dr_ci_covers_true_value": MetricMeaning(
        "Policy value",
        "Estimate's interval contains the true response rate (synthetic data)",
        "Whether the interval of the first estimate above contains the true value.",
        "yes_no",
    ),
}

INTERVAL_SUFFIXES = ("_ci_low", "_ci_high")
_SUBGROUP_GAP = re.compile(r"subgroup_([a-z0-9_]+)_(auc|ece|calibration)_gap")
#: The audit's figures per group: discrimination, calibration error, and mean predicted minus observed (a group
#: whose estimates run high or low as a whole, which a calibration error pooled over bins can hide).
SUBGROUP_METRICS = {"auc": "auc", "ece": "ece", "calibration": "calibration_in_the_large"}


#: a harm outcome's figures: ``<outcome>_<figure>`` (e.g. ``adverse_event_auc_mean``)
_HARM_METRIC = re.compile(r"(adverse_event|dropout)_([a-z_0-9]+)")
_HARM_WORDS = {"adverse_event": "stopping for side effects", "dropout": "stopping early (any reason)"}


def _harm_meaning(key: str) -> MetricMeaning | None:
    found = _HARM_METRIC.fullmatch(key)
    if found is None or found.group(2) not in VALIDATION_METRICS:
        return None
    base = VALIDATION_METRICS[found.group(2)]
    words = _HARM_WORDS[found.group(1)]
    meaning = base.meaning.replace("responded", "stopped").replace("response", words)
    return MetricMeaning(base.group, f"{base.name}: {words}", meaning, base.kind)


def metric_meaning(key: str) -> MetricMeaning | None:
    """The plain-language meaning of a validation figure (an interval bound has its figure's meaning); None for
    a key this version does not know."""
    harm = _harm_meaning(key)
    if harm is not None:
        return harm
    for suffix in INTERVAL_SUFFIXES:
        if key.endswith(suffix) and key.removesuffix(suffix) in VALIDATION_METRICS:
            return VALIDATION_METRICS[key.removesuffix(suffix)]
    if key in VALIDATION_METRICS:
        return VALIDATION_METRICS[key]
    found = _SUBGROUP_GAP.fullmatch(key)
    if found is None:
        return None
    factor, metric = found.group(1).replace("_", " "), found.group(2)
    if metric == "auc":
        return MetricMeaning(
            "Subgroups",
            f"Largest difference in discrimination (AUC) between {factor} groups",
            "Between groups of at least 30 patients; a large difference means the estimates separate responders "
            "better in some groups than in others.",
            "score",
        )
    if metric == "calibration":
        return MetricMeaning(
            "Subgroups",
            f"Largest difference in mean estimate minus observed response between {factor} groups",
            "Between groups of at least 30 patients; a large difference means the estimates run high in some "
            "groups and low in others (what a difference the model cannot see, such as ancestry, leaves).",
            "points",
        )
    return MetricMeaning(
        "Subgroups",
        f"Largest difference in calibration error between {factor} groups",
        "Between groups of at least 30 patients; a large difference means the estimates are more trustworthy in "
        "some groups than in others.",
        "points",
    )


@dataclass(frozen=True)
class ValidationRow:
    key: str
    name: str
    meaning: str
    kind: MetricKind
    value: float
    low: float | None = None  # the figure's interval, when the run recorded one
    high: float | None = None


@dataclass(frozen=True)
class ValidationGroup:
    title: str
    rows: tuple[ValidationRow, ...]


def validation_table(metrics: Mapping[str, float]) -> tuple[ValidationGroup, ...]:
    """The figures grouped (:data:`VALIDATION_GROUPS`) and ordered as :data:`VALIDATION_METRICS` lists them,
    subgroups by factor; each interval shown with its own figure. Non-finite figures, and keys this version
    has no plain name for, are left out."""
    order = {key: i for i, key in enumerate(VALIDATION_METRICS)}
    rows: dict[str, list[tuple[tuple[int, str], ValidationRow]]] = {g: [] for g in VALIDATION_GROUPS}
    for key, value in metrics.items():
        meaning = metric_meaning(key)
        if meaning is None or key.endswith(INTERVAL_SUFFIXES) or not math.isfinite(value):
            continue
        low, high = metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high")
        bounds_ok = low is not None and high is not None and math.isfinite(low) and math.isfinite(high)
        row = ValidationRow(
            key,
            meaning.name,
            meaning.meaning,
            meaning.kind,
            value,
            low if bounds_ok else None,
            high if bounds_ok else None,
        )
        rows[meaning.group].append(((order.get(key, len(order)), key), row))
    return tuple(
        ValidationGroup(title, tuple(row for _, row in sorted(found, key=lambda item: item[0])))
        for title, found in rows.items()
        if found
    )


# ------------------------------------------------------------------------------------ the model card


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def subgroup_gaps(evaluation: EvaluationResult) -> tuple[SubgroupGap, ...]:
    """Largest AUC, ECE and mean-estimate-minus-observed gap per factor, with each group's value. Groups whose
    metric is undefined (one outcome class) are left out, and so is a gap that cannot be computed (fewer than two
    sizeable groups), so the result always round-trips through JSON."""
    gaps = []
    for factor, report in evaluation.subgroups.items():
        for metric, field in SUBGROUP_METRICS.items():
            gap = float(getattr(report, f"{field}_gap"))
            if not math.isfinite(gap):
                continue
            values = {g: float(getattr(m, field)) for g, m in report.groups.items()}
            gaps.append(
                SubgroupGap(
                    factor=factor,
                    metric=metric,
                    largest_gap=gap,
                    groups={g: v for g, v in values.items() if math.isfinite(v)},
                )
            )
    return tuple(gaps)


def model_summary(
    metadata: PackageMetadata,
    *,
    version: str = "",
    alias: str = "",
    limitations: tuple[str, ...] = LIMITATIONS,
) -> ModelSummary:
    """What reports and DescribeModel show about a model, from its package metadata."""
    from precisionpain.models.outcomes import OUTCOME_DEFINITIONS, OUTCOME_LABELS, harm_definition
    from precisionpain.models.package import INTENDED_USE

    definitions: dict[str, str] = {
        "response": metadata.outcome.definition or OUTCOME_DEFINITIONS["response"],
        **{h.name: harm_definition(h) for h in metadata.harms},
    }
    return ModelSummary(
        model_name=metadata.registered_model,
        model_version=version,
        model_alias=alias,
        run_id=metadata.run_id,
        trained_at=metadata.trained_at,
        strategy=metadata.strategy,
        intended_use=metadata.intended_use or INTENDED_USE,
        training_data=metadata.training_data,
        synthetic_training_data="synthetic" in metadata.training_data.lower(),
        validation_metrics=dict(metadata.headline_metrics),
        subgroup_gaps=metadata.subgroup_gaps,
        limitations=limitations,
        outcomes=tuple(
            OutcomeDefinition(outcome=Outcome(o), label=OUTCOME_LABELS[o], definition=definitions[o])
            for o in metadata.outcomes
        ),
    )


def harm_text(config: TrainConfig, name: str) -> str:
    from precisionpain.models.outcomes import harm_definition

    return harm_definition(config.harm(name)) + f"; column `{config.harm(name).column}`"


def _auto_lines(chosen: str, scores: Mapping[str, float] | None, *, shrunk: bool = False) -> list[str]:
    if not scores:
        return []
    if shrunk:
        from precisionpain.models.estimator import SHRUNK_SUFFIX

        chosen += SHRUNK_SUFFIX
    shown = ", ".join(
        f"`{c}` {v:.4f}" + (f" (+-{scores[c + '_se']:.4f} vs `t_learner`)" if c + "_se" in scores else "")
        for c, v in scores.items()
        if not c.endswith("_se")
    )
    return [
        f"- Strategy chosen by `strategy: auto`: `{chosen}`, by the doubly robust value of each candidate's top-1 "
        f"rule, cross-fitted on two halves of the training patients: {shown}. The best score is chosen (the "
        "+- is the standard error of each candidate's paired difference to `t_learner`)."
    ]


def model_card(
    config: TrainConfig,
    evaluation: EvaluationResult,
    metadata: PackageMetadata,
    overlap: Mapping[str, float],
    training_n: int,
    *,
    strategy_scores: Mapping[str, float] | None = None,
    shrinkage: str | None = None,
) -> str:
    """Markdown model card with the sections of Mitchell et al. 2019, filled from this run; ``strategy_scores``:
    the candidates' scores when ``strategy: auto`` chose the strategy; ``shrinkage``: the account of the
    shrinkage applied, when there was one."""
    from precisionpain.models.package import INTENDED_USE

    h = evaluation.headline
    alpha_pct = round((1 - config.evaluation.alpha) * 100)
    lines = [
        f"# Model card: {metadata.registered_model}",
        "",
        "## Model details",
        f"- Developed by the PrecisionPain project; code version {metadata.code_version}"
        + (f", commit {metadata.git_commit}" if metadata.git_commit else "")
        + ".",
        f"- Trained {metadata.trained_at} in MLflow experiment `{config.experiment}`, run `{metadata.run_id}`; "
        f"registered as one model version holding every option's booster.",
        f"- One gradient-boosted (XGBoost) model per treatment option ({len(metadata.option_ids)} options), "
        f"strategy `{metadata.strategy}`, calibration `{config.model.calibration}` "
        + ("chosen" if config.model.calibration == "auto" else "fitted")
        + f" per option on out-of-fold predictions ({config.model.n_folds} folds), "
        f"`{config.model.interval.method}` intervals at "
        f"{1 - config.model.interval.alpha:.0%}; a multinomial logistic propensity model for overlap diagnostics "
        "and policy evaluation.",
        *_auto_lines(metadata.strategy, strategy_scores, shrunk=shrinkage is not None),
        *([f"- Shrinkage: {shrinkage}."] if shrinkage else []),
        *(
            [
                f"- Each option's booster starts from a first stage on {len(config.model.first_stage_features)} "
                f"features alone ({', '.join(config.model.first_stage_features)}; leaves shrunk by lambda "
                f"{config.model.first_stage_lambda:g}); the usual booster is a correction to it."
            ]
            if config.model.first_stage_features
            else []
        ),
        f"- Features: {len(metadata.feature_ids)} from catalog {metadata.catalog_id} v{metadata.catalog_version} "
        f"(sha256 {metadata.catalog_sha256[:12]}...).",
        "- Model card format: Mitchell et al. 2019, Model Cards for Model Reporting (arXiv:1810.03993).",
        "- Licence: Apache-2.0. Contact: the project's issue tracker.",
        "",
        "## Intended use",
        f"- Primary use: {metadata.intended_use or INTENDED_USE}",
        "- Primary users: clinicians and clinical decision-support systems, who see every input, the CPIC "
        "guidance and the explanation behind each estimate.",
        "- Out of scope: acute or cancer pain, children, emergencies, autonomous prescribing, patient-facing use.",
        "",
        "## Factors",
        "- Evaluated by sex, CPIC biogeographic group and age band (subgroup table below).",
        "- Pharmacogenomic phenotypes (CYP2D6, CYP2C9, CYP2C19, HLA) change both predictions and CPIC rules.",
        "",
        "## Metrics",
        "- Per option on the held-out patients who received it: AUC, Brier score, log loss, expected calibration "
        f"error (ECE, {config.evaluation.calibration_bins} equal-count bins) with its sampling-noise floor (the ECE "
        "a perfectly calibrated model would show on the same patients).",
        "- Policy value of 'take the top usable option' (options the safety rules exclude, CPIC avoid included, are "
        "never chosen): "
        f"self-normalised IPW and doubly robust (AIPW) estimates with {alpha_pct}% percentile bootstrap intervals "
        f"({config.evaluation.n_bootstrap} resamples), against the observed prescriber policy and the best single "
        "option for everyone.",
        "- On synthetic data with known potential outcomes: regret, top-1 agreement with the oracle, Kendall tau "
        f"of the ranking, sqrt-PEHE per option against {evaluation.reference_option}, ECE against the true "
        f"probabilities, and coverage of the {1 - evaluation.interval_alpha:.0%} intervals.",
        "",
        "## Evaluation data",
        f"- Held-out {config.split.test_fraction:.0%} of patients (split by `{config.split.group_column}`, seed "
        f"{config.split.seed}); n = {evaluation.n_test:,}.",
        "",
        "## Training data",
        f"- {metadata.training_data}; n = {training_n:,}. Data fingerprint {metadata.data_fingerprint[:16]}...",
        f"- Outcome: {config.outcome.definition} (column `{config.outcome.column}`).",
        "",
        "## Quantitative analyses",
        "",
        "| option | n | AUC | Brier | log loss | ECE | ECE noise floor | ECE vs truth | its floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for opt in evaluation.per_option:
        m = opt.metrics
        lines.append(
            f"| {opt.option_id} | {m.n:,} | {_fmt(m.auc)} | {_fmt(m.brier)} | {_fmt(m.log_loss)} | {_fmt(m.ece)} "
            f"| {_fmt(opt.ece_noise_floor)} | {_fmt(opt.ece_true)} | {_fmt(opt.ece_true_floor)} |"
        )
    pol = evaluation.policy
    lines += [
        "",
        f"| policy | DR value | {alpha_pct}% CI | IPW value | {alpha_pct}% CI |",
        "|---|---:|---|---:|---|",
        f"| model's top usable option | {_fmt(pol.policy.dr.estimate)} | {_fmt(pol.policy.dr.ci_low)}-"
        f"{_fmt(pol.policy.dr.ci_high)} | {_fmt(pol.policy.ipw.estimate)} | {_fmt(pol.policy.ipw.ci_low)}-"
        f"{_fmt(pol.policy.ipw.ci_high)} |",
        f"| best single option ({pol.best_single_option}) | {_fmt(pol.best_single.dr.estimate)} | "
        f"{_fmt(pol.best_single.dr.ci_low)}-{_fmt(pol.best_single.dr.ci_high)} | "
        f"{_fmt(pol.best_single.ipw.estimate)} | {_fmt(pol.best_single.ipw.ci_low)}-"
        f"{_fmt(pol.best_single.ipw.ci_high)} |",
        f"| observed prescribers (mean outcome) | {_fmt(pol.observed.estimate)} | {_fmt(pol.observed.ci_low)}-"
        f"{_fmt(pol.observed.ci_high)} | | |",
    ]
    if evaluation.oracle is not None:
        usable_first = evaluation.oracle_usable.best_single_option if evaluation.oracle_usable else None
        lines += [
            "",
            "Against the synthetic truth:",
            f"- regret {_fmt(h.get('regret'))} (best single option for everyone "
            f"{_fmt(h.get('regret_best_single_option'))}, observed prescribers {_fmt(h.get('regret_observed_policy'))});",
            f"- like for like: with the same safety rules, against the best allowed option, regret "
            f"{_fmt(h.get('regret_usable'))} vs {_fmt(h.get('regret_best_single_option_usable'))} for the first "
            f"allowed option of one fixed order ({usable_first} first); with every option allowed, regret "
            f"{_fmt(h.get('regret_all_usable'))} vs {_fmt(h.get('regret_best_single_option_all_usable'))} for the "
            f"best single option ({evaluation.oracle_best_single_option});",
            f"- top-1 agreement {_fmt(h.get('top1_agreement'))}, Kendall tau {_fmt(h.get('kendall_tau'))}, mean "
            f"sqrt-PEHE {_fmt(h.get('sqrt_pehe_mean'))};",
            f"- true value of the model's policy {_fmt(h.get('true_policy_value'))} vs DR estimate "
            f"{_fmt(pol.policy.dr.estimate)} ({'inside' if h.get('dr_ci_covers_true_value') else 'outside'} its "
            "interval);",
            f"- ECE against the true probabilities: at most {_fmt(h.get('ece_true_max'))} over options, "
            f"{_fmt(h.get('ece_true_mean'))} on average"
            + (
                f" (a model exactly right on average would score up to {_fmt(h['ece_true_floor_max'])} for the "
                f"worst option and {_fmt(h.get('ece_true_floor_mean'))} on average, from the scatter of the "
                "patients' own true chances alone);"
                if h.get("ece_true_floor_max") is not None
                else ";"
            ),
        ]
        if evaluation.interval_coverage is not None:
            lines.append(
                f"- the {1 - evaluation.interval_alpha:.0%} intervals contain the expected probability given the "
                f"recorded inputs (what they estimate; estimated by a cross-fitted regression of the truth) "
                f"{_fmt(evaluation.interval_coverage_expected)} of the time, and each patient's own true "
                f"probability {_fmt(evaluation.interval_coverage)} (see the caveats)."
            )
    bh = evaluation.benefit_harm
    if bh is not None:
        policies = list(bh.policies)
        lines += [
            "",
            f"Net benefit (P(response) - {bh.adverse_event_weight:g} x P(adverse event)"
            + (f" - {bh.dropout_weight:g} x P(dropout)" if bh.dropout_weight else "")
            + "): regret on the true net benefit of the top option by policy, per guideline table of the recorded "
            "condition (the first-line comparator gives every patient of a table the first-line option with the "
            "highest mean true net benefit there):",
            "",
            "| table | n | " + " | ".join(policies) + " |",
            "|---|---:|" + "---:|" * len(policies),
        ]
        for label, found in (("all patients", bh.overall), *bh.by_table.items()):
            lines.append(
                f"| {label} | {found.n:,} | " + " | ".join(_fmt(found.regret[p]) for p in policies) + " |"
            )
        lines.append(
            f"\nProbability of being best: calibration error {_fmt(bh.probability_best.ece)}; the truly best usable "
            f"option is in the first group for {_fmt(bh.best_in_first_group)} of patients (mean group size "
            f"{_fmt(bh.first_group_size, 2)})."
        )
    lines += [
        "",
        "Subgroups (the predicted probability of the option received vs the outcome; gaps between groups of at "
        "least 30 patients):",
        "",
        "| factor | groups (AUC / ECE / mean estimate - observed) | AUC gap | ECE gap | estimate - observed gap |",
        "|---|---|---:|---:|---:|",
    ]
    for factor, report in evaluation.subgroups.items():
        groups = "; ".join(
            f"{g} {_fmt(m.auc, 2)} / {_fmt(m.ece, 2)} / {_fmt(m.calibration_in_the_large, 3)} (n {m.n:,})"
            for g, m in report.groups.items()
        )
        lines.append(
            f"| {factor} | {groups} | {_fmt(report.auc_gap)} | {_fmt(report.ece_gap)} "
            f"| {_fmt(report.calibration_in_the_large_gap)} |"
        )
    for name, harm in evaluation.harms.items():
        lines += [
            "",
            f"Harm outcome `{name}` ({harm_text(config, name)}), one model per option, on the held-out patients who "
            "received it:",
            "",
            "| option | n | events | AUC | Brier | ECE | ECE noise floor | ECE vs truth (all patients) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for opt in harm.per_option:
            m = opt.metrics
            lines.append(
                f"| {opt.option_id} | {m.n:,} | {m.prevalence * m.n:,.0f} | {_fmt(m.auc)} | {_fmt(m.brier)} "
                f"| {_fmt(m.ece)} | {_fmt(opt.ece_noise_floor)} | {_fmt(opt.ece_true_all)} |"
            )
        if harm.interval_coverage is not None:
            lines.append(
                f"\nIntervals containing the expected probability given the recorded inputs: "
                f"{_fmt(harm.interval_coverage_expected)}; each patient's own true probability: "
                f"{_fmt(harm.interval_coverage)} (nominal {1 - evaluation.interval_alpha:.2f})."
            )
    if overlap:
        lines += ["", "Overlap on the training data:"]
        lines += [f"- {k}: {_fmt(v)}" for k, v in overlap.items()]
    lines += [
        "",
        "## Ethical considerations",
        "- Biogeographic group is used only for CPIC population-specific guidance and subgroup evaluation, never "
        "as a model feature.",
        "- Patient identifiers are never logged; reports carry no identifiers.",
        "- PHQ-9 item 9 above 0 raises a critical safety flag whatever the ranking says.",
        "",
        "## Caveats and recommendations",
    ]
    lines += [f"- {text}" for text in LIMITATIONS]
    lines.append(f"- {INTERVAL_NOTE}")
    return "\n".join(lines) + "\n"
