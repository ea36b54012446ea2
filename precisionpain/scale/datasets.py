"""Parquet datasets as partitions: what one task reads and what it writes.

A dataset is one Parquet file or a folder of them (read recursively; names starting with ``_`` or ``.`` are left
out, as Spark, Dask and pyarrow do), on any file system pyarrow knows: a local path, ``file://``, ``s3://``,
``gs://``, ``hdfs://`` (credentials from the environment, as pyarrow reads them). A partition is one row group
of one file, or a slice of at most ``partition_rows`` rows of it: row groups are where Parquet can be read in
parallel, so write inputs with row groups near the partition size (the cohort's partitioned output is one file
per chunk) and a slice reads only its own row group.

An output dataset is a folder of ``part-NNNNN.parquet`` files, one per input partition, so a partition written
twice (a retried task) is the same file written again, and ``_score.json`` written last by the client.
"""

from __future__ import annotations

import json
import math
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from precisionpain.errors import DataError, Violation

PART_PREFIX = "part-"
SUMMARY_FILE = "_score.json"
MAX_PARTITIONS = 1_000_000


@dataclass(frozen=True)
class Partition:
    """Rows ``start`` to ``start + rows`` of row group ``row_group`` of the file ``uri``; ``first_row`` is the
    position of its first row in the whole dataset (files in name order, row groups in file order)."""

    index: int
    uri: str
    row_group: int
    start: int
    rows: int
    first_row: int


def dataset_uri(location: str | Path) -> str:
    """A URI pyarrow resolves: local paths become absolute (workers may run elsewhere in the same file system)."""
    text = str(location)
    if "://" in text:
        return text
    return str(Path(text).expanduser().resolve())


def _filesystem(uri: str) -> tuple[Any, str]:
    from pyarrow import fs

    if "://" not in uri:
        return fs.LocalFileSystem(), uri
    return fs.FileSystem.from_uri(uri)


def _join(uri: str, name: str) -> str:
    return posixpath.join(uri, name) if "://" in uri else str(Path(uri) / name)


def _data_files(filesystem: Any, root: str) -> list[str]:
    from pyarrow import fs

    info = filesystem.get_file_info(root)
    if info.type == fs.FileType.File:
        return [root]
    if info.type != fs.FileType.Directory:
        raise DataError(
            "--data", [Violation("--data", "must be a Parquet file or a folder of them", "no such path")]
        )
    found = filesystem.get_file_info(fs.FileSelector(root, recursive=True))
    files = [
        f.path
        for f in found
        if f.type == fs.FileType.File
        and f.path.endswith(".parquet")
        and not any(part.startswith(("_", ".")) for part in posixpath.relpath(f.path, root).split("/"))
    ]
    if not files:
        raise DataError(
            "--data",
            [
                Violation(
                    "--data",
                    "must hold at least one .parquet part file (a partitioned dataset as cohort --engine writes)",
                    "a folder without .parquet files",
                )
            ],
        )
    return sorted(files)


def data_files(location: str | Path) -> list[str]:
    """The Parquet files of a dataset, as URIs pyarrow resolves: the file itself, or a folder's files in name
    order (what :func:`list_partitions` cuts into partitions)."""
    uri = dataset_uri(location)
    filesystem, root = _filesystem(uri)
    scheme = uri.split("://", 1)[0] + "://" if "://" in uri else ""
    return [scheme + path for path in _data_files(filesystem, root)]


def read_frame(location: str | Path) -> Any:
    """A whole dataset (a Parquet file or a folder of part files) as one pandas DataFrame, its files in name order:
    the parts of a partitioned cohort read back as the cohort written as one file. Every file must have the same
    columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for uri in data_files(location):
        filesystem, path = _filesystem(uri)
        try:
            tables.append(pq.read_table(path, filesystem=filesystem))
        except (OSError, ValueError) as exc:
            raise _unreadable(exc) from None
    try:
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise DataError(
            "--data",
            [Violation("--data", "every file must have the same columns and types", "files that differ")],
        ) from None
    return table.to_pandas()


def file_schema_metadata(location: str | Path) -> dict[bytes, bytes]:
    """The schema metadata of a dataset's first file (a cohort part carries the generator's metadata)."""
    import pyarrow.parquet as pq

    filesystem, path = _filesystem(data_files(location)[0])
    with filesystem.open_input_file(path) as fh:
        return dict(pq.ParquetFile(fh).schema_arrow.metadata or {})


def files_sha256(location: str | Path) -> str:
    """sha256 over a dataset's files: each one's name relative to the dataset and its bytes, in name order."""
    import hashlib

    uri = dataset_uri(location)
    h = hashlib.sha256()
    for file_uri in data_files(uri):
        filesystem, path = _filesystem(file_uri)
        h.update(posixpath.relpath(file_uri, uri).encode("utf-8") + b"\0")
        with filesystem.open_input_stream(path) as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def list_partitions(location: str | Path, partition_rows: int) -> tuple[list[Partition], list[str]]:
    """The partitions of a dataset and the column names of its first file (every file must have them)."""
    import pyarrow.parquet as pq

    if partition_rows < 1:
        raise DataError(
            "--partition-rows", [Violation("--partition-rows", "must be at least 1", "number below 1")]
        )
    uri = dataset_uri(location)
    filesystem, root = _filesystem(uri)
    scheme = uri.split("://", 1)[0] + "://" if "://" in uri else ""
    out: list[Partition] = []
    columns: list[str] | None = None
    first_row = 0
    for path in _data_files(filesystem, root):
        try:
            with filesystem.open_input_file(path) as fh:
                reader = pq.ParquetFile(fh)
                meta = reader.metadata
                names = list(reader.schema_arrow.names)
        except (OSError, ValueError) as exc:
            raise _unreadable(exc) from None
        if columns is None:
            columns = names
        for group in range(meta.num_row_groups):
            n = meta.row_group(group).num_rows
            for start in range(0, n, partition_rows):
                rows = min(partition_rows, n - start)
                out.append(Partition(len(out), scheme + path, group, start, rows, first_row))
                first_row += rows
                if len(out) > MAX_PARTITIONS:
                    raise DataError(
                        "--partition-rows",
                        [
                            Violation(
                                "--partition-rows",
                                f"must give at most {MAX_PARTITIONS:,} partitions",
                                "too small a number",
                            )
                        ],
                    )
    return out, columns or []


def read_partition(partition: Partition, columns: Sequence[str]) -> Any:
    """The partition's rows as a pyarrow Table with those of ``columns`` the file has."""
    import pyarrow.parquet as pq

    filesystem, path = _filesystem(partition.uri)
    with filesystem.open_input_file(path) as fh:
        reader = pq.ParquetFile(fh)
        present = set(reader.schema_arrow.names)
        table = reader.read_row_group(partition.row_group, columns=[c for c in columns if c in present])
    return table.slice(partition.start, partition.rows)


def part_name(index: int) -> str:
    width = max(5, int(math.log10(max(index, 1))) + 1)
    return f"{PART_PREFIX}{index:0{width}d}.parquet"


def write_part(out: str, index: int, table: Any) -> str:
    """Write one output partition; returns its URI."""
    import pyarrow.parquet as pq

    filesystem, root = _filesystem(out)
    filesystem.create_dir(root, recursive=True)
    path = _join(root, part_name(index))
    pq.write_table(table, path, filesystem=filesystem, compression="zstd")
    return _join(out, part_name(index))


def output_exists(out: str) -> bool:
    from pyarrow import fs

    filesystem, root = _filesystem(out)
    return bool(filesystem.get_file_info(root).type != fs.FileType.NotFound)


def clear_output(out: str) -> None:
    """Remove what an earlier ``score`` wrote into ``out`` (its part files and summary), nothing else."""
    from pyarrow import fs

    filesystem, root = _filesystem(out)
    info = filesystem.get_file_info(root)
    if info.type == fs.FileType.File:
        raise DataError(
            "--out",
            [Violation("--out", "must be a folder (the output is a dataset of part files)", "a file")],
        )
    if info.type != fs.FileType.Directory:
        return
    for f in filesystem.get_file_info(fs.FileSelector(root)):
        name = posixpath.basename(f.path)
        if f.type == fs.FileType.File and (
            name == SUMMARY_FILE or (name.startswith(PART_PREFIX) and name.endswith(".parquet"))
        ):
            filesystem.delete_file(f.path)


def write_summary(out: str, summary: dict[str, Any]) -> str:
    filesystem, root = _filesystem(out)
    filesystem.create_dir(root, recursive=True)
    path = _join(root, SUMMARY_FILE)
    with filesystem.open_output_stream(path) as fh:
        fh.write((json.dumps(summary, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return _join(out, SUMMARY_FILE)


def _unreadable(exc: Exception) -> DataError:
    """A part file that is not readable Parquet, named by the kind of failure only (never its path or bytes)."""
    return DataError(
        "--data",
        [Violation("--data", "every file must be readable Parquet", f"unreadable file ({type(exc).__name__})")],
    )
