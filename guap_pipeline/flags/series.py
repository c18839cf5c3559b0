"""The level the flags watch: uplift per labeled prediction, on mature days, per version.

Why this level. Total uplift moves with traffic, so a quiet week would look like a
decline; uplift per labeled prediction (``uplift / n_labeled``) does not. Total money
still matters for what is at stake: a detector multiplies a change of the level by the
daily number of predictions.

Why mature days only. Labels arrive late and positives often arrive last, so a recent,
partly labeled day is biased (usually low) and would raise false declines. A day is used
when it is mature — the ``mature`` column if the table has one, else once
``label_window_days`` calendar days have passed since it — and, with ``strict_maturity``,
a day still inside the label window is used only when every prediction is labeled.

Why per model version. A new version is a new process: each version is its own series,
and each detector starts its reference afresh at the version's first mature day.

Helpers shared by the detectors live here too: weekday offsets (``weekday_effects``), an
ordinary least-squares slope whose standard error allows for lag-1 autocorrelation
(``trend``), and the autocorrelation estimate itself (``lag1_autocorrelation``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from guap_pipeline.errors import FlagInputError
from guap_pipeline.flags.days import DailyColumns, usable_days
from guap_pipeline.flags.settings import FlagSettings

DEFAULT_VERSION = "default"
REQUIRED_COLUMNS: tuple[str, ...] = ("date", "n_labeled", "uplift")
MAX_AUTOCORRELATION = 0.8


@dataclass(frozen=True)
class VersionSeries:
    """The mature days of one model version, sorted by date (arrays of equal length).

    ``level`` is uplift per labeled prediction; ``day`` counts calendar days since the
    version's first mature day (gaps kept); ``weekday`` is 0 = Monday … 6 = Sunday.
    """

    version: str
    dates: NDArray[np.datetime64]
    level: NDArray[np.float64]
    uplift: NDArray[np.float64]
    n_labeled: NDArray[np.float64]
    n_predictions: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.dates)

    @property
    def day(self) -> NDArray[np.float64]:
        return (self.dates - self.dates[0]).astype("timedelta64[D]").astype(np.float64)

    @property
    def weekday(self) -> NDArray[np.int64]:
        # 1970-01-01 was a Thursday (weekday 3).
        return (self.dates.astype("datetime64[D]").astype(np.int64) + 3) % 7

    def slice(self, start: int, stop: int) -> VersionSeries:
        return VersionSeries(
            version=self.version,
            dates=self.dates[start:stop],
            level=self.level[start:stop],
            uplift=self.uplift[start:stop],
            n_labeled=self.n_labeled[start:stop],
            n_predictions=self.n_predictions[start:stop],
        )


@dataclass(frozen=True)
class PreparedSeries:
    """One daily summary series, split into model versions, ready for the detectors.

    ``versions`` are ordered by first appearance; ``current`` are the indices of the
    versions with mature data within ``active_version_days`` of the last mature day.
    ``notes`` say what was left out and why.
    """

    versions: tuple[VersionSeries, ...]
    current: tuple[int, ...]
    notes: tuple[str, ...]


def prepare_series(daily: pd.DataFrame, settings: FlagSettings) -> PreparedSeries:
    """Split a daily summary table into per-version level series of mature days.

    ``daily`` has one row per date, or per (date, model_version); duplicate rows of a
    (date, version) are summed. Required columns: ``date``, ``n_labeled``, ``uplift``;
    used when present: ``model_version``, ``n_predictions``, ``mature``. Raises
    :class:`FlagInputError` when a required column is missing or not numeric.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in daily.columns]
    if missing:
        raise FlagInputError(
            f"daily table lacks column(s) {missing}; the flags need date, n_labeled and "
            "uplift (profit minus baseline profit of the labeled rows)"
        )
    if daily.empty:
        return PreparedSeries((), (), ("the daily table is empty",))
    columns = DailyColumns.of(daily)
    dates, n_labeled, n_predictions = columns.dates, columns.n_labeled, columns.n_predictions
    uplift = columns.uplift
    if "model_version" in daily.columns:
        raw = daily["model_version"]
        versions = np.where(raw.isna(), DEFAULT_VERSION, raw.astype(str)).astype(object)
    else:
        versions = np.full(len(daily), DEFAULT_VERSION, dtype=object)
    usable = usable_days(daily, settings, columns)
    notes: list[str] = []
    if not usable.any():
        notes.append(
            f"no mature day with labels yet ({len(np.unique(dates))} days in the table, "
            f"label window {settings.label_window_days} days)"
        )

    order = np.argsort(dates, kind="stable")
    rows_of = {v: order[versions[order] == v] for v in np.unique(versions)}
    series: list[VersionSeries] = []
    for version, rows in sorted(rows_of.items(), key=lambda item: dates[item[1][0]]):
        rows = rows[usable[rows]]
        if len(rows) == 0:
            if usable.any():  # else the note above says it for all
                notes.append(f"model version {version!r} has no mature day yet")
            continue
        day, lab, upl, pred = dates[rows], n_labeled[rows], uplift[rows], n_predictions[rows]
        if len(np.unique(day)) < len(day):  # several rows of a (date, version): sum them
            day, inverse = np.unique(day, return_inverse=True)
            lab, upl, pred = (np.bincount(inverse, weights=w) for w in (lab, upl, pred))
        series.append(
            VersionSeries(
                version=str(version),
                dates=day,
                level=upl / lab,
                uplift=upl,
                n_labeled=lab,
                n_predictions=pred,
            )
        )
    if not series:
        return PreparedSeries((), (), tuple(notes))
    last_mature = max(s.dates[-1] for s in series)
    horizon = last_mature - np.timedelta64(settings.active_version_days, "D")
    current = tuple(i for i, s in enumerate(series) if s.dates[-1] > horizon)
    for s in series:
        if s.dates[-1] <= horizon:
            notes.append(
                f"model version {s.version!r} is not current (last mature day "
                f"{s.dates[-1]}), so it raises no flag"
            )
    return PreparedSeries(tuple(series), current, tuple(notes))


# --- shared statistics -------------------------------------------------------------------


def weekday_effects(
    weekday: NDArray[np.int64], day: NDArray[np.float64], values: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Additive offset of each weekday (array of 7, zero mean over weekdays seen).

    Least squares of ``values`` on an intercept, a linear trend and weekday indicators
    (so a trend does not leak into the offsets), shrunk towards zero by the positive-part
    factor ``max(0, 1 - 1/F)`` where ``F`` is the F statistic of the weekday terms:
    strong weekly patterns are removed almost whole, noise is barely touched. ``values``
    may be 2-D ``(days, paths)`` to fit many series on the same calendar at once (used by
    the CUSUM calibration); the result is then ``(7, paths)``. Weekdays seen fewer than
    twice get no offset.
    """
    values2 = values.reshape(len(values), -1)
    out = np.zeros((7, values2.shape[1]))
    counts = np.bincount(weekday, minlength=7)
    seen = np.flatnonzero(counts >= 2)
    n = len(values)
    if len(seen) < 2 or n < len(seen) + 4:
        return out if values.ndim == 2 else out[:, 0]
    base = np.column_stack([np.ones(n), day - day.mean()])
    dummies = (weekday[:, None] == seen[None, :]).astype(np.float64)
    # Sum-to-zero coding over the weekdays seen: the last one is minus the others.
    coded = dummies[:, :-1] - dummies[:, -1:]
    design = np.column_stack([base, coded])
    keep = np.isin(weekday, seen)
    coef, *_ = np.linalg.lstsq(design[keep], values2[keep], rcond=None)
    fitted = design[keep] @ coef
    rss_full = ((values2[keep] - fitted) ** 2).sum(axis=0)
    coef0, *_ = np.linalg.lstsq(base[keep], values2[keep], rcond=None)
    rss_base = ((values2[keep] - base[keep] @ coef0) ** 2).sum(axis=0)
    p = coded.shape[1]
    dof = keep.sum() - design.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f_stat = ((rss_base - rss_full) / p) / (rss_full / dof)
        shrink = np.where(np.isfinite(f_stat) & (f_stat > 1), 1 - 1 / f_stat, 0.0)
    effects = coef[2:]
    last = -effects.sum(axis=0, keepdims=True)
    out[seen] = np.vstack([effects, last]) * shrink
    return out if values.ndim == 2 else out[:, 0]


def lag1_autocorrelation(residuals: NDArray[np.float64]) -> NDArray[np.float64] | float:
    """Lag-1 autocorrelation of residuals (along axis 0), bias-corrected, in [0, 0.8].

    Uses Kendall's small-sample correction ``r + (1 + 3r) / n``. Negative values are
    set to 0: the detectors only ever *widen* their noise band for autocorrelation.
    """
    r = residuals - residuals.mean(axis=0)
    n = len(r)
    if n < 4:
        return 0.0 if r.ndim == 1 else np.zeros(r.shape[1])
    denom = (r * r).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(denom > 0, (r[1:] * r[:-1]).sum(axis=0) / denom, 0.0)
    rho = np.clip(rho + (1 + 3 * rho) / n, 0.0, MAX_AUTOCORRELATION)
    return float(rho) if r.ndim == 1 else rho


def long_run_factor(rho: NDArray[np.float64] | float) -> NDArray[np.float64] | float:
    """How much an AR(1) with lag-1 correlation ``rho`` inflates the sd of a sum."""
    return np.sqrt((1 + rho) / (1 - rho))


@dataclass(frozen=True)
class Trend:
    """OLS slope (per day) with a standard error widened for lag-1 autocorrelation."""

    slope: float
    stderr: float
    dof: float
    autocorrelation: float
    intercept: float

    def p_greater(self, value: float = 0.0) -> float:
        """One-sided p-value of H0: slope <= value."""
        return float(stats.t.sf((self.slope - value) / self.stderr, self.dof))

    def p_less(self, value: float = 0.0) -> float:
        """One-sided p-value of H0: slope >= value."""
        return float(stats.t.cdf((self.slope - value) / self.stderr, self.dof))


def trend(day: NDArray[np.float64], values: NDArray[np.float64]) -> Trend:
    """Least-squares line through ``values``; SE and degrees of freedom use n_eff.

    With lag-1 autocorrelation ``rho`` of the residuals the effective sample size is
    ``n (1 - rho) / (1 + rho)``; the slope's SE grows by ``sqrt((1 + rho) / (1 - rho))``.
    """
    n = len(values)
    fit = stats.linregress(day, values)
    resid = values - (fit.intercept + fit.slope * day)
    rho = float(lag1_autocorrelation(resid))
    n_eff = max(n * (1 - rho) / (1 + rho), 3.0)
    stderr = float(fit.stderr) * float(long_run_factor(rho))
    if not math.isfinite(stderr) or stderr <= 0:
        stderr = float(np.finfo(float).tiny)
    return Trend(float(fit.slope), stderr, n_eff - 2, rho, float(fit.intercept))


def adjusted_level(series: VersionSeries) -> NDArray[np.float64]:
    """The level minus its weekday offsets, estimated on the whole version series."""
    effects = weekday_effects(series.weekday, series.day, series.level)
    return series.level - effects[series.weekday]
