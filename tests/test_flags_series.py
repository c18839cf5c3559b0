"""Preparing the level series: mature days only, per-prediction uplift, versions, weekdays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guap_pipeline.datasets.flag_series import as_seen_on, simulate, stable
from guap_pipeline.flags import FlagInputError, FlagSettings
from guap_pipeline.flags.series import (
    lag1_autocorrelation,
    prepare_series,
    trend,
    weekday_effects,
)

SETTINGS = FlagSettings()


def table(n: int = 40, **columns: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2025-03-03", periods=n, freq="D").strftime("%Y-%m-%d"),
            "n_predictions": 100,
            "n_labeled": 100,
            "uplift": 250.0,
        }
    )
    return frame.assign(**columns)


def test_level_is_uplift_per_labeled_prediction_on_mature_days() -> None:
    daily = table(40, n_labeled=50)
    prepared = prepare_series(daily, SETTINGS)
    (version,) = prepared.versions
    assert version.version == "default"
    np.testing.assert_allclose(version.level, 5.0)
    # Without a mature column, the last label_window_days are not mature yet.
    assert len(version) == 40 - SETTINGS.label_window_days
    assert str(version.dates[-1]) == "2025-03-28"


def test_mature_column_is_used_and_partly_labeled_recent_days_are_not() -> None:
    daily = table(40, mature=True)
    daily.loc[35:, "n_labeled"] = 96  # 96 % labeled: marked mature, still in the window
    daily.loc[10, "mature"] = False  # an old day the table says is not mature
    version = prepare_series(daily, SETTINGS).versions[0]
    assert len(version) == 40 - 1 - 5
    lenient = prepare_series(daily, FlagSettings(strict_maturity=False)).versions[0]
    assert len(lenient) == 39


def test_versions_are_split_ordered_by_first_appearance_and_duplicates_summed() -> None:
    a = table(30, model_version="b-old")
    b = table(30, model_version="a-new").iloc[10:]
    dup = table(30, model_version="a-new").iloc[[12]]
    daily = pd.concat([b, a, dup], ignore_index=True)
    prepared = prepare_series(daily, FlagSettings(label_window_days=0))
    assert [v.version for v in prepared.versions] == ["b-old", "a-new"]
    new = prepared.versions[1]
    assert len(new) == 20
    assert new.n_labeled[2] == 200 and new.level[2] == pytest.approx(2.5)
    assert prepared.current == (0, 1)


def test_missing_or_bad_columns_are_errors_that_name_them() -> None:
    with pytest.raises(FlagInputError, match="uplift"):
        prepare_series(table(5).drop(columns="uplift"), SETTINGS)
    with pytest.raises(FlagInputError, match="n_labeled"):
        prepare_series(table(5, n_labeled="many"), SETTINGS)
    with pytest.raises(FlagInputError, match="date"):
        prepare_series(table(5, date="not a date"), SETTINGS)


def test_empty_table_and_no_mature_day_say_so() -> None:
    assert prepare_series(table(0), SETTINGS).notes == ("the daily table is empty",)
    notes = prepare_series(table(5), SETTINGS).notes
    assert "no mature day" in notes[0]


def test_weekday_effects_recover_a_strong_pattern_and_ignore_noise() -> None:
    rng = np.random.default_rng(0)
    n = 84
    weekday = np.arange(n) % 7
    day = np.arange(n, dtype=float)
    pattern = np.array([3.0, 2.0, 1.0, 0.0, -1.0, -3.0, -2.0])
    effects = weekday_effects(weekday, day, 10 + 0.05 * day + pattern[weekday] + rng.normal(size=n))
    np.testing.assert_allclose(effects, pattern, atol=0.5)
    noise_only = weekday_effects(weekday, day, rng.normal(size=n))
    assert np.abs(noise_only).max() < 0.5


def test_trend_standard_error_grows_with_autocorrelation() -> None:
    rng = np.random.default_rng(0)
    n = 200
    e = rng.normal(size=n)
    ar = np.empty(n)
    ar[0] = e[0]
    for t in range(1, n):
        ar[t] = 0.6 * ar[t - 1] + 0.8 * e[t]
    day = np.arange(n, dtype=float)
    assert lag1_autocorrelation(ar) == pytest.approx(0.6, abs=0.15)
    assert trend(day, ar).stderr > 1.5 * trend(day, rng.normal(size=n)).stderr


def test_replayed_young_days_are_biased_low_and_marked_mature_by_coverage() -> None:
    daily = simulate(np.full(60, 2.0), seed=3)
    seen = as_seen_on(daily, 59)
    young = seen.iloc[-13:]
    level = young["uplift"] / young["n_labeled"]
    assert (level < 1.9).mean() > 0.8  # positives arrive last: a biased, low level
    assert young["mature"].any()  # ...on days the 95 % coverage rule calls mature
    prepared = prepare_series(seen, SETTINGS)
    assert prepared.versions[0].dates[-1] <= np.datetime64(seen["date"].iloc[-14], "D")


def test_stable_generator_has_its_stated_noise() -> None:
    sc = stable(n_days=300, sigma=0.2, autocorrelation=0.0, weekday_amplitude=0.0, seed=4)
    level = sc.daily["uplift"] / sc.daily["n_labeled"]
    weekday = pd.to_datetime(sc.daily["date"]).dt.day_of_week < 5
    assert level[weekday].std() == pytest.approx(0.2, rel=0.15)
