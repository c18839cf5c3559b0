"""Landing values as typed columns: class codes (with the config's class values),
timestamps in UTC, local days, text without surrounding whitespace, ids in the store's
type. Validation builds its kept rows from these; the money and the estimate read class
codes through them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from guap_pipeline.config import GuapConfig
from guap_pipeline.errors import InputError
from guap_pipeline.value_matrix import integer_codes

# How a store keeps prediction ids: as text, which every id has, or as int64 when every
# landing file has integer ids (database keys): the staging's join and the day's tables
# then work on integers, ~30 % less time on a big day (benchmarks/README.md).
TEXT_IDS = "string"
INTEGER_IDS = "int64"


def class_codes(values: pd.Series, classes: Sequence[Hashable]) -> np.ndarray:
    """Position of each value in ``classes``; -1 where null or not a declared class.

    Integer classes match numerically (``"1"``, ``1`` and ``1.0`` are class 1); string
    classes match the stripped text.
    """
    if all(isinstance(c, int) for c in classes):
        if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu":
            return integer_codes(values.to_numpy(), classes)  # already integers: no conversion
        number = pd.to_numeric(values, errors="coerce")
        number = number.where(number == np.floor(number))
        return pd.Index(list(classes)).get_indexer(number)
    text = values.astype("string").str.strip()
    return pd.Index([str(c) for c in classes]).get_indexer(text)


def _with_class_values(codes: np.ndarray, values: pd.Series, config: GuapConfig) -> np.ndarray:
    """``codes`` where each value ``config.class_values`` names (``yes``, ``true``, a
    Parquet boolean, a number) gets the code of its class. Booleans match any case."""
    text = values.astype("string").str.strip()
    numbers = None
    classes = list(config.classes)
    for value, target in config.class_values.items():
        if isinstance(value, bool):
            match = text.str.lower() == str(value).lower()
        elif isinstance(value, int):
            numbers = pd.to_numeric(text, errors="coerce") if numbers is None else numbers
            match = numbers == value
        else:
            match = text == value
        codes[match.fillna(False).to_numpy(dtype=bool)] = classes.index(target)
    return codes


def _timestamps(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values):
        return values.dt.tz_localize("UTC")
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")


def _utc_values(stamps: pd.Series) -> pd.api.extensions.ExtensionArray:
    """UTC timestamps as a tz-aware array, without a detour through Python objects.

    Keeps the unit of the source (as converting Timestamp objects would); an all-missing
    column becomes ``datetime64[s, UTC]``, which is what that conversion gives.
    """
    if len(stamps) and stamps.notna().any():
        return stamps.array
    return pd.array(np.full(len(stamps), np.datetime64("NaT"), "datetime64[s]")).tz_localize("UTC")


def local_days(timestamps: pd.Series, timezone: str) -> pd.Series:
    """ISO date of each UTC timestamp in ``timezone`` (DST-safe); formats each day once,
    and repeats it without a per-row cast when every timestamp falls on one day."""
    local = timestamps.dt.tz_convert(timezone).dt.tz_localize(None).to_numpy()
    day = local.astype("datetime64[D]")  # floors, like ``floor("D")``; NaT stays NaT
    missing = np.isnat(day)
    if len(day) and not missing.any() and day.min() == day.max():
        label = str(np.datetime_as_string(day[0], unit="D"))
        days = pa.repeat(pa.scalar(label, pa.large_string()), len(day))
    else:
        codes, uniques = pd.factorize(day.view(np.int64))
        labels = np.datetime_as_string(uniques.astype("datetime64[D]"), unit="D").astype(object)
        indices = pa.array(codes.astype(np.int32), mask=missing)
        dictionary = pa.DictionaryArray.from_arrays(indices, pa.array(labels, pa.large_string()))
        days = dictionary.cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(days), index=timestamps.index)


def constant_text(value: str, n: int) -> pd.api.extensions.ExtensionArray:
    """``n`` times ``value`` as the ``str`` column a scalar assignment gives, repeated in
    Arrow (one copy of the bytes per row, and no per-row cast)."""
    return pd.array(pa.repeat(pa.scalar(value, pa.large_string()), n), dtype="str")


def stored_ids(values: pd.Series, id_type: str) -> pd.Series:
    """Ids in the store's type: int64 in a store of integer ids, else text without
    surrounding whitespace (an integer id's text is its decimal digits)."""
    if id_type == TEXT_IDS:
        return _stripped(values)
    if not pd.api.types.is_integer_dtype(values.dtype) or values.hasnans:
        raise InputError(
            f"its prediction_id column read as {values.dtype}, not as the integers without "
            "a gap its Parquet schema declared when the run began (was it replaced since?)"
        )
    return values.astype("int64")


def _stripped(values: pd.Series) -> pd.Series:
    """Values as text without surrounding whitespace. Stripping copies every value, so it
    is skipped when no value starts or ends with a byte that could be whitespace, and
    numbers (integer ids) are not even scanned: their text has none."""
    text = values.astype("string")
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf":
        return text
    column = pa.array(text.array)
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return text if all(_plain_edges(chunk) for chunk in chunks) else text.str.strip()


def _plain_edges(text: pa.Array) -> bool:
    """Whether the first and last byte of every non-empty value is printable ASCII other
    than a space (so no value has whitespace to strip), read from the Arrow buffers."""
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        return False
    width = np.dtype(np.int32 if pa.types.is_string(text.type) else np.int64)
    _, offsets_buffer, data_buffer = text.buffers()
    if data_buffer is None or not len(text):
        return True  # no bytes at all: every value is empty or missing
    offsets = np.frombuffer(
        offsets_buffer, dtype=width, count=len(text) + 1, offset=text.offset * width.itemsize
    )
    starts, ends = offsets[:-1], offsets[1:]
    filled = ends > starts
    if not filled.all():
        starts, ends = starts[filled], ends[filled]
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    # 0x21..0x7E, printable ASCII but space: below 0x5E once shifted down by 0x21 (wrapping)
    return all(
        bool((np.subtract(edge, 0x21, dtype=np.uint8) < 0x5E).all())
        for edge in (data[starts], data[ends - 1])
    )
