"""Acceptance targets agreed with the business up front, judged on the daily table.

Each target in the config's ``acceptance`` is met or not, with the figure behind it:
uplift per day and value capture over the recent mature days (``RECENT_DAYS``, all model versions),
and payback reached (or projected) by a date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.series.daily_table import overall
from guap_pipeline.series.recent import recent_mature
from guap_pipeline.series.roi import payback


@dataclass(frozen=True)
class Target:
    """One acceptance target: its name, whether it is met, and the figures."""

    name: str
    met: bool
    detail: str


def acceptance(daily: pd.DataFrame, config: GuapConfig, today: dt.date) -> list[Target]:
    """Every configured target, judged as of ``today``; empty when none is configured."""
    goals = config.acceptance
    series = overall(daily).sort_values("date") if len(daily) else daily
    recent = recent_mature(series) if len(series) else series
    targets = []
    if goals.min_uplift_per_day is not None:
        value = float(recent["uplift"].mean()) if len(recent) else float("nan")
        targets.append(
            Target(
                "min_uplift_per_day",
                bool(value >= goals.min_uplift_per_day),
                f"{value:,.0f}/day over the last {len(recent)} mature days "
                f"(target {goals.min_uplift_per_day:,.0f})",
            )
        )
    if goals.min_value_capture is not None:
        headroom = float((recent["oracle_profit"] - recent["baseline_profit"]).sum())
        value = float(recent["uplift"].sum()) / headroom if headroom else float("nan")
        targets.append(
            Target(
                "min_value_capture",
                bool(value >= goals.min_value_capture),
                f"{value:.1%} over the last {len(recent)} mature days "
                f"(target {goals.min_value_capture:.0%})",
            )
        )
    if goals.payback_by is not None:
        result = payback(series, config.operating_cost.investment)
        when = result.reached_on or result.projected_on
        targets.append(
            Target(
                "payback_by",
                when is not None and when <= goals.payback_by,
                f"{result.describe()} (target {goals.payback_by.isoformat()})",
            )
        )
    return targets
