"""The model card (Mitchell et al. 2019, arXiv 1810.03993), written from a training run's own figures."""

from __future__ import annotations

import math
from collections.abc import Mapping

from precisionpain.models.config import TrainConfig
from precisionpain.models.evaluation import EvaluationResult
from precisionpain.models.package import INTENDED_USE, PackageMetadata
from precisionpain.schema import ModelSummary, SubgroupGap

LIMITATIONS = (
    "Trained on a synthetic cohort by default: its figures show that the pipeline recovers a known truth, not "
    "how the model performs on real patients. Validate on local data before clinical use.",
    "Observational training data: who received which option was confounded; estimates for options rarely given "
    "to patients like this one are less certain (see the overlap diagnostics).",
    "Response means a >=30% drop in 0-10 pain at 12 weeks; it does not capture function, adverse events, cost "
    "or patient preference.",
    "CPIC guidance is applied as published (CPIC database v1.30.0 tables); drug-drug interactions, renal and "
    "hepatic function are not modelled.",
    "The recommendation supports and does not replace clinical judgment.",
)


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def subgroup_gaps(evaluation: EvaluationResult) -> tuple[SubgroupGap, ...]:
    gaps = []
    for factor, report in evaluation.subgroups.items():
        for metric in ("auc", "ece"):
            gaps.append(
                SubgroupGap(
                    factor=factor,
                    metric=metric,
                    largest_gap=float(getattr(report, f"{metric}_gap")),
                    groups={g: float(getattr(m, metric)) for g, m in report.groups.items()},
                )
            )
    return tuple(gaps)


def model_summary(
    metadata: PackageMetadata, *, version: str = "", alias: str = "", limitations: tuple[str, ...] = LIMITATIONS
) -> ModelSummary:
    """What reports and DescribeModel show about a model, from its package metadata."""
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
    )


def model_card(
    config: TrainConfig,
    evaluation: EvaluationResult,
    metadata: PackageMetadata,
    overlap: Mapping[str, float],
    training_n: int,
) -> str:
    """Markdown model card with the sections of Mitchell et al. 2019, filled from this run."""
    h = evaluation.headline
    lines = [
        f"# Model card: {metadata.registered_model}",
        "",
        "## Model details",
        f"- Developed by the PrecisionPain project; code version {metadata.code_version}"
        + (f", commit {metadata.git_commit}" if metadata.git_commit else "")
        + ".",
        f"- Trained {metadata.trained_at} in MLflow experiment `{config.experiment}`, run `{metadata.run_id}`.",
        f"- One gradient-boosted (XGBoost) model per treatment option ({len(metadata.option_ids)} options), "
        f"strategy `{metadata.strategy}`, calibrated on out-of-fold predictions; a multinomial propensity model "
        "for overlap diagnostics and policy evaluation.",
        f"- Features: {len(metadata.feature_ids)} from catalog {metadata.catalog_id} v{metadata.catalog_version} "
        f"(sha256 {metadata.catalog_sha256[:12]}...).",
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
        "- Per option on the patients who received it: AUC, Brier score, log loss, expected calibration error "
        f"(ECE, {config.evaluation.calibration_bins} quantile bins).",
        "- Policy value of 'take the top usable option' (options CPIC says to avoid are never chosen): "
        "self-normalised IPW and doubly robust (AIPW) estimates with "
        f"{int((1 - config.evaluation.alpha) * 100)}% bootstrap intervals ({config.evaluation.n_bootstrap} "
        "resamples), against the observed prescriber policy and the best single option for everyone.",
        "- On synthetic data with known potential outcomes: regret, top-1 agreement with the oracle, Kendall tau "
        f"of the ranking, sqrt-PEHE, and coverage of the {int((1 - evaluation.interval_alpha) * 100)}% intervals.",
        "",
        "## Evaluation data",
        f"- Held-out {config.split.test_fraction:.0%} of patients (split by patient, seed {config.split.seed}); "
        f"n = {evaluation.n_test:,}.",
        "",
        "## Training data",
        f"- {metadata.training_data}; n = {training_n:,}. Data fingerprint {metadata.data_fingerprint[:16]}...",
        f"- Outcome: {config.outcome.definition}.",
        "",
        "## Quantitative analyses",
        "",
        "| option | n | AUC | Brier | ECE |",
        "|---|---:|---:|---:|---:|",
    ]
    for opt in evaluation.per_option:
        m = opt.metrics
        lines.append(f"| {opt.option_id} | {m.n:,} | {_fmt(m.auc)} | {_fmt(m.brier)} | {_fmt(m.ece)} |")
    pol = evaluation.policy
    lines += [
        "",
        "| policy | DR value | 90% CI | IPW value |",
        "|---|---:|---|---:|",
        f"| model's top usable option | {_fmt(pol.policy.dr.estimate)} | {_fmt(pol.policy.dr.ci_low)}-"
        f"{_fmt(pol.policy.dr.ci_high)} | {_fmt(pol.policy.ipw.estimate)} |",
        f"| best single option ({pol.best_single_option}) | {_fmt(pol.best_single.dr.estimate)} | "
        f"{_fmt(pol.best_single.dr.ci_low)}-{_fmt(pol.best_single.dr.ci_high)} | {_fmt(pol.best_single.ipw.estimate)} |",
        f"| observed prescribers | {_fmt(pol.observed.estimate)} (observed mean) | {_fmt(pol.observed.ci_low)}-"
        f"{_fmt(pol.observed.ci_high)} | |",
    ]
    if evaluation.oracle is not None:
        lines += [
            "",
            "Against the synthetic truth:",
            f"- regret {_fmt(h.get('regret'))} (best single option {_fmt(h.get('regret_best_single_option'))}, "
            f"observed prescribers {_fmt(h.get('regret_observed_policy'))});",
            f"- top-1 agreement {_fmt(h.get('top1_agreement'))}, Kendall tau {_fmt(h.get('kendall_tau'))};",
            f"- true value of the model's policy {_fmt(h.get('true_policy_value'))} vs DR estimate "
            f"{_fmt(pol.policy.dr.estimate)};",
            f"- interval coverage of the true probability {_fmt(h.get('interval_coverage'))} "
            f"(nominal {1 - evaluation.interval_alpha:.2f}).",
        ]
    lines += ["", "Subgroups (largest gap between groups):", "", "| factor | AUC gap | ECE gap |", "|---|---:|---:|"]
    for factor, report in evaluation.subgroups.items():
        lines.append(f"| {factor} | {_fmt(report.auc_gap)} | {_fmt(report.ece_gap)} |")
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
    return "\n".join(lines) + "\n"
