"""CDS Hooks fixtures: the mapping context, FHIR builders, and one real CDS Hooks server on the small model package
(shared by the suite, like tests/contract/conftest.py's gRPC server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
FHIR_EXAMPLES = REPO / "examples" / "fhir"
PATIENT_EXAMPLES = REPO / "examples" / "patients"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"


@pytest.fixture(scope="session")
def mapping_context() -> Any:
    from precisionpain.cdshooks.commands import mapping_context as build

    return build(REPO)


def example_bundle(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FHIR_EXAMPLES / f"{name}.json").read_text())
    return data


def resources(bundle: dict[str, Any], resource_type: str | None = None) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if resource_type in (None, e["resource"]["resourceType"])]


def patient(pid: str = "p1", gender: str = "female", birth: str = "1970-05-01") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": gender, "birthDate": birth}


def observation(
    system: str, code: str, *, when: str = "2025-01-01", subject: str = "Patient/p1", **value: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        **value,
    }


def quantity(value: float, unit: str) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def condition(
    system: str, code: str, *, status: str = "active", verification: str = "confirmed"
) -> dict[str, Any]:
    base = "http://terminology.hl7.org/CodeSystem/condition-"
    out: dict[str, Any] = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "verificationStatus": {"coding": [{"system": base + "ver-status", "code": verification}]},
    }
    if verification != "refuted":
        out["clinicalStatus"] = {"coding": [{"system": base + "clinical", "code": status}]}
    return out


def medication_statement(*, rxnorm: str | None = None, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if rxnorm:
        concept["coding"] = [{"system": RXNORM, "code": rxnorm}]
    if text:
        concept["text"] = text
    return {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": concept,
        "subject": {"reference": "Patient/p1"},
    }


def bundle(*items: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in items]}


def minimal(*extra: dict[str, Any]) -> dict[str, Any]:
    """A bundle with the four required inputs (age, sex, pain type, NRS) and ``extra`` resources."""
    return bundle(
        patient(),
        observation(
            "urn:precisionpain:profile-field",
            "clinical.pain_type",
            valueCodeableConcept={
                "coding": [{"system": "urn:precisionpain:profile-field", "code": "nociceptive"}]
            },
        ),
        observation(LOINC, "72514-3", valueInteger=6),
        *extra,
    )


# ------------------------------------------------------------------------------------------ the service


@pytest.fixture(scope="session")
def cds_token() -> str:
    return "cds-test-token-0123456789abcdef"


@pytest.fixture(scope="session")
def cds_server(
    small_package_dir: Path, tmp_path_factory: pytest.TempPathFactory, cds_token: str
) -> Iterator[Any]:
    """One real CDS Hooks service (uvicorn subprocess) on the small model package, with a token, a small body
    limit and a short time to send it, fetching from any FHIR server on 127.0.0.1."""
    from tests.cdshooks.httpproc import start_cds_server

    workdir = tmp_path_factory.mktemp("cds-server")
    config = workdir / "server.yaml"
    config.write_text(
        "version: 1\n"
        "auth:\n  require_token: true\n"
        "limits:\n  max_request_bytes: 262144\n"
        "reload:\n  alias_check_interval_s: 0\n"
        "cds_hooks:\n  fhir_server_allowlist: ['http://127.0.0.1:']\n  fhir_fetch_timeout_s: 5\n"
        "  request_read_timeout_s: 2\n"
    )
    server = start_cds_server(
        workdir,
        ["--model-path", str(small_package_dir), "--config", str(config)],
        env={"PRECISIONPAIN_API_TOKENS": cds_token},
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
