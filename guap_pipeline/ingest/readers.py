"""Read one landing file, Parquet or CSV whatever its name, into a frame of raw rows.

The format is decided by content, not by file name: Parquet starts with ``PAR1``;
anything else that decodes as text is read as CSV with every column as a string, so
that a bad value becomes one quarantined row later instead of a failed file. A file
that is neither raises :class:`InputError` naming the file.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guap_pipeline.errors import InputError
from guap_pipeline.store.store import decode_threads

PARQUET_MAGIC = b"PAR1"
# The bytes of a CSV file read to tell whether it brings ids: its header and a line.
CSV_PEEK_BYTES = 1 << 16
# What decoding a damaged Parquet file raises: Arrow's errors, and the ValueError
# (UnicodeDecodeError, JSONDecodeError), KeyError or TypeError of its pandas metadata.
PARQUET_ERRORS = (pa.ArrowException, OSError, ValueError, KeyError, TypeError, IndexError)
# Column added to every raw frame: the 1-based row number in the source file.
ROW = "_row"
# Rows a CSV reader could not split into the header's columns, kept for quarantine.
BAD_LINES = "_bad_line"
# Records the CSV parser cannot read at all, with its error, kept for quarantine.
BAD_CSV = "_bad_csv"
# The error of a line whose quote never closes (it would swallow the lines after it).
UNTERMINATED_QUOTE = "unterminated quote"


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
        raise InputError("not a Parquet or CSV file (binary content)")
    else:
        frame = _read_csv(path)
    if ROW not in frame.columns:
        frame.insert(len(frame.columns), ROW, range(1, len(frame) + 1))
    return frame


def iter_landing_file(
    path: Path, *, batch_rows: int, timestamp: str, whole_if_gaps: bool = False
) -> Iterator[pd.DataFrame]:
    """:func:`read_landing_file` in slices of ``batch_rows`` rows, to bound memory.

    A Parquet file of plain columns (text, numbers, a typed ``timestamp``) is read batch
    by batch, each converted as the whole file would be (an integer column with a missing
    value anywhere becomes float in every batch); anything else is read whole, and so is
    a ``timestamp`` with some values missing when ``whole_if_gaps`` (validation keeps the
    unit of such a column only if one of its valid rows has a value). Errors raise
    :class:`InputError` naming the file, possibly after some batches.
    """
    reader = _batch_reader(path, timestamp, whole_if_gaps)
    if reader is None:
        yield read_landing_file(path)
        return
    schema = reader.schema_arrow
    offset = 0
    try:
        floats = [
            i
            for i, f in enumerate(schema)
            if pa.types.is_integer(f.type) and _has_nulls(reader, path, f.name)
        ]
        batches = reader.iter_batches(batch_size=batch_rows, use_threads=decode_threads(reader))
        for batch in batches:
            table = pa.Table.from_batches([batch], schema=schema)
            table.validate(full=True)  # e.g. text that is not UTF-8: a damaged file
            for i in floats:
                table = table.set_column(i, schema[i].name, table[i].cast(pa.float64()))
            frame = table.to_pandas(split_blocks=True)  # no copy into 2-D blocks
            if ROW not in frame.columns:
                frame.insert(len(frame.columns), ROW, range(offset + 1, offset + len(frame) + 1))
            offset += len(frame)
            yield frame
    except PARQUET_ERRORS as exc:
        raise InputError(f"unreadable Parquet file ({_brief(exc)})") from None
    if offset == 0:
        yield read_landing_file(path)


def integer_ids(path: Path, column: str) -> bool:
    """Whether a landing file brings no id that is not an integer: Parquet whose ``column``
    is integers with none missing (read as int64: with one missing they read as floats),
    or a file without rows or without that column, or not readable at all. A CSV file's
    ids are text."""
    with path.open("rb") as handle:
        head = handle.read(CSV_PEEK_BYTES)
    if not head.startswith(PARQUET_MAGIC):
        return not _csv_has_ids(head, column)
    try:
        reader = pq.ParquetFile(path)
        index = reader.schema_arrow.get_field_index(column)
        if index < 0 or not reader.metadata.num_rows:
            return True
        kind = reader.schema_arrow.field(index).type
        fits = pa.types.is_integer(kind) and kind != pa.uint64()  # uint64 overflows int64
        return fits and not _has_nulls(reader, path, column)
    except PARQUET_ERRORS:
        return True  # unreadable: quarantined whole, no ids


def _csv_has_ids(head: bytes, column: str) -> bool:
    """Whether the start of a non-Parquet file is CSV text with ``column`` in its header
    and a line after it (binary content is rejected whole: no ids)."""
    if b"\x00" in head:
        return False
    lines = head.decode("utf-8-sig", errors="replace").splitlines()
    if len(lines) < 2 or not any(line.strip() for line in lines[1:]):
        return False
    header = next(csv.reader([lines[0]]), [])
    return column in (name.strip() for name in header)


def _batch_reader(path: Path, timestamp: str, whole_if_gaps: bool) -> pq.ParquetFile | None:
    """A reader for batches if the file is Parquet of plain columns, else ``None``."""
    with path.open("rb") as handle:
        if handle.read(len(PARQUET_MAGIC)) != PARQUET_MAGIC:
            return None
    try:
        return _plain_reader(pq.ParquetFile(path), path, timestamp, whole_if_gaps)
    except PARQUET_ERRORS:
        return None  # the whole-file reader reports it


def _plain_reader(
    reader: pq.ParquetFile, path: Path, timestamp: str, whole_if_gaps: bool
) -> pq.ParquetFile | None:
    """``reader`` if its columns can be read batch by batch (see :func:`_batch_reader`)."""
    for f in reader.schema_arrow:
        plain = (
            pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type)
            or pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type)
            or pa.types.is_timestamp(f.type)
        )
        if not plain or (f.name == timestamp and not pa.types.is_timestamp(f.type)):
            return None
    pandas = reader.schema_arrow.pandas_metadata or {}
    if any(isinstance(c, str) for c in pandas.get("index_columns", [])):
        return None  # an index stored as columns: read whole, as before
    if whole_if_gaps and timestamp in reader.schema_arrow.names:
        nulls = _null_count(reader, path, timestamp)
        if 0 < nulls < reader.metadata.num_rows:
            return None
    return reader


def _has_nulls(reader: pq.ParquetFile, path: Path, column: str) -> bool:
    return _null_count(reader, path, column) > 0


def _null_count(reader: pq.ParquetFile, path: Path, column: str) -> int:
    """Missing values of a column in the whole file (statistics, else the column)."""
    meta = reader.metadata
    index = reader.schema_arrow.get_field_index(column)
    counts = []
    physical = meta.schema.column(index).physical_type
    for group in range(meta.num_row_groups):
        chunk = meta.row_group(group).column(index)
        if chunk.physical_type != physical:  # pyarrow aborts the process on its statistics
            raise ValueError(f"column {column!r}: chunk type does not match the schema")
        stats = chunk.statistics
        if stats is None or not stats.has_null_count:
            return pq.read_table(path, columns=[column], use_threads=False)[column].null_count
        counts.append(stats.null_count)
    return int(sum(counts))


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
        table.validate(full=True)  # e.g. text that is not UTF-8: a damaged file
        return table.to_pandas()
    except PARQUET_ERRORS as exc:
        raise InputError(f"unreadable Parquet file ({_brief(exc)})") from None


def _brief(exc: BaseException) -> str:
    """An error's type and the start of its message, for a quarantine reason."""
    message = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _read_csv(path: Path) -> pd.DataFrame:
    """Every value as text; any line with too many fields, or a record spanning lines (a
    quote left open may have swallowed the lines after it), sends the file to the slow path.

    ``index_col=False``: without it pandas takes a first data line with one field too
    many as a sign that the file has an index column, and shifts every row by one column.
    """
    text = _decode(path)
    try:
        with warnings.catch_warnings():
            # "Length of header or names does not match": a first line too long, truncated
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], index_col=False
            )
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, pd.errors.ParserWarning):
        return _read_csv_keeping_bad_lines(text)
    return _read_csv_keeping_bad_lines(text) if _spans_lines(text, len(frame) + 1) else frame


def _spans_lines(text: str, records: int) -> bool:
    """Whether a text has more lines than its ``records`` (a record spans lines, or a
    line is blank). Each LF, CR LF or lone CR ends a line, as in pandas; CRs are counted
    only when the LFs alone do not match, to scan the text once in the usual case."""
    unended = not text.endswith(("\n", "\r"))
    lines = text.count("\n") + unended
    if lines == records:
        return False
    return lines + text.count("\r") - text.count("\r\n") > records


def _read_csv_keeping_bad_lines(text: str) -> pd.DataFrame:
    """Slow path for CSVs with stray delimiters: keep every line, mark those with too many
    fields (``_bad_line``) or that are not CSV at all (``_bad_csv``: the parser's error);
    a line with too few is read with its missing trailing values empty, as the fast path
    reads it."""
    records = _csv_records(text)
    header = next(records, None)
    if not isinstance(header, list):
        raise InputError(f"not a CSV file: its header cannot be read ({header})")
    good, bad, good_rows, bad_rows, broken = [], [], [], [], {}
    for number, fields in enumerate(records, start=1):
        if isinstance(fields, str):
            broken[number] = fields
        elif fields and len(fields) <= len(header):  # short: trailing values empty
            good.append(fields + [""] * (len(header) - len(fields)))
            good_rows.append(number)
        elif fields:
            bad.append(",".join(fields))
            bad_rows.append(number)
    frame = pd.DataFrame(good, columns=header, dtype=str).replace("", None)
    frame[ROW] = good_rows
    parts = [frame]
    if bad:
        parts.append(pd.DataFrame({ROW: bad_rows, BAD_LINES: bad}))
    if broken:
        parts.append(pd.DataFrame({ROW: list(broken), BAD_CSV: list(broken.values())}))
    if len(parts) == 1:
        return frame
    return pd.concat(parts, ignore_index=True).sort_values(ROW, ignore_index=True)


def _csv_records(text: str) -> Iterator[list[str] | str]:
    """Each CSV record's fields, or the problem with a record the parser cannot read (a
    field over the size limit, say); a lone CR ends a line, as in pandas.

    A quote left open swallows the lines after it into one record. When a record runs to
    the end of the text inside its quote, or spans lines and has not the header's number
    of fields or grows past the parser's field limit, its first line (where the quote
    opened) alone is the bad record, and the lines after it are read again.
    """
    lines = _Lines(text)
    reader = csv.reader(lines)
    width = None
    while True:
        lines.start_record()
        try:
            fields: list[str] | str = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            fields = str(exc)
        misfit = isinstance(fields, str) or (width is not None and len(fields) != width)
        if lines.ran_out or (len(lines.record) > 1 and misfit):
            yield UNTERMINATED_QUOTE
            lines.read_again(lines.record[1:])
            reader = csv.reader(lines)
            continue
        if width is None and isinstance(fields, list):
            width = len(fields)
        yield fields


class _Lines:
    """The physical lines of a text, fed to a ``csv.reader``: keeps the lines of the
    record being read, and can feed some of them again."""

    def __init__(self, text: str) -> None:
        self.source = io.StringIO(text, newline="")
        self.again: deque[str] = deque()
        self.record: list[str] = []
        self.ran_out = False  # the reader asked for a line past the end within a record

    def start_record(self) -> None:
        self.record, self.ran_out = [], False

    def read_again(self, lines: list[str]) -> None:
        self.again.extendleft(reversed(lines))

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.again.popleft() if self.again else self.source.readline()
        if not line:
            self.ran_out = bool(self.record)
            raise StopIteration
        self.record.append(line)
        return line
