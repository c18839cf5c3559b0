"""Plateau: growth earlier, recent slope shown flat by an equivalence test (TOST)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guap_pipeline.flags import FlagSettings, assess, detect_flags
from guap_pipeline.flags import datasets as ds
from guap_pipeline.flags.plateau import detect_plateau, growth_stop
from guap_pipeline.flags.series import prepare_series

DEFAULT = FlagSettings()


def plateaus(daily: pd.DataFrame, settings: FlagSettings = DEFAULT) -> pd.DataFrame:
    flags = detect_flags(daily, settings)
    return flags[flags["flag"] == "plateau"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_growth_then_flat_is_a_plateau_starting_when_growth_stopped(seed: int) -> None:
    sc = ds.plateau(n_days=260, growth_days=100, rise_sd=10.0, seed=seed)
    found = plateaus(sc.daily)
    assert len(found) == 1
    row = found.iloc[0]
    start = (row["start_date"] - sc.daily["date"].iloc[0]).days
    assert abs(start - 100) <= 15
    assert row["p_value"] < 0.05 and abs(row["statistic"]) < row["threshold"]
    assert "TOST" in row["evidence"] and "earlier growth" in row["evidence"]


@pytest.mark.parametrize("seed", [4, 5])
def test_steady_growth_is_not_a_plateau(seed: int) -> None:
    assert plateaus(ds.growth(n_days=260, rise_sd=8.0, seed=seed).daily).empty


@pytest.mark.parametrize("seed", [6, 7])
def test_flat_without_earlier_growth_is_not_a_plateau(seed: int) -> None:
    assert plateaus(ds.stable(n_days=300, seed=seed).daily).empty


def test_too_noisy_to_show_flatness_is_not_a_plateau() -> None:
    # Same shape, ten times the noise: not significantly rising now, but not shown flat.
    sc = ds.plateau(n_days=260, growth_days=100, rise_sd=6.0, sigma=0.2, seed=8)
    daily = sc.daily.copy()
    noisy = ds.plateau(n_days=260, growth_days=100, rise_sd=0.6, sigma=2.0, seed=8).daily
    assert plateaus(noisy).empty
    assert not plateaus(daily).empty


def test_margin_and_window_are_settings() -> None:
    sc = ds.plateau(n_days=260, growth_days=100, rise_sd=6.0, seed=9)
    assert not plateaus(sc.daily).empty
    assert plateaus(sc.daily, FlagSettings(plateau_margin=0.01)).empty


def test_short_series_gives_no_plateau_and_says_why() -> None:
    daily = ds.plateau(n_days=100, growth_days=40, seed=10).daily
    report = assess(daily)
    assert "plateau" not in set(report.flags["flag"])
    assert any(
        note.startswith("plateau: model version 'v1' has 100 mature days, needs 112")
        for note in report.notes
    )
    version = prepare_series(daily, FlagSettings()).versions[0]
    assert detect_plateau(version).note is not None


def test_growth_stop_finds_the_knot() -> None:
    day = np.arange(120.0)
    values = np.minimum(day, 70.0) * 0.1 + np.random.default_rng(11).normal(0, 0.2, 120)
    assert abs(growth_stop(day, values) - 70) <= 5
