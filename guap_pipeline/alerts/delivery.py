"""Alert delivery: every pending alert to every notifier (the log always, a webhook when
configured), as a Slack-compatible payload. A failure (HTTP 500, a hung server) is
retried with backoff, then left pending for the next run: delivery never fails the
monitoring run.

The webhook URL is a secret: it is read from an environment variable at send time
and never stored, logged or put in an error message.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from guap_pipeline.alerts.incidents import ALERT_COLUMNS, EVIDENCE_PREFIX, _missing
from guap_pipeline.errors import DeliveryError
from guap_pipeline.formatting import money

WEBHOOK_ENV = "GUAP_ALERT_WEBHOOK_URL"
log = logging.getLogger("guap_pipeline.alerts.incidents")  # the name log settings know


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
        log.log(level, "guap alert (%s): %s", alert["severity"], alert["message"])


# The alert's fields a webhook gets under "guap" for machines: incident_id to money_at_stake.
PAYLOAD_FIELDS = ALERT_COLUMNS[
    ALERT_COLUMNS.index("incident_id") : ALERT_COLUMNS.index("money_at_stake") + 1
]
# Slack's limits on text: a header 150 characters, a section 3000, a context element 2000.
HEADER_CHARS, SECTION_CHARS, CONTEXT_CHARS = 150, 3000, 2000


def payload(alert: Mapping[str, object]) -> dict:
    """The JSON a webhook receives: Slack ``text`` and ``blocks`` (header: the headline;
    fields: model, model version, flag, series, since, money; then where the money went;
    the statistics as context), and the alert's fields under ``guap`` for machines
    (``model`` only when set: a single model's payload is as it always was)."""
    first, *rest = str(alert["message"]).split("\n")
    fields = {
        "Model": alert.get("model"),
        "Model version": alert.get("model_version"),
        "Flag": f"{alert['flag']} ({alert['kind']}, {alert['severity']})",
        "Series": alert.get("series"),
        "Since": alert.get("start_date"),
        "Money at stake": (
            None if _missing(alert.get("money_at_stake"))
            else f"{money(alert['money_at_stake'])} a day"
        ),
    }  # fmt: skip
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(first, HEADER_CHARS)}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{name}*\n{value}"}
                for name, value in fields.items()
                if not _missing(value) and value != ""
            ],
        },
    ]
    if len(first) > HEADER_CHARS:
        rest.insert(0, first)
    for line in rest:
        if line.startswith(EVIDENCE_PREFIX):
            element = {"type": "mrkdwn", "text": _clip(line, CONTEXT_CHARS)}
            blocks.append({"type": "context", "elements": [element]})
        else:
            text = {"type": "mrkdwn", "text": _clip(line, SECTION_CHARS)}
            blocks.append({"type": "section", "text": text})
    return {
        "text": str(alert["message"]),
        "blocks": blocks,
        "guap": {
            k: _plain(alert.get(k))
            for k in PAYLOAD_FIELDS
            if k != "model" or not (_missing(alert.get(k)) or alert.get(k) == "")
        },
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class WebhookNotifier:
    """POSTs a Slack-compatible JSON :func:`payload` to the URL held by an environment
    variable."""

    env_var: str = WEBHOOK_ENV
    timeout_seconds: float = 5.0
    name: str = "webhook"

    @property
    def configured(self) -> bool:
        return bool(os.environ.get(self.env_var))

    def send(self, alert: dict) -> None:
        try:
            request = urllib.request.Request(
                _webhook_url(os.environ[self.env_var]),
                data=json.dumps(payload(alert)).encode(),
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


def notifiers(webhook: WebhookNotifier) -> list[Notifier]:
    """Where alerts go: the log always, and ``webhook`` when its variable holds a URL."""
    return [LogNotifier(), webhook] if webhook.configured else [LogNotifier()]


def _webhook_url(url: str) -> str:
    """The URL if it is http(s); urllib would also open ``file:`` and ``ftp:`` URLs."""
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ValueError("not an http(s) URL")
    return url


def _plain(value: object) -> object:
    """A JSON-ready value: NaN and missing as null, numpy numbers as Python ones."""
    if _missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


def deliver(
    alerts: pd.DataFrame,
    notifiers: Sequence[Notifier],
    *,
    retries: int = 3,
    backoff_seconds: float = 1.0,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> pd.DataFrame:
    """Send every pending alert through every notifier; failures stay pending.

    Each pending alert gets up to ``retries`` tries, with exponential backoff between
    them; a try sends it to every channel that has not taken it yet in this call.
    ``attempts`` counts the tries over all calls; ``last_error`` keeps the last error
    (never the URL).
    """
    out = alerts.copy()
    for row in out.index[out["delivered_at"].isna()]:
        alert = out.loc[row].to_dict()
        tries, error = _send_with_retry(notifiers, alert, retries, backoff_seconds)
        out.loc[row, "attempts"] = (
            int(0 if _missing(alert["attempts"]) else alert["attempts"]) + tries
        )
        out.loc[row, "last_error"] = error
        if error is None:
            out.loc[row, "delivered_at"] = now().isoformat()
    return out


def _send_with_retry(
    notifiers: Sequence[Notifier], alert: dict, retries: int, backoff: float
) -> tuple[int, str | None]:
    """Try until every channel took the alert or ``retries`` are spent: (tries, last error)."""
    waiting, error = list(notifiers), None
    for attempt in range(retries):
        failed: list[Notifier] = []
        for notifier in waiting:
            try:
                notifier.send(alert)
            except DeliveryError as exc:
                error = f"{notifier.name}: {exc}"
                failed.append(notifier)
                log.warning("guap alert %s not delivered (%s), try %d", alert["alert_id"],
                            error, attempt + 1)  # fmt: skip
        if not failed:
            return attempt + 1, None
        waiting = failed
        if attempt + 1 < retries:
            time.sleep(backoff * 2**attempt)
    return retries, error
