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
import multiprocessing.connection
import os
import pickle
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

from guap_pipeline.config import GuapConfig
from guap_pipeline.errors import GuapError, WorkerDiedError
from guap_pipeline.ingest.scan import KINDS
from guap_pipeline.store.store import Store, spill_folder, spill_under

T = TypeVar("T")

THREADS = 2
# A step with at least this many small days builds them in worker processes: starting
# them (a fork of a server that has imported the steps) costs less than the GIL costs
# that many days on two threads.
PROCESS_MIN_DAYS = 32
# A day whose staged chunks hold more bytes than this (~400k rows of the usual columns)
# is built alone, after the days before it have finished: two days of 100k rows at once
# peaked ~70 MiB above one at a time, so two at this size stay a few hundred MiB above.
ALONE_BYTES = 16 << 20


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
    and days not started yet are not started; the days running finish first.

    ``processes``: when at least ``PROCESS_MIN_DAYS`` days are not built alone, they run
    in two worker processes, which end with the step (``build`` and its results must
    then pickle: a module-level function, or a ``functools.partial`` of one); else on
    two threads. Days built alone always run in this process.
    """
    by_itself = [alone(day) for day in days]
    in_processes = processes and by_itself.count(False) >= PROCESS_MIN_DAYS
    pool = _workers() if in_processes else ThreadPoolExecutor(THREADS, "guap-day")
    started: deque[tuple[str, Future[T]]] = deque()
    try:
        for day, single in zip(days, by_itself, strict=True):
            if single:
                while started:
                    yield _done(started, in_processes)
                yield day, build(day)
                continue
            if len(started) > THREADS:  # two days running, the next one queued
                yield _done(started, in_processes)
            started.append((day, _submit(pool, build, day, started, in_processes)))
        while started:
            yield _done(started, in_processes)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _submit(
    pool: Executor,
    build: Callable[[str], T],
    day: str,
    started: deque[tuple[str, Future[T]]],
    in_processes: bool,
) -> Future[T]:
    if not in_processes:
        return pool.submit(build, day)
    try:
        return pool.submit(_in_worker, build, day)
    except BrokenProcessPool:  # a worker died while the days before were being told
        raise _died([d for d, _ in started] or [day])  # noqa: B904 (its cause as context)


def _done(started: deque[tuple[str, Future[T]]], in_processes: bool) -> tuple[str, T]:
    """The first started day's result, or its error as raised."""
    day, future = started[0]
    try:
        result = future.result()
    except BrokenProcessPool:
        raise _died([d for d, _ in started])  # noqa: B904 (its cause as context)
    except BaseException as error:
        if in_processes and future.done():  # the worker's traceback, for a bug's reader,
            error.__context__, error.__cause__ = error.__cause__, None  # not as the cause
            error.__suppress_context__ = False  # told to users: the error's own words
        raise
    started.popleft()
    return day, result


def _died(days: list[str]) -> WorkerDiedError:
    return WorkerDiedError(
        f"a worker process died (out of memory, or killed) with {', '.join(days)} not "
        "built yet; the days not recorded as built are built again by the next run"
    )


def _workers() -> ProcessPoolExecutor:
    """Two day workers for one step, forked by a server that has imported the steps (a
    clean process, not this one with Dagster's, Arrow's and DuckDB's threads); spawned
    where there is no fork server."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["guap_pipeline.steps"])  # once it first starts
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        THREADS,
        context,
        initializer=_start_worker,
        initargs=(spill_folder(), dict(os.environ)),
    )


def _start_worker(spill: Path, environment: dict[str, str]) -> None:
    """In a new worker: this run's environment as it is now (the fork server's is as it
    was when it started, e.g. GUAP_DUCKDB_MEMORY); DuckDB spills under this run's folder
    (removed at its exit, even when a worker was killed); Ctrl-C is the run's to handle;
    the worker ends when the run's process does, however it ended. A terminated worker
    ends at once (the pool terminates the other when one dies): a day it leaves half
    written is not recorded as built, and its temporary files are never read."""
    os.environ.clear()
    os.environ.update(environment)
    spill_under(spill)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent.sentinel,), daemon=True).start()


def _end_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _in_worker(build: Callable[[str], T], day: str) -> T:
    """``build(day)`` in a worker; an error that would not survive the trip back (one
    that does not unpickle) comes back as its words, not as a broken pool."""
    try:
        return build(day)
    except Exception as error:
        try:
            pickle.loads(pickle.dumps(error))
        except Exception:
            mine = isinstance(error, GuapError)
            raise GuapError(str(error) if mine else f"{type(error).__name__}: {error}") from None
        raise
