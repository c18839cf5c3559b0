"""Flags over the stored daily table, acceptance targets, and alerts across runs."""

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets_defs.cli import main
from guap_pipeline import parse_config
from guap_pipeline.acceptance import acceptance
from guap_pipeline.accounting import summary_from_counts
from guap_pipeline.errors import InputError
from guap_pipeline.flags.datasets import stable, step_decline
from guap_pipeline.monitoring import build_alerts, build_flags
from guap_pipeline.storage import Store
from guap_pipeline.timeseries import DAILY_COLUMNS

MATRIX = {"tp": 100, "fp": -10, "fn": -50, "tn": 0}


def as_daily_table(scenario_daily: pd.DataFrame) -> pd.DataFrame:
    """A generated series shaped like the pipeline's daily summary table."""
    daily = scenario_daily.copy()
    for column in DAILY_COLUMNS:
        if column not in daily:
            daily[column] = 0.0
    daily["date"] = pd.to_datetime(daily["date"]).dt.strftime("%Y-%m-%d")
    return daily[list(DAILY_COLUMNS)]


@dataclass
class Recorder:
    """A notifier that keeps what it was asked to send."""

    sent: list[str] = field(default_factory=list)
    name: str = "recorder"

    def send(self, alert: dict) -> None:
        self.sent.append(alert["message"])


def test_a_decline_alerts_once_across_runs(tmp_path: Path) -> None:
    config = parse_config({"value_matrix": MATRIX, "storage": str(tmp_path)})
    store = Store(config.storage)
    daily = as_daily_table(step_decline(seed=3).daily)
    store.write("daily_summary", daily)
    today = dt.date.fromisoformat(daily["date"].max())
    assert build_flags(store, config).flags["flag"].tolist() == ["decline"]
    recorder = Recorder()
    first = build_alerts(store, config, today=today, notifiers=[recorder], backoff_seconds=0)
    second = build_alerts(store, config, today=today, notifiers=[recorder], backoff_seconds=0)
    assert first.new == 1 and second.new == 0
    assert len(recorder.sent) == 1
    assert recorder.sent[0].startswith("ERROR: decline")
    assert store.read("incidents")["status"].tolist() == ["open"]


def test_a_stable_series_raises_nothing(tmp_path: Path) -> None:
    config = parse_config({"value_matrix": MATRIX, "storage": str(tmp_path)})
    store = Store(config.storage)
    store.write("daily_summary", as_daily_table(stable(seed=5).daily))
    assert build_flags(store, config).flags.empty


def test_acceptance_targets_are_judged_on_the_last_28_mature_days() -> None:
    config = parse_config(
        {
            "value_matrix": MATRIX,
            "acceptance": {"min_uplift_per_day": 150, "min_value_capture": 0.5},
        }
    )
    dates = pd.date_range("2026-01-01", periods=40).strftime("%Y-%m-%d")
    daily = pd.DataFrame({c: 0.0 for c in DAILY_COLUMNS}, index=range(40)).assign(
        date=dates, model_version="v1", mature=True, uplift=[0.0] * 12 + [200.0] * 28,
        oracle_profit=[500.0] * 40,
    )  # fmt: skip
    met = {t.name: t.met for t in acceptance(daily, config, dt.date(2026, 2, 10))}
    # uplift 200/day over the last 28 days; capture 200 / (500 - 0) = 40 %
    assert met == {"min_uplift_per_day": True, "min_value_capture": False}


def test_money_is_recomputed_from_counts_with_a_constant_matrix() -> None:
    config = parse_config({"value_matrix": MATRIX})
    counts = pd.DataFrame({"tp": [2], "fp": [3], "fn": [1], "tn": [4], "n_labeled": [10]})
    out = summary_from_counts(
        counts, config.value_matrix, baseline="all_negative", positive_class=1
    ).iloc[0]
    # profit 200 - 30 - 50 = 120; all negative: 3 positives × -50 = -150; oracle 3 × 100
    assert out["profit"] == 120 and out["baseline_profit"] == -150
    assert out["uplift"] == 270 and out["oracle_profit"] == 300
    assert out["value_capture"] == pytest.approx(270 / 450)


def test_example_dependent_money_cannot_be_made_up_from_counts() -> None:
    config = parse_config({"value_matrix": {**MATRIX, "fn": {"amount": -1.0}}})
    counts = pd.DataFrame({"tp": [2], "fp": [3], "fn": [1], "tn": [4], "n_labeled": [10]})
    with pytest.raises(InputError, match="cannot be recomputed"):
        summary_from_counts(counts, config.value_matrix, positive_class=1)


def counts_table(recall_after: float, *, seed: int, n_days: int = 200) -> pd.DataFrame:
    """Daily quadrant counts of a model whose recall moves from 0.8 on day 120."""
    rng = np.random.default_rng(seed)
    positives = rng.poisson(100, n_days)
    recall = np.where(np.arange(n_days) < 120, 0.8, recall_after)
    tp = rng.binomial(positives, recall)
    fp = rng.binomial(900, 0.02, n_days)
    return pd.DataFrame(
        {
            "date": pd.date_range("2026-01-01", periods=n_days).strftime("%Y-%m-%d"),
            "n_predictions": 1000,
            "n_labeled": 1000,
            "tp": tp,
            "fp": fp,
            "fn": positives - tp,
            "tn": 1000 - positives - fp,
        }
    )


def test_flags_command_runs_once_per_series(tmp_path: Path) -> None:
    config = tmp_path / "guap.yaml"
    config.write_text("value_matrix: {tp: 100, fp: -10, fn: -50, tn: 0}\n")
    pd.concat(
        [
            counts_table(0.6, seed=1).assign(segment="falling"),
            counts_table(0.8, seed=2).assign(segment="steady"),
        ]
    ).to_csv(tmp_path / "daily.csv", index=False)
    output = tmp_path / "flags.csv"
    assert main(["flags", str(tmp_path / "daily.csv"), "--config", str(config), "--by",
                 "segment", "--output", str(output)]) == 0  # fmt: skip
    flags = pd.read_csv(output)
    assert list(flags.columns) == [
        "series", "flag", "start_date", "money_at_stake", "ceiling", "projected_date", "evidence",
    ]  # fmt: skip
    assert flags[["series", "flag"]].values.tolist() == [["falling", "decline"]]
    # recall 0.8 -> 0.6 on 100 positives/day moves 20 rows from TP (+100) to FN (-50)
    assert flags.loc[0, "money_at_stake"] == pytest.approx(3000, rel=0.2)
    assert abs(pd.Timestamp(flags.loc[0, "start_date"]) - pd.Timestamp("2026-05-01")).days <= 3
