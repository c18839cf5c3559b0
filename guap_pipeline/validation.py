"""Row-level validation of landing files: every row is kept or quarantined with a reason.

A row's first failing check is its reason; checks are vectorised over the file. Kept
rows come out typed and normalised (ids as strings, timestamps in UTC, class labels
as declared in the config, the prediction day in the config's time zone).
Naive timestamps are read as UTC.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.readers import BAD_LINES, ROW

QUARANTINE_COLUMNS: tuple[str, ...] = ("source", "kind", "row", "prediction_id", "reason", "record")
SOURCE = "_source"


class _Reasons:
    """The first failing check of each row (``None`` while the row is still good)."""

    def __init__(self, raw: pd.DataFrame) -> None:
        self.raw = raw
        self.values = np.full(len(raw), None, dtype=object)
        if BAD_LINES in raw.columns:
            self.flag(raw[BAD_LINES].notna().to_numpy(), "line has the wrong number of fields")

    def flag(self, mask: np.ndarray | pd.Series, reason: str) -> None:
        mask = np.asarray(mask, dtype=bool) & (self.values == None)  # noqa: E711
        self.values[mask] = reason

    def require(self, column: str) -> pd.Series | None:
        """The column, or quarantine every row when the file lacks it."""
        if column not in self.raw.columns:
            self.flag(np.ones(len(self.raw), dtype=bool), f"file has no '{column}' column")
            return None
        series = self.raw[column]
        self.flag(series.isna().to_numpy(), f"'{column}' is missing")
        return series

    @property
    def good(self) -> np.ndarray:
        return self.values == None  # noqa: E711


def class_codes(values: pd.Series, classes: Sequence[Hashable]) -> np.ndarray:
    """Position of each value in ``classes``; -1 where null or not a declared class.

    Integer classes match numerically (``"1"``, ``1`` and ``1.0`` are class 1); string
    classes match the stripped text.
    """
    if all(isinstance(c, int) for c in classes):
        number = pd.to_numeric(values, errors="coerce")
        number = number.where(number == np.floor(number))
        return pd.Index(list(classes)).get_indexer(number)
    text = values.astype("string").str.strip()
    return pd.Index([str(c) for c in classes]).get_indexer(text)


def _timestamps(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values):
        return values.dt.tz_localize("UTC")
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")


def local_days(timestamps: pd.Series, timezone: str) -> pd.Series:
    """ISO date of each UTC timestamp in ``timezone`` (DST-safe); formats each day once."""
    local = timestamps.dt.tz_convert(timezone).dt.tz_localize(None).dt.floor("D")
    codes, uniques = pd.factorize(local)
    labels = np.asarray(pd.DatetimeIndex(uniques).strftime("%Y-%m-%d"), dtype=object)
    days = np.where(codes >= 0, labels[np.maximum(codes, 0)] if len(labels) else None, None)
    return pd.Series(days, index=timestamps.index, dtype="string")


def _quarantine(raw: pd.DataFrame, reasons: _Reasons, *, source: str, kind: str) -> pd.DataFrame:
    bad = ~reasons.good
    rows = raw.loc[bad]
    record_columns = [c for c in rows.columns if c not in (ROW, SOURCE)]
    records = [
        json.dumps({k: v for k, v in rec.items() if v is not None}, default=str)
        for rec in rows[record_columns]
        .astype(object)
        .where(rows[record_columns].notna())
        .to_dict("records")
    ]
    ids = rows["prediction_id"].astype("string") if "prediction_id" in rows else None
    return pd.DataFrame(
        {
            "source": source,
            "kind": kind,
            "row": rows[ROW].to_numpy(dtype=np.int64),
            "prediction_id": ids.to_numpy() if ids is not None else pd.NA,
            "reason": reasons.values[bad],
            "record": records,
        },
        columns=list(QUARANTINE_COLUMNS),
    ).astype({"source": "string", "kind": "string", "prediction_id": "string", "reason": "string"})


def _class_column(
    reasons: _Reasons, series: pd.Series, classes: Sequence[Hashable], name: str
) -> np.ndarray:
    codes = class_codes(series, classes)
    reasons.flag(codes < 0, f"'{name}' is not one of the classes {list(classes)}")
    return codes


def _labels(codes: np.ndarray, classes: Sequence[Hashable]) -> pd.Series:
    dtype = "int64" if all(isinstance(c, int) for c in classes) else "string"
    return pd.Series(np.asarray(list(classes), dtype=object)[np.maximum(codes, 0)]).astype(dtype)


def validate_predictions(
    raw: pd.DataFrame, config: GuapConfig, *, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw prediction rows into (valid typed rows, quarantine rows with reasons)."""
    reasons = _Reasons(raw)
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
        if score is not None and config.is_binary:
            pred_raw = pred_raw.where(pred_raw.notna(), _threshold_decisions(score, config))
        pred = _class_column(reasons, pred_raw, config.classes, "y_pred")
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
            codes = _class_column(reasons, base_raw, config.classes, "baseline_pred")
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
        start = config.start_date.isoformat()
        reasons.flag(
            (days < start).fillna(False).to_numpy(), f"predicted before start_date {start}"
        )

    good = reasons.good
    quarantine = _quarantine(
        raw.assign(**{SOURCE: source}), reasons, source=source, kind="predictions"
    )
    if not good.any():
        return _empty_predictions(config), quarantine
    version = raw["model_version"] if "model_version" in raw.columns else None
    frame = pd.DataFrame(
        {
            "prediction_id": ids[good].astype("string").str.strip().to_numpy(),
            "predicted_at": stamps[good].to_numpy(),
            "date": days[good].to_numpy(),
            "model_version": (
                version[good].astype("string").str.strip().fillna("default").replace("", "default")
                if version is not None
                else "default"
            ),
            "y_pred": _labels(pred[good], config.classes).to_numpy(),
        }
    )
    frame["predicted_at"] = pd.to_datetime(frame["predicted_at"], utc=True)
    if score is not None:
        frame["score"] = score[good].to_numpy()
    for column, values in extra.items():
        frame[column] = values[good].to_numpy()
    frame[SOURCE] = source
    frame[ROW] = raw[ROW].to_numpy(dtype=np.int64)[good]
    return frame.astype(
        {"prediction_id": "string", "date": "string", "model_version": "string"}
    ), quarantine


def _threshold_decisions(score: pd.Series, config: GuapConfig) -> pd.Series:
    decided = np.where(score >= config.threshold, config.positive_class, config.negative_class)
    return pd.Series(decided, index=score.index, dtype=object).where(score.notna())


def _empty_predictions(config: GuapConfig) -> pd.DataFrame:
    columns = ["prediction_id", "predicted_at", "date", "model_version", "y_pred", SOURCE, ROW]
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def validate_labels(
    raw: pd.DataFrame, config: GuapConfig, *, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw label rows into (valid typed rows, quarantine rows with reasons)."""
    reasons = _Reasons(raw)
    ids = reasons.require("prediction_id")
    truth = reasons.require("y_true")
    codes = (
        _class_column(reasons, truth, config.classes, "y_true")
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
    frame = pd.DataFrame(
        {
            "prediction_id": (
                ids[good].astype("string").str.strip().to_numpy()
                if ids is not None
                else pd.Series([], dtype="string")
            ),
            "y_true": _labels(codes[good], config.classes).to_numpy(),
            "labeled_at": pd.to_datetime(labeled_at[good].to_numpy(), utc=True),
            SOURCE: source,
            ROW: raw[ROW].to_numpy(dtype=np.int64)[good],
        }
    )
    return frame.astype({"prediction_id": "string"}), quarantine
