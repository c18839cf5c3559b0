"""Where a big day's labels are: each prediction's row in the labels table (from the
routing's matches, or a DuckDB join of the ids), and the staged labels no prediction of
the day has (orphans, quarantined). Used by :func:`guap_pipeline.steps.big_days.fast_labeled`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guap_pipeline.ingest.readers import ROW
from guap_pipeline.ingest.routing import staged_matches
from guap_pipeline.ingest.staged import staged_signature
from guap_pipeline.ingest.validation import SOURCE, empty_quarantine
from guap_pipeline.money.one_day import join_labels
from guap_pipeline.steps.freshness import INPUTS
from guap_pipeline.store.store import (
    Store,
    decode_threads,
    duckdb_connection,
    read_columns,
    sql_path,
)


def _union_sql(paths: list[Path], columns: str, *, numbered: bool = False) -> str:
    """SQL: the rows of every Parquet file; ``numbered`` adds ``f`` (file position) and
    ``r`` (row in file), which keep the staged (source file, row) order."""
    return " UNION ALL ".join(
        f"SELECT {i} AS f, file_row_number AS r, {columns} "
        f"FROM read_parquet({sql_path(path)}, file_row_number = true)"
        if numbered
        else f"SELECT {columns} FROM read_parquet({sql_path(path)})"
        for i, path in enumerate(paths)
    )


def _joined_labels(
    predictions_path: Path, labels_path: Path, n_predictions: int
) -> tuple[np.ndarray, pa.Table, int]:
    """Each prediction's row in the labels table (-1: none), by a DuckDB join of the ids,
    the table's ``y_true`` and ``labeled_at``, and the number of matches."""
    labels_file = pq.ParquetFile(labels_path)
    with duckdb_connection(n_predictions + labels_file.metadata.num_rows) as con:
        found = con.execute(
            f"""
            SELECT p.file_row_number AS i, l.file_row_number AS j
            FROM read_parquet({sql_path(predictions_path)}, file_row_number = true) AS p
            JOIN read_parquet({sql_path(labels_path)}, file_row_number = true) AS l
            USING (prediction_id)
            """
        ).fetchnumpy()
    labels = labels_file.read(
        columns=["y_true", "labeled_at"], use_threads=decode_threads(labels_file)
    ).combine_chunks()
    index = np.full(n_predictions, -1, dtype=_row_dtype(labels_file))
    index[np.asarray(found["i"], dtype=np.int64)] = found["j"]
    return index, labels, len(found["i"])


def _row_dtype(labels_file: pq.ParquetFile) -> type[np.signedinteger]:
    """Integers wide enough for a row number of the labels (int32 halves a big day's index)."""
    return np.int32 if labels_file.metadata.num_rows < np.iinfo(np.int32).max else np.int64


def _matched_labels(
    store: Store, day: str, n_predictions: int, labels_file: pq.ParquetFile
) -> tuple[np.ndarray, pa.Table] | None:
    """:func:`_joined_labels` without a join: from the prediction row each staged label
    matched when it was routed (``staged_matches``), rows of the staged labels instead of
    the labels table. Holds when both tables were built from the staged chunks as they
    are now (no staging since their steps started), the predictions table is the day's
    one chunk whole (no duplicate dropped) and the labels table has a row per staged
    label (no prediction labeled twice): then the labels are the same rows."""
    seen = store.read_json(f"{INPUTS}-{day}", {})
    signature = staged_signature(store, day)
    if seen.get("predictions") != signature or seen.get("labels") != signature:
        return None
    found = staged_matches(store, day)
    if found is None:
        return None
    chunk, matches = found
    total = sum(len(rows) for rows in matches.values())
    if (
        pq.ParquetFile(chunk).metadata.num_rows != n_predictions
        or labels_file.metadata.num_rows != total
    ):
        return None
    index = np.full(n_predictions, -1, dtype=_row_dtype(labels_file))
    offset = 0
    for rows in matches.values():
        index[rows] = np.arange(offset, offset + len(rows))
        offset += len(rows)
    if int((index >= 0).sum()) != total:
        return None  # two labels matched one prediction
    columns = ["y_true", "labeled_at"]
    schema = pa.schema([labels_file.schema_arrow.field(c) for c in columns])
    try:
        labels = pa.concat_tables(read_columns(path, columns) for path in matches).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError):
        return None  # chunks of other types than the table's: join instead
    return index, labels.combine_chunks()


def _orphan_labels(store: Store, day: str, predictions_path: Path) -> pd.DataFrame:
    """Staged labels of the day whose prediction_id is not among its predictions."""
    sizes = {
        p: pq.ParquetFile(p).metadata.num_rows for p in store.staging.day_chunks("labels", day)
    }
    paths = [p for p, n in sizes.items() if n]
    if not paths:
        return empty_quarantine()
    rows = sum(sizes.values()) + pq.ParquetFile(predictions_path).metadata.num_rows
    union = _union_sql(paths, f"prediction_id, {SOURCE}, {ROW}", numbered=True)
    with duckdb_connection(rows) as con:
        orphans = con.execute(
            f"""
            SELECT * FROM ({union}) AS s
            WHERE NOT EXISTS (
                SELECT 1 FROM read_parquet({sql_path(predictions_path)}) AS p
                WHERE p.prediction_id = s.prediction_id)
            ORDER BY f, r
            """
        ).df()
    if not len(orphans):
        return empty_quarantine()
    return join_labels(
        pd.DataFrame({"prediction_id": pd.Series([], dtype="string")}),
        pd.DataFrame(columns=["prediction_id", "y_true", "labeled_at"]),
        orphans,
    )[1]
