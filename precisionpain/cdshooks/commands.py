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


def register(app: typer.Typer) -> None:
    """Add ``fhir to-profile``, ``fhir from-profile`` and ``cds-hooks`` to ``app``."""
    add_commands(fhir_app, {"to-profile": to_profile_command, "from-profile": from_profile_command})
    app.registered_groups = [g for g in app.registered_groups if g.name != "fhir"]
    app.add_typer(fhir_app, name="fhir")
