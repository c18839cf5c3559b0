"""Alerts: one incident per active flag, one message when it opens, worsens or resolves.

Each monitoring run passes the flags active now to :func:`update_incidents`, which
compares them with the open incidents and returns the notifications to send — so the
same decline alerts once, not every day. :func:`deliver` sends pending notifications
through the notifiers; a failure (HTTP 500, a hung server) is retried with backoff,
then left pending for the next run: delivery never fails the monitoring run.

The webhook URL is a secret: it is read from an environment variable at send time
and never stored, logged or put in an error message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import logging
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

WEBHOOK_ENV = "GUAP_ALERT_WEBHOOK_URL"
INCIDENT_COLUMNS = (
    "incident_id",
    "flag",
    "series",
    "severity",
    "status",
    "opened_on",
    "resolved_on",
    "start_date",
    "money_at_stake",
    "notified_money_at_stake",
)
ALERT_COLUMNS = (
    "alert_id",
    "incident_id",
    "kind",
    "flag",
    "series",
    "severity",
    "money_at_stake",
    "message",
    "created_on",
    "delivered_at",
    "attempts",
    "last_error",
)
SEVERITY = {"decline": "ERROR", "plateau": "WARN", "diminishing_returns": "WARN"}
WORSENED_RATIO = 1.25

log = logging.getLogger("guap_pipeline.alerts")


def empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _incident_id(flag: str, series: str, opened_on: str) -> str:
    return hashlib.sha1(f"{flag}|{series}|{opened_on}".encode()).hexdigest()[:12]


def _money(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value):,.0f}/day at stake"


def _message(kind: str, flag: pd.Series, extra: str) -> str:
    where = f" [{flag['series']}]" if flag["series"] else ""
    head = {
        "opened": f"{SEVERITY.get(flag['flag'], 'WARN')}: {flag['flag'].replace('_', ' ')}{where}",
        "worsened": f"WORSE: {flag['flag'].replace('_', ' ')}{where}",
        "resolved": f"RESOLVED: {flag['flag'].replace('_', ' ')}{where}",
    }[kind]
    parts = [head]
    if kind != "resolved":
        if flag.get("start_date") is not None and str(flag.get("start_date")) not in ("", "NaT"):
            parts.append(f"since {pd.Timestamp(flag['start_date']).date().isoformat()}")
        money = _money(flag.get("money_at_stake"))
        if money:
            parts.append(money)
        if extra:
            parts.append(extra)
        if flag.get("evidence"):
            parts.append(f"evidence: {flag['evidence']}")
    return " — ".join(parts)


def update_incidents(
    flags: pd.DataFrame,
    incidents: pd.DataFrame,
    *,
    today: dt.date,
    alert_on: Sequence[str] = ("decline",),
    explain: Callable[[pd.Series], str] = lambda _: "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open, follow up and resolve incidents; return (incidents, new notifications).

    ``flags`` are the flags active now (SPEC "Flags table"); only those in ``alert_on``
    raise incidents. ``explain`` adds context to a message (e.g. the attribution).
    """
    records = incidents.to_dict("records") if len(incidents) else []
    open_by_key = {(r["flag"], r["series"]): r for r in records if r["status"] == "open"}
    active = flags[flags["flag"].isin(alert_on)] if len(flags) else flags
    day = today.isoformat()
    notes: list[dict] = []
    for _, flag in active.iterrows():
        key = (str(flag["flag"]), str(flag["series"] or ""))
        money = flag.get("money_at_stake")
        incident = open_by_key.pop(key, None)
        if incident is None:
            incident = {
                "incident_id": _incident_id(*key, day),
                "flag": key[0],
                "series": key[1],
                "severity": SEVERITY.get(key[0], "WARN"),
                "status": "open",
                "opened_on": day,
                "resolved_on": None,
                "start_date": str(flag.get("start_date")),
                "money_at_stake": money,
                "notified_money_at_stake": money,
            }
            records.append(incident)
            notes.append(_note(incident["incident_id"], "opened", flag, explain(flag), day))
            continue
        incident["money_at_stake"] = money
        if _worse(money, incident["notified_money_at_stake"]):
            incident["notified_money_at_stake"] = money
            notes.append(_note(incident["incident_id"], "worsened", flag, explain(flag), day))
    for (name, series), incident in open_by_key.items():
        incident.update(status="resolved", resolved_on=day)
        flag = pd.Series({"flag": name, "series": series, "money_at_stake": None})
        notes.append(_note(incident["incident_id"], "resolved", flag, "", day))
    return (
        pd.DataFrame(records, columns=list(INCIDENT_COLUMNS)),
        pd.DataFrame(notes, columns=list(ALERT_COLUMNS)),
    )


def _worse(now: object, before: object) -> bool:
    """A decline's money at stake grew by a quarter since the last message."""
    try:
        now_f, before_f = abs(float(now)), abs(float(before))
    except (TypeError, ValueError):
        return False
    if math.isnan(now_f) or math.isnan(before_f):
        return False
    return now_f > before_f * WORSENED_RATIO


def _note(incident_id: str, kind: str, flag: pd.Series, extra: str, day: str) -> dict:
    return {
        "alert_id": f"{incident_id}-{kind}-{day}",
        "incident_id": incident_id,
        "kind": kind,
        "flag": flag["flag"],
        "series": flag["series"],
        "severity": SEVERITY.get(str(flag["flag"]), "WARN"),
        "money_at_stake": flag.get("money_at_stake"),
        "message": _message(kind, flag, extra),
        "created_on": day,
        "delivered_at": None,
        "attempts": 0,
        "last_error": None,
    }


def run_failure_alert(job_name: str, run_id: str, message: str) -> dict:
    """An alert for a failed monitoring run (not an incident: each failure is its own)."""
    day = dt.datetime.now(dt.UTC).date().isoformat()
    return {
        "alert_id": f"run-{run_id}",
        "incident_id": f"run-{run_id[:8]}",
        "kind": "run_failed",
        "flag": "run_failure",
        "series": "",
        "severity": "ERROR",
        "money_at_stake": None,
        "message": f"ERROR: monitoring run {run_id[:8]} of {job_name} failed — {message}",
        "created_on": day,
        "delivered_at": None,
        "attempts": 0,
        "last_error": None,
    }


class Notifier(Protocol):
    """Something that delivers one alert or raises."""

    name: str

    def send(self, alert: dict) -> None: ...


@dataclass
class LogNotifier:
    """Writes each alert to the log: the channel that always works."""

    name: str = "log"

    def send(self, alert: dict) -> None:
        level = logging.ERROR if alert["severity"] == "ERROR" else logging.WARNING
        log.log(level, "guap alert: %s", alert["message"])


class DeliveryError(Exception):
    """A webhook did not take the alert; the message never contains the URL."""


@dataclass
class WebhookNotifier:
    """POSTs a Slack-compatible JSON payload to the URL held by an environment variable."""

    env_var: str = WEBHOOK_ENV
    timeout_seconds: float = 5.0
    name: str = "webhook"

    @property
    def configured(self) -> bool:
        return bool(os.environ.get(self.env_var))

    def send(self, alert: dict) -> None:
        payload = {
            "text": alert["message"],
            "guap": {k: _plain(alert[k]) for k in ("incident_id", "kind", "flag", "series",
                                                    "severity", "money_at_stake")},
        }  # fmt: skip
        try:
            request = urllib.request.Request(
                _webhook_url(os.environ[self.env_var]),
                data=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"webhook answered HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"webhook unreachable ({type(reason).__name__})") from None
        except (ValueError, http.client.HTTPException) as exc:  # their messages quote the URL
            raise DeliveryError(
                f"{self.env_var} is not a valid URL ({type(exc).__name__})"
            ) from None


def _webhook_url(url: str) -> str:
    """The URL if it is http(s); urllib would also open ``file:`` and ``ftp:`` URLs."""
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ValueError("not an http(s) URL")
    return url


def _plain(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def deliver(
    alerts: pd.DataFrame,
    notifiers: Sequence[Notifier],
    *,
    retries: int = 3,
    backoff_seconds: float = 1.0,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> pd.DataFrame:
    """Send every pending alert through every notifier; failures stay pending.

    Each pending alert gets up to ``retries`` tries with exponential backoff; the last
    error (never the URL) is kept in ``last_error``.
    """
    out = alerts.copy()
    for row in out.index[out["delivered_at"].isna()]:
        alert = out.loc[row].to_dict()
        error = None
        for notifier in notifiers:
            error = _send_with_retry(notifier, alert, retries, backoff_seconds)
            if error:
                break
        out.loc[row, "attempts"] = int(alert["attempts"] or 0) + 1
        out.loc[row, "last_error"] = error
        if error is None:
            out.loc[row, "delivered_at"] = now().isoformat()
    return out


def _send_with_retry(notifier: Notifier, alert: dict, retries: int, backoff: float) -> str | None:
    for attempt in range(retries):
        try:
            notifier.send(alert)
            return None
        except DeliveryError as exc:
            error = f"{notifier.name}: {exc}"
            log.warning("guap alert %s not delivered (%s), try %d", alert["alert_id"], error,
                        attempt + 1)  # fmt: skip
            if attempt + 1 < retries:
                time.sleep(backoff * 2**attempt)
    return error
