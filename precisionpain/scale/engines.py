"""Where the tasks of a command run: ``local`` (this process, one task after the other) or ``dask`` (a
``dask.distributed`` cluster: the scheduler at ``--scheduler`` or ``PRECISIONPAIN_DASK_SCHEDULER``, else a
``LocalCluster`` on 127.0.0.1 with one single-threaded worker process per core).

Both map the same function over the same items and return the results in item order, so the two engines
write the same files. A task that raises stops the run: the other tasks are cancelled and its error is raised
here (an error of the project keeps its class and message across the trip).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, TypeVar

from precisionpain.errors import ConfigError, Violation, kind_of

T = TypeVar("T")
R = TypeVar("R")

ENV_SCHEDULER = "PRECISIONPAIN_DASK_SCHEDULER"
MAX_ADDRESS_CHARS = 256
CONNECT_TIMEOUT_S = 30

#: called after each finished task with (tasks done, tasks in all)
Progress = Callable[[int, int], None]


class Engine(StrEnum):
    local = "local"
    dask = "dask"


def machine_cores() -> int:
    """Cores this process may use (the affinity mask where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def scheduler_address(explicit: str | None) -> str | None:
    """``--scheduler``, else ``PRECISIONPAIN_DASK_SCHEDULER``, else None (start a LocalCluster)."""
    address = explicit if explicit else os.environ.get(ENV_SCHEDULER) or None
    if address is not None and (len(address) > MAX_ADDRESS_CHARS or not address.strip()):
        raise ConfigError(
            "--scheduler",
            [
                Violation(
                    "--scheduler",
                    f"must be a scheduler address of at most {MAX_ADDRESS_CHARS} characters, e.g. tcp://HOST:8786",
                    kind_of(address),
                )
            ],
        )
    return address


@contextmanager
def dask_client(scheduler: str | None, n_workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` on the scheduler at ``scheduler``, or on a LocalCluster of ``n_workers``
    worker processes (default: one per core; memory split evenly) that lives as long as the block."""
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                "--scheduler",
                [
                    Violation(
                        "--scheduler",
                        f"must be the address of a running Dask scheduler ({type(exc).__name__})",
                        "address that does not answer",
                    )
                ],
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    with (
        LocalCluster(
            n_workers=n_workers or machine_cores(),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def map_tasks(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    engine: Engine,
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: Progress | None = None,
    scatter: bool = False,
) -> list[R]:
    """``[fn(item) for item in items]`` on ``engine``, in item order. With ``scatter`` (items that hold arrays) the
    dask engine sends the items to the workers as data first, so the task graph itself stays small."""
    step = progress or (lambda done, total: None)
    if engine is Engine.local:
        out: list[R] = []
        for item in items:
            out.append(fn(item))
            step(len(out), len(items))
        return out
    from dask.distributed import as_completed

    with dask_client(scheduler, n_workers) as client:
        inputs = client.scatter(list(items), hash=False) if scatter else list(items)
        futures = client.map(fn, inputs, pure=False)
        try:
            for done, future in enumerate(as_completed(futures, loop=client.loop), start=1):
                if future.status == "error":
                    future.result()  # raises the task's own error
                step(done, len(items))
            return list(client.gather(futures))
        finally:
            client.cancel(futures)
            if scatter:
                client.cancel(inputs)


def workers_of(engine: Engine, scheduler: str | None, n_workers: int | None) -> str:
    """How the run was spread, in words, for the summary line."""
    if engine is Engine.local:
        return "this process"
    if scheduler is not None:
        return "the Dask scheduler given"
    return f"a LocalCluster of {n_workers or machine_cores()} worker processes"
