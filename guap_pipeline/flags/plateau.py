"""Plateau: the level grew, then stopped growing — found soon after the growth stops.

"Not significantly rising" is not "flat": a noisy or short stretch is never significant.
The plateau flag needs positive evidence of flatness, per current model version, on the
weekday-adjusted uplift per labeled prediction of its mature days
(:func:`~guap_pipeline.flags.series.adjusted_level`):

1. Where growth stopped: a broken line ``a + b₁·min(t, τ) + b₂·max(t − τ, 0)``
   (continuous at the knot ``τ``) is fitted by least squares at every candidate knot
   leaving at least ``min_growth_days`` days up to it and ``min_flat_days`` after it;
   the knot of least squared error is where growth stopped (:func:`fit_broken_line`).
   The window after it grows with the data, so a plateau can be shown as soon as there
   is enough evidence instead of after a fixed long window.
2. It grew before: ``b₁ > 0`` with one-sided p < ``growth_alpha`` (strict: the knot is
   chosen to fit best and the test is repeated every day, so a lax level would find
   growth in the noise of a series that never grew), and the rise up to the knot,
   ``b₁ · τ``, is at least ``min_rise_sd`` residual standard deviations. The p-value
   says the growth is not zero, not that it is worth a plateau: "flat" is judged
   against the growth (step 3), so a rise no bigger than the daily noise would make a
   stable series "flat after growth". The knot search makes this likely: on a stable
   series it can put the knot at the shortest growth allowed, where a wiggle of 1.5σ
   over ``min_growth_days`` days passes the p-value (``benchmarks/README.md``).
3. It is flat after: a two one-sided tests (TOST) equivalence test shows
   ``−δ < b₂ < δ`` with ``δ = margin × b₁`` — both one-sided tests (on ``b₂ ± margin ×
   b₁``, so the error of the estimated growth rate counts too) reject at ``alpha``;
   the TOST p-value is the larger of the two. So the flag says "the level now moves at
   less than ``margin`` of the pace it grew at", each side shown at 95 % by default.

The line is continuous, so the level at the knot is pinned by the growth before it: the
slope after the knot is measured from there, which shows flatness with far fewer days
than a slope fitted to the recent days alone. Standard errors and degrees of freedom
allow for lag-1 autocorrelation of the residuals (effective sample size
``n (1 − ρ) / (1 + ρ)``, as :func:`~guap_pipeline.flags.series.trend`). The start date
is the knot. How soon and how often it is found: ``benchmarks/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from guap_pipeline.flags.series import VersionSeries, adjusted_level, lag1_autocorrelation
from guap_pipeline.flags.settings import FlagSettings
from guap_pipeline.flags.verdict import Flag, Verdict, fmt

_DEFAULT = FlagSettings()  # the defaults live in settings.py only


@dataclass(frozen=True)
class BrokenLine:
    """Least-squares ``a + b₁·min(t, τ) + b₂·max(t − τ, 0)`` with ``τ = day[knot]``.

    ``cov`` is the covariance of ``(a, b₁, b₂)`` widened for lag-1 autocorrelation;
    ``dof`` the degrees of freedom of its t tests (from the effective sample size);
    ``sigma`` the residual standard deviation (the daily noise about the line);
    ``rise`` the fitted rise up to the knot, ``b₁ · τ``.
    """

    knot: int
    intercept: float
    growth: float
    after: float
    cov: NDArray[np.float64]
    dof: float
    autocorrelation: float
    sigma: float
    rise: float

    def se(self, weights: tuple[float, float, float]) -> float:
        """Standard error of ``weights · (a, b₁, b₂)``, e.g. ``(0, 1, 0)`` for b₁."""
        w = np.asarray(weights)
        return float(np.sqrt(w @ self.cov @ w))


def _hinge_design(day: NDArray[np.float64], knot_day: float) -> NDArray[np.float64]:
    return np.column_stack(
        [np.ones_like(day), np.minimum(day, knot_day), np.maximum(day - knot_day, 0.0)]
    )


def best_knot(
    day: NDArray[np.float64], values: NDArray[np.float64], candidates: NDArray[np.int64]
) -> int:
    """Index (among ``day``) of the candidate knot whose broken line fits best.

    >>> day = np.arange(10.0)
    >>> best_knot(day, np.minimum(day, 6.0), np.arange(2, 8))
    6
    """
    tau = day[candidates]
    after = np.maximum(day[:, None] - tau[None, :], 0.0)  # (days, knots)
    # y ~ a + b·day + d·after spans the same lines as the broken line; the RSS of each
    # knot follows from the 3×3 normal equations, solved for all knots at once.
    n = float(len(day))
    gram = np.empty((len(tau), 3, 3))
    gram[:, 0, 0] = n
    gram[:, 0, 1] = gram[:, 1, 0] = day.sum()
    gram[:, 1, 1] = (day * day).sum()
    gram[:, 0, 2] = gram[:, 2, 0] = after.sum(axis=0)
    gram[:, 1, 2] = gram[:, 2, 1] = (day[:, None] * after).sum(axis=0)
    gram[:, 2, 2] = (after * after).sum(axis=0)
    moment = np.empty((len(tau), 3))
    moment[:, 0] = values.sum()
    moment[:, 1] = (day * values).sum()
    moment[:, 2] = (after * values[:, None]).sum(axis=0)
    coef = np.linalg.solve(gram, moment[:, :, None])[:, :, 0]
    rss = (values * values).sum() - (coef * moment).sum(axis=1)
    return int(candidates[int(np.argmin(rss))])


def fit_broken_line(
    day: NDArray[np.float64],
    values: NDArray[np.float64],
    *,
    min_before: int,
    min_after: int,
) -> BrokenLine | None:
    """The best broken line with ``min_before`` days up to the knot and ``min_after``
    after it; None when the series is too short for both."""
    n = len(day)
    candidates = np.arange(min_before - 1, n - min_after)
    if len(candidates) == 0:
        return None
    knot = best_knot(day, values, candidates)
    design = _hinge_design(day, float(day[knot]))
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    resid = values - design @ coef
    rho = float(lag1_autocorrelation(resid))
    inflation = (1 + rho) / (1 - rho)
    s2 = float(resid @ resid) / (n - 3)
    cov = s2 * np.linalg.inv(design.T @ design) * inflation
    dof = max(n / inflation, 4.0) - 3
    rise = float(coef[1]) * float(day[knot] - day[0])
    return BrokenLine(
        knot,
        float(coef[0]),
        float(coef[1]),
        float(coef[2]),
        cov,
        dof,
        rho,
        float(np.sqrt(s2)),
        rise,
    )


def detect_plateau(
    series: VersionSeries,
    *,
    min_flat_days: int = _DEFAULT.plateau_min_flat_days,
    margin: float = _DEFAULT.plateau_margin,
    min_growth_days: int = _DEFAULT.min_growth_days,
    min_rise_sd: float = _DEFAULT.plateau_min_rise_sd,
    alpha: float = _DEFAULT.alpha,
    growth_alpha: float = _DEFAULT.growth_alpha,
) -> Verdict:
    """Did this version's level grow and then go flat, as of its last mature day?"""
    n = len(series)
    need = min_growth_days + min_flat_days
    if n < need:
        return Verdict(
            note=(
                f"plateau: model version {series.version!r} has {n} mature days, needs "
                f"{need} ({min_growth_days} to show growth + {min_flat_days} flat after it)"
            )
        )
    fit = fit_broken_line(
        series.day, adjusted_level(series), min_before=min_growth_days, min_after=min_flat_days
    )
    if fit is None or fit.growth <= 0:
        return Verdict()
    p_growth = float(stats.t.sf(fit.growth / fit.se((0, 1, 0)), fit.dof))
    if p_growth >= growth_alpha or fit.rise < min_rise_sd * fit.sigma:
        return Verdict()
    delta = margin * fit.growth
    # b₂ + δ > 0 and b₂ − δ < 0, each with the error of b₁ (hence δ) counted in.
    p_tost = max(
        float(stats.t.sf((fit.after + delta) / fit.se((0, margin, 1)), fit.dof)),
        float(stats.t.cdf((fit.after - delta) / fit.se((0, -margin, 1)), fit.dof)),
    )
    if p_tost >= alpha:
        return Verdict()

    stop = series.dates[fit.knot]
    evidence = (
        f"TOST equivalence test on the slope after the knot of a broken-line fit to "
        f"weekday-adjusted uplift per labeled prediction, model version {series.version!r}: "
        f"growth {fmt(fit.growth)}/day {series.dates[0]}..{stop} (one-sided p = "
        f"{p_growth:.2g}; a rise of {fit.rise / fit.sigma:.1f} residual sd), then "
        f"{fmt(fit.after)}/day over {n - 1 - fit.knot} mature days "
        f"{stop}..{series.dates[-1]} (SE {fmt(fit.se((0, 0, 1)))}, lag-1 autocorrelation "
        f"{fit.autocorrelation:.2f}) within ±{fmt(delta)}/day = {margin:g} × earlier growth; "
        f"TOST p = {p_tost:.2g} < {alpha:g}; growth stopped about {stop}"
    )
    return Verdict(
        Flag(
            flag="plateau",
            model_version=series.version,
            start_date=stop,
            evidence=evidence,
            method="broken_line_tost",
            statistic=fit.after,
            threshold=delta,
            p_value=p_tost,
            window_start=stop,
            window_end=series.dates[-1],
        )
    )
