"""A step over many days, two days at a time.

A backfill's days are small and their cost mostly fixed (Parquet, DuckDB and pandas calls
per small table, a dozen fsyncs); built one after the other they leave a second core
idle. :func:`each_day` builds small days two at a time and a big day alone, which keeps
a big day's memory peak as it was (and its Arrow and DuckDB work already uses every
core). Two threads overlap only where those calls release the GIL; a step of many small
days runs them in two worker processes instead, which keeps both cores busy (see
``benchmarks/README.md``).
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

from guap_pipeline.config import GuapConfig
from guap_pipeline.errors import GuapError
from guap_pipeline.ingest.scan import KINDS
from guap_pipeline.store.store import Store, spill_folder, spill_under

T = TypeVar("T")

THREADS = 2
# A step with at least this many small days builds them in worker processes: starting
# the workers and importing the core in them (~1 s, once a process) costs less than the
# GIL costs that many days on two threads.
PROCESS_MIN_DAYS = 32
# A day whose staged chunks hold more bytes than this (~400k rows of the usual columns)
# is built alone, after the days before it have finished: two days of 100k rows at once
# peaked ~70 MiB above one at a time, so two at this size stay a few hundred MiB above.
ALONE_BYTES = 16 << 20

_WORKERS: ProcessPoolExecutor | None = None
_WORKERS_LOCK = threading.Lock()


class WorkerDiedError(GuapError, RuntimeError):
    """A worker process building days ended without finishing its day."""


def built_alone(config: GuapConfig, store: Store) -> Callable[[str], bool]:
    """Which days :func:`each_day` builds alone: big ones, and every day when a
    distributed engine builds them (the cluster has its own workers)."""
    if config.engine.kind != "embedded":
        return lambda _day: True
    return lambda day: staged_bytes(store, day) > ALONE_BYTES


def staged_bytes(store: Store, day: str) -> int:
    """Size of the day's staged chunks on disk: a cheap measure of its rows (no footer read)."""
    return sum(
        chunk.stat().st_size for kind in KINDS for chunk in store.staging.day_chunks(kind, day)
    )


def each_day(
    days: Sequence[str],
    build: Callable[[str], T],
    *,
    alone: Callable[[str], bool],
    processes: bool = False,
) -> Iterator[tuple[str, T]]:
    """``(day, build(day))`` for every day, in the order of ``days``.

    Days run two at a time, except a day for which ``alone`` is true: it starts once
    every day before it has finished, and nothing runs beside it. If a day raises, its
    error is raised here when its turn comes (after the days before it were yielded),
    and days not started yet are not started.

    ``processes``: when at least ``PROCESS_MIN_DAYS`` days are not built alone, they run
    in two worker processes (``build`` and its results must then pickle: a module-level
    function, or a ``functools.partial`` of one); else on two threads. Days built alone
    always run in this process.
    """
    by_itself = [alone(day) for day in days]
    in_processes = processes and by_itself.count(False) >= PROCESS_MIN_DAYS
    pool = _workers() if in_processes else ThreadPoolExecutor(THREADS, "guap-day")
    started: deque[tuple[str, Future[T]]] = deque()
    try:
        for day, single in zip(days, by_itself, strict=True):
            if single:
                while started:
                    yield _done(started.popleft())
                yield day, build(day)
                continue
            if len(started) > THREADS:  # two days running, the next one queued
                yield _done(started.popleft())
            started.append((day, pool.submit(build, day)))
        while started:
            yield _done(started.popleft())
    finally:
        _stop(pool, [future for _, future in started])


def _done(entry: tuple[str, Future[T]]) -> tuple[str, T]:
    day, future = entry
    try:
        return day, future.result()
    except BrokenProcessPool:
        _forget_workers()
        raise WorkerDiedError(
            f"a worker process building day {day} died before it finished (out of memory, "
            "or killed): run again; the days it was building are built again"
        ) from None


def _stop(pool: Executor, pending: list[Future]) -> None:
    """Days not started are not started; the running ones finish before this returns
    (none keeps writing after the step has ended)."""
    for future in pending:
        future.cancel()
    if isinstance(pool, ProcessPoolExecutor):
        wait(pending)  # the workers stay up for the next step
    else:
        pool.shutdown(wait=True, cancel_futures=True)


def _workers() -> ProcessPoolExecutor:
    """The process's two day workers, started on first use and kept for later steps.

    Started by a fork server (a clean process, not a fork of this one with its threads:
    Dagster's, Arrow's and DuckDB's), or spawned where there is none."""
    global _WORKERS
    with _WORKERS_LOCK:
        if _WORKERS is None:
            methods = multiprocessing.get_all_start_methods()
            start = "forkserver" if "forkserver" in methods else "spawn"
            _WORKERS = ProcessPoolExecutor(
                THREADS,
                multiprocessing.get_context(start),
                initializer=_start_worker,
                initargs=(spill_folder(),),
            )
        return _WORKERS


def _start_worker(spill: Path) -> None:
    """In a new worker: DuckDB spills under this run's folder (removed when the run ends,
    even if the worker was killed), and Ctrl-C is the run's to handle (it lets the
    running days finish and starts no more); the workers end when the run's process does."""
    spill_under(spill)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _forget_workers() -> None:
    """Drop a broken pool: the next step starts new workers."""
    global _WORKERS
    with _WORKERS_LOCK:
        broken, _WORKERS = _WORKERS, None
    if broken is not None:
        broken.shutdown(wait=False, cancel_futures=True)
