"""Command-line verbs of the model life cycle: ``train``, ``evaluate`` and ``promote``.

``register(app)`` adds them to the ``precisionpain`` Typer app (replacing any command of the same name, so
calling it twice is harmless). They share the CLI's error handling: a user's mistake prints one line and exits
2, an interruption exits 130 after the registry has been put back as it was.

Where runs go: ``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else a SQLite file and an artifact folder in the
data directory (``--home``, else ``PRECISIONPAIN_HOME``, else ``./.precisionpain``).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from precisionpain.cli_support import (
    CatalogRootOpt,
    ForceOpt,
    HomeOpt,
    TrackingOpt,
    add_commands,
    err_console,
    out_console,
    progress_steps,
    refuse_overwrite,
)
from precisionpain.models.registry import store_location
from precisionpain.scale.commands import (
    DEFAULT_PARTITION_ROWS,
    EngineOpt,
    EvaluateEngineOpt,
    SchedulerOpt,
    check_data_folder,
    engine_for_boosting,
    held_out_predictions,
)
from precisionpain.scale.engines import Engine

if TYPE_CHECKING:
    from rich.console import Console

    from precisionpain.models.evaluation import EvaluationResult


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt for the duration, so a terminated run rolls back like
    Ctrl-C. The signal is also recorded, so a registry transaction still rolls back when the exception was
    raised inside a finalizer and swallowed by Python."""
    from precisionpain.models.registry import interrupt_received

    def handler(_signum: int, _frame: Any) -> None:
        interrupt_received.set()
        raise KeyboardInterrupt

    interrupt_received.clear()
    previous: dict[signal.Signals, Any] = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)


def _print_evaluation(console: Console, evaluation: EvaluationResult) -> None:
    from rich.table import Table

    table = Table(title=f"{evaluation.n_test:,} patients", show_edge=False)
    for col in ("option", "n", "AUC", "Brier", "log loss", "ECE", "ECE noise floor"):
        table.add_column(col, justify="left" if col == "option" else "right")
    for opt in evaluation.per_option:
        m = opt.metrics
        table.add_row(
            opt.option_id,
            f"{m.n:,}",
            f"{m.auc:.3f}",
            f"{m.brier:.3f}",
            f"{m.log_loss:.3f}",
            f"{m.ece:.3f}",
            f"{opt.ece_noise_floor:.3f}",
        )
    console.print(table)
    pol = evaluation.policy
    console.print(
        f"policy 'top usable option': DR {pol.policy.dr.estimate:.3f} [{pol.policy.dr.ci_low:.3f}, "
        f"{pol.policy.dr.ci_high:.3f}], IPW {pol.policy.ipw.estimate:.3f}; observed prescribers "
        f"{pol.observed.estimate:.3f}; best single option ({pol.best_single_option}) DR "
        f"{pol.best_single.dr.estimate:.3f}",
        highlight=False,
    )
    h = evaluation.headline
    if "regret" in h:
        console.print(
            f"against the synthetic truth: regret {h['regret']:.3f} (best single option "
            f"{h['regret_best_single_option']:.3f}), top-1 {h['top1_agreement']:.3f}, Kendall tau "
            f"{h['kendall_tau']:.3f}, true policy value {h['true_policy_value']:.3f}",
            highlight=False,
        )
    if "regret_usable" in h:
        console.print(
            "like for like, against the best option the safety rules allow: regret "
            f"{h['regret_usable']:.3f} (best single option under the same rules "
            f"{h['regret_best_single_option_usable']:.3f}); every option usable: "
            f"{h['regret_all_usable']:.3f} (best single option {h['regret_best_single_option_all_usable']:.3f})",
            highlight=False,
        )


def train_cmd(
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="Cohort / training table (.parquet or .csv), or a folder of .parquet part files."
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Experiment config YAML (experiments/<name>/config.yaml; default: the shipped models/response_model.yaml).",
        ),
    ] = None,
    engine: EngineOpt = Engine.local,
    scheduler: SchedulerOpt = None,
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Train, evaluate, track in MLflow and register a model; promote it to champion if it wins."""
    from precisionpain.catalog.loader import load_treatment_options
    from precisionpain.models.config import default_config_path, load_train_config
    from precisionpain.models.training import train

    check_data_folder(data)
    config = config or default_config_path(catalog_root)
    cfg = load_train_config(config, known_options=load_treatment_options(catalog_root).ids)
    uri, artifacts = store_location(home, tracking_uri)
    with (
        sigterm_interrupts(),
        engine_for_boosting(engine, scheduler),
        progress_steps(err_console, "training") as step,
    ):
        result = train(
            data,
            cfg,
            tracking_uri=uri,
            artifact_root=artifacts,
            catalog_root=catalog_root,
            config_path=config,
            progress=step,
        )
    h = result.headline
    err_console.print(
        f"run {result.run_id}: registered {result.registered_model} v{result.version} "
        f"(fit {result.fit_seconds:.0f} s, whole run {result.pipeline_seconds:.0f} s)",
        highlight=False,
    )
    err_console.print(result.decision, highlight=False)
    shown = (
        "auc_mean",
        "ece_max",
        "dr_policy_value",
        "best_single_option_dr_value",
        "regret",
        "regret_best_single_option",
        "regret_usable",
        "regret_best_single_option_usable",
    )
    err_console.print("  " + "  ".join(f"{k}={h[k]:.3f}" for k in shown if k in h), highlight=False)


def evaluate_cmd(
    model: Annotated[str, typer.Option("--model", help="models:/NAME@ALIAS or models:/NAME/VERSION.")],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Patient table with outcomes (.parquet or .csv), or a folder of .parquet part files.",
        ),
    ],
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="all: every row; test/train: that side of the training run's own patient split.",
        ),
    ] = "all",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Training config whose evaluation: section to use (default: the run's)."
        ),
    ] = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="MLflow experiment for the evaluation run.")
    ] = None,
    shap_plots: Annotated[bool, typer.Option("--shap-plots", help="Also log global SHAP plots.")] = False,
    no_log: Annotated[bool, typer.Option("--no-log", help="Print only; log no MLflow run.")] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the evaluation as JSON here.")
    ] = None,
    engine: EvaluateEngineOpt = Engine.local,
    scheduler: SchedulerOpt = None,
    partition_rows: Annotated[
        int,
        typer.Option("--partition-rows", help="With --engine dask: most patients per partition (task)."),
    ] = DEFAULT_PARTITION_ROWS,
    force: ForceOpt = False,
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Re-evaluate a registered model version on a table and log an evaluation run tagged with the version."""
    from precisionpain.errors import ConfigError, Violation
    from precisionpain.models.config import load_train_config
    from precisionpain.models.training import evaluate_registered

    refuse_overwrite(force, json=json_out)
    if split not in ("all", "test", "train"):
        raise ConfigError("--split", [Violation("--split", "must be one of all, test, train", "string")])
    check_data_folder(data)
    eval_config = load_train_config(config).evaluation if config is not None else None
    uri, artifacts = store_location(home, tracking_uri)
    with (
        sigterm_interrupts(),
        held_out_predictions(engine, scheduler, partition_rows, home=home, tracking_uri=uri) as predictions,
        progress_steps(err_console, "evaluating") as step,
    ):
        result = evaluate_registered(
            model,
            data,
            tracking_uri=uri,
            artifact_root=artifacts,
            config=eval_config,
            log_to_mlflow=not no_log,
            split=split,  # type: ignore[arg-type]
            experiment=experiment,
            plots_shap=shap_plots,
            progress=step,
            predictions=predictions,
        )
    _print_evaluation(out_console, result)
    prov = result.provenance
    where = f"; run {prov['run_id']}" if "run_id" in prov else ""
    err_console.print(
        f"evaluated {prov['registered_model']} v{prov['model_version']} on {data.name} ({split}){where}",
        highlight=False,
    )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")


def promote_cmd(
    model: Annotated[
        str, typer.Option("--model", help="models:/NAME/VERSION (or models:/NAME@ALIAS) to promote.")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded with the promotion).")] = "",
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
) -> None:
    """Move the champion alias to a version by hand; the decision and reason are logged."""
    from precisionpain.models.training import promote

    uri, artifacts = store_location(home, tracking_uri)
    with sigterm_interrupts():
        result = promote(model, tracking_uri=uri, artifact_root=artifacts, reason=reason)
    err_console.print(result.decision, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``train``, ``evaluate`` and ``promote`` to ``app`` (replacing commands of the same names)."""
    add_commands(app, {"train": train_cmd, "evaluate": evaluate_cmd, "promote": promote_cmd})
