"""The CDS Hooks service over HTTP: a real uvicorn server (one per session, on the small model package), a real
HTTP client, and a real FHIR server on 127.0.0.1 for data the prefetch does not carry."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from precisionpain.cdshooks.hook_requests import (
    RXNORM,
    draft_medication_request,
    hook_request,
    prefetch_from_bundle,
    split_bundle,
)
from tests.cdshooks.conftest import PATIENT_EXAMPLES, example_bundle
from tests.cdshooks.httpproc import FhirServer, running_fhir_server

CODEINE = "2670"  # RxNorm ingredient, features/medications.yaml
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def client(cds_server: Any, cds_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=cds_server.url, headers={"Authorization": f"Bearer {cds_token}"}, timeout=30
    ) as c:
        yield c


def post(client: httpx.Client, hook: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"/cds-services/precisionpain-{hook}", json=body)


def cards_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    for card in cards:
        assert_spec_card(card)
    return cards


def assert_spec_card(card: dict[str, Any]) -> None:
    """CDS Hooks 2.0 card rules, and the demonstration banner while the model is synthetic."""
    assert UUID.match(card["uuid"])
    assert 0 < len(card["summary"]) < 140  # "One-sentence, <140-character summary"
    assert card["indicator"] in ("info", "warning", "critical")
    assert card["source"]["label"] and card["source"]["url"].startswith(("http://", "https://"))
    assert card["detail"].startswith("> **Demonstration model.**")
    for link in card.get("links", ()):
        assert link["type"] in ("absolute", "smart") and link["url"].startswith(("http://", "https://"))
    if "suggestions" in card:
        assert card["selectionBehavior"] in ("at-most-one", "any")
        for s in card["suggestions"]:
            assert UUID.match(s["uuid"]) and s["label"] and s["actions"]
            for action in s["actions"]:
                assert action["type"] in ("create", "update", "delete") and action["description"]
                if action["type"] == "delete":  # a relative reference, a string
                    assert isinstance(action["resourceId"], str) and "/" in action["resourceId"]
                else:
                    assert action["resource"]["resourceType"]
                    if action["resource"]["resourceType"] == "MedicationRequest":  # orderable: coded
                        coding = action["resource"]["medicationCodeableConcept"].get("coding", [])
                        assert any(c["system"] == RXNORM and c["code"] for c in coding), action
    else:
        assert "selectionBehavior" not in card
    for key, value in card.items():  # no null or empty element
        assert value not in (None, "", [], {}), key


def order_body(hook: str, example: str, rxcui: str, display: str) -> dict[str, Any]:
    patient_id, prefetch = prefetch_from_bundle(example_bundle(example))
    return hook_request(
        hook, patient_id, prefetch, orders=[draft_medication_request(patient_id, rxcui, display)]
    )


# ------------------------------------------------------------------------------------------ discovery


def test_discovery(cds_server: Any) -> None:
    answer = httpx.get(f"{cds_server.url}/cds-services", timeout=10)  # open, like health
    assert answer.status_code == 200
    services = {s["id"]: s for s in answer.json()["services"]}
    assert {s["hook"] for s in services.values()} == {"patient-view", "order-select", "order-sign"}
    for s in services.values():
        assert s["title"] and s["description"]
        assert s["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        observations = s["prefetch"]["observations"]
        assert "http://loinc.org|44261-6" in observations.split("code=")[1].split(",")  # PHQ-9 total
        # the project's own codes as one token for the whole system (FHIR: "system|" matches any of its codes),
        # so the query stays well within the 2,048 characters many servers take in a query string
        assert "urn:precisionpain:profile-field|" in observations.split("code=")[1].split(",")
        assert len(observations) < 1024


# ------------------------------------------------------------------------------------------ patient-view


def test_patient_view_ranks_and_links_the_full_report(client: httpx.Client, cds_server: Any) -> None:
    patient_id, prefetch = prefetch_from_bundle(example_bundle("cyp2d6_poor_metabolizer"))
    cards = cards_of(post(client, "patient-view", hook_request("patient-view", patient_id, prefetch)))
    assert len(cards) == 1  # every item of the bundle was used
    card = cards[0]
    assert card["summary"].startswith("Best-ranked options:")
    assert "Codeine" in card["detail"].split("### Not to be used for this patient", 1)[1]
    report = httpx.get(card["links"][0]["url"], timeout=60)
    assert report.status_code == 200 and report.text.startswith("<!DOCTYPE html>")
    # the link is the report's only key: a click on one of its outside links (CPIC, sources) must not send it
    assert report.headers["referrer-policy"] == "no-referrer"
    assert report.headers["x-content-type-options"] == "nosniff"
    assert "Demonstration model" in report.text
    assert httpx.get(f"{cds_server.url}/reports/{'x' * 22}", timeout=10).status_code == 404


@pytest.mark.parametrize("name", sorted(p.stem for p in PATIENT_EXAMPLES.glob("*.json")))
def test_every_example_patient_gets_cards(client: httpx.Client, name: str) -> None:
    patient_id, prefetch = prefetch_from_bundle(example_bundle(name))
    cards = cards_of(post(client, "patient-view", hook_request("patient-view", patient_id, prefetch)))
    assert cards and cards[0]["summary"].startswith(("Best-ranked options:", "No usable option"))


def test_an_unknown_code_gets_a_warning(client: httpx.Client) -> None:
    patient_id, prefetch = prefetch_from_bundle(example_bundle("pregnant_24_weeks"))
    prefetch["observations"]["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "subject": {"reference": f"Patient/{patient_id}"},
                "code": {"coding": [{"system": "http://loinc.org", "code": "99999-9"}]},
                "valueInteger": 3,
            }
        }
    )
    cards = cards_of(post(client, "patient-view", hook_request("patient-view", patient_id, prefetch)))
    data_cards = [c for c in cards if c["indicator"] == "warning" and "could not be used" in c["summary"]]
    assert len(data_cards) == 1 and "LOINC 99999-9" in data_cards[0]["detail"]


# ------------------------------------------------------------------------------------------ orders


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_codeine_for_a_cyp2d6_poor_metabolizer_is_critical_with_an_alternative(
    client: httpx.Client, hook: str
) -> None:
    cards = cards_of(post(client, hook, order_body(hook, "cyp2d6_poor_metabolizer", CODEINE, "codeine")))
    assert len(cards) == 1
    card = cards[0]
    assert card["indicator"] == "critical"
    assert "Codeine" in card["summary"] and "Poor Metabolizer" in card["summary"]
    assert "cpicpgx.org" in card["source"]["url"] and "CPIC" in card["source"]["label"]
    assert card["selectionBehavior"] == "at-most-one" and card["suggestions"][0]["isRecommended"] is True
    actions = card["suggestions"][0]["actions"]
    assert actions[0] == {
        "type": "delete",
        "description": "Remove the Codeine order",
        "resourceId": "MedicationRequest/draft-1",
    }
    created = actions[1]["resource"]
    assert (
        actions[1]["type"] == "create"
        and created["resourceType"] == "MedicationRequest"
        and created["status"] == "draft"
    )
    coding = created["medicationCodeableConcept"]["coding"][0]
    assert coding["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm" and coding["code"] != CODEINE
    assert created["subject"] == {"reference": "Patient/example-cyp2d6-pm"}


def test_a_fine_order_gets_no_card(client: httpx.Client, mapping_context: Any, small_package: Any) -> None:
    """An order of an option the engine finds usable for this patient (asked in-process here) gets nothing."""
    from precisionpain.catalog.safety import option_medication
    from precisionpain.recommender import Recommender

    engine = Recommender(small_package)
    profile = json.loads((PATIENT_EXAMPLES / "cyp2d6_poor_metabolizer.json").read_text())
    from precisionpain.features.validate import validate_profile

    rec = engine.score([validate_profile(profile, small_package.catalog, small_package.tables)])[
        0
    ].recommendation
    usable = [
        row
        for o in rec.options
        if o.verdict == "usable"
        and not o.safety_reasons
        and (row := option_medication(small_package.options.get(o.option_id), engine.safety.medications))
        is not None
        and row.rxnorm
    ]
    assert usable, "the example patient has a usable drug option"
    for hook in ("order-select", "order-sign"):
        assert (
            cards_of(
                post(
                    client,
                    hook,
                    order_body(hook, "cyp2d6_poor_metabolizer", str(usable[0].rxnorm), usable[0].name),
                )
            )
            == []
        )


def test_an_unknown_medication_code_gets_a_warning(client: httpx.Client) -> None:
    cards = cards_of(
        post(client, "order-select", order_body("order-select", "cyp2d6_poor_metabolizer", "999999999", "x"))
    )
    assert [c["indicator"] for c in cards] == ["warning"]
    assert "RXNORM 999999999" in cards[0]["summary"]


def test_an_order_by_a_clinical_drug_code_is_checked_by_its_ingredients(client: httpx.Client) -> None:
    """EHRs order products (RxNorm clinical or branded drugs), not ingredients: a combination tablet with codeine,
    under a product code the catalog does not list, is checked as codeine."""
    patient_id, prefetch = prefetch_from_bundle(example_bundle("cyp2d6_poor_metabolizer"))
    product = "acetaminophen 300 MG / codeine phosphate 30 MG Oral Tablet"
    order = draft_medication_request(patient_id, "993781", product)
    body = hook_request("order-select", patient_id, prefetch, orders=[order])
    cards = cards_of(post(client, "order-select", body))
    assert [c["indicator"] for c in cards] == ["critical"] and "Codeine" in cards[0]["summary"]


def test_the_other_draft_orders_count_as_medications(client: httpx.Client) -> None:
    """Orders signed together are taken together: codeine ordered with paroxetine (a strong CYP2D6 inhibitor) for
    a CYP2D6 normal metabolizer is codeine in a functional poor metabolizer."""
    patient_id, prefetch = prefetch_from_bundle(example_bundle("phenoconversion_paroxetine"))
    prefetch["medicationStatements"] = None  # not taking paroxetine yet
    codeine = draft_medication_request(patient_id, CODEINE, "codeine", "draft-codeine")
    paroxetine = draft_medication_request(patient_id, "32937", "paroxetine", "draft-paroxetine")
    alone = hook_request("order-sign", patient_id, prefetch, orders=[codeine])
    assert cards_of(post(client, "order-sign", alone)) == []
    together = hook_request("order-sign", patient_id, prefetch, orders=[codeine, paroxetine])
    cards = cards_of(post(client, "order-sign", together))
    assert [c["indicator"] for c in cards] == ["critical"] and "Codeine" in cards[0]["summary"]
    # order-select: codeine selected, the paroxetine order already among the drafts
    selected = hook_request(
        "order-select",
        patient_id,
        prefetch,
        orders=[codeine, paroxetine],
        selections=["MedicationRequest/draft-codeine"],
    )
    cards = cards_of(post(client, "order-select", selected))
    assert [c["indicator"] for c in cards] == ["critical"] and "Codeine" in cards[0]["summary"]
    delete = cards[0]["suggestions"][0]["actions"][0]
    assert delete["resourceId"] == "MedicationRequest/draft-codeine"


def test_a_selection_not_in_the_draft_orders_is_a_clear_400(client: httpx.Client) -> None:
    body = order_body("order-select", "cyp2d6_poor_metabolizer", CODEINE, "codeine")
    body["context"]["selections"] = ["MedicationRequest/nope"]
    answer = post(client, "order-select", body)
    assert answer.status_code == 400
    assert answer.json()["error"]["violations"][0]["field"] == "context.selections[0]"


# ------------------------------------------------------------------------------------------ feedback


def test_feedback_on_a_card_is_taken_and_logged_without_free_text(
    client: httpx.Client, cds_server: Any, cds_token: str
) -> None:
    """CDS Hooks 2.0 feedback: {baseUrl}/cds-services/{id}/feedback takes accepted and overridden outcomes (an EHR
    sends them when the clinician acts on a card); the access line counts them and never holds the comment."""
    cards = cards_of(
        post(
            client, "order-select", order_body("order-select", "cyp2d6_poor_metabolizer", CODEINE, "codeine")
        )
    )
    card = cards[0]
    comment = "patient says codeine worked for her mother"
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2025-01-01T10:00:00Z",
            },
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": card["overrideReasons"][0], "userComment": comment},
                "outcomeTimestamp": "2025-01-01T10:01:00Z",
            },
        ]
    }
    url = "/cds-services/precisionpain-order-select/feedback"
    answer = client.post(url, json=feedback)
    assert answer.status_code == 200, answer.text
    lines = [json.loads(x) for x in cds_server.log_text().splitlines() if x.startswith("{")]
    [line] = [r for r in lines if r.get("request_id") == answer.headers["x-request-id"]]
    assert line["route"] == "/cds-services/precisionpain-order-select/feedback"
    assert line["feedback"] == 2 and line["accepted"] == 1 and line["overridden"] == 1
    assert line["override_reasons"] == [card["overrideReasons"][0]["code"]]
    assert comment not in cds_server.log_text()

    assert httpx.post(cds_server.url + url, json=feedback, timeout=10).status_code == 401
    wrong = {"feedback": [{**feedback["feedback"][0], "outcome": "ignored"}]}
    answer = client.post(url, json=wrong)
    assert answer.status_code == 400
    assert answer.json()["error"]["violations"][0]["field"] == "feedback[0].outcome"
    no_suggestion = {"feedback": [{**feedback["feedback"][0], "acceptedSuggestions": []}]}
    answer = client.post(url, json=no_suggestion)
    assert answer.status_code == 400
    assert answer.json()["error"]["violations"][0]["field"] == "feedback[0].acceptedSuggestions"
    assert client.post("/cds-services/nope/feedback", json=feedback).status_code == 404


# ------------------------------------------------------------------------------------------ transport


def test_no_token_is_401_and_a_wrong_token_too(cds_server: Any) -> None:
    patient_id, prefetch = prefetch_from_bundle(example_bundle("mostly_missing"))
    body = hook_request("patient-view", patient_id, prefetch)
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        answer = httpx.post(
            f"{cds_server.url}/cds-services/precisionpain-patient-view",
            json=body,
            headers=headers,
            timeout=10,
        )
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert error["code"] == "UNAUTHENTICATED" and error["reason"] == "INVALID_CREDENTIALS"
        assert error["request_id"] == answer.headers["x-request-id"]


def test_an_ehr_signed_jwt_is_accepted_once_for_its_service(cds_server: Any, ehr: Any) -> None:
    """CDS Hooks 2.0: an EHR authenticates each call with a JWT it signs (Authorization: Bearer <JWT>): iss among
    the trusted clients (cds_hooks.client_jwks_file), aud the URL of the service called, exp and iat, a jti never
    seen before; asymmetric algorithms only."""
    import time

    import jwt

    patient_id, prefetch = prefetch_from_bundle(example_bundle("mostly_missing"))
    body = hook_request("patient-view", patient_id, prefetch)
    service = f"{cds_server.url}/cds-services/precisionpain-patient-view"

    def call(token: str) -> httpx.Response:
        return httpx.post(service, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    good = ehr.token(service)
    assert call(good).status_code == 200
    assert call(good).status_code == 401  # replayed: its jti was seen
    feedback_url = f"{service}/feedback"
    feedback = {
        "feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2025-01-01T00:00:00Z"}]
    }
    answer = httpx.post(
        feedback_url,
        json=feedback,
        headers={"Authorization": f"Bearer {ehr.token(feedback_url)}"},
        timeout=30,
    )
    assert answer.status_code == 200
    now = int(time.time())
    refused = {
        "another service": ehr.token(f"{cds_server.url}/cds-services/precisionpain-order-sign"),
        "expired": ehr.token(service, iat=now - 900, exp=now - 600),
        "issued in the future": ehr.token(service, iat=now + 600, exp=now + 900),
        "valid for too long": ehr.token(service, lifetime_s=86_400),
        "untrusted issuer": ehr.token(service, iss="https://elsewhere.example.org/"),
        "no jti": jwt.encode(
            {"iss": ehr.iss, "aud": service, "iat": now, "exp": now + 300},
            ehr.key,
            algorithm="ES384",
            headers={"kid": ehr.kid},
        ),
        "unsigned": jwt.encode(
            {"iss": ehr.iss, "aud": service, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())},
            None,
            algorithm="none",
            headers={"kid": ehr.kid},
        ),
        "another key": jwt.encode(
            {"iss": ehr.iss, "aud": service, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())},
            __import__("cryptography.hazmat.primitives.asymmetric.ec", fromlist=["ec"]).generate_private_key(
                __import__("cryptography.hazmat.primitives.asymmetric.ec", fromlist=["ec"]).SECP384R1()
            ),
            algorithm="ES384",
            headers={"kid": ehr.kid},
        ),
    }
    for why, token in refused.items():
        answer = call(token)
        assert answer.status_code == 401, why
        assert answer.json()["error"]["reason"] == "INVALID_CREDENTIALS", why
    log = cds_server.log_text()
    assert good not in log and good.split(".")[1] not in log  # no token, nor its claims, in the log


def test_an_oversize_body_is_413(client: httpx.Client) -> None:
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"patientId": "p"},
        "extension": {"padding": "x" * 300_000},
    }  # the session server's limit is 256 KiB
    answer = post(client, "patient-view", body)
    assert answer.status_code == 413
    assert "limits.max_request_bytes" in answer.json()["error"]["message"]


def complete(answer: bytes) -> bool:
    """Whether a raw HTTP answer holds its headers and the whole body its Content-Length announces."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", head)
    return bool(sep) and length is not None and len(body) >= int(length[1])


def test_a_body_sent_too_slowly_is_408(cds_server: Any, cds_token: str) -> None:
    """A caller sending its body a byte now and then cannot hold a connection: the body must arrive within
    cds_hooks.request_read_timeout_s (2 s on the session server)."""
    import socket
    import time

    head = (
        "POST /cds-services/precisionpain-patient-view HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {cds_token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    )
    started = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", cds_server.port), timeout=0.5) as sock:
        sock.sendall(head.encode())
        while time.monotonic() - started < 20 and not complete(answer):
            try:
                sock.sendall(b" ")
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break  # the server closed the connection
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert (
        body["error"]["reason"] == "REQUEST_TIMEOUT" and "request_read_timeout_s" in body["error"]["message"]
    )


def test_headers_sent_too_slowly_close_the_connection(cds_server: Any) -> None:
    """Before any token can be checked: a caller trickling its request headers is disconnected once
    cds_hooks.request_read_timeout_s (2 s on the session server) has passed, so slow connections cannot fill
    limits.max_concurrent_rpcs."""
    import socket
    import time

    started = time.monotonic()
    closed_after = None
    with socket.create_connection(("127.0.0.1", cds_server.port), timeout=0.5) as sock:
        sock.sendall(b"POST /cds-services/precisionpain-patient-view HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while time.monotonic() - started < 20:
            try:
                sock.sendall(b"X")
                if sock.recv(65536) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except OSError:
                closed_after = time.monotonic() - started
                break
    assert closed_after is not None and closed_after < 10


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"{not json", "(body)"),
        (b"[" * 100_000 + b"]" * 100_000, "(body)"),
        (
            json.dumps({"hook": "order-sign", "hookInstance": "1", "context": {"patientId": "p"}}).encode(),
            "hook",
        ),
        (
            json.dumps(
                {"hook": "patient-view", "hookInstance": "1", "context": {"patientId": "bad id!"}}
            ).encode(),
            "context.patientId",
        ),
        (
            json.dumps(
                {"hook": "patient-view", "hookInstance": "1", "context": {"patientId": "p"}, "colour": 1}
            ).encode(),
            "colour",
        ),
        (  # JSON between systems is UTF-8 (RFC 8259); UTF-16 was decoded by guessing
            json.dumps({"hook": "patient-view", "hookInstance": "1", "context": {"patientId": "p"}}).encode(
                "utf-16"
            ),
            "(body)",
        ),
        (  # a resource of no FHIR type inside a search bundle (the FHIR library failed with a KeyError: 500)
            json.dumps(
                {
                    "hook": "patient-view",
                    "hookInstance": "1",
                    "context": {"patientId": "p"},
                    "prefetch": {
                        "conditions": {
                            "resourceType": "Bundle",
                            "type": "searchset",
                            "entry": [{"resource": {"resourceType": "Patient/other"}}],
                        }
                    },
                }
            ).encode(),
            "prefetch.conditions.entry[0].resource.resourceType",
        ),
        (  # ... or contained in a resource
            json.dumps(
                {
                    "hook": "patient-view",
                    "hookInstance": "1",
                    "context": {"patientId": "p"},
                    "prefetch": {
                        "patient": {"resourceType": "Patient", "contained": [{"resourceType": "Nope"}]}
                    },
                }
            ).encode(),
            "prefetch.patient",
        ),
    ],
)
def test_bad_requests_are_400_naming_the_field(client: httpx.Client, content: bytes, field: str) -> None:
    answer = client.post(
        "/cds-services/precisionpain-patient-view",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["violations"][0]["field"] == field


def test_too_many_resources_in_all_are_refused_before_any_is_read(client: httpx.Client) -> None:
    """The bound on resources per call (to_profile.MAX_RESOURCES) holds for the prefetch and the draft orders
    together, counted before any is parsed."""
    from precisionpain.cdshooks.to_profile import MAX_RESOURCES

    patient_id, prefetch = prefetch_from_bundle(example_bundle("cyp2d6_poor_metabolizer"))
    share = MAX_RESOURCES // 4 + 1
    for key in ("conditions", "observations", "medicationStatements"):
        prefetch[key]["entry"] += [{}] * share  # each bundle within the bound, the three above a quarter
    body = hook_request(
        "order-sign", patient_id, prefetch, orders=[draft_medication_request(patient_id, CODEINE, "codeine")]
    )
    body["context"]["draftOrders"]["entry"] += [{}] * share
    answer = post(client, "order-sign", body)
    assert answer.status_code == 400, answer.text
    [violation] = answer.json()["error"]["violations"]
    assert violation["field"] == "prefetch" and f"at most {MAX_RESOURCES}" in violation["description"]


def test_invalid_fhir_in_the_prefetch_is_400_with_its_path(client: httpx.Client) -> None:
    patient_id, prefetch = prefetch_from_bundle(example_bundle("cyp2d6_poor_metabolizer"))
    prefetch["patient"]["birthDate"] = "the day after yesterday"
    answer = post(client, "patient-view", hook_request("patient-view", patient_id, prefetch))
    assert answer.status_code == 400
    assert answer.json()["error"]["violations"][0]["field"] == "prefetch.patient.birthDate"
    assert "yesterday" not in answer.text


# ------------------------------------------------------------------------------------------ fetching from fhirServer


def test_missing_prefetch_is_fetched_from_the_fhir_server_with_its_bearer(client: httpx.Client) -> None:
    bundle = example_bundle("cyp2d6_poor_metabolizer")
    patient_id, patient, by_type = split_bundle(bundle)
    with running_fhir_server(FhirServer(patient, by_type)) as fhir:
        body = hook_request(
            "order-select",
            patient_id,
            None,
            orders=[draft_medication_request(patient_id, CODEINE, "codeine")],
            fhir_server=fhir.base,
            fhir_token="fhir-access-token-42",
        )
        fetched = cards_of(post(client, "order-select", body))
        seen = list(fhir.seen)
    given = cards_of(
        post(
            client, "order-select", order_body("order-select", "cyp2d6_poor_metabolizer", CODEINE, "codeine")
        )
    )
    assert [c["summary"] for c in fetched] == [c["summary"] for c in given]
    assert {path.split("?")[0] for path, _ in seen} >= {
        f"/fhir/Patient/{patient_id}",
        "/fhir/Observation",
        "/fhir/Condition",
    }
    assert sum(1 for path, _ in seen if "_offset=" in path) >= 1  # search pages followed
    assert {auth for _, auth in seen} == {"Bearer fhir-access-token-42"}


PREFETCH_KEYS = ("patient", "conditions", "observations", "medicationStatements", "medicationRequests")


def unavailable(answer: httpx.Response) -> dict[str, str]:
    """{field: description} of a 412 answer (the data the service could not obtain)."""
    assert answer.status_code == 412, answer.text
    error = answer.json()["error"]
    assert error["code"] == "FAILED_PRECONDITION" and error["reason"] == "DATA_UNAVAILABLE"
    return {v["field"]: v["description"] for v in error["violations"]}


def test_prefetch_it_cannot_fetch_is_412_naming_the_keys(client: httpx.Client) -> None:
    """CDS Hooks 2.0: a service that cannot obtain required data, neither from the prefetch nor from the FHIR
    server, SHALL answer 412 Precondition Failed."""
    patient_id = "example-cyp2d6-pm"
    outside = hook_request("patient-view", patient_id, None, fhir_server="https://fhir.example.org/r4")
    missing = unavailable(post(client, "patient-view", outside))
    assert set(missing) == {f"prefetch.{k}" for k in PREFETCH_KEYS}
    assert all("not in cds_hooks.fhir_server_allowlist" in d for d in missing.values())
    no_server = hook_request("patient-view", patient_id, None)
    assert all("no fhirServer" in d for d in unavailable(post(client, "patient-view", no_server)).values())
    _, prefetch = prefetch_from_bundle(example_bundle("cyp2d6_poor_metabolizer"))
    del prefetch["medicationStatements"]  # the EHR could not prefetch it; nothing to fetch it from
    partial = unavailable(post(client, "patient-view", hook_request("patient-view", patient_id, prefetch)))
    assert list(partial) == ["prefetch.medicationStatements"]


def test_a_redirecting_fhir_server_is_not_followed(client: httpx.Client) -> None:
    """A redirect could take the FHIR bearer token, and the service's requests, outside the allowlist."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}/fhir"
        body = hook_request("patient-view", "p1", None, fhir_server=base, fhir_token="t")
        missing = unavailable(post(client, "patient-view", body))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert all("answered HTTP 302" in d for d in missing.values())
    assert all(path.startswith("/fhir/") for path in hits)


def test_a_fhir_server_that_fails_is_412(client: httpx.Client) -> None:
    _, patient, by_type = split_bundle(example_bundle("cyp2d6_poor_metabolizer"))
    with running_fhir_server(FhirServer({**patient, "id": "someone-else"}, by_type)) as fhir:
        body = hook_request("patient-view", "example-cyp2d6-pm", None, fhir_server=fhir.base, fhir_token="t")
        missing = unavailable(post(client, "patient-view", body))
    assert set(missing) == {f"prefetch.{k}" for k in PREFETCH_KEYS}
    assert all("answered HTTP 404" in d for d in missing.values())


def test_a_null_prefetch_key_means_no_data(client: httpx.Client) -> None:
    """CDS Hooks 2.0: a client with no data for a template sends the key with null; it is not fetched, and
    nothing is missing."""
    bundle = example_bundle("cyp2d6_poor_metabolizer")
    patient_id, patient, by_type = split_bundle(bundle)
    assert not by_type["MedicationStatement"] and not by_type["MedicationRequest"]
    _, prefetch = prefetch_from_bundle(bundle)
    given = cards_of(post(client, "patient-view", hook_request("patient-view", patient_id, prefetch)))
    prefetch["medicationStatements"] = None
    del prefetch["medicationRequests"]
    with running_fhir_server(FhirServer(patient, by_type)) as fhir:
        body = hook_request("patient-view", patient_id, prefetch, fhir_server=fhir.base, fhir_token="t")
        cards = cards_of(post(client, "patient-view", body))
        seen = [path.split("?")[0] for path, _ in fhir.seen]
    assert seen == ["/fhir/MedicationRequest"]  # fetched: the key the request left out; not the null one
    assert [c["summary"] for c in cards] == [c["summary"] for c in given]
    assert len(cards) == 1  # no card about data not used


# ------------------------------------------------------------------------------------------ logs


def test_the_log_holds_no_patient_value_identifier_or_token(
    client: httpx.Client, cds_server: Any, cds_token: str
) -> None:
    answer = post(client, "order-sign", order_body("order-sign", "phq9_item9_positive", CODEINE, "codeine"))
    assert answer.status_code == 200
    log = cds_server.log_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [
        r
        for r in lines
        if r.get("message") == "call" and r.get("request_id") == answer.headers["x-request-id"]
    ]
    assert len(access) == 1 and access[0]["status"] == 200 and access[0]["hook"] == "order-sign"
    for secret in (
        "example-phq9-item9",
        "example-cyp2d6-pm",
        cds_token,
        "fhir-access-token-42",
        "Practitioner/example",
    ):
        assert secret not in log
