"""The Dask distributed engine: one day's heavy step on a cluster, same tables as embedded.

A day's staged rows are split by a hash of ``prediction_id`` into buckets; every copy
of an id, its labels and its label versions land in the same bucket. Each bucket is
then processed by the embedded engine's own pandas functions
(:func:`~guap_pipeline.money.one_day.dedupe_predictions`,
:func:`~guap_pipeline.money.one_day.latest_labels`,
:func:`~guap_pipeline.money.one_day.join_labels`), so dedupe (first in source file and row
order wins), latest-label-wins and orphan labels mean exactly what they mean there.
Money is additive over rows: each bucket returns its ledger
(:func:`~guap_pipeline.money.one_day.day_ledger`, counts and value sums per cell) and the
driver sums them. The best threshold in hindsight needs the profit curve over every
distinct score: buckets write each row's gain by score range, one task per range finds
its best point, and the driver chains the ranges from the highest score down.

Data moves between tasks as Parquet files in a scratch folder of the store (removed at
the end), so workers hold one bucket at a time, not the day, and every worker must see
the store at the same path (shared storage on a real cluster). Money sums are added in
a different order than in one pass: counts are equal, money equal to rounding (exactly
equal when the value matrix is whole numbers).
"""

from __future__ import annotations

import atexit
import math
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guap_pipeline.config import Engine, GuapConfig
from guap_pipeline.ingest.columns import class_codes
from guap_pipeline.ingest.readers import ROW
from guap_pipeline.ingest.validation import QUARANTINE_COLUMNS, SOURCE, empty_quarantine
from guap_pipeline.money.accounting import Accounts
from guap_pipeline.money.one_day import (
    CURVE_GRID,
    DAY_KEYS,
    DayProfit,
    day_ledger,
    day_profit,
    day_tables,
    dedupe_predictions,
    hindsight_tables,
    join_labels,
    latest_labels,
)
from guap_pipeline.money.threshold import Hindsight, threshold_gains
from guap_pipeline.store.labeled import forget_labeled
from guap_pipeline.store.store import Store

# Rows of one bucket (a task's working set) and number of score ranges of the curve.
BUCKET_ROWS = 1_000_000
SCORE_RANGES = 32
_LABEL_COLUMNS = ("prediction_id", "y_true", "labeled_at", SOURCE, ROW)
_ORDER = ("_chunk", "_pos")  # a staged row's chunk (by path) and position in it


_CLIENTS: dict[Engine, Any] = {}


def client_for(engine: Engine) -> Any:
    """A client of the configured cluster, or of a local one, made once per process (a
    backfill's days share it) and closed at exit or by :func:`close_clients`."""
    from distributed import Client, LocalCluster

    client = _CLIENTS.get(engine)
    if client is not None and client.status == "running":
        return client
    if engine.scheduler is not None:
        client = Client(engine.scheduler)
    else:
        cluster = LocalCluster(
            n_workers=engine.workers,
            threads_per_worker=1,
            processes=engine.processes,
            dashboard_address=None,
        )
        client = Client(cluster)
    if not _CLIENTS:
        atexit.register(close_clients)
    _CLIENTS[engine] = client
    return client


def close_clients() -> None:
    """Close every client :func:`client_for` made, and the local clusters they started."""
    for client in _CLIENTS.values():
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()
    _CLIENTS.clear()


@dataclass(frozen=True)
class DayBuild:
    """A day built on the cluster: its money and the counts the embedded steps report."""

    profit: DayProfit
    counts: dict[str, int]


def build_day(store: Store, config: GuapConfig, day: str, *, client: Any = None) -> DayBuild:
    """Dedupe, latest labels, join and money of one day on a Dask cluster; writes the day's
    quarantine tables (the caller writes the money tables, as for the embedded engine)."""
    client = client_for(config.engine) if client is None else client
    chunks = {kind: _staged(store, kind, day) for kind in ("predictions", "labels")}
    rows = sum(n for _, _, n in chunks["predictions"]) + sum(n for _, _, n in chunks["labels"])
    n_workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    buckets = max(n_workers, math.ceil(rows / BUCKET_ROWS))
    scratch = store.root / "scratch" / f"{day}-{uuid.uuid4().hex[:8]}"
    columns = _prediction_columns(config)
    try:
        splits = [
            client.submit(_split, kind, i, path, group, buckets, scratch, wanted, pure=False)
            for kind, wanted in (("predictions", columns), ("labels", list(_LABEL_COLUMNS)))
            for i, (path, groups, _) in enumerate(chunks[kind])
            for group in range(groups)
        ]
        client.gather(splits)
        parts: list[_Bucket] = client.gather(
            client.map(_bucket, range(buckets), scratch=scratch, config=config, pure=False)
        )
        ranges = client.gather(
            client.map(_range_best, range(SCORE_RANGES), scratch=scratch, pure=False)
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    duplicates = _ordered([p.duplicates for p in parts], [SOURCE_COLUMN, ROW_COLUMN])
    orphans = _ordered([p.orphans for p in parts], list(_ORDER))
    store.write("quarantine_predictions", duplicates, day)
    store.write("quarantine_labels", orphans, day)
    forget_labeled(store, day)  # per-row tables of an embedded build would be stale
    for table in ("predictions", "labels"):
        store.delete(table, day)
    if not any(len(p.ledger.keys) for p in parts):
        empty = pd.DataFrame(columns=["y_true", "y_pred", "date", "model_version"])
        profit = day_profit(empty, config)
    else:
        summary, cells = day_tables(_sum_ledgers([p.ledger for p in parts]), config)
        hindsight, curves = _hindsight(parts, ranges, summary)
        profit = DayProfit(summary, cells, hindsight, curves)
    counts = {
        "n_predictions": sum(p.counts["n_predictions"] for p in parts),
        "n_duplicates": len(duplicates),
        "n_labeled": int(profit.summary["n_labeled"].sum()),
        "n_changed_labels": sum(p.counts["n_changed_labels"] for p in parts),
        "n_orphan_labels": len(orphans),
    }
    return DayBuild(profit, counts)


def _staged(store: Store, kind: str, day: str) -> list[tuple[Path, int, int]]:
    """The day's staged chunks in the embedded engine's order (by path): path, row
    groups, rows."""
    found = []
    for path in store.staging.day_chunks(kind, day):
        meta = pq.ParquetFile(path).metadata
        found.append((path, meta.num_row_groups, meta.num_rows))
    return found


def _prediction_columns(config: GuapConfig) -> list[str]:
    """The staged prediction columns the money needs (those present are read)."""
    return [
        "prediction_id",
        SOURCE,
        ROW,
        *DAY_KEYS,
        "y_pred",
        "score",
        "baseline_pred",
        *config.value_matrix.columns,
    ]


def _split(
    kind: str,
    chunk: int,
    path: Path,
    group: int,
    buckets: int,
    scratch: Path,
    columns: list[str],
) -> int:
    """Task: write one row group of a staged chunk to the buckets of its ids' hashes."""
    reader = pq.ParquetFile(path)
    names = reader.schema_arrow.names
    table = reader.read_row_group(group, columns=[c for c in columns if c in names])
    offset = sum(reader.metadata.row_group(g).num_rows for g in range(group))
    table = table.append_column("_chunk", pa.array(np.full(len(table), chunk, dtype=np.int64)))
    table = table.append_column("_pos", pa.array(np.arange(offset, offset + len(table))))
    ids = table["prediction_id"].to_pandas().astype("string")
    bucket = (pd.util.hash_pandas_object(ids, index=False).to_numpy() % buckets).astype(np.int64)
    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(buckets + 1))
    for b in range(buckets):
        lo, hi = bounds[b], bounds[b + 1]
        if hi > lo:
            target = scratch / kind / f"b{b:06d}" / f"{chunk:06d}-{group:06d}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.take(order[lo:hi]), target)
    return len(table)


def _read_bucket(folder: Path) -> pd.DataFrame:
    """A bucket's pieces in staged order (chunk by path, then row)."""
    paths = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    frames = [pq.read_table(p).to_pandas() for p in paths]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@dataclass(frozen=True)
class _Bucket:
    """What one bucket hands back to the driver: small, whatever the day's size."""

    ledger: Accounts
    duplicates: pd.DataFrame
    orphans: pd.DataFrame
    counts: dict[str, int]
    curves: pd.DataFrame  # per group: base profit, any score missing, gains at CURVE_GRID


SOURCE_COLUMN, ROW_COLUMN = "source", "row"


def _bucket(bucket: int, *, scratch: Path, config: GuapConfig) -> _Bucket:
    """Task: the embedded engine's dedupe, latest labels, join and ledger on one bucket."""
    staged = _read_bucket(scratch / "predictions" / f"b{bucket:06d}")
    staged_labels = _read_bucket(scratch / "labels" / f"b{bucket:06d}")
    unique, duplicates = dedupe_predictions(staged)
    if len(staged_labels):
        latest, changed = latest_labels(staged_labels)
    else:
        latest, changed = pd.DataFrame(columns=["prediction_id", "y_true", "labeled_at"]), 0
        staged_labels = pd.DataFrame(columns=["prediction_id", SOURCE, ROW, *_ORDER])
    labeled, orphans = join_labels(unique, latest, staged_labels)
    if len(orphans):  # with the staged order, to sort the buckets' orphans as one day's
        orphans = orphans.join(staged_labels.loc[orphans.index, list(_ORDER)])
    empty = pd.DataFrame(columns=["y_true", "y_pred", *DAY_KEYS])
    ledger = day_ledger(labeled if len(labeled) else empty, config)
    curves = _bucket_curves(labeled, bucket, scratch, config)
    return _Bucket(
        ledger=ledger,
        duplicates=duplicates,
        orphans=orphans,
        counts={"n_predictions": len(unique), "n_changed_labels": changed},
        curves=curves,
    )


def _bucket_curves(
    labeled: pd.DataFrame, bucket: int, scratch: Path, config: GuapConfig
) -> pd.DataFrame:
    """Per group of the bucket: base profit and gains above each CURVE_GRID point; each
    labeled row's gain written to the folder of its score range, summed by score."""
    if not (config.is_binary and "score" in labeled.columns and len(labeled)):
        return pd.DataFrame()
    has_label = labeled["y_true"].notna().to_numpy()
    rows, pieces = [], []
    groups = labeled.groupby(list(DAY_KEYS), sort=True).indices
    for key in sorted(groups):
        mine = groups[key][has_label[groups[key]]]
        if not len(mine):
            continue
        score = labeled["score"].iloc[mine]
        if score.isna().any():
            rows.append((*key, 0.0, True, np.zeros(len(CURVE_GRID))))
            continue
        s, gain, base = threshold_gains(
            class_codes(labeled["y_true"].iloc[mine], config.classes),
            score.to_numpy(),
            config.value_matrix,
            positive_class=config.positive_class,
            columns={c: labeled[c].to_numpy()[mine] for c in config.value_matrix.columns},
        )
        grid_bin = np.searchsorted(CURVE_GRID, s, side="right") - 1
        per_bin = np.bincount(grid_bin, weights=gain, minlength=len(CURVE_GRID))
        rows.append((*key, base, False, np.cumsum(per_bin[::-1])[::-1]))
        pieces.append(
            pd.DataFrame({"date": key[0], "model_version": key[1], "score": s, "gain": gain})
        )
    if pieces:
        by_score = (
            pd.concat(pieces, ignore_index=True)
            .groupby([*DAY_KEYS, "score"], sort=True, observed=True)["gain"]
            .sum()
            .reset_index()
        )
        ranges = np.minimum(
            (by_score["score"].to_numpy() * SCORE_RANGES).astype(int), SCORE_RANGES - 1
        )
        for r, part in by_score.groupby(ranges):
            target = scratch / "gains" / f"r{int(r):03d}" / f"b{bucket:06d}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pandas(part, preserve_index=False), target)
    return pd.DataFrame(rows, columns=[*DAY_KEYS, "base", "missing_score", "above"])


def _range_best(score_range: int, *, scratch: Path) -> pd.DataFrame:
    """Task: per group, the best point of the curve within one score range (relative to
    the profit just above the range) and the range's total gain."""
    gains = _read_bucket(scratch / "gains" / f"r{score_range:03d}")
    if not len(gains):
        return pd.DataFrame(columns=[*DAY_KEYS, "range", "best", "threshold", "total"])
    by_score = gains.groupby([*DAY_KEYS, "score"], sort=True, observed=True)["gain"].sum()
    rows = []
    for key, part in by_score.groupby(level=list(DAY_KEYS), sort=True, observed=True):
        scores = part.index.get_level_values("score").to_numpy()[::-1]  # descending
        running = np.cumsum(part.to_numpy()[::-1])
        at = int(np.argmax(running))  # the first maximum: ties go to the highest threshold
        rows.append((*key, score_range, running[at], scores[at], running[-1]))
    return pd.DataFrame(rows, columns=[*DAY_KEYS, "range", "best", "threshold", "total"])


def _hindsight(
    parts: list[_Bucket], ranges: list[pd.DataFrame], summary: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The day's threshold hindsight rows and curves from the buckets' and ranges' parts."""
    curves = (
        pd.concat([p.curves for p in parts if len(p.curves)], ignore_index=True)
        if any(len(p.curves) for p in parts)
        else pd.DataFrame(columns=[*DAY_KEYS, "base", "missing_score", "above"])
    )
    best = (
        pd.concat([r for r in ranges if len(r)], ignore_index=True)
        if any(len(r) for r in ranges)
        else pd.DataFrame(columns=[*DAY_KEYS, "range", "best", "threshold", "total"])
    )
    realized = summary.set_index(list(DAY_KEYS))["profit"]
    found = []
    for key, group in curves.groupby(list(DAY_KEYS), sort=True, observed=True):
        if group["missing_score"].any():
            continue
        base = float(group["base"].sum())
        above = np.sum(np.stack(group["above"].to_list()), axis=0)
        mine = best[(best["date"] == key[0]) & (best["model_version"] == key[1])]
        point = Hindsight(np.inf, base, float(realized.loc[key]))
        offset = base
        for row in mine.sort_values("range", ascending=False).itertuples():
            if offset + row.best > point.best_profit:
                point = Hindsight(float(row.threshold), offset + row.best, point.realized_profit)
            offset += row.total
        found.append((key, point, base + above))
    return hindsight_tables(found)


def _sum_ledgers(ledgers: list[Accounts]) -> Accounts:
    """One ledger from the buckets' ledgers: cells of the same group added."""
    ledgers = [ledger for ledger in ledgers if len(ledger.keys)]
    keys = pd.concat([ledger.keys for ledger in ledgers], ignore_index=True)
    grouped = keys.groupby(list(keys.columns), sort=True, dropna=False, observed=True)
    target = grouped.ngroup().to_numpy()
    merged = grouped.size().index.to_frame(index=False)

    def add(name: str) -> np.ndarray:
        stacked = np.concatenate([getattr(ledger, name) for ledger in ledgers])
        out = np.zeros((len(merged), *stacked.shape[1:]), dtype=stacked.dtype)
        np.add.at(out, target, stacked)
        return out

    return Accounts(
        keys=merged,
        classes=ledgers[0].classes,
        counts=add("counts"),
        values=add("values"),
        n_predictions=add("n_predictions"),
        baseline_profit=add("baseline_profit"),
        oracle_profit=add("oracle_profit"),
    )


def _ordered(frames: list[pd.DataFrame], order: list[str]) -> pd.DataFrame:
    """The buckets' quarantine rows in the embedded engine's order."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_quarantine()
    rows = pd.concat(frames, ignore_index=True).sort_values(order, kind="stable")
    return rows[list(QUARANTINE_COLUMNS)].reset_index(drop=True)
