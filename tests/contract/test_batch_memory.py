"""What a RecommendBatch call leaves behind: once its answer is sent, nothing of the batch stays alive.

The server runs with a high first collection threshold and a frozen heap, so a reference cycle made during a call
(an item's exception kept beside the frame that caught it) is promoted while the batch runs and waits for a full
collection, holding the call's answers and the batch's SHAP arrays with it. With the collector off, what a call
leaves must be freed by reference counting alone.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from precisionpain.recommender import ModelIdentity, Recommender
from precisionpain.service.client import recommend_request
from precisionpain.service.model_store import LoadedModel
from precisionpain.service.servicer import CallInfo, RecommendationServicer
from precisionpain.v1 import service_pb2


@pytest.fixture(scope="module")
def servicer(small_package) -> RecommendationServicer:  # type: ignore[no-untyped-def]
    identity = ModelIdentity("precisionpain-test", "7", "champion", "run-7", "models:/x@champion")
    engine = Recommender(small_package, identity, clock=lambda: "2026-01-01T00:00:00Z")
    engine.warmup()
    loaded = LoadedModel(engine, identity, "test", "2026-01-01T00:00:00Z")
    return RecommendationServicer(lambda: loaded, max_batch_size=1000)


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def _left_after(servicer: RecommendationServicer, batch: Any) -> tuple[int, int, int]:
    """(bytes still allocated once the answer is dropped, the answer's size, its failed items)."""
    call = CallInfo(request_id="rid-memory")
    servicer.recommend_batch_wire(batch, call)  # the caches of the serving path filled first
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        answer = servicer.recommend_batch_wire(batch, call)
        size, failed = len(answer.data), answer.item_errors
        del answer
        left = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return left, size, failed


@pytest.mark.usefixtures("collector_off")
@pytest.mark.parametrize("bad_at", [None, 0, 5])
def test_a_batch_leaves_nothing_alive_once_answered(servicer, patient_examples, bad_at) -> None:  # type: ignore[no-untyped-def]
    requests = [recommend_request(d) for d in patient_examples.values()] * 4
    if bad_at is not None:  # an item that fails alone (its own INVALID_ARGUMENT)
        bad = recommend_request(patient_examples["mostly_missing"])
        bad.patient.clinical.age_years = 7
        requests.insert(bad_at, bad)
    left, size, failed = _left_after(servicer, service_pb2.RecommendBatchRequest(requests=requests))
    assert failed == (bad_at is not None)
    assert left < size // 20, f"{left:,} bytes still held after an answer of {size:,}"
