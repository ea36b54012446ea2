"""The recommendation servicer: convert the request, validate, delegate to the engine, convert back.

It knows nothing about transport (auth, request ids, status codes, logging live in
:mod:`precisionpain.service.server`); errors are raised as the :mod:`precisionpain.errors` tree and mapped
to status codes in :mod:`precisionpain.service.status`. The CLI's in-process ``recommend`` calls the same
methods, so a local and a remote answer are built by the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from precisionpain.benefit_harm import NO_PREFERENCES, Preferences
from precisionpain.errors import (
    PrecisionPainError,
    ProfileValidationError,
    ResourceLimitError,
    ValidationError,
    Violation,
)
from precisionpain.features.validate import validate_profile
from precisionpain.ranking import check_candidates
from precisionpain.schema import PatientProfile
from precisionpain.service import convert
from precisionpain.service.model_store import LoadedModel
from precisionpain.service.status import status_for
from precisionpain.v1 import service_pb2

PATIENT_PREFIX = f"{convert.PROFILE_PATH_PREFIX}."


def _no_check() -> None:
    return None


@dataclass(frozen=True)
class CallInfo:
    """What the servicer needs from the transport: the request id and a checkpoint that raises when the
    caller's deadline has passed (or the call was cancelled)."""

    request_id: str
    checkpoint: Callable[[], None] = _no_check


@dataclass(frozen=True)
class BatchAnswer:
    """A RecommendBatchResponse as wire bytes, with how many items it answers and how many of them failed."""

    data: bytes
    items: int
    item_errors: int


@dataclass(frozen=True)
class _Prepared:
    profile: PatientProfile
    candidates: tuple[str, ...]
    top_k: int
    preferences: Preferences = NO_PREFERENCES


class RecommendationServicer:
    """Recommend, RecommendBatch, ListTreatmentOptions and DescribeModel over a model source."""

    def __init__(
        self, model: Callable[[], LoadedModel], *, max_batch_size: int, max_response_bytes: int | None = None
    ) -> None:
        self._model = model
        self.max_batch_size = max_batch_size
        self.max_response_bytes = max_response_bytes

    def _prepare(self, model: LoadedModel, request: service_pb2.RecommendRequest) -> _Prepared:
        """proto -> dict -> validate_profile (+ candidates and top-k); every violation raised at once."""
        engine = model.engine
        given = convert.recommend_input_from_request(request)
        violations: list[Violation] = list(given.violations)
        profile: PatientProfile | None = None
        try:
            profile = validate_profile(given.profile, engine.package.catalog, engine.package.tables)
        except ProfileValidationError as exc:
            violations += [Violation(PATIENT_PREFIX + v.path, v.rule, v.received) for v in exc.violations]
        if given.candidate_option_ids:
            try:
                check_candidates(given.candidate_option_ids, engine.package.options)
            except ValidationError as exc:
                violations += exc.violations
        violations += engine.preference_violations(given.preferences, "utility_weights.")
        ProfileValidationError.raise_if_any("recommend request", violations)
        assert profile is not None
        candidates = (
            engine.candidates(profile, given.candidate_option_ids) if given.candidate_option_ids else ()
        )
        return _Prepared(profile, candidates, given.top_k, given.preferences)

    # ------------------------------------------------------------------------------------------ RPCs

    def recommend(
        self, request: service_pb2.RecommendRequest, call: CallInfo
    ) -> service_pb2.RecommendResponse:
        return service_pb2.RecommendResponse.FromString(self.recommend_wire(request, call))

    def recommend_wire(self, request: service_pb2.RecommendRequest, call: CallInfo) -> bytes:
        """:meth:`recommend` as the answer's wire bytes (what the gRPC service sends)."""
        model = self._model()
        prepared = self._prepare(model, request)
        call.checkpoint()
        (scored,) = model.engine.score(
            [prepared.profile],
            [prepared.candidates or None],
            prepared.top_k,
            checkpoint=call.checkpoint,
            preferences=[prepared.preferences],
        )
        return convert.recommend_response_bytes(scored, call.request_id)

    def recommend_batch(
        self, request: service_pb2.RecommendBatchRequest, call: CallInfo
    ) -> service_pb2.RecommendBatchResponse:
        return service_pb2.RecommendBatchResponse.FromString(self.recommend_batch_wire(request, call).data)

    def recommend_batch_wire(self, request: service_pb2.RecommendBatchRequest, call: CallInfo) -> BatchAnswer:
        """:meth:`recommend_batch` as the answer's wire bytes, with its counts for the access log."""
        n = len(request.requests)
        if n > self.max_batch_size:
            raise ResourceLimitError(
                f"requests: a batch may hold at most {self.max_batch_size} requests (received {n}); split it"
            )
        model = self._model()
        prepared: list[_Prepared | None] = []
        # each failed item's google.rpc.Status bytes, not its exception: an exception kept here would hold this
        # frame through its traceback (a cycle), and with it the whole batch's answers until a full collection
        errors: dict[int, bytes] = {}
        for i, item in enumerate(request.requests):
            if i % 64 == 0:
                call.checkpoint()
            try:
                prepared.append(self._prepare(model, item))
            except PrecisionPainError as exc:
                prepared.append(None)
                errors[i] = status_for(exc, call.request_id).SerializeToString()
        valid = [p for p in prepared if p is not None]
        # written out patient by patient: only one patient's answer objects are alive at a time
        scored = iter(
            model.engine.score_items(
                [p.profile for p in valid],
                [p.candidates or None for p in valid],
                [p.top_k for p in valid],
                checkpoint=call.checkpoint,
                preferences=[p.preferences for p in valid],
            )
        )
        results: list[tuple[bool, bytes]] = []
        size = 0
        for i, p in enumerate(prepared):
            outcome = errors[i] if p is None else next(scored)
            if isinstance(outcome, bytes):
                results.append((False, outcome))
            elif isinstance(outcome, PrecisionPainError):  # this item broke a rule: it fails alone
                results.append((False, status_for(outcome, call.request_id).SerializeToString()))
            else:
                if i % 64 == 0:
                    call.checkpoint()
                results.append((True, convert.recommend_response_bytes(outcome, call.request_id)))
            size += len(results[-1][1])
            # say so here, so the access log and the caller see the same code (the framing adds a few bytes
            # per item: checked again on the whole answer)
            self._check_size(n, size)
        data = convert.batch_response_bytes(call.request_id, results)
        self._check_size(n, len(data))
        return BatchAnswer(data, n, sum(1 for ok, _ in results if not ok))

    def _check_size(self, n: int, size: int) -> None:
        if self.max_response_bytes is not None and size > self.max_response_bytes:
            raise ResourceLimitError(
                f"requests: the answer to {n} requests would be at least {size:,} bytes, above the server's "
                f"max_response_bytes ({self.max_response_bytes:,}); send fewer patients per batch or a smaller top_k"
            )

    def list_treatment_options(
        self, request: service_pb2.ListTreatmentOptionsRequest, call: CallInfo
    ) -> service_pb2.ListTreatmentOptionsResponse:
        return convert.list_options_response(self._model().engine.package.options)

    def describe_model(
        self, request: service_pb2.DescribeModelRequest, call: CallInfo
    ) -> service_pb2.DescribeModelResponse:
        model = self._model()
        engine = model.engine
        provenance = engine.provenance().model_copy(update={"generated_at": model.loaded_at})
        return convert.describe_model_response(
            convert.ModelDescription(
                summary=engine.summary,
                identity=model.identity,
                provenance=provenance,
                option_ids=engine.option_ids,
                feature_ids=engine.package.metadata.feature_ids,
                max_batch_size=self.max_batch_size,
                ranking=engine.ranking,
            )
        )
