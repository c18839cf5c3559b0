"""ROI, net profit and payback on hand-worked series."""

import datetime as dt

import pandas as pd
import pytest

from guap_pipeline.config import OperatingCost
from guap_pipeline.roi import add_roi, payback


def rows(*records: tuple) -> pd.DataFrame:
    return pd.DataFrame(
        records, columns=["date", "model_version", "n_predictions", "label_coverage", "uplift"]
    )


def test_net_profit_sets_the_labeled_share_of_cost_against_uplift() -> None:
    daily = rows(("2026-10-01", "v1", 100, 0.5, 500.0), ("2026-10-02", "v1", 200, 1.0, 100.0))
    out = add_roi(daily, OperatingCost(per_day=100, per_prediction=1))
    # day 1: cost 100 + 100 = 200, half labeled -> net 500 - 100 = 400, roi 400 / 100
    # day 2: cost 100 + 200 = 300, all labeled -> net 100 - 300 = -200, cum 200 / 400
    assert out["operating_cost"].tolist() == [200.0, 300.0]
    assert out["net_profit"].tolist() == [400.0, -200.0]
    assert out["cumulative_net_profit"].tolist() == [400.0, 200.0]
    assert out["roi"].tolist() == pytest.approx([4.0, 0.5])


def test_the_fixed_daily_cost_is_shared_by_volume_across_versions() -> None:
    daily = rows(("2026-10-01", "v1", 300, 1.0, 0.0), ("2026-10-01", "v2", 100, 1.0, 0.0))
    out = add_roi(daily, OperatingCost(per_day=100))
    assert out["operating_cost"].tolist() == [75.0, 25.0]


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


def test_no_payback_at_a_losing_pace() -> None:
    result = payback(series([-5.0] * 30), 1000)
    assert result.projected_on is None
    assert result.describe().startswith("not at the current rate")
