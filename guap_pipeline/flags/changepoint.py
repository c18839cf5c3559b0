"""Change-point search: where does the mean of a series shift? (PELT from ``ruptures``).

Used to date a decline (where it began and how large it is) and scored on its own on the
TCPD benchmark (``benchmarks/tcpd_eval.py``).

Method: ``ruptures.Pelt`` minimising, over segmentations of the standardized series,
``Σ (within-segment sum of squares + log(segment length)) + penalty × log(n)`` per
change point. With ``penalty = 3`` this is the modified BIC (MBIC, after Zhang &
Siegmund 2007) exactly as the R ``changepoint`` package computes it for a change in
mean (``cpt.mean(penalty = "MBIC")``: ``3 log n`` per change and ``log`` of each
segment's length in the cost) — the setting of the TCPD paper's "default" PELT.

Noise scale. The decline detector passes values already standardized by its reference
noise (``scale=1``). Without a known scale, two passes: the first standardizes by the
series' own sd (level shifts inflate it, so only shifts that stand out from the whole
series are found); the second by the *long-run* sd of the residuals around the first
pass's segment means, ``sd × √((1+ρ)/(1−ρ))`` with ρ their lag-1 autocorrelation (the
unit the decline CUSUM works in): residuals that drift or cluster (a trend, autocorrelated
noise) widen it, clean steps narrow it. The robust scale of first differences
(:func:`noise_scale`), which trends and autocorrelation make small, over-segments badly.
The costs are cumulative-sum implementations of ruptures' ``l2`` cost (plus the
``log`` term): the same numbers in O(1) per segment.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import ruptures as rpt
from numpy.typing import ArrayLike, NDArray
from ruptures.base import BaseCost

from guap_pipeline.errors import FlagSettingsError
from guap_pipeline.flags.series import lag1_autocorrelation, long_run_factor
from guap_pipeline.flags.settings import FlagSettings

_DEFAULT = FlagSettings()  # the defaults live in settings.py only


class MeanShiftCost(BaseCost):
    """Sum of squared deviations from the segment mean (ruptures ``l2``), O(1) per call.

    Univariate; cumulative sums are kept as Python floats, which PELT's many small
    calls read faster than NumPy scalars.
    """

    model = "mean_shift"
    min_size = 1

    def fit(self, signal: NDArray[np.float64]) -> MeanShiftCost:
        x = np.asarray(signal, dtype=np.float64).reshape(-1)
        self.signal = x.reshape(-1, 1)
        self._sum = [0.0, *np.cumsum(x).tolist()]
        self._sq = [0.0, *np.cumsum(x * x).tolist()]
        return self

    def error(self, start: int, end: int) -> float:
        s = self._sum[end] - self._sum[start]
        return self._sq[end] - self._sq[start] - s * s / (end - start)


class MBICMeanCost(MeanShiftCost):
    """Sum of squares plus ``log(segment length)``: the R ``changepoint`` MBIC cost."""

    model = "mbic_mean"

    def error(self, start: int, end: int) -> float:
        return super().error(start, end) + math.log(end - start)


def noise_scale(values: ArrayLike) -> float:
    """Robust standard deviation of the noise: MAD of first differences / (0.6745 √2)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 3:
        return float(np.std(x)) or 1.0
    d = np.diff(x)
    mad = float(np.median(np.abs(d - np.median(d))))
    scale = mad / (0.6745 * math.sqrt(2))
    if scale <= 0:
        scale = float(np.std(d)) / math.sqrt(2)
    return scale if scale > 0 else 1.0


def long_run_residual_scale(values: ArrayLike, breaks: list[int]) -> float:
    """Long-run sd of the residuals around each segment's mean (0 if there are none)."""
    x = np.asarray(values, dtype=np.float64)
    bounds = [0, *breaks, len(x)]
    resid = np.concatenate([x[a:b] - x[a:b].mean() for a, b in itertools.pairwise(bounds)])
    dof = len(resid) - len(bounds) + 1
    if dof < 2:
        return 0.0
    sd = math.sqrt(float((resid**2).sum()) / dof)
    return sd * float(long_run_factor(lag1_autocorrelation(resid)))


def _pelt(x: NDArray[np.float64], *, penalty: float, min_size: int) -> list[int]:
    """PELT with the MBIC cost on values already in noise units."""
    algo = rpt.Pelt(custom_cost=MBICMeanCost(), min_size=min_size, jump=1)
    breaks = algo.fit(x).predict(pen=penalty * math.log(len(x)))
    return [int(b) for b in breaks[:-1]]


def change_points(
    values: ArrayLike,
    *,
    penalty: float = _DEFAULT.changepoint_penalty,
    min_size: int = _DEFAULT.changepoint_min_days,
    scale: float | None = None,
) -> list[int]:
    """0-based indices where a new segment begins (0 and ``len(values)`` excluded).

    ``scale`` is the noise standard deviation; pass 1 for values already standardized.
    When ``None`` it is estimated in two passes (see the module docstring). Series
    shorter than ``2 × min_size`` have no change point.

    >>> change_points([0.0] * 20 + [5.0] * 20, min_size=5, scale=1.0)
    [20]
    """
    if penalty <= 0:
        raise FlagSettingsError("changepoint_penalty", f"must be positive, got {penalty}")
    if min_size < 1:
        raise FlagSettingsError("changepoint_min_days", f"must be at least 1, got {min_size}")
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n < 2 * min_size:
        return []
    centered = x - np.median(x)
    if scale is not None:
        return _pelt(centered / scale, penalty=penalty, min_size=min_size)
    first = _pelt(centered / (float(x.std()) or 1.0), penalty=penalty, min_size=min_size)
    long_run = long_run_residual_scale(x, first)
    if long_run <= 0:
        return first
    return _pelt(centered / long_run, penalty=penalty, min_size=min_size)
