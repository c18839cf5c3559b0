"""Monitoring over the store: the trend flags of the daily table, and the alerts they raise.

``build_flags`` writes the flags active as of the last day (with notes on what could not
be assessed); ``build_alerts`` turns them into incidents and delivers what is new, with
the attribution of the change so a message says where the money went.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from guap_pipeline.alerts import (
    ALERT_COLUMNS,
    INCIDENT_COLUMNS,
    Notifier,
    deliver,
    empty,
    update_incidents,
)
from guap_pipeline.attribution import attribute, describe
from guap_pipeline.config import GuapConfig
from guap_pipeline.flags import FLAG_COLUMNS, assess
from guap_pipeline.storage import Store

ATTRIBUTION_DAYS = 28


@dataclass(frozen=True)
class FlagResult:
    flags: pd.DataFrame
    notes: tuple[str, ...]


def build_flags(store: Store, config: GuapConfig) -> FlagResult:
    """Trend flags of the daily summary table, written to the ``flags`` table."""
    daily = store.read("daily_summary")
    if daily is None or daily.empty:
        flags = pd.DataFrame(columns=list(FLAG_COLUMNS))
        notes: tuple[str, ...] = ("no daily summary yet",)
    else:
        report = assess(daily, config.flags)
        flags, notes = report.flags, report.notes
    store.write("flags", flags.astype({"series": "string", "flag": "string"}))
    return FlagResult(flags, tuple(notes))


def recent_change(daily: pd.DataFrame, config: GuapConfig, version: str | None = None) -> str:
    """Attribution line: the last 28 mature days against the 28 before them."""
    rows = daily[daily["mature"].astype(bool)]
    if version:
        rows = rows[rows["model_version"] == version]
    dates = sorted(rows["date"].unique())
    if len(dates) < 2 * ATTRIBUTION_DAYS or rows[["tp", "fp", "fn", "tn"]].isna().any().any():
        return ""
    after = rows[rows["date"].isin(dates[-ATTRIBUTION_DAYS:])]
    before = rows[rows["date"].isin(dates[-2 * ATTRIBUTION_DAYS : -ATTRIBUTION_DAYS])]
    return "last 28 vs previous 28 mature days: " + describe(
        attribute(before, after, dict(config.quadrants))
    )


@dataclass(frozen=True)
class AlertResult:
    incidents: pd.DataFrame
    alerts: pd.DataFrame
    new: int

    @property
    def pending(self) -> int:
        return int(self.alerts["delivered_at"].isna().sum()) if len(self.alerts) else 0


def build_alerts(
    store: Store,
    config: GuapConfig,
    *,
    today: dt.date,
    notifiers: Sequence[Notifier],
    backoff_seconds: float = 1.0,
) -> AlertResult:
    """Open/follow up/resolve incidents from the flags; deliver new and pending alerts."""
    flags = store.read("flags")
    daily = store.read("daily_summary")
    incidents = store.read("incidents")
    incidents = incidents if incidents is not None else empty(INCIDENT_COLUMNS)
    history = store.read("alerts")
    history = history if history is not None else empty(ALERT_COLUMNS)

    def explain(flag: pd.Series) -> str:
        if daily is None or daily.empty:
            return ""
        version = _version_of(flag.get("evidence", ""))
        return recent_change(daily, config, version)

    incidents, notes = update_incidents(
        flags if flags is not None else pd.DataFrame(columns=list(FLAG_COLUMNS)),
        incidents,
        today=today,
        alert_on=config.alert_on,
        explain=explain,
    )
    alerts = pd.concat([history, notes], ignore_index=True) if len(notes) else history
    alerts = deliver(alerts, notifiers, backoff_seconds=backoff_seconds)
    store.write("incidents", _typed(incidents, INCIDENT_COLUMNS))
    store.write("alerts", _typed(alerts, ALERT_COLUMNS))
    return AlertResult(incidents, alerts, len(notes))


MONEY = ("money_at_stake", "notified_money_at_stake")


def _typed(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Stable Parquet types: money as float, attempts as int, the rest as nullable text."""
    out = frame[list(columns)].copy()
    for column in columns:
        if column in MONEY:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
        elif column == "attempts":
            out[column] = out[column].fillna(0).astype("int64")
        else:
            out[column] = out[column].astype("string")
    return out


def _version_of(evidence: object) -> str | None:
    """The model version an evidence text names (``model version 'v1'``), if any."""
    text = str(evidence or "")
    marker = "model version '"
    if marker not in text:
        return None
    return text.split(marker, 1)[1].split("'", 1)[0]
