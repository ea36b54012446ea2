"""Find, read and strictly validate the declarative catalogs (features/, models/, serving/).

Every problem in a file is collected and raised once as a :class:`CatalogError` that names the file, the
path inside it, the rule and the kind of value found. Unknown keys and duplicate keys are errors.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from precisionpain.catalog.types import (
    CatalogIndex,
    Constraint,
    DerivedFeature,
    Domain,
    DomainFile,
    FeatureSpec,
    FeatureType,
    FieldSpec,
    FieldType,
    InputField,
    MissingPolicy,
    ModelUse,
    TreatmentOptionCatalog,
)
from precisionpain.errors import CatalogError, Violation, kind_of

ENV_CATALOG_ROOT = "PRECISIONPAIN_CATALOG_ROOT"
CATALOG_DIRS = ("features", "models", "serving")
#: The vocabulary of medication_list fields, under features/ (read by precisionpain.catalog.safety).
MEDICATION_CATALOG_FILE = "medications.yaml"

M = TypeVar("M", bound=pydantic.BaseModel)


# ----------------------------------------------------------------------------------------- root resolution


def _bundled_root() -> Path:
    return Path(__file__).resolve().parent.parent / "_bundled"


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent.parent


def _is_root(path: Path) -> bool:
    return (path / "features" / "catalog.yaml").is_file() and (path / "models").is_dir()


def resolve_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding features/, models/ and serving/.

    Order: the ``--catalog-root`` flag, then ``PRECISIONPAIN_CATALOG_ROOT``, then the copy bundled in the
    wheel, then the source tree this package sits in (an editable install sees no bundled copy).
    """
    for candidate, origin in (
        (explicit, "--catalog-root"),
        (os.environ.get(ENV_CATALOG_ROOT) or None, ENV_CATALOG_ROOT),
    ):
        if candidate is not None:
            path = Path(candidate).expanduser().resolve()
            if not _is_root(path):
                raise CatalogError(
                    "catalog root",
                    [
                        Violation(
                            origin, "must name a folder holding features/catalog.yaml and models/", "path"
                        )
                    ],
                )
            return path
    for path in (_bundled_root(), _repo_root()):
        if _is_root(path):
            return path
    raise CatalogError(
        "catalog root",
        [Violation("catalog root", f"no catalog found; pass --catalog-root or set {ENV_CATALOG_ROOT}")],
    )


# ----------------------------------------------------------------------------------------- strict YAML


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file strictly; syntax errors and duplicate keys become a CatalogError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(str(path), [Violation(str(path), f"cannot be read ({exc.strerror})")]) from exc
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CatalogError(str(path), [Violation(str(path), f"invalid YAML{where}: {problem}")]) from exc


def pydantic_violations(err: pydantic.ValidationError, prefix: str = "") -> list[Violation]:
    """Turn pydantic errors into violations: dotted path, rule text, kind of the value (never the value)."""
    out: list[Violation] = []
    for e in err.errors(include_url=False, include_input=True, include_context=False):
        parts = [str(p) for p in e["loc"] if not str(p).startswith("function-")]
        path = ""
        for p in parts:
            path += f"[{p}]" if p.isdigit() else (f".{p}" if path else p)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        rule = e["msg"]
        received = kind_of(e.get("input"))
        if e["type"] == "extra_forbidden":
            rule = "unknown key (not allowed)"
        elif (
            e["type"] == "missing"
        ):  # the input pydantic reports is the enclosing object, not the absent value
            rule, received = "missing (required)", ""
        elif rule.startswith("Value error, "):
            rule = rule[len("Value error, ") :]
        out.append(Violation(path or "(root)", rule, received))
    return out


def parse_as(model: type[M], data: Any, what: str) -> M:
    """Validate ``data`` as ``model``; every problem is raised at once as a CatalogError naming ``what``."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as err:
        raise CatalogError(what, pydantic_violations(err)) from None


def sha256_of_files(paths: Iterable[Path], base: Path) -> str:
    """One digest over several files: their paths relative to ``base`` and their bytes, in sorted order."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda q: q.relative_to(base).as_posix()):
        h.update(p.relative_to(base).as_posix().encode())
        h.update(b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------- feature catalog


@dataclass(frozen=True, slots=True)
class FieldRow:
    section: str
    id: str
    path: str
    type: FieldType
    valid_range: tuple[float, float] | None
    unit: str
    required: bool


@dataclass(frozen=True, eq=False)
class FeatureCatalog:
    """The validated feature catalog: input fields (for validation) and model features (column order).

    ``fields`` are the fields of the profile's sections (``clinical.age_years``, ...); ``top_level_fields`` the
    top-level ones (``medications``, a ``medication_list``). :meth:`field` finds both. Compared and hashed by
    identity; two loads of the same files have the same ``sha256``.
    """

    catalog_id: str
    version: str
    sha256: str
    root: Path
    fields: tuple[FieldSpec, ...]
    features: tuple[FeatureSpec, ...]
    constraints: tuple[Constraint, ...]
    files: tuple[str, ...]
    # Top-level profile fields (the medication list): not in ``fields``, which are the fields of the sections.
    top_level_fields: tuple[FieldSpec, ...] = ()
    _field_by_id: Mapping[str, FieldSpec] = field(repr=False, compare=False, default_factory=dict)
    _feature_by_id: Mapping[str, FeatureSpec] = field(repr=False, compare=False, default_factory=dict)

    @property
    def feature_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.features)

    @property
    def pgx_dir(self) -> Path:
        return self.root / "features" / "pgx"

    def field(self, field_id: str) -> FieldSpec:
        return self._field_by_id[field_id]

    def feature(self, feature_id: str) -> FeatureSpec:
        return self._feature_by_id[feature_id]

    def has_field(self, field_id: str) -> bool:
        return field_id in self._field_by_id

    @property
    def input_fields(self) -> tuple[FieldSpec, ...]:
        """Every profile input: the sections' fields, then the top-level ones (the flat columns' order)."""
        return (*self.fields, *self.top_level_fields)

    @property
    def medication_list_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.top_level_fields if f.field.type is FieldType.medication_list)

    def fields_in(self, section: str) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.section == section)

    @property
    def sections(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for f in self.fields:
            seen.setdefault(f.section, None)
        return tuple(seen)

    @cached_property
    def field_rows(self) -> tuple[FieldRow, ...]:
        """Per input field, the few facts validation needs, precomputed for the hot path."""
        return tuple(
            FieldRow(
                section=f.section,
                id=f.id,
                path=f.path,
                type=f.field.type,
                valid_range=f.field.valid_range,
                unit=f.field.unit,
                required=f.field.missing is MissingPolicy.required,
            )
            for f in self.fields
        )

    @property
    def identity(self) -> dict[str, str]:
        """Catalog id, version and sha256: what every model, response and report records."""
        return {"catalog_id": self.catalog_id, "version": self.version, "sha256": self.sha256}


_IDENTITY_FEATURE_TYPE = {
    FieldType.number: FeatureType.number,
    FieldType.integer: FeatureType.integer,
    FieldType.boolean: FeatureType.binary,
}


def _constraint_problems(c: Constraint, specs: Mapping[str, InputField]) -> list[Violation]:
    """What is wrong with one cross-field rule: fields that do not exist or are of the wrong type, and for a
    ``levels_allowed`` table, levels that are not the fields' own or a level of the first field left out."""
    where = f"constraints.{c.id}"
    wanted = (FieldType.category,) if c.rule == "levels_allowed" else (FieldType.number, FieldType.integer)
    kind = "category" if c.rule == "levels_allowed" else "number"
    out: list[Violation] = []
    for fid in c.fields:
        if fid not in specs:
            out.append(Violation(where, f"names {fid!r}, which is not a field"))
        elif specs[fid].type not in wanted:
            out.append(Violation(where, f"names {fid!r}, which is not a {kind} field"))
    if out or c.allowed is None:
        return out
    first, second = (set(specs[fid].levels or ()) for fid in c.fields)
    for level, partners in c.allowed.items():
        if level not in first:
            out.append(
                Violation(f"{where}.allowed", f"names {level!r}, which is not a level of {c.fields[0]}")
            )
        out += [
            Violation(f"{where}.allowed.{level}", f"names {p!r}, which is not a level of {c.fields[1]}")
            for p in partners
            if p not in second
        ]
    out += [
        Violation(f"{where}.allowed", f"leaves out {level!r}: every level of {c.fields[0]} is listed")
        for level in sorted(first - set(c.allowed))
    ]
    return out


def load_feature_catalog(root: str | os.PathLike[str] | None = None) -> FeatureCatalog:
    """Read features/catalog.yaml and its domain files; validate everything; raise once."""
    from precisionpain.features.encoders import ENCODERS  # the encoders a catalog may name

    base = resolve_root(root)
    fdir = base / "features"
    index = parse_as(CatalogIndex, read_yaml(fdir / "catalog.yaml"), "features/catalog.yaml")

    violations: list[Violation] = []
    domain_files: list[tuple[str, DomainFile]] = []
    for name in index.files:
        path = fdir / name
        rel = f"features/{name}"
        if not path.is_file():
            violations.append(Violation("features/catalog.yaml:files", f"lists {name}, which does not exist"))
            continue
        try:
            domain_files.append((rel, parse_as(DomainFile, read_yaml(path), rel)))
        except CatalogError as exc:
            violations.extend(Violation(f"{rel}:{v.path}", v.rule, v.received) for v in exc.violations)

    fields: list[FieldSpec] = []
    top_level: list[FieldSpec] = []
    features: list[FeatureSpec] = []
    constraints: list[Constraint] = []
    seen_fields: dict[str, str] = {}
    seen_features: dict[str, str] = {}
    pending_derived: list[tuple[str, int, Domain, DerivedFeature]] = []

    for rel, df in domain_files:
        for i, f in enumerate(df.fields):
            if f.id in seen_fields:
                violations.append(
                    Violation(f"{rel}:fields[{i}].id", f"duplicate field id (also in {seen_fields[f.id]})")
                )
                continue
            seen_fields[f.id] = rel
            spec = FieldSpec(section=df.section or "", domain=df.domain, field=f)
            (fields if df.section is not None else top_level).append(spec)
            if f.model is ModelUse.identity:
                seen_features[f.id] = rel
                features.append(
                    FeatureSpec(
                        id=f.id,
                        index=len(features),
                        domain=df.domain,
                        type=_IDENTITY_FEATURE_TYPE[f.type],
                        unit=f.unit,
                        valid_range=f.valid_range,
                        sources=(f.id,),
                        encoder="identity",
                        args={},
                        label=f.label,
                        description=f.description,
                    )
                )
        for i, d in enumerate(df.derived):
            pending_derived.append((rel, i, df.domain, d))
        constraints.extend(df.constraints)

    seen_field_specs = {f.id: f.field for f in (*fields, *top_level)}
    field_types = {fid: spec.type for fid, spec in seen_field_specs.items()}
    for rel, i, domain, d in pending_derived:
        where = f"{rel}:derived[{i}]"
        if d.id in seen_features or d.id in seen_fields:
            violations.append(Violation(f"{where}.id", "duplicate id (a field or feature already has it)"))
            continue
        for s in d.sources:
            if s not in seen_fields:
                violations.append(Violation(f"{where}.sources", f"names {s!r}, which is not a field"))
        encoder = ENCODERS.get(d.encoder)
        if encoder is None:
            violations.append(
                Violation(f"{where}.encoder", f"unknown encoder; known: {', '.join(sorted(ENCODERS))}")
            )
        else:
            for problem in encoder.check_args(d.args):
                violations.append(Violation(f"{where}.args", problem))
            if encoder.source_types is not None:
                wanted = ", ".join(t.value for t in encoder.source_types)
                got = [field_types.get(s) for s in d.sources]
                if len(got) != len(encoder.source_types) or any(
                    t is not None and t is not w for t, w in zip(got, encoder.source_types, strict=False)
                ):
                    violations.append(
                        Violation(
                            f"{where}.sources", f"{d.encoder} takes fields of types {wanted}, in that order"
                        )
                    )
            elif not encoder.multiple_sources and len(d.sources) != 1:
                violations.append(Violation(f"{where}.sources", f"{d.encoder} takes exactly one source"))
            for s in d.sources:
                if s not in seen_fields or encoder.source_types is not None:
                    continue
                if field_types[s] is FieldType.medication_list:
                    violations.append(
                        Violation(f"{where}.sources", f"{s}: {d.encoder} cannot read a medication_list")
                    )
                    continue
                is_gene = field_types[s] is FieldType.pgx_gene
                if encoder.gene_sources != is_gene:
                    rule = (
                        "must be a pgx_gene field" if encoder.gene_sources else "cannot be a pgx_gene field"
                    )
                    violations.append(Violation(f"{where}.sources", f"{s}: {d.encoder} source {rule}"))
                if encoder.needs_source_ranges and seen_field_specs[s].valid_range is None:
                    violations.append(Violation(f"{where}.sources", f"{s}: {d.encoder} needs a valid_range"))
        seen_features[d.id] = rel
        features.append(
            FeatureSpec(
                id=d.id,
                index=len(features),
                domain=domain,
                type=d.type,
                unit=d.unit,
                valid_range=d.valid_range,
                sources=d.sources,
                encoder=d.encoder,
                args=d.args,
                label=d.label,
                description=d.description,
            )
        )

    for c in constraints:
        violations += _constraint_problems(c, seen_field_specs)

    if top_level and not (fdir / MEDICATION_CATALOG_FILE).is_file():
        violations.append(
            Violation(
                "features/catalog.yaml:files",
                f"a medication_list field needs features/{MEDICATION_CATALOG_FILE}",
            )
        )
    CatalogError.raise_if_any("feature catalog", violations)
    all_files = [fdir / "catalog.yaml", *(fdir / n for n in index.files)]
    if (
        top_level
    ):  # the medication list's vocabulary (and the inhibitor strengths features read) is part of it
        all_files.append(fdir / MEDICATION_CATALOG_FILE)
    pgx_dir = fdir / index.pgx_tables
    all_files += sorted(p for p in pgx_dir.glob("*.tsv"))
    return FeatureCatalog(
        catalog_id=index.catalog_id,
        version=index.version,
        sha256=sha256_of_files(all_files, fdir),
        root=base,
        fields=tuple(fields),
        features=tuple(features),
        constraints=tuple(constraints),
        files=tuple(p.relative_to(base).as_posix() for p in all_files),
        top_level_fields=tuple(top_level),
        _field_by_id={f.id: f for f in (*fields, *top_level)},
        _feature_by_id={f.id: f for f in features},
    )


# ----------------------------------------------------------------------------------------- treatment options


@dataclass(frozen=True)
class OptionCatalog:
    """models/treatment_options.yaml, validated, with its sha256."""

    catalog: TreatmentOptionCatalog
    sha256: str
    path: Path

    @property
    def options(self) -> tuple[Any, ...]:
        return self.catalog.options

    @property
    def ids(self) -> tuple[str, ...]:
        return self.catalog.ids

    def get(self, option_id: str) -> Any:
        return self.catalog.get(option_id)


def load_treatment_options(root: str | os.PathLike[str] | None = None) -> OptionCatalog:
    base = resolve_root(root)
    path = base / "models" / "treatment_options.yaml"
    cat = parse_as(TreatmentOptionCatalog, read_yaml(path), "models/treatment_options.yaml")
    return OptionCatalog(catalog=cat, sha256=file_sha256(path), path=path)


@cache
def default_feature_catalog() -> FeatureCatalog:
    """The catalog resolved without a flag (env var, bundled copy or source tree), read once."""
    return load_feature_catalog(None)


@cache
def default_treatment_options() -> OptionCatalog:
    return load_treatment_options(None)
