"""Alerts: one message per incident, follow-ups, and delivery to a real local webhook."""

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from guap_pipeline.alerts import (
    INCIDENT_COLUMNS,
    WEBHOOK_ENV,
    LogNotifier,
    WebhookNotifier,
    deliver,
    empty,
    update_incidents,
)

DAY = dt.date(2026, 10, 20)


def flags(*rows: tuple[str, str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"series": s, "flag": f, "start_date": "2026-10-01", "money_at_stake": m,
             "ceiling": None, "projected_date": None, "evidence": "cusum h=5"}
            for f, s, m in rows
        ],
        columns=["series", "flag", "start_date", "money_at_stake", "ceiling",
                 "projected_date", "evidence"],
    )  # fmt: skip


def test_an_incident_alerts_once_then_on_worsening_and_on_resolution() -> None:
    incidents = empty(INCIDENT_COLUMNS)
    kinds = []
    for offset, active in enumerate(
        [
            flags(("decline", "", -1000.0)),
            flags(("decline", "", -1100.0)),  # same incident, not much worse: silent
            flags(("decline", "", -2000.0)),  # worse by more than a quarter
            flags(),  # gone: resolved
            flags(),  # nothing to say
        ]
    ):
        incidents, notes = update_incidents(active, incidents, today=DAY + dt.timedelta(offset))
        kinds.append(notes["kind"].tolist())
    assert kinds == [["opened"], [], ["worsened"], ["resolved"], []]
    assert incidents["status"].tolist() == ["resolved"]


def test_opened_message_says_what_where_since_and_how_much() -> None:
    _, notes = update_incidents(
        flags(("decline", "v2", -12400.0)),
        empty(INCIDENT_COLUMNS),
        today=DAY,
        explain=lambda _: "FN +310/day (−15.1k)",
    )
    [message] = notes["message"]
    assert message.startswith("ERROR: decline [v2] — since 2026-10-01 — -12,400/day at stake")
    assert "FN +310/day" in message


def test_only_the_configured_flags_raise_incidents() -> None:
    incidents, notes = update_incidents(
        flags(("plateau", "", 0.0)), empty(INCIDENT_COLUMNS), today=DAY
    )
    assert notes.empty and incidents.empty
    _, notes = update_incidents(
        flags(("plateau", "", 0.0)), empty(INCIDENT_COLUMNS), today=DAY, alert_on=["plateau"]
    )
    assert notes["severity"].tolist() == ["WARN"]


class Hook:
    """A local HTTP server standing in for Slack: records bodies, can fail or hang."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        self.delay = 0.0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(hook.delay)
                hook.bodies.append(json.loads(body))
                try:
                    self.send_response(hook.status)
                    self.end_headers()
                    self.wfile.write(b"ok")
                except BrokenPipeError:  # the client gave up waiting (hang test)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T0SECRET/B0SECRET"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    server = Hook()
    monkeypatch.setenv(WEBHOOK_ENV, server.url)
    yield server
    server.server.shutdown()


def pending_alert() -> pd.DataFrame:
    _, notes = update_incidents(flags(("decline", "", -5000.0)), empty(INCIDENT_COLUMNS), today=DAY)
    return notes


def test_webhook_receives_a_slack_compatible_payload(hook: Hook) -> None:
    alerts = deliver(pending_alert(), [LogNotifier(), WebhookNotifier()], backoff_seconds=0)
    [body] = hook.bodies
    assert body["text"] == alerts.loc[0, "message"]
    assert body["guap"]["flag"] == "decline" and body["guap"]["money_at_stake"] == -5000.0
    assert alerts.loc[0, "delivered_at"] is not None
    # delivered alerts are not sent again
    deliver(alerts, [WebhookNotifier()], backoff_seconds=0)
    assert len(hook.bodies) == 1


def test_a_failing_webhook_leaves_the_alert_pending_without_leaking_the_url(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    hook.status = 500
    caplog.set_level(logging.DEBUG)
    alerts = deliver(pending_alert(), [WebhookNotifier()], retries=3, backoff_seconds=0)
    assert len(hook.bodies) == 3  # retried
    assert pd.isna(alerts.loc[0, "delivered_at"])
    assert alerts.loc[0, "last_error"] == "webhook: webhook answered HTTP 500"
    hook.status = 200
    alerts = deliver(alerts, [WebhookNotifier()], backoff_seconds=0)  # next run
    assert alerts.loc[0, "delivered_at"] is not None
    assert alerts.loc[0, "attempts"] == 2
    for text in (caplog.text, alerts.to_json()):
        assert "SECRET" not in text and hook.url not in text


def test_a_hanging_webhook_times_out_and_stays_pending(hook: Hook) -> None:
    hook.delay = 1.0
    alerts = deliver(
        pending_alert(), [WebhookNotifier(timeout_seconds=0.2)], retries=1, backoff_seconds=0
    )
    assert pd.isna(alerts.loc[0, "delivered_at"])
    assert alerts.loc[0, "last_error"].startswith("webhook: webhook unreachable")


@pytest.mark.parametrize(
    "url",
    [
        "hooks.example.com/T0SECRET",  # no scheme: urllib's error quotes the URL
        "https://hooks.example.com/T0 SECRET",  # control character
        "http://hooks.example.com:SECRET/x",  # bad port
        "file:///etc/SECRET",  # not a webhook: must not be opened
        "http://[::SECRET",  # bad IPv6 literal
    ],
)
def test_a_malformed_webhook_url_stays_pending_and_is_never_quoted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, url: str
) -> None:
    monkeypatch.setenv(WEBHOOK_ENV, url)
    caplog.set_level(logging.DEBUG)
    alerts = deliver(pending_alert(), [WebhookNotifier()], retries=2, backoff_seconds=0)
    assert pd.isna(alerts.loc[0, "delivered_at"])
    assert alerts.loc[0, "last_error"].startswith(f"webhook: {WEBHOOK_ENV} is not a valid URL")
    for text in (caplog.text, alerts.to_json()):
        assert "SECRET" not in text
