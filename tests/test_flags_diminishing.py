"""Diminishing returns: concave growth towards a ceiling, and shrinking version increments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guap_pipeline.datasets import flag_series as ds
from guap_pipeline.flags import FlagSettings, assess, detect_flags
from guap_pipeline.flags.diminishing import detect_version_returns, fit_saturating, saturating
from guap_pipeline.flags.series import prepare_series

DEFAULT = FlagSettings()


def diminishing(daily: pd.DataFrame, settings: FlagSettings = DEFAULT) -> pd.DataFrame:
    flags = detect_flags(daily, settings)
    return flags[flags["flag"] == "diminishing_returns"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_saturating_growth_gives_ceiling_and_projected_date(seed: int) -> None:
    sc = ds.saturating(n_days=200, rise_sd=8.0, half_life=45.0, seed=seed)
    found = diminishing(sc.daily)
    assert len(found) == 1
    row = found.iloc[0]
    assert row["ceiling"] == pytest.approx(sc.params["ceiling"], abs=0.15)
    reach = (row["projected_date"] - sc.daily["date"].iloc[0]).days
    assert reach == pytest.approx(sc.params["reach_day"], abs=40)
    assert "95 % CI" in row["evidence"] and "90 % interval" in row["evidence"]
    assert row["method"] == "saturating_curve_aic" and row["statistic"] >= 10


@pytest.mark.parametrize("seed", [4, 5])
def test_linear_growth_is_not_diminishing(seed: int) -> None:
    assert diminishing(ds.growth(n_days=260, rise_sd=8.0, seed=seed).daily).empty


@pytest.mark.parametrize("seed", [6, 7])
def test_stable_series_is_not_diminishing(seed: int) -> None:
    assert diminishing(ds.stable(n_days=260, seed=seed).daily).empty


def test_curve_fit_recovers_known_parameters() -> None:
    t = np.linspace(0, 1, 150)
    y = saturating(t, 5.0, 3.0, 4.0) + np.random.default_rng(8).normal(0, 0.05, 150)
    fit = fit_saturating(t, y)
    assert fit is not None
    params, cov, _ = fit
    np.testing.assert_allclose(params, [5.0, 3.0, 4.0], rtol=0.1)
    assert np.all(np.diag(cov) > 0)
    assert fit_saturating(t, 2.0 * t) is None  # a line has no bend to fit


def test_shrinking_increments_across_versions() -> None:
    sc = ds.version_steps((1.0, 2.0, 2.6, 2.9), days_per_version=56, seed=9)
    found = diminishing(sc.daily)
    assert len(found) == 1
    row = found.iloc[0]
    assert row["method"] == "version_increments" and row["model_version"] == "v4"
    assert row["p_value"] < 0.001
    assert 2.9 < row["ceiling"] < 3.4  # increments shrinking further would end here
    assert pd.isna(row["projected_date"])


def test_equal_or_falling_increments_are_not_diminishing() -> None:
    for levels in ((1.0, 1.5, 2.0, 2.5), (1.0, 2.0, 1.8)):
        daily = ds.version_steps(levels, days_per_version=56, seed=10).daily
        assert diminishing(daily).empty


def test_two_versions_are_not_enough_and_short_versions_are_said() -> None:
    two = ds.version_steps((1.0, 2.0), days_per_version=56, seed=11).daily
    assert diminishing(two).empty
    three = ds.version_steps((1.0, 2.0, 2.5), days_per_version=10, seed=12).daily
    versions = prepare_series(three, FlagSettings()).versions
    verdict = detect_version_returns(versions, min_days=14)
    assert verdict.flag is None and "needs 3" in str(verdict.note)


def test_short_series_gives_no_curve_and_says_why() -> None:
    report = assess(ds.saturating(n_days=50, seed=13).daily)
    assert report.flags.empty
    assert any("needs 56 to fit a curve" in note for note in report.notes)
