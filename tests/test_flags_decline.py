"""Decline: one-sided CUSUM (calibrated), dated by PELT, on constructed series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guap_pipeline.datasets import flag_series as ds
from guap_pipeline.flags import FlagSettings, assess, detect_flags
from guap_pipeline.flags.changepoint import (
    MBICMeanCost,
    change_points,
    long_run_residual_scale,
    noise_scale,
)
from guap_pipeline.flags.cusum import calibrate_threshold, siegmund_arl
from guap_pipeline.flags.decline import DeclineRule, decline_path, detect_decline
from guap_pipeline.flags.detect import decline_rule
from guap_pipeline.flags.series import prepare_series

SETTINGS = FlagSettings()


def declines(daily: pd.DataFrame, settings: FlagSettings = SETTINGS) -> pd.DataFrame:
    flags = detect_flags(daily, settings)
    return flags[flags["flag"] == "decline"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_step_decline_is_found_dated_and_sized(seed: int) -> None:
    sc = ds.step_decline(n_days=200, at=130, size_sd=2.0, sigma=0.2, seed=seed)
    found = declines(sc.daily)
    assert len(found) == 1
    row = found.iloc[0]
    start = (row["start_date"] - sc.daily["date"].iloc[0]).days
    assert abs(start - 130) <= 5
    # 2 sd of 0.2 per prediction, times ~1,770 predictions a day.
    volume = sc.daily["n_predictions"].iloc[130:].mean()
    assert row["money_at_stake"] == pytest.approx(0.4 * volume, rel=0.3)
    assert "CUSUM" in row["evidence"] and "PELT" in row["evidence"]
    assert row["statistic"] > row["threshold"]
    assert row["model_version"] == "v1" and row["method"] == "cusum+pelt"


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_stable_series_raises_no_decline(seed: int) -> None:
    assert declines(ds.stable(n_days=300, seed=seed).daily).empty


def test_one_bad_day_raises_no_decline() -> None:
    for seed in (7, 8):
        sc = ds.bad_day(n_days=200, at=170, size_sd=-30.0, seed=seed)
        assert declines(sc.daily).empty


def test_volume_drop_with_unchanged_value_per_prediction_raises_no_decline() -> None:
    for seed in (9, 10):
        sc = ds.volume_drop(n_days=220, at=120, factor=0.1, seed=seed)
        assert declines(sc.daily).empty


def test_total_uplift_falling_with_volume_is_not_a_decline_but_per_prediction_is() -> None:
    quiet = ds.volume_drop(n_days=200, at=120, factor=0.3, seed=11).daily
    assert quiet["uplift"].iloc[150:].mean() < 0.5 * quiet["uplift"].iloc[:100].mean()
    assert declines(quiet).empty


def test_immature_recent_days_cannot_raise_a_decline() -> None:
    # Stable, but replayed as on its last day: the last two weeks are partly labeled,
    # positives last, so their uplift per labeled prediction is biased low.
    sc = ds.stable(n_days=200, seed=12)
    seen = ds.as_seen_on(sc.daily, 199)
    young = seen.iloc[-10:]
    assert (young["uplift"] / young["n_labeled"]).mean() < 1.8  # level is 2.0
    assert declines(seen).empty
    # Trusting the table's 95 %-coverage `mature` flag instead lets the bias in.
    lenient = FlagSettings(strict_maturity=False, cusum_h=3.0)
    strict = FlagSettings(cusum_h=3.0)
    assert not declines(seen, lenient).empty
    assert declines(seen, strict).empty


def test_short_series_gives_no_flag_and_says_why() -> None:
    daily = ds.step_decline(n_days=40, at=30, size_sd=5.0, seed=13).daily
    report = assess(daily.drop(columns="mature"))  # mature once 14 days old
    assert report.flags.empty
    assert any("has 26 mature days, needs 29" in note for note in report.notes)


def test_a_new_model_version_restarts_the_reference() -> None:
    old = ds.simulate(np.full(150, 3.0), model_version="v1", seed=14)
    new = ds.simulate(
        np.full(100, 2.0), model_version="v2", start="2025-06-05", seed=15
    )  # a lower level, but v2's own
    daily = pd.concat([old, new], ignore_index=True)
    report = assess(daily)
    assert report.flags.empty or "decline" not in set(report.flags["flag"])
    assert any("'v1' is not current" in note for note in report.notes)
    # ...and a fall within the new version is caught.
    falling = ds.simulate(
        np.r_[np.full(60, 2.0), np.full(40, 1.4)], model_version="v2", start="2025-06-05", seed=16
    )
    flags = detect_flags(pd.concat([old, falling], ignore_index=True))
    assert list(flags["flag"]) == ["decline"] and flags["model_version"].iloc[0] == "v2"


def test_fall_after_growth_is_measured_from_the_higher_level() -> None:
    path = np.r_[np.linspace(1.0, 2.5, 100), np.full(80, 2.5), np.full(60, 1.9)]
    daily = ds.simulate(path, sigma=0.2, seed=17)
    flags = declines(daily)
    assert len(flags) == 1
    start = (flags["start_date"].iloc[0] - daily["date"].iloc[0]).days
    assert abs(start - 180) <= 7
    # Without rebaselining the reference stays at the early, low level: no decline.
    assert declines(daily, FlagSettings(rebaseline=False)).empty


def test_steady_growth_raises_no_decline() -> None:
    assert declines(ds.growth(n_days=260, rise_sd=6, seed=18).daily).empty


def test_calibrated_thresholds_shrink_as_the_reference_grows() -> None:
    rule = decline_rule(SETTINGS)
    assert len(rule.thresholds) == 4
    assert list(rule.thresholds) == sorted(rule.thresholds, reverse=True)
    # Near the textbook (known-parameter) threshold once the reference is long.
    assert siegmund_arl(0.5, 5.66) == pytest.approx(365 / 0.2, rel=0.02)
    assert rule.thresholds[-1] == pytest.approx(5.66, abs=0.5)
    assert rule.thresholds[0] > 1.5 * rule.thresholds[-1]


def test_calibration_trades_threshold_for_false_alarm_rate() -> None:
    kw = {"k": 0.5, "reference_days": 56, "winsor_z": 3.0, "max_autocorrelation": 0.2}
    fewer = calibrate_threshold(false_alarms_per_year=0.2, path_days=100_000, **kw)
    more = calibrate_threshold(false_alarms_per_year=2.0, path_days=100_000, **kw)
    assert fewer > more > 0


def test_fixed_threshold_overrides_calibration() -> None:
    rule = DeclineRule.calibrated(cusum_h=4.0)
    assert rule.thresholds == (4.0, 4.0, 4.0, 4.0) and rule.design_rate is None
    version = prepare_series(ds.stable(n_days=80, seed=19).daily, SETTINGS).versions[0]
    path = decline_path(version, rule)
    assert (path.threshold == 4.0).all()
    assert detect_decline(version.slice(0, 20), rule).note is not None


def test_change_points_find_a_mean_shift_and_nothing_in_noise() -> None:
    rng = np.random.default_rng(20)
    x = np.r_[rng.normal(0, 1, 100), rng.normal(-2, 1, 100)]
    assert change_points(x) == [pytest.approx(100, abs=3)]
    assert change_points(rng.normal(size=300)) == []
    assert change_points(np.ones(5)) == []
    assert noise_scale(np.r_[np.zeros(50), np.full(50, 100.0)] + rng.normal(size=100)) < 2


def test_mbic_cost_is_the_sum_of_squares_plus_log_of_the_length() -> None:
    cost = MBICMeanCost().fit(np.array([1.0, 2.0, 3.0, 10.0]))
    assert cost.error(0, 3) == pytest.approx(2.0 + np.log(3))  # (1-2)² + 0 + (3-2)²
    assert cost.error(3, 4) == pytest.approx(0.0)  # one point: no spread, log 1 = 0


def test_long_run_scale_widens_for_clustered_residuals_only() -> None:
    alternating = np.tile([1.0, -1.0], 50)  # lag-1 correlation < 0, clipped to 0
    assert long_run_residual_scale(alternating, []) == pytest.approx(np.sqrt(100 / 99))
    clustered = np.tile(np.r_[np.ones(25), -np.ones(25)], 2)  # correlation capped at 0.8
    assert long_run_residual_scale(clustered, []) == pytest.approx(np.sqrt(100 / 99) * 3)
    # Around the right segment means the same values have no residual at all.
    assert long_run_residual_scale(clustered, [25, 50, 75]) == 0.0


def test_without_a_scale_a_step_in_autocorrelated_noise_is_found_once() -> None:
    noise = ds.ar1_noise(300, autocorrelation=0.5, rng=np.random.default_rng(21))
    x = noise + np.r_[np.zeros(150), np.full(150, -3.0)]
    assert change_points(x) == [pytest.approx(150, abs=3)]
