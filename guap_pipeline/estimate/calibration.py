"""Calibration: a monotone map from score to P(positive), by isotonic regression on the
labeled rows of a version's reference days, shrunk towards the base rate — used only
where it predicts held-out reference rows better than the raw scores do."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

MAX_BINS = 1000  # score bins of the calibration fit (quantiles of the reference scores)
PRIOR_WEIGHT = 1.0  # pseudo-rows at the base rate added to each isotonic block
CV_FOLDS = 5  # folds of the cross-validation that decides raw scores or the isotonic map
_EPS = 1e-6


@dataclass(frozen=True)
class Calibration:
    """A monotone map from score to P(positive), fitted on labeled rows."""

    knots: NDArray[np.float64]  # increasing scores (mean score of each bin)
    probs: NDArray[np.float64]  # calibrated probability at each knot
    prevalence: float  # (weighted) positive share of the rows it was fitted on

    def predict(self, scores: ArrayLike) -> NDArray[np.float64]:
        """P(positive) of each score (linear between knots, flat beyond the ends)."""
        return _interp(np.asarray(scores, dtype=np.float64), self.knots, self.probs)


def _interp(s: NDArray, knots: NDArray, probs: NDArray) -> NDArray[np.float64]:
    return np.clip(np.interp(s, knots, probs), _EPS, 1 - _EPS)


def _bin_index(scores: NDArray[np.float64], max_bins: int) -> tuple[NDArray[np.intp], int]:
    """Bin of each score: its distinct value, or its quantile bin when there are many."""
    distinct, index = np.unique(scores, return_inverse=True)
    if len(distinct) > max_bins:
        edges = np.unique(np.quantile(scores, np.linspace(0, 1, max_bins + 1)[1:-1]))
        index = np.searchsorted(edges, scores, side="right")
        index = np.unique(index, return_inverse=True)[1]  # drop empty bins
    return index.astype(np.intp), int(index.max()) + 1


def prior_rows(total_weight: float, rows: int) -> float:
    """The weight of :func:`shrunk_isotonic`'s shrinkage: ``PRIOR_WEIGHT`` rows of the
    average weight of ``rows`` rows weighing ``total_weight``."""
    return PRIOR_WEIGHT * total_weight / max(rows, 1)


def shrunk_isotonic(num: NDArray[np.float64], den: NDArray[np.float64], pseudo: float) -> NDArray:
    """Isotonic ``num / den`` per bin (weights ``den``), shrunk towards the overall ratio.

    ``pseudo`` is the weight of the shrinkage (:func:`prior_rows`). Bins with no weight (a
    bootstrap replicate can empty them) get their neighbours' value.
    """
    keep = den > 0
    if not keep.any():
        return np.full(len(den), 0.5)
    from scipy.optimize import isotonic_regression  # scipy.optimize: seconds, when needed

    base = num.sum() / den.sum()
    fit = isotonic_regression(num[keep] / den[keep], weights=den[keep])
    blocks = np.asarray(fit.blocks)
    block_num = np.add.reduceat(num[keep], blocks[:-1])
    block_den = np.add.reduceat(den[keep], blocks[:-1])
    shrunk = (block_num + pseudo * base) / (block_den + pseudo)
    # shrinking small blocks can break the order; restore it
    shrunk = np.asarray(isotonic_regression(shrunk, weights=block_den + pseudo).x)
    kept = np.repeat(shrunk, np.diff(blocks))
    if keep.all():
        return kept
    out = np.empty(len(den))
    out[keep] = kept
    out[~keep] = np.interp(np.flatnonzero(~keep), np.flatnonzero(keep), kept)
    return out


def fit_calibration(
    scores: ArrayLike,
    y_true: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    max_bins: int = MAX_BINS,
) -> Calibration:
    """Isotonic calibration of scores to P(y_true = 1) (``y_true`` is 0/1).

    With non-negative ``weights`` (e.g. ``amount``) it estimates
    E[y·w | score] / E[w | score] instead: the probability that makes
    ``p(score) × w`` an unbiased estimate of ``y × w``.

    >>> cal = fit_calibration([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
    >>> bool(cal.predict([0.15])[0] < 0.5 < cal.predict([0.85])[0])
    True
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.float64)
    w = np.ones(len(s)) if weights is None else np.asarray(weights, dtype=np.float64)
    if s.shape != y.shape or s.shape != w.shape or s.ndim != 1 or not len(s):
        raise ValueError("scores, y_true and weights must be 1-d arrays of the same length")
    if not np.isfinite(s).all() or ((s < 0) | (s > 1)).any():
        raise ValueError("scores must lie in [0, 1] with no missing values")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must be 0 or 1")
    if not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    index, n_bins = _bin_index(s, max_bins)
    den = np.bincount(index, weights=w, minlength=n_bins)
    num = np.bincount(index, weights=w * y, minlength=n_bins)
    knots = np.bincount(index, weights=s, minlength=n_bins) / np.bincount(index, minlength=n_bins)
    probs = shrunk_isotonic(num, den, prior_rows(den.sum(), len(s)))
    return Calibration(knots, probs, prevalence=float(num.sum() / den.sum()))


def cv_folds(n: int) -> NDArray[np.intp]:
    """Fold of each of ``n`` reference rows: one fixed shuffle, so that the point fit and
    every bootstrap replicate split the rows alike."""
    return (np.random.default_rng(0).permutation(n) % CV_FOLDS).astype(np.intp)


def isotonic_helps(
    scores: NDArray[np.float64],
    y_true: NDArray[np.float64],
    weights: NDArray[np.float64],
    index: NDArray[np.intp],
    n_bins: int,
    folds: NDArray[np.intp],
) -> bool:
    """Whether the isotonic map beats the raw scores as P(y | score) on held-out rows.

    Each fold's rows are predicted by the isotonic map fitted on the other folds (by
    ``index``'s bins) and by their own score; the (``weights``-weighted) Brier losses
    summed over the folds decide. Scores that are already calibrated are used raw: an
    isotonic fit would only add its own error, shared by every day it values (NannyML's
    CBPE decides the same way, by cross-validated calibration error).
    """
    k = int(folds.max()) + 1 if len(folds) else 1
    cells = folds * n_bins + index
    num = np.bincount(cells, weights=weights * y_true, minlength=k * n_bins).reshape(k, n_bins)
    den = np.bincount(cells, weights=weights, minlength=k * n_bins).reshape(k, n_bins)
    pseudo = prior_rows(den.sum(), len(weights))
    num_all, den_all = num.sum(axis=0), den.sum(axis=0)
    loss_iso = 0.0
    for f in range(k):
        p = shrunk_isotonic(num_all - num[f], den_all - den[f], pseudo)
        loss_iso += float(np.sum(num[f] - 2 * p * num[f] + p * p * den[f]))  # Σ w (y - p)², y² = y
    loss_raw = float(np.sum(weights * (y_true - scores) ** 2))
    return loss_iso < loss_raw
