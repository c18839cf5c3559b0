"""A crash mid-write (SIGKILL) leaves the previous good table readable; files are only ever
replaced, so a hard-linked copy never changes."""

import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from guap_pipeline.errors import InputError
from guap_pipeline.store.store import Store, copy_file

ROWS = 400_000


def version(i: int) -> pd.DataFrame:
    """A large frame whose every value says which version it is."""
    return pd.DataFrame({"version": np.full(ROWS, i), "x": np.arange(ROWS, dtype=np.float64)})


def write_forever(root: str) -> None:
    store = Store(root)
    i = 1
    while True:
        store.write("profit", version(i), "2026-10-01")
        i += 1


@pytest.mark.slow  # a soak of killed writers
@pytest.mark.parametrize("delay", [0.05, 0.3, 0.6])
def test_sigkill_during_writes_leaves_a_complete_previous_version(
    tmp_path: Path, delay: float
) -> None:
    store = Store(tmp_path)
    store.write("profit", version(0), "2026-10-01")
    process = multiprocessing.get_context("spawn").Process(
        target=write_forever, args=(str(tmp_path),)
    )
    process.start()
    deadline = time.monotonic() + 30
    while store.read("profit", "2026-10-01")["version"].iloc[0] == 0:  # wait until it writes
        assert time.monotonic() < deadline, "writer never started"
        time.sleep(0.05)
    time.sleep(delay)
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    table = store.read("profit", "2026-10-01")
    assert len(table) == ROWS
    assert table["version"].nunique() == 1  # one whole version, never a mix or a stub
    assert table["x"].iloc[-1] == ROWS - 1
    assert store.partitions("profit") == ["2026-10-01"]  # temp files are not partitions


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/b", "..", "", "x\x00y"])
def test_a_partition_key_cannot_reach_outside_the_store(tmp_path: Path, key: str) -> None:
    with pytest.raises(InputError, match="unsafe"):
        Store(tmp_path / "store").write("profit", version(0).head(1), key)
    assert not (tmp_path / "escape.parquet").exists()


@pytest.mark.parametrize("links", [True, False])
def test_a_copied_table_keeps_its_content_when_the_original_is_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    """copy_file hard-links where it can; since the store replaces files, never changes
    them in place, rewriting or removing the original leaves the copy as it was."""
    if not links:  # a file system without hard links: a plain copy

        def no_links(*_: object) -> None:
            raise OSError("hard links not supported")

        monkeypatch.setattr(os, "link", no_links)
    store = Store(tmp_path)
    store.write("profit", version(1), "2026-10-01")
    original, copy = store.path("profit", "2026-10-01"), tmp_path / "copy.parquet"
    copy_file(original, copy)
    assert (copy.stat().st_ino == original.stat().st_ino) is links
    store.write("profit", version(2), "2026-10-01")
    assert pd.read_parquet(copy)["version"].eq(1).all()
    original.unlink()
    assert pd.read_parquet(copy)["version"].eq(1).all()
    assert [p.name for p in tmp_path.glob(".*.tmp")] == []
