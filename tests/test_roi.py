"""ROI, net profit and payback on hand-worked series."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets_defs.cli import main
from guap_pipeline.config import OperatingCost
from guap_pipeline.series.roi import add_roi, payback
from tests.pipeline_data import AS_OF, days, labels_for, predictions_for, write_config

PER_DAY, PER_PREDICTION = 150.0, 0.5


def rows(*records: tuple) -> pd.DataFrame:
    return pd.DataFrame(
        records, columns=["date", "model_version", "n_predictions", "label_coverage", "uplift"]
    )


def test_net_profit_sets_the_labeled_share_of_cost_against_uplift() -> None:
    daily = rows(("2026-10-01", "v1", 100, 0.5, 500.0), ("2026-10-02", "v1", 200, 1.0, 100.0))
    out = add_roi(daily, OperatingCost(per_day=100, per_prediction=1))
    # day 1: cost 100 + 100 = 200, half labeled -> 100 set against uplift: net 400, roi 4
    # day 2: cost 100 + 200 = 300, all labeled -> net 100 - 300 = -200, cum 200 / 400
    assert out["operating_cost"].tolist() == [100.0, 300.0]
    assert out["net_profit"].tolist() == [400.0, -200.0]
    assert out["cumulative_net_profit"].tolist() == [400.0, 200.0]
    assert out["roi"].tolist() == pytest.approx([4.0, 0.5])


def test_the_fixed_daily_cost_is_shared_by_volume_across_versions() -> None:
    daily = rows(("2026-10-01", "v1", 300, 1.0, 0.0), ("2026-10-01", "v2", 100, 1.0, 0.0))
    out = add_roi(daily, OperatingCost(per_day=100))
    assert out["operating_cost"].tolist() == [75.0, 25.0]


def test_roi_sums_each_version_on_its_own() -> None:
    daily = rows(
        ("2026-10-01", "v1", 100, 1.0, 300.0),
        ("2026-10-01", "v2", 100, 1.0, 50.0),
        ("2026-10-02", "v1", 100, 0.25, 100.0),
    )
    out = add_roi(daily, OperatingCost(per_prediction=1)).set_index(["date", "model_version"])
    # v1: costs 100 then 25 (a quarter labeled), net 200 then 75: roi 275 / 125 = 2.2
    assert out.loc[("2026-10-02", "v1"), "operating_cost"] == 25.0
    assert out.loc[("2026-10-02", "v1"), "roi"] == pytest.approx(2.2)
    assert out.loc[("2026-10-01", "v2"), "roi"] == pytest.approx(-0.5)


def test_roi_is_null_while_nothing_has_cost_anything() -> None:
    out = add_roi(rows(("2026-10-01", "v1", 10, 1.0, 50.0)), OperatingCost())
    assert out["net_profit"].tolist() == [50.0]
    assert out["roi"].isna().all()


def series(net: list[float]) -> pd.DataFrame:
    start = dt.date(2026, 1, 1)
    return pd.DataFrame(
        {
            "date": [(start + dt.timedelta(days=i)).isoformat() for i in range(len(net))],
            "net_profit": net,
            "mature": True,
        }
    )


def test_payback_reached_on_the_first_day_cumulative_net_covers_the_investment() -> None:
    result = payback(series([100, 150, 100, 50]), 300)
    assert result.reached_on == dt.date(2026, 1, 3)
    assert "paid back on 2026-01-03" in result.describe()


def test_payback_projected_from_the_recent_pace() -> None:
    result = payback(series([10.0] * 30), 1000)  # 300 so far, 700 to go at 10/day
    assert result.reached_on is None
    assert result.projected_on == dt.date(2026, 1, 30) + dt.timedelta(days=70)
    assert result.projected_earliest == result.projected_latest == result.projected_on


def test_payback_projection_has_an_uncertainty_range() -> None:
    result = payback(series([5.0, 15.0] * 15), 1000)
    assert result.projected_earliest < result.projected_on < result.projected_latest


def test_the_payback_range_is_the_90_percent_t_interval_of_the_pace() -> None:
    """Last 28 days: 5, 15, ... (mean 10, sd √(28·25/27) = 5.09175, sem 0.962250); the
    t quantile t(0.95, 27) = 1.703288 (tables): pace 10 ± 1.638967; 10,000 to earn."""
    result = payback(series([5.0, 15.0] * 15), 10_300)
    last = dt.date(2026, 1, 30)
    assert result.projected_earliest == last + dt.timedelta(days=860)  # 10,000 / 11.639 = 859.2
    assert result.projected_latest == last + dt.timedelta(days=1197)  # 10,000 / 8.361 = 1196.0


def test_no_payback_at_a_losing_pace() -> None:
    result = payback(series([-5.0] * 30), 1000)
    assert result.projected_on is None
    assert result.describe().startswith("not at the current rate")


@pytest.mark.slow  # a pipeline run
def test_roi_rebuilds_from_the_exported_daily_table(tmp_path: Path, capsys) -> None:
    """Through the command line, as a user meets it: two versions, partly labeled days."""
    config = write_config(tmp_path)
    with config.open("a") as text:
        text.write(f"operating_cost: {{per_day: {PER_DAY}, per_prediction: {PER_PREDICTION}}}\n")
    landing = tmp_path / "landing"
    for i, day in enumerate(days("2026-10-01", 8)):
        for version, n in (("v1", 300), ("v2", 100)):
            preds = predictions_for(day, n, seed=i, version=version)
            preds["prediction_id"] = version + "-" + preds["prediction_id"]
            preds.to_parquet(landing / "predictions" / f"{day}-{version}.parquet")
            share = 1.0 if i % 2 else 0.6  # every other day keeps 40 % unlabeled for good
            labels = labels_for(preds, share=share, seed=i)
            labels.to_parquet(landing / "labels" / f"{day}-{version}.parquet")
    assert main(["run", "--config", str(config), "--as-of", AS_OF]) == 0
    printed = capsys.readouterr().out
    output = tmp_path / "daily.csv"
    assert main(["export", "daily", "--config", str(config), "--output", str(output)]) == 0
    daily = pd.read_csv(output).sort_values(["model_version", "date"])

    # the cost of the labeled rows, from the raw files and the config alone
    rows = daily["model_version"].map({"v1": 300, "v2": 100})
    coverage = np.where(pd.to_datetime(daily["date"]).dt.day % 2 == 1, 0.6, 1.0)
    full = PER_DAY * rows / 400 + PER_PREDICTION * rows  # fixed cost shared by volume
    assert daily["operating_cost"].to_numpy() == pytest.approx((full * coverage).to_numpy())
    assert daily["net_profit"].to_numpy() == pytest.approx(
        (daily["uplift"] - daily["operating_cost"]).to_numpy()
    )
    by_version = daily.groupby("model_version")
    rebuilt = by_version["net_profit"].cumsum() / by_version["operating_cost"].cumsum()
    assert daily["roi"].to_numpy() == pytest.approx(rebuilt.to_numpy())
    overall = daily["net_profit"].sum() / daily["operating_cost"].sum()
    assert f"ROI {overall:.1f}×" in printed
