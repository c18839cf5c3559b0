"""The recent-window rule: "now" is the last ``RECENT_DAYS`` mature days.

One window for every figure that speaks of the recent pace (payback projection, acceptance
targets, the early warning's reference, attribution around a change, the summary's
recent pace), so that they all describe the same stretch of days.
"""

from __future__ import annotations

import pandas as pd

RECENT_DAYS = 28  # mature days: four whole weeks, so every weekday counts alike


def recent_mature(series: pd.DataFrame, days: int = RECENT_DAYS) -> pd.DataFrame:
    """The last ``days`` rows of ``series`` (one row per date, sorted) that are mature."""
    return series[series["mature"].astype(bool)].tail(days)
