"""The rows an estimate learns from and values, as arrays: read off labeled-prediction
frames, and thinned to a weighted sample when there are too many."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from guap_pipeline.config import GuapConfig
from guap_pipeline.estimate.delays import MIN_CLASS_ROWS
from guap_pipeline.ingest.columns import class_codes
from guap_pipeline.numeric import as_floats

WEIGHT = "_weight"  # column of estimate_frame's input: rows a sampled row stands for


@dataclass(frozen=True)
class ReferenceRows:
    """Labeled rows of one model version's reference days: what the estimate learns from."""

    score: NDArray[np.float64]
    positive: NDArray[np.float64]  # 1 = positive class, 0 = other
    delay_days: NDArray[np.float64]  # labeled_at − predicted_at; NaN where unknown
    n_never: int = 0  # rows of those days never labeled
    columns: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)  # value columns

    @property
    def n_positive(self) -> int:
        return int(self.positive.sum())

    @property
    def n_negative(self) -> int:
        return len(self.positive) - self.n_positive


@dataclass(frozen=True)
class DayRows:
    """Every row of the recent days (one model version), ``group`` = day index.

    ``value_pos`` / ``value_neg``: the row's value under its decision if it turns out
    positive / negative. ``stakes[column]``: the part of ``value_pos − value_neg`` that
    the data column carries (rate difference × the row's value), for the value-weighted
    calibration.
    """

    group: NDArray[np.intp]
    labeled: NDArray[np.bool_]
    positive: NDArray[np.float64]  # 1/0 on labeled rows; ignored elsewhere
    score: NDArray[np.float64]
    age_days: NDArray[np.float64]  # time since prediction at the censoring instant
    value_pos: NDArray[np.float64]
    value_neg: NDArray[np.float64]
    n_groups: int
    stakes: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)
    weight: NDArray[np.float64] | None = None  # rows each row stands for (None: 1 each)


def _thin_reference(ref: ReferenceRows, cap: int, rng: np.random.Generator) -> ReferenceRows:
    """A uniform sample of ``cap`` reference rows when there are more (never-labeled
    rows scaled alike): the calibration is a ratio, a sample estimates it unbiased."""
    n = len(ref.score)
    if n <= cap:
        return ref
    keep = np.sort(rng.choice(n, size=cap, replace=False))
    return ReferenceRows(
        score=ref.score[keep],
        positive=ref.positive[keep],
        delay_days=ref.delay_days[keep],
        n_never=round(ref.n_never * cap / n),
        columns={c: x[keep] for c, x in ref.columns.items()},
    )


def _thin_labeled(rows: DayRows, cap: int, rng: np.random.Generator) -> DayRows:
    """At most ``cap`` of the window's labeled rows, each weighted to stand for the ones
    left out (so per-day counts and the prevalence fit keep their scale); every
    unlabeled row stays: each is estimated."""
    labeled = np.flatnonzero(rows.labeled)
    if len(labeled) <= cap:
        return rows
    share = cap / len(labeled)
    keep = np.ones(len(rows.score), dtype=bool)
    keep[labeled] = rng.random(len(labeled)) < share
    return _subset(rows, keep, np.where(rows.labeled, 1 / share, 1.0))


def _thin_unlabeled(
    rows: DayRows, cap: int, rng: np.random.Generator
) -> tuple[DayRows, NDArray[np.float64] | None]:
    """Rows for the Monte Carlo: every labeled row and, per group, at most ``cap / groups``
    unlabeled rows (a seeded uniform sample, weighted up to stand for the rest).

    Returns the rows and, per unlabeled row kept, the factor its weight was raised by
    (``rows`` itself and None when nothing is left out). Days with few unlabeled rows — the
    nearly decided ones, whose discrete outcomes an interval must pin down — keep all.
    """
    unlabeled = ~rows.labeled
    counts = np.bincount(rows.group[unlabeled], minlength=rows.n_groups)
    share = np.minimum(1.0, cap / max(rows.n_groups, 1) / np.maximum(counts, 1))
    if (share >= 1).all():
        return rows, None
    row_share = np.where(unlabeled, share[rows.group], 1.0)
    keep = rng.random(len(rows.score)) < row_share
    return _subset(rows, keep, 1 / row_share), 1 / row_share[keep & unlabeled]


def _subset(rows: DayRows, keep: NDArray[np.bool_], raise_by: NDArray[np.float64]) -> DayRows:
    """The ``keep`` rows, their weights multiplied by ``raise_by``."""
    before = np.ones(len(rows.score)) if rows.weight is None else rows.weight
    arrays = ("group", "labeled", "positive", "score", "age_days", "value_pos", "value_neg")
    return DayRows(
        **{name: getattr(rows, name)[keep] for name in arrays},
        n_groups=rows.n_groups,
        stakes={c: x[keep] for c, x in rows.stakes.items()},
        weight=(before * raise_by)[keep],
    )


def _days(values: pd.Series) -> NDArray[np.float64]:
    """Timestamps as float days since the epoch (NaN where null)."""
    stamps = pd.to_datetime(values, utc=True, errors="coerce")
    delta = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)
    return np.asarray(delta.to_numpy(dtype=np.float64, na_value=np.nan))


def _censoring_instant(rows: pd.DataFrame) -> float:
    """'Now' for the label feed, in epoch days: the latest label seen (the latest
    prediction when no label carries a time). A row's age — how long its label has had to
    arrive — counts up to it: a feed that stopped a month ago has shown nothing since, and
    ageing the rows to the newest prediction read their missing labels as never coming."""
    for column in ("labeled_at", "predicted_at"):
        if column in rows.columns and len(rows):
            values = _days(rows[column])
            if np.isfinite(values).any():
                return float(np.nanmax(values))
    return np.nan


def _positive(frame: pd.DataFrame, config: GuapConfig) -> NDArray[np.float64]:
    """1 / 0 for labeled rows of the positive / negative class, NaN where unlabeled."""
    codes = class_codes(frame["y_true"], config.classes)
    pos = config.classes.index(config.positive_class)
    return np.where(codes < 0, np.nan, (codes == pos).astype(np.float64))


def _reference_rows(
    by_key: dict[tuple[str, str], pd.DataFrame],
    days: list[str],
    version: str,
    config: GuapConfig,
) -> ReferenceRows | None:
    frames = [by_key[(d, version)] for d in days if (d, version) in by_key]
    if not frames:
        return None
    rows = pd.concat(frames, ignore_index=True)
    if "score" not in rows.columns:
        return ReferenceRows(np.empty(0), np.empty(0), np.empty(0))
    positive = _positive(rows, config)
    score = as_floats(rows["score"], not_numeric="nan")
    labeled = np.isfinite(positive)
    use = labeled & np.isfinite(score)
    delay = (
        _days(rows["labeled_at"]) - _days(rows["predicted_at"])
        if {"labeled_at", "predicted_at"} <= set(rows.columns)
        else np.full(len(rows), np.nan)
    )
    columns = {
        c: as_floats(rows[c], not_numeric="nan")[use]
        for c in config.value_matrix.columns
        if c in rows.columns
    }
    return ReferenceRows(
        score=np.clip(score[use], 0.0, 1.0),
        positive=positive[use],
        delay_days=delay[use],
        n_never=int((~labeled).sum()),
        columns=columns,
    )


def _reference_problem(ref: ReferenceRows | None, version: str, days: list[str]) -> str | None:
    if not days or ref is None:
        return (
            f"no estimate: model version {version} has no mature days yet, so its scores "
            "cannot be calibrated against outcomes"
        )
    if not len(ref.score):
        return f"no estimate: the mature days of model version {version} carry no scores"
    if min(ref.n_positive, ref.n_negative) < MIN_CLASS_ROWS:
        return (
            f"no estimate: the {len(days)} mature day(s) of model version {version} have "
            f"{ref.n_positive} labeled positive and {ref.n_negative} negative rows; "
            f"calibrating its scores needs at least {MIN_CLASS_ROWS} of each"
        )
    return None


def _day_rows(frame: pd.DataFrame | None, config: GuapConfig, censor: float) -> dict | str:
    """The arrays :class:`DayRows` needs for one (date, version), or why there are none."""
    if frame is None or not len(frame):
        return "no estimate: the day's predictions are not in the store"
    positive = _positive(frame, config)
    unlabeled = ~np.isfinite(positive)
    if "score" not in frame.columns:
        return "no estimate: no scores on this day"
    score = as_floats(frame["score"], not_numeric="nan")
    n_unlabeled = int(unlabeled.sum())
    missing = int((unlabeled & ~np.isfinite(score)).sum())
    if n_unlabeled and missing == n_unlabeled:
        return "no estimate: no scores on this day"
    if missing:
        return f"no estimate: {missing} of {n_unlabeled} unlabeled rows have no score"
    matrix = config.value_matrix
    pos = config.classes.index(config.positive_class)
    decision = class_codes(frame["y_pred"], config.classes)
    decision = np.where(decision < 0, np.where(score >= config.threshold, pos, 1 - pos), decision)
    columns = {}
    for column in matrix.columns:
        if column not in frame.columns:
            return f"no estimate: the value matrix reads column '{column}', which the day lacks"
        data = as_floats(frame[column], not_numeric="nan")
        if not np.isfinite(data[unlabeled]).all():
            return f"no estimate: unlabeled rows have missing values in column '{column}'"
        columns[column] = np.nan_to_num(data)
    rates = matrix.rates()
    stakes = {
        column: (rates[pos, decision, i] - rates[1 - pos, decision, i]) * columns[column]
        for i, column in enumerate(matrix.columns)
    }
    age = censor - _days(frame["predicted_at"]) if "predicted_at" in frame.columns else 0.0
    n = len(frame)
    return {
        "labeled": ~unlabeled,
        "positive": np.nan_to_num(positive),
        "score": np.clip(np.nan_to_num(score), 0.0, 1.0),
        "age_days": np.clip(np.nan_to_num(np.broadcast_to(age, (n,)).astype(float)), 0.0, None),
        "value_pos": matrix.row_values(np.full(n, pos), decision, columns),
        "value_neg": matrix.row_values(np.full(n, 1 - pos), decision, columns),
        "stakes": stakes,
        "weight": as_floats(frame[WEIGHT], not_numeric="nan")
        if WEIGHT in frame.columns
        else np.ones(n),
    }
