"""resolve_gene under caller-chosen text: over-long parts are refused unread, and its cache is bounded in bytes."""

from __future__ import annotations

from precisionpain.pgx.resolve import RESOLVE_CACHE_BYTES, resolve_gene


def test_overlong_parts_are_refused_for_their_length_and_not_cached(pgx_tables) -> None:
    from precisionpain.pgx import resolve

    before = len(resolve._resolve.cache)
    for i in range(50):
        filler = f"{i:04d}" + "(" * 50_000
        r = resolve_gene("CYP2D6", "*1/*4" + filler, filler, "1" + filler, pgx_tables)
        assert dict(r.problems) == {
            "diplotype": "must have at most 200 characters",
            "phenotype": "must have at most 80 characters",
            "activity_score": "must have at most 16 characters",
        }
        assert (r.diplotype, r.phenotype, r.activity_score) == (None, None, None)
    assert len(resolve._resolve.cache) == before


def test_the_cache_counts_the_text_it_keeps_and_stays_within_its_bytes(pgx_tables) -> None:
    from precisionpain.pgx import resolve

    resolve._resolve.cache_clear()  # start empty, so nothing earlier in the session is evicted meanwhile
    cache = resolve._resolve.cache
    assert cache.max_bytes == RESOLVE_CACHE_BYTES
    start = cache.nbytes
    spellings = [f"*1/*4{' ' * (i % 190)}" if i < 190 else f"CYP2D6 *{i}/*4" for i in range(400)]
    readings = [resolve_gene("CYP2D6", s, None, None, pgx_tables) for s in spellings]
    assert readings[0].phenotype == "Intermediate Metabolizer" and readings[5] == readings[0]
    assert cache.nbytes - start >= sum(len(s) for s in spellings)  # at least the keys' characters
    assert cache.nbytes <= cache.max_bytes
    assert resolve_gene("CYP2D6", spellings[7], None, None, pgx_tables) is readings[7]  # a hit
