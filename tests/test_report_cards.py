"""The answer per model version: figures against hand-worked money, trend in the alert's words."""

import datetime as dt

import pandas as pd
import pytest

from guap_pipeline import parse_config
from guap_pipeline.alerts.incidents import headline
from guap_pipeline.alerts.store_runs import build_flags, flag_context
from guap_pipeline.report.cards import cards
from guap_pipeline.series.roi import ROI_COLUMNS, add_roi
from guap_pipeline.store.store import Store
from tests.test_monitoring import FRAUD, MATRIX, fraud_days

TODAY = dt.date(2026, 6, 30)


def test_a_declining_version_reads_as_its_alert_and_a_young_one_as_too_young(
    tmp_path: pytest.TempPathFactory,
) -> None:
    config = parse_config(
        {"value_matrix": MATRIX, "storage": str(tmp_path), "quadrants": FRAUD, "currency": "EUR",
         "operating_cost": {"per_day": 1000}}
    )  # fmt: skip
    # v1: from 1 May a stopped fraud earns 70 instead of 100 (2,400 a day less);
    # v2: deployed 20 days ago, its last 5 days not mature yet
    old = fraud_days(180, version="v1", seed=4, change_day=120, tp_value_after=70.0)
    young = fraud_days(20, version="v2", seed=5)
    young["date"] = pd.date_range("2026-06-10", periods=20).strftime("%Y-%m-%d")
    young.loc[young.index[-5:], "mature"] = False
    daily = add_roi(pd.concat([old, young]).drop(columns=list(ROI_COLUMNS)), config.operating_cost)
    store = Store(config.storage)
    store.write("daily_summary", daily)
    flags = build_flags(store, config).flags

    v1, v2, everything = cards(daily, flags, config, today=TODAY)

    # per day = mean of the last 28 mature days, worked out here from the rows
    recent = old.tail(28)
    assert v1.profit_per_day == pytest.approx(recent["profit"].mean())
    assert v1.uplift_per_day == pytest.approx(recent["uplift"].mean())
    assert v1.figures()["profit"] == f"{recent['profit'].mean() / 1000:,.1f}k EUR/day"
    [decline] = [f for _, f in flags.iterrows() if f["flag"] == "decline"]
    alert = headline("opened", decline, flag_context(daily, config, decline, today=TODAY),
                     currency="EUR", today=TODAY)  # fmt: skip
    assert alert == f"v1: {v1.trend}"  # the same words as the alert
    assert v1.flag == "decline"
    assert v2.trend == "too young to judge: 15 of 20 days mature"
    assert v2.recent_days == 15
    assert v2.uplift_per_day == pytest.approx(young.head(15)["uplift"].mean())
    assert everything.title == "all versions"
    assert everything.trend == "v1 declining"
    # 1,000 a day of operating cost over 180 days, whatever the versions share
    assert everything.net_profit == pytest.approx(daily["uplift"].sum() - 180_000)
    assert everything.roi == pytest.approx((daily["uplift"].sum() - 180_000) / 180_000)
    assert everything.figures()["ROI"] == f"{everything.roi:,.1f}×"
    assert everything.payback == "no investment configured"
    assert everything.text().startswith("all versions: profit ")


def test_no_days_no_cards() -> None:
    config = parse_config({"value_matrix": MATRIX})
    assert cards(fraud_days(3, version="v1", seed=1).iloc[0:0], None, config, today=TODAY) == []
