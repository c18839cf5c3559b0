"""A day's labeled predictions: its ``predictions`` table, and the latest label of each
prediction stored row-aligned beside it (``labels_aligned``), read as one table.

Writing only the two label columns spares re-encoding every prediction column, most of
a big day's labeled step. Every reader goes through :func:`labeled_day`, which gives the
table the whole file used to hold (same columns, order, types and pandas metadata). A
day built before this layout has a whole ``labeled_predictions`` file, read as it is.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guap_pipeline.errors import InputError
from guap_pipeline.store.store import Store, decode_threads

ALIGNED = "labels_aligned"
LEGACY = "labeled_predictions"  # the whole table, as days built before this layout hold it
LABEL_COLUMNS = ("y_true", "labeled_at")
_SCHEMA = b"guap.labeled_schema"  # the whole table's schema, serialized (base64)
_ALIGNED_WITH = b"guap.aligned_with"  # the predictions file the rows are aligned with
Identity = dict[str, object]  # a predictions file's rows and footer digest (_identity)


@dataclass(frozen=True)
class LabeledDay:
    """One day's labeled predictions: its files, opened (a run replacing them meanwhile
    cannot mix its rows into this read), and the table's schema."""

    predictions: pa.NativeFile | None  # None: every column is in ``labels`` (an older file)
    labels: pa.NativeFile
    schema: pa.Schema
    num_rows: int

    @property
    def names(self) -> list[str]:
        return self.schema.names

    def read(
        self, columns: Sequence[str] | None = None, *, read_dictionary: Sequence[str] = ()
    ) -> pa.Table:
        """The table (or the given columns, in the table's order), typed as stored;
        ``read_dictionary`` columns come dictionary-encoded, as Parquet's option gives them."""
        names = [n for n in self.names if columns is None or n in columns]
        found: dict[str, pa.ChunkedArray] = {}
        for source, wanted in self._sources(names):
            as_dictionary = [c for c in read_dictionary if c in wanted]
            reader = pq.ParquetFile(source, read_dictionary=as_dictionary)
            table = reader.read(columns=wanted, use_threads=decode_threads(reader))
            found.update(zip(table.column_names, table.columns, strict=True))
        fields, arrays = [], []
        for name in names:
            field, array = self.schema.field(name), found[name]
            if pa.types.is_dictionary(array.type):
                field = field.with_type(array.type)
            elif array.type != field.type:
                array = array.cast(field.type)
            fields.append(field)
            arrays.append(array)
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields, self.schema.metadata))

    def to_pandas(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """:meth:`read` as pandas gives it, the dtypes of the table's pandas metadata."""
        return self.read(columns).to_pandas()

    def label_batches(self, batch_size: int = 1 << 17) -> Iterator[pa.RecordBatch]:
        """The label columns in slices of rows (a big day's two columns, bounded memory)."""
        reader = pq.ParquetFile(self.labels)
        return reader.iter_batches(batch_size=batch_size, columns=list(LABEL_COLUMNS))

    def _sources(self, names: list[str]) -> list[tuple[pa.NativeFile, list[str]]]:
        """Which file holds which of ``names``."""
        if self.predictions is None:
            return [(self.labels, names)] if names else []
        own = [n for n in names if n in LABEL_COLUMNS]
        theirs = [n for n in names if n not in LABEL_COLUMNS]
        return [(f, c) for f, c in ((self.predictions, theirs), (self.labels, own)) if c]


class PredictionsReplaced(InputError):
    """Another run replaced the day's predictions while labels were built for them."""


class LabelsMisaligned(InputError):
    """The day's stored labels are aligned with another predictions file than its own."""


class _Misaligned(Exception):
    """The aligned labels were built against another predictions file than the one read."""


def labeled_day(store: Store, day: str) -> LabeledDay | None:
    """The day's labeled predictions; ``None`` when they were never built (or their
    predictions changed since: :func:`forget_labeled` removes them then).

    Another run may be rebuilding the day: it removes the labels, then replaces the
    predictions, then writes new labels. A read that met the old labels and the new
    predictions is done again, and finds none or the new pair; labels that still do not
    match their predictions file were paired with it by hand, and are refused."""
    for _ in range(2):
        try:
            return _opened(store, day)
        except _Misaligned:
            continue
    raise LabelsMisaligned(
        f"the labels of {day} ({store.path(ALIGNED, day)}) are not aligned with its "
        "predictions table (one was replaced or restored without the other): restore both "
        f"from the same backup, or delete {day}'s entry from {store.root / 'built_days.json'} "
        "and run `guap-pipeline run` to rebuild the day"
    )


def _opened(store: Store, day: str) -> LabeledDay | None:
    """:func:`labeled_day`'s files, opened; raises :class:`_Misaligned`."""
    labels = _open(store, ALIGNED, day)
    if labels is None:
        legacy = _open(store, LEGACY, day)
        if legacy is None:
            return None
        reader = pq.ParquetFile(legacy)
        return LabeledDay(None, legacy, reader.schema_arrow, reader.metadata.num_rows)
    reader = pq.ParquetFile(labels)
    meta = reader.schema_arrow.metadata or {}
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(meta[_SCHEMA])))
    predictions = _open(store, "predictions", day)
    if json.loads(meta[_ALIGNED_WITH]) != _identity(predictions):
        raise _Misaligned
    return LabeledDay(predictions, labels, schema, reader.metadata.num_rows)


def still_stored(store: Store, day: str, labeled: LabeledDay | None) -> bool:
    """Whether the store still holds the very files read as ``labeled`` (``None``: a day
    without predictions, and still without): no other run replaced them since. Every
    write renames a new file into place, so a replaced file is another file, whatever
    its content; the open handles keep the read ones from being reused meanwhile."""
    if labeled is None:
        return not has_predictions(store, day)
    table = ALIGNED if labeled.predictions is not None else LEGACY
    read = ((table, labeled.labels), ("predictions", labeled.predictions))
    return all(handle is None or _same_file(store.path(name, day), handle) for name, handle in read)


def _same_file(path: Path, handle: pa.NativeFile) -> bool:
    """Whether ``path`` names the file ``handle`` has open."""
    try:
        now = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)


def has_predictions(store: Store, day: str) -> bool:
    """Whether the day's predictions table holds a row."""
    predictions = _open(store, "predictions", day)
    if predictions is None:
        return False
    with predictions:
        return pq.ParquetFile(predictions).metadata.num_rows > 0


def labeled_days(store: Store) -> list[str]:
    """Sorted days that have labeled predictions, in either layout."""
    return sorted({*store.partitions(ALIGNED), *store.partitions(LEGACY)})


def read_labeled(store: Store, day: str) -> pd.DataFrame | None:
    """The day's labeled predictions as pandas (``None`` if not built), as ``store.read``
    gave them when they were one file."""
    found = labeled_day(store, day)
    return None if found is None else found.to_pandas()


def write_labels(
    store: Store, day: str, labels: pa.Table, schema: pa.Schema, built_from: Identity
) -> None:
    """Store the day's labeled predictions of ``schema``: ``labels`` holds the label
    columns of each row of the day's predictions table, in its row order, as that table
    was when the step began (``built_from``, :func:`predictions_identity`). Refused if
    another run replaced the table since: these labels would pair with its new rows."""
    if predictions_identity(store, day) != built_from:
        raise PredictionsReplaced(
            f"the predictions of {day} were replaced while its labels were being built "
            "(another run is building the same day): run `guap-pipeline run` again"
        )
    rows = int(built_from["rows"])
    if labels.num_rows != rows:
        raise InputError(f"{labels.num_rows} label rows for {rows} predictions of {day}")
    columns = [
        pa.nulls(rows) if pa.types.is_null(f.type) else labels[f.name].cast(f.type)
        for f in (schema.field(c) for c in LABEL_COLUMNS)
    ]
    own = pa.schema(
        [schema.field(c) for c in LABEL_COLUMNS],
        {
            _SCHEMA: base64.b64encode(schema.serialize().to_pybytes()),
            _ALIGNED_WITH: json.dumps(built_from).encode(),
        },
    )
    store.write(ALIGNED, pa.Table.from_arrays(columns, schema=own), day)
    store.delete(LEGACY, day)


def write_labeled_frame(
    store: Store, day: str, labeled: pd.DataFrame, built_from: Identity
) -> None:
    """:func:`write_labels` from the whole labeled frame (the day's predictions with their
    label columns, in the stored predictions' row order)."""
    schema = pa.Schema.from_pandas(labeled, preserve_index=False)
    labels = pa.Table.from_pandas(labeled[list(LABEL_COLUMNS)], preserve_index=False)
    write_labels(store, day, labels, schema, built_from)


def predictions_identity(store: Store, day: str) -> Identity:
    """The identity of the day's predictions table as it is now (:func:`_identity`); a
    labeled step takes it before reading the table, and writes its labels with it."""
    predictions = _open(store, "predictions", day)
    if predictions is None:
        return _identity(None)
    with predictions:
        return _identity(predictions)


def forget_labeled(store: Store, day: str) -> None:
    """Remove the day's labeled predictions (before its predictions table is replaced:
    labels aligned with the old rows must not be read against the new ones)."""
    store.delete(ALIGNED, day)
    store.delete(LEGACY, day)


def _open(store: Store, table: str, day: str) -> pa.NativeFile | None:
    """The day's file of ``table``, opened; ``None`` if there is none."""
    try:
        return pa.OSFile(str(store.path(table, day)))
    except FileNotFoundError:
        return None


def _identity(predictions: pa.NativeFile | None) -> Identity:
    """What identifies a predictions file's content: its rows and a digest of its Parquet
    footer (which holds every column chunk's offset and size). Survives copies and
    hard links; changes when the file is rewritten with other rows."""
    if predictions is None:
        return {"rows": 0, "footer": None}
    end = predictions.size()
    size = int.from_bytes(predictions.read_at(4, end - 8), "little")
    footer = predictions.read_at(size, end - 8 - size)
    rows = pq.ParquetFile(predictions).metadata.num_rows
    return {"rows": rows, "footer": hashlib.sha256(footer).hexdigest()}
