"""Alerts: one incident per active flag, one message when it opens, worsens or resolves.

An incident is one (flag, model version, series). Each monitoring run passes the flags
active now to :func:`update_incidents`, which compares them with the open incidents and
returns the notifications to send — so the same decline alerts once, not every day,
and two versions declining together are two incidents. A message reads answer first:
a headline (model version, what happened, money per day, since when), where the money
went (the quadrants, before against after the change), then the statistics.
:mod:`guap_pipeline.alerts.delivery` sends them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from guap_pipeline.formatting import as_number, day, money

INCIDENT_COLUMNS = (
    "incident_id",
    "flag",
    "model_version",
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
    "model",  # its name under a models: section; "" for a file of one model
    "kind",
    "flag",
    "model_version",
    "series",
    "severity",
    "start_date",
    "money_at_stake",
    "message",
    "created_on",
    "delivered_at",
    "attempts",
    "last_error",
)
INCIDENT_KEY = ("flag", "model_version", "series")
SEVERITY = {"decline": "ERROR", "plateau": "WARN", "diminishing_returns": "WARN"}
WORSENED_RATIO = 1.25
EVIDENCE_PREFIX = "Evidence: "
WHERE_PREFIX = "Where it went"


def empty(columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


@dataclass(frozen=True)
class Context:
    """What the daily table says around a flag, for its message (never for the decision).

    ``where``: the attribution of the change, the mature days before the flag's start
    against those from it on. Money is per day; NaN when unknown.
    """

    where: str = ""
    uplift_before: float = math.nan  # the version's mean uplift per day before the start
    uplift_since: float = math.nan  # and from the start on
    predictions_per_day: float = math.nan  # its recent volume: a ceiling per prediction → per day
    proximity: float = 0.05  # diminishing returns: "within 5 % of the ceiling"


def _incident_id(key: tuple[str, str, str], opened_on: str, model: str = "") -> str:
    """A stable id; the model's name is part of it when set, so that two models' incidents
    (the same flag of version v1 on the same day) never share one."""
    parts = [model, *key, opened_on] if model else [*key, opened_on]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def _iso(value: object) -> str | None:
    """A flag's date as ``YYYY-MM-DD``; None when missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value in ("", "NaT"):
        return None
    return pd.Timestamp(value).date().isoformat()  # type: ignore[arg-type]


def _subject(flag: Mapping[str, object], model: str = "") -> str:
    series = f" [{flag['series']}]" if flag.get("series") else ""
    named = f"{model} model, " if model else ""
    return f"{named}{flag.get('model_version') or 'all versions'}{series}"


def headline(
    kind: str,
    flag: Mapping[str, object],
    context: Context,
    *,
    currency: str = "",
    today: dt.date | None = None,
    previous: object = None,
    model: str = "",
) -> str:
    """The answer first, in one line: which model, what happened, how much a day, since when.

    e.g. ``fraud-v3: profit down 3.3k EUR/day since 6 May (−23 % of its uplift)``; with
    several models, the model's name first (``fraud model, v3: profit down ...``).
    """
    name, subject = str(flag["flag"]), _subject(flag, model)
    since = _iso(flag.get("start_date"))
    since_text = f" since {day(since, today=today)}" if since else ""

    def per_day(value: float) -> str:
        return money(value, currency, compact=True) + "/day"

    if kind == "resolved":
        began = f" (began {day(since, today=today)})" if since else ""
        return f"{subject}: {name.replace('_', ' ')} resolved{began}"
    if name == "decline":
        at_stake = as_number(flag.get("money_at_stake"))
        amount = f" {per_day(at_stake)}" if math.isfinite(at_stake) else ""
        text = f"{subject}: profit down{amount}{since_text}"
        if kind == "worsened":
            text += f", worse than the {per_day(as_number(previous))} first reported"
        if context.uplift_before > 0 and math.isfinite(at_stake):
            share = at_stake / context.uplift_before
            text += f" ({money(-100 * share, signed=True)} % of its uplift)"
        return text
    if name == "plateau":
        level = context.uplift_since
        return f"{subject}: uplift flat{since_text}" + (
            f" at {per_day(level)}" if math.isfinite(level) else ""
        )
    ceiling = as_number(flag.get("ceiling"))
    if math.isfinite(context.predictions_per_day * ceiling):
        cap = f", ceiling {per_day(ceiling * context.predictions_per_day)} at today's volume"
    elif math.isfinite(ceiling):
        cap = f", ceiling {ceiling:,.3g} per prediction"
    else:
        cap = ""
    projected = _iso(flag.get("projected_date"))
    reached = projected is not None and today is not None and projected <= today.isoformat()
    reach = (
        f", within {context.proximity:.0%} of it {'since' if reached else 'by'} "
        f"{day(projected, today=today)}"
        if projected
        else ""
    )
    return f"{subject}: uplift growth slowing{cap}{reach}"


def message(
    kind: str,
    flag: Mapping[str, object],
    context: Context,
    *,
    currency: str = "",
    today: dt.date | None = None,
    previous: object = None,
    model: str = "",
) -> str:
    """Headline, then where the money went, then the statistics: one line each."""
    head = headline(
        kind, flag, context, currency=currency, today=today, previous=previous, model=model
    )
    lines = [head]
    if kind != "resolved":
        if context.where:
            lines.append(context.where)
        if flag.get("evidence"):
            lines.append(f"{EVIDENCE_PREFIX}{flag['evidence']}")
    return "\n".join(lines)


def update_incidents(
    flags: pd.DataFrame,
    incidents: pd.DataFrame,
    *,
    today: dt.date,
    alert_on: Sequence[str] = ("decline",),
    context: Callable[[pd.Series], Context] = lambda _: Context(),
    currency: str = "",
    model: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open, follow up and resolve incidents; return (incidents, new notifications).

    ``flags`` are the flags active now (SPEC "Flags table"); only those in ``alert_on``
    raise incidents. An incident is one (flag, model version, series): two versions in
    decline at once are two incidents. It alerts when it opens, when its money at stake
    grows by a quarter since the last message, and when the flag is gone (resolved).
    ``context`` gives a message what the daily table says around the flag. ``model``: the
    model's name under a models: section, in every message and incident id.
    """
    records = incidents.to_dict("records") if len(incidents) else []
    open_by_key = {_key(r): r for r in records if r["status"] == "open"}
    day_text = today.isoformat()
    notes: list[dict] = []
    for _, flag in _alerting(flags, alert_on).iterrows():
        key = _key(flag)
        money_now = flag.get("money_at_stake")
        incident = open_by_key.pop(key, None)
        if incident is None:
            incident = {
                "incident_id": _incident_id(key, day_text, model),
                **dict(zip(INCIDENT_KEY, key, strict=True)),
                "severity": SEVERITY.get(key[0], "WARN"),
                "status": "open",
                "opened_on": day_text,
                "resolved_on": None,
                "start_date": _iso(flag.get("start_date")),
                "money_at_stake": money_now,
                "notified_money_at_stake": money_now,
            }
            records.append(incident)
            text = message(
                "opened", flag, context(flag), currency=currency, today=today, model=model
            )
            notes.append(_note(incident, "opened", flag, text, day_text, model))
            continue
        incident["money_at_stake"] = money_now
        if _worse(money_now, incident["notified_money_at_stake"]):
            text = message(
                "worsened", flag, context(flag), currency=currency, today=today,
                previous=incident["notified_money_at_stake"], model=model,
            )  # fmt: skip
            incident["notified_money_at_stake"] = money_now
            notes.append(_note(incident, "worsened", flag, text, day_text, model))
    for incident in open_by_key.values():
        incident.update(status="resolved", resolved_on=day_text)
        gone = pd.Series({**incident, "money_at_stake": None})
        text = message("resolved", gone, Context(), currency=currency, today=today, model=model)
        notes.append(_note(incident, "resolved", gone, text, day_text, model))
    return (
        pd.DataFrame(records, columns=list(INCIDENT_COLUMNS)),
        pd.DataFrame(notes, columns=list(ALERT_COLUMNS)),
    )


def _key(row: Mapping[str, object]) -> tuple[str, str, str]:
    """An incident's identity: (flag, model version, series), missing parts as ""."""
    flag, version, series = ("" if _missing(row.get(c)) else str(row.get(c)) for c in INCIDENT_KEY)
    return flag, version, series


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _alerting(flags: pd.DataFrame, alert_on: Sequence[str]) -> pd.DataFrame:
    """The flags that raise incidents, one per key (a version can carry two diminishing-
    returns flags, from its own curve and across versions: one incident, the first)."""
    if flags.empty:
        return flags
    active = flags[flags["flag"].isin(alert_on)]
    keys = pd.Series([_key(row) for _, row in active.iterrows()], index=active.index, dtype=object)
    return active[~keys.duplicated()]


def _worse(now: object, before: object) -> bool:
    """A decline's money at stake grew by a quarter since the last message."""
    return abs(as_number(now)) > abs(as_number(before)) * WORSENED_RATIO  # False if either is NaN


def _note(
    incident: Mapping[str, object], kind: str, flag: pd.Series, text: str, on: str, model: str
) -> dict:
    return {
        "alert_id": f"{incident['incident_id']}-{kind}-{on}",
        "incident_id": incident["incident_id"],
        "model": model,
        "kind": kind,
        **{c: incident[c] for c in INCIDENT_KEY},
        "severity": incident["severity"],
        "start_date": incident["start_date"],
        "money_at_stake": flag.get("money_at_stake"),
        "message": text,
        "created_on": on,
        "delivered_at": None,
        "attempts": 0,
        "last_error": None,
    }


def run_failure_alert(job_name: str, run_id: str, reason: str, model: str = "") -> dict:
    """An alert for a failed monitoring run (not an incident: each failure is its own);
    ``reason`` says which step failed and why, ``model`` names the model if several."""
    named = f"{model} model: " if model else ""
    return {
        "alert_id": f"run-{run_id}",
        "incident_id": f"run-{run_id[:8]}",
        "model": model,
        "kind": "run_failed",
        "flag": "run_failure",
        "model_version": "",
        "series": "",
        "severity": "ERROR",
        "start_date": None,
        "money_at_stake": None,
        "message": f"{named}monitoring run {run_id[:8]} of {job_name} failed\n{reason}",
        "created_on": dt.datetime.now(dt.UTC).date().isoformat(),
        "delivered_at": None,
        "attempts": 0,
        "last_error": None,
    }
