"""A least-recently-used cache bounded by the bytes it holds, for caches whose keys come from callers, and
:func:`per_object`, for values derived from a process's few long-lived frozen objects.

A cache keyed by what a request carries (a diplotype spelling, a measured value) must not grow with the
number of distinct requests. ``functools.lru_cache`` bounds entries, and an entry's size is whatever the
caller sent; :class:`ByteBoundedLRU` bounds the sum of its entries' sizes, as estimated by ``size_of``, and
evicts the least recently used entries to stay under it. An entry larger than the whole budget is not kept.
Keys should be validated and bounded before they get here; the byte bound is the second line of defence.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, NamedTuple, ParamSpec, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: What one entry costs beyond the objects its key and value refer to: the OrderedDict node and the tuples.
ENTRY_OVERHEAD_BYTES = 256


def text_bytes(*parts: object) -> int:
    """Bytes held by the strings and bytes among ``parts`` (other objects count as nothing)."""
    return sum(sys.getsizeof(p) for p in parts if isinstance(p, str | bytes))


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    entries: int
    nbytes: int
    max_bytes: int


class ByteBoundedLRU(Generic[K, V]):
    """A thread-safe LRU mapping whose entries' estimated sizes add up to at most ``max_bytes``."""

    def __init__(self, max_bytes: int, size_of: Callable[[K, V], int]) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._nbytes = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> tuple[bool, V | None]:
        """(True, value) and the entry becomes the most recently used, or (False, None).

        Lock-free: each OrderedDict operation is atomic, and an entry another thread evicts between the read and
        ``move_to_end`` is still a right answer. The hit and miss counts may miss a few under contention."""
        entries = self._entries
        found = entries.get(key)
        if found is None:
            self._misses += 1
            return False, None
        try:  # noqa: SIM105 (a plain try costs a third of contextlib.suppress: run per option per answer)
            entries.move_to_end(key)
        except KeyError:  # evicted meanwhile
            pass
        self._hits += 1
        return True, found[0]

    def put(self, key: K, value: V) -> None:
        size = self._size_of(key, value) + ENTRY_OVERHEAD_BYTES
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._nbytes -= old[1]
            self._entries[key] = (value, size)
            self._nbytes += size
            while self._nbytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._nbytes -= evicted

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._nbytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    @property
    def nbytes(self) -> int:
        """The estimated bytes held now (never above ``max_bytes``)."""
        return self._nbytes

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._entries), self._nbytes, self.max_bytes)


class BytesCachedFunction(Generic[P, R]):
    """A function whose results are kept in a :class:`ByteBoundedLRU` keyed by its positional arguments."""

    def __init__(
        self, fn: Callable[P, R], max_bytes: int, size_of: Callable[[tuple[Any, ...], R], int]
    ) -> None:
        self.__wrapped__ = fn
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", "cached")
        self.cache: ByteBoundedLRU[tuple[Any, ...], R] = ByteBoundedLRU(max_bytes, size_of)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if kwargs:  # keyword calls are not cached: one spelling of each call keeps the key simple
            return self.__wrapped__(*args, **kwargs)
        found, value = self.cache.get(args)
        if found:
            return value  # type: ignore[return-value]
        result = self.__wrapped__(*args, **kwargs)
        self.cache.put(args, result)
        return result

    def cache_info(self) -> CacheInfo:
        return self.cache.info()

    def cache_clear(self) -> None:
        self.cache.clear()


def lru_cache_bytes(
    max_bytes: int, size_of: Callable[[tuple[Any, ...], Any], int]
) -> Callable[[Callable[P, R]], BytesCachedFunction[P, R]]:
    """Decorator: cache a function's results by its positional arguments within ``max_bytes``.

    ``size_of(args, result)`` estimates the bytes an entry holds (use :func:`text_bytes` for its strings).
    """

    def wrap(fn: Callable[P, R]) -> BytesCachedFunction[P, R]:
        return BytesCachedFunction(fn, max_bytes, size_of)

    return wrap


class PerObject(Generic[T, R]):
    """A function of one frozen object whose results are kept per object: see :func:`per_object`."""

    def __init__(self, fn: Callable[[T], R], max_objects: int) -> None:
        self.__wrapped__ = fn
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", "cached")
        self.max_objects = max_objects
        self._kept: dict[int, tuple[T, R]] = {}

    def __call__(self, obj: T) -> R:
        hit = self._kept.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        value = self.__wrapped__(obj)
        if len(self._kept) >= self.max_objects:
            self._kept.clear()
        self._kept[id(obj)] = (obj, value)
        return value

    def cache_clear(self) -> None:
        self._kept.clear()


def per_object(max_objects: int) -> Callable[[Callable[[T], R]], PerObject[T, R]]:
    """Decorator for a function of one frozen object (a catalog): its result kept per object, by identity, with
    the object held so that its id is not reused (hashing a catalog walks all its fields). For the few long-lived
    objects of a process, such as one catalog per loaded model: all are dropped when ``max_objects`` are held."""

    def wrap(fn: Callable[[T], R]) -> PerObject[T, R]:
        return PerObject(fn, max_objects)

    return wrap
