"""Route labels to the day of their prediction, and write each file's rows to its day chunks.

A DuckDB join of a labels file's ids against the staged prediction ids gives each label
its day; labels whose prediction has not landed wait in ``staging/labels_unmatched/``.
Beside each labels chunk, the row of the prediction each label matched is kept
(``staging/matches/``) on big days, so that the day's steps need not join the ids again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from guap_pipeline.ingest.readers import PARQUET_ERRORS
from guap_pipeline.store.layout import MATCHES, StagingLayout
from guap_pipeline.store.store import (
    ParquetParts,
    Store,
    atomic_path,
    copy_file,
    decode_threads,
    duckdb_connection,
    sql_path,
)

# Staged chunks sit in one folder per prediction day, named by its ISO date.
DAY_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")
# Rows validated, routed and written at a time: bounds memory on files of any size.
SLICE_ROWS = 1 << 20
# Matches are kept only for a day of at least this many predictions: below, joining the
# ids again costs milliseconds, less than writing a file per (day, labels file).
MATCHES_MIN_ROWS = 1_000_000


@dataclass(eq=False)
class Route:
    """Where one labels file's rows go: row numbers per day chunk (and the unmatched)."""

    staging: StagingLayout
    entry: dict
    raw_path: Path
    groups: dict[str, np.ndarray]
    changed: set[str]
    unmatched_path: Path
    targets: dict[Path, np.ndarray]
    matches: dict[str, np.ndarray]  # per day written: the prediction row of each label

    def write(self) -> None:
        _write_rows(self.raw_path, self.targets)
        for day, prediction_rows in self.matches.items():
            _write_matches(self.staging, day, self.entry["file_id"], prediction_rows)


def match_labels(
    folder: Path, raw_paths: list[Path]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each labels file, (row, day, prediction row) of every label whose
    prediction_id is staged that day; the prediction row is its row in its chunk.

    One DuckDB hash join of every file's ids against the ids of all staged predictions;
    only integers come back (row numbers, and the index of the matched chunk, whose
    folder names its day: no day text is read or parsed per row), streamed in batches.
    Each side is one ``read_parquet`` of a file list, whatever the number of files: a
    ``UNION ALL`` of one scan per labels file, when DuckDB builds its hash table on it,
    reserves memory per scan and runs out of the DuckDB budget with many files
    (``benchmarks/README.md``, the many-files run).
    """
    nothing = np.array([], dtype=np.int64)
    chunks = [c for c in sorted(folder.glob("*/*.parquet")) if DAY_FOLDER.fullmatch(c.parent.name)]
    if not raw_paths or not chunks:
        return [(nothing, nothing, nothing) for _ in raw_paths]
    chunk_days = np.array([c.parent.name for c in chunks], dtype="datetime64[D]").view(np.int64)
    query = f"""
        SELECT l.f, l.j, p.chunk, p.i
        FROM ({_numbered_ids(raw_paths, "f", "j")}) AS l
        JOIN ({_numbered_ids(chunks, "chunk", "i")}) AS p
        USING (prediction_id)
    """
    # Per labels file, batches of (row, chunk, prediction row), all 32-bit: they pile up
    # while DuckDB still holds its hash table (a backfill's peak); days come after.
    found: list[list[tuple[np.ndarray, ...]]] = [[] for _ in raw_paths]
    with duckdb_connection() as con:
        for batch in con.sql(query).to_arrow_reader(SLICE_ROWS):
            files, rows, chunk, predictions = (column.to_numpy() for column in batch.columns)
            if len(raw_paths) == 1:  # the usual single labels file: nothing to sort apart
                found[0].append((rows, chunk, predictions))
                continue
            order = np.argsort(_small_ints(files), kind="stable")
            bounds = np.searchsorted(files[order], np.arange(len(raw_paths) + 1))
            rows, chunk, predictions = rows[order], chunk[order], predictions[order]
            for i, (a, b) in enumerate(pairwise(bounds)):
                if b > a:
                    found[i].append((rows[a:b], chunk[a:b], predictions[a:b]))
    return [
        (
            np.concatenate([r for r, _, _ in parts]).astype(np.int64),
            chunk_days[np.concatenate([c for _, c, _ in parts])],
            np.concatenate([p for _, _, p in parts]),
        )
        if parts
        else (nothing, nothing, nothing)
        for parts in found
    ]


def _numbered_ids(paths: list[Path], file: str, row: str) -> str:
    """SQL: the ids of some Parquet files with their file index and row number, both cast
    to 32 bits before the join: the hash table holds them, and with 64-bit ones a
    backfill's join (36M ids a side) overran DuckDB's memory budget and spilled (25 s
    of CPU instead of 17)."""
    return f"""
        SELECT prediction_id, CAST(file_index AS INTEGER) AS {file},
               CAST(file_row_number AS INTEGER) AS {row}
        FROM read_parquet({_sql_list(paths)}, file_row_number = true)
    """


def _sql_list(paths: list[Path]) -> str:
    """SQL: a list of file paths, for one ``read_parquet`` over all of them."""
    return f"[{', '.join(sql_path(path) for path in paths)}]"


def route_groups(
    rows: np.ndarray, days: np.ndarray, predictions: np.ndarray, n_rows: int
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray] | None]:
    """Sorted row numbers of a labels file per prediction day, of the unmatched rows, and
    per day the prediction row each routed label matched (``None`` when a label matched
    several predictions: a prediction_id staged twice).

    A label whose prediction_id is staged on two days goes to both, once each.
    """
    matched = None
    first = int(days.min()) if len(days) else 0
    codes = (days - first).astype(np.int64)
    found = np.zeros(n_rows, dtype=bool)
    found[rows] = True
    once = np.count_nonzero(found) == len(rows)  # no row matched twice
    if not once:  # rare: sort pairs
        pairs = np.unique(np.stack([codes, rows], axis=1), axis=0)
        codes, rows = pairs[:, 0], pairs[:, 1]  # by day, then row
        starts = np.flatnonzero(np.diff(codes, prepend=-1))
        bounds = [*starts.tolist(), len(codes)]
        groups = {int(codes[a]): rows[a:b] for a, b in pairwise(bounds)}
    elif n_rows and len(rows) == n_rows and not codes.any():  # usual: all matched, one day
        groups = {0: np.arange(n_rows)}
    else:  # each row has at most one day: a counting sort keeps rows in order
        day_of_row = np.full(n_rows, -1, dtype=np.int64)
        day_of_row[rows] = codes
        order = np.argsort(_small_ints(day_of_row + 1), kind="stable")
        counts = np.bincount(day_of_row + 1)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        groups = {
            code - 1: order[a:b] for code, (a, b) in enumerate(pairwise(bounds)) if code and b > a
        }
        del day_of_row, order
    if once:
        prediction_of_row = np.zeros(n_rows, dtype=np.int32)
        prediction_of_row[rows] = predictions
        matched = {code: prediction_of_row[index] for code, index in groups.items()}
        del prediction_of_row
    labels = {code: str(np.datetime64(first + code, "D")) for code in groups}
    routed = {labels[code]: index for code, index in sorted(groups.items())}
    if matched is not None:
        matched = {labels[code]: found_rows for code, found_rows in matched.items()}
    return routed, np.flatnonzero(~found), matched


def _small_ints(values: np.ndarray) -> np.ndarray:
    """Non-negative ints in the narrowest dtype: NumPy sorts 8/16-bit ints by radix, O(n)."""
    top = int(values.max()) if len(values) else 0
    return values.astype(np.uint8 if top < 256 else np.uint16 if top < 65536 else np.int64)


def _write_rows(source: Path, targets: dict[Path, np.ndarray]) -> None:
    """Write the given (sorted) rows of a Parquet file to each target, streaming the file.

    A target that takes every row is a plain copy of the file.
    """
    reader = pq.ParquetFile(source)
    n_rows = reader.metadata.num_rows
    rest = {}
    for target, index in targets.items():
        if len(index) == n_rows:
            copy_file(source, target)
        else:
            rest[target] = index
    if not rest:
        return
    schema = reader.schema_arrow
    with ParquetParts() as parts:
        offset = 0
        batches = reader.iter_batches(batch_size=SLICE_ROWS, use_threads=decode_threads(reader))
        for batch in batches:
            end = offset + batch.num_rows
            table = pa.Table.from_batches([batch], schema=schema)
            for target, index in rest.items():
                lo, hi = np.searchsorted(index, [offset, end])
                if hi > lo:
                    parts.write(target, table.take(index[lo:hi] - offset))
            offset = end
        for target in rest:
            if target not in parts.rows:
                parts.write(target, schema.empty_table())


def chunk_stamp(path: Path) -> str:
    """A staged chunk's name, size and modification time: changes whenever it is rewritten."""
    stat = path.stat()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"


def non_empty_chunks(staging: StagingLayout, kind: str, day: str) -> list[Path]:
    """The chunks of one kind and day that hold a row, by path."""
    return [p for p in staging.day_chunks(kind, day) if pq.ParquetFile(p).metadata.num_rows]


def matchable_days(entries: Iterable[dict]) -> set[str]:
    """Days whose staged predictions are, by the manifest ``entries``, one chunk of at least
    ``MATCHES_MIN_ROWS`` rows: the only days :func:`_write_matches` keeps matches for.
    Known beforehand, a backfill's small days skip opening their chunks once per labels file."""
    counts: dict[str, list[int]] = {}
    for entry in entries:
        if entry["kind"] == "predictions":
            for day, n_rows in entry["days"].items():
                if n_rows:
                    counts.setdefault(day, []).append(n_rows)
    return {day for day, n in counts.items() if len(n) == 1 and n[0] >= MATCHES_MIN_ROWS}


def _write_matches(
    staging: StagingLayout, day: str, file_id: str, prediction_rows: np.ndarray
) -> None:
    """For each row of a labels chunk, the row of the prediction it matched in the day's
    predictions chunk; written only while the day has one predictions chunk, with the
    stamps of both chunks, so that a later change of either makes it unusable."""
    predictions = non_empty_chunks(staging, "predictions", day)
    labels_chunk = staging.chunk("labels", day, file_id)
    if len(predictions) != 1 or pq.ParquetFile(predictions[0]).metadata.num_rows < MATCHES_MIN_ROWS:
        return
    stamps = {"predictions": chunk_stamp(predictions[0]), "labels": chunk_stamp(labels_chunk)}
    table = pa.table({"prediction_row": prediction_rows}).replace_schema_metadata(
        {MATCHES: json.dumps(stamps)}
    )
    with atomic_path(staging.chunk(MATCHES, day, file_id)) as tmp:
        pq.write_table(table, tmp, use_dictionary=False, write_statistics=False)


def staged_matches(store: Store, day: str) -> tuple[Path, dict[Path, np.ndarray]] | None:
    """The day's only predictions chunk and, for each of its labels chunks (path order),
    the row of that chunk each label matched when routed; ``None`` unless every labels
    chunk has matches made against the chunks as they are now."""
    staging = store.staging
    if not staging.day_folder(MATCHES, day).is_dir():  # the usual small day: nothing to read
        return None
    predictions = non_empty_chunks(staging, "predictions", day)
    labels = non_empty_chunks(staging, "labels", day)
    if len(predictions) != 1 or not labels:
        return None
    found = {}
    for chunk in labels:
        path = staging.day_folder(MATCHES, day) / chunk.name
        if not path.exists():
            return None
        try:  # a file torn by a crash is no matches
            reader = pq.ParquetFile(path)
            metadata = reader.schema_arrow.metadata or {}
            stamps = json.loads(metadata.get(MATCHES.encode(), b"{}"))
            expected = {"predictions": chunk_stamp(predictions[0]), "labels": chunk_stamp(chunk)}
            if stamps != expected:
                return None
            found[chunk] = reader.read(use_threads=False)["prediction_row"].to_numpy()
        except PARQUET_ERRORS:
            return None
    return predictions[0], found
