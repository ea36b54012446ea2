"""PatientProfile -> a FHIR R4 Bundle, through the rows of serving/fhir_mapping.yaml marked to be written.

The reverse of :mod:`precisionpain.cdshooks.to_profile`, for integrators and for the bundles shipped under
examples/fhir/: mapping the bundle back gives the same profile (a test checks every example). A pure function of
the profile, the catalog and the date the bundle is written as of (its ``timestamp``): the same input gives the
same bytes. The bundle is checked with the FHIR library before it is returned.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from typing import Any

from precisionpain.cdshooks.mapping import (
    CodeRef,
    FhirMapping,
    MappingRow,
    ValueKind,
    field_is_integer,
    profile_inputs,
    split_ref,
)
from precisionpain.cdshooks.to_profile import ABSENT, PHARMCAT_METHOD, PRESENT, parse_fhir
from precisionpain.errors import ValidationError, Violation, kind_of
from precisionpain.schema import HlaStatus, PatientProfile, PgxSource

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
#: fullUrls of the written bundles are urn:uuid:s derived from this namespace, the patient id and the resource id
_NAMESPACE = uuid.UUID("6f0a3c52-43a5-4b4e-9a1e-3f7f2f8f0c11")


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _get(profile: PatientProfile, path: str) -> Any:
    node: Any = profile
    for part in path.split("."):
        node = getattr(node, part, None)
        if node is None:
            return None
    return _plain(node)


class _Writer:
    def __init__(self, mapping: FhirMapping, patient_id: str, as_of: dt.date) -> None:
        self.mapping = mapping
        self.patient_id = patient_id
        self.as_of = as_of
        self.patient_url = self.url("Patient", patient_id)
        self.entries: list[dict[str, Any]] = []

    def url(self, resource_type: str, resource_id: str) -> str:
        return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{self.patient_id}/{resource_type}/{resource_id}')}"

    def coding(self, ref: str, display: str | None = None) -> dict[str, Any]:
        alias, _, code = split_ref(ref)
        out: dict[str, Any] = {"system": self.mapping.uri(alias), "code": code}
        if display:
            out["display"] = display
        return out

    def add(self, resource: dict[str, Any]) -> None:
        self.entries.append(
            {"fullUrl": self.url(resource["resourceType"], resource["id"]), "resource": resource}
        )

    def gene_component(self, gene: str) -> dict[str, Any]:
        return {
            "code": {"coding": [self.coding(self.mapping.file.gene_component)]},
            "valueCodeableConcept": {"coding": [self.coding(f"hgnc#{self.mapping.genes[gene].hgnc}", gene)]},
        }

    def observation(self, resource_id: str, row: MappingRow, **parts: Any) -> dict[str, Any]:
        first = CodeRef.parse(row.codes[0])
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": resource_id,
            "status": "final",
            "code": {"coding": [self.coding(f"{first.alias}#{first.code}")]},
            "subject": {"reference": self.patient_url},
            "effectiveDateTime": self.as_of.isoformat(),
        }
        resource.update(parts)
        return resource

    def condition(self, resource_id: str, row: MappingRow, present: bool) -> dict[str, Any]:
        first = CodeRef.parse(row.codes[0])
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "id": resource_id,
            "code": {"coding": [self.coding(f"{first.alias}#{first.code}")]},
            "subject": {"reference": self.patient_url},
        }
        status = "http://terminology.hl7.org/CodeSystem/condition-"
        if present:
            resource["clinicalStatus"] = {"coding": [{"system": status + "clinical", "code": "active"}]}
            resource["verificationStatus"] = {
                "coding": [{"system": status + "ver-status", "code": "confirmed"}]
            }
        else:
            resource["verificationStatus"] = {
                "coding": [{"system": status + "ver-status", "code": "refuted"}]
            }
        return resource


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-")[:60]


def _birth_date(age_years: float, as_of: dt.date) -> dt.date:
    years = int(age_years)
    try:
        return as_of.replace(year=as_of.year - years)
    except ValueError:  # 29 February
        return as_of.replace(year=as_of.year - years, day=28)


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


def _value_parts(w: _Writer, row: MappingRow, path: str, value: Any) -> dict[str, Any]:
    kind = row.value
    if kind is ValueKind.quantity:
        return {"valueQuantity": _quantity(value, str(row.unit))}
    if kind is ValueKind.score:
        if field_is_integer(path):
            return {"valueInteger": int(value)}
        return {"valueQuantity": _quantity(value, "{score}")}
    if kind is ValueKind.boolean:
        return {"valueBoolean": bool(value)}
    if kind is ValueKind.category:
        return {"valueCodeableConcept": {"coding": [w.coding(f"local#{value}")]}}
    if kind is ValueKind.coded:
        for ref, level in row.levels.items():
            if level == value:
                return {"valueCodeableConcept": {"coding": [w.coding(ref)]}}
    raise ValidationError(
        "FHIR mapping", [Violation(path, "has no code the mapping writes for this value", kind_of(value))]
    )


def _write_field(w: _Writer, profile: PatientProfile, path: str, value: Any) -> None:
    mapping = w.mapping
    row = mapping.emitter(path, value)
    if row is None:
        raise ValidationError(
            "FHIR mapping",
            [Violation(path, "has no row from-profile writes (serving/fhir_mapping.yaml)", kind_of(value))],
        )
    rid = _slug(path)
    kind = row.value
    if kind is ValueKind.presence:
        w.add(w.condition(f"cond-{rid}", row, bool(value)))
        return
    if kind is ValueKind.constant:
        w.add(w.condition(f"cond-{rid}", row, True))
        return
    if kind in (ValueKind.diplotype, ValueKind.phenotype, ValueKind.activity_score):
        gene_key = path.split(".")[1]
        gene = next(g for g in row.genes if mapping.genes[g].profile == gene_key)
        parts: dict[str, Any] = {"component": [w.gene_component(gene)]}
        if kind is ValueKind.diplotype:
            code = f"{gene} {value}"
            parts["valueCodeableConcept"] = {"coding": [w.coding(f"pharmvar#{code}", code)]}
        elif kind is ValueKind.phenotype:
            parts["valueCodeableConcept"] = {"text": str(value)}
        else:
            parts["valueString"] = str(value)
        if _get(profile, f"pgx.{gene_key}.source") == PgxSource.pharmcat.value:
            parts["method"] = {"coding": [w.coding(PHARMCAT_METHOD)]}
        w.add(w.observation(f"obs-{rid}", row, **parts))
        return
    if kind is ValueKind.snp_genotype:
        variant = split_ref(str(row.variant))
        parts = {
            "component": [
                w.gene_component(row.genes[0]),
                {
                    "code": {"coding": [w.coding(mapping.file.snp_component)]},
                    "valueCodeableConcept": {"coding": [w.coding(str(row.variant), variant[2])]},
                },
            ],
            "valueCodeableConcept": {"text": str(value)},
        }
        w.add(w.observation(f"obs-{rid}", row, **parts))
        return
    if kind is ValueKind.allele_presence:
        if value == HlaStatus.not_tested.value:
            return
        allele = split_ref(str(row.allele))[2]
        answer = PRESENT if value == HlaStatus.positive.value else ABSENT
        parts = {
            "component": [
                w.gene_component(row.genes[0]),
                {
                    "code": {"coding": [w.coding(mapping.file.haplotype_component)]},
                    "valueCodeableConcept": {"coding": [w.coding(str(row.allele), allele)]},
                },
            ],
            "valueCodeableConcept": {
                "coding": [w.coding(f"loinc#{answer}", "Present" if answer == PRESENT else "Absent")]
            },
        }
        w.add(w.observation(f"obs-{rid}", row, **parts))
        return
    w.add(w.observation(f"obs-{rid}", row, **_value_parts(w, row, path, value)))


def bundle_from_profile(profile: PatientProfile, mapping: FhirMapping, *, as_of: dt.date) -> dict[str, Any]:
    """A FHIR R4 collection Bundle holding the profile: Patient, Observations, Conditions, MedicationStatements."""
    violations: list[Violation] = []
    patient_id = profile.patient_ref or "patient"
    if not FHIR_ID.match(patient_id):
        violations.append(
            Violation("patient_ref", "must be a FHIR id (1-64 of A-Z a-z 0-9 - .) to be Patient.id", "string")
        )
    age = profile.clinical.age_years
    if not float(age).is_integer():
        violations.append(
            Violation("clinical.age_years", "must be whole years to be written as a birth date", "number")
        )
    ValidationError.raise_if_any("FHIR bundle", violations)
    w = _Writer(mapping, patient_id, as_of)
    patient: dict[str, Any] = {"resourceType": "Patient"}
    if profile.patient_ref is not None:
        patient["id"] = patient_id
    patient |= {
        "gender": {v: k for k, v in mapping.file.patient.sex_levels.items()}[profile.clinical.sex.value],
        "birthDate": _birth_date(age, as_of).isoformat(),
    }
    w.entries.append({"fullUrl": w.patient_url, "resource": patient})
    for path in profile_inputs():
        value = _get(profile, path)
        if value is None:
            continue
        _write_field(w, profile, path, value)
    for i, med in enumerate(profile.medications):
        concept: dict[str, Any] = {"text": med.name}
        if med.rxnorm:
            concept["coding"] = [w.coding(f"rxnorm#{med.rxnorm}", med.name)]
        w.add(
            {
                "resourceType": "MedicationStatement",
                "id": f"med-{i + 1}",
                "status": "active",
                "medicationCodeableConcept": concept,
                "subject": {"reference": w.patient_url},
            }
        )
    bundle = {
        "resourceType": "Bundle",
        "id": f"{patient_id}-bundle"[:64],
        "type": "collection",
        "timestamp": f"{as_of.isoformat()}T00:00:00Z",
        "entry": w.entries,
    }
    parse_fhir(bundle, "bundle")  # the FHIR library must accept what is written
    return bundle
