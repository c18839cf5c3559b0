"""Run the three detectors on a daily summary table: the flags active on its last date.

One series (:func:`assess`, :func:`detect_flags`) or many at once, one per value of a
key column (:func:`detect_flags_by`). Each current model version is assessed on its
own; while a version is in decline, its plateau and diminishing-returns tests are not
run (a falling level is neither flat nor saturating). Too little data is not an error:
the flags table is then empty and :func:`explain` (or :attr:`FlagReport.notes`) says
what is missing, e.g. "decline: model version 'v2' has 12 mature days, needs 29".
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from guap_pipeline.errors import FlagInputError
from guap_pipeline.flags.decline import DeclineRule, detect_decline
from guap_pipeline.flags.diminishing import detect_diminishing, detect_version_returns
from guap_pipeline.flags.plateau import detect_plateau
from guap_pipeline.flags.series import prepare_series
from guap_pipeline.flags.settings import FlagSettings
from guap_pipeline.flags.verdict import EVIDENCE_COLUMNS, FLAG_COLUMNS, Flag, Verdict

DEFAULT_SETTINGS = FlagSettings()


@dataclass(frozen=True)
class FlagReport:
    """The flags of one series (a :data:`FLAG_COLUMNS` table) and notes on what was not
    assessed and why."""

    series: str
    flags: pd.DataFrame
    notes: tuple[str, ...]


@functools.lru_cache(maxsize=16)
def decline_rule(settings: FlagSettings) -> DeclineRule:
    """The decline detector of these settings (thresholds calibrated once, then cached)."""
    return DeclineRule.calibrated(
        reference_days=settings.reference_days,
        k=settings.cusum_k,
        false_alarms_per_year=settings.false_alarms_per_year,
        cusum_h=settings.cusum_h,
        winsor_z=settings.winsor_z,
        rebaseline=settings.rebaseline,
        max_autocorrelation=settings.calibration_autocorrelation,
        penalty=settings.changepoint_penalty,
        min_days=settings.changepoint_min_days,
    )


def assess(
    daily: pd.DataFrame, settings: FlagSettings = DEFAULT_SETTINGS, *, series: str = ""
) -> FlagReport:
    """Flags active as of the last date of ONE daily summary series, with notes.

    ``daily``: one row per date, or per (date, model_version); see
    :func:`~guap_pipeline.flags.series.prepare_series` for the columns used.
    """
    prepared = prepare_series(daily, settings)
    rule = decline_rule(settings)
    found: list[Flag] = []
    notes = list(prepared.notes)

    def keep(verdict: Verdict) -> bool:
        if verdict.note:
            notes.append(verdict.note)
        if verdict.flag is not None:
            found.append(verdict.flag)
            return True
        return False

    for index in prepared.current:
        version = prepared.versions[index]
        if keep(detect_decline(version, rule)):
            notes.append(
                f"plateau, diminishing returns: not assessed for model version "
                f"{version.version!r} while its level is in decline"
            )
            continue
        keep(
            detect_plateau(
                version,
                min_flat_days=settings.plateau_min_flat_days,
                margin=settings.plateau_margin,
                min_growth_days=settings.min_growth_days,
                min_rise_sd=settings.plateau_min_rise_sd,
                alpha=settings.alpha,
                growth_alpha=settings.growth_alpha,
            )
        )
        keep(
            detect_diminishing(
                version,
                min_days=settings.diminishing_min_days,
                proximity=settings.diminishing_proximity,
                min_aic_gain=settings.min_aic_gain,
                growth_alpha=settings.growth_alpha,
            )
        )
    last = len(prepared.versions) - 1
    if last in prepared.current and not any(
        f.flag == "decline" and f.model_version == prepared.versions[last].version for f in found
    ):
        keep(
            detect_version_returns(
                prepared.versions,
                min_days=settings.min_version_days,
                growth_alpha=settings.growth_alpha,
            )
        )
    if not found and not notes:
        notes.append("no flag: every test ran and none is active")
    return FlagReport(series, flags_frame(found, series=series), tuple(notes))


def detect_flags(
    daily: pd.DataFrame, settings: FlagSettings = DEFAULT_SETTINGS, *, series: str = ""
) -> pd.DataFrame:
    """Active flags as of the last date of ONE daily summary series.

    Columns: :data:`FLAG_COLUMNS` (``model_version`` is the version a flag is about),
    then the evidence columns ``method, statistic, threshold, p_value, window_start,
    window_end``. Empty (same columns) when nothing is flagged or there are too few
    mature days; :func:`explain` says why.
    """
    return assess(daily, settings, series=series).flags


def explain(
    daily: pd.DataFrame, settings: FlagSettings = DEFAULT_SETTINGS, *, series: str = ""
) -> list[str]:
    """Why tests could not run on this series (too few mature days…), in plain words."""
    return list(assess(daily, settings, series=series).notes)


def detect_flags_by(
    daily: pd.DataFrame, by: str | None, settings: FlagSettings = DEFAULT_SETTINGS
) -> pd.DataFrame:
    """:func:`detect_flags` once per value of column ``by`` (``series`` = that value).

    ``by=None`` runs the whole table as one series named "". ``by="model_version"``
    makes each version its own series. About 15 ms a series of 200 days.
    """
    return pd.concat(
        [r.flags for r in assess_by(daily, by, settings)] or [flags_frame([])],
        ignore_index=True,
    )


def assess_by(
    daily: pd.DataFrame, by: str | None, settings: FlagSettings = DEFAULT_SETTINGS
) -> list[FlagReport]:
    """:func:`assess` once per value of column ``by``, in sorted order of the values."""
    if by is None:
        return [assess(daily, settings)]
    if by not in daily.columns:
        raise FlagInputError(f"cannot run flags by '{by}': no such column in the daily table")
    if "date" in daily.columns and not pd.api.types.is_datetime64_any_dtype(daily["date"]):
        daily = daily.assign(date=pd.to_datetime(daily["date"]))
    return [
        assess(group, settings, series=_name(key))
        for key, group in daily.groupby(by, sort=True, dropna=False)
    ]


def _name(key: object) -> str:
    if isinstance(key, tuple):
        key = key[0]
    if key is None or (isinstance(key, float) and math.isnan(key)) or key is pd.NA:
        return ""
    return str(key)


DATE_COLUMNS = ("start_date", "projected_date", "window_start", "window_end")
NUMBER_COLUMNS = ("money_at_stake", "ceiling", "statistic", "threshold", "p_value")


def flags_frame(found: list[Flag], *, series: str = "") -> pd.DataFrame:
    """The flags table of a list of flags (empty list: no rows, same columns)."""
    columns: dict[str, np.ndarray] = {}
    for name in (*FLAG_COLUMNS, *EVIDENCE_COLUMNS):
        if name == "series":
            columns[name] = np.array([series] * len(found), dtype=object)
            continue
        values = [getattr(f, name) for f in found]
        if name in DATE_COLUMNS:
            columns[name] = np.array(
                [np.datetime64("NaT") if v is None else v for v in values], dtype="datetime64[ns]"
            )
        elif name in NUMBER_COLUMNS:
            columns[name] = np.array(values, dtype=np.float64)
        else:
            columns[name] = np.array(values, dtype=object)
    return pd.DataFrame(columns, copy=False)
