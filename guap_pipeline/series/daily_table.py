"""The daily summary table and the profit time series stitched from the day results.

``DAILY_COLUMNS`` are the public table of SPEC "Daily summary table" (a stable
interface): the day figures, the ROI columns of :mod:`guap_pipeline.series.roi` and the estimate
columns of :mod:`guap_pipeline.estimate`. ``daily_summary`` computes all but the
estimate, which needs the row-level data. ``profit_timeseries`` adds, per model version
and overall, rolling 7- and 28-day sums and means and cumulative uplift.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.estimate import ESTIMATED_PROFIT, overall_estimate
from guap_pipeline.money.accounting import SUMMARY_COLUMNS
from guap_pipeline.money.summary import RATIO_COLUMNS, with_ratios
from guap_pipeline.series.roi import ROI_COLUMNS, add_roi, cumulate

DAY_COLUMNS: tuple[str, ...] = (
    "date",
    "model_version",
    "n_predictions",
    "n_labeled",
    "label_coverage",
    "mature",
    *SUMMARY_COLUMNS[3:],
    *ROI_COLUMNS,
)
DAILY_COLUMNS: tuple[str, ...] = (*DAY_COLUMNS, *ESTIMATED_PROFIT)
ROLLING_WINDOWS = (7, 28)
ROLLED = ("profit", "uplift")
OVERALL = "(all)"
# Columns that add up across model versions; the ratios are recomputed from them.
ADDITIVE = (
    *(c for c in SUMMARY_COLUMNS if c not in RATIO_COLUMNS),
    *ROI_COLUMNS[:2],  # operating_cost, net_profit (the cumulative columns are recomputed)
)


def is_mature(
    dates: pd.Series,
    coverage: pd.Series,
    config: GuapConfig,
    as_of: dt.date,
    *,
    stalled: frozenset[str] = frozenset(),
) -> pd.Series:
    """Coverage reached the minimum, or the label window has passed as of ``as_of`` —
    unless the day is ``stalled`` (ISO dates past their window far below their usual label
    coverage, :mod:`guap_pipeline.ingest.label_feed`): its missing labels, often the positives,
    are still to come, so even a coverage above the minimum is not final."""
    days = pd.to_datetime(dates)
    window_passed = days.dt.date <= as_of - dt.timedelta(days=config.label_window_days)
    waiting = days.dt.strftime("%Y-%m-%d").isin(stalled)
    return ((coverage.fillna(0) >= config.min_label_coverage) | window_passed) & ~waiting


def daily_summary(
    day_rows: pd.DataFrame,
    config: GuapConfig,
    as_of: dt.date,
    *,
    stalled: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """The daily summary table but its estimate columns (``DAY_COLUMNS``), one row per
    (date, model_version), sorted; :func:`guap_pipeline.estimate.estimate_days` adds them.
    ``stalled``: days whose label feed stalled (:func:`is_mature`)."""
    if day_rows.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in DAY_COLUMNS})
    frame = add_roi(day_rows, config.operating_cost)
    frame["mature"] = is_mature(
        frame["date"], frame["label_coverage"], config, as_of, stalled=stalled
    )
    return frame[list(DAY_COLUMNS)]


def overall(daily: pd.DataFrame) -> pd.DataFrame:
    """All model versions added up per date (model_version ``(all)``); the estimate too
    when ``daily`` has it."""
    summed = daily.groupby("date", sort=True)[list(ADDITIVE)].sum(min_count=1).reset_index()
    summed["model_version"] = OVERALL
    summed["mature"] = daily.groupby("date", sort=True)["mature"].all().to_numpy()
    summed = cumulate(with_ratios(summed))[list(DAY_COLUMNS)]
    if not set(ESTIMATED_PROFIT) <= set(daily.columns):
        return summed
    return summed.merge(overall_estimate(daily), on="date", how="left")


def profit_timeseries(daily: pd.DataFrame) -> pd.DataFrame:
    """Daily rows per version and overall, with rolling sums/means and cumulative uplift."""
    if daily.empty:
        return daily
    frames = []
    for _, series in pd.concat([daily, overall(daily)]).groupby("model_version", sort=True):
        series = series.sort_values("date").copy()
        when = pd.DatetimeIndex(pd.to_datetime(series["date"]))
        for column in ROLLED:
            values = pd.Series(series[column].to_numpy(dtype=np.float64), index=when)
            for days in ROLLING_WINDOWS:
                rolled = values.rolling(f"{days}D")
                series[f"{column}_{days}d_sum"] = rolled.sum().to_numpy()
                series[f"{column}_{days}d_mean"] = rolled.mean().to_numpy()
        series["cumulative_uplift"] = series["uplift"].cumsum()
        frames.append(series)
    return pd.concat(frames, ignore_index=True)
