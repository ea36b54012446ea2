"""ByteBoundedLRU: bounded by the bytes of its entries, least recently used evicted first, thread-safe."""

from __future__ import annotations

import threading

import pytest

from precisionpain.bounded_cache import ENTRY_OVERHEAD_BYTES, ByteBoundedLRU, lru_cache_bytes, text_bytes


def _size(key: str, value: str) -> int:
    return len(key) + len(value)


def test_entries_are_evicted_by_bytes_not_by_count() -> None:
    cache: ByteBoundedLRU[str, str] = ByteBoundedLRU(10 * (ENTRY_OVERHEAD_BYTES + 100), _size)
    for i in range(100):
        cache.put(f"{i:050d}", "v" * 50)  # 100 bytes each: ten fit
    assert len(cache) == 10
    assert cache.nbytes <= cache.max_bytes
    cache.put("big", "v" * (5 * ENTRY_OVERHEAD_BYTES))  # one big entry pushes several small ones out
    assert "big" in cache and len(cache) < 10
    assert cache.nbytes <= cache.max_bytes


def test_least_recently_used_goes_first_and_a_hit_refreshes() -> None:
    cache: ByteBoundedLRU[str, str] = ByteBoundedLRU(3 * (ENTRY_OVERHEAD_BYTES + 2), _size)
    for k in "abc":
        cache.put(k, k)
    assert cache.get("a") == (True, "a")
    cache.put("d", "d")
    assert "b" not in cache and {"a", "c", "d"} <= {k for k in "abcd" if k in cache}
    assert cache.get("b") == (False, None)
    info = cache.info()
    assert (info.hits, info.misses, info.entries) == (1, 1, 3)


def test_an_entry_larger_than_the_budget_is_not_kept() -> None:
    cache: ByteBoundedLRU[str, str] = ByteBoundedLRU(1000, _size)
    cache.put("k", "v" * 5000)
    assert len(cache) == 0 and cache.nbytes == 0
    with pytest.raises(ValueError):
        ByteBoundedLRU(0, _size)


def test_decorated_function_caches_by_positional_arguments() -> None:
    calls: list[str] = []

    @lru_cache_bytes(4096, lambda args, result: text_bytes(*args, result))
    def shout(text: str) -> str:
        calls.append(text)
        return text.upper()

    assert shout("a") == "A" and shout("a") == "A"
    assert calls == ["a"]
    assert shout.cache_info().hits == 1
    shout.cache_clear()
    assert shout("a") == "A" and calls == ["a", "a"]


def test_concurrent_use_keeps_the_byte_count_exact() -> None:
    cache: ByteBoundedLRU[str, str] = ByteBoundedLRU(50 * (ENTRY_OVERHEAD_BYTES + 20), _size)

    def work(t: int) -> None:
        for i in range(2000):
            key = f"{t}-{i % 97:08d}"
            if not cache.get(key)[0]:
                cache.put(key, "v" * 10)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert cache.nbytes == len(cache) * (ENTRY_OVERHEAD_BYTES + 20)
    assert cache.nbytes <= cache.max_bytes


def test_per_object_keeps_a_result_per_object_by_identity_and_stays_bounded() -> None:
    from precisionpain.bounded_cache import per_object

    calls: list[int] = []

    @per_object(2)
    def size(obj: list[int]) -> int:
        calls.append(id(obj))
        return len(obj)

    a, b, c = [1], [1], [1, 2]  # a and b are equal but distinct objects
    assert (size(a), size(a), size(b)) == (1, 1, 1)
    assert len(calls) == 2, "an equal object is not the same object; the same one is computed once"
    assert size(c) == 2 and size(a) == 1 and len(calls) == 4, "a third object dropped the two kept"
    size.cache_clear()
    assert size(c) == 2 and len(calls) == 5
