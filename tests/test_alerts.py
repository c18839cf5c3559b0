"""Alerts: one message per incident, follow-ups, and delivery to a real local webhook."""

import datetime as dt
import hashlib
import logging
from collections.abc import Iterator

import pandas as pd
import pytest

from guap_pipeline.alerts.delivery import (
    WEBHOOK_ENV,
    LogNotifier,
    WebhookNotifier,
    deliver,
    payload,
)
from guap_pipeline.alerts.incidents import INCIDENT_COLUMNS, Context, empty, update_incidents
from tests.webhook import Hook, receiving

DAY = dt.date(2026, 10, 20)


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    with receiving(monkeypatch) as server:
        yield server


def flags(*rows: tuple[str, str, float]) -> pd.DataFrame:
    """A flags table (SPEC "Flags table") of (flag, model_version, money_at_stake) rows."""
    return pd.DataFrame(
        [
            {"series": "", "model_version": v, "flag": f, "start_date": "2026-10-01",
             "money_at_stake": m, "ceiling": None, "projected_date": None,
             "evidence": "cusum h=5"}
            for f, v, m in rows
        ],
        columns=["series", "model_version", "flag", "start_date", "money_at_stake", "ceiling",
                 "projected_date", "evidence"],
    )  # fmt: skip


def test_an_incident_alerts_once_then_on_worsening_and_on_resolution() -> None:
    incidents = empty(INCIDENT_COLUMNS)
    kinds = []
    for offset, active in enumerate(
        [
            flags(("decline", "v1", 1000.0)),
            flags(("decline", "v1", 1100.0)),  # same incident, not much worse: silent
            flags(("decline", "v1", 2000.0)),  # worse by more than a quarter
            flags(),  # gone: resolved
            flags(),  # nothing to say
        ]
    ):
        incidents, notes = update_incidents(active, incidents, today=DAY + dt.timedelta(offset))
        kinds.append(notes["kind"].tolist())
    assert kinds == [["opened"], [], ["worsened"], ["resolved"], []]
    assert incidents["status"].tolist() == ["resolved"]


def test_two_versions_declining_together_are_two_incidents_alerted_once() -> None:
    incidents, sent = empty(INCIDENT_COLUMNS), []
    both = flags(("decline", "v1", 1000.0), ("decline", "v2", 800.0))
    for offset in range(3):  # the same two flags on three consecutive days
        incidents, notes = update_incidents(both, incidents, today=DAY + dt.timedelta(offset))
        sent += notes[["kind", "model_version", "incident_id"]].values.tolist()
    assert [row[:2] for row in sent] == [["opened", "v1"], ["opened", "v2"]]
    assert sent[0][2] != sent[1][2]
    assert sorted(incidents["model_version"]) == ["v1", "v2"]
    assert incidents["status"].tolist() == ["open", "open"]
    # v2 recovers: only its incident resolves
    incidents, notes = update_incidents(
        flags(("decline", "v1", 1000.0)), incidents, today=DAY + dt.timedelta(3)
    )
    assert notes[["kind", "model_version"]].values.tolist() == [["resolved", "v2"]]


def test_a_version_with_two_flags_of_one_kind_is_one_incident() -> None:
    # diminishing returns of a version's own curve and across versions, both active
    twice = flags(("diminishing_returns", "v3", float("nan")), ("diminishing_returns", "v3", 0.0))
    incidents, notes = update_incidents(
        twice, empty(INCIDENT_COLUMNS), today=DAY, alert_on=["diminishing_returns"]
    )
    assert len(notes) == 1 and len(incidents) == 1


def test_a_decline_message_puts_the_answer_first_then_where_then_evidence() -> None:
    where = "Where it went, per day, ...: −3.3k EUR/day: fraud stopped −3.0k EUR (30 fewer a day)"
    _, notes = update_incidents(
        flags(("decline", "fraud-v3", 3295.0)),
        empty(INCIDENT_COLUMNS),
        today=DAY,
        context=lambda _: Context(where=where, uplift_before=14_300.0),
        currency="EUR",
    )
    headline, *rest = notes.loc[0, "message"].split("\n")
    # 3,295 / 14,300 = 23.0 % of the uplift the version made before the decline
    assert headline == "fraud-v3: profit down 3.3k EUR/day since 1 Oct (−23 % of its uplift)"
    assert rest == [where, "Evidence: cusum h=5"]
    assert notes.loc[0, ["model_version", "start_date"]].tolist() == ["fraud-v3", "2026-10-01"]


def test_worsened_and_resolved_messages_name_the_version() -> None:
    incidents, _ = update_incidents(
        flags(("decline", "v1", 1000.0)), empty(INCIDENT_COLUMNS), today=DAY
    )
    incidents, notes = update_incidents(
        flags(("decline", "v1", 1500.0)), incidents, today=DAY, currency="EUR"
    )
    assert notes.loc[0, "message"].split("\n")[0] == (
        "v1: profit down 1.5k EUR/day since 1 Oct, worse than the 1.0k EUR/day first reported"
    )
    _, notes = update_incidents(flags(), incidents, today=DAY)
    assert notes.loc[0, "message"] == "v1: decline resolved (began 1 Oct)"


def test_a_headline_without_figures_leaves_them_out() -> None:
    _, notes = update_incidents(
        flags(("decline", "v1", float("nan")), ("plateau", "v2", float("nan"))),
        empty(INCIDENT_COLUMNS),
        today=DAY,
        alert_on=["decline", "plateau"],
    )
    assert [m.split("\n")[0] for m in notes["message"]] == [
        "v1: profit down since 1 Oct",
        "v2: uplift flat since 1 Oct",
    ]


def test_plateau_and_diminishing_returns_headlines_say_level_and_ceiling() -> None:
    table = flags(
        ("plateau", "fraud-v2", float("nan")), ("diminishing_returns", "v4", float("nan"))
    )
    table.loc[1, ["ceiling", "projected_date"]] = [0.52, "2026-11-03"]
    context = Context(uplift_since=4_100.0, predictions_per_day=10_000.0)
    _, notes = update_incidents(
        table, empty(INCIDENT_COLUMNS), today=DAY, alert_on=["plateau", "diminishing_returns"],
        context=lambda _: context, currency="EUR",
    )  # fmt: skip
    plateau, diminishing = (m.split("\n")[0] for m in notes["message"])
    assert plateau == "fraud-v2: uplift flat since 1 Oct at 4.1k EUR/day"
    # 0.52 per prediction × 10,000 predictions a day
    assert diminishing == (
        "v4: uplift growth slowing, ceiling 5.2k EUR/day at today's volume, "
        "within 5% of it by 3 Nov"
    )
    assert notes["severity"].tolist() == ["WARN", "WARN"]


def test_only_the_configured_flags_raise_incidents() -> None:
    incidents, notes = update_incidents(
        flags(("plateau", "v1", 0.0)), empty(INCIDENT_COLUMNS), today=DAY
    )
    assert notes.empty and incidents.empty
    _, notes = update_incidents(
        flags(("plateau", "v1", 0.0)), empty(INCIDENT_COLUMNS), today=DAY, alert_on=["plateau"]
    )
    assert notes["severity"].tolist() == ["WARN"]


def pending_alert() -> pd.DataFrame:
    _, notes = update_incidents(
        flags(("decline", "v2", 5000.0)),
        empty(INCIDENT_COLUMNS),
        today=DAY,
        context=lambda _: Context(where="Where it went: fraud stopped −5.0k"),
    )
    return notes


def test_webhook_receives_slack_blocks_and_the_incident_fields(hook: Hook) -> None:
    alerts = deliver(pending_alert(), [LogNotifier(), WebhookNotifier()], backoff_seconds=0)
    [body] = hook.bodies
    assert body["text"] == alerts.loc[0, "message"]
    header, fields, where, evidence = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text",
                      "text": "v2: profit down 5.0k/day since 1 Oct"}}  # fmt: skip
    assert [f["text"] for f in fields["fields"]] == [
        "*Model version*\nv2",
        "*Flag*\ndecline (opened, ERROR)",
        "*Since*\n2026-10-01",
        "*Money at stake*\n5,000 a day",
    ]
    assert where["text"]["text"] == "Where it went: fraud stopped −5.0k"
    assert evidence == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Evidence: cusum h=5"}],
    }
    assert body["guap"] == {
        "incident_id": alerts.loc[0, "incident_id"], "kind": "opened", "flag": "decline",
        "model_version": "v2", "series": "", "severity": "ERROR", "start_date": "2026-10-01",
        "money_at_stake": 5000.0,
    }  # fmt: skip
    assert alerts.loc[0, "delivered_at"] is not None and alerts.loc[0, "attempts"] == 1
    # delivered alerts are not sent again
    deliver(alerts, [WebhookNotifier()], backoff_seconds=0)
    assert len(hook.bodies) == 1


def test_a_long_first_line_is_clipped_in_the_header_and_kept_whole_below() -> None:
    alert = pending_alert().loc[0].to_dict() | {"message": "x" * 200}
    blocks = payload(alert)["blocks"]
    assert blocks[0]["text"]["text"] == "x" * 149 + "…"
    assert blocks[2]["text"]["text"] == "x" * 200


def test_a_failing_webhook_leaves_the_alert_pending_without_leaking_the_url(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    hook.status = 500
    caplog.set_level(logging.DEBUG)
    alerts = deliver(
        pending_alert(), [LogNotifier(), WebhookNotifier()], retries=3, backoff_seconds=0
    )
    assert len(hook.bodies) == 3  # retried
    assert caplog.text.count("guap alert (ERROR)") == 1  # the log took it on the first try
    assert pd.isna(alerts.loc[0, "delivered_at"])
    assert alerts.loc[0, "attempts"] == 3  # three tries, not one run
    assert alerts.loc[0, "last_error"] == "webhook: webhook answered HTTP 500"
    hook.status = 200
    alerts = deliver(alerts, [WebhookNotifier()], backoff_seconds=0)  # next run
    assert alerts.loc[0, "delivered_at"] is not None
    assert alerts.loc[0, "attempts"] == 4
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


def test_a_ceiling_already_reached_reads_since_not_by() -> None:
    table = flags(("diminishing_returns", "v4", float("nan")))
    table.loc[0, ["ceiling", "projected_date"]] = [0.52, "2026-07-12"]
    context = Context(predictions_per_day=10_000.0)
    _, notes = update_incidents(
        table, empty(INCIDENT_COLUMNS), today=dt.date(2026, 12, 7),
        alert_on=["diminishing_returns"], context=lambda _: context,
    )  # fmt: skip
    assert notes["message"][0].split("\n")[0] == (
        "v4: uplift growth slowing, ceiling 5.2k/day at today's volume, "
        "within 5% of it since 12 Jul"
    )


def test_two_models_alerts_carry_their_names_and_never_share_an_incident(hook: Hook) -> None:
    """The same decline of version v1 on the same day in two models (each its own store):
    two incidents with distinct ids, each message and payload naming its model."""
    sent = []
    for model in ("fraud", "churn"):
        _, notes = update_incidents(
            flags(("decline", "v1", 5000.0)), empty(INCIDENT_COLUMNS), today=DAY, model=model
        )
        sent.append(deliver(notes, [WebhookNotifier()], backoff_seconds=0).loc[0])
    assert sent[0]["incident_id"] != sent[1]["incident_id"]
    assert [alert["message"].split("\n")[0] for alert in sent] == [
        "fraud model, v1: profit down 5.0k/day since 1 Oct",
        "churn model, v1: profit down 5.0k/day since 1 Oct",
    ]
    for body, model in zip(hook.bodies, ("fraud", "churn"), strict=True):
        assert body["guap"]["model"] == model
        assert body["blocks"][0]["text"]["text"].startswith(f"{model} model, v1:")
        assert body["blocks"][1]["fields"][0]["text"] == f"*Model*\n{model}"
    # a single model (no name): the id and the message are what they always were
    _, alone = update_incidents(
        flags(("decline", "v1", 5000.0)), empty(INCIDENT_COLUMNS), today=DAY
    )
    assert alone.loc[0, "message"].startswith("v1: profit down")
    assert alone.loc[0, "incident_id"] == hashlib.sha1(b"decline|v1||2026-10-20").hexdigest()[:12]
    assert "model" not in payload(alone.loc[0].to_dict())["guap"]
