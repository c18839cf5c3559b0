"""The public API of the trend flags: tables, per-key runs, explanations, settings."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import guap_pipeline.flags as flags_api
from guap_pipeline.datasets import flag_series as ds
from guap_pipeline.flags import (
    FLAG_COLUMNS,
    FlagInputError,
    FlagSettings,
    FlagSettingsError,
    assess_by,
    changepoint,
    detect_flags,
    detect_flags_by,
    explain,
    flags_frame,
    plateau,
)


def test_flag_columns_are_the_contract() -> None:
    assert FLAG_COLUMNS == (
        "series",
        "model_version",
        "flag",
        "start_date",
        "money_at_stake",
        "ceiling",
        "projected_date",
        "evidence",
    )
    empty = flags_frame([])
    assert tuple(empty.columns[: len(FLAG_COLUMNS)]) == FLAG_COLUMNS
    assert empty.empty
    assert pd.api.types.is_datetime64_any_dtype(empty["start_date"])
    assert pd.api.types.is_float_dtype(empty["money_at_stake"])


@pytest.mark.slow  # threshold calibration by simulation
def test_flags_table_of_a_decline_has_money_and_no_ceiling() -> None:
    daily = ds.step_decline(n_days=180, at=120, size_sd=3.0, seed=1).daily
    table = detect_flags(daily, series="fraud-eu")
    assert list(table.columns[: len(FLAG_COLUMNS)]) == list(FLAG_COLUMNS)
    row = table.iloc[0]
    assert row["series"] == "fraud-eu" and row["flag"] == "decline"
    assert row["model_version"] == daily["model_version"].iloc[-1]
    assert row["money_at_stake"] > 0
    assert np.isnan(row["ceiling"]) and pd.isna(row["projected_date"])


def test_by_runs_each_series_on_its_own() -> None:
    parts = {
        "de": ds.stable(n_days=200, seed=2).daily,
        "fr": ds.step_decline(n_days=200, at=140, size_sd=3.0, seed=3).daily,
        "it": ds.plateau(n_days=260, growth_days=100, rise_sd=10.0, seed=4).daily,
    }
    daily = pd.concat([d.assign(country=k) for k, d in parts.items()], ignore_index=True)
    table = detect_flags_by(daily, "country")
    got = {(s, f) for s, f in zip(table["series"], table["flag"], strict=True)}
    assert ("fr", "decline") in got and ("it", "plateau") in got
    assert not any(s == "de" for s, _ in got)
    reports = assess_by(daily, "country")
    assert [r.series for r in reports] == ["de", "fr", "it"]
    # by=None: one series named "".
    whole = detect_flags_by(parts["fr"], None)
    assert list(whole["series"]) == [""]
    with pytest.raises(FlagInputError, match="segment"):
        detect_flags_by(daily, "segment")


def test_by_model_version_makes_each_version_a_series() -> None:
    daily = ds.version_steps((1.0, 2.0, 2.6), days_per_version=60, seed=5).daily
    reports = assess_by(daily, "model_version")
    assert [r.series for r in reports] == ["v1", "v2", "v3"]


def test_explain_says_plainly_what_is_missing() -> None:
    daily = ds.stable(n_days=26, seed=6).daily.drop(columns="mature")
    notes = explain(daily)
    assert notes[0].startswith("decline: model version 'v1' has 12 mature days, needs 29")
    assert detect_flags(daily).empty
    assert explain(ds.stable(n_days=300, seed=7).daily) == [
        "no flag: every test ran and none is active"
    ]


def test_dates_as_strings_or_with_a_time_zone_are_read() -> None:
    daily = ds.step_decline(n_days=180, at=120, size_sd=3.0, seed=8).daily
    as_text = daily.assign(date=daily["date"].dt.strftime("%Y-%m-%d"))
    zoned = daily.assign(date=daily["date"].dt.tz_localize("Europe/Paris"))
    expected = detect_flags(daily)["start_date"].tolist()
    assert detect_flags(as_text)["start_date"].tolist() == expected
    assert detect_flags(zoned)["start_date"].tolist() == expected


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reference_days": 7}, "reference_days"),
        ({"false_alarms_per_year": 0}, "false_alarms_per_year"),
        ({"alpha": 0.7}, "alpha"),
        ({"cusum_k": float("nan")}, "cusum_k"),
        ({"cusum_h": -1.0}, "cusum_h"),
        ({"diminishing_proximity": 0.0}, "diminishing_proximity"),
        ({"calibration_autocorrelation": 0.95}, "calibration_autocorrelation"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(FlagSettingsError, match=field) as info:
        FlagSettings(**kwargs)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)


def test_many_series_in_one_call_equal_each_series_alone() -> None:
    """Splitting by a column changes nothing but the ``series`` name (speed: benchmarks)."""
    parts = {
        "s0": ds.stable(n_days=200, seed=1).daily,
        "s1": ds.step_decline(n_days=200, seed=2).daily,
        "s2": ds.stable(n_days=200, seed=3).daily,
        "s3": ds.step_decline(n_days=200, seed=4).daily,
    }
    daily = pd.concat([d.assign(segment=name) for name, d in parts.items()], ignore_index=True)

    together = detect_flags_by(daily, "segment")

    alone = pd.concat(
        [detect_flags(d, series=name) for name, d in parts.items()], ignore_index=True
    )
    assert (together["flag"] == "decline").sum() >= 1  # the test has something to compare
    pd.testing.assert_frame_equal(together, alone, check_dtype=False)


@pytest.mark.parametrize("module", [flags_api, changepoint, plateau])
def test_docstring_examples_run(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
