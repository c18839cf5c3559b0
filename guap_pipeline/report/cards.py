"""The answer first: per model version, is it making money, and which way is it going?

One card per model version and one for all versions together: profit and uplift per
day (the recent mature pace), the trend in plain words, net profit, ROI and (all
versions) payback. A flagged version's trend is the alert's own headline
(:func:`guap_pipeline.alerts.headline`), so the report, the Dagster UI and the alert
say the same thing. Everything that reads "the answer" (the HTML report, the assets'
metadata, the check results) reads these cards.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd

from guap_pipeline.alerts.incidents import headline
from guap_pipeline.alerts.store_runs import flag_context
from guap_pipeline.config import GuapConfig
from guap_pipeline.formatting import day, money
from guap_pipeline.series.daily_table import OVERALL, overall
from guap_pipeline.series.recent import recent_mature
from guap_pipeline.series.roi import payback

# Which flag a version's trend names when several are active: the costliest news first.
FLAG_ORDER = ("decline", "plateau", "diminishing_returns")
FLAG_WORDS = {"decline": "declining", "plateau": "flat", "diminishing_returns": "growth slowing"}


@dataclass(frozen=True)
class Card:
    """One model version's (or all versions') answer; money raw, ``text`` formats it."""

    model_version: str
    first_date: str
    last_date: str
    days: int
    mature_days: int
    recent_days: int  # mature days the per-day pace is taken over (the last RECENT_DAYS)
    profit_per_day: float
    uplift_per_day: float
    net_profit: float
    roi: float
    trend: str
    payback: str  # all versions only; empty on a version's card
    currency: str = ""
    flag: str = ""  # the flag the trend names (FLAG_ORDER), "" when none

    @property
    def title(self) -> str:
        return "all versions" if self.model_version == OVERALL else self.model_version

    def figures(self) -> dict[str, str]:
        """The card's figures as people read them, in reading order."""

        def per_day(value: float) -> str:
            return money(value, self.currency, compact=True) + "/day"

        figures = {
            "profit": per_day(self.profit_per_day),
            "uplift": per_day(self.uplift_per_day),
            "trend": self.trend,
            "net profit": money(self.net_profit, self.currency, compact=True),
            "ROI": roi_text(self.roi),
        }
        if self.payback:
            figures["payback"] = self.payback
        return figures

    def basis(self) -> str:
        """What the per-day figures are over."""
        if not self.recent_days:
            return f"no mature day yet ({self.days} days, labels still arriving)"
        return f"per day over the last {self.recent_days} mature days"

    def text(self) -> str:
        """The card in one line: ``v1: profit 3.1k/day, uplift 0.4k/day, declining ...``."""
        figures = self.figures()
        head = f"profit {figures.pop('profit')}, uplift {figures.pop('uplift')}"
        trend = figures.pop("trend")
        rest = ", ".join(
            value if name == "payback" else f"{name} {value}" for name, value in figures.items()
        )
        return f"{self.title}: {head} ({self.basis()}); {trend}; {rest}"


def roi_text(value: float) -> str:
    """ROI as a multiple (``64.8×``); ``n/a`` while nothing has cost anything."""
    return "n/a" if not math.isfinite(value) else f"{value:,.1f}×"


def cards(
    daily: pd.DataFrame, flags: pd.DataFrame | None, config: GuapConfig, *, today: dt.date
) -> list[Card]:
    """A card per model version, then one for all versions; empty without days."""
    if daily.empty:
        return []
    flags = flags if flags is not None else pd.DataFrame(columns=["model_version", "flag"])
    last = str(daily["date"].max())
    versions = [
        _card(
            str(version),
            rows,
            *_trend(str(version), rows, daily, flags, config, today=today, last_date=last),
            "",
            config,
        )
        for version, rows in daily.groupby("model_version", sort=True)
    ]
    series = overall(daily).sort_values("date")
    result = payback(series, config.operating_cost.investment)
    everything = _card(
        OVERALL,
        series,
        _overall_trend(flags),
        next((f for f in FLAG_ORDER if len(flags) and f in set(flags["flag"])), ""),
        result.describe(today=today, currency=config.currency),
        config,
    )
    return [*versions, everything]


def _card(
    version: str, rows: pd.DataFrame, trend: str, flag: str, paid: str, config: GuapConfig
) -> Card:
    rows = rows.sort_values("date")
    mature = rows[rows["mature"].astype(bool)]
    recent = recent_mature(rows)
    nan = float("nan")
    return Card(
        model_version=version,
        first_date=str(rows["date"].iloc[0]),
        last_date=str(rows["date"].iloc[-1]),
        days=int(rows["date"].nunique()),
        mature_days=len(mature),
        recent_days=len(recent),
        profit_per_day=float(recent["profit"].mean()) if len(recent) else nan,
        uplift_per_day=float(recent["uplift"].mean()) if len(recent) else nan,
        net_profit=float(rows["net_profit"].sum()),
        roi=float(rows["roi"].iloc[-1]) if pd.notna(rows["roi"].iloc[-1]) else nan,
        trend=trend,
        payback=paid,
        currency=config.currency,
        flag=flag,
    )


def _trend(
    version: str,
    rows: pd.DataFrame,
    daily: pd.DataFrame,
    flags: pd.DataFrame,
    config: GuapConfig,
    *,
    today: dt.date,
    last_date: str,
) -> tuple[str, str]:
    """The alert's headline for the version's most serious active flag, and that flag;
    else why there is no flag: too young to judge, no traffic lately, or steady."""
    mine = flags[flags["model_version"].astype(str) == version] if len(flags) else flags
    for name in FLAG_ORDER:
        active = mine[mine["flag"] == name] if len(mine) else mine
        if len(active):
            flag = active.iloc[0]
            context = flag_context(daily, config, flag, today=today)
            words = headline("opened", flag, context, currency=config.currency, today=today)
            return (words.split(": ", 1)[1] if ": " in words else words), name
    mature = int(rows["mature"].astype(bool).sum())
    days = int(rows["date"].nunique())
    newest = str(rows["date"].max())
    idle = (pd.Timestamp(last_date) - pd.Timestamp(newest)).days
    if idle > config.flags.active_version_days:
        return f"no predictions since {day(newest, today=today)}: not assessed", ""
    if mature < config.flags.reference_days:
        return f"too young to judge: {mature} of {days} days mature", ""
    return f"steady: no decline, plateau or slowing growth over {mature} mature days", ""


def _overall_trend(flags: pd.DataFrame) -> str:
    """Which versions carry which flag, e.g. ``v1 declining; v2 flat``."""
    if flags.empty:
        return "no version flagged"
    parts = []
    for version, rows in flags.groupby("model_version", sort=True):
        names = [FLAG_WORDS[f] for f in FLAG_ORDER if f in set(rows["flag"])]
        parts.append(f"{version} {', '.join(names)}")
    return "; ".join(parts)


def cards_text(found: list[Card]) -> str:
    """Every card, one line each (the answer, for logs and check results)."""
    return "\n".join(card.text() for card in found)


def cards_markdown(found: list[Card]) -> str:
    """Every card as a Markdown table: a row per version, the figures as columns."""
    if not found:
        return "No days built yet."
    first = found[-1]
    header = ["model version", *first.figures(), "basis"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for card in found:
        figures = card.figures()
        cells = [card.title, *(figures.get(name, "") for name in header[1:-1]), card.basis()]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)
