"""Read one landing file, Parquet or CSV whatever its name, into a frame of raw rows.

The format is decided by content, not by file name: Parquet starts with ``PAR1``;
anything else that decodes as text is read as CSV with every column as a string, so
that a bad value becomes one quarantined row later instead of a failed file. A file
that is neither raises :class:`InputError` naming the file.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guap_pipeline.errors import InputError

PARQUET_MAGIC = b"PAR1"
# Column added to every raw frame: the 1-based row number in the source file.
ROW = "_row"
# Rows a CSV reader could not split into the header's columns, kept for quarantine.
BAD_LINES = "_bad_line"


def read_landing_file(path: Path) -> pd.DataFrame:
    """Raw rows of a landing file plus ``_row``; CSV lines with a wrong field count get
    ``_bad_line`` set to the line text (and no other values)."""
    with path.open("rb") as handle:
        head = handle.read(8192)
    if not head:
        return pd.DataFrame({ROW: pd.Series([], dtype="int64")})
    if head.startswith(PARQUET_MAGIC):
        frame = _read_parquet(path)
    elif b"\x00" in head:
        raise InputError(f"{path.name}: not a Parquet or CSV file (binary content)")
    else:
        frame = _read_csv(path)
    if ROW not in frame.columns:
        frame.insert(len(frame.columns), ROW, range(1, len(frame) + 1))
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path.name}: unreadable Parquet file ({exc})") from None
    return table.to_pandas()


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _read_csv(path: Path) -> pd.DataFrame:
    text = _decode(path)
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except pd.errors.ParserError:
        return _read_csv_keeping_bad_lines(text)


def _read_csv_keeping_bad_lines(text: str) -> pd.DataFrame:
    """Slow path for CSVs with stray delimiters: keep every line, mark the bad ones."""
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    good, bad, good_rows, bad_rows = [], [], [], []
    for number, fields in enumerate(body, start=1):
        if len(fields) == len(header):
            good.append(fields)
            good_rows.append(number)
        elif fields:
            bad.append(",".join(fields))
            bad_rows.append(number)
    frame = pd.DataFrame(good, columns=header, dtype=str).replace("", None)
    frame[ROW] = good_rows
    if bad:
        frame = pd.concat(
            [frame, pd.DataFrame({ROW: bad_rows, BAD_LINES: bad})], ignore_index=True
        ).sort_values(ROW, ignore_index=True)
    return frame
