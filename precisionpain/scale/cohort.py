"""The synthetic cohort as a partitioned Parquet dataset: one ``part-NNNNN.parquet`` per chunk of the generator.

Each chunk draws from its own random streams (:func:`precisionpain.cohort.generate.generate_chunk`), so a task
makes and writes its partition alone; the same (n, seed, chunk size, catalogs) gives the same bytes in every
partition whichever engine, process or machine wrote it. Every part carries the generator's metadata
(:func:`precisionpain.cohort.generate.cohort_metadata`) and its chunk number, so each one says what it is a part
of. Catalogs are read once per process from the root the client resolved (workers must see the same path).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from precisionpain.scale.datasets import write_part

CHUNK_KEY = "precisionpain.cohort.chunk"
CHUNKS_KEY = "precisionpain.cohort.chunks"


@dataclass(frozen=True)
class CohortPlan:
    """What every partition task needs: the cohort's size and seed, its chunk size, where the catalogs are
    (``catalog_root``, a resolved path) and the output folder URI, and the metadata every part carries."""

    n: int
    seed: int
    chunk_size: int
    catalog_root: str
    out: str
    metadata: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CohortPart:
    chunk: int
    rows: int
    uri: str


@functools.lru_cache(maxsize=4)
def _catalogs(root: str) -> Any:
    from precisionpain.catalog.catalogs import load_catalogs

    return load_catalogs(root)


def plan_cohort(n: int, seed: int, chunk_size: int, out: str, catalog_root: Any) -> CohortPlan:
    """Check the arguments and catalogs once, in the client, and fix what every task writes."""
    from precisionpain.catalog.loader import resolve_root
    from precisionpain.cohort import cohort_metadata

    cats = _catalogs(str(resolve_root(catalog_root)))
    meta = cohort_metadata(
        n, seed, chunk_size=chunk_size, catalog=cats.features, options=cats.options, tables=cats.tables
    )
    return CohortPlan(n, seed, chunk_size, str(cats.root), out, tuple(sorted(meta.items())))


def write_cohort_part(plan: CohortPlan, chunk: int) -> CohortPart:
    """Generate chunk ``chunk`` of the planned cohort and write it as part file number ``chunk``."""
    import pyarrow as pa

    from precisionpain.cohort.generate import cohort_chunks, generate_chunk

    cats = _catalogs(plan.catalog_root)
    frame = generate_chunk(
        plan.n,
        plan.seed,
        chunk,
        catalog=cats.features,
        options=cats.options,
        tables=cats.tables,
        chunk_size=plan.chunk_size,
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    written = {
        **dict(plan.metadata),
        CHUNK_KEY: str(chunk),
        CHUNKS_KEY: str(cohort_chunks(plan.n, plan.chunk_size)),
    }
    meta.update({k.encode(): v.encode() for k, v in written.items()})
    uri = write_part(plan.out, chunk, table.replace_schema_metadata(meta))
    return CohortPart(chunk, table.num_rows, uri)
