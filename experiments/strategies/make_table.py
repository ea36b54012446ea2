"""Build the strategy comparison table (results.md) from the MLflow runs of the ``strategies`` experiment.

Reads, through the MLflow API, the latest finished training run of each strategy (tag precisionpain.strategy)
and writes a markdown table: policy metrics against the synthetic truth (regret, top-1 agreement, Kendall tau,
true value of the model's policy, sqrt-PEHE), the doubly robust estimate with its interval, discrimination and
calibration (mean AUC, worst observed ECE and the worst noise floor of that ECE, worst ECE against the true
probabilities), interval coverage and training time.

The like-for-like comparison with the best single option (``regret_usable``, ``regret_best_single_option_usable``,
``regret_all_usable``, ``regret_best_single_option_all_usable``, see ``precisionpain.models.evaluation.evaluate``)
comes from the training run itself when its code recorded it, else from the latest finished evaluation run of the
same model on the training run's own held-out patients (``precisionpain evaluate --model models:/NAME/VERSION
--data FILE --split test``), so models trained before those metrics existed need no retraining.

    .venv/bin/python experiments/strategies/make_table.py --tracking-uri sqlite:////tmp/pp-strategies/mlflow.db \
        [--tracking-uri sqlite:////tmp/pp-strategies-s8/mlflow.db] --commands commands.txt \
        --out experiments/strategies/results.md

Each ``--tracking-uri`` is one replicate (the six strategies trained on one cohort file) and gets its own table;
``--experiment`` names the MLflow experiment (``strategies``, or ``strategies-4opt`` for the four-option setting).

Nothing here is imported by the package.
"""

from __future__ import annotations

import argparse
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STRATEGIES = (
    "t_learner",
    "t_learner_shrunk",
    "s_learner",
    "ipw_t_learner",
    "x_learner",
    "dr_learner",
    "auto",
)
LABELS = {
    "t_learner": "T-learner",
    "t_learner_shrunk": "T-learner, shrunk",
    "s_learner": "S-learner",
    "ipw_t_learner": "IPW-weighted T-learner",
    "x_learner": "X-learner",
    "dr_learner": "DR-learner",
    "auto": "auto",
}


def label(strategy: str, run: Any) -> str:
    chosen = run.data.tags.get("precisionpain.strategy_chosen")
    lam = run.data.metrics.get("shrinkage_lambda")
    shrunk = f", lambda {lam:.2f}" if lam is not None else ""
    if chosen:
        return f"{LABELS[strategy]} (chose {LABELS.get(chosen, chosen)}{shrunk})"
    return f"{LABELS[strategy]} (lambda {lam:.2f})" if lam is not None else LABELS[strategy]


def run_strategy(run: Any) -> str | None:
    """The table row a run belongs to: its configured strategy, ``t_learner_shrunk`` for a shrunk T-learner."""
    strategy = run.data.tags.get("precisionpain.strategy")
    if strategy != "auto" and "shrinkage_lambda" in run.data.metrics:
        return f"{strategy}_shrunk"
    return strategy


def latest_runs(tracking_uri: str, experiment: str) -> dict[str, Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise SystemExit(f"no experiment {experiment!r} in {tracking_uri}")
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string="tags.`precisionpain.run_kind` = 'training' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
    )
    out: dict[str, Any] = {}
    for run in runs:
        strategy = run_strategy(run)
        if strategy in STRATEGIES and strategy not in out:
            out[strategy] = run
    if "t_learner" not in out:
        raise SystemExit(f"no finished t_learner run in {experiment!r}")
    return out


USABLE_METRICS = (
    "regret_usable",
    "top1_agreement_usable",
    "regret_best_single_option_usable",
    "regret_all_usable",
    "regret_best_single_option_all_usable",
)


def usable_comparison(tracking_uri: str, run: Any) -> tuple[dict[str, float], str | None, Any]:
    """The like-for-like metrics of a training run's model (see the module docstring), the option the best single
    order under the safety rules starts with, and the run they come from (``run`` itself or an evaluation run)."""
    import json
    import tempfile

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    source = run
    if not all(k in run.data.metrics for k in USABLE_METRICS):
        found = client.search_runs(
            [run.info.experiment_id],
            filter_string="tags.`precisionpain.run_kind` = 'evaluation' and attributes.status = 'FINISHED' "
            f"and tags.`precisionpain.model_run_id` = '{run.info.run_id}' "
            "and tags.`precisionpain.evaluation_split` = 'test'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not found or not all(k in found[0].data.metrics for k in USABLE_METRICS):
            return {}, None, None
        source = found[0]
    with tempfile.TemporaryDirectory() as tmp:  # every run that records these metrics logs its evaluation
        path = client.download_artifacts(source.info.run_id, "evaluation/evaluation.json", tmp)
        first = (json.loads(Path(path).read_text()).get("oracle_usable") or {}).get("best_single_option")
    metrics = {k: source.data.metrics[k] for k in USABLE_METRICS}
    return metrics, first, source


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def table(runs: dict[str, Any]) -> list[str]:
    head = (
        "| strategy | regret (rules; vs best overall) | best single option regret (no rules; vs best overall) "
        "| top-1 agreement | Kendall tau | DR policy value (90% CI) "
        "| true policy value | sqrt-PEHE (mean) | AUC (mean) | ECE max (observed) | ECE noise floor (max) "
        "| ECE max (vs truth) | interval coverage | fit (s) | whole run (s) |"
    )
    lines = [head, "|---|" + "---:|" * 14]
    for strategy in STRATEGIES:
        if strategy not in runs:
            lines.append(f"| {LABELS[strategy]} (not run) |" + " |" * 14)
            continue
        m = runs[strategy].data.metrics
        lines.append(
            f"| {label(strategy, runs[strategy])} | {fmt(m.get('regret'))} | {fmt(m.get('regret_best_single_option'))} "
            f"| {fmt(m.get('top1_agreement'))} | {fmt(m.get('kendall_tau'))} "
            f"| {fmt(m.get('dr_policy_value'))} ({fmt(m.get('dr_policy_value_ci_low'))}-"
            f"{fmt(m.get('dr_policy_value_ci_high'))}) | {fmt(m.get('true_policy_value'))} "
            f"| {fmt(m.get('sqrt_pehe_mean'))} | {fmt(m.get('auc_mean'))} | {fmt(m.get('ece_max'))} "
            f"| {fmt(m.get('ece_noise_floor_max'))} | {fmt(m.get('ece_true_max'))} "
            f"| {fmt(m.get('interval_coverage'))} | {fmt(m.get('fit_seconds'), 0)} "
            f"| {fmt(m.get('pipeline_seconds'), 0)} |"
        )
    return lines


def where(run: Any, source: Any) -> str:
    if source is run:
        return "training run"
    return f"evaluation `{source.info.run_id}` (code `{source.data.tags.get('precisionpain.code_version')}`)"


def usable_table(runs: dict[str, Any], tracking_uri: str) -> list[str]:
    """The like-for-like comparison with the best single option, one row per strategy, and where it comes from."""
    head = (
        "| strategy | regret, rules (vs best usable) | best single option, rules (vs best usable; first option) "
        "| top-1 agreement, rules (vs best usable) | regret, every option usable | best single option, every "
        "option usable | from run |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---|"]
    for strategy in STRATEGIES:
        if strategy not in runs:
            lines.append(f"| {LABELS[strategy]} (not run) |" + " |" * 6)
            continue
        run = runs[strategy]
        m, first, source = usable_comparison(tracking_uri, run)
        lines.append(
            f"| {label(strategy, run)} | {fmt(m.get('regret_usable'), 4)} "
            f"| {fmt(m.get('regret_best_single_option_usable'), 4)}{f' ({first})' if first else ''} "
            f"| {fmt(m.get('top1_agreement_usable'))} | {fmt(m.get('regret_all_usable'), 4)} "
            f"| {fmt(m.get('regret_best_single_option_all_usable'), 4)} "
            f"| {where(run, source) if m else 'none'} |"
        )
    return lines


def provenance(runs: dict[str, Any]) -> list[str]:
    first = runs[STRATEGIES[0]]
    tags, params = first.data.tags, first.data.params
    fingerprints = {r.data.tags.get("precisionpain.data_fingerprint") for r in runs.values()}
    same = "the same table" if len(fingerprints) == 1 else "DIFFERENT tables (not comparable)"
    lines = [
        f"- Data: `{tags.get('precisionpain.data_file')}`, {int(params['n_rows']):,} patients "
        f"({int(params['n_train']):,} training, {int(params['n_test']):,} held out by patient); all runs read "
        f"{same} (data fingerprint `{tags.get('precisionpain.data_fingerprint', '')[:16]}...`).",
        f"- Code of the T-learner run: `{tags.get('precisionpain.code_version')}` (commit "
        f"`{tags.get('precisionpain.git_commit')}`); each run's own below.",
        "- Registry decisions (one registered model, champion moves only on a better DR policy value on the "
        "same held-out patients):",
    ]
    for strategy in (s for s in STRATEGIES if s in runs):
        run = runs[strategy]
        lines.append(
            f"  - {label(strategy, run)} (run `{run.info.run_id}`, code `{run.data.tags.get('precisionpain.code_version')}`): "
            f"{run.data.tags.get('precisionpain.promotion.decision', '')}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tracking-uri",
        required=True,
        action="append",
        help="MLflow store holding one replicate (one cohort) of the comparison; repeat for more replicates.",
    )
    parser.add_argument(
        "--experiment",
        action="append",
        help="MLflow experiment of each --tracking-uri, in the same order (default: strategies for all).",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.md"))
    parser.add_argument("--commands", type=Path, help="A text file with the commands that produced the runs.")
    args = parser.parse_args()
    experiments = args.experiment or ["strategies"] * len(args.tracking_uri)
    if len(experiments) != len(args.tracking_uri):
        raise SystemExit("give one --experiment per --tracking-uri, or none")
    replicates = [latest_runs(uri, exp) for uri, exp in zip(args.tracking_uri, experiments, strict=True)]
    lines = [
        "# Strategy comparison: T-learner (plain and shrunk), S-, IPW-weighted T-, X- and DR-learner, and auto",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `experiments/strategies/make_table.py` from the MLflow "
        f"runs of experiment(s) {', '.join(f'`{e}`' for e in dict.fromkeys(experiments))}. Metrics are on the held-out 20% of patients; regret, top-1, "
        "Kendall tau, true policy value, sqrt-PEHE, ECE vs truth and interval coverage use the synthetic cohort's "
        "true response probabilities (never seen in training). Times are wall-clock seconds on 2 shared cores.",
    ]
    for uri, runs in zip(args.tracking_uri, replicates, strict=True):
        first = runs[STRATEGIES[0]].data
        if len(replicates) > 1:
            n_options = first.params.get("n_options", "?")
            lines += ["", f"## Cohort `{first.tags.get('precisionpain.data_file')}` ({n_options} options)"]
        lines += [
            "",
            *table(runs),
            "",
            "Against the best single option like for like: with the same safety rules for both (the model's top "
            "allowed option, and the first allowed option of one fixed order, the best such order; both against "
            "the best USABLE option of each patient), and with every option usable (the top predicted option of "
            "all, and one option for everyone; both against the best option overall). The table above's regret "
            "is the top allowed option against the best option overall and its best single option ignores the "
            "rules, so only the model pays for the exclusions there.",
            "",
            *usable_table(runs, uri),
            "",
            *provenance(runs),
        ]
    if args.commands is not None:
        lines += ["", "Commands:", "", "```", *args.commands.read_text().strip().splitlines(), "```"]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
