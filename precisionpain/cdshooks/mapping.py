"""serving/fhir_mapping.yaml, read strictly: which FHIR codes give which PatientProfile field, and how.

The file's header says how a row reads. Every problem is collected and raised once as a :class:`CatalogError`
naming the path inside the file, the rule and the kind of value found. Beyond each row's shape the loader checks
what rows point at: profile fields (against :mod:`precisionpain.schema`, with the type of a constant, a category
or a coded value), code systems, sources and genes; that no code gives one field two ways; and that every
profile input has exactly one row ``precisionpain fhir from-profile`` writes, so any profile round-trips.
"""

from __future__ import annotations

import enum
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import Field, model_validator

from precisionpain.base import FrozenModel
from precisionpain.catalog.loader import file_sha256, parse_as, read_yaml, resolve_root
from precisionpain.catalog.safety import MedicationProperty, Source
from precisionpain.errors import CatalogError, Violation, kind_of
from precisionpain.schema import SECTIONS, GeneResult, PatientProfile

MAPPING_FILE = "serving/fhir_mapping.yaml"
VERSION = r"^\d+\.\d+\.\d+$"
FIELD_PATH = r"^[a-z][a-z0-9_]*(\.(\{gene\}|[a-z][a-z0-9_]*)){1,2}$"
MAX_CODE_CHARS = 128

#: The FHIR resource types the mapping reads (besides Patient and the medication resources)
Resource = Literal["Observation", "Condition"]


class ValueKind(StrEnum):
    """How a row reads its resource's value (see the header of serving/fhir_mapping.yaml)."""

    score = "score"
    quantity = "quantity"
    boolean = "boolean"
    category = "category"
    coded = "coded"
    presence = "presence"
    constant = "constant"
    diplotype = "diplotype"
    phenotype = "phenotype"
    activity_score = "activity_score"
    snp_genotype = "snp_genotype"
    allele_presence = "allele_presence"


GENOMIC_KINDS = frozenset(
    {
        ValueKind.diplotype,
        ValueKind.phenotype,
        ValueKind.activity_score,
        ValueKind.snp_genotype,
        ValueKind.allele_presence,
    }
)
CONDITION_KINDS = frozenset({ValueKind.presence, ValueKind.constant})
GENE_TEMPLATE = "{gene}"


@dataclass(frozen=True, slots=True)
class CodeRef:
    """``alias#code`` of the catalog; ``prefix`` when it ended in ``*`` (every code starting with ``code``)."""

    alias: str
    code: str
    prefix: bool = False

    @classmethod
    def parse(cls, text: str) -> CodeRef:
        alias, sep, code = text.partition("#")
        if not sep or not alias or not code or len(code) > MAX_CODE_CHARS:
            raise ValueError("must read <system alias>#<code>")
        prefix = code.endswith("*")
        code = code.removesuffix("*")
        if not code or "*" in code:
            raise ValueError("may end in one * (a code family), and has a code before it")
        return cls(alias, code, prefix)

    def __str__(self) -> str:
        return f"{self.alias}#{self.code}{'*' if self.prefix else ''}"


class UnitConversion(FrozenModel):
    """value in this unit * factor + offset = value in the row's unit."""

    factor: float
    offset: float = 0.0

    @model_validator(mode="after")
    def _finite(self) -> UnitConversion:
        if not (math.isfinite(self.factor) and math.isfinite(self.offset)) or self.factor == 0:
            raise ValueError("factor and offset must be finite numbers and factor not 0")
        return self


class MappingRow(FrozenModel):
    field: str = Field(pattern=FIELD_PATH)
    resource: Resource
    codes: tuple[str, ...] = Field(min_length=1)
    value: ValueKind
    unit: str | None = Field(default=None, min_length=1, max_length=40)
    units: dict[str, UnitConversion] = Field(default_factory=dict)
    # `lower`: a value reported as above a bound (comparator > or >=) is used as the bound, with a warning
    bounds: Literal["lower"] | None = None
    levels: dict[str, bool | str | float] = Field(default_factory=dict)
    presence: Literal["current", "history"] | None = None
    constant: bool | str | float | None = None
    derived: bool = False
    note: str = Field(default="", max_length=300)
    derive: dict[str, str] = Field(default_factory=dict)
    genes: tuple[str, ...] = ()
    variant: str | None = None
    allele: str | None = None
    emit: bool = True
    sources: tuple[str, ...] = Field(min_length=1)
    verified: bool = False

    @model_validator(mode="after")
    def _shape(self) -> MappingRow:
        kind = self.value
        if (self.resource == "Condition") != (kind in CONDITION_KINDS):
            raise ValueError(
                "Condition rows read presence or constant; Observation rows read the other kinds"
            )
        if (kind is ValueKind.quantity) != (self.unit is not None):
            raise ValueError("quantity rows, and only they, name their unit")
        if (self.units or self.bounds) and kind is not ValueKind.quantity:
            raise ValueError("units (conversions) and bounds go with quantity rows")
        if (kind is ValueKind.coded) != bool(self.levels):
            raise ValueError("coded rows, and only they, list their levels")
        if (kind is ValueKind.presence) != (self.presence is not None):
            raise ValueError("presence rows, and only they, say presence: current or history")
        if (kind is ValueKind.constant) != (self.constant is not None):
            raise ValueError("constant rows, and only they, give a constant")
        if (self.derived or self.derive) and kind is not ValueKind.constant:
            raise ValueError("derived and derive go with constant rows")
        if self.derived and not self.note:
            raise ValueError("a derived row says in `note` what its warning tells the clinician")
        if self.derived and self.emit:
            raise ValueError("a derived row is never written by from-profile (emit: false)")
        if (kind in GENOMIC_KINDS) != bool(self.genes):
            raise ValueError("genomics rows, and only they, list their genes")
        if (kind is ValueKind.snp_genotype) != (self.variant is not None):
            raise ValueError("snp_genotype rows, and only they, name their variant (dbsnp#rs...)")
        if (kind is ValueKind.allele_presence) != (self.allele is not None):
            raise ValueError("allele_presence rows, and only they, name their allele")
        if (GENE_TEMPLATE in self.field) != (
            kind in (ValueKind.diplotype, ValueKind.phenotype, ValueKind.activity_score)
        ):
            raise ValueError(
                "diplotype, phenotype and activity_score rows, and only they, use pgx.{gene}.<part>"
            )
        return self

    @property
    def code_refs(self) -> tuple[CodeRef, ...]:
        return tuple(CodeRef.parse(c) for c in self.codes)

    def fields(self, genes: Mapping[str, GeneRow]) -> tuple[str, ...]:
        """The profile paths this row can give (one per gene for ``pgx.{gene}.<part>`` rows)."""
        if GENE_TEMPLATE not in self.field:
            return (self.field,)
        return tuple(
            self.field.replace(GENE_TEMPLATE, str(genes[g].profile))
            for g in self.genes
            if g in genes and genes[g].profile
        )


class GeneRow(FrozenModel):
    hgnc: str = Field(pattern=r"^HGNC:[0-9]+$")
    profile: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")


class PatientSpec(FrozenModel):
    ref: Literal["patient_ref"]
    age: Literal["clinical.age_years"]
    sex: Literal["clinical.sex"]
    sex_levels: dict[str, str] = Field(min_length=1)


class MedicationDerive(FrozenModel):
    field: str = Field(pattern=FIELD_PATH)
    property: MedicationProperty
    note: str = Field(min_length=1, max_length=300)


class MedicationSpec(FrozenModel):
    MedicationStatement: tuple[str, ...] = Field(min_length=1)
    MedicationRequest: tuple[str, ...] = Field(min_length=1)
    derive: tuple[MedicationDerive, ...] = ()


class MappingFile(FrozenModel):
    catalog_id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    version: str = Field(pattern=VERSION)
    fhir_version: Literal["R4"]
    description: str = ""
    systems: dict[str, tuple[str, ...]] = Field(min_length=1)
    dotless_systems: tuple[str, ...] = ()
    sources: dict[str, Source] = Field(min_length=1)
    genes: dict[str, GeneRow] = Field(min_length=1)
    gene_component: str
    haplotype_component: str
    snp_component: str
    # metabolizer phenotype answers (`<alias>#<code>` -> the phenotype as the CPIC tables write it)
    phenotype_answers: dict[str, str] = Field(default_factory=dict)
    patient: PatientSpec
    medications: MedicationSpec
    known_unused: tuple[str, ...] = ()
    mappings: tuple[MappingRow, ...] = Field(min_length=1)


# ------------------------------------------------------------------------------------------ profile fields


def _unwrap(annotation: Any) -> tuple[Any, ...]:
    """The non-None types of an annotation (Optional, unions and Annotated unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return tuple(out)
    return (annotation,)


def profile_field_annotation(path: str) -> Any | None:
    """The type annotation of a profile field (``clinical.age_years``, ``pgx.cyp2d6.diplotype``), or None when
    the profile has no such field."""
    parts = path.split(".")
    if parts == ["patient_ref"]:
        return PatientProfile.model_fields["patient_ref"].annotation
    if len(parts) < 2 or parts[0] not in SECTIONS:
        return None
    section = PatientProfile.model_fields[parts[0]].annotation
    spec = getattr(section, "model_fields", {}).get(parts[1])
    if spec is None:
        return None
    if len(parts) == 2:
        return spec.annotation
    if len(parts) == 3 and GeneResult in _unwrap(spec.annotation):
        sub = GeneResult.model_fields.get(parts[2])
        return None if sub is None else sub.annotation
    return None


def field_levels(path: str) -> tuple[str, ...]:
    """The closed vocabulary of a category field (enum values or literals); empty for other fields."""
    out: list[str] = []
    for t in _unwrap(profile_field_annotation(path)):
        if isinstance(t, type) and issubclass(t, enum.Enum):
            out.extend(str(m.value) for m in t)
        elif typing.get_origin(t) is Literal:
            out.extend(str(a) for a in typing.get_args(t))
    return tuple(out)


def field_is_integer(path: str) -> bool:
    return int in _unwrap(profile_field_annotation(path))


def _check_value(path: str, value: Any) -> str | None:
    """Why ``value`` cannot be the value of ``path`` (None when it can)."""
    annotation: Any = profile_field_annotation(path)
    try:
        pydantic.TypeAdapter(annotation).validate_python(value, strict=False)
    except pydantic.ValidationError as err:
        return err.errors(include_url=False)[0]["msg"]
    return None


#: Profile inputs every catalog must be able to write (from-profile) and read: every section field, each gene
#: part. patient_ref, age and sex come from Patient; medications from the medication resources;
#: candidate_option_ids is a request setting, not patient data.
def profile_inputs() -> tuple[str, ...]:
    out: list[str] = []
    for section in SECTIONS:
        model = PatientProfile.model_fields[section].annotation
        for name, spec in getattr(model, "model_fields", {}).items():
            if GeneResult in _unwrap(spec.annotation):
                out.extend(
                    f"{section}.{name}.{part}" for part in ("diplotype", "phenotype", "activity_score")
                )
            else:
                out.append(f"{section}.{name}")
    return tuple(p for p in out if p not in ("clinical.age_years", "clinical.sex"))


# ------------------------------------------------------------------------------------------ the catalog


def split_ref(text: str) -> tuple[str, str, str]:
    """``alias#name`` -> (alias, "#", name), for names that may hold ``*`` (``imgt_hla#HLA-B*15:02``)."""
    return text.partition("#")


def normalize_code(code: str, dotless: bool) -> str:
    return code.replace(".", "").upper() if dotless else code


@dataclass(frozen=True, eq=False)
class FhirMapping:
    """serving/fhir_mapping.yaml, validated, with code indexes and its sha256."""

    catalog_id: str
    version: str
    sha256: str
    path: Path
    file: MappingFile
    _exact: Mapping[tuple[str, str, str], tuple[MappingRow, ...]] = field(repr=False, default_factory=dict)
    _prefix: Mapping[tuple[str, str], tuple[tuple[str, MappingRow], ...]] = field(
        repr=False, default_factory=dict
    )
    _unused_exact: frozenset[tuple[str, str]] = frozenset()
    _unused_prefix: tuple[tuple[str, str], ...] = ()
    _alias_by_uri: Mapping[str, str] = field(repr=False, default_factory=dict)
    _gene_by_hgnc: Mapping[str, str] = field(repr=False, default_factory=dict)

    @property
    def identity(self) -> dict[str, str]:
        return {"catalog_id": self.catalog_id, "version": self.version, "sha256": self.sha256}

    @property
    def rows(self) -> tuple[MappingRow, ...]:
        return self.file.mappings

    @property
    def genes(self) -> Mapping[str, GeneRow]:
        return self.file.genes

    def alias(self, system_uri: str | None) -> str | None:
        """The catalog's alias of a code system URI (``http://loinc.org`` -> ``loinc``)."""
        return None if system_uri is None else self._alias_by_uri.get(system_uri)

    def uri(self, alias: str) -> str:
        """The URI written for an alias (its first)."""
        return self.file.systems[alias][0]

    def _dotless(self, alias: str) -> bool:
        return alias in self.file.dotless_systems

    def rows_for(self, resource: str, system_uri: str | None, code: str | None) -> tuple[MappingRow, ...]:
        """The rows a coding (system URI, code) of a resource type gives."""
        alias = self.alias(system_uri)
        if alias is None or not code:
            return ()
        key = normalize_code(code, self._dotless(alias))
        found = list(self._exact.get((resource, alias, key), ()))
        for prefix, row in self._prefix.get((resource, alias), ()):
            if key.startswith(prefix) and row not in found:
                found.append(row)
        return tuple(found)

    def matches(self, ref: str, system_uri: str | None, code: str | None) -> bool:
        """Whether a coding is the catalog's ``alias#code`` (a code family for a trailing ``*``)."""
        alias = self.alias(system_uri)
        if alias is None or not code:
            return False
        want = CodeRef.parse(ref)
        if want.alias != alias:
            return False
        dotless = self._dotless(alias)
        key, target = normalize_code(code, dotless), normalize_code(want.code, dotless)
        return key.startswith(target) if want.prefix else key == target

    def known_unused(self, system_uri: str | None, code: str | None) -> bool:
        alias = self.alias(system_uri)
        if alias is None or not code:
            return False
        key = normalize_code(code, self._dotless(alias))
        if (alias, key) in self._unused_exact:
            return True
        return any(alias == a and key.startswith(p) for a, p in self._unused_prefix)

    def gene_of(self, system_uri: str | None, code: str | None, text: str | None) -> str | None:
        """The gene symbol of a gene-studied value: an HGNC id (``HGNC:2625`` or ``2625``) or the symbol itself."""
        if code and self.alias(system_uri) == "hgnc":
            hgnc = code if code.upper().startswith("HGNC:") else f"HGNC:{code}"
            gene = self._gene_by_hgnc.get(hgnc.upper())
            if gene is not None:
                return gene
        for candidate in (code, text):
            if candidate and candidate.upper() in self.file.genes:
                return candidate.upper()
        return None

    def emitter(self, path: str, value: Any = None) -> MappingRow | None:
        """The row from-profile writes for a field (for constant rows: the one giving ``value``)."""
        for row in self.rows:
            if not row.emit or path not in row.fields(self.genes):
                continue
            if row.value is ValueKind.constant and row.constant != _plain(value):
                continue
            return row
        return None


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _row_violations(
    i: int, row: MappingRow, data: MappingFile, seen: dict[tuple[str, str, str, str], str]
) -> list[Violation]:
    where = f"mappings[{i}]"
    out: list[Violation] = []
    out += [
        Violation(f"{where}.sources", f"names source {s!r}, which is not in `sources`")
        for s in row.sources
        if s not in data.sources
    ]
    for g in row.genes:
        if g not in data.genes:
            out.append(Violation(f"{where}.genes", f"names gene {g!r}, which is not in `genes`", "string"))
        elif GENE_TEMPLATE in row.field and not data.genes[g].profile:
            out.append(
                Violation(f"{where}.genes", f"gene {g!r} has no profile key for pgx.{{gene}}", "string")
            )
    paths = row.fields(data.genes)
    for path in paths:
        if profile_field_annotation(path) is None:
            out.append(Violation(f"{where}.field", "is not a field of the patient profile", "string"))
    refs: list[CodeRef] = []
    for j, text in enumerate(row.codes):
        try:
            ref = CodeRef.parse(text)
        except ValueError as exc:
            out.append(Violation(f"{where}.codes[{j}]", str(exc), "string"))
            continue
        if ref.alias not in data.systems:
            out.append(Violation(f"{where}.codes[{j}]", "uses a system alias not in `systems`", "string"))
            continue
        refs.append(ref)
    if row.emit and refs and refs[0].prefix:
        out.append(
            Violation(f"{where}.codes[0]", "is written by from-profile, so it names one code, not a family")
        )
    for ref in refs:
        for path in paths:
            code = normalize_code(ref.code, ref.alias in data.dotless_systems)
            key = (row.resource, path, ref.alias, code + ("*" if ref.prefix else ""))
            if key in seen:
                out.append(
                    Violation(
                        f"{where}.codes", f"gives {path} from {ref} like {seen[key]} already does", "string"
                    )
                )
            seen[key] = where
    for ref_text in (row.variant, row.allele):
        if ref_text is not None:
            alias, _, name = split_ref(ref_text)
            if alias not in data.systems or not name:
                out.append(
                    Violation(where, "variant and allele read <system alias>#<name> of `systems`", "string")
                )
    if row.value is ValueKind.category and paths and not all(field_levels(p) for p in paths):
        out.append(
            Violation(f"{where}.value", "category rows give a field with a closed vocabulary", "string")
        )
    for k, (code_text, level) in enumerate(row.levels.items()):
        try:
            ref = CodeRef.parse(code_text)
            if ref.alias not in data.systems or ref.prefix:
                out.append(
                    Violation(f"{where}.levels[{k}]", "must be one <alias>#<code> of `systems`", "string")
                )
        except ValueError as exc:
            out.append(Violation(f"{where}.levels[{k}]", str(exc), "string"))
        for path in paths:
            why = _check_value(path, level)
            if why:
                out.append(
                    Violation(f"{where}.levels[{k}]", f"is not a value of {path}: {why}", kind_of(level))
                )
    if row.constant is not None:
        for path in paths:
            why = _check_value(path, row.constant)
            if why:
                out.append(
                    Violation(f"{where}.constant", f"is not a value of {path}: {why}", kind_of(row.constant))
                )
    for target, level in row.derive.items():
        if profile_field_annotation(target) is None:
            out.append(
                Violation(f"{where}.derive", "names a field the patient profile does not have", "string")
            )
        elif why := _check_value(target, level):
            out.append(Violation(f"{where}.derive", f"is not a value of {target}: {why}", kind_of(level)))
    return out


def _emit_violations(data: MappingFile) -> list[Violation]:
    """Every profile input has exactly one emitting row (per value, for constant rows)."""
    out: list[Violation] = []
    counts: dict[tuple[str, Any], int] = {}
    for row in data.mappings:
        if not row.emit:
            continue
        for path in row.fields(data.genes):
            key = (path, row.constant if row.value is ValueKind.constant else None)
            counts[key] = counts.get(key, 0) + 1
    for (path, value), n in counts.items():
        if n > 1:
            what = f"{path} = {value}" if value is not None else path
            out.append(
                Violation(
                    "mappings",
                    f"{n} rows are written by from-profile for {what}; mark all but one emit: false",
                )
            )
    written = {path for path, _ in counts}
    for path in profile_inputs():
        if path not in written:
            out.append(Violation("mappings", f"no row is written by from-profile for {path}"))
            continue
        levels = field_levels(path)
        constants = {value for p, value in counts if p == path and value is not None}
        if constants and (path, None) not in counts and set(levels) - constants:
            out.append(Violation("mappings", f"from-profile cannot write every level of {path}"))
    return out


def load_fhir_mapping(root: str | os.PathLike[str] | None = None) -> FhirMapping:
    """serving/fhir_mapping.yaml of the catalog root (flag, PRECISIONPAIN_CATALOG_ROOT, bundled, repository)."""
    base = resolve_root(root)
    path = base / MAPPING_FILE
    data = parse_as(MappingFile, read_yaml(path), MAPPING_FILE)
    violations: list[Violation] = []
    alias_by_uri: dict[str, str] = {}
    for alias, uris in data.systems.items():
        if not uris:
            violations.append(Violation(f"systems.{alias}", "lists at least one URI", "list"))
        for uri in uris:
            if uri in alias_by_uri:
                violations.append(
                    Violation(f"systems.{alias}", f"URI also listed under {alias_by_uri[uri]!r}")
                )
            alias_by_uri[uri] = alias
    violations += [
        Violation("dotless_systems", f"{a!r} is not in `systems`", "string")
        for a in data.dotless_systems
        if a not in data.systems
    ]
    for name in ("gene_component", "haplotype_component", "snp_component"):
        try:
            if CodeRef.parse(getattr(data, name)).alias not in data.systems:
                violations.append(Violation(name, "uses a system alias not in `systems`", "string"))
        except ValueError as exc:
            violations.append(Violation(name, str(exc), "string"))
    for k, (text, phenotype) in enumerate(data.phenotype_answers.items()):
        try:
            ref = CodeRef.parse(text)
            if ref.alias not in data.systems or ref.prefix:
                violations.append(
                    Violation(f"phenotype_answers[{k}]", "must be one <alias>#<code> of `systems`", "string")
                )
        except ValueError as exc:
            violations.append(Violation(f"phenotype_answers[{k}]", str(exc), "string"))
        if not 1 <= len(phenotype) <= 64:
            violations.append(
                Violation(f"phenotype_answers[{k}]", "a phenotype has 1 to 64 characters", "string")
            )
    for level in data.patient.sex_levels.values():
        if level not in field_levels("clinical.sex"):
            violations.append(
                Violation("patient.sex_levels", "maps to a value clinical.sex does not have", "string")
            )
    for k, derive in enumerate(data.medications.derive):
        if bool not in _unwrap(profile_field_annotation(derive.field)):
            violations.append(
                Violation(f"medications.derive[{k}].field", "is not a yes/no profile field", "string")
            )
    seen: dict[tuple[str, str, str, str], str] = {}
    exact: dict[tuple[str, str, str], list[MappingRow]] = {}
    prefix: dict[tuple[str, str], list[tuple[str, MappingRow]]] = {}
    for i, row in enumerate(data.mappings):
        row_problems = _row_violations(i, row, data, seen)
        violations += row_problems
        if row_problems:
            continue
        for ref in row.code_refs:
            code = normalize_code(ref.code, ref.alias in data.dotless_systems)
            if ref.prefix:
                prefix.setdefault((row.resource, ref.alias), []).append((code, row))
            else:
                exact.setdefault((row.resource, ref.alias, code), []).append(row)
    violations += _emit_violations(data)
    unused_exact: set[tuple[str, str]] = set()
    unused_prefix: list[tuple[str, str]] = []
    for j, text in enumerate(data.known_unused):
        try:
            ref = CodeRef.parse(text)
        except ValueError as exc:
            violations.append(Violation(f"known_unused[{j}]", str(exc), "string"))
            continue
        if ref.alias not in data.systems:
            violations.append(
                Violation(f"known_unused[{j}]", "uses a system alias not in `systems`", "string")
            )
            continue
        code = normalize_code(ref.code, ref.alias in data.dotless_systems)
        if ref.prefix:
            unused_prefix.append((ref.alias, code))
        else:
            unused_exact.add((ref.alias, code))
    CatalogError.raise_if_any(MAPPING_FILE, violations)
    return FhirMapping(
        catalog_id=data.catalog_id,
        version=data.version,
        sha256=file_sha256(path),
        path=path,
        file=data,
        _exact={k: tuple(v) for k, v in exact.items()},
        _prefix={k: tuple(v) for k, v in prefix.items()},
        _unused_exact=frozenset(unused_exact),
        _unused_prefix=tuple(unused_prefix),
        _alias_by_uri=alias_by_uri,
        _gene_by_hgnc={g.hgnc.upper(): symbol for symbol, g in data.genes.items()},
    )


def describe_code(mapping: FhirMapping, system_uri: str | None, code: str | None) -> str:
    """A coding for a message: ``LOINC 1234-5`` (the alias in upper case), or the system URI cut to a bound."""
    alias = mapping.alias(system_uri)
    system = alias.upper() if alias else (system_uri or "no system")[:80]
    return f"{system} {(code or '(no code)')[:MAX_CODE_CHARS]}"


def rows_by_field(mapping: FhirMapping) -> dict[str, list[MappingRow]]:
    """Every profile path and the rows that give it (for the README table and the discovery prefetch)."""
    out: dict[str, list[MappingRow]] = {}
    for row in mapping.rows:
        for path in row.fields(mapping.genes):
            out.setdefault(path, []).append(row)
    return out


def observation_codes(mapping: FhirMapping) -> tuple[tuple[str, str], ...]:
    """(system URI, code) of every Observation code the catalog reads, for prefetch queries (no families)."""
    out: dict[tuple[str, str], None] = {}
    for row in mapping.rows:
        if row.resource != "Observation":
            continue
        for ref in row.code_refs:
            if not ref.prefix:
                out[(mapping.uri(ref.alias), ref.code)] = None
    return tuple(out)
