"""The ``precisionpain`` command line. Verbs mirror the stages: cohort, features, pgx, train, evaluate,
serve, recommend, report, score (batch, local or Dask), mlflow-server, and quickstart (everything end to end on
embedded defaults).

Exit status: see :mod:`precisionpain.cli_support`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from precisionpain.cdshooks import commands as cds_commands
from precisionpain.cli_support import (
    OUT_DIR,
    CatalogRootOpt,
    ForceOpt,
    HomeOpt,
    TrackingOpt,
    complete_help_when_piped,
    err_console,
    handle_errors,
    out_console,
    progress_steps,
    read_text,
    refuse_overwrite,
    write_json,
)
from precisionpain.explain import commands as report_commands
from precisionpain.models import commands as model_commands
from precisionpain.scale import commands as scale_commands
from precisionpain.scale.commands import SchedulerOpt
from precisionpain.scale.engines import Engine
from precisionpain.service import commands as service_commands

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
#: cohorts of this many patients or more show their progress
COHORT_PROGRESS_FROM = 50_000


def _catalogs(root: Path | None) -> tuple[Any, Any, Any]:
    from precisionpain.catalog.catalogs import load_catalogs

    cats = load_catalogs(root)
    return cats.features, cats.options, cats.tables


# --------------------------------------------------------------------------------------------- cohort


@app.command("cohort")
@handle_errors
def cohort_cmd(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of synthetic patients.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same file.")] = 7,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Parquet file to write (default: out/cohort-N-seedS.parquet); with --engine, a folder of part "
            "files (default: out/cohort-N-seedS).",
        ),
    ] = None,
    engine: Annotated[
        Engine | None,
        typer.Option(
            "--engine",
            help="Write a partitioned dataset (one part file per chunk) in this process (local) or on a Dask "
            "cluster (dask); without it, one file.",
        ),
    ] = None,
    scheduler: SchedulerOpt = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Patients per chunk (per part file with --engine).")
    ] = COHORT_CHUNK,
    force: ForceOpt = False,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Generate a synthetic cohort with the true response of every patient to every option."""
    from contextlib import nullcontext

    from precisionpain.cohort import cohort_file_name, generate_cohort, write_cohort

    if engine is not None:
        from precisionpain.scale.commands import write_partitioned_cohort

        target = out or OUT_DIR / cohort_file_name(n, seed).removesuffix(".parquet")
        write_partitioned_cohort(n, seed, chunk_size, target, engine, scheduler, force, catalog_root)
        return
    out = out or OUT_DIR / cohort_file_name(n, seed)
    refuse_overwrite(force, out=out)
    feature_catalog, options, tables = _catalogs(catalog_root)
    what = f"generating {n:,} synthetic patients"
    shown = progress_steps(err_console, "cohort") if n >= COHORT_PROGRESS_FROM else nullcontext(None)
    with shown as step:
        frame = generate_cohort(
            n,
            seed,
            catalog=feature_catalog,
            options=options,
            tables=tables,
            chunk_size=chunk_size,
            progress=(lambda done: step(what, done / n)) if step is not None else None,
        )
    write_cohort(
        frame,
        out,
        n=n,
        seed=seed,
        chunk_size=chunk_size,
        catalog=feature_catalog,
        options=options,
        tables=tables,
    )
    err_console.print(f"wrote {len(frame):,} patients to {out}")


# --------------------------------------------------------------------------------------------- features


@app.command("features")
@handle_errors
def features_cmd(
    source: Annotated[Path, typer.Argument(help="A profile JSON file, or a cohort/table parquet file.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output (.features.json or .parquet; default: out/<base>.features.json or .parquet).",
        ),
    ] = None,
    force: ForceOpt = False,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Validate and encode patients into model features (catalog column order, NaN = missing)."""
    import pandas as pd

    from precisionpain.features.assemble import assemble_features
    from precisionpain.features.validate import validate_profile

    table = source.suffix == ".parquet"
    base = source.stem if table else source.name.removesuffix(".json")
    target = out or OUT_DIR / f"{base}.features.{'parquet' if table else 'json'}"
    refuse_overwrite(force, out=target)
    feature_catalog, _, tables = _catalogs(catalog_root)
    if table:
        frame = pd.read_parquet(source)
        matrix = assemble_features(frame, feature_catalog, tables)
        target.parent.mkdir(parents=True, exist_ok=True)
        matrix.to_frame().to_parquet(target)
        err_console.print(f"wrote {len(matrix):,} x {len(matrix.names)} features to {target}")
        return
    profile = validate_profile(read_text(source), feature_catalog, tables)
    vector = assemble_features(profile, feature_catalog, tables)
    write_json(target, vector.model_dump(mode="json"))
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
    validate_profile(read_text(profile), feature_catalog, tables)
    err_console.print("valid")


# --------------------------------------------------------------------------------------------- rules


@app.command("rules")
@handle_errors
def rules_cmd(
    check: Annotated[
        Path | None,
        typer.Option("--check", help="A profile JSON file: show which rules fire for it, and why."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """List the medication-safety rules (level, options, sources), or with --check which fire for a patient."""
    from rich.markup import escape
    from rich.table import Table

    from precisionpain.features.validate import validate_profile
    from precisionpain.safety import apply_safety_rules, load_safety_catalogs

    catalogs = load_safety_catalogs(catalog_root)
    if check is None:
        targets = catalogs.rule_option_ids()
        rules: list[dict[str, Any]] = [
            {
                "id": r.id,
                "level": r.level.value,
                "options": list(targets[r.id]),
                "text": r.text,
                "sources": [catalogs.rules.sources[s].label for s in r.sources],
                "judgement": r.note if r.judgement else "",
            }
            for r in catalogs.rules.rules
        ]
        if as_json:
            out_console.print_json(data={"catalog": catalogs.rules_ref.model_dump(), "rules": rules})
            return
        table = Table(
            title=f"Safety rules {catalogs.rules_ref.version} ({len(rules)}; sha256 {catalogs.rules_ref.sha256[:12]})",
            show_lines=True,
        )
        for col in ("rule", "level", "options", "what it says", "sources"):
            table.add_column(col)
        for r in rules:
            judgement = f"\n[italic]our judgement: {escape(r['judgement'])}[/]" if r["judgement"] else ""
            table.add_row(
                r["id"],
                r["level"],
                ", ".join(r["options"]),
                escape(r["text"]) + judgement,
                escape("\n".join(r["sources"])),
            )
        out_console.print(table)
        return
    profile = validate_profile(read_text(check), catalogs.features, catalogs.tables)
    assessment = apply_safety_rules(profile, catalogs)
    if as_json:
        out_console.print_json(assessment.model_dump_json())
        return
    for g in assessment.functional_phenotypes:
        if g.genotype_phenotype or g.functional_phenotype:
            out_console.print(escape(g.describe()), highlight=False)
    for w in assessment.data_warnings:
        out_console.print(f"not checked: {escape(w.message)}", highlight=False)
    table = Table(title="Options for this patient", show_lines=True)
    for col in ("option", "verdict", "reasons (most severe first)"):
        table.add_column(col)
    for o in assessment.options:
        reasons = [
            f"[{r.level.value}] {r.rule_id}: {r.text}" + (f" ({'; '.join(r.facts)})" if r.facts else "")
            for r in o.reasons
        ]
        table.add_row(o.option_id, o.verdict.value, escape("\n".join(reasons)) or "-")
    out_console.print(table)


# --------------------------------------------------------------------------------------------- pgx


@pgx_app.command("translate")
@handle_errors
def pgx_translate_cmd(
    source: Annotated[
        Path, typer.Argument(help="TSV with columns gene, diplotype (other columns are kept).")
    ],
    out: Annotated[Path, typer.Option("--out", help="TSV to write: adds activity_score and phenotype.")],
    force: ForceOpt = False,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Translate diplotypes to CPIC activity scores and phenotypes; bad rows are reported, the rest written."""
    from precisionpain.catalog.pgx_tables import load_pgx_tables
    from precisionpain.pgx import translate_table

    refuse_overwrite(force, out=out)
    table = translate_table(read_text(source), load_pgx_tables(catalog_root))
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
    patient = validate_profile(read_text(profile), feature_catalog, tables)
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
    profile: Annotated[
        Path | None, typer.Option("--profile", help="Profile JSON to add the results to.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the (updated) profile JSON.")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="PharmCAT results replace disagreeing ones.")
    ] = False,
    force: ForceOpt = False,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Read PharmCAT output into a profile's pharmacogenomics section."""
    from precisionpain.features.validate import validate_profile
    from precisionpain.pgx import merge_pgx, read_pharmcat_outside_calls, read_pharmcat_phenotype

    refuse_overwrite(force, out=out)
    feature_catalog, _, tables = _catalogs(catalog_root)
    text = read_text(source)
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
        patient = validate_profile(read_text(profile), feature_catalog, tables)
        merged = merge_pgx(patient.pgx, imported.pgx, replace=replace, tables=tables)
        data = patient.model_copy(update={"pgx": merged}).model_dump(mode="json", exclude_none=True)
    if out is None:
        out_console.print_json(json.dumps(data))
    else:
        write_json(out, data)
        err_console.print(f"wrote {out}")


# --------------------------------------------------------------------------------------------- quickstart


@app.command("quickstart")
@handle_errors
def quickstart_cmd(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the cohort, recommendations, reports and server log.")
    ] = Path("out"),
    n: Annotated[int, typer.Option("--n", min=1000, help="Synthetic patients to train on.")] = 200_000,
    seed: Annotated[int, typer.Option("--seed", help="Cohort seed.")] = 7,
    examples: Annotated[
        Path | None,
        typer.Option("--examples", help="Folder of profile JSON files (default: examples/patients)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Training config (default: the shipped models/response_model.yaml)."),
    ] = None,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="Train a new model even if a champion exists.")
    ] = False,
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Everything end to end: cohort, champion model, gRPC server, example requests and their reports."""
    from rich.table import Table

    from precisionpain.models.commands import sigterm_interrupts
    from precisionpain.quickstart import QuickstartPlan, run_quickstart, summary_text

    plan = QuickstartPlan(
        out=out.resolve(),
        home=home,
        tracking_uri=tracking_uri,
        catalog_root=catalog_root,
        n_patients=n,
        seed=seed,
        examples=examples,
        config=config,
        retrain=retrain,
    )

    def say(message: str) -> None:
        err_console.print(message, highlight=False)

    with sigterm_interrupts():
        result = run_quickstart(plan, say, lambda label: progress_steps(err_console, label))
    table = Table(
        title=f"{len(result.examples)} example patients, answered over gRPC by {result.model_uri} "
        f"(v{result.model_version})"
    )
    for col in ("patient", "top options (chance of response)", "excluded", "report"):
        table.add_column(col)
    for ex in result.examples:
        top = ", ".join(f"{name} {p:.0%}" for name, p in ex.top_options)
        alert = " [bold red](suicide-risk alert)[/]" if ex.critical_flags else ""
        table.add_row(ex.name + alert, top, ", ".join(ex.excluded) or "-", ex.report.name)
    out_console.print(table)
    out_console.print("\n" + summary_text(plan, result), highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------------------------- the rest

model_commands.register(app)  # train, evaluate, promote
service_commands.register(app)  # serve, recommend
report_commands.register(app)  # report
cds_commands.register(app)  # cds-hooks, fhir to-profile, fhir from-profile
scale_commands.register(app)  # score, mlflow-server


def main() -> None:
    complete_help_when_piped()
    app()


if __name__ == "__main__":
    main()
