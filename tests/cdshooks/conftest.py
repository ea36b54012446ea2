"""CDS Hooks fixtures: the mapping context, FHIR builders, and one real CDS Hooks server on the small model package
(shared by the suite, like tests/contract/conftest.py's gRPC server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Ehr:
    """An EHR that calls CDS services with CDS Hooks JWTs: its issuer, key id and private key (EC P-384)."""

    iss: str
    kid: str
    key: Any

    def jwks(self) -> dict[str, Any]:
        import json

        from jwt.algorithms import ECAlgorithm

        public = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "ES384"}]}

    def token(self, aud: str, *, lifetime_s: float = 300, **claims: Any) -> str:
        """A CDS Hooks JWT for ``aud`` (the service URL), ``claims`` replacing the defaults."""
        import time
        import uuid

        import jwt

        now = int(time.time())
        payload = {"iss": self.iss, "aud": aud, "iat": now, "exp": now + lifetime_s, "jti": str(uuid.uuid4())}
        payload.update(claims)
        return jwt.encode(payload, self.key, algorithm="ES384", headers={"kid": self.kid, "typ": "JWT"})


@pytest.fixture(scope="session")
def ehr() -> Ehr:
    from cryptography.hazmat.primitives.asymmetric import ec

    return Ehr("https://ehr.example.org/", "ehr-key-1", ec.generate_private_key(ec.SECP384R1()))


@pytest.fixture(scope="session")
def cds_server(
    small_package_dir: Path, tmp_path_factory: pytest.TempPathFactory, cds_token: str, ehr: Ehr
) -> Iterator[Any]:
    """One real CDS Hooks service (uvicorn subprocess) on the small model package, with a token (and the JWTs of
    ``ehr``), a small body limit and a short time to send it, fetching from any FHIR server on 127.0.0.1."""
    import json

    from tests.cdshooks.httpproc import start_cds_server
    from tests.contract.serverproc import free_port

    workdir = tmp_path_factory.mktemp("cds-server")
    jwks = workdir / "clients.jwks.json"
    jwks.write_text(json.dumps({ehr.iss: ehr.jwks()}))
    port = free_port()
    config = workdir / "server.yaml"
    config.write_text(
        "version: 1\n"
        "auth:\n  require_token: true\n"
        "limits:\n  max_request_bytes: 262144\n"
        "reload:\n  alias_check_interval_s: 0\n"
        "cds_hooks:\n  fhir_server_allowlist: ['http://127.0.0.1:']\n  fhir_fetch_timeout_s: 5\n"
        "  request_read_timeout_s: 2\n"
        f"  client_jwks_file: {jwks}\n  public_base_url: http://127.0.0.1:{port}\n"
    )
    server = start_cds_server(
        workdir,
        ["--model-path", str(small_package_dir), "--config", str(config)],
        env={"PRECISIONPAIN_API_TOKENS": cds_token},
        port=port,
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
