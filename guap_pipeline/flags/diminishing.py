"""Diminishing returns: growth that is concave — within a version, and across versions.

Within a model version (:func:`detect_diminishing`), on the weekday-adjusted uplift per
labeled prediction of its mature days (``t`` = days since its first mature day):

1. Growth: the least-squares slope is positive with one-sided p < ``growth_alpha``
   (standard error allowing for lag-1 autocorrelation).
2. Concave: the saturating curve ``a − b·exp(−c·t)`` (``b, c > 0``; fitted with
   ``scipy.optimize.curve_fit`` from the best start on a grid of ``c``) beats the straight
   line by at least ``min_aic_gain`` in AIC (``n log(RSS/n) + 2p``; the gain is scaled by
   ``(1 − ρ)/(1 + ρ)`` for lag-1 autocorrelation ``ρ``, which makes the effective number
   of observations smaller), bends within the data (the slope at the end is at most half
   the slope at the start) and is gradual (half the rise takes at least a week; a jump is
   not diminishing returns).
3. Ceiling ``a``, with a 95 % interval from the fit's covariance (widened for
   autocorrelation). Projected date: when the curve gets within ``proximity`` of the
   ceiling, ``b·exp(−c·t) <= proximity·a`` (for a ceiling that is not positive, within
   ``proximity`` of the total rise ``b``); its 90 % interval comes from 500 draws of the
   parameters from the same covariance. A projected date in the past means the level is
   already there.

Across versions (:func:`detect_version_returns`): with at least three versions of at
least ``min_days`` mature days each, ordered by first appearance, each version's level
(mean of its weekday-adjusted mature days) rises above the previous one's by less than the
previous increment, and the last increment is smaller than the first with one-sided
p < ``growth_alpha`` (a z test; each level's variance allows for
autocorrelation).
The ceiling is where increments shrinking at the last ratio would end: ``level_last +
d_last · r / (1 − r)`` with ``r = d_last / d_previous``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats

from guap_pipeline.flags.series import (
    VersionSeries,
    adjusted_level,
    lag1_autocorrelation,
    long_run_factor,
    trend,
)
from guap_pipeline.flags.verdict import Flag, Verdict, fmt

RATE_GRID = np.geomspace(0.3, 60.0, 60)
MIN_RATE = 0.5  # below this the curve cannot bend by half within the data (needs ln 2)
DRAWS = 500


def saturating(t: NDArray[np.float64], a: float, b: float, c: float) -> NDArray[np.float64]:
    """``a − b·exp(−c·t)``: rises by ``b`` towards the ceiling ``a`` at rate ``c``."""
    return a - b * np.exp(-c * t)


def _saturating_jacobian(t: NDArray[np.float64], a: float, b: float, c: float) -> NDArray:
    e = np.exp(-c * t)
    return np.column_stack([np.ones_like(t), -e, b * t * e])


def fit_saturating(
    t: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], float] | None:
    """Least-squares ``(a, b, c)``, their covariance and the RSS; ``t`` scaled to [0, 1]."""
    best: tuple[float, float, float, float] | None = None
    ones = np.ones_like(t)
    for c in RATE_GRID:
        basis = np.column_stack([ones, -np.exp(-c * t)])
        (a, b), *_ = np.linalg.lstsq(basis, y, rcond=None)
        if b <= 0:
            continue
        rss = float(((y - basis @ (a, b)) ** 2).sum())
        if best is None or rss < best[3]:
            best = (float(a), float(b), float(c), rss)
    if best is None or best[2] < MIN_RATE:
        return None  # best curve is nearly a line: nothing to refine
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            params, cov = optimize.curve_fit(
                saturating,
                t,
                y,
                p0=best[:3],
                bounds=([-np.inf, 0.0, 1e-3], [np.inf, np.inf, 200.0]),
                jac=_saturating_jacobian,
                max_nfev=200,
            )
    except (RuntimeError, ValueError):
        return None
    rss = float(((y - saturating(t, *params)) ** 2).sum())
    if not np.all(np.isfinite(cov)):
        return None
    return params, cov, rss


def _days_to_proximity(a: NDArray, b: NDArray, c: NDArray, proximity: float) -> NDArray:
    """Scaled time at which ``b·exp(−c·t)`` falls to ``proximity`` × (ceiling or rise)."""
    target = np.where(a > 0, proximity * np.abs(a), proximity * b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(b / target) / c


def detect_diminishing(
    series: VersionSeries,
    *,
    min_days: int = 56,
    proximity: float = 0.05,
    min_aic_gain: float = 10.0,
    growth_alpha: float = 0.001,
    seed: int = 0,
) -> Verdict:
    """Is this version's growth concave, and where is its ceiling?"""
    n = len(series)
    if n < min_days:
        return Verdict(
            note=(
                f"diminishing returns: model version {series.version!r} has {n} mature "
                f"days, needs {min_days} to fit a curve"
            )
        )
    x = adjusted_level(series)
    day = series.day
    span = float(day[-1])
    line = trend(day, x)
    p_growth = line.p_greater(0.0)
    if line.slope <= 0 or p_growth >= growth_alpha:
        return Verdict()
    t = day / span
    fit = fit_saturating(t, x)
    if fit is None:
        return Verdict()
    (a, b, c), cov, rss_sat = fit
    rss_line = float(((x - (line.intercept + line.slope * day)) ** 2).sum())
    rho = float(lag1_autocorrelation(x - saturating(t, a, b, c)))
    gain = (n * math.log(rss_line / rss_sat) - 2) * (1 - rho) / (1 + rho)
    bends = math.exp(-c) <= 0.5
    gradual = math.log(2) / c * span >= 7
    if gain < min_aic_gain or not bends or not gradual:
        return Verdict()

    cov = cov * float(long_run_factor(rho)) ** 2
    se_a = math.sqrt(cov[0, 0])
    reach = float(_days_to_proximity(np.array(a), np.array(b), np.array(c), proximity)) * span
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal([a, b, c], cov, size=DRAWS, check_valid="ignore")
    valid = (draws[:, 1] > 0) & (draws[:, 2] > 0)
    reach_draws = (
        _days_to_proximity(draws[valid, 0], draws[valid, 1], draws[valid, 2], proximity) * span
    )
    reach_draws = reach_draws[np.isfinite(reach_draws)]
    first = series.dates[0]

    def on(days: float) -> np.datetime64:
        return first + np.timedelta64(max(round(days), 0), "D")

    projected = on(reach)
    if len(reach_draws) >= 0.9 * DRAWS and np.quantile(reach_draws, 0.95) < 3650:
        low, high = np.quantile(reach_draws, [0.05, 0.95])
        when = f"{projected} (90 % interval {on(low)}..{on(high)})"
    else:
        when = f"{projected} (90 % interval unbounded: the fit does not pin the rate down)"
    already = " — already reached" if projected <= series.dates[-1] else ""
    evidence = (
        f"saturating curve a − b·exp(−c·t) preferred to a line by AIC "
        f"(gain {gain:.1f} ≥ {min_aic_gain:g}, after autocorrelation {rho:.2f}) on "
        f"weekday-adjusted uplift per labeled prediction, model version {series.version!r}, "
        f"{n} mature days {series.dates[0]}..{series.dates[-1]}; growth slope "
        f"{fmt(line.slope)}/day (one-sided p = {p_growth:.2g}); ceiling {fmt(a)} "
        f"(95 % CI {fmt(a - 1.96 * se_a)}..{fmt(a + 1.96 * se_a)}); within "
        f"{proximity:.0%} of it on {when}{already}"
    )
    return Verdict(
        Flag(
            flag="diminishing_returns",
            model_version=series.version,
            start_date=series.dates[0],
            evidence=evidence,
            method="saturating_curve_aic",
            statistic=gain,
            threshold=min_aic_gain,
            p_value=p_growth,
            ceiling=float(a),
            projected_date=projected,
            window_start=series.dates[0],
            window_end=series.dates[-1],
        )
    )


def detect_version_returns(
    versions: Sequence[VersionSeries], *, min_days: int = 14, growth_alpha: float = 0.001
) -> Verdict:
    """Does each model version add less than the one before it? (oldest first)"""
    eligible = [v for v in versions if len(v) >= min_days]
    if len(versions) < 3:
        return Verdict()
    if len(eligible) < 3:
        return Verdict(
            note=(
                f"diminishing returns across versions: {len(eligible)} model versions have "
                f"{min_days}+ mature days, needs 3"
            )
        )
    levels, variances = [], []
    for v in eligible:
        x = adjusted_level(v)
        rho = float(lag1_autocorrelation(x))
        levels.append(float(x.mean()))
        variances.append(float(x.var(ddof=1)) / len(x) * float(long_run_factor(rho)) ** 2)
    lv = np.array(levels)
    inc = np.diff(lv)
    if not (np.all(inc > 0) and np.all(np.diff(inc) < 0)):
        return Verdict()
    d_prev, d_last = float(inc[-2]), float(inc[-1])
    # Contrast: first increment minus last, on the levels' (independent) variances.
    contrast = np.zeros(len(lv))
    contrast[[1, 0]] += (1.0, -1.0)
    contrast[[-1, -2]] -= (1.0, -1.0)
    var = float((contrast**2 * np.array(variances)).sum())
    z = float(contrast @ lv) / math.sqrt(var) if var > 0 else math.inf
    p = float(stats.norm.sf(z))
    if p >= growth_alpha:
        return Verdict()
    ratio = d_last / d_prev
    ceiling = levels[-1] + d_last * ratio / (1 - ratio)
    names = ", ".join(f"{v.version!r} {fmt(level)}" for v, level in zip(eligible, lv, strict=True))
    evidence = (
        f"each model version adds less than the previous one: levels of weekday-adjusted "
        f"uplift per labeled prediction (mean over each version's mature days) "
        f"{names}; increments {', '.join(fmt(float(d)) for d in inc)}; last increment "
        f"smaller than the first: z = {z:.2f}, one-sided p = {p:.2g}; increments "
        f"shrinking at ratio {ratio:.2f} would end at {fmt(ceiling)}"
    )
    latest = eligible[-1]
    return Verdict(
        Flag(
            flag="diminishing_returns",
            model_version=latest.version,
            start_date=latest.dates[0],
            evidence=evidence,
            method="version_increments",
            statistic=z,
            p_value=p,
            ceiling=ceiling,
            window_start=eligible[0].dates[0],
            window_end=latest.dates[-1],
        )
    )
