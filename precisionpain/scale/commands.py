"""The ``score`` and ``mlflow-server`` commands; :func:`register` adds them to the ``precisionpain`` CLI."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from precisionpain.cli_support import (
    CatalogRootOpt,
    ForceOpt,
    HomeOpt,
    TrackingOpt,
    add_commands,
    err_console,
    progress_steps,
)
from precisionpain.scale.engines import Engine

DEFAULT_PARTITION_ROWS = 10_000
#: id columns looked for when --id-column is not given
ID_COLUMNS = ("patient_id", "patient_ref")


#: ``--scheduler`` of every command with an ``--engine``
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler address, e.g. tcp://HOST:8786 (default: PRECISIONPAIN_DASK_SCHEDULER, "
        "else a LocalCluster sized to the machine).",
    ),
]


#: ``--engine`` of ``train``
EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine", help="local (this process) or dask (every booster trained by xgboost.dask on a cluster)."
    ),
]

#: ``--engine`` of ``evaluate``
EvaluateEngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="local (this process) or dask (the held-out predictions and SHAP computed on a cluster, partition "
        "by partition).",
    ),
]


@contextmanager
def engine_for_boosting(engine: Engine, scheduler: str | None) -> Iterator[None]:
    """``train --engine dask``: the block's boosters are trained on the Dask cluster (see scale.training)."""
    if engine is Engine.local:
        yield
        return
    from precisionpain.scale.engines import dask_client, scheduler_address, workers_of
    from precisionpain.scale.training import boosting_on

    address = scheduler_address(scheduler)
    with dask_client(address) as client, boosting_on(client) as boosting:
        yield
    err_console.print(
        f"trained {boosting.boosters_trained:,} boosters with xgboost.dask on {workers_of(engine, address, None)}",
        highlight=False,
    )


def check_data_folder(data: Path) -> None:
    """``--data`` of ``train`` and ``evaluate``: a folder must hold Parquet part files (checked before any other
    work; a file is checked when it is read)."""
    from precisionpain.scale import datasets

    if data.is_dir():
        datasets.data_files(data)


@contextmanager
def held_out_predictions(
    engine: Engine,
    scheduler: str | None,
    partition_rows: int,
    *,
    home: Path | None,
    tracking_uri: str,
) -> Iterator[Any]:
    """``evaluate --engine dask``: the hook that computes the held-out predictions and SHAP sample on the cluster
    (see scale.evaluation); None for the local engine (the evaluation predicts in this process)."""
    from precisionpain.errors import ConfigError, Violation, kind_of

    if partition_rows < 1:
        raise ConfigError(
            "--partition-rows", [Violation("--partition-rows", "must be at least 1", kind_of(partition_rows))]
        )
    if engine is Engine.local:
        yield None
        return
    from precisionpain.scale.engines import scheduler_address, workers_of
    from precisionpain.scale.evaluation import HeldOutPredictions
    from precisionpain.settings import data_dir

    address = scheduler_address(scheduler)

    def done(rows: int, partitions: int) -> None:
        err_console.print(
            f"computed the held-out predictions of {rows:,} patients in {partitions:,} partitions on "
            f"{workers_of(engine, address, None)}",
            highlight=False,
            soft_wrap=True,
        )

    yield HeldOutPredictions(engine, address, tracking_uri, str(data_dir(home)), partition_rows, done=done)


def write_partitioned_cohort(
    n: int,
    seed: int,
    chunk_size: int,
    out: Path,
    engine: Engine,
    scheduler: str | None,
    force: bool,
    catalog_root: Path | None,
) -> None:
    """``precisionpain cohort --engine ...``: the cohort as a folder of part files, one per chunk."""
    from precisionpain.cohort.generate import cohort_chunks
    from precisionpain.errors import ValidationError, Violation
    from precisionpain.scale import datasets
    from precisionpain.scale.cohort import plan_cohort, write_cohort_part
    from precisionpain.scale.engines import map_tasks, scheduler_address, workers_of

    target = datasets.dataset_uri(out)
    if datasets.output_exists(target) and not force:
        raise ValidationError(
            "output files", [Violation("--out", f"{out} already exists; add --force to overwrite it")]
        )
    address = scheduler_address(scheduler) if engine is Engine.dask else None
    plan = plan_cohort(n, seed, chunk_size, target, catalog_root)
    if force:
        datasets.clear_output(target)
    started = time.perf_counter()
    with progress_steps(err_console, "cohort") as step:
        parts = map_tasks(
            functools.partial(write_cohort_part, plan),
            range(cohort_chunks(n, chunk_size)),
            engine=engine,
            scheduler=address,
            progress=lambda done, total: step(f"{done:,} of {total:,} partitions", done / total),
        )
    seconds = time.perf_counter() - started
    err_console.print(
        f"wrote {sum(p.rows for p in parts):,} patients in {len(parts):,} part files to {out} on "
        f"{workers_of(engine, address, None)}: {seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )


def model_spec(model: str, *, home: Path | None, tracking_uri: str | None, catalog_root: Path | None) -> Any:
    """The ModelSpec every task loads: a registry alias resolved once to its version (checked to record its
    package manifest), or a package folder (checked to hold a package); the catalog sha256 it must match."""
    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.scale.scoring import ModelSpec

    expected = load_feature_catalog(catalog_root).sha256
    if model.startswith("models:/"):
        from precisionpain.models.registry import Registry, store_location
        from precisionpain.settings import data_dir

        uri, artifacts = store_location(home, tracking_uri)
        resolved = Registry(uri, artifacts).resolve(model)
        _ = resolved.package_manifest_sha256  # a version that cannot be verified is refused before any work
        return ModelSpec(
            expected,
            uri=f"models:/{resolved.name}/{resolved.version}",
            tracking_uri=uri,
            home=str(data_dir(home)),
            label=f"{model} (version {resolved.version})",
        )
    from precisionpain.models.package import find_package_root

    path = Path(model).expanduser().resolve()
    find_package_root(path)
    return ModelSpec(expected, path=str(path), label=str(path))


def _check_flags(top_k: int, partition_rows: int, workers: int | None) -> None:
    from precisionpain.errors import ConfigError, Violation, kind_of
    from precisionpain.scale.scoring import MAX_TOP_K

    problems = []
    if not 1 <= top_k <= MAX_TOP_K:
        problems.append(Violation("--top-k", f"must be between 1 and {MAX_TOP_K}", kind_of(top_k)))
    if partition_rows < 1:
        problems.append(Violation("--partition-rows", "must be at least 1", kind_of(partition_rows)))
    if workers is not None and workers < 1:
        problems.append(Violation("--workers", "must be at least 1", kind_of(workers)))
    ConfigError.raise_if_any("score", problems)


def _id_column(wanted: str | None, columns: list[str]) -> str | None:
    from precisionpain.errors import DataError, Violation

    if wanted is not None:
        if wanted not in columns:
            raise DataError(
                "--id-column",
                [Violation("--id-column", "must name a column of the dataset", "absent column")],
            )
        return wanted
    return next((c for c in ID_COLUMNS if c in columns), None)


def score_command(
    model: Annotated[
        str,
        typer.Option("--model", help="models:/NAME@ALIAS, models:/NAME/VERSION or a model package folder."),
    ],
    data: Annotated[
        str, typer.Option("--data", help="Patients: a Parquet file or folder (local path or URI).")
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out", help="Folder (local path or URI) for the answers: one part file per partition."
        ),
    ],
    engine: Annotated[Engine, typer.Option("--engine", help="local (this process) or dask.")] = Engine.local,
    scheduler: SchedulerOpt = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Worker processes of the LocalCluster (default: one per core)."),
    ] = None,
    partition_rows: Annotated[
        int, typer.Option("--partition-rows", help="Most patients per partition (task).")
    ] = DEFAULT_PARTITION_ROWS,
    top_k: Annotated[int, typer.Option("--top-k", help="Contributions kept per option.")] = 8,
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id-column", help="Column copied to the answers (default: patient_id or patient_ref)."
        ),
    ] = None,
    force: ForceOpt = False,
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Answer every patient of a Parquet dataset (ranked options, exclusions, probabilities with intervals, top-k
    SHAP contributions) into a Parquet dataset, in this process or on a Dask cluster."""
    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.errors import DataError, ValidationError, Violation
    from precisionpain.features.frame import flat_columns
    from precisionpain.scale import datasets
    from precisionpain.scale.engines import map_tasks, scheduler_address, workers_of
    from precisionpain.scale.scoring import score_partition

    _check_flags(top_k, partition_rows, workers)
    target = datasets.dataset_uri(out)
    if datasets.output_exists(target) and not force:
        raise ValidationError(
            "output files", [Violation("--out", f"{out} already exists; add --force to overwrite it")]
        )
    address = scheduler_address(scheduler) if engine is Engine.dask else None
    partitions, columns = datasets.list_partitions(data, partition_rows)
    inputs = set(flat_columns(load_feature_catalog(catalog_root)))
    if not inputs & set(columns):
        raise DataError(
            "--data",
            [
                Violation(
                    "--data", "must have the model's input columns (the flat profile form)", "none of them"
                )
            ],
        )
    ids = _id_column(id_column, columns)
    spec = model_spec(model, home=home, tracking_uri=tracking_uri, catalog_root=catalog_root)
    if force:
        datasets.clear_output(target)
    task = functools.partial(score_partition, spec, target, top_k, ids)
    total_rows = sum(p.rows for p in partitions)
    started = time.perf_counter()
    with progress_steps(err_console, "score") as step:
        results = map_tasks(
            task,
            partitions,
            engine=engine,
            scheduler=address,
            n_workers=workers,
            progress=lambda done, total: step(f"{done:,} of {total:,} partitions", done / total),
        )
    seconds = time.perf_counter() - started
    answered = sum(r.answered for r in results)
    errors = sum(r.errors for r in results)
    where = workers_of(engine, address, workers)
    datasets.write_summary(
        target,
        {
            "format": "precisionpain.score",
            "format_version": 1,
            "model": spec.label,
            "model_uri": spec.uri or spec.path,
            "data": datasets.dataset_uri(data),
            "engine": engine.value,
            "workers": where,
            "partitions": len(results),
            "partition_rows": partition_rows,
            "top_k": top_k,
            "rows": total_rows,
            "answered": answered,
            "errors": errors,
            "seconds": round(seconds, 3),
            "finished_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "parts": [Path(r.out).name for r in results],
        },
    )
    rate = total_rows / seconds if seconds > 0 else float("inf")
    err_console.print(
        f"scored {total_rows:,} patients ({answered:,} answered, {errors:,} refused) in {len(results):,} "
        f"partitions with {spec.label} on {where}: {seconds:.1f} s, {rate:,.0f} patients/s; wrote {out}",
        highlight=False,
        soft_wrap=True,
    )


def mlflow_server_command(
    backend_store_uri: Annotated[
        str | None,
        typer.Option(
            "--backend-store-uri",
            envvar="MLFLOW_BACKEND_STORE_URI",
            show_envvar=True,
            help="PostgreSQL database of runs and registry: postgresql://USER@HOST:PORT/DATABASE "
            "(password from PGPASSWORD or ~/.pgpass).",
        ),
    ] = None,
    artifacts_destination: Annotated[
        str | None,
        typer.Option(
            "--artifacts-destination",
            envvar="MLFLOW_ARTIFACTS_DESTINATION",
            show_envvar=True,
            help="Where the server keeps artifacts: a folder, or an s3://BUCKET/PATH, gs://BUCKET/PATH or wasbs:// URI.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (0.0.0.0 for every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 5000,
    workers: Annotated[int, typer.Option("--workers", help="Server worker processes.")] = 2,
    allowed_hosts: Annotated[
        str | None,
        typer.Option(
            "--allowed-hosts",
            help="Host headers the server answers (comma-separated; default: localhost and private addresses).",
        ),
    ] = None,
    check_only: Annotated[
        bool,
        typer.Option("--check-only", help="Check the flags and the database, then exit without serving."),
    ] = False,
) -> None:
    """Run MLflow's tracking server on a PostgreSQL backend store with a proxied artifact store."""
    from precisionpain.scale.tracking import check_backend, plan_tracking_server, run_tracking_server

    plan = plan_tracking_server(
        backend_store_uri,
        artifacts_destination,
        host=host,
        port=port,
        workers=workers,
        allowed_hosts=allowed_hosts,
    )
    check_backend(plan)
    err_console.print(
        f"mlflow server on http://{host}:{port}: backend store {plan.describe()}, artifacts "
        f"{plan.artifacts_destination}",
        highlight=False,
        soft_wrap=True,
    )
    if check_only:
        return
    run_tracking_server(plan)


def register(app: typer.Typer) -> None:
    """Add ``score`` and ``mlflow-server`` to ``app`` (replacing commands of the same names)."""
    add_commands(app, {"score": score_command, "mlflow-server": mlflow_server_command})
