"""A serving process freezes its heap after each model load, and a reload still frees the previous model."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from precisionpain.service.heap import settle_heap


class _Model:
    """Stands in for a loaded model: an object graph with a reference cycle (as real models have)."""

    def __init__(self) -> None:
        self.me = self
        self.payload = [object() for _ in range(1000)]


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restore_gc")
def test_settle_heap_freezes_live_objects_and_frees_the_previous_model() -> None:
    gc.unfreeze()
    old = _Model()
    settle_heap()  # the first model is loaded
    assert gc.get_freeze_count() > len(old.payload)
    gone = weakref.ref(old)
    del old  # a reload replaced it; only its cycle keeps it alive
    assert gone() is not None
    new = _Model()
    settle_heap()  # the second model is loaded
    assert gone() is None, "the previous model stayed in the frozen generation"
    assert new.me is new



@pytest.mark.usefixtures("restore_gc")
def test_serving_threshold_holds_while_any_block_runs_and_gives_the_old_one_back() -> None:
    import threading

    from precisionpain.service.heap import GC_THRESHOLD, serving_threshold

    gc.set_threshold(700, 10, 10)
    inside, release = threading.Event(), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def task() -> None:
        with serving_threshold():
            inside.set()
            release.wait(10)
            seen.append(gc.get_threshold())

    other = threading.Thread(target=task)
    other.start()
    assert inside.wait(10)
    with serving_threshold():
        assert gc.get_threshold() == GC_THRESHOLD
    assert gc.get_threshold() == GC_THRESHOLD, "ended while another task still ran"
    release.set()
    other.join(10)
    assert seen == [GC_THRESHOLD]
    assert gc.get_threshold() == (700, 10, 10)
    with pytest.raises(RuntimeError), serving_threshold():
        raise RuntimeError("a failed task")
    assert gc.get_threshold() == (700, 10, 10)
