"""The estimate in the daily table, the series and the summary; its early WARN on decline.

Expected figures are worked by hand from the constructed tables below.
"""

import math
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets_defs.checks import early_decline_check
from assets_defs.cli import main
from assets_defs.definitions import defs
from guap_pipeline.config import load_config
from guap_pipeline.estimate import estimate_kinds
from guap_pipeline.report.text import estimate_lines
from guap_pipeline.series.daily_table import DAILY_COLUMNS, overall
from guap_pipeline.series.early_warning import early_declines
from guap_pipeline.store.store import Store
from tests.pipeline_data import days, labels_for, predictions_for, write_config

# 28 realized days at 1.9 / 2.1 per prediction (pace 2.0, sample sd sqrt(28 * 0.01 / 27)),
# then 5 estimated days of 100 predictions: the warning limit is 2 − 1.645 · sd / √5.
SD = math.sqrt(28 * 0.01 / 27)
LIMIT = 2.0 - 1.645 * SD / math.sqrt(5)  # 1.92508...


def table(estimate: float, high: float, *, reference: int = 28) -> pd.DataFrame:
    """One version: ``reference`` realized days, then 5 estimated days (per prediction)."""
    n = reference + 5
    dates = pd.date_range("2026-01-01", periods=n).strftime("%Y-%m-%d")
    realized = np.r_[np.tile([1.9, 2.1], reference // 2), [1.9] * (reference % 2)] * 100
    profit = np.r_[realized, [0.0] * 5]
    point = np.r_[realized, [estimate * 100] * 5]
    return pd.DataFrame(
        {
            "date": dates,
            "model_version": "v1",
            "n_predictions": 100,
            "profit": profit,
            "estimated_profit": point,
            "estimated_profit_low": np.r_[realized, [(estimate - 0.3) * 100] * 5],
            "estimated_profit_high": np.r_[realized, [high * 100] * 5],
        }
    )


def test_kinds_derive_from_the_figures_of_the_public_table() -> None:
    frame = table(1.0, 1.2).iloc[26:30]
    frame.loc[frame.index[-1], ["estimated_profit", "estimated_profit_low"]] = np.nan
    assert list(estimate_kinds(frame)) == ["realized", "realized", "estimated", "none"]


def test_an_estimate_whose_upper_end_is_below_the_pace_warns() -> None:
    (found,) = early_declines(table(1.0, 1.2))
    assert found.model_version == "v1" and found.n_days == 5
    assert found.reference_per_prediction == pytest.approx(2.0)
    assert found.limit_per_prediction == pytest.approx(LIMIT)
    assert found.estimated_per_prediction == pytest.approx(1.0)
    assert found.money_at_stake == pytest.approx((2.0 - 1.0) * 100)  # per day
    assert "model version 'v1'" in found.evidence()


@pytest.mark.parametrize(("high", "warns"), [(1.92, True), (1.93, False), (2.5, False)])
def test_the_warning_limit_is_the_pace_less_its_own_variation(high: float, warns: bool) -> None:
    assert bool(early_declines(table(high - 0.1, high))) is warns


def test_too_few_realized_days_or_no_estimate_gives_no_warning() -> None:
    assert early_declines(table(1.0, 1.2, reference=13)) == []
    assert early_declines(table(1.0, 1.2).drop(columns="estimated_profit_high")) == []
    no_estimate = table(1.0, 1.2)
    no_estimate.loc[28:, ["estimated_profit", "estimated_profit_low"]] = np.nan
    no_estimate.loc[28:, "estimated_profit_high"] = np.nan
    assert early_declines(no_estimate) == []


def test_overall_adds_versions_and_their_half_widths_in_quadrature() -> None:
    rows = pd.DataFrame(
        {
            "date": ["2026-01-01", "2026-01-01"],
            "model_version": ["a", "b"],
            "mature": [False, False],
            "estimated_profit": [100.0, 50.0],
            "estimated_profit_low": [70.0, 10.0],  # 30 and 40 below
            "estimated_profit_high": [140.0, 80.0],  # 40 and 30 above
            **{c: [1.0, 1.0] for c in ("n_predictions", "n_labeled", "profit", "tp", "fp")},
            **{c: [0.0, 0.0] for c in ("fn", "tn", "baseline_profit", "uplift")},
            **{c: [0.0, 0.0] for c in ("value_tp", "value_fp", "value_fn", "value_tn")},
            **{c: [0.0, 0.0] for c in ("oracle_profit", "operating_cost", "net_profit")},
        }
    )
    (total,) = overall(rows).itertuples()
    assert total.estimated_profit == 150.0
    assert total.estimated_profit_low == pytest.approx(150.0 - 50.0)  # √(30² + 40²)
    assert total.estimated_profit_high == pytest.approx(150.0 + 50.0)
    assert total.estimate_kind == "estimated"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 days of scored predictions as of the 13th (label window 5 days): labels for the
    first 10, only 40 % of them from the 8th, none on the last 2."""
    root = tmp_path_factory.mktemp("estimated")
    config = write_config(root)
    for i, day in enumerate(days("2026-10-01", 12)):
        preds = predictions_for(day, 300, seed=i)
        preds.to_parquet(root / "landing" / "predictions" / f"{day}.parquet")
        if i < 10:
            labels = labels_for(preds, share=1.0 if i < 7 else 0.4, seed=i)
            labels.to_parquet(root / "landing" / "labels" / f"{day}.parquet")
    assert main(["run", "--config", str(config), "--as-of", "2026-10-13"]) == 0
    return config


@pytest.mark.slow  # a pipeline run
def test_the_daily_table_carries_the_estimate_realized_days_equal_profit(run: Path) -> None:
    daily = Store(load_config(run).storage).read("daily_summary")
    assert list(daily.columns) == list(DAILY_COLUMNS)
    kinds = estimate_kinds(daily)
    done = daily[kinds == "realized"]
    assert set(done["date"]) >= set(days("2026-10-01", 8))  # every label in, or window passed
    for column in ("estimated_profit", "estimated_profit_low", "estimated_profit_high"):
        assert np.allclose(done[column], done["profit"])
    open_days = daily[kinds == "estimated"]
    assert set(open_days["date"]) >= {"2026-10-11", "2026-10-12"}  # no label at all yet
    assert (open_days["estimated_profit_low"] <= open_days["estimated_profit"]).all()
    assert (open_days["estimated_profit"] <= open_days["estimated_profit_high"]).all()
    assert (open_days["estimated_profit_high"] > open_days["estimated_profit_low"]).all()


@pytest.mark.slow  # a pipeline run
def test_the_series_marks_each_row_estimated_or_realized_with_a_note(run: Path) -> None:
    series = Store(load_config(run).storage).read("profit_timeseries")
    last = series[series["date"] == "2026-10-12"].set_index("model_version")
    assert set(last["estimate_kind"]) == {"estimated"}
    assert last.loc["v1", "estimate_note"].startswith("estimated: 300 unlabeled rows")


@pytest.mark.slow  # a pipeline run
def test_the_summary_says_which_days_are_estimated(run: Path) -> None:
    daily = Store(load_config(run).storage).read("daily_summary")
    (line,) = estimate_lines(daily)
    last = daily[estimate_kinds(daily) == "estimated"]
    assert line.startswith(f"estimate, {last['date'].min()} .. 2026-10-12")
    assert f"estimated {last['estimated_profit'].sum():,.0f} once labeled" in line


def test_the_early_decline_check_warns_and_never_errors() -> None:
    failed = early_decline_check(table(1.0, 1.2))
    assert (failed.passed, failed.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert "model version 'v1'" in str(failed.metadata["evidence (v1)"].value)
    assert early_decline_check(table(2.0, 2.3)).passed
    graph = defs.resolve_asset_graph()
    names = {key.name for key in graph.asset_check_keys}
    assert {"no_early_decline_estimate", "no_profit_decline"} <= names
