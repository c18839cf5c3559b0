"""Alerts as a user meets them: `guap-pipeline run` on consecutive days, a local webhook.

Two model versions (an A/B test) lose recall from the same day. The webhook is down on
the first run, up from the second, which has nothing new to build; then the pipeline
runs on the next two days. Exactly two messages must arrive, one per version.
"""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets_defs.cli import main
from guap_pipeline.store.store import Store
from tests.webhook import Hook, receiving

pytestmark = pytest.mark.slow  # monitoring runs of a pipeline over days

CONFIG = """\
landing: ./landing
storage: ./store
start_date: 2026-01-01
value_matrix: {tp: 100, fp: -10, fn: -50, tn: 0}
label_window_days: 5
"""
FIRST, DAYS, CHANGE = dt.date(2026, 1, 1), 100, 70  # recall falls on 12 March


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    with receiving(monkeypatch) as server:
        yield server


def scored_traffic(version: str, seed: int, n: int = 500) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions and their labels: 10 % fraud, recall 0.8 then 0.5 from day ``CHANGE``."""
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(DAYS), n)
    fraud = rng.uniform(size=len(day)) < 0.1
    recall = np.where(day >= CHANGE, 0.5, 0.8)
    flagged = np.where(
        fraud, rng.uniform(size=len(day)) < recall, rng.uniform(size=len(day)) < 0.02
    )
    at = pd.Timestamp(FIRST, tz="UTC") + pd.to_timedelta(
        day * 86_400 + rng.integers(0, 86_000, len(day)), unit="s"
    )
    ids = [f"{version}-{i}" for i in range(len(day))]
    predictions = pd.DataFrame(
        {"prediction_id": ids, "predicted_at": at, "model_version": version,
         "y_pred": flagged.astype(int)}
    )  # fmt: skip
    labels = pd.DataFrame(
        {"prediction_id": ids, "y_true": fraud.astype(int), "labeled_at": at + pd.Timedelta(days=2)}
    )
    return predictions, labels


def test_two_declining_versions_send_two_messages_over_three_days(
    tmp_path: Path, hook: Hook, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "guap.yaml"
    config.write_text(CONFIG)
    for kind in ("predictions", "labels"):
        (tmp_path / "landing" / kind).mkdir(parents=True)
    for seed, version in enumerate(("v1", "v2")):
        predictions, labels = scored_traffic(version, seed)
        predictions.to_parquet(tmp_path / "landing" / "predictions" / f"{version}.parquet")
        labels.to_parquet(tmp_path / "landing" / "labels" / f"{version}.parquet")
    as_of = FIRST + dt.timedelta(DAYS + 5)

    def run(day: dt.date) -> str:
        assert main(["run", "--config", str(config), "--as-of", day.isoformat()]) == 0
        return capsys.readouterr().err

    hook.status = 500  # the webhook is down: each alert tried three times, kept pending
    run(as_of)
    alerts = Store(tmp_path / "store").read("alerts")
    assert alerts["model_version"].tolist() == ["v1", "v2"]
    assert alerts["delivered_at"].isna().all() and alerts["attempts"].tolist() == [3, 3]
    assert len(hook.bodies) == 6

    hook.status, hook.bodies = 200, []  # back up; this run has nothing new to build
    output = run(as_of)
    assert "nothing new" in output and "alerts: 2 delivered" in output
    for day in (as_of + dt.timedelta(1), as_of + dt.timedelta(2)):
        run(day)

    assert [b["guap"]["model_version"] for b in hook.bodies] == ["v1", "v2"]
    assert len({b["guap"]["incident_id"] for b in hook.bodies}) == 2
    for body in hook.bodies:
        assert body["blocks"][0]["text"]["text"].startswith(
            f"{body['guap']['model_version']}: profit down "
        )
    alerts = Store(tmp_path / "store").read("alerts")
    assert alerts["attempts"].tolist() == [4, 4] and alerts["delivered_at"].notna().all()
    incidents = Store(tmp_path / "store").read("incidents")
    assert incidents["status"].tolist() == ["open", "open"]
