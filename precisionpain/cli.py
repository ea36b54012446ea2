"""The ``precisionpain`` command line. Verbs mirror the stages: cohort, features, pgx, train, evaluate,
serve, recommend, report, and quickstart (everything end to end on embedded defaults).

Exit status: 0 ok, 2 usage or validation error (one clear message), 1 unexpected error.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from precisionpain.errors import PrecisionPainError, ValidationError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="precisionpain",
    help="Ranked, explained treatment options for chronic pain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
pgx_app = typer.Typer(help="Pharmacogenomics: CPIC translation and guidance.", no_args_is_help=True)
app.add_typer(pgx_app, name="pgx")

COHORT_CHUNK = 100_000
err_console = Console(stderr=True)
out_console = Console()

CatalogRootOpt = Annotated[
    Path | None,
    typer.Option("--catalog-root", help="Folder with features/, models/, serving/ (default: bundled).", show_default=False),
]


def _fail(message: str, code: int) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(fn: F) -> F:
    """A user's mistake prints one clear message and exits 2; anything unexpected exits 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except ValidationError as exc:
            _fail(str(exc), 2)
        except (PrecisionPainError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            _fail(str(exc), 2)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:
            _fail(f"unexpected {type(exc).__name__}: {exc}", 1)
        return None

    return wrapper  # type: ignore[return-value]


def _read_text(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    return path.read_text(encoding="utf-8")


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _catalogs(root: Path | None) -> tuple[Any, Any, Any]:
    from precisionpain.catalog.loader import load_feature_catalog, load_treatment_options
    from precisionpain.catalog.pgx_tables import load_pgx_tables

    return load_feature_catalog(root), load_treatment_options(root), load_pgx_tables(root)


# --------------------------------------------------------------------------------------------- cohort


@app.command("cohort")
@handle_errors
def cohort_cmd(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of synthetic patients.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same file.")] = 7,
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write.")] = Path("cohort.parquet"),
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Generate a synthetic cohort with the true response of every patient to every option."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from precisionpain.cohort import generate_cohort

    feature_catalog, options, tables = _catalogs(catalog_root)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=n < 50_000,
    ) as progress:
        task = progress.add_task("generating patients", total=n)
        frame = generate_cohort(
            n,
            seed,
            catalog=feature_catalog,
            options=options,
            tables=tables,
            chunk_size=COHORT_CHUNK,
            progress=lambda done: progress.update(task, completed=done),
        )
    _write_cohort(frame, out, n=n, seed=seed, chunk_size=COHORT_CHUNK)
    err_console.print(f"wrote {len(frame):,} patients to {out}")


def _write_cohort(frame: Any, out: Path, *, n: int, seed: int, chunk_size: int) -> None:
    """Parquet with the generator's metadata; the same frame always gives the same bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from precisionpain.cohort import cohort_metadata

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta.update(
        {k.encode(): str(v).encode() for k, v in cohort_metadata(n, seed, chunk_size=chunk_size).items()}
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(meta), out, compression="zstd")


# --------------------------------------------------------------------------------------------- features


@app.command("features")
@handle_errors
def features_cmd(
    source: Annotated[Path, typer.Argument(help="A profile JSON file, or a cohort/table parquet file.")],
    out: Annotated[Path | None, typer.Option("--out", help="Output (.features.json or .parquet).")] = None,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Validate and encode patients into model features (catalog column order, NaN = missing)."""
    import pandas as pd

    from precisionpain.features.assemble import assemble_features
    from precisionpain.features.validate import validate_profile

    feature_catalog, _, tables = _catalogs(catalog_root)
    if source.suffix == ".parquet":
        frame = pd.read_parquet(source)
        matrix = assemble_features(frame, feature_catalog, tables)
        target = out or source.with_suffix(".features.parquet")
        matrix.to_frame().to_parquet(target)
        err_console.print(f"wrote {len(matrix):,} x {len(matrix.names)} features to {target}")
        return
    profile = validate_profile(_read_text(source), feature_catalog, tables)
    vector = assemble_features(profile, feature_catalog, tables)
    target = out or source.with_name(source.name.removesuffix(".json") + ".features.json")
    _write_json(target, vector.model_dump(mode="json"))
    err_console.print(f"wrote {len(vector.names)} features ({len(vector.missing)} missing) to {target}")


@app.command("validate")
@handle_errors
def validate_cmd(
    profile: Annotated[Path, typer.Argument(help="A profile JSON file ('-' for stdin).")],
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Check a profile against the schema, the feature catalog and the CPIC tables; list every problem."""
    from precisionpain.features.validate import validate_profile

    feature_catalog, _, tables = _catalogs(catalog_root)
    validate_profile(_read_text(profile), feature_catalog, tables)
    err_console.print("valid")


# --------------------------------------------------------------------------------------------- pgx


@pgx_app.command("translate")
@handle_errors
def pgx_translate_cmd(
    source: Annotated[Path, typer.Argument(help="TSV with columns gene, diplotype (other columns are kept).")],
    out: Annotated[Path, typer.Option("--out", help="TSV to write: adds activity_score and phenotype.")],
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Translate diplotypes to CPIC activity scores and phenotypes; bad rows are reported, the rest written."""
    from precisionpain.catalog.pgx_tables import load_pgx_tables
    from precisionpain.pgx import translate_table

    table = translate_table(_read_text(source), load_pgx_tables(catalog_root))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table.to_tsv(), encoding="utf-8")
    for note in table.notes:
        err_console.print(f"note: {note.describe()}", highlight=False)
    for error in table.errors:
        err_console.print(f"[red]error:[/] {error.describe()}", highlight=False)
    err_console.print(f"wrote {len(table.rows)} row(s) to {out}; {len(table.errors)} row(s) failed")
    if table.errors:
        raise typer.Exit(2)


@pgx_app.command("guidance")
@handle_errors
def pgx_guidance_cmd(
    profile: Annotated[Path, typer.Argument(help="A profile JSON file ('-' for stdin).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Every CPIC recommendation that applies to the patient."""
    from rich.table import Table

    from precisionpain.features.validate import validate_profile
    from precisionpain.pgx import lookup_for_profile

    feature_catalog, _, tables = _catalogs(catalog_root)
    patient = validate_profile(_read_text(profile), feature_catalog, tables)
    found = lookup_for_profile(patient, tables)
    if json_out:
        out_console.print_json(found.model_dump_json())
        return
    table = Table(title="CPIC guidance", show_lines=True)
    for col in ("drug", "genes", "action", "strength", "recommendation"):
        table.add_column(col)
    for g in found.guidance:
        genes = "\n".join(f"{k}: {v}" for k, v in g.phenotypes.items())
        table.add_row(g.drug, genes, g.action_code.value, g.classification, g.recommendation)
    out_console.print(table)
    for u in found.unresolved:
        err_console.print(f"note: {u.drug} ({', '.join(u.genes)}): {u.reason}", highlight=False)


@pgx_app.command("import-pharmcat")
@handle_errors
def pgx_import_cmd(
    source: Annotated[Path, typer.Argument(help="PharmCAT outside-call TSV or *.phenotype.json.")],
    profile: Annotated[Path | None, typer.Option("--profile", help="Profile JSON to add the results to.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the (updated) profile JSON.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="PharmCAT results replace disagreeing ones.")] = False,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Read PharmCAT output into a profile's pharmacogenomics section."""
    from precisionpain.features.validate import validate_profile
    from precisionpain.pgx import merge_pgx, read_pharmcat_outside_calls, read_pharmcat_phenotype

    feature_catalog, _, tables = _catalogs(catalog_root)
    text = _read_text(source)
    if source.name.endswith(".json"):
        imported = read_pharmcat_phenotype(json.loads(text), tables)
    else:
        imported = read_pharmcat_outside_calls(text, tables)
    for note in imported.notes:
        err_console.print(f"note: {note}", highlight=False)
    if imported.ignored_genes:
        err_console.print(f"ignored genes: {', '.join(imported.ignored_genes)}", highlight=False)
    if profile is None:
        data: dict[str, Any] = {"pgx": imported.pgx.model_dump(mode="json", exclude_none=True)}
    else:
        patient = validate_profile(_read_text(profile), feature_catalog, tables)
        merged = merge_pgx(patient.pgx, imported.pgx, replace=replace, tables=tables)
        data = patient.model_copy(update={"pgx": merged}).model_dump(mode="json", exclude_none=True)
    if out is None:
        out_console.print_json(json.dumps(data))
    else:
        _write_json(out, data)
        err_console.print(f"wrote {out}")


# --------------------------------------------------------------------------------------------- models

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Data directory for the embedded MLflow store (default: PRECISIONPAIN_HOME or ./.precisionpain)."),
]
TrackingOpt = Annotated[
    str | None,
    typer.Option("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else SQLite in --home)."),
]


def _registry_settings(home: Path | None, tracking_uri: str | None) -> tuple[str, Path]:
    from precisionpain.models.registry import quiet_mlflow
    from precisionpain.settings import artifact_root, data_dir
    from precisionpain.settings import tracking_uri as resolve_tracking

    quiet_mlflow()
    data_dir(home).mkdir(parents=True, exist_ok=True)
    return resolve_tracking(tracking_uri, home), artifact_root(home)


@app.command("train")
@handle_errors
def train_cmd(
    data: Annotated[Path, typer.Option("--data", help="Cohort / training table (.parquet or .csv).")],
    config: Annotated[Path, typer.Option("--config", help="Experiment config YAML (experiments/<name>/config.yaml).")],
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Train, evaluate, track in MLflow and register a model; promote it to champion if it wins."""
    from rich.progress import BarColumn, Progress, TimeElapsedColumn

    from precisionpain.models.config import load_train_config
    from precisionpain.models.training import train

    cfg = load_train_config(config)
    uri, artifacts = _registry_settings(home, tracking_uri)
    with Progress(
        "[progress.description]{task.description}", BarColumn(), TimeElapsedColumn(), console=err_console, transient=True
    ) as progress:
        task = progress.add_task("training", total=1.0)
        result = train(
            data,
            cfg,
            tracking_uri=uri,
            artifact_root=artifacts,
            catalog_root=catalog_root,
            config_path=config,
            progress=lambda msg, frac: progress.update(task, description=msg, completed=frac),
        )
    h = result.headline
    err_console.print(
        f"run {result.run_id}: registered {result.registered_model} v{result.version} (fit {result.fit_seconds:.0f} s)",
        highlight=False,
    )
    err_console.print(result.decision, highlight=False)
    shown = ("auc_mean", "ece_max", "dr_policy_value", "best_single_option_dr_value", "regret", "regret_best_single_option")
    err_console.print("  " + "  ".join(f"{k}={h[k]:.3f}" for k in shown if k in h), highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
