"""``precisionpain cds-hooks`` (the CDS Hooks service) and ``precisionpain fhir to-profile | from-profile``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

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
    refuse_overwrite,
    write_json,
)
from precisionpain.errors import ValidationError, Violation

fhir_app = typer.Typer(
    help="FHIR R4 <-> patient profile, through serving/fhir_mapping.yaml.", no_args_is_help=True
)

AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Date (YYYY-MM-DD) ages are computed at (to-profile: default the bundle's timestamp, else today; "
        "from-profile: default today).",
    ),
]


def _as_of(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise ValidationError(
            "options", [Violation("--as-of", "must be a date YYYY-MM-DD", "string")]
        ) from None


def mapping_context(catalog_root: Path | None) -> Any:
    """The mapping catalog with the feature, CPIC and medication catalogs of a catalog root."""
    from precisionpain.cdshooks.mapping import load_fhir_mapping
    from precisionpain.cdshooks.to_profile import MappingContext
    from precisionpain.safety import load_safety_catalogs

    safety = load_safety_catalogs(catalog_root)
    return MappingContext(load_fhir_mapping(catalog_root), safety.features, safety.tables, safety.medications)


def to_profile_command(
    bundle: Annotated[
        Path, typer.Argument(help="A FHIR R4 Bundle (or one resource) as JSON ('-' for stdin).")
    ],
    as_of: AsOfOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the profile JSON here instead of printing it.")
    ] = None,
    force: ForceOpt = False,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Print the patient profile a FHIR bundle maps to; every data warning goes to standard error."""
    from precisionpain.cdshooks.to_profile import map_bundle
    from precisionpain.service.commands import read_json_object

    refuse_overwrite(force, out=out)
    data = read_json_object(bundle, "FHIR bundle")
    mapped = map_bundle(data, mapping_context(catalog_root), as_of=_as_of(as_of))
    for w in mapped.warnings:
        err_console.print(f"[yellow]{w.kind.value}:[/] {w.message}", highlight=False, soft_wrap=True)
    if mapped.profile is None:
        raise ValidationError("profile from the FHIR bundle", mapped.problems)
    profile = mapped.profile.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    if out is None:
        out_console.print_json(json.dumps(profile))
    else:
        write_json(out, profile)
        err_console.print(f"wrote {out}", highlight=False)


def from_profile_command(
    profile: Annotated[Path, typer.Argument(help="A patient profile JSON file ('-' for stdin).")],
    as_of: AsOfOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the bundle here instead of printing it.")
    ] = None,
    force: ForceOpt = False,
    catalog_root: CatalogRootOpt = None,
) -> None:
    """Print a FHIR R4 Bundle holding a patient profile (the rows of the mapping marked to be written)."""
    from precisionpain.cdshooks.from_profile import bundle_from_profile
    from precisionpain.features.validate import validate_profile
    from precisionpain.service.commands import read_json_object

    refuse_overwrite(force, out=out)
    context = mapping_context(catalog_root)
    patient = validate_profile(read_json_object(profile), context.features, context.tables)
    day = _as_of(as_of) or dt.datetime.now(dt.UTC).date()
    bundle = bundle_from_profile(patient, context.mapping, as_of=day)
    if out is None:
        typer.echo(json.dumps(bundle, indent=2, ensure_ascii=False))
    else:
        write_json(out, bundle)
        err_console.print(f"wrote {out}", highlight=False)


def cds_hooks_command(
    model: ModelOpt = None,
    model_path: ModelPathOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Server settings YAML (default: serving/server.yaml of the catalog root)."
        ),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port of the CDS Hooks service (default 8090; 0 = any free port)."),
    ] = None,
    home: HomeOpt = None,
    tracking_uri: TrackingOpt = None,
    catalog_root: CatalogRootOpt = None,
    public_base_url: Annotated[
        str | None,
        typer.Option("--public-base-url", help="Base URL of the card links, e.g. https://cds.example.org."),
    ] = None,
    fhir_server_allowlist: Annotated[
        str | None,
        typer.Option(
            "--fhir-server-allowlist",
            help="Comma-separated fhirServer URL prefixes to fetch missing prefetch from (default: none).",
        ),
    ] = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    tls_client_ca: TlsClientCaOpt = None,
    require_client_auth: RequireClientAuthOpt = None,
    require_token: RequireTokenOpt = None,
    token_file: TokenFileOpt = None,
    log_level: LogLevelOpt = None,
) -> None:
    """Serve the CDS Hooks 2.0 services (patient-view, order-select, order-sign) over FHIR R4, in-process."""
    from precisionpain.cdshooks.server import serve_cds_hooks
    from precisionpain.service.config import build_settings

    settings = build_settings(
        {
            "model": model,
            "model_path": model_path,
            "host": host,
            "cds_hooks.port": port,
            "home": home,
            "tracking_uri": tracking_uri,
            "catalog_root": catalog_root,
            "cds_hooks.public_base_url": public_base_url,
            "cds_hooks.fhir_server_allowlist": fhir_server_allowlist,
            "tls.cert_file": tls_cert,
            "tls.key_file": tls_key,
            "tls.client_ca_file": tls_client_ca,
            "tls.require_client_auth": require_client_auth,
            "auth.require_token": require_token,
            "auth.token_file": token_file,
            "log_level": log_level,
        },
        config_path=config,
    )
    raise typer.Exit(serve_cds_hooks(settings))


def register(app: typer.Typer) -> None:
    """Add ``fhir to-profile``, ``fhir from-profile`` and ``cds-hooks`` to ``app``."""
    add_commands(fhir_app, {"to-profile": to_profile_command, "from-profile": from_profile_command})
    add_commands(app, {"cds-hooks": cds_hooks_command})
    app.registered_groups = [g for g in app.registered_groups if g.name != "fhir"]
    app.add_typer(fhir_app, name="fhir")
