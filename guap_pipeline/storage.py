"""Columnar storage of the pipeline's tables: one Parquet file per (table, day), atomic.

Every write goes to a temporary file in the same folder and is moved into place with
``os.replace``, so a reader sees the previous good file or the new one, never half a
file, and a re-run replaces a partition instead of appending to it. Partition keys and
table names are checked so that no key can build a path outside the store.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guap_pipeline.errors import InputError

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


class Store:
    """The pipeline's tables under one root folder (the config's ``storage``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

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
            pq.write_table(data, tmp)
        return target

    def read(
        self, table: str, partition: str | None = None, *, columns: list[str] | None = None
    ) -> pd.DataFrame | None:
        """The stored frame, or ``None`` if it was never written."""
        target = self.path(table, partition)
        if not target.exists():
            return None
        return pq.read_table(target, columns=columns).to_pandas()

    def partitions(self, table: str) -> list[str]:
        """Sorted partition keys written for a table."""
        folder = self.root / "tables" / safe_name(table, "table name")
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.parquet") if not p.name.startswith("."))

    def read_partitions(self, table: str, partitions: list[str] | None = None) -> pd.DataFrame:
        """Concatenate the given (default: all) partitions of a table; empty frame if none."""
        keys = self.partitions(table) if partitions is None else partitions
        frames = [f for f in (self.read(table, key) for key in keys) if f is not None and len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def delete(self, table: str, partition: str | None = None) -> None:
        self.path(table, partition).unlink(missing_ok=True)

    def write_json(self, name: str, payload: Any) -> None:
        """Atomically replace a small JSON state file (manifests, cursors)."""
        target = self.root / f"{safe_name(name, 'state name')}.json"
        with atomic_path(target) as tmp:
            tmp.write_text(json.dumps(payload, indent=1, sort_keys=True, default=str))

    def read_json(self, name: str, default: Any = None) -> Any:
        target = self.root / f"{safe_name(name, 'state name')}.json"
        if not target.exists():
            return default
        return json.loads(target.read_text())
