"""Hook requests built from a FHIR bundle, as an EHR would send them: for the quickstart's curl line, for
integrators trying the service, and for the tests.

An EHR's prefetch holds the patient and one search result (a ``searchset`` Bundle) per template, with references to
the patient as ``Patient/<id>``; :func:`prefetch_from_bundle` turns a collection bundle (such as those under
examples/fhir/) into exactly that.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
#: prefetch key -> the resource type its search returns (the keys of the services' prefetch templates)
SEARCHES = {
    "conditions": "Condition",
    "observations": "Observation",
    "medicationStatements": "MedicationStatement",
    "medicationRequests": "MedicationRequest",
}


def _localized(resource: dict[str, Any], patient_url: str | None, patient_id: str) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    for key in ("subject", "patient"):
        ref = out.get(key)
        if isinstance(ref, dict) and patient_url is not None and ref.get("reference") == patient_url:
            ref["reference"] = f"Patient/{patient_id}"
    return out


def searchset(resources: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def split_bundle(bundle: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """(patient id, Patient resource, resources of each searched type) of a collection bundle about one patient;
    references to the patient become ``Patient/<id>`` (a patient without an id gets ``patient``)."""
    entries = [
        e for e in bundle.get("entry", ()) if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]
    patients = [e for e in entries if e["resource"].get("resourceType") == "Patient"]
    if len(patients) != 1:
        raise ValueError("the bundle must hold exactly one Patient")
    patient_url = patients[0].get("fullUrl")
    patient = copy.deepcopy(patients[0]["resource"])
    patient_id = str(patient.setdefault("id", "patient"))
    by_type: dict[str, list[dict[str, Any]]] = {t: [] for t in SEARCHES.values()}
    for e in entries:
        resource_type = e["resource"].get("resourceType")
        if resource_type in by_type:
            by_type[resource_type].append(_localized(e["resource"], patient_url, patient_id))
    return patient_id, patient, by_type


def prefetch_from_bundle(bundle: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(patient id, the prefetch an EHR would send for the services' templates)."""
    patient_id, patient, by_type = split_bundle(bundle)
    prefetch: dict[str, Any] = {"patient": patient}
    for key, resource_type in SEARCHES.items():
        prefetch[key] = searchset(by_type[resource_type])
    return patient_id, prefetch


def draft_medication_request(
    patient_id: str, rxcui: str, display: str, request_id: str = "draft-1"
) -> dict[str, Any]:
    """A draft order of one medicine by its RxNorm code, as the EHR holds it while the clinician orders."""
    return {
        "resourceType": "MedicationRequest",
        "id": request_id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": rxcui, "display": display}],
            "text": display,
        },
    }


def hook_request(
    hook: str,
    patient_id: str,
    prefetch: dict[str, Any] | None,
    *,
    orders: Sequence[dict[str, Any]] = (),
    selections: Sequence[str] | None = None,
    fhir_server: str | None = None,
    fhir_token: str | None = None,
) -> dict[str, Any]:
    """A CDS Hooks 2.0 request body for ``hook``; order hooks carry ``orders`` as draftOrders (order-select
    selects ``selections``, by default every order)."""
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": patient_id}
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": o} for o in orders],
        }
    if hook == "order-select":
        context["selections"] = list(
            selections if selections is not None else (f"MedicationRequest/{o['id']}" for o in orders)
        )
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if fhir_token is not None:
        body["fhirAuthorization"] = {
            "access_token": fhir_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "precisionpain-cds",
        }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body
