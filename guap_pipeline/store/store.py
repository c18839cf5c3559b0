"""Columnar storage of the pipeline's tables: one Parquet file per (table, day), atomic.

Every write goes to a temporary file in the same folder and is moved into place with
``os.replace``, so a reader sees the previous good file or the new one, never half a
file, and a re-run replaces a partition instead of appending to it. Partition keys and
table names are checked so that no key can build a path outside the store.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guap_pipeline.errors import InputError, LockTimeoutError
from guap_pipeline.store.layout import StagingLayout

# How long a run waits for another run's lock on shared state before it gives up.
LOCK_TIMEOUT_SECONDS = 60.0

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]{0,120}$")


def safe_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a plain file-name component; refuse ``..``, slashes and such."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise InputError(f"unsafe {what} {name!r}: only letters, digits and _ . = - are allowed")
    return name


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with Path(tmp).open("rb+") as handle:
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)


# DuckDB's memory for one query (hash tables of ids); beyond it DuckDB spills to disk.
DUCKDB_MEMORY_ENV = "GUAP_DUCKDB_MEMORY"


def release_memory() -> None:
    """Hand memory freed by the last step back to the OS (Arrow's pool, glibc's heap).

    Both keep freed blocks for reuse; before a step that needs a lot (a DuckDB hash join)
    or between big slices, that retained memory would add to the peak.
    """
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018  (glibc only)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


# Below this many input rows a query runs on one DuckDB database kept for the process
# (opening one costs ~15 ms, which adds up over a backfill of small days); above it, on
# a database of its own, closed after the query, which hands its memory back.
SHARED_DUCKDB_ROWS = 2_000_000
_SHARED: duckdb.DuckDBPyConnection | None = None
_SHARED_LOCK = threading.Lock()  # days built on two threads (steps.each_day) open it once


def duckdb_connection(rows: int = SHARED_DUCKDB_ROWS) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a bounded memory budget (default 1GB) for a query over
    ``rows`` input rows; use it as a context manager (it closes what it opened)."""
    global _SHARED
    if rows < SHARED_DUCKDB_ROWS:
        with _SHARED_LOCK:
            if _SHARED is None:
                _SHARED = _new_duckdb()
            return _SHARED.cursor()  # a connection of its own to the shared database
    release_memory()
    return _new_duckdb()


def _new_duckdb() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{os.environ.get(DUCKDB_MEMORY_ENV, '1GB')}'")
    con.execute(f"SET temp_directory = {sql_path(spill_folder())}")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # its bar, on a query over 2 s, is noise
    return con


_SPILL: tuple[int, Path] | None = None  # (process id, folder)


def spill_folder() -> Path:
    """Where DuckDB spills a query beyond its memory budget: a folder of this process's
    own in the system's temp folder, removed at exit. DuckDB's default, ``.tmp`` in the
    working directory, may be read-only, or shared by runs started in the same place."""
    global _SPILL
    if _SPILL is None or _SPILL[0] != os.getpid():  # a forked child makes its own
        _SPILL = (os.getpid(), Path(tempfile.mkdtemp(prefix="guap-duckdb-")))
        atexit.register(_remove_spill_folder, *_SPILL)
    return _SPILL[1]


def spill_under(parent: Path) -> None:
    """Spill into a new folder under ``parent`` from now on: a worker process's
    (steps.each_day), under its run's, which the run removes at its exit even when the
    worker was killed."""
    global _SPILL
    _SPILL = (os.getpid(), Path(tempfile.mkdtemp(prefix=f"worker-{os.getpid()}-", dir=parent)))


def _remove_spill_folder(pid: int, folder: Path) -> None:
    """At exit, by the process that made it (a forked child inherits the hook)."""
    if os.getpid() == pid:
        shutil.rmtree(folder, ignore_errors=True)


# Parquet files of more rows than this are decoded with Arrow's thread pool (columns in
# parallel, which on a big file also takes less CPU than decoding in the calling thread).
THREADED_ROWS = 1 << 20


def decode_threads(reader: pq.ParquetFile) -> bool:
    """Whether to decode a Parquet file's columns in parallel: only a big file gains."""
    return reader.metadata.num_rows > THREADED_ROWS


def read_columns(path: Path, columns: list[str], **options: object) -> pa.Table:
    """``columns`` of a Parquet file, decoded in parallel when it is big (``options``: of
    ``pq.ParquetFile``, e.g. ``read_dictionary``)."""
    reader = pq.ParquetFile(path, **options)
    return reader.read(columns=columns, use_threads=decode_threads(reader))


def sql_path(path: Path) -> str:
    """A path as a quoted SQL string literal."""
    return "'" + path.as_posix().replace("'", "''") + "'"


# Columns with few distinct values: dictionary-encoded, with statistics. The others (ids,
# amounts, scores, times) are written plain and without statistics, which nothing reads:
# encoding a dictionary that overflows, and min/max of every page, only cost time.
FEW_VALUES = frozenset({"date", "model_version", "_source", "source", "kind", "reason"})


def parquet_options(schema: pa.Schema) -> dict[str, list[str]]:
    """Writer options for a table: dictionary and statistics for few-valued text columns."""
    few = [
        f.name
        for f in schema
        if f.name in FEW_VALUES or pa.types.is_dictionary(f.type) or pa.types.is_boolean(f.type)
    ]
    return {"use_dictionary": few, "write_statistics": few}


class ParquetParts:
    """Parquet files written part by part, each moved into place when all parts are in.

    Use as a context manager: on success every file is committed atomically (as
    :func:`atomic_path`); on error the temporary files are removed and nothing changes.
    The first part of a file fixes its schema; later parts are cast to it. Parts are
    encoded by a background thread (Arrow releases the GIL), one at a time and in order,
    while the caller prepares the next part; at most one part waits, to bound memory.
    """

    def __init__(self) -> None:
        self._open: dict[Path, tuple[Path, pq.ParquetWriter]] = {}
        self.rows: dict[Path, int] = {}
        self._encoder = ThreadPoolExecutor(max_workers=1)
        self._pending: Future | None = None

    def __enter__(self) -> ParquetParts:
        return self

    def write(self, target: Path, part: pd.DataFrame | pa.Table | pa.RecordBatch) -> None:
        table = (
            part
            if isinstance(part, pa.Table)
            else pa.Table.from_batches([part])
            if isinstance(part, pa.RecordBatch)
            else pa.Table.from_pandas(part, preserve_index=False)
        )
        if target not in self._open:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
            writer = pq.ParquetWriter(tmp, table.schema, **parquet_options(table.schema))
            self._open[target] = (Path(tmp), writer)
            self.rows[target] = 0
        _, writer = self._open[target]
        if not table.schema.equals(writer.schema, check_metadata=False):
            table = table.cast(writer.schema)
        self._wait()
        self._pending = self._encoder.submit(writer.write_table, table)
        self.rows[target] += len(table)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # re-raises an encoding error here

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            self._wait()
        except Exception:
            if kind is None:
                self._close(commit=False)
                raise
        finally:
            self._encoder.shutdown(wait=True)
        self._close(commit=kind is None)

    def _close(self, *, commit: bool) -> None:
        for target, (tmp, writer) in self._open.items():
            writer.close()
            if commit:
                with tmp.open("rb+") as handle:
                    os.fsync(handle.fileno())
                tmp.replace(target)
            else:
                tmp.unlink(missing_ok=True)
        self._open.clear()


def copy_file(source: Path, target: Path) -> Path:
    """Atomically replace ``target`` with the content of the store's file ``source``.

    A hard link where the file system allows one, else a copy: the store never changes a
    file in place (every write replaces it), so two names of one file never diverge, and
    a 10M-row table costs no copy.
    """
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:  # another file system, or none with hard links
            shutil.copyfile(source, tmp)
    return target


class Store:
    """The pipeline's tables under one root folder (the config's ``storage``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.staging = StagingLayout(self.root)

    def path(self, table: str, partition: str | None = None) -> Path:
        """Where a table (or one partition of it) lives."""
        folder = self.root / "tables" / safe_name(table, "table name")
        if partition is None:
            return folder.with_suffix(".parquet")
        return folder / f"{safe_name(partition, 'partition key')}.parquet"

    def write(
        self, table: str, frame: pd.DataFrame | pa.Table, partition: str | None = None
    ) -> Path:
        """Replace a table (or one partition) atomically with ``frame``."""
        return self.write_path(self.path(table, partition), frame)

    def write_path(self, target: Path, frame: pd.DataFrame | pa.Table) -> Path:
        """Atomically write a frame as Parquet to a path inside the store."""
        if not target.resolve().is_relative_to(self.root.resolve()):
            raise InputError(f"refusing to write outside the store: {target}")
        data = (
            frame
            if isinstance(frame, pa.Table)
            else pa.Table.from_pandas(frame, preserve_index=False)
        )
        with atomic_path(target) as tmp:
            pq.write_table(data, tmp, **parquet_options(data.schema))
        return target

    def read(
        self,
        table: str,
        partition: str | None = None,
        *,
        columns: list[str] | None = None,
        with_rows: bool = False,
    ) -> pd.DataFrame | None:
        """The stored frame, or ``None`` if it was never written (``with_rows``: or has no
        rows, known from the file's footer before pandas spends any time on it).

        The file is opened once and read through that handle: a writer renaming a new
        version into place meanwhile cannot mix its size or bytes into this read.
        """
        try:
            source = pa.OSFile(str(self.path(table, partition)))
        except FileNotFoundError:
            return None
        with source:
            if with_rows and pq.ParquetFile(source).metadata.num_rows == 0:
                return None
            return pq.read_table(source, columns=columns).to_pandas()

    def partitions(self, table: str) -> list[str]:
        """Sorted partition keys written for a table."""
        folder = self.root / "tables" / safe_name(table, "table name")
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.parquet") if not p.name.startswith("."))

    def read_partitions(self, table: str, partitions: list[str] | None = None) -> pd.DataFrame:
        """Concatenate the given (default: all) partitions of a table; empty frame if none."""
        keys = self.partitions(table) if partitions is None else partitions
        frames = [self.read(table, key, with_rows=True) for key in keys]
        frames = [f for f in frames if f is not None]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def delete(self, table: str, partition: str | None = None) -> None:
        self.path(table, partition).unlink(missing_ok=True)

    def write_json(self, name: str, payload: Any) -> None:
        """Atomically replace a small JSON state file (manifests, cursors)."""
        target = self.root / f"{safe_name(name, 'state name')}.json"
        with atomic_path(target) as tmp:
            tmp.write_text(json.dumps(payload, indent=1, sort_keys=True, default=str))

    @contextmanager
    def lock(self, name: str, *, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
        """Hold an exclusive lock on ``name`` across processes (and threads), so that two
        runs on one store cannot interleave a read-modify-write of shared state.

        Waits up to ``timeout`` seconds, then raises :class:`LockTimeoutError` naming the
        holder. Not re-entrant: taking a lock already held by the same caller waits for
        itself. ``fcntl.flock``: the OS releases it when the holder dies, even by SIGKILL.
        """
        path = self.root / "locks" / f"{safe_name(name, 'lock name')}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _acquire(fd, path, timeout)
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def read_json(self, name: str, default: Any = None) -> Any:
        target = self.root / f"{safe_name(name, 'state name')}.json"
        if not target.exists():
            return default
        return json.loads(target.read_text())


def _acquire(fd: int, path: Path, timeout: float) -> None:
    """Take an exclusive ``flock`` on ``fd``, polling with a growing pause until ``timeout``."""
    deadline, pause = time.monotonic() + timeout, 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = path.read_text().strip() or "unknown process"
                raise LockTimeoutError(
                    f"waited {timeout:g} s for the lock {path} held by {holder} (another "
                    "run on this store); retry when it has finished"
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
