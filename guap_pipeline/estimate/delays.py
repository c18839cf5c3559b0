"""Label delays: per true class, how long labels take and how many never arrive, so that
a row still unlabeled at a given age is weighed by which class is late."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

DELAY_BIN_DAYS = 1 / 24  # resolution of the label-delay distributions (one hour)
MIN_CLASS_ROWS = 10  # labeled positives and negatives a calibration needs at least


@dataclass(frozen=True)
class LabelDelays:
    """How long labels take per true class, and how many never arrive.

    ``counts[c, k]`` counts labeled reference rows of class ``c`` (0 negative,
    1 positive) whose label took between ``k`` and ``k + 1`` bins of ``bin_days``.
    """

    counts: NDArray[np.float64]
    n_never: float
    bin_days: float = DELAY_BIN_DAYS

    def at(self, ages: ArrayLike) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        """(u₀, u₁, e₀, e₁) at each age in days.

        ``u_c`` = P(still unlabeled at that age | class c); ``e_c`` = P(the label arrives
        some day | still unlabeled at that age, class c).
        """
        return _delay_terms(self.counts, self.n_never, self.bins(ages))

    def bins(self, ages: ArrayLike) -> NDArray[np.intp]:
        a = np.nan_to_num(np.asarray(ages, dtype=np.float64), nan=0.0)
        return np.clip(np.floor(a / self.bin_days), 0, self.counts.shape[1] - 1).astype(np.intp)


def _delay_terms(
    counts: NDArray[np.float64], n_never: float, bins: NDArray[np.intp]
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    total = counts.sum(axis=1)
    # P(delay > age | class): labels in the age's own bin count as arrived
    survival = 1.0 - np.cumsum(counts, axis=1)[:, bins] / np.maximum(total, 1.0)[:, None]
    survival = np.clip(survival, 0.0, 1.0)
    never = (n_never + 0.5) / (n_never + total.sum() + 1.0)  # never labeled; class-blind
    u = never + (1 - never) * survival
    e = (1 - never) * survival / u
    return u[0], u[1], e[0], e[1]


def fit_label_delays(
    delays_days: ArrayLike,
    y_true: ArrayLike,
    *,
    n_never: float = 0,
    bin_days: float = DELAY_BIN_DAYS,
) -> LabelDelays | None:
    """Label delays per class from labeled rows of mature days; ``None`` if unknown.

    ``delays_days`` is ``labeled_at − predicted_at`` in days (NaN where the label has no
    time), ``y_true`` 0/1, ``n_never`` the rows of those days that were never labeled.
    Needs at least ``MIN_CLASS_ROWS`` timed labels of each class.
    """
    d = np.asarray(delays_days, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.float64)
    timed = np.isfinite(d)
    if min(((y == 1) & timed).sum(), ((y == 0) & timed).sum()) < MIN_CLASS_ROWS:
        return None
    bins = np.floor(np.clip(d[timed], 0.0, None) / bin_days).astype(np.intp)
    n_bins = int(bins.max()) + 2  # one bin past the longest delay: survival 0 there
    cell = (y[timed] == 1).astype(np.intp) * n_bins + bins
    counts = np.bincount(cell, minlength=2 * n_bins).reshape(2, n_bins).astype(np.float64)
    return LabelDelays(counts=counts, n_never=float(n_never), bin_days=bin_days)
