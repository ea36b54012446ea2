"""The ``report`` command: one patient's self-contained HTML clinician report.

From a profile, the recommendation comes from the model in-process (the same servicer and conversion code
the server runs) or, with ``--target``, from a running server. From a saved recommendation record
(``precisionpain recommend --save``) the report is rebuilt without any model or server.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from precisionpain.cli_support import (
    OUT_DIR,
    CatalogRootOpt,
    ForceOpt,
    HomeOpt,
    ModelOpt,
    ModelPathOpt,
    TrackingOpt,
    add_commands,
    err_console,
    refuse_overwrite,
)
from precisionpain.service.commands import (
    CaOpt,
    CertOpt,
    KeyOpt,
    Local,
    Remote,
    ServerNameOpt,
    TargetOpt,
    TimeoutOpt,
    TokenOpt,
    ask_where,
    checked_profile,
    read_json_object,
    write_record,
)

if TYPE_CHECKING:
    from precisionpain.catalog.catalogs import Catalogs
    from precisionpain.explain.report import Report
    from precisionpain.schema import PatientProfile, RecommendationRecord

DEFAULT_TOP_K = 8


def read_record(data: dict[str, Any]) -> RecommendationRecord:
    """A saved recommendation record (parsed JSON); every problem is raised at once."""
    import pydantic

    from precisionpain.catalog.loader import pydantic_violations
    from precisionpain.errors import ValidationError
    from precisionpain.schema import RecommendationRecord

    try:
        return RecommendationRecord.model_validate(data)
    except pydantic.ValidationError as err:
        raise ValidationError("recommendation record", pydantic_violations(err)) from None


def is_record(data: Any) -> bool:
    return isinstance(data, dict) and "record_format" in data


def recommend_record(
    data: dict[str, Any], profile: PatientProfile, where: Remote | Local, top_k: int = DEFAULT_TOP_K
) -> RecommendationRecord:
    """Ask the model (in-process or remote) about a profile (``data``, already checked as ``profile``) and keep
    what the report needs."""
    from precisionpain.service.client import recommend_request
    from precisionpain.service.commands import answer, recommendation_record

    response, summary = answer(recommend_request(data, None, top_k), where)
    return recommendation_record(profile, response, summary)


def report_from_record(
    record: RecommendationRecord, catalogs: Catalogs, top_k: int = DEFAULT_TOP_K
) -> Report:
    """The clinician report of a saved recommendation, against the catalogs the recommendation was made with
    (a mismatch is an error naming the catalogs, never a silently wrong label)."""
    from precisionpain.explain.report import build_report

    return build_report(
        record.explained,
        record.profile,
        record.model,
        catalogs.features,
        catalogs.tables,
        options=catalogs.options,
        max_contributions=top_k,
    )


def write_report(report: Report, html: Path, json_path: Path | None = None) -> None:
    from precisionpain.explain.report import render_html, report_json

    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(render_html(report), encoding="utf-8")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(report_json(report) + "\n", encoding="utf-8")


def _default_out(source: Path) -> Path:
    """``out/<base>.report.html`` in the working directory (``out/report.html`` for standard input)."""
    if str(source) == "-":
        return OUT_DIR / "report.html"
    base = source.name.removesuffix(".json").removesuffix(".recommendation")
    return OUT_DIR / f"{base}.report.html"


def report_command(
    source: Annotated[
        Path,
        typer.Argument(
            help="A profile JSON file, or a saved recommendation (precisionpain recommend --save); '-' for stdin."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="HTML file to write (default: out/<base>.report.html).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here.")
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option("--save", help="Also write the recommendation record the report was built from."),
    ] = None,
    top_k: Annotated[
        int, typer.Option("--top-k", min=1, help="Contributors shown per option.")
    ] = DEFAULT_TOP_K,
    force: ForceOpt = False,
    target: TargetOpt = None,
    model: ModelOpt = None,
    model_path: ModelPathOpt = None,
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
    catalog_root: CatalogRootOpt = None,
    ca: CaOpt = None,
    cert: CertOpt = None,
    key: KeyOpt = None,
    server_name: ServerNameOpt = None,
    token: TokenOpt = None,
    timeout_s: TimeoutOpt = 10.0,
) -> None:
    """Write the clinician's HTML report for one patient (in-process, from a server, or from a saved record)."""
    from precisionpain.catalog.catalogs import load_catalogs

    html = out or _default_out(source)
    refuse_overwrite(force, out=html, json=json_out, save=save)
    data = read_json_object(source, "report input")
    catalogs = load_catalogs(catalog_root)
    if is_record(data):
        record = read_record(data)
    else:
        patient = checked_profile(data, catalogs)
        local = Local(model, model_path, home, tracking_uri, catalog_root)
        where = ask_where(target, (token, ca, cert, key, server_name, timeout_s), local)
        record = recommend_record(data, patient, where, top_k)
    report = report_from_record(record, catalogs, top_k)
    write_report(report, html, json_out)
    if save is not None:
        write_record(record, save)
    err_console.print(f"wrote {html}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app`` (replacing a command of the same name)."""
    add_commands(app, {"report": report_command})
