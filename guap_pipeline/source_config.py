"""The ``source:`` section of ``guap.yaml``: where predictions and labels come from.

By default (no ``source:``, or ``kind: landing``) they are files in the ``landing:``
folder. ``kind: database`` reads them from a database instead, incrementally: each of
``predictions`` and ``labels`` names a ``table`` (or a ``query``) and a ``watermark``
column that grows as rows are written, and each run reads only the rows above the
watermark the last run reached (:mod:`guap_pipeline.ingest.database`). The database's URL,
password included, lives in the environment variable ``url_env`` names: the file only
names the variable (SPEC: environment variables hold secrets).

This module only validates the section; it imports nothing heavier than the errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from guap_pipeline.errors import ConfigError

SOURCE_KINDS: tuple[str, ...] = ("landing", "database")
DEFAULT_URL_ENV = "GUAP_SOURCE_URL"
# Rows fetched from the database and written at a time: bounds the memory of a read.
DEFAULT_SLICE_ROWS = 100_000
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE_NAME = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$")


@dataclass(frozen=True)
class TableRead:
    """What to read for one kind of rows: a ``table`` (``name`` or ``schema.name``) or a
    ``query`` (one SELECT), and the ``watermark`` column (its name in the database) that
    tells which rows are new."""

    kind: str
    watermark: str
    table: str | None = None
    query: str | None = None

    @property
    def definition(self) -> str:
        """What was read, for messages and for noticing a change between runs."""
        return f"table {self.table}" if self.table else f"query {self.query}"

    @property
    def schema_and_name(self) -> tuple[str | None, str]:
        """The table's schema (``None``: the default one) and name."""
        schema, _, name = (self.table or "").rpartition(".")
        return schema or None, name


@dataclass(frozen=True)
class DatabaseSource:
    """A database holding predictions and labels, read through SQLAlchemy."""

    url_env: str
    predictions: TableRead
    labels: TableRead
    slice_rows: int = DEFAULT_SLICE_ROWS

    @property
    def reads(self) -> tuple[TableRead, TableRead]:
        return self.predictions, self.labels


def parse_source(raw: object) -> DatabaseSource | None:
    """Validate ``source:``; ``None`` means the landing folder (the default)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "source", f"expected a mapping with kind: landing | database, got {raw!r}"
        )
    kind = raw.get("kind", "landing")
    if kind not in SOURCE_KINDS:
        raise ConfigError("source.kind", f"expected one of {list(SOURCE_KINDS)}, got {kind!r}")
    allowed = {"kind"} if kind == "landing" else {"kind", "url_env", "predictions", "labels"}
    allowed |= {"slice_rows"} if kind == "database" else set()
    unknown = sorted(str(k) for k in set(raw) - allowed)
    if unknown:
        raise ConfigError(f"source.{unknown[0]}", f"unknown key; allowed: {sorted(allowed)}")
    if kind == "landing":
        return None
    url_env = raw.get("url_env", DEFAULT_URL_ENV)
    if not isinstance(url_env, str) or not _ENV_NAME.match(url_env):
        # Never echo the value: someone may have pasted the URL, password and all.
        raise ConfigError(
            "source.url_env",
            "expected the NAME of an environment variable (such as GUAP_SOURCE_URL) that "
            "holds the database URL; the URL itself never goes in guap.yaml",
        )
    slice_rows = raw.get("slice_rows", DEFAULT_SLICE_ROWS)
    if isinstance(slice_rows, bool) or not isinstance(slice_rows, int) or slice_rows < 1:
        raise ConfigError("source.slice_rows", f"expected a whole number >= 1, got {slice_rows!r}")
    return DatabaseSource(
        url_env=url_env,
        predictions=_table_read(raw.get("predictions"), "predictions"),
        labels=_table_read(raw.get("labels"), "labels"),
        slice_rows=slice_rows,
    )


def _table_read(raw: object, kind: str) -> TableRead:
    name = f"source.{kind}"
    if not isinstance(raw, Mapping):
        raise ConfigError(name, f"required: {{table: ..., watermark: ...}} or a query, got {raw!r}")
    unknown = sorted(str(k) for k in set(raw) - {"table", "query", "watermark"})
    if unknown:
        raise ConfigError(f"{name}.{unknown[0]}", "unknown key; allowed: table, query, watermark")
    table, query, watermark = raw.get("table"), raw.get("query"), raw.get("watermark")
    if (table is None) == (query is None):
        raise ConfigError(name, "give either a table or a query (one of them)")
    if table is not None and (not isinstance(table, str) or not _TABLE_NAME.match(table)):
        raise ConfigError(f"{name}.table", f"expected a table name or schema.table, got {table!r}")
    if query is not None:
        if not isinstance(query, str) or not query.strip():
            raise ConfigError(f"{name}.query", f"expected one SELECT statement, got {query!r}")
        query = query.strip().rstrip(";").strip()
    if not isinstance(watermark, str) or not watermark.strip():
        raise ConfigError(
            f"{name}.watermark",
            "required: the column (time or ingestion order) that grows as rows are written, "
            f"got {watermark!r}",
        )
    return TableRead(kind=kind, watermark=watermark, table=table, query=query)
