"""Flags over the stored daily table, acceptance targets, and alerts across runs."""

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets_defs.checks import flag_check
from assets_defs.cli import main
from guap_pipeline import parse_config
from guap_pipeline.alerts.store_runs import build_alerts, build_flags, deliver_pending, flag_context
from guap_pipeline.datasets.flag_series import stable, step_decline
from guap_pipeline.errors import InputError
from guap_pipeline.money.summary import summary_from_counts
from guap_pipeline.series.acceptance import acceptance
from guap_pipeline.series.attribution import around, attribute
from guap_pipeline.series.daily_table import DAILY_COLUMNS
from guap_pipeline.store.store import Store

TODAY = dt.date(2026, 6, 30)
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
    assert recorder.sent[0].startswith("v1: profit down ")
    assert store.read("incidents")["status"].tolist() == ["open"]


FRAUD = {"tp": "fraud stopped", "fp": "good customer blocked", "fn": "fraud paid out",
         "tn": "customer served"}  # fmt: skip


def fraud_days(
    n_days: int, *, version: str, seed: int, change_day: int = 10**6,
    tp_value_after: float = 100.0, recall_after: float = 0.8,
) -> pd.DataFrame:  # fmt: skip
    """Daily rows of a fraud model, money worked out by hand: 1,000 predictions a day,
    ~100 frauds caught at recall 0.8; TP +100 each, FP −10, FN −50, TN 0; baseline
    all-negative (every fraud paid out). From ``change_day`` a TP is worth
    ``tp_value_after`` and recall is ``recall_after``."""
    rng = np.random.default_rng(seed)
    after = np.arange(n_days) >= change_day
    positives = rng.poisson(100, n_days)
    tp = rng.binomial(positives, np.where(after, recall_after, 0.8))
    fp = rng.binomial(900, 0.02, n_days)
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2026-01-01", periods=n_days).strftime("%Y-%m-%d"),
            "model_version": version, "n_predictions": 1000, "n_labeled": 1000,
            "label_coverage": 1.0, "mature": True,
            "tp": tp, "fp": fp, "fn": positives - tp, "tn": 1000 - positives - fp,
            "value_tp": tp * np.where(after, tp_value_after, 100.0), "value_fp": -10.0 * fp,
            "value_fn": -50.0 * (positives - tp), "value_tn": 0.0,
            "baseline_profit": -50.0 * positives,
        }
    )  # fmt: skip
    frame["profit"] = frame[["value_tp", "value_fp", "value_fn", "value_tn"]].sum(axis=1)
    frame["uplift"] = frame["profit"] - frame["baseline_profit"]
    return as_daily_table(frame)


def test_a_decline_message_headline_and_attribution_agree(tmp_path: Path) -> None:
    config = parse_config(
        {"value_matrix": MATRIX, "storage": str(tmp_path), "quadrants": FRAUD, "currency": "EUR"}
    )
    store = Store(config.storage)
    # from 1 May (day 120) a stopped fraud earns 70 instead of 100: 80 a day × 30 = 2,400
    # less profit a day, on an uplift of 100×80 − 10×18 − 50×20 + 50×100 = 11,820 a day
    daily = fraud_days(180, version="v1", seed=4, change_day=120, tp_value_after=70.0)
    # the last days are marked mature while a third of their traffic is still unlabeled:
    # the detectors skip them, and so must the message's volume
    daily.loc[daily.index[-5:], "n_predictions"] = 1500
    store.write("daily_summary", daily)
    [flag] = build_flags(store, config).flags.itertuples()
    assert abs(flag.start_date - pd.Timestamp("2026-05-01")).days <= 3
    recorder = Recorder()
    build_alerts(store, config, today=dt.date(2026, 6, 30), notifiers=[recorder], backoff_seconds=0)
    [text] = recorder.sent
    headline, where, evidence = text.split("\n")
    found = re.fullmatch(
        r"v1: profit down ([\d.]+)k EUR/day since (\d+ \w+) \(−(\d+) % of its uplift\)",
        headline,
    )
    assert found, headline
    assert float(found[1]) == pytest.approx(2.4, rel=0.15)
    assert int(found[3]) == pytest.approx(100 * 2400 / 11820, abs=3)
    # where it went: the headline's drop, no other figure, nearly all of it on TP
    moved = re.search(r"from it on: −([\d.]+)k EUR/day: fraud stopped (−[\d.]+)k EUR \(", where)
    assert moved, where
    assert moved[1] == found[1]
    assert float(moved[2][1:]) == pytest.approx(2.4, rel=0.15)
    assert where.startswith(
        f"Where it went, per day at the 1,000 predictions a day since {found[2]}, split as the "
        f"quadrants moved between the 28 mature days before {found[2]} and the 28 from it on: "
    )
    assert evidence.startswith("Evidence: one-sided CUSUM")
    assert "× 1,000 predictions/day" in evidence, evidence


def test_where_the_money_went_is_at_todays_volume_as_the_headline_is() -> None:
    """A version that also lost half its traffic at the change (a new version took it)
    lost 2,400 a day per 1,000 predictions, so 1,200 a day at its 500 a day since —
    not the 2,400 + half its profit that raw per-day sums would show."""
    config = parse_config({"value_matrix": MATRIX, "quadrants": FRAUD})
    daily = fraud_days(180, version="v1", seed=4, change_day=120, tp_value_after=70.0)
    halved = pd.to_datetime(daily["date"]) >= pd.Timestamp("2026-05-01")
    money_columns = [
        *("n_predictions", "n_labeled", "tp", "fp", "fn", "tn"),
        *("value_tp", "value_fp", "value_fn", "value_tn", "profit", "baseline_profit", "uplift"),
    ]
    daily[money_columns] = daily[money_columns].astype("float64")
    daily.loc[halved, money_columns] *= 0.5
    flag = pd.Series({"flag": "decline", "model_version": "v1", "start_date": "2026-05-01"})

    where = flag_context(daily, config, flag, today=dt.date(2026, 6, 30)).where

    moved = re.search(r"500 predictions a day since 1 May, .* on: (−[\d.,]+)(k?)/day", where)
    assert moved, where
    total = float(moved[1][1:].replace(",", "")) * (1000 if moved[2] else 1)
    assert total == pytest.approx(1200, rel=0.15)


def test_where_the_money_went_splits_the_headlines_drop_in_the_quadrants_proportions() -> None:
    """The detector says 3,000 a day were lost; the 28 days either side show ~2,200, nearly
    all on TP: the message splits the 3,000 in those proportions. Windows that show a
    tenth of the drop, or a rise, do not explain it: the line says so, not stretched. Every
    amount is in the configured currency."""
    config = parse_config({"value_matrix": MATRIX, "quadrants": FRAUD, "currency": "EUR"})
    daily = fraud_days(180, version="v1", seed=4, change_day=120, tp_value_after=70.0)
    before, after = around(daily, "2026-05-01")
    change = attribute(before, after)
    tp = float(change.set_index("quadrant").at["tp", "delta"])
    total = float(change["delta"].sum())
    flag = pd.Series(
        {"flag": "decline", "model_version": "v1", "start_date": "2026-05-01",
         "money_at_stake": 3000.0}
    )  # fmt: skip

    where = flag_context(daily, config, flag, today=TODAY).where

    moved = re.search(r"from it on: −([\d.]+)k EUR/day: fraud stopped −([\d.]+)k EUR \(", where)
    assert moved, where
    assert moved[1] == "3.0"
    assert float(moved[2]) == pytest.approx(3 * tp / total, abs=0.05)

    def unclear(headline: float, shown: str) -> str:
        """The line when the windows do not explain the headline's drop."""
        stake = pd.Series({**flag, "money_at_stake": headline})
        where = flag_context(daily if shown != "rise" else rising, config, stake, today=TODAY)
        found = re.fullmatch(
            r"Where it went: unclear\. Comparing the 28 mature days before 1 May with the 28 "
            r"from it on \(per day at the 1,000 predictions a day since 1 May\) shows "
            r"([−+][\d.,]+k?) EUR/day, not the headline's drop of ([\d.,]+k?) EUR/day: "
            r"fraud stopped [−+][\d.,]+k? EUR \(.*",
            where.where,
        )
        assert found, where.where
        return f"{found[1]} vs {found[2]}"

    rising = daily.assign(value_tp=daily["value_tp"].where(~daily["date"].isin(after["date"]),
                                                           daily["value_tp"] * 1.5))  # fmt: skip
    assert unclear(30_000.0, "drop").startswith("−2.") and unclear(30_000.0, "drop").endswith(
        " vs 30.0k"
    )
    assert unclear(1_000.0, "drop").endswith(" vs 1.0k")  # under half the windows' drop
    assert unclear(3000.0, "rise").startswith("+")


def test_two_versions_declining_together_alert_twice_over_three_days(tmp_path: Path) -> None:
    config = parse_config({"value_matrix": MATRIX, "storage": str(tmp_path)})
    store = Store(config.storage)
    both = pd.concat(
        [
            fraud_days(183, version="v1", seed=1, change_day=120, tp_value_after=70.0),
            fraud_days(183, version="v2", seed=2, change_day=130, recall_after=0.6),
        ]
    )
    recorder = Recorder()
    for last in ("2026-06-30", "2026-07-01", "2026-07-02"):  # a new mature day each run
        store.write("daily_summary", both[both["date"] <= last])
        assert sorted(build_flags(store, config).flags["model_version"]) == ["v1", "v2"]
        build_alerts(store, config, today=dt.date.fromisoformat(last), notifiers=[recorder],
                     backoff_seconds=0)  # fmt: skip
    assert [m.split(":")[0] for m in recorder.sent] == ["v1", "v2"]
    incidents = store.read("incidents")
    assert incidents["status"].tolist() == ["open", "open"]
    assert incidents["incident_id"].nunique() == 2


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
        "series", "model_version", "flag", "start_date", "money_at_stake", "ceiling",
        "projected_date", "evidence",
    ]  # fmt: skip
    # no model_version column in the input: its one series is the "default" version
    assert flags[["series", "model_version", "flag"]].values.tolist() == [
        ["falling", "default", "decline"]
    ]
    # recall 0.8 -> 0.6 on 100 positives/day moves 20 rows from TP (+100) to FN (-50)
    assert flags.loc[0, "money_at_stake"] == pytest.approx(3000, rel=0.2)
    assert abs(pd.Timestamp(flags.loc[0, "start_date"]) - pd.Timestamp("2026-05-01")).days <= 3


def test_the_decline_check_shows_each_declining_version() -> None:
    both = pd.DataFrame(
        {"series": "", "model_version": ["v1", "v2"], "flag": "decline",
         "start_date": pd.Timestamp("2026-05-01"), "money_at_stake": [2400.0, 900.0],
         "evidence": ["cusum v1", "cusum v2"]}
    )  # fmt: skip
    check = flag_check(both, "decline")
    assert not check.passed
    assert check.metadata["money at stake per day (v1)"].value == "2,400"
    assert check.metadata["money at stake per day (v2)"].value == "900"
    assert check.metadata["evidence (v2)"].value == "cusum v2"
    # money and cause first, in the alert's words; the statistics after
    first, second = check.description.split("\n\n")
    assert first.startswith("v1: profit down 2.4k/day since 1 May 2026")
    assert first.endswith("Evidence: cusum v1")
    assert second.startswith("v2: profit down 900/day")


def pending_in_store(tmp_path: Path) -> Store:
    """A store whose alerts table predates model_version and start_date, one alert pending."""
    store = Store(tmp_path)
    store.write(
        "alerts",
        pd.DataFrame(
            {"alert_id": ["a-opened"], "incident_id": ["a"], "kind": ["opened"],
             "flag": ["decline"], "series": [""], "severity": ["ERROR"],
             "money_at_stake": [900.0], "message": ["v1: profit down 900/day"],
             "created_on": ["2026-10-01"], "delivered_at": pd.Series([None], dtype="string"),
             "attempts": [3], "last_error": ["webhook: webhook answered HTTP 500"]}
        ),
    )  # fmt: skip
    return store


def test_pending_alerts_are_delivered_by_a_later_run(tmp_path: Path) -> None:
    store, recorder = pending_in_store(tmp_path), Recorder()
    delivery = deliver_pending(store, [recorder], backoff_seconds=0)
    assert recorder.sent == ["v1: profit down 900/day"]
    assert (delivery.sent, delivery.pending) == (1, 0)
    assert delivery.describe() == "alerts: 1 delivered"
    stored = store.read("alerts").iloc[0]
    assert stored["attempts"] == 4 and pd.notna(stored["delivered_at"])
    assert deliver_pending(store, [recorder]).describe() == ""  # nothing left: silent
    assert len(recorder.sent) == 1


def test_a_delivery_waits_for_no_other_run_holding_the_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, recorder = pending_in_store(tmp_path), Recorder()
    monkeypatch.setattr("guap_pipeline.alerts.store_runs.LOCK_SECONDS", 0.05)
    with store.lock("alerts"):
        delivery = deliver_pending(store, [recorder], backoff_seconds=0)
    assert delivery.busy and delivery.pending == 1 and recorder.sent == []
    assert "another run is delivering" in delivery.describe()
