"""A step over many days, two days at a time.

A backfill's days are small and their cost mostly fixed (Parquet, DuckDB and pandas calls
per small table, a dozen fsyncs), most of it in calls that release the GIL; built one
after the other they leave a second core idle. :func:`each_day` builds small days on two
threads and a big day alone, which keeps a big day's memory peak as it was (and its
Arrow and DuckDB work already uses every core).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from guap_pipeline.config import GuapConfig
from guap_pipeline.ingest.scan import KINDS
from guap_pipeline.store.store import Store

T = TypeVar("T")

THREADS = 2
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
    days: Sequence[str], build: Callable[[str], T], *, alone: Callable[[str], bool]
) -> Iterator[tuple[str, T]]:
    """``(day, build(day))`` for every day, in the order of ``days``.

    Days run two at a time on threads, except a day for which ``alone`` is true: it
    starts once every day before it has finished, and nothing runs beside it. If a day
    raises, its error is raised here when its turn comes (after the days before it were
    yielded), and days not started yet are not started.
    """
    started: deque[tuple[str, Future[T]]] = deque()
    pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="guap-day")
    try:
        for day in days:
            if alone(day):
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
        pool.shutdown(wait=True, cancel_futures=True)


def _done(entry: tuple[str, Future[T]]) -> tuple[str, T]:
    day, future = entry
    return day, future.result()
