"""Arrow and DuckDB paths for big days.

Each gives exactly the table the pandas functions of :mod:`guap_pipeline.money.one_day`
give (same rows, order and dtypes), without holding the day in pandas: ids are hashed by
DuckDB, rows are streamed from Parquet to Parquet, and a table that equals its only input
is a file copy. Anything unusual (chunks of several schemas, rows out of order) returns
``None`` and the pandas path runs instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from guap_pipeline.ingest.readers import ROW
from guap_pipeline.ingest.routing import SLICE_ROWS, staged_matches
from guap_pipeline.ingest.validation import SOURCE, empty_quarantine
from guap_pipeline.money.one_day import dedupe_predictions
from guap_pipeline.steps.label_lookup import (
    _joined_labels,
    _matched_labels,
    _orphan_labels,
    _union_sql,
)
from guap_pipeline.steps.quarantine import as_quarantine
from guap_pipeline.store.labeled import Identity, write_labels
from guap_pipeline.store.store import (
    SHARED_DUCKDB_ROWS,
    ParquetParts,
    Store,
    copy_file,
    decode_threads,
    duckdb_connection,
)


@dataclass(frozen=True)
class _Chunks:
    """A day's staged chunks of one kind, in (source file, row) order."""

    paths: list[Path]
    sources: list[str]
    schema: pa.Schema
    rows: int
    tables: list[pa.Table] | None = None  # the chunks' rows, when read up front

    def union(self, columns: str, *, numbered: bool = False) -> str:
        """SQL: every chunk's rows, numbered with ``f`` and ``r`` if asked (_union_sql)."""
        return _union_sql(self.paths, columns, numbered=numbered)


def _staged_chunks(
    store: Store, kind: str, day: str, load: list[str] | None = None
) -> _Chunks | None:
    """The day's non-empty chunks if they share one schema, each holds one source file's
    rows in row order; else ``None``. With ``load``, a small day's chunks are read whole
    (those columns) in the same pass."""
    paths = store.staging.day_chunks(kind, day)
    readers = [pq.ParquetFile(path, read_dictionary=[SOURCE]) for path in paths]
    if load and sum(r.metadata.num_rows for r in readers) >= SHARED_DUCKDB_ROWS:
        load = None  # a big day: each step streams what it needs
    found = []
    for path, reader in zip(paths, readers, strict=True):
        if reader.metadata.num_rows == 0:
            continue
        if found and not reader.schema_arrow.equals(found[0][1].schema_arrow, check_metadata=True):
            return None
        columns = reader.read(
            columns=[*(load or []), SOURCE, ROW], use_threads=decode_threads(reader)
        )
        sources = pc.unique(columns[SOURCE]).dictionary_decode() if len(columns) else []
        rows = columns[ROW].to_numpy()
        if len(sources) != 1 or not (np.diff(rows) > 0).all():
            return None
        found.append((path, reader, str(sources[0]), columns.select(load) if load else None))
    if not found:
        return None
    found.sort(key=lambda item: item[2])
    return _Chunks(
        paths=[p for p, _, _, _ in found],
        sources=[s for _, _, s, _ in found],
        schema=found[0][1].schema_arrow,
        rows=sum(r.metadata.num_rows for _, r, _, _ in found),
        tables=[t for _, _, _, t in found] if load else None,
    )


def _n_duplicates(chunks: _Chunks) -> int:
    with duckdb_connection(chunks.rows) as con:
        if chunks.tables is not None:  # already in memory: DuckDB scans the Arrow data
            column = [c for t in chunks.tables for c in t["prediction_id"].chunks]
            con.register("staged_ids", pa.table({"prediction_id": pa.chunked_array(column)}))
            (n_distinct,) = con.execute(
                "SELECT count(DISTINCT prediction_id) FROM staged_ids"
            ).fetchall()[0]
            con.unregister("staged_ids")
        else:
            (n_distinct,) = con.execute(
                f"SELECT count(DISTINCT prediction_id) FROM ({chunks.union('prediction_id')})"
            ).fetchall()[0]
    return chunks.rows - int(n_distinct)


def _stream(paths: list[Path], target: Path, drop: dict[int, np.ndarray] | None = None) -> None:
    """Concatenate Parquet files into ``target`` (a copy for one file), leaving out the
    sorted row numbers ``drop[i]`` of file ``i``."""
    drop = drop or {}
    if len(paths) == 1 and not len(drop.get(0, [])):
        copy_file(paths[0], target)
        return
    with ParquetParts() as parts:
        for i, path in enumerate(paths):
            reader = pq.ParquetFile(path)
            schema, offset = reader.schema_arrow, 0
            batches = reader.iter_batches(batch_size=SLICE_ROWS, use_threads=decode_threads(reader))
            for batch in batches:
                table = pa.Table.from_batches([batch], schema=schema)
                skip = drop.get(i, np.array([], dtype=np.int64))
                lo, hi = np.searchsorted(skip, [offset, offset + len(table)])
                if hi > lo:
                    keep = np.ones(len(table), dtype=bool)
                    keep[skip[lo:hi] - offset] = False
                    table = table.filter(keep)
                parts.write(target, table)
                offset += batch.num_rows


def fast_predictions(store: Store, day: str) -> dict[str, int] | None:
    chunks = _staged_chunks(store, "predictions", day)
    if chunks is None:
        return None
    n_duplicates = 0 if _each_labeled_once(store, day, chunks) else _n_duplicates(chunks)
    duplicates = empty_quarantine()
    drop: dict[int, np.ndarray] = {}
    if n_duplicates:
        with duckdb_connection(chunks.rows) as con:
            rows = con.execute(
                f"""
                WITH t AS ({chunks.union(f"prediction_id, {SOURCE}, {ROW}", numbered=True)})
                SELECT * FROM t WHERE prediction_id IN (
                    SELECT prediction_id FROM t GROUP BY prediction_id HAVING count(*) > 1)
                ORDER BY f, r
                """
            ).df()
        rows["prediction_id"] = rows["prediction_id"].astype("string")
        _, duplicates = dedupe_predictions(rows)
        later = rows.loc[rows["prediction_id"].duplicated(keep="first")]
        drop = {int(f): np.sort(g["r"].to_numpy()) for f, g in later.groupby("f")}
    _stream(chunks.paths, store.path("predictions", day), drop)
    store.write("quarantine_predictions", as_quarantine(duplicates), day)
    return {"n_predictions": chunks.rows - n_duplicates, "n_duplicates": n_duplicates}


def _each_labeled_once(store: Store, day: str, chunks: _Chunks) -> bool:
    """Whether the routing's matches show, without hashing ids, that the day's predictions
    are distinct: every row of its one chunk was matched by a label. (A prediction_id
    staged twice would have been matched twice by its label, and routing keeps no
    matches then.) Usual for a day whose labels have all arrived."""
    found = staged_matches(store, day)
    if found is None or [found[0]] != chunks.paths:
        return False
    labeled = np.zeros(chunks.rows, dtype=bool)
    for rows in found[1].values():
        labeled[rows] = True
    return bool(labeled.all())


def fast_labels(store: Store, day: str) -> dict[str, int] | None:
    """The labels table when no prediction is labeled twice: the staged rows as they are
    (already in the table's order, source file then row), each with one version."""
    columns = ["prediction_id", "y_true", "labeled_at"]
    chunks = _staged_chunks(store, "labels", day, load=columns)
    if chunks is None or _labeled_twice(store, day, chunks):
        return None  # ids labeled more than once: the pandas path picks the latest
    target, schema = store.path("labels", day), None
    with ParquetParts() as parts:
        for part in _label_slices(chunks, columns):
            if schema is None:  # the pandas path's: from the staged columns' own metadata
                frame = part.slice(0, 0).to_pandas()
                frame["n_label_versions"] = np.array([], dtype=np.int64)
                schema = pa.Schema.from_pandas(frame, preserve_index=False)
            versions = pa.array(np.ones(len(part), dtype=np.int64))
            parts.write(target, part.append_column("n_label_versions", versions).cast(schema))
    return {"n_labels": chunks.rows, "n_label_rows": chunks.rows, "n_changed_labels": 0}


def _label_slices(chunks: _Chunks, columns: list[str]) -> Iterator[pa.Table]:
    """``columns`` of the chunks' rows in order: the loaded tables, or a big day's files
    read slice by slice."""
    if chunks.tables is not None:
        yield from chunks.tables
        return
    for path in chunks.paths:
        reader = pq.ParquetFile(path)
        for batch in reader.iter_batches(
            batch_size=SLICE_ROWS, columns=columns, use_threads=decode_threads(reader)
        ):
            yield pa.Table.from_batches([batch])


def _labeled_twice(store: Store, day: str, chunks: _Chunks) -> bool:
    """Whether some prediction_id has several staged labels. From the routing's matches
    when they hold (each label matched exactly one row of the day's one predictions
    chunk, so two labels of one id matched the same row): counting, not hashing ids."""
    found = staged_matches(store, day)
    if found is None or set(found[1]) != set(chunks.paths):
        return bool(_n_duplicates(chunks))
    rows = np.concatenate(list(found[1].values()))
    return bool(len(rows)) and int(np.bincount(rows).max()) > 1


def fast_labeled(store: Store, day: str, built_from: Identity) -> dict[str, int] | None:
    predictions_path, labels_path = store.path("predictions", day), store.path("labels", day)
    if not (predictions_path.exists() and labels_path.exists()):
        return None
    predictions = pq.ParquetFile(predictions_path)
    n_predictions = predictions.metadata.num_rows
    if n_predictions == 0 or "prediction_id" not in predictions.schema_arrow.names:
        return None
    labels_file = pq.ParquetFile(labels_path)
    matched = _matched_labels(store, day, n_predictions, labels_file)
    if matched is not None:
        index, labels = matched
        n_labeled = len(labels)
    else:
        index, labels, n_labeled = _joined_labels(predictions_path, labels_path, n_predictions)
    missing = index < 0
    take = pa.array(index, mask=missing)
    y_true = labels["y_true"].take(take)
    labeled_at = labels["labeled_at"].take(take)
    key = (
        predictions.schema_arrow.serialize().to_pybytes(),
        labels_file.schema_arrow.serialize().to_pybytes(),
        bool((index >= 0).any()),
        bool(missing.any()),
    )
    schema = _MERGED.get(key)
    if schema is None:  # the same for every day of the same inputs
        schema = _MERGED.setdefault(key, _merged_schema(predictions, labels_file, index))
    labels = pa.table({"y_true": y_true, "labeled_at": labeled_at})
    write_labels(store, day, labels, schema, built_from)
    # Labels built from the staged rows (one row per id, with its number of versions)
    # and all joined: no staged label is an orphan. Otherwise look them up.
    staged_rows = sum(
        pq.ParquetFile(p).metadata.num_rows for p in store.staging.day_chunks("labels", day)
    )
    versions = (
        pq.read_table(labels_path, columns=["n_label_versions"], use_threads=False)[0]
        if "n_label_versions" in labels_file.schema_arrow.names
        else None
    )
    n_versions = int(pc.sum(versions).as_py() or 0) if versions is not None else -1
    if n_labeled == len(labels) and n_versions == staged_rows:
        orphans = empty_quarantine()
    else:
        orphans = _orphan_labels(store, day, predictions_path)
    store.write("quarantine_labels", as_quarantine(orphans), day)
    return {
        "n_predictions": n_predictions,
        "n_labeled": n_labeled,
        "n_orphan_labels": len(orphans),
    }


_MERGED: dict[tuple[bytes, bytes, bool, bool], pa.Schema] = {}


def _merged_schema(
    predictions: pq.ParquetFile, labels: pq.ParquetFile, index: np.ndarray
) -> pa.Schema:
    """The schema pandas' left merge of the whole day would have given the labeled table.

    Its dtypes depend on the dtypes of both sides and on whether some rows found no
    label (an integer class column then becomes float), so the merge is done on a
    sample of the same dtypes: a labeled and an unlabeled prediction, where the day has
    them (the first prediction, given the id of a label or an id no label has).
    """
    row = _first_row(predictions).to_pandas()
    columns = ["prediction_id", "y_true", "labeled_at"]
    matched = _first_row(labels).select(columns) if labels.metadata.num_rows else None
    if matched is None:
        matched = labels.schema_arrow.empty_table().select(columns)
    sample = []
    if (index >= 0).any():
        sample.append(_with_id(row, labeled=True))
    if (index < 0).any():
        sample.append(_with_id(row, labeled=False))
    right = _with_id(matched.to_pandas(), labeled=True)
    left = pd.concat(sample, ignore_index=True) if sample else row.iloc[:0]
    frame = left.merge(right, on="prediction_id", how="left")
    return pa.Schema.from_pandas(frame, preserve_index=False)


def _first_row(reader: pq.ParquetFile) -> pa.Table:
    first = next(reader.iter_batches(batch_size=1, use_threads=False))
    return pa.Table.from_batches([first], schema=reader.schema_arrow).slice(0, 1)


def _with_id(frame: pd.DataFrame, labeled: bool) -> pd.DataFrame:
    """``frame`` with every prediction_id set to the id of a label (``labeled``) or to
    one no label has, in the column's own dtype (text or integer ids)."""
    dtype = frame["prediction_id"].dtype
    value = (1 if labeled else 2) if pd.api.types.is_integer_dtype(dtype) else str(labeled)
    return frame.assign(prediction_id=pd.array([value] * len(frame), dtype=dtype))
