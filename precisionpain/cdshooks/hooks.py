"""The CDS Hooks services: a hook request -> FHIR data -> PatientProfile -> the engine -> cards.

Like the gRPC servicer, this converts, validates and delegates; transport (HTTP, tokens, body limits, request ids,
status codes, logs) lives in :mod:`precisionpain.cdshooks.app`. Three services:

- ``precisionpain-patient-view`` (``patient-view``): the ranked options in one summary card with a link to the full
  report, and a card listing the FHIR data that could not be used.
- ``precisionpain-order-select`` / ``precisionpain-order-sign``: each draft MedicationRequest (the selected ones for
  order-select, all for order-sign) whose medicine is a treatment option: a critical card when the option is
  excluded for the patient, a warning card when it is warned, suggestions to replace it with the best usable
  alternatives, and nothing when it is usable. A draft whose medicine is not in the medication catalog gets a
  warning card: it was not checked.

Data come from the request's prefetch (templates declared in discovery; a key sent as null means the client has
no such data); a key left out is fetched from ``fhirServer`` with ``fhirAuthorization`` when the server is allowed
(:mod:`precisionpain.cdshooks.fhir_fetch`); data neither given nor fetched are a 412 (CDS Hooks 2.0: the service
"SHALL respond with an HTTP 412 Precondition Failed"), never a card computed without them.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
from pydantic import ConfigDict, Field

from precisionpain.base import FrozenModel
from precisionpain.catalog.loader import pydantic_violations
from precisionpain.catalog.safety import MedicationRow, option_medication
from precisionpain.cdshooks import cards as cardlib
from precisionpain.cdshooks.fhir_fetch import FhirFetcher, fill_template
from precisionpain.cdshooks.mapping import FhirMapping, observation_codes
from precisionpain.cdshooks.to_profile import (
    MAX_RESOURCES,
    Entry,
    MappedPatient,
    MappingContext,
    count_resources,
    map_resources,
    medication_concepts,
    medication_label,
    parse_fhir,
    resolve_medications,
)
from precisionpain.errors import DataUnavailableError, ValidationError, Violation, kind_of
from precisionpain.schema import ModelSummary, RankedOption, RankedRecommendation

FHIR_ID = r"^[A-Za-z0-9\-.]{1,64}$"
MAX_SELECTIONS = 100
MAX_PREFETCH_KEYS = 32
MAX_DRAFT_ORDERS = 200
#: Draft orders of treatment options checked in one call at most (each may need its own scoring).
MAX_CHECKED_DRAFTS = 20
VERDICT_ORDER = {"usable": 0, "warned": 1, "excluded": 2}


@dataclass(frozen=True)
class ServiceSpec:
    id: str
    hook: Literal["patient-view", "order-select", "order-sign"]
    title: str
    description: str


SERVICES: Mapping[str, ServiceSpec] = {
    s.id: s
    for s in (
        ServiceSpec(
            "precisionpain-patient-view",
            "patient-view",
            "PrecisionPain: chronic-pain treatment options",
            "Ranks the chronic-pain treatment options for the patient (chance of response, CPIC guidance, medication "
            "safety) and links to the full report.",
        ),
        ServiceSpec(
            "precisionpain-order-select",
            "order-select",
            "PrecisionPain: pain-medicine order check",
            "Checks a selected pain-medicine order against the patient's pharmacogenomics (CPIC) and medication "
            "safety rules, and suggests the best usable alternative.",
        ),
        ServiceSpec(
            "precisionpain-order-sign",
            "order-sign",
            "PrecisionPain: pain-medicine order check at signing",
            "Checks every pain-medicine order about to be signed against the patient's pharmacogenomics (CPIC) and "
            "medication safety rules, and suggests the best usable alternative.",
        ),
    )
}


def prefetch_templates(mapping: FhirMapping) -> dict[str, str]:
    """The prefetch each service asks for: the patient, their conditions, the observations the mapping reads (by
    code; the project's own code system as one ``system|`` token, which FHIR search reads as any code of it, so
    the query stays short enough for servers that take 2,048 characters of query string) and their active
    medications."""
    local = mapping.uri("local") if "local" in mapping.file.systems else None
    tokens = [f"{system}|{code}" for system, code in observation_codes(mapping) if system != local]
    codes = ",".join([*tokens, *([f"{local}|"] if local else [])])
    patient = "{{context.patientId}}"
    return {
        "patient": f"Patient/{patient}",
        "conditions": f"Condition?patient={patient}",
        "observations": f"Observation?patient={patient}&code={codes}",
        "medicationStatements": f"MedicationStatement?patient={patient}&status=active",
        "medicationRequests": f"MedicationRequest?patient={patient}&status=active",
    }


def discovery(mapping: FhirMapping) -> dict[str, Any]:
    prefetch = prefetch_templates(mapping)
    return {
        "services": [
            {"hook": s.hook, "title": s.title, "description": s.description, "id": s.id, "prefetch": prefetch}
            for s in SERVICES.values()
        ]
    }


# ------------------------------------------------------------------------------------------ requests


class FhirAuthorization(pydantic.BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    access_token: str = Field(min_length=1, max_length=8192)
    token_type: Literal["Bearer"]
    expires_in: int | None = None
    scope: str | None = Field(default=None, max_length=4096)
    subject: str | None = Field(default=None, max_length=256)


class HookRequest(FrozenModel):
    """The CDS Hooks 2.0 request envelope (unknown keys refused; every string bounded)."""

    hook: str = Field(min_length=1, max_length=64)
    hookInstance: str = Field(min_length=1, max_length=128)
    fhirServer: str | None = Field(default=None, max_length=2048, pattern=r"^https?://\S+$")
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = Field(default=None, max_length=MAX_PREFETCH_KEYS)
    extension: dict[str, Any] | None = None


class PatientContext(pydantic.BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    userId: str | None = Field(default=None, max_length=256)
    patientId: str = Field(pattern=FHIR_ID)
    encounterId: str | None = Field(default=None, max_length=256)


class OrderContext(PatientContext):
    draftOrders: dict[str, Any]
    selections: tuple[str, ...] = Field(default=(), max_length=MAX_SELECTIONS)


def _parse(model: type[pydantic.BaseModel], data: Any, prefix: str) -> Any:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as err:
        raise ValidationError("CDS Hooks request", pydantic_violations(err, prefix=prefix)) from None


def parse_request(data: Any, spec: ServiceSpec) -> tuple[HookRequest, PatientContext]:
    """The envelope and its context, every problem raised at once with its path."""
    if not isinstance(data, dict):
        raise ValidationError(
            "CDS Hooks request", [Violation("(body)", "must be a JSON object", kind_of(data))]
        )
    request = _parse(HookRequest, data, "")
    if request.hook != spec.hook:
        raise ValidationError(
            "CDS Hooks request", [Violation("hook", f"must be {spec.hook!r} for service {spec.id}", "string")]
        )
    context_model = PatientContext if spec.hook == "patient-view" else OrderContext
    context = _parse(context_model, request.context, "context")
    if spec.hook == "order-select" and not context.selections:
        raise ValidationError(
            "CDS Hooks request",
            [Violation("context.selections", "order-select names the selected orders", "list")],
        )
    for key in request.prefetch or {}:
        if len(key) > 64:
            raise ValidationError(
                "CDS Hooks request", [Violation("prefetch", "keys have at most 64 characters", "string")]
            )
    return request, context


# ------------------------------------------------------------------------------------------ feedback

MAX_FEEDBACK = 100


class FeedbackCoding(FrozenModel):
    system: str | None = Field(default=None, max_length=512)
    code: str = Field(min_length=1, max_length=128)
    display: str | None = Field(default=None, max_length=512)


class OverrideReason(FrozenModel):
    reason: FeedbackCoding | None = None
    userComment: str | None = Field(default=None, max_length=4000)  # free text: read, never kept or logged


class AcceptedSuggestion(FrozenModel):
    id: str = Field(min_length=1, max_length=128)


class Feedback(FrozenModel):
    """One item of a CDS Hooks 2.0 feedback request: what the clinician did with a card."""

    card: str = Field(min_length=1, max_length=128)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: tuple[AcceptedSuggestion, ...] = Field(default=(), max_length=MAX_FEEDBACK)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: dt.datetime
    extension: dict[str, Any] | None = None


class FeedbackRequest(FrozenModel):
    feedback: tuple[Feedback, ...] = Field(min_length=1, max_length=MAX_FEEDBACK)
    extension: dict[str, Any] | None = None


def parse_feedback(data: Any) -> FeedbackRequest:
    """A feedback request, every problem raised at once with its path (accepted outcomes name their suggestions,
    as the specification requires)."""
    if not isinstance(data, dict):
        raise ValidationError(
            "CDS Hooks feedback", [Violation("(body)", "must be a JSON object", kind_of(data))]
        )
    try:
        request = FeedbackRequest.model_validate(data)
    except pydantic.ValidationError as err:
        raise ValidationError("CDS Hooks feedback", pydantic_violations(err)) from None
    ValidationError.raise_if_any(
        "CDS Hooks feedback",
        [
            Violation(
                f"feedback[{i}].acceptedSuggestions", "an accepted outcome names its suggestions", "list"
            )
            for i, f in enumerate(request.feedback)
            if f.outcome == "accepted" and not f.acceptedSuggestions
        ],
    )
    return request


def feedback_fields(request: FeedbackRequest) -> dict[str, Any]:
    """What the access line says about a feedback request: counts, and the override reasons of this service's own
    list (other codes are counted as ``other``); never a comment, card or suggestion id."""
    ours = {code for code, _ in cardlib.OVERRIDE_REASONS}
    reasons: set[str] = set()
    for f in request.feedback:
        reason = f.overrideReason.reason if f.overrideReason else None
        if reason is not None:
            known = reason.system == cardlib.OVERRIDE_SYSTEM and reason.code in ours
            reasons.add(reason.code if known else "other")
    return {
        "feedback": len(request.feedback),
        "accepted": sum(f.outcome == "accepted" for f in request.feedback),
        "overridden": sum(f.outcome == "overridden" for f in request.feedback),
        "suggestions_accepted": sum(len(f.acceptedSuggestions) for f in request.feedback),
        "override_reasons": sorted(reasons),
    }


# ------------------------------------------------------------------------------------------ reports


@dataclass(frozen=True)
class StoredReport:
    created_s: float
    scored: Any  # recommender.ScoredRecommendation
    summary: ModelSummary
    engine: Any  # the Recommender whose package built it (catalogs for the report)


class ReportStore:
    """Full reports behind card links: kept in memory only, for ``ttl_s``, at most ``max_kept`` (oldest dropped),
    under unguessable ids (128 random bits)."""

    def __init__(self, ttl_s: float, max_kept: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_kept = max_kept
        self._clock = clock
        self._items: OrderedDict[str, StoredReport] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, scored: Any, summary: ModelSummary, engine: Any) -> str:
        report_id = secrets.token_urlsafe(16)
        with self._lock:
            self._expire()
            self._items[report_id] = StoredReport(self._clock(), scored, summary, engine)
            while len(self._items) > self.max_kept:
                self._items.popitem(last=False)
        return report_id

    def get(self, report_id: str) -> StoredReport | None:
        with self._lock:
            self._expire()
            return self._items.get(report_id)

    def _expire(self) -> None:
        now = self._clock()
        while self._items:
            oldest = next(iter(self._items.values()))
            if now - oldest.created_s <= self.ttl_s:
                break
            self._items.popitem(last=False)


def render_stored_report(stored: StoredReport) -> str:
    from precisionpain.explain.render import render_report
    from precisionpain.explain.report import build_report

    package = stored.engine.package
    report = build_report(
        stored.scored.explained(),
        stored.scored.profile,
        stored.summary,
        package.catalog,
        package.tables,
        options=package.options,
    )
    return render_report(report)


# ------------------------------------------------------------------------------------------ the services


@dataclass(frozen=True)
class HookAnswer:
    """The cards, and what the access line may say about the call (counts only)."""

    cards: list[dict[str, Any]]
    fields: dict[str, Any]


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class CdsHooksService:
    """The three services over the currently loaded model (``model()`` raises while none is loaded)."""

    def __init__(
        self,
        model: Callable[[], Any],
        mapping: FhirMapping,
        fetcher: FhirFetcher,
        reports: ReportStore | None,
        *,
        today: Callable[[], dt.date] = _today,
    ) -> None:
        self.model = model
        self.mapping = mapping
        self.fetcher = fetcher
        self.reports = reports
        self.templates = prefetch_templates(mapping)
        self.today = today

    def discovery(self) -> dict[str, Any]:
        return discovery(self.mapping)

    def about(self) -> dict[str, Any]:
        """What the cards' source link shows: the model, its intended use and limits, the catalogs' versions."""
        engine = self.model().engine
        summary: ModelSummary = engine.summary
        provenance = engine.provenance()
        return {
            "model": {
                "name": summary.model_name,
                "version": summary.model_version,
                "alias": summary.model_alias,
            },
            "synthetic_training_data": summary.synthetic_training_data,
            "training_data": summary.training_data,
            "intended_use": summary.intended_use,
            "limitations": list(summary.limitations),
            "fhir_mapping": self.mapping.identity,
            "safety_rules": {
                "version": provenance.safety_rules_version,
                "sha256": provenance.safety_rules_sha256,
            },
            "feature_catalog": {"version": provenance.catalog_version, "sha256": provenance.catalog_sha256},
        }

    # -------------------------------------------------------------------------------------- data

    def _gather(self, request: HookRequest, context: PatientContext) -> list[Entry]:
        """The resources of every prefetch template: from the request's prefetch (a key whose value is null: the
        client has no such data), else fetched from its fhirServer. Data neither given nor obtainable raise
        :class:`DataUnavailableError` (412, CDS Hooks 2.0), naming each key and why."""
        entries: list[Entry] = []
        prefetch = request.prefetch or {}
        missing = [key for key in self.templates if key not in prefetch]
        for key in self.templates:
            if key in prefetch and prefetch[key] is not None:
                entries += parse_fhir(prefetch[key], f"prefetch.{key}")
        if not missing:
            return entries
        refused = self.fetcher.refusal(request.fhirServer)
        if refused:  # nothing can be fetched: say so before calling anything
            raise DataUnavailableError("CDS Hooks request", [_unavailable(key, refused) for key in missing])
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        problems: list[Violation] = []
        until = self.fetcher.deadline()  # one deadline for all the fetching of this call
        for key in missing:
            fetched = self.fetcher.fetch(
                request.fhirServer, token, fill_template(self.templates[key], context.patientId), until
            )
            problem = fetched.problem
            if not problem:
                try:
                    for i, page in enumerate(fetched.pages):
                        if len(entries) + count_resources(page) > MAX_RESOURCES:
                            problem = (
                                f"the FHIR server's answers hold more than {MAX_RESOURCES} resources in all"
                            )
                            break
                        entries += parse_fhir(page, f"{key}[{i}]")
                except ValidationError:
                    problem = "the FHIR server's answer is not valid FHIR R4"
            if problem:
                problems.append(_unavailable(key, problem))
        if problems:
            raise DataUnavailableError("CDS Hooks request", problems)
        return entries

    def _check_patient(self, entries: list[Entry], context: PatientContext) -> None:
        for e in entries:
            if e.type == "Patient" and e.resource.id and e.resource.id != context.patientId:
                raise ValidationError(
                    "CDS Hooks request",
                    [Violation("prefetch.patient", "is not the patient of context.patientId", "object")],
                )

    def _card_context(self, engine: Any, request_base: str, report_id: str | None) -> cardlib.CardContext:
        summary: ModelSummary = engine.summary
        p = engine.provenance()
        version = f" v{summary.model_version}" if summary.model_version else ""
        return cardlib.CardContext(
            synthetic=summary.synthetic_training_data,
            model_label=f"{summary.model_name}{version}",
            about_url=f"{request_base}/cds-services/about",
            report_url=f"{request_base}/reports/{report_id}" if report_id else None,
            provenance=(
                f"PrecisionPain model {summary.model_name}{version}; FHIR mapping {self.mapping.version} "
                f"({self.mapping.sha256[:12]}); safety rules {p.safety_rules_version} ({p.safety_rules_sha256[:12]}); "
                f"feature catalog {p.catalog_version}"
            ),
        )

    # -------------------------------------------------------------------------------------- hooks

    def call(self, service_id: str, data: Any, request_base: str) -> HookAnswer:
        spec = SERVICES[service_id]
        request, context = parse_request(data, spec)
        given = sum(count_resources(v) for v in (request.prefetch or {}).values())
        if isinstance(context, OrderContext):
            given += count_resources(context.draftOrders)
        if given > MAX_RESOURCES:  # before any is parsed
            raise ValidationError(
                "CDS Hooks request",
                [
                    Violation(
                        "prefetch",
                        f"holds at most {MAX_RESOURCES} resources with the draft orders, in all",
                        "object",
                    )
                ],
            )
        orders = (
            parse_fhir(context.draftOrders, "context.draftOrders")
            if isinstance(context, OrderContext)
            else []
        )
        if len(orders) > MAX_DRAFT_ORDERS:
            raise ValidationError(
                "CDS Hooks request",
                [Violation("context.draftOrders", f"at most {MAX_DRAFT_ORDERS} orders", "list")],
            )
        engine = self.model().engine
        safety = engine.safety
        entries = self._gather(request, context)
        self._check_patient(entries, context)
        # the package's own feature catalog and tables (its catalog root is a copy that is gone once loaded)
        mctx = MappingContext(self.mapping, engine.package.catalog, engine.package.tables, safety.medications)
        mapped = map_resources(entries, mctx, as_of=self.today(), patient_id=context.patientId)
        all_warnings = list(mapped.warnings)
        scored = engine.score([mapped.profile])[0] if mapped.profile is not None else None
        report_id = None  # order cards get a report link only when one is shown (see _order_cards)
        if scored is not None and self.reports is not None and spec.hook == "patient-view":
            report_id = self.reports.put(scored, engine.summary, engine)
        ctx = self._card_context(engine, request_base, report_id)
        rec = scored.recommendation if scored is not None else None
        if spec.hook == "patient-view":
            cards = cardlib.patient_view_cards(ctx, rec, mapped.problems, all_warnings)
        else:
            assert isinstance(context, OrderContext)
            cards = self._order_cards(engine, context, orders, entries, mctx, mapped, scored, request_base)
        fields = {
            "hook": spec.hook,
            "cards": len(cards),
            "indicators": sorted({c["indicator"] for c in cards}),
            "data_warnings": len(all_warnings),
        }
        return HookAnswer(cards, fields)

    def _order_cards(
        self,
        engine: Any,
        context: OrderContext,
        orders: list[Entry],
        entries: list[Entry],
        mctx: MappingContext,
        mapped: MappedPatient,
        scored: Any,
        request_base: str,
    ) -> list[dict[str, Any]]:
        """A card for each draft order under review (the selected ones for order-select, all for order-sign) whose
        medicine is an option that is excluded or warned for the patient. The other draft orders are about to be
        taken with it, so each draft is checked with them among the patient's medications (codeine with a
        paroxetine order is codeine in a functional poor metaboliser); one scoring per distinct set of others."""
        options = engine.package.options
        by_medicine: dict[str, str] = {}
        for o in options.options:
            row = option_medication(o, engine.safety.medications)
            if row is not None:
                by_medicine.setdefault(row.name, o.id)
        drafts = self._drafts(context, orders, engine)
        checked = [d for d in drafts if d.checked]
        cards: list[dict[str, Any]] = []
        unchecked: list[str] = []
        answers: dict[frozenset[str], tuple[Any, str | None]] = {frozenset(): (scored, None)}
        if sum(1 for d in checked if any(r.name in by_medicine for r in d.rows)) > MAX_CHECKED_DRAFTS:
            raise ValidationError(
                "CDS Hooks request",
                [
                    Violation(
                        "context.draftOrders",
                        f"at most {MAX_CHECKED_DRAFTS} orders of treatment options are checked at once",
                        "list",
                    )
                ],
            )
        for draft in checked:
            if not draft.rows:
                ctx = self._card_context(engine, request_base, None)
                cards.append(cardlib.unknown_order_card(ctx, draft.card(None), draft.label))
                continue
            ids = [by_medicine[r.name] for r in draft.rows if r.name in by_medicine]
            if not ids:
                continue  # a medicine PrecisionPain does not rank: nothing to say
            if scored is None:
                unchecked.append(options.get(ids[0]).display_name)
                continue
            others = [d for d in drafts if d is not draft and d.rows]
            key = frozenset(r.name for d in others for r in d.rows)
            if key not in answers:
                with_others = [*entries, *(e for d in others for e in d.as_medication())]
                remapped = map_resources(with_others, mctx, as_of=self.today(), patient_id=context.patientId)
                answers[key] = (
                    engine.score([remapped.profile])[0] if remapped.profile is not None else scored,
                    None,
                )
            answer, report_id = answers[key]
            rec: RankedRecommendation = answer.recommendation
            found = [o for i in ids if (o := _find(rec, i)) is not None]
            option = max(found, key=lambda o: VERDICT_ORDER.get(o.verdict, 0), default=None)
            if option is None or option.verdict == "usable":
                continue
            if report_id is None and self.reports is not None:
                report_id = self.reports.put(answer, engine.summary, engine)
                answers[key] = (answer, report_id)
            ctx = self._card_context(engine, request_base, report_id)
            alternatives = self._alternatives(rec, option.option_id, engine)
            made = cardlib.order_card(
                ctx, draft.card(option.option_id), option, alternatives, rec, self.mapping.uri("rxnorm")
            )
            if made is not None:
                cards.append(made)
        if unchecked:
            ctx = self._card_context(engine, request_base, None)
            cards.append(cardlib.unchecked_orders_card(ctx, mapped.problems, unchecked))
        return cards

    def _drafts(self, context: OrderContext, orders: list[Entry], engine: Any) -> list[_Draft]:
        """Every draft MedicationRequest with its medicines; ``checked`` for those under review. A selection that
        names no MedicationRequest of the draft orders is a 400."""
        wanted = set(context.selections)
        drafts: list[_Draft] = []
        found: set[str] = set()
        medication_entries = [e for e in orders if e.type == "Medication"]
        for e in orders:
            if e.type != "MedicationRequest":
                continue
            reference = f"MedicationRequest/{e.resource.id}" if e.resource.id else None
            checked = not context.selections or reference in wanted
            if checked and reference is not None and context.selections:
                found.add(reference)
            concepts = medication_concepts(e, orders)
            rows, _ = resolve_medications(concepts, self.mapping, engine.safety.medications)
            drafts.append(
                _Draft(
                    e,
                    reference,
                    checked,
                    tuple(r for r, _ in rows),
                    medication_label(self.mapping, concepts[0] if concepts else None),
                    tuple(medication_entries),
                )
            )
        missing = [s for s in context.selections if s not in found]
        if missing:
            raise ValidationError(
                "CDS Hooks request",
                [
                    Violation(
                        f"context.selections[{context.selections.index(s)}]",
                        "is not a MedicationRequest of draftOrders",
                        "string",
                    )
                    for s in missing
                ],
            )
        return drafts

    def _alternatives(
        self, rec: RankedRecommendation, ordered: str, engine: Any
    ) -> list[cardlib.Alternative]:
        safety = engine.safety
        options = engine.package.options
        out: list[cardlib.Alternative] = []
        for o in rec.options:
            if o.option_id == ordered or o.verdict != "usable":
                continue
            row = option_medication(options.get(o.option_id), safety.medications)
            if row is None:
                continue  # not a medicine: it cannot replace a medication order
            out.append(cardlib.Alternative(o, row.rxnorm, row.name))
            # up to MAX_ALTERNATIVES orderable (coded) ones, and the better-ranked uncoded ones met on the way
            coded = sum(1 for a in out if a.rxcui)
            if coded == cardlib.MAX_ALTERNATIVES or len(out) == 2 * cardlib.MAX_ALTERNATIVES:
                break
        return out


def _unavailable(key: str, why: str) -> Violation:
    return Violation(f"prefetch.{key}", f"was not in the prefetch and could not be fetched: {why}", "absent")


def _find(rec: RankedRecommendation, option_id: str) -> RankedOption | None:
    for o in (*rec.options, *rec.excluded):
        if o.option_id == option_id:
            return o
    return None


@dataclass(frozen=True)
class _Draft:
    """A draft MedicationRequest of the hook's draftOrders: its resolved medicines, whether it is under review, and
    the Medication resources of the same bundle it may reference."""

    entry: Entry
    reference: str | None
    checked: bool
    rows: tuple[MedicationRow, ...]
    label: str
    medications: tuple[Entry, ...]

    def card(self, option_id: str | None) -> cardlib.DraftOrder:
        raw = self.entry.resource.model_dump(mode="json", exclude_none=True)
        medicine = self.rows[0].name if self.rows else None
        return cardlib.DraftOrder(self.reference, option_id, medicine, bool(self.rows), raw, self.label)

    def as_medication(self) -> list[Entry]:
        """The order as one of the patient's medications (active), with the Medication resources it may name."""
        active = self.entry.resource.model_copy(update={"status": "active"})
        return [Entry(active, self.entry.full_url), *self.medications]
