"""Return on the model: operating cost, net profit, cumulative ROI and the payback day.

Definitions (SPEC "What it computes"), for one row of the daily table:

- ``operating_cost`` — the cost set against the row's uplift: the day's fixed
  ``per_day`` cost shared across model versions by prediction volume, plus
  ``per_prediction × n_predictions``, times ``label_coverage``. Uplift counts labeled
  rows only, so only the labeled share of the cost is set against it (otherwise every
  immature day would look like a loss); a fully labeled day carries its full cost.
- ``net_profit`` — ``uplift − operating_cost``.
- ``cumulative_net_profit`` — running sum of ``net_profit`` per model version.
- ``roi`` — ``cumulative_net_profit / cumulative operating_cost`` per model version;
  null while nothing has cost anything.

All four are on one basis, so each can be rebuilt from the exported daily table (SPEC:
"ROI = cumulative net profit / cumulative cost on the same basis as net profit").

Payback is reached on the first day cumulative net profit (all versions) covers the
one-time ``investment``; before that it is projected from the recent mature pace.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from guap_pipeline.config import OperatingCost
from guap_pipeline.formatting import day, money
from guap_pipeline.series.recent import recent_mature

ROI_COLUMNS = ("operating_cost", "net_profit", "cumulative_net_profit", "roi")


def add_roi(daily: pd.DataFrame, cost: OperatingCost) -> pd.DataFrame:
    """The daily table (one row per date and version) with the ROI columns appended."""
    out = daily.sort_values(["date", "model_version"], ignore_index=True)
    if out.empty:
        return out.assign(**{c: pd.Series([], dtype="float64") for c in ROI_COLUMNS})
    n_pred = out["n_predictions"].astype("float64")
    day_total = n_pred.groupby(out["date"]).transform("sum")
    versions = out.groupby("date")["model_version"].transform("size")
    share = np.where(day_total > 0, n_pred / day_total.where(day_total > 0, 1), 1 / versions)
    full_cost = cost.per_day * share + cost.per_prediction * n_pred
    out["operating_cost"] = full_cost * out["label_coverage"].fillna(0.0)
    out["net_profit"] = out["uplift"] - out["operating_cost"]
    return cumulate(out)


def cumulate(daily: pd.DataFrame) -> pd.DataFrame:
    """Cumulative net profit and ROI per model version, in date order (also on rows
    summed across versions: both columns add up)."""
    out = daily.sort_values(["model_version", "date"]).copy()
    by_version = out.groupby("model_version", sort=False)
    out["cumulative_net_profit"] = by_version["net_profit"].cumsum()
    cumulative_cost = by_version["operating_cost"].cumsum()
    out["roi"] = (out["cumulative_net_profit"] / cumulative_cost).where(cumulative_cost > 0)
    return out.sort_values(["date", "model_version"], ignore_index=True)


@dataclass(frozen=True)
class Payback:
    """When cumulative net profit covers the investment: reached, projected, or not."""

    investment: float
    cumulative_net_profit: float
    reached_on: dt.date | None = None
    projected_on: dt.date | None = None
    projected_earliest: dt.date | None = None
    projected_latest: dt.date | None = None
    pace_per_day: float | None = None

    def describe(self, *, today: dt.date | None = None, currency: str = "") -> str:
        """In words; dates as ISO, or as people write them (``12 Aug``) given ``today``."""

        def when(value: dt.date) -> str:
            return value.isoformat() if today is None else day(value, today=today)

        if self.investment <= 0:
            return "no investment configured"
        if self.reached_on:
            return f"paid back on {when(self.reached_on)}"
        if self.projected_on is None:
            return "not at the current rate (recent net profit per day is not positive)"
        latest = when(self.projected_latest) if self.projected_latest else "never"
        pace = f"{self.pace_per_day:,.0f}" if today is None else money(self.pace_per_day, currency)
        return (
            f"projected {when(self.projected_on)} "
            f"(90% range {when(self.projected_earliest)} .. {latest}) "
            f"at {pace}/day"
        )


def payback(overall: pd.DataFrame, investment: float, *, confidence: float = 0.9) -> Payback:
    """Payback of ``investment`` from the overall daily series (``date``, ``net_profit``,
    ``mature``): the day reached, or a projection from the mean pace of the recent mature
    days (:data:`~guap_pipeline.series.recent.RECENT_DAYS`) with a t-interval on that mean."""
    series = overall.sort_values("date")
    cumulative = series["net_profit"].cumsum()
    total = float(cumulative.iloc[-1]) if len(series) else 0.0
    if investment <= 0:
        return Payback(investment, total)
    reached = series.loc[cumulative >= investment, "date"]
    if len(reached):
        return Payback(investment, total, reached_on=_as_date(reached.iloc[0]))
    recent = recent_mature(series)["net_profit"].to_numpy()
    if len(recent) < 2 or recent.mean() <= 0:
        return Payback(investment, total)
    mean = float(recent.mean())
    # stats.t.ppf(q, n - 1) * stats.sem(recent), as scipy.stats computes them (that module
    # takes seconds to import)
    sem = recent.std(ddof=1) / len(recent) ** 0.5
    half = float(stdtrit(len(recent) - 1, 0.5 + confidence / 2) * sem)
    last = _as_date(series["date"].iloc[-1])
    remaining = investment - total

    def when(pace: float) -> dt.date | None:
        return last + dt.timedelta(days=math.ceil(remaining / pace)) if pace > 0 else None

    return Payback(
        investment,
        total,
        projected_on=when(mean),
        projected_earliest=when(mean + half),
        projected_latest=when(mean - half),
        pace_per_day=mean,
    )


def _as_date(value: object) -> dt.date:
    return pd.Timestamp(value).date()
