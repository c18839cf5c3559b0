"""Row-level validation of landing files: every row is kept or quarantined with a reason.

A row's first failing check is its reason; checks are vectorised over the file. Kept
rows come out typed and normalised (ids in the store's type, timestamps in UTC, class labels
as declared in the config, the prediction day in the config's time zone).
Naive timestamps are read as UTC.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from guap_pipeline.config import GuapConfig
from guap_pipeline.ingest.columns import (
    TEXT_IDS,
    _stripped,
    _timestamps,
    _utc_values,
    _with_class_values,
    class_codes,
    constant_text,
    local_days,
    stored_ids,
)
from guap_pipeline.ingest.readers import BAD_CSV, BAD_LINES, ROW

QUARANTINE_COLUMNS: tuple[str, ...] = ("source", "kind", "row", "prediction_id", "reason", "record")
# The row number is an integer, every other column text.
_QUARANTINE_DTYPES = {c: "int64" if c == "row" else "string" for c in QUARANTINE_COLUMNS}
SOURCE = "_source"
BEFORE_START = "predicted before start_date"  # the reason, followed by the date
# Columns a reader adds to a landing file's rows: not the user's.
_INTERNAL = (ROW, BAD_LINES, BAD_CSV, SOURCE)
# A missing column's reason lists at most this many of the file's columns.
_LISTED_COLUMNS = 20
# A null y_pred: with a score column, a binary model's row is decided by the threshold.
_NO_PRED = "'y_pred' is missing"
_NO_DECISION = "'y_pred' is missing, and there is no 'score' to threshold"


class _Reasons:
    """The first failing check of each row (code 0 while the row is still good).

    ``raw`` has the user's column names; ``self.raw`` is the same rows under this tool's
    names (``config.columns``), and a missing column's reason names both.
    """

    def __init__(self, raw: pd.DataFrame, columns: Mapping[str, str]) -> None:
        self.file_columns = [c for c in raw.columns if c not in _INTERNAL]
        self.columns = columns
        self.raw = _in_tool_names(raw, columns)
        raw = self.raw
        self.codes = np.zeros(len(raw), dtype=np.int16)
        self.reasons: list[str | None] = [None]
        if BAD_CSV in raw.columns:
            for problem in raw[BAD_CSV].dropna().unique():
                reason = f"line is not valid CSV ({problem})"
                self.flag((raw[BAD_CSV] == problem).to_numpy(), reason)
        if BAD_LINES in raw.columns:
            self.flag(raw[BAD_LINES].notna().to_numpy(), "line has the wrong number of fields")

    def flag(self, mask: np.ndarray | pd.Series, reason: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        mask = mask & (self.codes == 0)
        self.reasons.append(reason)
        self.codes[mask] = len(self.reasons) - 1

    def require(self, column: str) -> pd.Series | None:
        """The column, or quarantine every row when the file lacks it."""
        if column not in self.raw.columns:
            self.flag(np.ones(len(self.raw), dtype=bool), self._no_column(column))
            return None
        series = self.raw[column]
        self.flag(series.isna().to_numpy(), f"'{column}' is missing")
        return series

    def _no_column(self, column: str) -> str:
        """Why a file lacking ``column`` is quarantined: the columns it has, the key to set."""
        named = self.columns.get(column, column)
        which = f"'{column}'" if named == column else f"'{named}' ({column})"
        shown = self.file_columns[:_LISTED_COLUMNS]
        more = len(self.file_columns) - len(shown)
        has = ", ".join(str(c) for c in shown) + (f", ... ({more} more)" if more else "")
        return (
            f"file has no {which} column (it has: {has or 'no columns'}); "
            f"set columns: {{{column}: <your column>}} in guap.yaml"
        )

    @property
    def good(self) -> np.ndarray:
        return self.codes == 0

    @property
    def values(self) -> np.ndarray:
        """The reason of each row, ``None`` for good rows."""
        return np.asarray(self.reasons, dtype=object)[self.codes]


def _in_tool_names(raw: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """``raw`` with its columns renamed from the user's names to this tool's (``columns``:
    tool name → file name). A file column that has a tool name ``columns`` gives to another
    column is dropped: it is not the column the config names."""
    tool_of = {file: tool for tool, file in columns.items()}
    shadowed = set(columns) - set(tool_of)
    if not any(c in tool_of or c in shadowed for c in raw.columns):
        return raw
    frame = raw.drop(columns=[c for c in raw.columns if c in shadowed and c not in tool_of])
    frame = frame.copy(deep=False)  # renaming must not touch the caller's frame
    frame.columns = [tool_of.get(c, c) for c in frame.columns]
    return frame


def _kept(values, good: np.ndarray, all_good: bool):
    """The good rows of a column; the column itself (no copy) when every row is good."""
    return values if all_good else values[good]


def _as_text(value: object) -> str:
    """A value of a quarantined record as text; never fails (a timestamp out of Python's
    range cannot be formatted)."""
    try:
        return str(value)
    except (ValueError, OverflowError, NotImplementedError):
        return f"<unprintable {type(value).__name__}>"


def empty_quarantine() -> pd.DataFrame:
    """A quarantine frame without rows, typed as one with rows (``row`` an integer, the
    rest text), so that an empty quarantine table has the same Arrow types as a full one."""
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _QUARANTINE_DTYPES.items()})


def quarantine_rows(
    *,
    source: object,
    kind: object,
    row: object,
    prediction_id: object,
    reason: object,
    record: object,
) -> pd.DataFrame:
    """Quarantine rows from their six columns (arrays, series or scalars), in the table's
    column order; the one builder of non-empty quarantine frames (types are the caller's)."""
    columns = {
        "source": source,
        "kind": kind,
        "row": row,
        "prediction_id": prediction_id,
        "reason": reason,
        "record": record,
    }
    return pd.DataFrame(columns, columns=list(QUARANTINE_COLUMNS))


def _records(rows: pd.DataFrame) -> list[str]:
    """Each row's values as a JSON object, missing values left out (a quarantined record)."""
    columns = [c for c in rows.columns if c not in (ROW, SOURCE)]
    values = rows[columns].astype(object).where(rows[columns].notna(), None)
    return [
        json.dumps({k: v for k, v in rec.items() if v is not None}, default=_as_text)
        for rec in values.to_dict("records")
    ]


def _quarantine(raw: pd.DataFrame, reasons: _Reasons, *, source: str, kind: str) -> pd.DataFrame:
    bad = ~reasons.good
    rows = raw.loc[bad] if bad.any() else raw.iloc[:0]  # usually none: no per-column work
    records = _records(rows) if len(rows) else []
    ids = rows["prediction_id"].astype("string") if "prediction_id" in rows else None
    return quarantine_rows(
        source=source,
        kind=kind,
        row=rows[ROW].to_numpy(dtype=np.int64),
        prediction_id=ids.to_numpy() if ids is not None else pd.NA,
        reason=np.asarray(reasons.reasons, dtype=object)[reasons.codes[bad]],
        record=records,
    ).astype({"source": "string", "kind": "string", "prediction_id": "string", "reason": "string"})


def _class_column(
    reasons: _Reasons, series: pd.Series, config: GuapConfig, name: str
) -> np.ndarray:
    """Class codes of a column of decisions or outcomes; quarantines unknown values."""
    codes = class_codes(series, config.classes)
    if config.class_values:
        codes = _with_class_values(codes, series, config)
    reasons.flag(codes < 0, f"'{name}' is not one of the classes {list(config.classes)}")
    return codes


def _labels(codes: np.ndarray, classes: Sequence[Hashable]) -> pd.Series:
    if all(isinstance(c, int) for c in classes):
        return pd.Series(np.asarray(list(classes), dtype=np.int64)[np.maximum(codes, 0)])
    return pd.Series(np.asarray(list(classes), dtype=object)[np.maximum(codes, 0)]).astype("string")


def validate_predictions(
    raw: pd.DataFrame, config: GuapConfig, *, source: str, id_type: str = TEXT_IDS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw prediction rows (the user's column names) into (valid typed rows, ids
    as ``id_type``; quarantine rows with reasons), both under this tool's column names."""
    reasons = _Reasons(raw, config.columns)
    raw = reasons.raw
    ids = reasons.require("prediction_id")
    stamps_raw = reasons.require("predicted_at")
    stamps = _timestamps(stamps_raw) if stamps_raw is not None else None
    if stamps is not None:
        reasons.flag(stamps.isna().to_numpy(), "'predicted_at' is not a timestamp")

    score = None
    if "score" in raw.columns:
        score = pd.to_numeric(raw["score"], errors="coerce").astype("float64")
        given = raw["score"].notna().to_numpy()
        reasons.flag(given & score.isna().to_numpy(), "'score' is not a number")
        reasons.flag(((score < 0) | (score > 1)).to_numpy(), "'score' is outside [0, 1]")

    if "y_pred" in raw.columns:
        pred_raw = raw["y_pred"]
        if score is not None and config.is_binary and pred_raw.isna().any():
            pred_raw = pred_raw.where(pred_raw.notna(), _threshold_decisions(score, config))
        thresholded = score is not None and config.is_binary
        reasons.flag(pred_raw.isna().to_numpy(), _NO_DECISION if thresholded else _NO_PRED)
        pred = _class_column(reasons, pred_raw, config, "y_pred")
    elif score is not None and config.is_binary:
        reasons.flag(score.isna().to_numpy(), "no 'y_pred' and no 'score' to threshold")
        pred = class_codes(_threshold_decisions(score, config), config.classes)
    else:
        reasons.require("y_pred")
        pred = np.zeros(len(raw), dtype=np.intp)

    extra: dict[str, pd.Series] = {}
    if config.baseline == "baseline_pred":
        base_raw = reasons.require("baseline_pred")
        if base_raw is not None:
            codes = _class_column(reasons, base_raw, config, "baseline_pred")
            extra["baseline_pred"] = _labels(codes, config.classes)
    for column in config.value_matrix.columns:
        values = reasons.require(column)
        if values is not None:
            number = pd.to_numeric(values, errors="coerce").astype("float64")
            reasons.flag(~np.isfinite(number.to_numpy()), f"'{column}' is not a finite number")
            extra[column] = number
    for column in config.segments:
        values = reasons.require(column)
        if values is not None:
            extra[column] = values.astype("string")

    days = local_days(stamps, config.timezone) if stamps is not None else None
    if days is not None:
        # ISO dates compare as text only with 4-digit years (and a day past 9999 names
        # no partition): such a row is out of range, not before start_date.
        long = _longer_than(days, len("9999-12-31"))
        if long.any():  # rare: years of 5+ digits, BC or AD
            after = ~days.str.startswith("-").fillna(True).to_numpy()
            reasons.flag(long & after, "'predicted_at' is after the year 9999")
        start = config.start_date.isoformat()
        reasons.flag((days < start).fillna(False).to_numpy(), f"{BEFORE_START} {start}")

    good = reasons.good
    quarantine = _quarantine(raw, reasons, source=source, kind="predictions")
    if not good.any():
        return empty_predictions(config), quarantine
    all_good = bool(good.all())

    def kept(values):
        return _kept(values, good, all_good)

    version = raw["model_version"] if "model_version" in raw.columns else None
    columns = {
        "prediction_id": stored_ids(kept(ids), id_type).array,
        "predicted_at": _utc_values(kept(stamps)),
        "date": kept(days).array,
        "model_version": (
            _stripped(kept(version)).fillna("default").replace("", "default").array
            if version is not None
            else "default"
        ),
        "y_pred": _labels(kept(pred), config.classes).to_numpy(),
    }
    if score is not None:
        columns["score"] = kept(score).to_numpy()
    for column, values in extra.items():
        columns[column] = kept(values).to_numpy()
    columns[SOURCE] = constant_text(source, len(columns["y_pred"]))
    columns[ROW] = kept(raw[ROW].to_numpy(dtype=np.int64))
    frame = pd.DataFrame(columns, copy=False)  # the columns are new or no longer needed
    return frame.astype(
        {"prediction_id": id_type, "date": "string", "model_version": "string"}
    ), quarantine


def _longer_than(text: pd.Series, size: int) -> np.ndarray:
    """Which values of a text column have more than ``size`` bytes (``False`` where
    missing), from the Arrow offsets: ``str.len`` builds a nullable integer per row."""
    lengths = pc.binary_length(pa.array(text.array))
    return np.asarray(pc.fill_null(pc.greater(lengths, size), False), dtype=bool)


def _threshold_decisions(score: pd.Series, config: GuapConfig) -> pd.Series:
    decided = np.where(score >= config.threshold, config.positive_class, config.negative_class)
    return pd.Series(decided, index=score.index, dtype=object).where(score.notna())


def empty_predictions(config: GuapConfig | None = None) -> pd.DataFrame:
    """Valid predictions with no rows, in the dtypes of valid rows (so that a day without
    predictions still has its keys to group by); ``y_pred`` as the config's classes give."""
    y_pred = (
        _labels(np.array([], dtype=np.intp), config.classes).to_numpy().dtype if config else object
    )
    return pd.DataFrame(
        {
            "prediction_id": pd.Series([], dtype="string"),
            "predicted_at": pd.Series([], dtype="datetime64[us, UTC]"),
            "date": pd.Series([], dtype="string"),
            "model_version": pd.Series([], dtype="string"),
            "y_pred": pd.Series([], dtype=y_pred),
            SOURCE: pd.Series([], dtype="str"),
            ROW: pd.Series([], dtype="int64"),
        }
    )


def missing_column(columns: list[str], config: GuapConfig, *, kind: str) -> str | None:
    """Why a file of these columns and no rows would be rejected: the reason its rows would
    get for a column it lacks, or ``None``. A header-only file is otherwise silent."""
    validate = validate_predictions if kind == "predictions" else validate_labels
    probe = pd.DataFrame({c: pd.Series([None], dtype="object") for c in columns})
    probe[ROW] = 1
    reasons = validate(probe, config, source="")[1]["reason"]
    lacking = [r for r in reasons if str(r).startswith("file has no ")]
    return lacking[0] if lacking else None


def validate_labels(
    raw: pd.DataFrame, config: GuapConfig, *, source: str, id_type: str = TEXT_IDS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw label rows (the user's column names) into (valid typed rows, ids as
    ``id_type``; quarantine rows with reasons), both under this tool's column names."""
    reasons = _Reasons(raw, config.columns)
    raw = reasons.raw
    ids = reasons.require("prediction_id")
    truth = reasons.require("y_true")
    codes = (
        _class_column(reasons, truth, config, "y_true")
        if truth is not None
        else np.zeros(len(raw), dtype=np.intp)
    )
    labeled_at = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    if "labeled_at" in raw.columns:
        labeled_at = _timestamps(raw["labeled_at"])
        given = raw["labeled_at"].notna().to_numpy()
        reasons.flag(given & labeled_at.isna().to_numpy(), "'labeled_at' is not a timestamp")
    good = reasons.good
    quarantine = _quarantine(raw, reasons, source=source, kind="labels")
    all_good = bool(good.all())

    def kept(values):
        return _kept(values, good, all_good)

    frame = pd.DataFrame(
        {
            "prediction_id": (
                stored_ids(kept(ids), id_type).array
                if ids is not None
                else pd.Series([], dtype=id_type)
            ),
            "y_true": _labels(kept(codes), config.classes).to_numpy(),
            "labeled_at": _utc_values(kept(labeled_at)),
            SOURCE: constant_text(source, int(good.sum())),
            ROW: kept(raw[ROW].to_numpy(dtype=np.int64)),
        },
        copy=False,  # the columns are new or no longer needed
    )
    return frame.astype({"prediction_id": id_type}), quarantine
