"""FHIR R4 resources -> PatientProfile, through serving/fhir_mapping.yaml.

A pure stage: resources already parsed with ``fhir.resources`` (R4B models, which read R4 Patient, Condition,
Observation, MedicationStatement and MedicationRequest unchanged) in, a :class:`MappedPatient` out: the profile
(or why there is none) and a :class:`MappingWarning` for everything that could not be used, never a silent
default. The rules (most recent value wins, contradictions leave the field unset, derived values say so) are in
the header of the catalog. Warnings name codes and fields, never a patient value or identifier.

:func:`parse_fhir` reads JSON into resources with the FHIR library (every problem raised at once, with its path);
:func:`map_resources` maps them; :func:`map_bundle` does both for one bundle (``precisionpain fhir to-profile``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pydantic

from precisionpain.base import FrozenModel
from precisionpain.catalog.loader import pydantic_violations
from precisionpain.catalog.safety import MedicationCatalog, MedicationRow
from precisionpain.cdshooks.mapping import (
    GENE_TEMPLATE,
    FhirMapping,
    MappingRow,
    ValueKind,
    describe_code,
    field_is_integer,
    field_levels,
    split_ref,
)
from precisionpain.errors import ProfileValidationError, ValidationError, Violation, kind_of
from precisionpain.pgx.translate import format_activity_score
from precisionpain.schema import (
    MAX_ACTIVITY_SCORE_CHARS,
    MAX_DIPLOTYPE_CHARS,
    MAX_MEDICATION_NAME_CHARS,
    MAX_MEDICATIONS,
    MAX_PHENOTYPE_CHARS,
    PatientProfile,
)

#: Most resources one request or bundle may carry (a bound before any work).
MAX_RESOURCES = 5000
#: Longest free text read from a FHIR value (before it is compared with anything).
MAX_TEXT_CHARS = 200
#: Codes of one kind listed in a warning; the rest are counted.
MAX_CODES_LISTED = 12

READ_TYPES = (
    "Patient",
    "Observation",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "Medication",
)
FINAL_OBSERVATION = ("final", "amended", "corrected")
RETRACTED = ("entered-in-error", "cancelled")
ACTIVE_CONDITION = ("active", "recurrence", "relapse")
OVER_CONDITION = ("inactive", "resolved", "remission")
UNSURE_CONDITION = ("unconfirmed", "provisional", "differential")
YES, NO = "LA33-6", "LA32-8"
PRESENT, ABSENT = "LA9633-4", "LA9634-2"
UNITLESS = ("", "1", "{score}", "score", "{#}")
PHARMCAT_METHOD = "local#pharmcat"
PHENOTYPE_CODE = "loinc#53040-2"  # genetic variation's effect on drug metabolism


class MappingWarningKind(StrEnum):
    unmapped = "unmapped"  # no row of the catalog knows the code
    not_used = "not_used"  # a known code whose value, unit or status cannot be used
    contradictory = "contradictory"  # values that disagree: the field is left unset
    derived = "derived"  # a value taken from another record (a diagnosis, a medication, a CKD stage)
    invalid = "invalid"  # the value breaks a rule of the profile: the field is left unset


class MappingWarning(FrozenModel):
    kind: MappingWarningKind
    field: str
    message: str


@dataclass(frozen=True)
class MappedPatient:
    """What a set of FHIR resources gives: the profile (None when a required input is missing or unusable, see
    ``problems``), the profile data as mapped, and every warning."""

    profile: PatientProfile | None
    data: dict[str, Any]
    warnings: tuple[MappingWarning, ...]
    problems: tuple[Violation, ...] = ()


@dataclass(frozen=True)
class Entry:
    """One parsed resource and its Bundle fullUrl (None outside a bundle)."""

    resource: Any
    full_url: str | None = None

    @property
    def type(self) -> str:
        return str(self.resource.get_resource_type())


# ------------------------------------------------------------------------------------------ parsing


def _model_class(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


def parse_resource(data: Any, where: str) -> Any:
    """One FHIR resource (any type the library knows) from JSON data; problems raised with their paths."""
    if not isinstance(data, dict):
        raise ValidationError(
            "FHIR resource", [Violation(where, "must be a FHIR resource (a JSON object)", kind_of(data))]
        )
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type.isascii() or not resource_type.isalpha():
        raise ValidationError(
            "FHIR resource",
            [Violation(f"{where}.resourceType", "must name a FHIR R4 resource type", kind_of(resource_type))],
        )
    try:
        model = _model_class(resource_type[:64])
    except (ValueError, LookupError):
        raise ValidationError(
            "FHIR resource", [Violation(f"{where}.resourceType", "is not a FHIR R4 resource type", "string")]
        ) from None
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as err:
        raise ValidationError("FHIR resource", pydantic_violations(err, prefix=where)) from None
    except LookupError:  # the library's answer to a resource of no FHIR type inside this one
        raise ValidationError(
            "FHIR resource",
            [Violation(where, "holds a resource whose resourceType is not a FHIR R4 type", "object")],
        ) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise ValidationError(
            "FHIR resource",
            [Violation(where, f"is not a valid {resource_type} ({type(exc).__name__})", "object")],
        ) from None


def count_resources(data: Any) -> int:
    """Resources a Bundle (its entries) or a single resource would give, counted without parsing anything."""
    if data is None:
        return 0
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        entries = data.get("entry")
        return len(entries) if isinstance(entries, list) else 0
    return 1


def _unknown_type(resource_type: Any) -> str:
    """The kind of value of a resourceType that names no FHIR R4 resource type ("" when it names one)."""
    if not isinstance(resource_type, str):
        return kind_of(resource_type)
    if not (resource_type.isascii() and resource_type.isalpha() and len(resource_type) <= 64):
        return "string"
    try:
        _model_class(resource_type)
    except (ValueError, LookupError):
        return "string"
    return ""


def parse_fhir(data: Any, where: str) -> list[Entry]:
    """A Bundle (its entries) or a single resource, parsed with the FHIR library. OperationOutcome entries (a
    search's messages) are left out; a bundle of more than :data:`MAX_RESOURCES` entries is refused."""
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        entries = data.get("entry")
        if isinstance(entries, list) and len(entries) > MAX_RESOURCES:
            raise ValidationError(
                "FHIR bundle",
                [Violation(f"{where}.entry", f"must have at most {MAX_RESOURCES} entries", "list")],
            )
        ValidationError.raise_if_any(
            "FHIR bundle",
            [
                Violation(f"{where}.entry[{i}].resource.resourceType", "is not a FHIR R4 resource type", kind)
                for i, e in enumerate(entries if isinstance(entries, list) else ())
                if isinstance(e, dict)
                and isinstance(e.get("resource"), dict)
                and (kind := _unknown_type(e["resource"].get("resourceType")))
            ][:MAX_CODES_LISTED],
        )
        bundle = parse_resource(data, where)
        out: list[Entry] = []
        for e in bundle.entry or ():
            if e.resource is None:
                continue
            if e.resource.get_resource_type() == "OperationOutcome":
                continue
            out.append(Entry(e.resource, e.fullUrl))
        return out
    return [Entry(parse_resource(data, where))]


# ------------------------------------------------------------------------------------------ reading values


def _codings(concept: Any) -> list[tuple[str | None, str | None, str | None]]:
    """(system, code, display) of a CodeableConcept's codings."""
    if concept is None:
        return []
    return [(c.system, c.code, c.display) for c in (concept.coding or ())]


def _concept_texts(concept: Any) -> list[str]:
    """A CodeableConcept's text, then its codings' displays and codes (each cut to a bound)."""
    if concept is None:
        return []
    out = [concept.text] if concept.text else []
    for _, code, display in _codings(concept):
        out += [t for t in (display, code) if t]
    return [t[:MAX_TEXT_CHARS].strip() for t in out if t.strip()]


def moment(value: Any) -> dt.datetime | None:
    """A FHIR date, dateTime or instant as an aware datetime (partial dates at their start), for ordering."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    text = str(value)[:32]
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", text)
    if m is None:
        return None
    return dt.datetime(int(m[1]), int(m[2] or 1), int(m[3] or 1), tzinfo=dt.UTC)


def _observation_time(obs: Any) -> dt.datetime | None:
    period = obs.effectivePeriod
    for value in (
        obs.effectiveDateTime,
        obs.effectiveInstant,
        period.end if period is not None else None,
        period.start if period is not None else None,
        obs.issued,
    ):
        when = moment(value)
        if when is not None:
            return when
    return None


def age_in_years(birth: Any, as_of: dt.date) -> tuple[int | None, bool]:
    """Completed years at ``as_of`` and whether the birth date was partial (then taken at its middle)."""
    if isinstance(birth, dt.datetime):
        birth = birth.date()
    partial = False
    if not isinstance(birth, dt.date):
        m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", str(birth)[:16])
        if m is None:
            return None, False
        year, month = int(m[1]), int(m[2]) if m[2] else None
        birth = dt.date(year, month or 7, 15 if month else 1)
        partial = True
    years = as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))
    return years, partial


@dataclass
class _Candidate:
    value: Any
    when: dt.datetime | None
    origin: str
    derived: str = ""  # the note of a derived value
    condition: bool = False  # a Condition's presence (aggregated: any true wins)
    implied: bool = (
        False  # given by another field's row (`derive`): a direct value that differs is no conflict
    )


@dataclass
class _Collector:
    mapping: FhirMapping
    candidates: dict[str, list[_Candidate]] = field(default_factory=dict)
    warnings: list[MappingWarning] = field(default_factory=list)
    unmapped: dict[str, list[str]] = field(default_factory=dict)

    def add(self, path: str, value: Any, when: dt.datetime | None, origin: str, **kw: Any) -> None:
        self.candidates.setdefault(path, []).append(_Candidate(value, when, origin, **kw))

    def warn(self, kind: MappingWarningKind, path: str, message: str) -> None:
        self.warnings.append(MappingWarning(kind=kind, field=path, message=message))

    def not_mapped(
        self, resource_type: str, codings: Sequence[tuple[str | None, str | None, str | None]]
    ) -> None:
        for system, code, _ in codings:
            if self.mapping.known_unused(system, code):
                return
        label = describe_code(self.mapping, *codings[0][:2]) if codings else "no coding"
        self.unmapped.setdefault(resource_type, [])
        if label not in self.unmapped[resource_type]:
            self.unmapped[resource_type].append(label)


def _origin(
    mapping: FhirMapping, resource_type: str, codings: Sequence[tuple[str | None, str | None, str | None]]
) -> str:
    for system, code, _ in codings:
        if mapping.alias(system):
            return f"{resource_type} {describe_code(mapping, system, code)}"
    return f"{resource_type} {describe_code(mapping, *codings[0][:2])}" if codings else resource_type


def _rows(mapping: FhirMapping, resource_type: str, concept: Any) -> list[MappingRow]:
    out: list[MappingRow] = []
    for system, code, _ in _codings(concept):
        for row in mapping.rows_for(resource_type, system, code):
            if row not in out:
                out.append(row)
    return out


def _unit_of(quantity: Any) -> str:
    for candidate in (quantity.code, quantity.unit):
        if candidate:
            return str(candidate)[:40].strip()
    return ""


def _quantity(row: MappingRow, quantity: Any) -> tuple[float | None, str]:
    """(value in the row's unit, problem)."""
    if quantity is None or quantity.value is None:
        return None, "has no valueQuantity"
    value = float(Decimal(quantity.value))
    unit = _unit_of(quantity)
    if not unit:
        return None, f"has no unit (expected {row.unit})"
    if unit.lower() == str(row.unit).lower():
        return value, ""
    for name, conversion in row.units.items():
        if unit.lower() == name.lower():
            return value * conversion.factor + conversion.offset, ""
    return None, f"is in a unit the mapping cannot convert to {row.unit}"


def _score(path: str, obs: Any) -> tuple[Any, str]:
    if obs.valueInteger is not None:
        return int(obs.valueInteger), ""
    q = obs.valueQuantity
    if q is not None and q.value is not None:
        if _unit_of(q) not in UNITLESS:
            return None, "is a quantity with a unit; a score has none"
        value = float(Decimal(q.value))
        if field_is_integer(path):
            if not value.is_integer():
                return None, "is not a whole number"
            return int(value), ""
        return value, ""
    return None, "has no valueInteger or unitless valueQuantity"


def _boolean(obs: Any, mapping: FhirMapping) -> tuple[Any, str]:
    if obs.valueBoolean is not None:
        return bool(obs.valueBoolean), ""
    for system, code, _ in _codings(obs.valueCodeableConcept):
        if mapping.alias(system) == "loinc" and code in (YES, NO):
            return code == YES, ""
    return None, "has no valueBoolean or yes/no answer (LOINC LA33-6, LA32-8)"


def _category(path: str, concept: Any, mapping: FhirMapping, text: str | None = None) -> tuple[Any, str]:
    levels = field_levels(path)
    for system, code, _ in _codings(concept):
        if mapping.alias(system) == "local" and code in levels:
            return code, ""
    for t in [*_concept_texts(concept), *([text] if text else [])]:
        key = t.strip().lower().replace(" ", "_")
        if key in levels:
            return key, ""
    return None, f"is not one of the levels of {path}"


def _coded(row: MappingRow, concept: Any, mapping: FhirMapping) -> tuple[Any, str]:
    for system, code, _ in _codings(concept):
        for ref, level in row.levels.items():
            if mapping.matches(ref, system, code):
                return level, ""
    return None, "has an answer code the mapping does not know"


def _value_text(obs: Any) -> str | None:
    if obs.valueString:
        return str(obs.valueString)[:MAX_TEXT_CHARS].strip()
    texts = _concept_texts(obs.valueCodeableConcept)
    return texts[0] if texts else None


def _component_value(obs: Any, mapping: FhirMapping, ref: str) -> Any | None:
    for comp in obs.component or ():
        for system, code, _ in _codings(comp.code):
            if mapping.matches(ref, system, code):
                return comp
    return None


def _gene(obs: Any, mapping: FhirMapping) -> str | None:
    comp = _component_value(obs, mapping, mapping.file.gene_component)
    if comp is None:
        return None
    for system, code, display in _codings(comp.valueCodeableConcept):
        gene = mapping.gene_of(system, code, display)
        if gene is not None:
            return gene
    text = comp.valueCodeableConcept.text if comp.valueCodeableConcept is not None else comp.valueString
    return mapping.gene_of(None, None, text[:32] if text else None)


def _strip_gene(gene: str, text: str) -> str:
    t = text.strip()
    if t.upper().startswith(gene.upper()):
        t = t[len(gene) :].strip()
    return t


def _allele_key(text: str) -> str:
    t = text.strip().upper()
    return t if t.startswith("HLA-") else f"HLA-{t}"


def _allele_matches(wanted: str, text: str) -> bool:
    """``HLA-B*15:02`` matches ``HLA-B*15:02``, ``B*15:02`` and the finer ``HLA-B*15:02:01``, not ``HLA-B*15:021``."""
    w, t = _allele_key(wanted), _allele_key(text)
    return t == w or (t.startswith(w) and t[len(w)] in ":G")


def _allele_presence(row: MappingRow, obs: Any, mapping: FhirMapping) -> tuple[Any, str] | None:
    """(positive|negative, problem), or None when the observation is about another allele."""
    allele = split_ref(str(row.allele))[2]
    names: list[str] = []
    if any(mapping.matches(mapping.file.haplotype_component, s, c) for s, c, _ in _codings(obs.code)):
        names = _concept_texts(obs.valueCodeableConcept)
        if any(_allele_matches(allele, n) for n in names):
            return "positive", ""
        return None
    comp = _component_value(obs, mapping, mapping.file.haplotype_component)
    if comp is not None:
        names = _concept_texts(comp.valueCodeableConcept) + ([comp.valueString] if comp.valueString else [])
    if not any(_allele_matches(allele, n) for n in names):
        return None
    for system, code, _ in _codings(obs.valueCodeableConcept):
        if mapping.alias(system) == "loinc" and code in (PRESENT, ABSENT):
            return ("positive" if code == PRESENT else "negative"), ""
    return None, "has no presence answer (LOINC LA9633-4 present, LA9634-2 absent)"


def _genomic(row: MappingRow, obs: Any, mapping: FhirMapping) -> tuple[str, Any, str] | None:
    """(profile path, value, problem) of a genomics row, or None when the observation is about another gene,
    variant or allele."""
    gene = _gene(obs, mapping)
    kind = row.value
    if kind is ValueKind.allele_presence:
        if gene is not None and gene not in row.genes:
            return None
        found = _allele_presence(row, obs, mapping)
        return None if found is None else (row.field, *found)
    if gene is None or gene not in row.genes:
        return None
    profile = mapping.genes[gene].profile
    path = row.field.replace(GENE_TEMPLATE, str(profile))
    if kind is ValueKind.diplotype:
        text = _value_text(obs)
        if not text:
            return path, None, "has no genotype value"
        value = _strip_gene(gene, text)
        return (
            (path, None, f"is longer than {MAX_DIPLOTYPE_CHARS} characters")
            if len(value) > MAX_DIPLOTYPE_CHARS
            else (path, value, "")
        )
    if kind is ValueKind.phenotype:
        holder = obs
        if not any(mapping.matches(PHENOTYPE_CODE, s, code) for s, code, _ in _codings(obs.code)):
            holder = _component_value(obs, mapping, PHENOTYPE_CODE) or obs
        answers = [
            phenotype
            for ref, phenotype in mapping.file.phenotype_answers.items()
            for system, code, _ in _codings(holder.valueCodeableConcept)
            if mapping.matches(ref, system, code)
        ]
        texts = answers or _concept_texts(holder.valueCodeableConcept)
        text = (
            texts[0] if texts else (str(holder.valueString)[:MAX_TEXT_CHARS] if holder.valueString else None)
        )
        if not text:
            return path, None, "has no phenotype value"
        return (
            (path, None, f"is longer than {MAX_PHENOTYPE_CHARS} characters")
            if len(text) > MAX_PHENOTYPE_CHARS
            else (path, text, "")
        )
    if kind is ValueKind.activity_score:
        if obs.valueQuantity is not None and obs.valueQuantity.value is not None:
            return path, format_activity_score(Decimal(obs.valueQuantity.value)), ""
        if obs.valueInteger is not None:
            return path, format_activity_score(Decimal(int(obs.valueInteger))), ""
        text = _value_text(obs)
        if not text:
            return path, None, "has no activity score value"
        return (
            (path, None, "is too long for an activity score")
            if len(text) > MAX_ACTIVITY_SCORE_CHARS
            else (path, text, "")
        )
    # snp_genotype: the row's variant must be the one named, when the observation names one
    variant = split_ref(str(row.variant))[2]
    comp = _component_value(obs, mapping, mapping.file.snp_component)
    if comp is not None:
        named = [t.lower() for t in _concept_texts(comp.valueCodeableConcept)]
        if named and variant.lower() not in named:
            return None
    text = _value_text(obs)
    if not text:
        return row.field, None, "has no genotype value"
    value = text.removeprefix(variant).strip() if text.lower().startswith(variant.lower()) else text
    allowed = field_levels(row.field)
    return (
        (row.field, value, "")
        if value in allowed
        else (row.field, None, f"is not one of {', '.join(allowed)}")
    )


def _read_observation(obs: Any, c: _Collector) -> None:
    mapping = c.mapping
    codings = _codings(obs.code)
    rows = _rows(mapping, "Observation", obs.code)
    if not rows:
        # the therapeutic-implication form: the phenotype in component 53040-2
        for comp in obs.component or ():
            rows += [r for r in _rows(mapping, "Observation", comp.code) if r.value is ValueKind.phenotype]
    origin = _origin(mapping, "Observation", codings)
    if not rows:
        c.not_mapped("Observation", codings)
        return
    if obs.status not in FINAL_OBSERVATION:
        c.warn(MappingWarningKind.not_used, rows[0].field, f"{origin}: status is not final; not used")
        return
    when = _observation_time(obs)
    applied = False
    for row in rows:
        kind = row.value
        path = row.field
        if kind in (
            ValueKind.diplotype,
            ValueKind.phenotype,
            ValueKind.activity_score,
            ValueKind.snp_genotype,
            ValueKind.allele_presence,
        ):
            found = _genomic(row, obs, mapping)
            if found is None:
                continue
            path, value, problem = found
            if (
                not problem
                and GENE_TEMPLATE in row.field
                and any(mapping.matches(PHARMCAT_METHOD, s, code) for s, code, _ in _codings(obs.method))
            ):
                c.add(path.rsplit(".", 1)[0] + ".source", "pharmcat", when, origin)
        elif kind is ValueKind.quantity:
            value, problem = _quantity(row, obs.valueQuantity)
            comparator = obs.valueQuantity.comparator if obs.valueQuantity is not None else None
            if comparator and not problem:
                if row.bounds == "lower" and comparator in (">", ">="):
                    c.warn(
                        MappingWarningKind.derived,
                        path,
                        f"{origin}: reported as above a bound ({comparator}); the bound is used, so only rules "
                        "with a threshold at or below it are decided by it",
                    )
                else:
                    problem = f"is a bound ({comparator}), not a measurement"
        elif kind is ValueKind.score:
            value, problem = _score(path, obs)
        elif kind is ValueKind.boolean:
            value, problem = _boolean(obs, mapping)
        elif kind is ValueKind.category:
            value, problem = _category(path, obs.valueCodeableConcept, mapping, obs.valueString)
        else:  # coded
            value, problem = _coded(row, obs.valueCodeableConcept, mapping)
        applied = True
        if problem:
            c.warn(MappingWarningKind.not_used, path, f"{origin}: the value {problem}; not used")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            c.warn(MappingWarningKind.not_used, path, f"{origin}: the value is not a finite number; not used")
            continue
        c.add(path, value, when, origin)
    if not applied:
        c.warn(
            MappingWarningKind.not_used,
            rows[0].field,
            f"{origin}: the gene, variant or allele it reports is not one the engine reads; not used",
        )


def _status(concept: Any) -> str | None:
    for _, code, _ in _codings(concept):
        if code:
            return code
    return None


def _read_condition(cond: Any, c: _Collector) -> None:
    mapping = c.mapping
    codings = _codings(cond.code)
    verification = _status(cond.verificationStatus)
    if verification == "entered-in-error":
        return
    rows = _rows(mapping, "Condition", cond.code)
    origin = _origin(mapping, "Condition", codings)
    if not rows:
        c.not_mapped("Condition", codings)
        return
    if verification in UNSURE_CONDITION:
        c.warn(
            MappingWarningKind.not_used, rows[0].field, f"{origin}: not confirmed ({verification}); not used"
        )
        return
    refuted = verification == "refuted"
    clinical = _status(cond.clinicalStatus)
    active = not refuted and (clinical is None or clinical in ACTIVE_CONDITION)
    for row in rows:
        if row.value is ValueKind.presence:
            value = False if refuted else (True if row.presence == "history" else active)
            c.add(row.field, value, None, origin, condition=True)
            continue
        if not active:
            continue
        c.add(row.field, row.constant, None, origin, derived=row.note if row.derived else "")
        for target, level in row.derive.items():
            c.add(
                target,
                level,
                None,
                origin,
                derived=f"{field_label(target)} taken from the diagnosis",
                implied=True,
            )


def field_label(path: str) -> str:
    return path.rsplit(".", 1)[-1].replace("_", " ")


# ------------------------------------------------------------------------------------------ medications


def _medication_concepts(resource: Any, contained: Mapping[str, Any]) -> list[Any]:
    """The medication of a MedicationRequest or MedicationStatement: its own CodeableConcept, or the code of the
    Medication it references followed by that Medication's ingredient concepts."""
    concept = getattr(resource, "medicationCodeableConcept", None)
    if concept is not None:
        return [concept]
    ref = getattr(resource, "medicationReference", None)
    if ref is not None and ref.reference:
        target = contained.get(ref.reference) or contained.get(ref.reference.lstrip("#"))
        if target is not None:
            items = [i.itemCodeableConcept for i in (target.ingredient or ())[:MAX_INGREDIENTS]]
            return [target.code, *(i for i in items if i is not None)]
    return []


def medication_concepts(entry: Entry, entries: Sequence[Entry]) -> list[Any]:
    """The medication concepts of a MedicationRequest or MedicationStatement (see :func:`resolve_medications`):
    its own, or those of the Medication it references (contained, or another entry of the same bundle)."""
    return _medication_concepts(entry.resource, _contained(entry.resource, _medications_by_url(entries)))


def _medications_by_url(entries: Sequence[Entry]) -> dict[str, Any]:
    by_url: dict[str, Any] = {}
    for e in entries:
        if e.type == "Medication":
            if e.full_url:
                by_url[e.full_url] = e.resource
            if e.resource.id:
                by_url[f"Medication/{e.resource.id}"] = e.resource
    return by_url


#: Ingredients read from one product at most (a bound before any work).
MAX_INGREDIENTS = 8
#: Salt and hydrate words that follow an ingredient in RxNorm names (``codeine phosphate``, ``tramadol
#: hydrochloride``); the ingredient is looked up with and without them.
SALT_WORDS = frozenset(
    [
        "hydrochloride",
        "hcl",
        "hydrobromide",
        "sulfate",
        "phosphate",
        "sodium",
        "potassium",
        "calcium",
        "magnesium",
        "tartrate",
        "bitartrate",
        "citrate",
        "maleate",
        "mesylate",
        "besylate",
        "succinate",
        "fumarate",
        "bromide",
        "acetate",
        "tosylate",
        "epolamine",
        "monohydrate",
        "dihydrate",
        "trihydrate",
        "anhydrous",
        "hyclate",
        "lactate",
        "napsylate",
        "pamoate",
        "oxalate",
        "malate",
    ]
)
_BRAND = re.compile(r"\s*\[([^\[\]]{1,80})\]\s*$")
_DURATION = re.compile(r"^\d{1,3}\s+(?:HR|DAY|WEEK|MONTH)\s+", re.IGNORECASE)
_PART = re.compile(r"^([A-Za-z][A-Za-z ,'\-]{0,79}?)\s+[0-9][0-9.,]*\s*\S+\s*(.*)$")
_TOPICAL_FORM = re.compile(r"topical|transdermal|patch|cutaneous|dermal|plaster", re.IGNORECASE)
_PATCH_FORM = re.compile(r"patch|transdermal|plaster", re.IGNORECASE)


def drug_name_parts(text: str) -> tuple[tuple[str, ...], str, str | None]:
    """(ingredient names, dose form, brand) of an RxNorm clinical or branded drug name (``acetaminophen 300 MG /
    codeine phosphate 30 MG Oral Tablet``, ``tramadol hydrochloride 50 MG Oral Tablet [Ultram]``, ``12 HR ...``);
    no ingredients when the text does not read so. Linear in the text, which is bounded first."""
    t = " ".join(text[:MAX_TEXT_CHARS].split())
    brand = None
    m = _BRAND.search(t)
    if m:
        brand, t = m[1].strip(), t[: m.start()]
    t = _DURATION.sub("", t)
    if t.startswith("{"):  # a pack: its parts are named inside the braces
        return (), "", brand
    ingredients: list[str] = []
    form = ""
    parts = t.split(" / ")
    for i, part in enumerate(parts[:MAX_INGREDIENTS]):
        m = _PART.match(part.strip())
        if m is None:
            return (), "", brand
        ingredients.append(m[1].strip(" ,"))
        if i == len(parts) - 1:
            form = m[2]
    return tuple(ingredients), form, brand


def _ingredient_keys(name: str, form: str) -> list[str]:
    """Names an ingredient is looked up by, most specific first: with its form (``diclofenac topical``, ``lidocaine
    patch``) for a topical product, then as written, then without its salt words."""
    words = name.lower().split()
    base = list(words)
    while len(base) > 1 and base[-1] in SALT_WORDS:
        base.pop()
    plain = [" ".join(words), " ".join(base)]
    keys: list[str] = []
    if _TOPICAL_FORM.search(form):
        for b in dict.fromkeys(plain):
            keys += [f"{b} topical", f"topical {b}"]
            if _PATCH_FORM.search(form):
                keys += [f"{b} patch", f"{b} transdermal", f"transdermal {b}"]
    return list(dict.fromkeys([*keys, *plain]))


def _by_code(
    concept: Any, mapping: FhirMapping, medications: MedicationCatalog
) -> list[tuple[MedicationRow, str]]:
    out: list[tuple[MedicationRow, str]] = []
    for system, code, _ in _codings(concept)[:MAX_INGREDIENTS]:
        if mapping.alias(system) == "rxnorm" and code:
            row = medications.by_rxcui(code[:16])
            if row is not None and all(row is not r for r, _ in out):
                out.append((row, code))
    return out


def _by_name(text: str, medications: MedicationCatalog) -> MedicationRow | None:
    return medications.by_name(text) if len(text) <= MAX_MEDICATION_NAME_CHARS else None


def resolve_medications(
    concepts: Sequence[Any], mapping: FhirMapping, medications: MedicationCatalog
) -> tuple[list[tuple[MedicationRow, str | None]], list[str]]:
    """(the catalog rows of a medication and the RxCUI each was found by (None: by name), the names of its
    ingredients the catalog does not know). ``concepts`` is the product's concept, then any ingredient concepts
    (:func:`medication_concepts`). The product is read by its RxNorm ingredient codes, then its text or displays
    as a name, then as an RxNorm clinical or branded drug name (ingredients, salt words dropped, the dose form
    choosing a topical row), then by its ingredient concepts."""
    if not concepts:
        return [], []
    product, ingredients = concepts[0], concepts[1:]
    found: list[tuple[MedicationRow, str | None]] = list(_by_code(product, mapping, medications))
    if found:
        return found, []
    texts = _concept_texts(product)
    for text in texts:
        row = _by_name(text, medications)
        if row is not None:
            return [(row, None)], []
    for text in texts:
        names, form, brand = drug_name_parts(text)
        if not names:
            continue
        unknown: list[str] = []
        for name in names:
            row = next(
                (r for k in _ingredient_keys(name, form) if (r := _by_name(k, medications)) is not None), None
            )
            if row is None:
                unknown.append(name)
            elif all(row is not r for r, _ in found):
                found.append((row, None))
        if not found and brand:
            row = _by_name(brand, medications)
            if row is not None:
                return [(row, None)], []
        return found, unknown
    unknown = []
    for concept in ingredients:
        rows: list[tuple[MedicationRow, str | None]] = list(_by_code(concept, mapping, medications))
        if not rows:
            row = next((r for t in _concept_texts(concept) if (r := _by_name(t, medications))), None)
            rows = [(row, None)] if row is not None else []
        if not rows:
            unknown.append(
                describe_code(mapping, *_codings(concept)[0][:2]) if _codings(concept) else "an ingredient"
            )
        found += [(r, c) for r, c in rows if all(r is not f for f, _ in found)]
    return found, unknown


def _contained(resource: Any, by_url: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(by_url)
    for inner in resource.contained or ():
        if inner.id:
            out[f"#{inner.id}"] = inner
    return out


def _read_medications(
    entries: Sequence[Entry], c: _Collector, medications: MedicationCatalog
) -> list[dict[str, str]]:
    mapping = c.mapping
    spec = mapping.file.medications
    by_url = _medications_by_url(entries)
    found: dict[str, dict[str, str]] = {}
    for e in entries:
        statuses = (
            getattr(spec, e.type, None) if e.type in ("MedicationStatement", "MedicationRequest") else None
        )
        if statuses is None or e.resource.status not in statuses:
            continue
        concepts = _medication_concepts(e.resource, _contained(e.resource, by_url))
        rows, unknown = resolve_medications(concepts, mapping, medications)
        label = medication_label(mapping, concepts[0] if concepts else None)
        if not rows:
            c.warn(
                MappingWarningKind.unmapped,
                "medications",
                f"{e.type} {label}: not in the medication catalog; its interactions were not checked",
            )
            continue
        if unknown:
            c.warn(
                MappingWarningKind.unmapped,
                "medications",
                f"{e.type} {label}: {', '.join(n[:80] for n in unknown)} not in the medication catalog; "
                "its interactions were not checked",
            )
        for row, rxcui in rows:
            med = {"name": row.name, **({"rxnorm": rxcui} if rxcui else {})}
            if row.name not in found or (rxcui and "rxnorm" not in found[row.name]):
                found[row.name] = med
            for derive in spec.derive:
                if derive.property in row.properties:
                    c.add(derive.field, True, None, f"{e.type} {row.name}", derived=derive.note)
    return list(found.values())[:MAX_MEDICATIONS]


def medication_label(mapping: FhirMapping, concept: Any) -> str:
    """A medication concept for a message: its first coding (``RXNORM 12345``)."""
    codings = _codings(concept)
    return describe_code(mapping, *codings[0][:2]) if codings else "a medication without a code"


# ------------------------------------------------------------------------------------------ patient


def _patient_refs(patient: Entry) -> set[str]:
    refs = set()
    if patient.resource.id:
        refs.add(f"Patient/{patient.resource.id}")
    if patient.full_url:
        refs.add(patient.full_url)
    return refs


def _about_patient(resource: Any, refs: set[str], full_urls: set[str]) -> bool:
    """Whether a resource's subject (or patient) can be the patient: False for a reference to another patient
    (``Patient/<other id>``, another entry of the same bundle) or to a subject that is no patient (a Group, a
    Device). No reference, or a ``urn:uuid`` no entry of the data holds, cannot tell and is taken as the
    patient's."""
    subject = getattr(resource, "subject", None) or getattr(resource, "patient", None)
    if not refs or subject is None or not subject.reference:
        return True
    ref = str(subject.reference)
    if ref in refs:
        return True
    if ref.startswith("urn:"):
        return ref not in full_urls
    if not (ref.startswith("Patient/") or "/Patient/" in ref):
        return False  # a Group, a Device, ...: not this patient's own record
    named = [r for r in refs if r.startswith("Patient/")]
    return not named or any(ref.endswith("/" + r) for r in named)


def _read_patient(patients: Sequence[Entry], c: _Collector, as_of: dt.date) -> None:
    spec = c.mapping.file.patient
    if not patients:
        c.warn(MappingWarningKind.not_used, spec.age, "no Patient resource: age and sex are unknown")
        return
    ids = {p.resource.id for p in patients}
    if len(ids) > 1:
        c.warn(
            MappingWarningKind.contradictory, spec.age, "more than one Patient resource: age and sex not used"
        )
        return
    p = patients[0].resource
    if p.id:
        c.add(spec.ref, str(p.id), None, "Patient")
    if p.birthDate is None:
        c.warn(MappingWarningKind.not_used, spec.age, "Patient.birthDate is missing: age is unknown")
    else:
        years, partial = age_in_years(p.birthDate, as_of)
        if years is None:
            c.warn(MappingWarningKind.not_used, spec.age, "Patient.birthDate cannot be read: age is unknown")
        else:
            c.add(
                spec.age,
                years,
                None,
                "Patient",
                derived="age from a partial birth date (taken at its middle)" if partial else "",
            )
    sex = spec.sex_levels.get(str(p.gender)) if p.gender else None
    if sex is None:
        c.warn(
            MappingWarningKind.not_used,
            spec.sex,
            "Patient.gender is missing or not female/male: sex is unknown"
            if not p.gender
            else "Patient.gender is neither female nor male: sex is unknown",
        )
    else:
        c.add(spec.sex, sex, None, "Patient")


# ------------------------------------------------------------------------------------------ resolution


def _resolve(path: str, candidates: list[_Candidate], c: _Collector) -> tuple[bool, Any]:
    """(found, value) of one field from its candidates (see the catalog header for the rules)."""
    direct = [x for x in candidates if not x.derived]
    derived = [x for x in candidates if x.derived]
    conditions = [x for x in direct if x.condition]
    others = [x for x in direct if not x.condition]
    if conditions:
        others.append(_Candidate(any(x.value for x in conditions), None, conditions[0].origin))
    if others:
        values = {_key(x.value) for x in others}
        if len(values) > 1:
            dated = [x for x in others if x.when is not None]
            undated = [x for x in others if x.when is None]
            latest = max((x.when for x in dated if x.when is not None), default=None)
            newest = {_key(x.value) for x in dated if x.when == latest}
            if not dated or len(newest) > 1 or any(_key(x.value) not in newest for x in undated):
                origins = ", ".join(sorted({x.origin for x in others})[:MAX_CODES_LISTED])
                c.warn(
                    MappingWarningKind.contradictory,
                    path,
                    f"{field_label(path)}: the records disagree ({origins}); left unset",
                )
                return False, None
            value = next(x.value for x in dated if x.when == latest)
        else:
            value = others[0].value
        for d in derived:
            if _key(d.value) != _key(value) and not d.implied:
                c.warn(
                    MappingWarningKind.contradictory,
                    path,
                    f"{field_label(path)}: {d.origin} suggests otherwise; the direct record is used",
                )
                break
        return True, value
    if not derived:
        return False, None
    values = {_key(x.value) for x in derived}
    if len(values) > 1:
        c.warn(
            MappingWarningKind.contradictory,
            path,
            f"{field_label(path)}: the records it could be taken from disagree ({', '.join(sorted({x.origin for x in derived}))}); left unset",
        )
        return False, None
    note = derived[0].derived
    c.warn(MappingWarningKind.derived, path, f"{note} ({derived[0].origin})")
    return True, derived[0].value


def _key(value: Any) -> Any:
    return round(value, 9) if isinstance(value, float) else value


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


_PATH_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?")


def _drop(data: dict[str, Any], path: str) -> bool:
    """Remove the value at a violation path (``clinical.x``, ``medications[2].name`` drops the medication)."""
    parts = path.split(".")
    node: Any = data
    for n, part in enumerate(parts):
        m = _PATH_PART.fullmatch(part)
        if m is None or not isinstance(node, dict) or m[1] not in node:
            return False
        last = n == len(parts) - 1
        if m[2] is not None:
            items = node[m[1]]
            i = int(m[2])
            if not isinstance(items, list) or i >= len(items):
                return False
            if last or m[1] == "medications":
                del items[i]
                return True
            node = items[i]
            continue
        if last:
            del node[m[1]]
            return True
        node = node[m[1]]
    return False


#: Inputs the profile cannot go without; a problem with one of them means no profile (the card says why).
REQUIRED = ("clinical.age_years", "clinical.sex", "clinical.pain_type", "clinical.baseline_nrs")


def _validated(
    data: dict[str, Any], context: MappingContext, warnings: list[MappingWarning]
) -> tuple[PatientProfile | None, tuple[Violation, ...]]:
    """Validate like ``precisionpain validate``; a value that breaks a rule is dropped with a warning, and
    validated again, until the profile is valid or a required input is missing or unusable."""
    from precisionpain.features.validate import validate_profile

    for _ in range(64):
        try:
            return validate_profile(data, context.features, context.tables), ()
        except ProfileValidationError as exc:
            fatal = [v for v in exc.violations if v.path in REQUIRED or v.path in ("(root)", "clinical")]
            if fatal:
                return None, exc.violations
            progressed = False
            for v in exc.violations:
                if _drop(data, v.path):
                    progressed = True
                    warnings.append(
                        MappingWarning(
                            kind=MappingWarningKind.invalid,
                            field=v.path,
                            message=f"{v.path}: {v.rule}"
                            + (f" (received {v.received})" if v.received else "")
                            + "; left unset",
                        )
                    )
            if not progressed:
                return None, exc.violations
    return None, (Violation("(profile)", "could not be made valid"),)


@dataclass(frozen=True)
class MappingContext:
    """What mapping reads: the mapping catalog, and the feature catalog, CPIC tables and medication catalog the
    profile is checked against (a model package's own, in the service)."""

    mapping: FhirMapping
    features: Any
    tables: Any
    medications: MedicationCatalog


def map_resources(
    entries: Iterable[Entry], context: MappingContext, *, as_of: dt.date, patient_id: str | None = None
) -> MappedPatient:
    """Map FHIR resources about one patient to a profile; ages are completed years at ``as_of``. With
    ``patient_id`` (a hook's context.patientId) resources about another patient are left out even when no
    Patient resource came with them."""
    items = list(entries)
    if len(items) > MAX_RESOURCES:
        raise ValidationError(
            "FHIR data", [Violation("(resources)", f"at most {MAX_RESOURCES} resources per patient", "list")]
        )
    c = _Collector(context.mapping)
    patients = [e for e in items if e.type == "Patient"]
    refs: set[str] = {f"Patient/{patient_id}"} if patient_id else set()
    for p in patients:
        refs |= _patient_refs(p)
    _read_patient(patients, c, as_of)
    full_urls = {e.full_url for e in items if e.full_url}
    others: list[Entry] = []
    foreign = 0
    for e in items:
        if e.type == "Patient":
            continue
        if e.type not in READ_TYPES:
            c.unmapped.setdefault(e.type, [])
            continue
        if not _about_patient(e.resource, refs, full_urls):
            foreign += 1
            continue
        others.append(e)
    if foreign:
        c.warn(
            MappingWarningKind.not_used,
            "(resources)",
            f"{foreign} resource(s) about another patient than the Patient given; not used",
        )
    for e in others:
        if e.type == "Observation":
            if e.resource.status in RETRACTED:
                continue
            _read_observation(e.resource, c)
        elif e.type == "Condition":
            _read_condition(e.resource, c)
    medications = _read_medications(others, c, context.medications)
    data: dict[str, Any] = {}
    for path in sorted(c.candidates):
        found, value = _resolve(path, c.candidates[path], c)
        if found:
            _set(data, path, value)
    if medications:
        data["medications"] = medications
    for resource_type, labels in sorted(c.unmapped.items()):
        listed = ", ".join(labels[:MAX_CODES_LISTED]) + (
            f" and {len(labels) - MAX_CODES_LISTED} more" if len(labels) > MAX_CODES_LISTED else ""
        )
        c.warn(
            MappingWarningKind.unmapped,
            resource_type,
            f"{resource_type}: "
            + (
                f"codes the mapping does not know ({listed})"
                if labels
                else "a resource type the mapping does not read"
            )
            + "; not used",
        )
    warnings = list(c.warnings)
    profile, problems = _validated(data, context, warnings)
    return MappedPatient(profile=profile, data=data, warnings=tuple(warnings), problems=problems)


def bundle_date(data: Any) -> dt.date | None:
    """A bundle's ``timestamp`` as a date (the moment its data was assembled), if it has one."""
    if isinstance(data, dict) and isinstance(data.get("timestamp"), str):
        when = moment(str(data["timestamp"])[:10])
        return when.date() if when else None
    return None


def map_bundle(data: Any, context: MappingContext, *, as_of: dt.date | None = None) -> MappedPatient:
    """One bundle (or resource) of JSON data -> :class:`MappedPatient`; ages at ``as_of``, else the bundle's
    timestamp, else today (UTC)."""
    day = as_of or bundle_date(data) or dt.datetime.now(dt.UTC).date()
    return map_resources(parse_fhir(data, "bundle"), context, as_of=day)
