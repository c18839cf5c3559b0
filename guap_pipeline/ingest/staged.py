"""Queries over the staged area: which days have staged rows, their fingerprint, their
rows, and the rows staging set aside."""

from __future__ import annotations

import hashlib

import pandas as pd

from guap_pipeline.ingest.routing import chunk_stamp, non_empty_chunks
from guap_pipeline.ingest.scan import KINDS
from guap_pipeline.ingest.validation import empty_quarantine
from guap_pipeline.store.layout import LABELS_UNMATCHED, QUARANTINE
from guap_pipeline.store.store import Store

UNMATCHED_REASON = "no prediction with this prediction_id has landed (yet)"


def staged_signature(store: Store, day: str) -> str:
    """Fingerprint of every staged chunk of one day: changes whenever its inputs change."""
    parts = []
    for kind in KINDS:
        parts.extend(f"{kind}/{chunk_stamp(c)}" for c in store.staging.day_chunks(kind, day))
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def staged_days(store: Store) -> list[str]:
    """Every day that has staged predictions or labels."""
    days: set[str] = set()
    for kind in KINDS:
        folder = store.staging.kind_folder(kind)
        if folder.is_dir():
            days.update(p.name for p in folder.iterdir() if p.is_dir())
    return sorted(days)


def has_staged_rows(store: Store, day: str) -> bool:
    """Whether any staged chunk of the day holds a row (an empty folder or chunk does not
    make a day: older versions left ``labels/1970-01-01`` for labels that matched nothing)."""
    return any(non_empty_chunks(store.staging, kind, day) for kind in KINDS)


def read_staged(store: Store, kind: str, day: str) -> pd.DataFrame:
    """All staged chunks of one day, in file order (by path), then row order."""
    frames = [pd.read_parquet(c) for c in store.staging.day_chunks(kind, day)]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def staged_quarantine(store: Store) -> pd.DataFrame:
    """Every row quarantined while staging, plus labels still waiting for their prediction."""
    frames = [pd.read_parquet(p) for p in store.staging.file_parts(QUARANTINE)]
    for path in store.staging.file_parts(LABELS_UNMATCHED):
        waiting = pd.read_parquet(path)
        frames.append(
            pd.DataFrame(
                {
                    "source": waiting["_source"],
                    "kind": "labels",
                    "row": waiting["_row"],
                    "prediction_id": waiting["prediction_id"].astype("string"),
                    "reason": UNMATCHED_REASON,
                    "record": "{}",
                }
            )
        )
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_quarantine()
    return pd.concat(frames, ignore_index=True)
