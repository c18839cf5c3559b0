"""The quarantine table: every row the pipeline set aside, with its reason."""

from __future__ import annotations

import pandas as pd

from guap_pipeline.ingest.staged import staged_quarantine
from guap_pipeline.ingest.validation import QUARANTINE_COLUMNS, empty_quarantine
from guap_pipeline.store.store import Store


def quarantine(store: Store) -> pd.DataFrame:
    """Every quarantined row with its reason: staging, duplicates and orphan labels."""
    return _quarantine_table([staged_quarantine(store), day_quarantine(store)])


def day_quarantine(store: Store, days: list[str] | None = None) -> pd.DataFrame:
    """Rows the day steps (of ``days``; default all) quarantined: duplicated prediction ids
    and labels whose prediction is not among the day's."""
    return _quarantine_table(
        [store.read_partitions(t, days) for t in ("quarantine_predictions", "quarantine_labels")]
    )


def _quarantine_table(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The non-empty frames as one table in the quarantine's columns."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_quarantine()
    return pd.concat(frames, ignore_index=True)[list(QUARANTINE_COLUMNS)]


def as_quarantine(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``, or :func:`empty_quarantine` when it has no rows."""
    return frame if len(frame) else empty_quarantine()
