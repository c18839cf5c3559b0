"""Plateau: growth up to the knot of a broken line, the slope after it shown flat (TOST)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guap_pipeline.datasets import flag_series as ds
from guap_pipeline.errors import FlagSettingsError
from guap_pipeline.flags import FlagSettings, assess, detect_flags
from guap_pipeline.flags.plateau import best_knot, detect_plateau
from guap_pipeline.flags.series import prepare_series

DEFAULT = FlagSettings()
WINDOW = DEFAULT.label_window_days
START_TOLERANCE = 10  # days between the flag's start_date and the true end of growth


def plateaus(daily: pd.DataFrame, settings: FlagSettings = DEFAULT) -> pd.DataFrame:
    flags = detect_flags(daily, settings)
    return flags[flags["flag"] == "plateau"]


def day_of(sc: ds.Scenario, date: pd.Timestamp) -> int:
    return int((date - sc.daily["date"].iloc[0]).days)


@pytest.mark.parametrize(("seed", "rise_sd", "days"), [(1, 3.0, 63), (2, 5.0, 42), (3, 8.0, 42)])
def test_rise_then_flat_is_a_plateau_within_days(seed: int, rise_sd: float, days: int) -> None:
    # Growth stops on day 90. Weekly monitoring runs, each seeing late labels arrive
    # positives-last, must say plateau (not only diminishing returns) by the run that has
    # `days` mature flat days. A small rise takes longer to tell from noise.
    sc = ds.rise_then_flat(growth_days=90, flat_days=150, rise_sd=rise_sd, seed=seed)
    runs = [90 + flat + WINDOW for flat in range(28, days + 1, 7)]
    found = [plateaus(ds.as_seen_on(sc.daily, run, label_window_days=WINDOW)) for run in runs]
    first = next(f for f in found if not f.empty)
    assert len(first) == 1
    assert abs(day_of(sc, first.iloc[0]["start_date"]) - 90) <= 15  # few flat days yet


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_plateau_start_date_is_the_end_of_growth(seed: int) -> None:
    sc = ds.rise_then_flat(growth_days=100, flat_days=160, rise_sd=6.0, seed=seed)
    row = plateaus(sc.daily).iloc[0]
    assert abs(day_of(sc, row["start_date"]) - 100) <= START_TOLERANCE
    assert row["p_value"] < 0.05 and abs(row["statistic"]) < row["threshold"]


def test_plateau_evidence_names_method_window_statistic_and_start() -> None:
    sc = ds.rise_then_flat(growth_days=100, flat_days=160, rise_sd=6.0, seed=7)
    row = plateaus(sc.daily).iloc[0]
    last = sc.daily["date"].iloc[-1]  # a complete table: every day is mature
    assert row["method"] == "broken_line_tost"
    assert row["window_start"] == row["start_date"] and row["window_end"] == last
    start, end = (str(row[c].date()) for c in ("window_start", "window_end"))
    evidence = row["evidence"]
    assert "TOST" in evidence and "broken-line" in evidence and "earlier growth" in evidence
    assert f"{start}..{end}" in evidence and f"growth stopped about {start}" in evidence
    assert f"TOST p = {row['p_value']:.2g}" in evidence


def test_still_rising_series_is_not_a_plateau_on_any_day() -> None:
    sc = ds.growth(n_days=260, rise_sd=8.0, seed=8)
    for day in range(100, 260, 20):
        assert plateaus(ds.as_seen_on(sc.daily, day)).empty, day


@pytest.mark.parametrize("seed", [6, 7])
def test_flat_without_earlier_growth_is_not_a_plateau(seed: int) -> None:
    assert plateaus(ds.stable(n_days=300, seed=seed).daily).empty


def test_stable_series_with_an_early_wiggle_is_not_a_plateau() -> None:
    # The false plateau of the harness (flags_eval.py, seed 2025, the 10th stable series
    # of --fraction 0.25): the knot search puts the knot at the shortest growth allowed
    # (42 days), where a noise wiggle of 1.5 residual sd is "significant growth"
    # (p = 0.0005), and the 100 flat days after it are "flat" within ±0.5 × that
    # growth. The rise must be at least 2 residual sd; without that rule it is flagged.
    daily = ds.stable(n_days=400, autocorrelation=0.29222751024744836, seed=153436428).daily
    seen = ds.as_seen_on(daily, 150 + WINDOW, label_window_days=WINDOW)
    assert not plateaus(seen, FlagSettings(plateau_min_rise_sd=0.0)).empty
    assert plateaus(seen).empty


def test_small_true_rise_still_passes_the_rise_rule() -> None:
    # A real 3 sd rise is well above 2 residual sd; the evidence says how big it was.
    sc = ds.rise_then_flat(growth_days=90, flat_days=150, rise_sd=3.0, seed=1)
    row = plateaus(sc.daily).iloc[0]
    assert "residual sd" in row["evidence"]


@pytest.mark.parametrize("value", [-0.5, float("nan")])
def test_negative_min_rise_is_refused(value: float) -> None:
    with pytest.raises(FlagSettingsError, match="plateau_min_rise_sd"):
        FlagSettings(plateau_min_rise_sd=value)


def test_too_noisy_to_show_growth_is_not_a_plateau() -> None:
    # Same shape and seed, ten times the noise: 45 mature days after the rise stops, the
    # clear series is a plateau, the noisy one has not even shown that it grew.
    def seen(**kw: float) -> pd.DataFrame:
        daily = ds.rise_then_flat(growth_days=100, flat_days=160, seed=8, **kw).daily
        return ds.as_seen_on(daily, 100 + 45 + WINDOW, label_window_days=WINDOW)

    assert not plateaus(seen(rise_sd=6.0)).empty
    assert plateaus(seen(rise_sd=0.6, sigma=2.0)).empty


def test_margin_is_a_setting() -> None:
    sc = ds.rise_then_flat(growth_days=100, flat_days=160, rise_sd=6.0, seed=9)
    assert not plateaus(sc.daily).empty
    assert plateaus(sc.daily, FlagSettings(plateau_margin=0.01)).empty


@pytest.mark.parametrize("margin", [0.0, 1.0, 1.5])
def test_margin_outside_zero_one_is_refused(margin: float) -> None:
    # A margin of 1 or more would call a level still growing at its old pace "flat".
    with pytest.raises(FlagSettingsError, match="plateau_margin"):
        FlagSettings(plateau_margin=margin)


def test_short_series_gives_no_plateau_and_says_why() -> None:
    daily = ds.rise_then_flat(growth_days=40, flat_days=20, seed=10).daily  # all mature
    report = assess(daily)  # 42 mature days to show growth + 28 flat are needed
    assert "plateau" not in set(report.flags["flag"])
    assert any(
        note.startswith("plateau: model version 'v1' has 60 mature days, needs 70")
        for note in report.notes
    )
    version = prepare_series(daily, FlagSettings()).versions[0]
    assert detect_plateau(version).note is not None


def test_best_knot_matches_a_naive_search() -> None:
    # Reference: refit the broken line with lstsq at every knot, keep the least RSS.
    rng = np.random.default_rng(11)
    day = np.arange(150.0)
    values = np.minimum(day, 70.0) * 0.02 + rng.normal(0, 0.2, 150)
    candidates = np.arange(20, 130)

    def rss(k: int) -> float:
        design = np.column_stack(
            [np.ones(150), np.minimum(day, day[k]), np.maximum(day - day[k], 0.0)]
        )
        _, residual, *_ = np.linalg.lstsq(design, values, rcond=None)
        return float(residual[0])

    naive = min(candidates, key=rss)
    assert best_knot(day, values, candidates) == naive
    assert abs(naive - 70) <= 10
