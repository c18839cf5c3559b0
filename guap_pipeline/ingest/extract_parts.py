"""How an extract's rows become Parquet parts: PostgreSQL ``COPY`` parsed by Arrow, or a
server-side cursor in slices (any database), with the column types each path keeps.

Called by :func:`guap_pipeline.ingest.database._write_extract`, which owns the extract's
folder, its hidden names and the errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import sqlalchemy as sa

from guap_pipeline.errors import GuapError
from guap_pipeline.source_config import DatabaseSource, TableRead

# Arrow types of the PostgreSQL types COPY writes as text (pg_type OIDs); others: text.
_PG_TYPES = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int64(),
    23: pa.int64(),
    700: pa.float64(),
    701: pa.float64(),
    1700: pa.float64(),  # numeric: amounts, as float like the cursor path
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}


def _copy_part(
    connection: sa.Connection, source: DatabaseSource, read: TableRead, query: sa.Select, part: Path
) -> int | None:
    """The rows of ``query`` into one Parquet file through ``COPY ... TO STDOUT``, in row
    groups of ``slice_rows``; rows read, or ``None`` (nothing written) when Arrow cannot
    parse a value of the CSV."""
    compiled = query.compile(dialect=connection.dialect)
    raw = connection.connection.dbapi_connection
    csv_path = part.with_suffix(".csv")
    with raw.cursor() as cursor:
        select = cursor.mogrify(str(compiled), compiled.params).decode()
        cursor.execute(f"SELECT * FROM ({select}) AS guap_rows LIMIT 0")
        names = [column.name for column in cursor.description]
        _refuse_twice(names, read)
        types = {c.name: _PG_TYPES.get(c.type_code, pa.string()) for c in cursor.description}
        try:
            with csv_path.open("wb") as sink:
                cursor.copy_expert(f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", sink)
            return _csv_to_parquet(csv_path, names, types, part, group_rows=source.slice_rows)
        except pa.ArrowInvalid:
            part.unlink(missing_ok=True)
            return None
        finally:
            csv_path.unlink(missing_ok=True)


def _csv_to_parquet(
    csv_path: Path, names: list[str], types: dict, part: Path, *, group_rows: int
) -> int:
    """COPY's CSV (NULL unquoted and empty, booleans t/f) streamed into Parquet, in row
    groups of about ``group_rows``.

    Arrow's reader keeps its default 1 MiB blocks (~14,000 rows): with 4 MiB blocks the
    peak memory grew with the file (benchmarks/README.md), with 1 MiB it does not.
    """
    reader = pcsv.open_csv(
        csv_path,
        read_options=pcsv.ReadOptions(column_names=names),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            column_types=types,
            true_values=["t"],
            false_values=["f"],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    rows, group = 0, []
    with pq.ParquetWriter(part, reader.schema) as writer:
        for batch in reader:
            group.append(batch)
            rows += batch.num_rows
            if sum(b.num_rows for b in group) >= group_rows:
                writer.write_table(pa.Table.from_batches(group))
                group = []
        if group:
            writer.write_table(pa.Table.from_batches(group))
    if not rows:
        part.unlink()
    return rows


def _cursor_parts(
    connection: sa.Connection,
    source: DatabaseSource,
    read: TableRead,
    query: sa.Select,
    extract: tuple[Path, int],
) -> tuple[int, list[Path]]:
    """The rows of ``query`` through a server-side cursor, ``slice_rows`` at a time, into
    Parquet: one file while the column types agree (a column all null in a slice takes
    the file's type), the next part when a type changes. Rows read, and the parts."""
    parts: list[Path] = []
    writer: pq.ParquetWriter | None = None
    rows, complete = 0, False
    try:
        result = connection.execute(query.execution_options(yield_per=source.slice_rows))
        names = list(result.keys())
        _refuse_twice(names, read)
        for slice_rows in result.partitions():
            table = _arrow_slice(names, slice_rows)
            rows += table.num_rows
            if writer is not None and table.schema != writer.schema:
                fitted = _fitted(table, writer.schema)
                if fitted is None:
                    writer.close()
                    writer = None
                else:
                    table = fitted
            if writer is None:
                parts.append(_part(*extract, len(parts)))
                writer = pq.ParquetWriter(parts[-1], table.schema)
            writer.write_table(table)
        complete = True
    finally:
        if writer is not None:
            writer.close()
        if not complete:
            for part in parts:
                part.unlink(missing_ok=True)
    return rows, parts


def _part(folder: Path, extract: int, index: int) -> Path:
    """Where part ``index`` of an extract is written (hidden until it is complete)."""
    return folder / f".{extract:06d}-{index:03d}.parquet"


def _refuse_twice(names: list[str], read: TableRead) -> None:
    """Two columns of one name cannot both be kept: say which, rather than drop one."""
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise GuapError(f"{read.definition} (source.{read.kind}) returns column(s) {twice} twice")


def _arrow_slice(names: list[str], rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Rows from the driver as an Arrow table of plain columns (what staging reads in
    batches): decimals as floats, zoned times in UTC, anything Arrow cannot hold as text."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.Table.from_arrays([_arrow_column(values) for values in columns], names=names)


def _arrow_column(values: Sequence[Any]) -> pa.Array:
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    if pa.types.is_decimal(array.type):
        return array.cast(pa.float64())
    if pa.types.is_timestamp(array.type) and array.type.tz is not None:
        return array.cast(pa.timestamp("us", tz="UTC"))
    return array


def _fitted(table: pa.Table, schema: pa.Schema) -> pa.Table | None:
    """``table`` cast to ``schema`` if it differs only by columns that are all null."""
    if table.schema.names != schema.names:
        return None
    for got, want in zip(table.schema, schema, strict=True):
        if got.type != want.type and not pa.types.is_null(got.type):
            return None
    return table.cast(schema)
