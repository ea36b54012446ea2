"""The ``serve`` and ``recommend`` commands; :func:`register` adds them to the ``precisionpain`` CLI.

``recommend`` without ``--target`` loads the model the way the server does and answers through the same
servicer and conversion code in-process; with ``--target`` it calls a running server. Both print the same
table, or the proto3 JSON of the RecommendResponse with ``--json``; ``--save`` also writes the recommendation
record that ``precisionpain report`` turns into the clinician report.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from precisionpain.cli_support import (
    CatalogRootOpt,
    ForceOpt,
    HomeOpt,
    LogLevelOpt,
    ModelOpt,
    ModelPathOpt,
    RequireClientAuthOpt,
    RequireTokenOpt,
    TlsCertOpt,
    TlsClientCaOpt,
    TlsKeyOpt,
    TokenFileOpt,
    TrackingOpt,
    add_commands,
    err_console,
    out_console,
    read_text,
    refuse_overwrite,
)

if TYPE_CHECKING:
    from precisionpain.catalog.catalogs import Catalogs
    from precisionpain.schema import ModelSummary, PatientProfile, RecommendationRecord
    from precisionpain.service.client import RecommendationClient
    from precisionpain.v1 import service_pb2

ENV_TOKEN = "PRECISIONPAIN_API_TOKEN"


# --------------------------------------------------------------------------------------------- serve


def serve_command(
    model: ModelOpt = None,
    model_path: ModelPathOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Server settings YAML (default: serving/server.yaml of the catalog root)."
        ),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (0 = any free port).")] = None,
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
    catalog_root: CatalogRootOpt = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Threads serving calls per process (default 2).")
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option("--processes", help="Server processes sharing the port (default 1; one per core)."),
    ] = None,
    max_batch_size: Annotated[
        int | None, typer.Option("--max-batch-size", help="Most patients per RecommendBatch.")
    ] = None,
    alias_check_interval_s: Annotated[
        float | None,
        typer.Option(
            "--alias-check-interval-s", help="Seconds between checks for a new model (0 = SIGHUP only)."
        ),
    ] = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_client_ca: TlsClientCaOpt = None,
    require_client_auth: RequireClientAuthOpt = None,
    require_token: RequireTokenOpt = None,
    token_file: TokenFileOpt = None,
    reflection_requires_token: Annotated[
        bool | None,
        typer.Option(
            "--reflection-requires-token/--no-reflection-requires-token",
            help="Put server reflection behind the token check too (production).",
        ),
    ] = None,
    log_level: LogLevelOpt = None,
) -> None:
    """Serve RecommendationService over gRPC (health, reflection, TLS, tokens; SIGHUP reloads the model)."""
    from precisionpain.service.config import build_settings
    from precisionpain.service.server import serve

    settings = build_settings(
        {
            "model": model,
            "model_path": model_path,
            "host": host,
            "port": port,
            "home": home,
            "tracking_uri": tracking_uri,
            "catalog_root": catalog_root,
            "workers": workers,
            "processes": processes,
            "limits.max_batch_size": max_batch_size,
            "reload.alias_check_interval_s": alias_check_interval_s,
            "tls.cert_file": tls_cert,
            "tls.key_file": tls_key,
            "tls.client_ca_file": tls_client_ca,
            "tls.require_client_auth": require_client_auth,
            "auth.require_token": require_token,
            "auth.token_file": token_file,
            "auth.reflection_requires_token": reflection_requires_token,
            "log_level": log_level,
        },
        config_path=config,
    )
    raise typer.Exit(serve(settings))


# --------------------------------------------------------------------------------------------- recommend


def read_json_object(path: Path, what: str = "patient profile") -> dict[str, Any]:
    """A JSON object from a file ('-' for stdin); not JSON, or not an object, is one clear error."""
    from precisionpain.errors import ProfileValidationError, Violation, kind_of

    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise ProfileValidationError(
            what, [Violation("(root)", f"is not valid JSON at line {exc.lineno}, column {exc.colno}", "text")]
        ) from None
    if not isinstance(data, dict):
        raise ProfileValidationError(what, [Violation("(root)", "must be a JSON object", kind_of(data))])
    return data


TargetOpt = Annotated[
    str | None, typer.Option("--target", help="HOST:PORT of a running server (default: in-process).")
]
CaOpt = Annotated[
    Path | None, typer.Option("--ca", help="CA certificate (PEM) to trust the server (turns on TLS).")
]
CertOpt = Annotated[
    Path | None, typer.Option("--cert", help="Client certificate chain (PEM) for mutual TLS.")
]
KeyOpt = Annotated[Path | None, typer.Option("--key", help="Client private key (PEM) for mutual TLS.")]
ServerNameOpt = Annotated[
    str | None, typer.Option("--server-name", help="Name in the server certificate, if not the target host.")
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", envvar=ENV_TOKEN, help=f"Bearer token (or {ENV_TOKEN}).", show_default=False),
]
TimeoutOpt = Annotated[float, typer.Option("--timeout-s", help="Deadline of the remote call.")]


@dataclass(frozen=True)
class Remote:
    """How to reach a running server (``--target`` and its TLS and token options)."""

    target: str
    token: str | None = None
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    server_name: str | None = None
    timeout_s: float = 10.0

    def client(self) -> RecommendationClient:
        from precisionpain.service.client import RecommendationClient

        return RecommendationClient(
            self.target,
            token=self.token,
            root_certificates=self.ca.read_bytes() if self.ca else None,
            certificate_chain=self.cert.read_bytes() if self.cert else None,
            private_key=self.key.read_bytes() if self.key else None,
            server_name=self.server_name,
            timeout_s=self.timeout_s,
        )


@dataclass(frozen=True)
class Local:
    """Where the in-process path finds its model (the same options as ``serve``)."""

    model: str | None = None
    model_path: Path | None = None
    home: Path | None = None
    tracking_uri: str | None = None
    catalog_root: Path | None = None


def answer(
    request: service_pb2.RecommendRequest, where: Remote | Local
) -> tuple[service_pb2.RecommendResponse, ModelSummary]:
    """The RecommendResponse and the summary of the model that gave it, from a server (``Remote``) or
    in-process through the servicer the server uses (``Local``)."""
    from precisionpain.service.convert import model_summary_from_response
    from precisionpain.v1 import service_pb2 as pb

    if isinstance(where, Remote):
        with where.client() as client:
            return client.recommend(request), client.model_summary()

    from precisionpain.catalog.loader import load_feature_catalog
    from precisionpain.service.config import DEFAULT_MODEL_URI
    from precisionpain.service.model_store import load_model, model_source
    from precisionpain.service.servicer import CallInfo, RecommendationServicer

    catalog = load_feature_catalog(where.catalog_root)
    source = model_source(
        where.model or DEFAULT_MODEL_URI, where.model_path, home=where.home, tracking_uri=where.tracking_uri
    )
    loaded = load_model(source, catalog.sha256, warmup=False)
    servicer = RecommendationServicer(lambda: loaded, max_batch_size=1)
    call = CallInfo(request_id=uuid.uuid4().hex)
    description = servicer.describe_model(pb.DescribeModelRequest(), call)
    return servicer.recommend(request, call), model_summary_from_response(description)


def ask_where(
    target: str | None,
    remote: tuple[str | None, Path | None, Path | None, Path | None, str | None, float],
    local: Local,
) -> Remote | Local:
    """A running server when ``target`` is given (``remote``: token, ca, cert, key, server name, timeout),
    else in-process with ``local``."""
    return Remote(target, *remote) if target is not None else local


def checked_profile(data: dict[str, Any], catalogs: Catalogs) -> PatientProfile:
    """The profile checked the way ``validate`` checks it (schema, catalog ranges, CPIC tables), every problem
    raised at once, so ``recommend`` and ``report`` list the same problems as ``validate`` and list them before
    any model is loaded or any server called."""
    from precisionpain.features.validate import validate_profile

    return validate_profile(data, catalogs.features, catalogs.tables)


def recommendation_record(
    profile: PatientProfile, response: service_pb2.RecommendResponse, model: ModelSummary
) -> RecommendationRecord:
    """What ``recommend --save`` writes and ``report`` reads: profile, explained ranking and model summary."""
    from precisionpain.schema import RecommendationRecord
    from precisionpain.service.convert import explained_recommendation_from_response

    return RecommendationRecord(
        profile=profile, explained=explained_recommendation_from_response(response), model=model
    )


def write_record(record: RecommendationRecord, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")


def _tier_label(position: Any) -> str:
    """An option's guideline tier as the report names it; "-" when the answer has none (or one this version does
    not know)."""
    from precisionpain.explain.display import TIER_LABELS
    from precisionpain.schema import GuidelineTier
    from precisionpain.v1 import recommendation_pb2

    try:
        name = recommendation_pb2.GuidelineTier.Name(position.tier).removeprefix("GUIDELINE_TIER_")
        return TIER_LABELS[GuidelineTier(name.lower())]
    except ValueError:
        return "-"


def _print_table(resp: Any) -> None:
    from rich.table import Table

    from precisionpain.explain import display
    from precisionpain.v1 import recommendation_pb2

    out, err = out_console, err_console
    action = recommendation_pb2.GuidanceAction
    context = resp.guideline_context.text if resp.HasField("guideline_context") else ""
    table = Table(title="Ranked treatment options", caption=context or None, show_lines=False)
    for col in (
        "rank",
        "option",
        "class",
        "p(response)",
        "90% interval",
        "stops for side effects",
        "net benefit",
        "chance best",
        "guideline tier",
        "CPIC guidance / cautions",
        "top factors",
    ):
        table.add_column(col)
    shared = {
        o: len(g.option_ids) for g in resp.ranking.groups for o in g.option_ids if len(g.option_ids) > 1
    }
    for o in resp.options:
        guidance = [
            f"{action.Name(g.action).removeprefix('GUIDANCE_ACTION_')} ({g.classification or 'n/a'})"
            for g in o.guidance
            if g.action not in (0, action.Value("GUIDANCE_ACTION_NO_RECOMMENDATION"))
        ]
        warnings = sum(1 for c in o.cautions if c.severity >= 2)
        notes = ", ".join(guidance) + (f"{'; ' if guidance else ''}{warnings} caution(s)" if warnings else "")
        factors = ", ".join(
            f"{c.label} {'+' if c.shap_value >= 0 else '-'}"
            for c in list(o.explanation.top_contributions)[:3]
        )
        iv = o.p_response_interval
        harm = next((h for h in o.harms if h.outcome == recommendation_pb2.OUTCOME_ADVERSE_EVENT), None)
        table.add_row(
            # options that cannot be told apart share their group's mark: "1=" for the first group's members
            f"{o.rank}{'=' if o.option_id in shared else ''}",
            o.display_name,
            display.option_class_label(o.option_class),
            f"{o.p_response:.0%}",
            f"{iv.lower:.0%}-{iv.upper:.0%}",
            f"{harm.probability:.0%}" if harm is not None else "",
            f"{o.net_benefit.value:+.2f}" if o.HasField("net_benefit") else "",
            f"{o.probability_best:.0%}" if o.HasField("net_benefit") else "",
            _tier_label(o.guideline),
            notes,
            factors,
        )
    out.print(table)
    for g in resp.ranking.groups:
        if len(g.option_ids) > 1:
            names = {o.option_id: o.display_name for o in resp.options}
            out.print(f"{g.text} (marked =): {', '.join(names.get(i, i) for i in g.option_ids)}", highlight=False)
    if resp.ranking.utility:
        out.print(resp.ranking.utility, highlight=False)
    if resp.excluded:
        excluded = Table(title="Not ranked as usable", show_lines=True)
        excluded.add_column("option")
        excluded.add_column("guideline tier")
        excluded.add_column("reason")
        for o in resp.excluded:
            excluded.add_row(o.display_name, _tier_label(o.guideline), o.reason)
        out.print(excluded)
    for flag in resp.safety_flags:
        out.print(f"[bold red]safety:[/] {flag.message}", highlight=False)
    for w in resp.warnings:
        err.print(f"[yellow]note:[/] {w.message}", highlight=False)
    p = resp.provenance
    version = f" v{p.model_version}" if p.model_version else ""
    alias = f" ({p.model_alias})" if p.model_alias else ""
    err.print(
        f"model {p.model_name}{version}{alias}; catalog {p.catalog_id} {p.catalog_version} "
        f"({p.catalog_sha256[:12]}); code {p.code_version}; request {resp.request_id}",
        highlight=False,
        style="dim",
    )


def recommend_command(
    profile: Annotated[Path, typer.Argument(help="A profile JSON file ('-' for stdin).")],
    target: TargetOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the RecommendResponse as proto3 JSON.")
    ] = False,
    candidates: Annotated[
        str | None, typer.Option("--candidates", help="Comma-separated option ids to rank.")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Contributions listed per explanation.")] = 8,
    model: ModelOpt = None,
    model_path: ModelPathOpt = None,
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
    catalog_root: CatalogRootOpt = None,
    save: Annotated[
        Path | None,
        typer.Option(
            "--save", help="Also write the recommendation record (input of 'precisionpain report')."
        ),
    ] = None,
    force: ForceOpt = False,
    ca: CaOpt = None,
    cert: CertOpt = None,
    key: KeyOpt = None,
    server_name: ServerNameOpt = None,
    token: TokenOpt = None,
    timeout_s: TimeoutOpt = 10.0,
) -> None:
    """Ranked, explained treatment options for one patient (in-process, or from a server with --target)."""
    from google.protobuf import json_format

    from precisionpain.catalog.catalogs import load_catalogs
    from precisionpain.service.client import recommend_request

    refuse_overwrite(force, save=save)
    data = read_json_object(profile)
    patient = checked_profile(data, load_catalogs(catalog_root))
    wanted = [c.strip() for c in candidates.split(",") if c.strip()] if candidates else None
    request = recommend_request(data, wanted, top_k)
    where = ask_where(
        target,
        (token, ca, cert, key, server_name, timeout_s),
        Local(model, model_path, home, tracking_uri, catalog_root),
    )
    resp, summary = answer(request, where)
    if save is not None:
        write_record(recommendation_record(patient, resp, summary), save)
        err_console.print(f"wrote {save}", highlight=False)
    if json_out:
        typer.echo(json_format.MessageToJson(resp, preserving_proto_field_name=True, indent=2))
        return
    _print_table(resp)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``recommend`` to ``app`` (replacing commands of the same names)."""
    add_commands(app, {"serve": serve_command, "recommend": recommend_command})
