"""The garbage collector's settings for a process whose job is answering patients (the gRPC and CDS Hooks
servers, a ``score`` task's process).

An answer allocates tens of thousands of short-lived objects. With the default threshold (700 allocations) the
collector runs many times per answer, and its full passes walk the whole loaded model. Serving processes raise the
threshold and, after a model load, move every live object to the permanent generation.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

GC_THRESHOLD = (20_000, 20, 20)


class _Held:
    """How many :func:`serving_threshold` blocks are running, and the threshold before the first of them."""

    count = 0
    before: tuple[int, int, int] = (700, 10, 10)


_lock = threading.Lock()


def settle_heap() -> None:
    """After a model load: collect (the previous model's cycles included), then move every live object to the
    permanent generation, so later collections only walk what calls allocate."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def serving_threshold() -> Iterator[None]:
    """The serving threshold while the block runs (for work in a process that does other things too, such as a
    Dask worker's task); the threshold before is back when the last of the blocks running at once ends."""
    with _lock:
        if _Held.count == 0:
            _Held.before = gc.get_threshold()
            gc.set_threshold(*GC_THRESHOLD)
        _Held.count += 1
    try:
        yield
    finally:
        with _lock:
            _Held.count -= 1
            if _Held.count == 0:
                gc.set_threshold(*_Held.before)
