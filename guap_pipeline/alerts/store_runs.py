"""Monitoring over the store: the trend flags of the daily table, and the alerts they raise.

``build_flags`` writes the flags active as of the last day (with notes on what could not
be assessed); ``build_alerts`` turns them into incidents and delivers what is new, with
the attribution of the change (before against after its start) so a message says where
the money went; ``deliver_pending`` retries what a webhook did not take, on every run.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from guap_pipeline import flags as trend_flags
from guap_pipeline.alerts.delivery import Notifier, deliver
from guap_pipeline.alerts.incidents import (
    ALERT_COLUMNS,
    INCIDENT_COLUMNS,
    WHERE_PREFIX,
    Context,
    empty,
    update_incidents,
)
from guap_pipeline.config import GuapConfig
from guap_pipeline.errors import LockTimeoutError
from guap_pipeline.flags import FLAG_COLUMNS
from guap_pipeline.flags.days import usable_days
from guap_pipeline.formatting import as_number, day, money
from guap_pipeline.series.attribution import around, attribute, describe, movers
from guap_pipeline.series.recent import RECENT_DAYS
from guap_pipeline.store.store import Store
from guap_pipeline.value_matrix import QUADRANTS

SPLIT_RANGE = (0.5, 2.0)  # a decline's drop over the windows' drop, for them to split it
ALERTS_LOCK = "alerts"  # held while the incidents and alerts tables are read and rewritten
LOCK_SECONDS = 10.0  # how long a delivery waits for another run's


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
        report = trend_flags.assess(daily, config.flags)  # the detectors load on first use
        flags, notes = report.flags, report.notes
    store.write(
        "flags", flags.astype({"series": "string", "model_version": "string", "flag": "string"})
    )
    return FlagResult(flags, tuple(notes))


def flag_context(
    daily: pd.DataFrame | None, config: GuapConfig, flag: pd.Series, *, today: dt.date
) -> Context:
    """What a flag's message says beyond the flag: where a decline's money went (the mature
    days before its start against those from it on), the version's uplift per day before
    and since, and its recent volume."""
    proximity = config.flags.diminishing_proximity
    start = flag.get("start_date")
    if daily is None or daily.empty or start is None or pd.isna(start):
        return Context(proximity=proximity)
    mature = daily[usable_days(daily, config.flags)]  # the days the detectors read
    if "model_version" in daily.columns and flag.get("model_version"):
        mature = mature[mature["model_version"].astype(str) == str(flag["model_version"])]
    before, after = around(mature, start)
    since = mature[pd.to_datetime(mature["date"]) >= pd.Timestamp(start)]
    recent = mature[mature["date"].isin(sorted(mature["date"].unique())[-RECENT_DAYS:])]
    # A decline's money at stake is its fall per labeled prediction times the version's
    # volume since the change: where the money went is put on that same basis.
    where = (
        _where(
            before,
            after,
            day(start, today=today),
            _per_day(since, "n_predictions"),
            config,
            at_stake=as_number(flag.get("money_at_stake")),
        )
        if flag["flag"] == "decline"
        else ""
    )
    return Context(
        where=where,
        uplift_before=_per_day(before, "uplift"),
        uplift_since=_per_day(since, "uplift"),
        predictions_per_day=_per_day(recent, "n_predictions"),
        proximity=proximity,
    )


def _where(
    before: pd.DataFrame,
    after: pd.DataFrame,
    start: str,
    volume: float,
    config: GuapConfig,
    *,
    at_stake: float = math.nan,
) -> str:
    """Where the money went: the quadrants, the mature days before ``start`` against those
    from it on, both at ``volume`` predictions a day (the headline's basis, so a version
    that lost traffic is not read as losing money); empty when a side has no day or the
    quadrant counts are unknown.

    With the headline's drop (``at_stake`` a day), that drop is what is split, in the
    proportions the quadrants moved: the detector's level and these windows are not the
    same average, and a reader must not meet two figures for one drop. Windows whose
    drop is not within a factor of 2 of the headline's do not explain it: said so."""
    both = pd.concat([before, after])
    if before.empty or after.empty or both[list(QUADRANTS)].isna().any().any():
        return ""
    change = attribute(
        _at_volume(before, volume), _at_volume(after, volume), dict(config.quadrants)
    )
    n_before, n_after = before["date"].nunique(), after["date"].nunique()
    basis = f"per day at the {volume:,.0f} predictions a day since {start}"
    total = float(change["delta"].sum())
    if not at_stake > 0:  # no headline figure (NaN, 0): the comparison as it is
        return (
            f"{WHERE_PREFIX}, {basis}, {n_before} mature days before {start} against "
            f"{n_after} from it on: {describe(change, currency=config.currency)}"
        )
    share = at_stake / -total if total < 0 else math.inf
    if not SPLIT_RANGE[0] <= share <= SPLIT_RANGE[1]:
        shown = money(total, config.currency, compact=True, signed=True)
        drop = money(at_stake, config.currency, compact=True)
        return (
            f"{WHERE_PREFIX}: unclear. Comparing the {n_before} mature days before {start} "
            f"with the {n_after} from it on ({basis}) shows {shown}/day, not the headline's "
            f"drop of {drop}/day: {movers(change, currency=config.currency)}"
        )
    split = change.assign(
        **{c: change[c] * share for c in ("delta", "volume_effect", "rate_effect")}
    )
    return (
        f"{WHERE_PREFIX}, {basis}, split as the quadrants moved between the {n_before} "
        f"mature days before {start} and the {n_after} from it on: "
        f"{describe(split, currency=config.currency)}"
    )


def _at_volume(rows: pd.DataFrame, volume: float) -> pd.DataFrame:
    """The period's quadrant counts and values per labeled prediction, times ``volume``."""
    labeled = _per_day(rows, "n_labeled")
    factor = volume / labeled if labeled > 0 and math.isfinite(volume) else math.nan
    columns = [*QUADRANTS, *(f"value_{q}" for q in QUADRANTS)]
    return rows.assign(**{c: rows[c].astype("float64") * factor for c in columns})


def _per_day(rows: pd.DataFrame, column: str) -> float:
    """Mean of ``column`` per date over the rows; NaN without rows."""
    return float(rows[column].sum() / rows["date"].nunique()) if len(rows) else math.nan


@dataclass(frozen=True)
class Delivery:
    """The alerts table after a delivery, and what that delivery did."""

    alerts: pd.DataFrame
    sent: int
    busy: bool = False  # another run held the alerts table: nothing was tried

    @property
    def pending(self) -> int:
        return int(self.alerts["delivered_at"].isna().sum()) if len(self.alerts) else 0

    def describe(self) -> str:
        """One line for the person running it; empty when there was nothing to deliver."""
        if self.busy:
            return "alerts: another run is delivering them; pending ones wait for the next run"
        if not (self.sent or self.pending):
            return ""
        said = [f"{self.sent} delivered"] if self.sent else []
        if self.pending:
            errors = self.alerts.loc[self.alerts["delivered_at"].isna(), "last_error"].dropna()
            reason = f" ({errors.iloc[-1]})" if len(errors) else ""
            said.append(f"{self.pending} not delivered{reason}, retried by the next run")
        return "alerts: " + ", ".join(said)


def deliver_pending(
    store: Store,
    notifiers: Sequence[Notifier],
    *,
    retries: int = 3,
    backoff_seconds: float = 1.0,
) -> Delivery:
    """Send every alert still pending in the store (webhook down last time) and record it.

    Called by every monitoring run, also one with nothing new to build. It holds the
    ``alerts`` lock while it reads, sends and writes the table, so two runs never send
    the same alert twice or lose each other's update; if another run holds it for
    longer than ``LOCK_SECONDS``, nothing is tried and the alerts stay pending.
    """
    try:
        with store.lock(ALERTS_LOCK, timeout=LOCK_SECONDS):
            alerts = _read(store, "alerts", ALERT_COLUMNS)
            waiting = int(alerts["delivered_at"].isna().sum()) if len(alerts) else 0
            if not waiting:
                return Delivery(alerts, 0)
            alerts = deliver(alerts, notifiers, retries=retries, backoff_seconds=backoff_seconds)
            store.write("alerts", _typed(alerts, ALERT_COLUMNS))
    except LockTimeoutError:
        return Delivery(_read(store, "alerts", ALERT_COLUMNS), 0, busy=True)
    return Delivery(alerts, waiting - int(alerts["delivered_at"].isna().sum()))


@dataclass(frozen=True)
class AlertResult:
    incidents: pd.DataFrame
    delivery: Delivery
    new: int

    @property
    def alerts(self) -> pd.DataFrame:
        return self.delivery.alerts

    @property
    def pending(self) -> int:
        return self.delivery.pending


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
    with store.lock(ALERTS_LOCK):
        incidents, notes = update_incidents(
            flags if flags is not None else pd.DataFrame(columns=list(FLAG_COLUMNS)),
            _read(store, "incidents", INCIDENT_COLUMNS),
            today=today,
            alert_on=config.alert_on,
            context=lambda flag: flag_context(daily, config, flag, today=today),
            currency=config.currency,
            model=config.model_name,
        )
        history = _read(store, "alerts", ALERT_COLUMNS)
        alerts = pd.concat([history, notes], ignore_index=True) if len(notes) else history
        store.write("incidents", _typed(incidents, INCIDENT_COLUMNS))
        store.write("alerts", _typed(alerts, ALERT_COLUMNS))
    delivery = deliver_pending(store, notifiers, backoff_seconds=backoff_seconds)
    return AlertResult(incidents, delivery, len(notes))


MONEY = ("money_at_stake", "notified_money_at_stake")


def _read(store: Store, table: str, columns: Sequence[str]) -> pd.DataFrame:
    """A stored incidents/alerts table with every current column (older ones lack some)."""
    frame = store.read(table)
    return empty(columns) if frame is None else frame.reindex(columns=list(columns))


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
