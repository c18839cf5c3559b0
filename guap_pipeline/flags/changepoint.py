"""Change-point search: where does the mean of a series shift? (PELT from ``ruptures``).

Used to date a decline (where it began and how large it is) and scored on its own on the
TCPD benchmark (``benchmarks/tcpd_eval.py``).

Method: ``ruptures.Pelt`` minimising the within-segment sum of squares of the
standardized series plus ``penalty × log(n)`` per change point (``penalty = 3`` is
close to the modified BIC of Zhang & Siegmund; BIC would be 2). The decline detector
passes values already standardized by its reference noise (``scale=1``). Without a
known scale the series' own standard deviation is used: level shifts inflate it, so
only shifts that stand out from the whole series are returned — conservative on
purpose. On the TCPD benchmark (``benchmarks/tcpd_eval.py``) this scores like the
published default PELT, whereas the robust noise scale of first differences
(:func:`noise_scale`), which trends and autocorrelation make small, over-segments badly.
The cost is a cumulative-sum implementation of ruptures' ``l2`` cost: the same numbers
in O(1) per segment.
"""

from __future__ import annotations

import math

import numpy as np
import ruptures as rpt
from numpy.typing import ArrayLike, NDArray
from ruptures.base import BaseCost

from guap_pipeline.flags.exceptions import FlagSettingsError


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


def change_points(
    values: ArrayLike,
    *,
    penalty: float = 3.0,
    min_size: int = 7,
    scale: float | None = None,
) -> list[int]:
    """0-based indices where a new segment begins (0 and ``len(values)`` excluded).

    ``scale`` is the noise standard deviation (the series' standard deviation when
    ``None``; pass 1 for values already standardized). Series shorter than
    ``2 × min_size`` have no change point.

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
    if scale is None:
        scale = float(x.std()) or 1.0
    algo = rpt.Pelt(custom_cost=MeanShiftCost(), min_size=min_size, jump=1)
    breaks = algo.fit((x - np.median(x)) / scale).predict(pen=penalty * math.log(n))
    return [int(b) for b in breaks[:-1]]
