"""One SQLAlchemy engine per SQLite file while ``guap-pipeline run`` executes its runs.

Dagster's SQLite storages (event log, runs, schedules) build a new engine for every
connection: for each event of a run, one for the run's own file and two more for the
asset index when it records a materialization. Each new engine starts with an empty
statement cache, so every insert is compiled again; with eight events per day in a range
run that was about half of Dagster's CPU in a long backfill (benchmarks/README.md,
issue 19). Inside :func:`reused_sqlite_engines` the same engine is returned for the same
database and arguments; connections are still opened and closed per use (``NullPool``),
as Dagster expects.
"""

import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# The modules of Dagster's SQLite storages that call ``create_engine`` per connection.
STORAGE_MODULES = (
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
)


@contextmanager
def reused_sqlite_engines() -> Iterator[None]:
    """While the block runs, Dagster's SQLite storages reuse one engine per database (and
    arguments) instead of building one per connection; other databases are left alone.
    The engines are disposed of when the block ends."""
    engines: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()
    patched: list[tuple[Any, Callable[..., Any]]] = []

    def reusing(create: Callable[..., Any]) -> Callable[..., Any]:
        def create_engine(url: object, **kwargs: Any) -> Any:
            if not str(url).startswith("sqlite:///"):
                return create(url, **kwargs)
            key = (str(url), repr(sorted(kwargs.items())))
            with lock:
                if key not in engines:
                    engines[key] = create(url, **kwargs)
                return engines[key]

        return create_engine

    for name in STORAGE_MODULES:
        module = importlib.import_module(name)
        create = getattr(module, "create_engine", None)
        if create is not None:  # only a speed-up: a Dagster without it runs as it is
            patched.append((module, create))
            module.create_engine = reusing(create)
    try:
        yield
    finally:
        for module, create in patched:
            module.create_engine = create
        with lock:
            for engine in engines.values():
                engine.dispose()
