"""Read predictions and labels from a database, incrementally, into the staging machinery.

For each kind (predictions, then labels) a run fixes an upper bound first, the largest
watermark above the one the last run reached, then streams the rows between the two
through a server-side cursor, ``slice_rows`` at a time, into Parquet *extracts* under
``<storage>/source/<kind>/``. Those extracts are staged exactly as landing files are
(:func:`guap_pipeline.ingest.staging.stage_landing` on that folder): the same validation and
quarantine, labels routed to their prediction's day, and only the days they touch
rebuilt. A label changed in the database is seen only if its watermark grows too (an
``updated_at`` column); it then lands in a newer extract, and the latest label wins.

The new watermark is saved only once its extract is complete: after a crash, the next
run reads the same rows again into the same extract name. The URL (password included)
is read from the environment when connecting and never written anywhere; what the
driver says about a failure is passed on with the password cut out. The connection is
read-only on PostgreSQL: the tool never writes to the source database.
"""

from __future__ import annotations

import datetime as dt
import os
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from guap_pipeline.config import GuapConfig
from guap_pipeline.errors import GuapError
from guap_pipeline.ingest.extract_parts import _copy_part, _cursor_parts, _part, _refuse_twice
from guap_pipeline.ingest.stage_report import StageReport
from guap_pipeline.ingest.staging import STAGING_LOCK_SECONDS, pending_changes, stage_landing
from guap_pipeline.source_config import DatabaseSource, TableRead
from guap_pipeline.store.store import Store

STATE = "database_source"  # per kind: what was read, the watermark reached, the last extract
EXTRACTS = "source"  # <storage>/source/<kind>/<extract>-<part>.parquet
CONNECT_TIMEOUT_SECONDS = 10


def stage_input(config: GuapConfig, store: Store) -> StageReport:
    """Stage the rows new in the config's database: read into extracts first, then staged
    as landing files (``pulled`` in the report counts them per kind)."""
    with store.lock(STATE, timeout=STAGING_LOCK_SECONDS):
        pulled = pull(config.source, store)
    report = stage_landing(extract_config(config, store), store)
    report.pulled = pulled
    return report


def input_changes(config: GuapConfig, store: Store) -> dict[str, list[str]]:
    """What waits to be staged from the config's database: extracts left by a crash, and
    (under ``database``) each kind with rows above its watermark."""
    changes = pending_changes(extract_config(config, store), store)  # left by a crash
    state = store.read_json(STATE, {})
    with connected(config.source) as connection:
        new = []
        for read in config.source.reads:
            last = _last_watermark(state, read)
            upper = _upper_bound(connection, config.source, read, last)
            if upper is not None:
                _encode(upper, read)  # refused here, before a run: one line, no traceback
                names = connection.execute(_bounded_rows(connection, read, last, upper).limit(0))
                _refuse_twice(list(names.keys()), read)
                new.append(f"{read.kind} up to {upper}")
    return {**changes, "database": new}


def extract_config(config: GuapConfig, store: Store) -> GuapConfig:
    """The config with the extracts folder as its landing folder (created if missing)."""
    folder = store.root / EXTRACTS
    for kind in ("predictions", "labels"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
    return replace(config, landing=folder)


def pull(source: DatabaseSource, store: Store) -> dict[str, int]:
    """Read every kind's rows above its watermark into a new extract; rows read per kind."""
    state = store.read_json(STATE, {})
    pulled = {}
    with connected(source) as connection:
        for read in source.reads:
            last = _last_watermark(state, read)
            upper = _upper_bound(connection, source, read, last)
            pulled[read.kind] = 0
            if upper is None:
                continue
            entry = state.get(read.kind, {})
            extract = entry.get("extract", 0) + 1
            folder = store.root / EXTRACTS / read.kind
            rows = _write_extract(connection, source, read, (last, upper), folder, extract)
            state[read.kind] = {
                "definition": read.definition,
                "watermark": _encode(upper, read),
                "extract": extract,
                "rows": entry.get("rows", 0) + rows,
            }
            store.write_json(STATE, state)
            pulled[read.kind] = rows
    return pulled


def _last_watermark(state: dict, read: TableRead) -> Any:
    """The watermark the last run reached for this kind (``None``: read from the start).

    Refuses a table or query other than the one the watermark was reached on: the rows
    already read would be read again, or others skipped.
    """
    entry = state.get(read.kind)
    if entry is None:
        return None
    if entry["definition"] != read.definition:
        raise GuapError(
            f"source.{read.kind} changed since the last run ({entry['definition']} -> "
            f"{read.definition}): its watermark does not apply to the new one. To read the "
            f"new one from the start, delete the store's {EXTRACTS}/ folder and "
            f"{STATE}.json, then run again"
        )
    return _decode(entry["watermark"])


# ---------------------------------------------------------------------------------------
# Connecting, and saying what went wrong without the password.


@contextmanager
def connected(source: DatabaseSource) -> Iterator[sa.Connection]:
    """A connection to the source database (read-only on PostgreSQL); every failure is
    one :class:`GuapError` naming the environment variable, never showing the password."""
    url = os.environ.get(source.url_env, "")
    if not url.strip():
        raise GuapError(
            f"environment variable {source.url_env} is not set: it must hold the SQLAlchemy "
            "URL of the database that guap.yaml's source: reads "
            "(e.g. postgresql+psycopg2://reader:PASSWORD@host:5432/database)"
        )
    secrets = _secrets(url)
    try:
        parsed = sa.engine.make_url(url)
        postgres = parsed.get_backend_name() == "postgresql"
        connect_args = (
            {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
            if postgres and "connect_timeout" not in parsed.query
            else {}
        )
        engine = sa.create_engine(parsed, poolclass=sa.pool.NullPool, connect_args=connect_args)
    except sa.exc.ArgumentError:
        raise GuapError(
            f"the value of {source.url_env} is not a database URL SQLAlchemy can read "
            "(expected dialect+driver://user:password@host:port/database)"
        ) from None
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        raise GuapError(
            f"the database URL in {source.url_env} needs a driver that is not installed "
            f"({_scrub(str(exc), secrets)}); for PostgreSQL: pip install 'guap-pipeline[postgres]'"
        ) from None
    try:
        try:
            connection = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise GuapError(
                f"cannot connect to the database in {source.url_env}: "
                f"{_driver_message(exc, secrets)}"
            ) from None
        with connection:
            if postgres:
                connection = connection.execution_options(postgresql_readonly=True)
            try:
                yield connection
            except sa.exc.DBAPIError as exc:
                raise GuapError(
                    f"the database in {source.url_env} failed: {_driver_message(exc, secrets)}"
                ) from None
    finally:
        engine.dispose()


def _secrets(url: str) -> list[str]:
    """Text that must never be shown: the URL, its password, as written and as decoded."""
    found = {url}
    try:
        password = sa.engine.make_url(url).password
    except sa.exc.ArgumentError:
        password = None
    if password:
        found |= {
            password,
            urllib.parse.quote(password, safe=""),
            urllib.parse.quote_plus(password),
        }
    return sorted(found, key=len, reverse=True)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _driver_message(exc: BaseException, secrets: Sequence[str]) -> str:
    """The first line of what the database driver said, without the password."""
    said = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(said).strip().splitlines() if line.strip()]
    return _scrub(lines[0] if lines else type(said).__name__, secrets)


# ---------------------------------------------------------------------------------------
# Reading one kind: the upper bound, then the rows in slices.


def _selectable(connection: sa.Connection, read: TableRead) -> sa.FromClause:
    """The table (checked to exist) or the query, as something to select from."""
    if read.query is not None:
        return sa.text(read.query).columns(sa.column(read.watermark)).subquery("guap_source")
    schema, name = read.schema_and_name
    if not sa.inspect(connection).has_table(name, schema=schema):
        raise GuapError(
            f"table {read.table} (source.{read.kind}.table) not found in the database: "
            "check its name and schema, and that the reading role may see it "
            f"(GRANT USAGE ON SCHEMA ... / GRANT SELECT ON {read.table} TO the role)"
        )
    return sa.table(name, sa.column(read.watermark), schema=schema)


def _upper_bound(
    connection: sa.Connection, source: DatabaseSource, read: TableRead, last: Any
) -> Any:
    """The largest watermark above ``last`` (``None``: no new rows)."""
    selectable = _selectable(connection, read)
    watermark = selectable.c[read.watermark]
    query = sa.select(sa.func.max(watermark)).select_from(selectable)
    if last is not None:
        query = query.where(watermark > last)
    try:
        return connection.execute(query).scalar()
    except sa.exc.DBAPIError as exc:
        raise GuapError(
            f"cannot read {read.definition} (source.{read.kind}) from the database in "
            f"{source.url_env}: {_driver_message(exc, _secrets(os.environ[source.url_env]))}"
        ) from None


def _bounded_rows(connection: sa.Connection, read: TableRead, last: Any, upper: Any) -> sa.Select:
    """Every column of the rows with ``last < watermark <= upper``."""
    selectable = _selectable(connection, read)
    watermark = selectable.c[read.watermark]
    bounded = watermark <= upper if last is None else sa.and_(watermark > last, watermark <= upper)
    return sa.select(sa.literal_column("*")).select_from(selectable).where(bounded)


def _write_extract(
    connection: sa.Connection,
    source: DatabaseSource,
    read: TableRead,
    bounds: tuple[Any, Any],
    folder: Path,
    extract: int,
) -> int:
    """Read the rows with ``last < watermark <= upper`` into extract files; rows read.

    PostgreSQL through psycopg2: one ``COPY ... TO STDOUT`` (CSV, into a temporary file)
    parsed by Arrow with the column types the server reports; elsewhere, or if Arrow
    cannot parse a value, a server-side cursor in slices (:func:`_cursor_parts`). Parts
    are written under hidden names and renamed only once all are complete.
    """
    last, upper = bounds
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in [*folder.glob(f"{extract:06d}-*"), *folder.glob(f".{extract:06d}-*")]:
        leftover.unlink()  # a crashed attempt at this extract
    query = _bounded_rows(connection, read, last, upper)
    part = _part(folder, extract, 0)
    parts: list[Path] = []
    try:
        rows = None
        if connection.dialect.driver == "psycopg2":
            rows = _copy_part(connection, source, read, query, part)
            parts = [part] if rows else []
        if rows is None:
            rows, parts = _cursor_parts(connection, source, read, query, (folder, extract))
    except (sa.exc.DBAPIError, connection.dialect.loaded_dbapi.Error) as exc:
        for path in [part, *parts]:
            path.unlink(missing_ok=True)
        raise GuapError(
            f"cannot read {read.definition} (source.{read.kind}) from the database in "
            f"{source.url_env}: {_driver_message(exc, _secrets(os.environ[source.url_env]))}"
        ) from None
    for path in parts:
        path.replace(path.with_name(path.name[1:]))
    return rows


def _encode(value: Any, read: TableRead) -> dict[str, Any]:
    """A watermark as JSON, with its type, so that the next run binds the same value."""
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, int | float | str):
        return {"value": value}
    raise GuapError(
        f"watermark {read.watermark} of {read.definition} (source.{read.kind}) holds "
        f"{type(value).__name__} values: use a time, a number or a text column"
    )


def _decode(encoded: dict[str, Any]) -> Any:
    [(kind, value)] = encoded.items()
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "decimal":
        return Decimal(value)
    return value
