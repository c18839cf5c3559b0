"""Plateau: the level grew earlier and is now shown to be flat (an equivalence test).

"Not significantly rising" is not "flat": a noisy or short window is never significant.
The plateau flag needs positive evidence of flatness, a two one-sided tests (TOST)
equivalence test on the recent slope, per current model version:

1. Level: uplift per labeled prediction on mature days, minus weekday offsets
   (:func:`~guap_pipeline.flags.series.adjusted_level`).
2. Earlier growth: the growth phase is the days up to the knot of a broken-stick fit
   (rising line, then flat) over the days before the recent window — all of them if the
   knot leaves fewer than ``min_growth_days``. Its least-squares slope ``b_e`` must be
   positive with one-sided p < ``growth_alpha`` (0.001: the knot is chosen to fit best,
   and the test is repeated every day, so a lax level would find growth in noise).
3. Flat now: on the last ``window_days`` mature days, the slope ``b_r`` is shown to lie
   within ``± margin × b_e``: both one-sided tests (H0: ``b_r <= −δ`` and H0:
   ``b_r >= δ``) reject at ``alpha``; the TOST p-value is the larger of the two.
   So with the default ``margin = 0.35`` the flag says "the level now moves at less than
   about a third of the pace it grew at before", shown with 95 % confidence. Why these
   defaults: a slope over ``W`` noisy days has a standard error of about
   ``σ √(12 / W³)``, so showing flatness needs a long window or a wide margin; with
   84 days (12 weeks) and a third of the earlier pace, growth of 5σ over 100 days then
   flat is recognised in most runs of the harness (``benchmarks/README.md``), with a
   56-day window it is not.

Slopes are ordinary least squares; standard errors and degrees of freedom allow for
lag-1 autocorrelation of the residuals (:func:`~guap_pipeline.flags.series.trend`).
The start date is when growth stopped: that knot (least squares over every day).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from guap_pipeline.flags.series import VersionSeries, adjusted_level, trend
from guap_pipeline.flags.verdict import Flag, Verdict, fmt


def growth_stop(day: NDArray[np.float64], values: NDArray[np.float64]) -> int:
    """Index of the knot of the best continuous fit ``a + b·min(day, τ)`` (τ a data day).

    >>> growth_stop(np.arange(10.0), np.minimum(np.arange(10.0), 6.0))
    6
    """
    knots = day[1:-1]
    if len(knots) == 0:
        return len(day) - 1
    hinge = np.minimum(day[:, None], knots[None, :])  # (days, knots)
    hc = hinge - hinge.mean(axis=0)
    yc = values - values.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (hc * yc[:, None]).sum(axis=0) / (hc * hc).sum(axis=0)
    rss = ((yc[:, None] - hc * slope) ** 2).sum(axis=0)
    return int(np.nanargmin(rss)) + 1


def detect_plateau(
    series: VersionSeries,
    *,
    window_days: int = 84,
    margin: float = 0.35,
    min_growth_days: int = 28,
    alpha: float = 0.05,
    growth_alpha: float = 0.001,
) -> Verdict:
    """Did this version's level grow and then go flat, as of its last mature day?"""
    n = len(series)
    need = window_days + min_growth_days
    if n < need:
        return Verdict(
            note=(
                f"plateau: model version {series.version!r} has {n} mature days, needs "
                f"{need} ({min_growth_days} to show earlier growth + a {window_days}-day window)"
            )
        )
    x = adjusted_level(series)
    day = series.day
    cut = n - window_days
    stop = growth_stop(day[:cut], x[:cut]) if cut >= 3 else cut
    if stop < min_growth_days:
        stop = cut  # no clear knot before the window: all earlier days are the growth phase
    earlier = trend(day[: stop + 1], x[: stop + 1])
    p_growth = earlier.p_greater(0.0)
    if earlier.slope <= 0 or p_growth >= growth_alpha:
        return Verdict()
    recent = trend(day[cut:], x[cut:])
    delta = margin * earlier.slope
    p_tost = max(recent.p_greater(-delta), recent.p_less(delta))
    if p_tost >= alpha:
        return Verdict()

    evidence = (
        f"TOST equivalence test on the OLS slope of weekday-adjusted uplift per labeled "
        f"prediction, model version {series.version!r}, last {window_days} mature days "
        f"{series.dates[cut]}..{series.dates[-1]}: slope {fmt(recent.slope)}/day "
        f"(SE {fmt(recent.stderr)}, lag-1 autocorrelation {recent.autocorrelation:.2f}) "
        f"within ±{fmt(delta)}/day = {margin:g} × earlier growth {fmt(earlier.slope)}/day "
        f"({series.dates[0]}..{series.dates[stop]}, one-sided p = {p_growth:.2g}); "
        f"TOST p = {p_tost:.2g} < {alpha:g}; growth stopped about {series.dates[stop]} "
        "(broken-stick fit)"
    )
    return Verdict(
        Flag(
            flag="plateau",
            model_version=series.version,
            start_date=series.dates[stop],
            evidence=evidence,
            method="tost_slope",
            statistic=recent.slope,
            threshold=delta,
            p_value=p_tost,
            window_start=series.dates[cut],
            window_end=series.dates[-1],
        )
    )
