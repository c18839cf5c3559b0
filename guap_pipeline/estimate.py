"""Profit before the labels land: a calibrated estimate for immature days, with intervals.

A day whose labels are still arriving has a realized profit that only counts its labeled
rows. This module values the *unlabeled* rows from the model's scores and adds them to
the realized value, so that a decline shows before its labels arrive::

    estimated_profit = profit (labeled rows) + Σ_unlabeled E[value of the row once labeled]

How each unlabeled row is valued, per model version (binary problems only):

1. **Calibration.** Scores are mapped to outcome probabilities by isotonic regression
   (``scipy.optimize.isotonic_regression``) on the labeled rows of that version's most
   recent *reference* days (mature, label window passed), refreshed as days mature.
   Blocks are shrunk by one pseudo-row towards the base rate, so no probability is
   exactly 0 or 1. With example-dependent values (``fn: -amount``) a second isotonic
   fit weights each row by the column (``amount``): it estimates E[y·amount | score],
   which P(y | score) × amount gets wrong when large amounts are more often positive.
2. **Late labels are not missing at random.** Fraud is confirmed by chargebacks weeks
   after a legitimate case is known to be fine, so a young day's unlabeled rows are
   enriched in positives. From the reference days the module learns, per true class,
   how long labels take (``labeled_at − predicted_at``) and how many never arrive; a row
   still unlabeled at age *a* has posterior odds ``odds(p) × u₁(a) / u₀(a)``, where
   ``u_c(a)`` is the chance that a class-*c* label is still missing at that age. The
   estimate targets what the day will *realize* once its labels are in, so each row is
   also weighted by the chance that its label arrives at all. Ages count up to the
   latest label seen: a label feed that stalled has said nothing since.
3. **Fresh labels.** The labels that have already landed on the days inside the label
   window are the newest evidence of how scores relate to outcomes. A logistic
   recalibration ``logit p' = α + β·logit p`` is fitted to them by maximum likelihood,
   correcting for which labels are still missing (step 2), and used when a
   likelihood-ratio test says it differs from the reference (a model that degrades or
   improves, a change of prevalence). The reference calibration is a sample as well, so
   the statistic is deflated by ``1 + n_window / n_reference`` (labeled rows).
4. **Prior shift, day by day.** A day's class balance can move before any of its labels
   arrive. Its prevalence is re-estimated from its own scores and labels so far by
   maximum likelihood (the fixed point of Saerens et al.'s EM, solved by safeguarded
   Newton steps) and used when a likelihood-ratio test rejects "same prevalence" — and
   only when a change of class balance explains the day's scores: a goodness-of-fit
   test (:func:`class_balance_fit`) compares the day's score histogram with the
   reference classes' histograms mixed at the fitted prevalence, and the window's days
   pooled with them mixed at the window's (days that are each a mixture pool into
   one). Traffic that moved otherwise (covariate shift: other customers, the same
   P(y | score)) leaves the calibration right as it is, and "adapting" it would add a
   bias; a drift too slight to show in one day's scores shows in the window's.
5. **Interval.** A Monte Carlo of ``n_replicates`` draws: each refits steps 1-4 on a
   (Bayesian) bootstrap of the reference rows and of the window's rows (the calibration's
   own error, the prevalence estimate's error), then draws every unlabeled row's
   outcome (the Bernoulli noise, exact for example-dependent values and skewed sums).
   The interval is the central ``level`` range of the draws. On days of many unlabeled
   rows the draws simulate a sample of them (``MAX_SIMULATED_ROWS``), each standing for
   the rows it replaces (bootstrap weight Gamma(e) / e, outcome deviation × √e): the
   estimate itself still values every row; only the spread around it is sampled.

Steps 3 and 4 follow ``adapt="auto"``; ``"always"`` and ``"never"`` force them.

What the estimate cannot see: a change in how scores relate to outcomes that no label has
shown yet (a new fraud pattern the model misses, on the newest days). See the README.

Everything except :func:`estimate_days` is pure: arrays and frames in, arrays out.
"""

from __future__ import annotations

import datetime as dt
import functools
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import isotonic_regression
from scipy.special import expit, logit
from scipy.stats import chi2

from guap_pipeline.config import GuapConfig
from guap_pipeline.storage import Store
from guap_pipeline.validation import class_codes

LEVEL = 0.9  # two-sided coverage of estimated_profit_low / _high
REFERENCE_DAYS = 28  # most recent mature days of a version that calibrate its scores
N_REPLICATES = 300  # Monte Carlo draws behind each interval
STREAMS = 2  # the draws run in this many threads, each with its own random stream
MIN_CLASS_ROWS = 10  # labeled positives and negatives a calibration needs at least
MAX_BINS = 1000  # score bins of the calibration fit (quantiles of the reference scores)
# Labeled rows an estimate learns from, at most: beyond this a seeded uniform sample (the
# window's labeled rows weighted up to stand for all). 300k rows put ~300 in each score
# bin: more only slows every bootstrap replicate and leaves the interval as wide.
MAX_LEARNING_ROWS = 300_000
# Unlabeled rows valued one by one, at most; beyond this a seeded uniform sample of each
# day's, weighted up (each sampled row's draw stands for its weight: the interval widens
# to cover the sampling too). Bounds time and memory on days of millions of rows.
MAX_UNLABELED_ROWS = 1_000_000
# Unlabeled rows whose outcomes each Monte Carlo replicate draws, at most: beyond this a
# seeded sample per day, weighted up. The estimate itself values every row read; only the
# spread around it is simulated on the sample (its cost is per row and replicate).
MAX_SIMULATED_ROWS = 200_000
WEIGHT = "_weight"  # column of estimate_frame's input: rows a sampled row stands for
PRIOR_WEIGHT = 1.0  # pseudo-rows at the base rate added to each isotonic block
DELAY_BIN_DAYS = 1 / 24  # resolution of the label-delay distributions (one hour)
TEST_LEVEL = 0.01  # adapt="auto": adapt when the likelihood-ratio test rejects at this level
RIDGE = 1.0  # penalty keeping the recalibration near the identity when labels are few
BALANCE_BINS = 10  # score bins (reference quantiles) of the class-balance fit test
MIN_EXPECTED = 5.0  # rows expected in every bin, at least, for that test to speak
_EPS = 1e-6
_CHI2 = {df: float(chi2.ppf(1 - TEST_LEVEL, df)) for df in (1, 2)}  # LR test thresholds

Adapt = Literal["auto", "always", "never"]
ESTIMATE_COLUMNS: tuple[str, ...] = (
    "estimated_profit",
    "estimated_profit_low",
    "estimated_profit_high",
    "estimate_kind",
    "estimate_note",
)
# estimate_kind: "realized" (nothing left to estimate, or the label window has passed:
# the figure is the realized profit), "estimated" (realized + estimated), "none".
ESTIMATED_PROFIT = ESTIMATE_COLUMNS[:3]  # the ones in the public daily summary table


# --------------------------------------------------------------------------- calibration


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


def _isotonic(num: NDArray[np.float64], den: NDArray[np.float64], pseudo: float) -> NDArray:
    """Isotonic ``num / den`` per bin (weights ``den``), shrunk towards the overall ratio.

    ``pseudo`` is the weight of the shrinkage (one average row). Bins with no weight (a
    bootstrap replicate can empty them) get their neighbours' value.
    """
    keep = den > 0
    if not keep.any():
        return np.full(len(den), 0.5)
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
    probs = _isotonic(num, den, PRIOR_WEIGHT * den.sum() / len(s))
    return Calibration(knots, probs, prevalence=float(num.sum() / den.sum()))


# -------------------------------------------------------------------------- label delays


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


# ----------------------------------------------------------------------------- prior shift


@dataclass(frozen=True)
class PriorFit:
    """Each group's prevalence by maximum likelihood, and the unlabeled rows' posteriors."""

    prevalence: NDArray[np.float64]  # per group
    posterior: NDArray[np.float64]  # P(positive | score, still unlabeled) per unlabeled row
    lr_statistic: NDArray[np.float64]  # 2 × log-likelihood ratio against the reference prior


def adapt_prior(
    probs: ArrayLike,
    reference_prior: float,
    *,
    groups: ArrayLike | None = None,
    n_groups: int | None = None,
    labeled_positive: ArrayLike | None = None,
    labeled_negative: ArrayLike | None = None,
    still_unlabeled: tuple[ArrayLike, ArrayLike] | None = None,
    weights: ArrayLike | None = None,
    max_iter: int = 60,
    start: ArrayLike | None = None,
) -> PriorFit:
    """Adapt calibrated probabilities to each group's own class balance (prior shift).

    ``probs`` are the calibrated P(positive | score) of the group's *unlabeled* rows,
    valid at ``reference_prior``. The class-conditional score densities are assumed
    unchanged (Saerens, Latinne & Decaestecker, 2002); the group's prevalence π
    maximises the likelihood of its unlabeled scores plus its ``labeled_positive`` /
    ``labeled_negative`` counts. ``still_unlabeled`` = (u₀, u₁) per unlabeled row
    corrects for labels that arrive later for one class (see :class:`LabelDelays`).
    ``weights`` counts each unlabeled row that many times (a bootstrap). ``start``: a
    prevalence per group to start from (a bootstrap replicate starts at the full fit).

    >>> fit = adapt_prior([0.9] * 40 + [0.1] * 60, 0.5)  # fewer high scores than at 50 %
    >>> round(float(fit.prevalence[0]), 3)
    0.375
    """
    p = np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1 - _EPS)
    g = np.zeros(len(p), dtype=np.intp) if groups is None else np.asarray(groups, dtype=np.intp)
    k = int(n_groups if n_groups is not None else (g.max() + 1 if len(g) else 1))
    k1 = np.zeros(k) if labeled_positive is None else np.asarray(labeled_positive, float)
    k0 = np.zeros(k) if labeled_negative is None else np.asarray(labeled_negative, float)
    u0, u1 = (np.ones(len(p)), np.ones(len(p))) if still_unlabeled is None else still_unlabeled
    w = np.ones(len(p)) if weights is None else np.asarray(weights, dtype=np.float64)
    prior = float(np.clip(reference_prior, _EPS, 1 - _EPS))
    # likelihood of an unlabeled row at prevalence x: x·a + (1 − x)·b
    a = p * np.asarray(u1, float) / prior
    b = (1 - p) * np.asarray(u0, float) / (1 - prior)
    diff = a - b
    # start from one EM step (Saerens' update), then safeguarded Newton
    post0 = np.divide(prior * a, prior * a + (1 - prior) * b, out=np.full_like(a, prior))
    total = k1 + k0 + np.bincount(g, weights=w, minlength=k)
    x = np.divide(
        k1 + np.bincount(g, weights=w * post0, minlength=k),
        total,
        out=np.full(k, prior),
        where=total > 0,
    )
    if start is not None:
        x = np.asarray(start, dtype=np.float64).copy()
    x = np.clip(x, 1e-4, 1 - 1e-4)
    lo, hi = np.full(k, _EPS), np.full(k, 1 - _EPS)
    for _ in range(max_iter):
        den = x[g] * a + (1 - x[g]) * b
        ratio = np.divide(diff, den, out=np.zeros_like(diff), where=den > 0)
        d1 = k1 / x - k0 / (1 - x) + np.bincount(g, weights=w * ratio, minlength=k)
        d2 = -k1 / x**2 - k0 / (1 - x) ** 2 - np.bincount(g, weights=w * ratio**2, minlength=k)
        lo = np.where(d1 > 0, x, lo)  # concave: the maximum lies where d1 changes sign
        hi = np.where(d1 > 0, hi, x)
        step = np.where(d2 < 0, -d1 / np.where(d2 < 0, d2, -1.0), 0.0)
        new = x + step
        outside = (new <= lo) | (new >= hi) | (d2 >= 0)
        new = np.where(outside, (lo + hi) / 2, new)
        done = (np.abs(new - x) < 1e-7) | (hi - lo < 1e-7) | (np.abs(d1) < 1e-5 * (1 + total))
        x = new
        if done.all():
            break
    den = x[g] * a + (1 - x[g]) * b
    posterior = np.divide(x[g] * a, den, out=np.full_like(a, prior), where=den > 0)
    ref_den = prior * a + (1 - prior) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.bincount(g, weights=w * (np.log(den) - np.log(ref_den)), minlength=k)
        gain += k1 * np.log(x / prior) + k0 * np.log((1 - x) / (1 - prior))
    return PriorFit(x, posterior, 2 * np.nan_to_num(gain, nan=0.0, posinf=0.0))


def class_balance_fit(
    reference_scores: ArrayLike,
    reference_positive: ArrayLike,
    scores: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    n_groups: int | None = None,
    weights: ArrayLike | None = None,
    n_bins: int = BALANCE_BINS,
) -> NDArray[np.float64]:
    """Per group, the p-value that its scores are the reference classes' scores mixed in
    some other proportion (what :func:`adapt_prior` assumes).

    Pearson's test on ``n_bins`` quantile bins of the reference scores: observed shares
    against ``x·h₁ + (1 − x)·h₀`` (``h_c`` the reference histogram of class ``c``, ``x``
    the group's prevalence fitted on the bins), ``n_bins − 2`` degrees of freedom, the
    statistic deflated for the reference's own sampling noise. ``weights``: rows each row
    stands for (the effective count enters the test). 1 where a bin would expect fewer
    than ``MIN_EXPECTED`` rows: too little to tell.
    """
    ref_s = np.asarray(reference_scores, dtype=np.float64)
    ref_y = np.asarray(reference_positive, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    g = np.zeros(len(s), dtype=np.intp) if groups is None else np.asarray(groups, dtype=np.intp)
    k = int(n_groups if n_groups is not None else (g.max() + 1 if len(g) else 1))
    w = np.ones(len(s)) if weights is None else np.asarray(weights, dtype=np.float64)
    edges = np.unique(np.quantile(ref_s, np.linspace(0, 1, n_bins + 1)[1:-1]))
    n_b = len(edges) + 1
    ref_bin = np.searchsorted(edges, ref_s, side="right")
    c1 = np.bincount(ref_bin, weights=ref_y, minlength=n_b)
    c0 = np.bincount(ref_bin, minlength=n_b) - c1
    if n_b < 3 or not (c1.sum() > 0 and c0.sum() > 0) or not len(s):
        return np.ones(k)
    prior = float(c1.sum() / (c1.sum() + c0.sum()))
    share = np.divide(c1, c1 + c0, out=np.full(n_b, prior), where=c1 + c0 > 0)
    day_bin = np.searchsorted(edges, s, side="right")
    x = adapt_prior(share[day_bin], prior, groups=g, n_groups=k, weights=w).prevalence
    expected = x[:, None] * (c1 / c1.sum()) + (1 - x[:, None]) * (c0 / c0.sum())
    total = np.bincount(g, weights=w, minlength=k)
    n_eff = np.divide(total**2, np.bincount(g, weights=w**2, minlength=k), out=np.zeros(k))
    observed = np.bincount(g * n_b + day_bin, weights=w, minlength=k * n_b).reshape(k, n_b)
    observed /= np.maximum(total, 1e-300)[:, None]
    gap = np.divide((observed - expected) ** 2, expected, out=np.zeros_like(expected))
    statistic = n_eff * gap.sum(axis=1) / (1 + n_eff / len(ref_s))
    enough = n_eff * expected.min(axis=1) >= MIN_EXPECTED
    return np.where(enough, chi2.sf(statistic, n_b - 2), 1.0)


# --------------------------------------------------------------------------- recalibration


@dataclass(frozen=True)
class Recalibration:
    """``logit p' = alpha + beta·logit p``, fitted on fresh labels; LR test vs identity."""

    alpha: float = 0.0
    beta: float = 1.0
    lr_statistic: float = 0.0

    def apply(self, probs: ArrayLike) -> NDArray[np.float64]:
        p = np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1 - _EPS)
        return np.clip(expit(self.alpha + self.beta * logit(p)), _EPS, 1 - _EPS)


def _curvature(c: NDArray, el: NDArray, ridge: float) -> NDArray:
    """Minus the Hessian of the penalized log-likelihood in (α, β)."""
    cross = float((c * el).sum())
    return np.array([[c.sum() + ridge, cross], [cross, float((c * el * el).sum()) + ridge]])


def recalibrate(
    probs: ArrayLike,
    labeled: ArrayLike,
    positive: ArrayLike,
    *,
    still_unlabeled: tuple[ArrayLike, ArrayLike] | None = None,
    weights: ArrayLike | None = None,
    start: Recalibration | None = None,
    ridge: float = RIDGE,
    max_iter: int = 50,
    tol: float = 1e-5,
) -> Recalibration:
    """Fit ``logit p' = α + β·logit p`` to the labels landed so far, by maximum likelihood.

    ``probs``: calibrated probabilities of every row of the recent days; ``labeled``:
    whether its label has arrived; ``positive``: 1/0 on labeled rows. A labeled row
    contributes log P(y | p'), an unlabeled one log(u₀ + p'·(u₁ − u₀)) — the chance
    it is still unlabeled at its age (``still_unlabeled`` = (u₀, u₁), see
    :class:`LabelDelays`), so labels that arrive later for one class do not bias the fit.
    Solved by Fisher-scoring steps with step halving; ``ridge`` pulls towards the identity.
    """
    p = np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1 - _EPS)
    lab = np.asarray(labeled, dtype=bool)
    y = np.nan_to_num(np.asarray(positive, dtype=np.float64))
    w = np.ones(len(p)) if weights is None else np.asarray(weights, dtype=np.float64)
    if still_unlabeled is None:
        u0 = u1 = np.ones(len(p))
    else:
        u0, u1 = (np.asarray(u, dtype=np.float64) for u in still_unlabeled)
    # unlabeled rows whose status says nothing about their class drop out
    use = lab | (np.abs(u1 - u0) > 1e-12)
    if not use.any():
        return Recalibration()
    el, lab, y, w, u0 = logit(p[use]), lab[use], y[use], w[use], u0[use]
    gap = u1[use] - u0
    sign = np.where(lab, 2 * y - 1, 0.0)  # labeled: P(y | η) = σ(sign·η)

    def penalized(t: NDArray) -> tuple[float, float]:
        eta = t[0] + t[1] * el
        s = expit(eta)
        ll_lab = -np.logaddexp(0.0, -sign * eta)
        ll_unl = np.log(np.maximum(u0 + s * gap, 1e-300))
        ll = float(np.sum(w * np.where(lab, ll_lab, ll_unl)))
        return ll - ridge / 2 * (t[0] ** 2 + (t[1] - 1) ** 2), ll

    theta = np.array([0.0, 1.0]) if start is None else np.array([start.alpha, start.beta])
    current = penalized(theta)[0]
    for _ in range(max_iter):
        s = expit(theta[0] + theta[1] * el)
        v = s * (1 - s)
        m = np.maximum(u0 + s * gap, 1e-300)
        g_unl = v * gap / m
        grad_eta = np.where(lab, y - s, g_unl)
        r = w * grad_eta
        grad = np.array([r.sum() - ridge * theta[0], (r * el).sum() - ridge * (theta[1] - 1)])
        # the exact curvature when it is negative definite, else the outer product for
        # the unlabeled rows (always is)
        exact = w * np.where(lab, v, g_unl**2 - v * (1 - 2 * s) * gap / m)
        hess = _curvature(exact, el, ridge)
        if np.linalg.eigvalsh(hess).min() <= 0:
            hess = _curvature(w * np.where(lab, v, g_unl**2), el, ridge)
        step = np.linalg.solve(hess, grad)
        for _ in range(30):  # halve until the penalized likelihood does not fall
            candidate = penalized(theta + step)[0]
            if candidate >= current - 1e-9:
                break
            step = step / 2
        theta, current = theta + step, max(candidate, current)
        if np.abs(step).max() < tol:
            break
    lr = 2 * (penalized(theta)[1] - penalized(np.array([0.0, 1.0]))[1])
    return Recalibration(float(theta[0]), float(theta[1]), max(lr, 0.0))


# ------------------------------------------------------------------------------ the engine


@dataclass(frozen=True)
class ReferenceRows:
    """Labeled rows of one model version's reference days: what the estimate learns from."""

    score: NDArray[np.float64]
    positive: NDArray[np.float64]  # 1 = positive class, 0 = other
    delay_days: NDArray[np.float64]  # labeled_at − predicted_at; NaN where unknown
    n_never: int = 0  # rows of those days never labeled
    columns: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)  # value columns

    @property
    def n_positive(self) -> int:
        return int(self.positive.sum())

    @property
    def n_negative(self) -> int:
        return len(self.positive) - self.n_positive


@dataclass(frozen=True)
class DayRows:
    """Every row of the recent days (one model version), ``group`` = day index.

    ``value_pos`` / ``value_neg``: the row's value under its decision if it turns out
    positive / negative. ``stakes[column]``: the part of ``value_pos − value_neg`` that
    the data column carries (rate difference × the row's value), for the value-weighted
    calibration.
    """

    group: NDArray[np.intp]
    labeled: NDArray[np.bool_]
    positive: NDArray[np.float64]  # 1/0 on labeled rows; ignored elsewhere
    score: NDArray[np.float64]
    age_days: NDArray[np.float64]  # time since prediction at the censoring instant
    value_pos: NDArray[np.float64]
    value_neg: NDArray[np.float64]
    n_groups: int
    stakes: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)
    weight: NDArray[np.float64] | None = None  # rows each row stands for (None: 1 each)


def estimate_unlabeled(
    reference: ReferenceRows,
    rows: DayRows,
    *,
    level: float = LEVEL,
    n_replicates: int = N_REPLICATES,
    adapt: Adapt = "auto",
    seed: int = 0,
) -> pd.DataFrame:
    """Expected value, once labeled, of each group's unlabeled rows, with an interval.

    Returns one row per group: ``expected``, ``low``, ``high`` (the value of the
    unlabeled rows only), ``n_unlabeled``, ``reference_prevalence``, ``prevalence`` (the
    group's estimated share of positives, labeled and not), ``recalibrated``,
    ``prior_adapted``, ``covariate_shift`` (its scores moved in a way a change of class
    balance does not explain, so the prevalence is not adapted) and ``delays_known``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    if adapt not in ("auto", "always", "never"):
        raise ValueError(f"adapt must be 'auto', 'always' or 'never', got {adapt!r}")
    engine = _Engine(reference, rows, adapt)
    first = engine.replicate(None, None, engine.n_never)
    expected = _group_totals(engine, first.mean)
    # the spread around ``expected`` is simulated on at most MAX_SIMULATED_ROWS rows
    sim_rows, expand = _thin_unlabeled(rows, MAX_SIMULATED_ROWS, np.random.default_rng([seed, 1]))
    sim, sim_first, offset = engine, first, np.zeros(rows.n_groups)
    if expand is not None:
        sim = _Engine(reference, sim_rows, adapt)
        sim_first = sim.replicate(None, None, sim.n_never)
        offset = expected - _group_totals(sim, sim_first.mean)

    streams = np.random.SeedSequence(seed).spawn(STREAMS)  # fixed: same draws anywhere
    shares = np.diff(np.linspace(0, n_replicates, STREAMS + 1).astype(int))

    def draw(stream: int) -> NDArray[np.float64]:
        rng = np.random.default_rng(streams[stream])
        return np.array(
            [_replicate_total(sim, sim_first, expand, rng) for _ in range(shares[stream])]
        ).reshape(-1, rows.n_groups)

    with ThreadPoolExecutor(STREAMS) as pool:  # numpy works outside the GIL: both cores
        draws = np.vstack(list(pool.map(draw, range(STREAMS)))) + offset
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail], axis=0) if n_replicates else (expected,) * 2
    return pd.DataFrame(
        {
            "expected": expected,
            "low": np.minimum(low, expected),
            "high": np.maximum(high, expected),
            "n_unlabeled": np.rint(_group_totals(engine, 1.0)).astype(int),
            "reference_prevalence": first.prior,
            "prevalence": first.day_prevalence,
            "recalibrated": first.recalibration != Recalibration(),
            "prior_adapted": first.adapted,
            "covariate_shift": ~engine.balance_explains,
            "delays_known": engine.delays is not None,
        }
    )


def _group_totals(engine: _Engine, values: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Each group's sum of ``values`` over its unlabeled rows, each counted for the rows
    it stands for."""
    weights = values * engine.base[engine.unl]
    return np.bincount(engine.g_unl, weights=weights, minlength=engine.rows.n_groups)


def _replicate_total(
    engine: _Engine,
    first: _Replicate,
    expand: NDArray[np.float64] | None,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """One Monte Carlo draw of each group's unlabeled value: refit on bootstrap weights
    (the calibration's error), then draw every unlabeled row's outcome. ``expand``: how
    many unlabeled rows of the read each simulated row stands for (see _thin_unlabeled);
    None when every row read is simulated."""
    rows = engine.rows
    rep = engine.replicate(
        rng.standard_exponential(len(engine.ref.score)),  # Bayesian bootstrap weights
        _row_weights(engine, expand, rng),
        float(rng.poisson(engine.n_never)),
        start=first.recalibration,
        prior_start=first.prior_fit,
    )
    u = rng.random(len(rep.q1))
    v1, v0 = engine.v1, engine.v0
    outcome = np.where(u < rep.q1, v1, np.where(u < rep.q1 + rep.q0, v0, 0.0))
    # a row sampled when read stands for w rows: their expected values vary as the
    # sample's do (a bootstrap of it, its spread scaled to the read sample's size) and
    # their outcomes are w draws (deviation × √w)
    w_unl = engine.base[engine.unl]
    read_weight = w_unl if expand is None else w_unl / expand
    boot = _sample_bootstrap(engine.g_unl, read_weight > 1, rows.n_groups, rng)
    if expand is not None:
        boot = 1 + (boot - 1) / np.sqrt(expand)
    total = w_unl * boot * rep.mean + np.sqrt(w_unl) * (outcome - rep.mean)
    return np.bincount(engine.g_unl, weights=total, minlength=rows.n_groups)


def _row_weights(
    engine: _Engine, expand: NDArray[np.float64] | None, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Bayesian bootstrap weights of the window's rows. A row simulated for ``e`` rows
    gets what those ``e`` rows' weights would average, Gamma(e) / e, so the fits on the
    sample vary as much as on every row — not ``e`` times more."""
    n = len(engine.rows.score)
    if expand is None:
        return rng.standard_exponential(n)
    shape = np.ones(n)
    shape[engine.unl] = expand
    return rng.standard_gamma(shape) / shape


def _sample_bootstrap(
    groups: NDArray[np.intp], sampled: NDArray[np.bool_], n_groups: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Bayesian bootstrap weights of the sampled rows, each group's summing to its count
    (how many rows a day has is known); 1 for rows that were not sampled."""
    boot = np.ones(len(groups))
    if not sampled.any():
        return boot
    draw = rng.standard_exponential(int(sampled.sum()))
    g = groups[sampled]
    count = np.bincount(g, minlength=n_groups)
    total = np.bincount(g, weights=draw, minlength=n_groups)
    boot[sampled] = draw * count[g] / total[g]
    return boot


@dataclass(frozen=True)
class _Replicate:
    q1: NDArray[np.float64]  # P(positive and labeled some day) per unlabeled row
    q0: NDArray[np.float64]  # P(negative and labeled some day)
    mean: NDArray[np.float64]  # expected value once labeled, per unlabeled row
    prior: float
    recalibration: Recalibration
    adapted: NDArray[np.bool_]
    day_prevalence: NDArray[np.float64]
    prior_fit: NDArray[np.float64] | None = None  # the prevalence fitted per group


class _Lerp:
    """``np.interp(scores, knots, values)`` for many ``values`` on the same scores."""

    def __init__(self, knots: NDArray[np.float64], scores: NDArray[np.float64]) -> None:
        if len(knots) < 2:
            self.j = np.zeros(len(scores), dtype=np.intp)
            self.t = np.zeros(len(scores))
            self.single = True
            return
        self.single = False
        j = np.clip(np.searchsorted(knots, scores, side="right") - 1, 0, len(knots) - 2)
        gap = knots[j + 1] - knots[j]
        self.j = j
        self.t = np.clip(
            np.divide(scores - knots[j], gap, out=np.zeros(len(j)), where=gap > 0), 0, 1
        )

    def __call__(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.single:
            return np.clip(np.full(len(self.j), values[0]), _EPS, 1 - _EPS)
        low = values[self.j]
        return np.clip(low + self.t * (values[self.j + 1] - low), _EPS, 1 - _EPS)


class _Engine:
    """Steps 1-4 of the module docstring for one set of bootstrap weights."""

    def __init__(self, reference: ReferenceRows, rows: DayRows, adapt: Adapt) -> None:
        self.ref, self.rows, self.adapt = reference, rows, adapt
        self.index, n_bins = _bin_index(reference.score, MAX_BINS)
        self.n_bins = n_bins
        self.knots = np.bincount(self.index, weights=reference.score, minlength=n_bins) / (
            np.bincount(self.index, minlength=n_bins)
        )
        self.unl = ~rows.labeled
        self.lerp = _Lerp(self.knots, rows.score[self.unl])  # per replicate: unlabeled rows
        self.lerp_lab = _Lerp(self.knots, rows.score[rows.labeled])  # only when recalibrated
        # the recalibration sees labeled rows as (nearest knot, class) cells: same fit,
        # a fraction of the rows
        nearest = np.minimum(self.lerp_lab.j + (self.lerp_lab.t >= 0.5), n_bins - 1)
        self.cell = nearest * 2 + (rows.positive[rows.labeled] == 1)
        self.cell_knot = np.arange(2 * n_bins) // 2
        self.cell_y = (np.arange(2 * n_bins) % 2).astype(np.float64)
        self.g_unl = rows.group[self.unl]
        self.v1, self.v0 = rows.value_pos[self.unl], rows.value_neg[self.unl]
        stake = self.v1 - self.v0
        self.stake = stake
        self.weighted = {
            c: x[self.unl]
            for c, x in rows.stakes.items()
            if c in reference.columns
            and np.isfinite(reference.columns[c]).all()
            and (reference.columns[c] >= 0).all()
            and reference.columns[c].sum() > 0
        }
        self.const = stake - sum(self.weighted.values(), np.zeros(len(stake)))
        self.delays = fit_label_delays(
            reference.delay_days, reference.positive, n_never=reference.n_never
        )
        self.n_never = float(reference.n_never)
        if self.delays is not None:
            timed = np.isfinite(reference.delay_days)
            self.timed = timed
            nb = self.delays.counts.shape[1]
            dbins = self.delays.bins(reference.delay_days[timed])
            self.delay_cell = (reference.positive[timed] == 1).astype(np.intp) * nb + dbins
            self.row_bins = self.delays.bins(rows.age_days[self.unl])
        lab = rows.labeled
        self.base = np.ones(len(rows.score)) if rows.weight is None else rows.weight
        self.g_lab, self.y_lab = rows.group[lab], rows.positive[lab]
        self.y_lab_w = self.y_lab * self.base[lab]
        self.n_per_group = np.bincount(rows.group, weights=self.base, minlength=rows.n_groups)
        # step 4's premise: a new class balance explains the day's scores, and the window's
        # days together (still a mixture of the classes if each day is one; a covariate
        # shift too slight to show in one day shows in all of them). Fixed for every
        # replicate: a test of the data, not of the bootstrap's.
        balance = functools.partial(class_balance_fit, reference.score, reference.positive)
        by_day = balance(rows.score, groups=rows.group, n_groups=rows.n_groups, weights=self.base)
        self.balance_explains = (by_day >= TEST_LEVEL) & (
            balance(rows.score, weights=self.base)[0] >= TEST_LEVEL
        )

    def replicate(
        self,
        w_ref: NDArray | None,
        w_rows: NDArray | None,
        n_never: float,
        start: Recalibration | None = None,
        prior_start: NDArray[np.float64] | None = None,
    ) -> _Replicate:
        ref, rows, k = self.ref, self.rows, self.rows.n_groups
        wr = np.ones(len(ref.score)) if w_ref is None else w_ref
        ww = self.base if w_rows is None else w_rows * self.base
        # 1. calibration (and the value-weighted ones)
        den = np.bincount(self.index, weights=wr, minlength=self.n_bins)
        num = np.bincount(self.index, weights=wr * ref.positive, minlength=self.n_bins)
        probs = _isotonic(num, den, PRIOR_WEIGHT * den.sum() / max(len(wr), 1))
        prior = float(num.sum() / den.sum())
        p_unl = self.lerp(probs)
        numer = self.const * p_unl
        for column, stake in self.weighted.items():
            x = wr * ref.columns[column]
            dc = np.bincount(self.index, weights=x, minlength=self.n_bins)
            nc = np.bincount(self.index, weights=x * ref.positive, minlength=self.n_bins)
            pc = _isotonic(nc, dc, PRIOR_WEIGHT * dc.sum() / max(len(wr), 1))
            numer = numer + stake * self.lerp(pc)
        nonzero = np.abs(self.stake) > 1e-12
        p_eff = np.where(nonzero, numer / np.where(nonzero, self.stake, 1.0), p_unl)
        p_eff = np.clip(p_eff, _EPS, 1 - _EPS)
        # 2. label delays (of the unlabeled rows)
        if self.delays is not None:
            nb = self.delays.counts.shape[1]
            counts = np.bincount(self.delay_cell, weights=wr[self.timed], minlength=2 * nb)
            u0, u1, e0, e1 = _delay_terms(counts.reshape(2, nb), n_never, self.row_bins)
        else:
            u0 = u1 = e0 = e1 = np.ones(len(p_unl))
        ww_lab, ww_unl = ww[rows.labeled], ww[self.unl]
        # 3. recalibration on the labels landed so far
        recal = Recalibration()
        if self.delays is not None and self.adapt != "never":
            moving = np.abs(u1 - u0) > 1e-12  # still unlabeled says something of the class
            n_moving = int(moving.sum())
            counts = np.bincount(self.cell, weights=ww_lab, minlength=2 * self.n_bins)
            fit = recalibrate(
                np.r_[np.clip(probs, _EPS, 1 - _EPS)[self.cell_knot], p_unl[moving]],
                np.r_[np.ones(len(counts), dtype=bool), np.zeros(n_moving, dtype=bool)],
                np.r_[self.cell_y, np.zeros(n_moving)],
                still_unlabeled=(
                    np.r_[np.ones(len(counts)), u0[moving]],
                    np.r_[np.ones(len(counts)), u1[moving]],
                ),
                weights=np.r_[counts, ww_unl[moving]],
                start=start,
            )
            # the reference calibration is a sample too: deflate the test by its noise
            statistic = fit.lr_statistic / (1 + ww_lab.sum() / max(wr.sum(), 1.0))
            if self.adapt == "always" or statistic > _CHI2[2]:
                recal = fit
        window_prior = prior
        if recal != Recalibration():
            p_unl, p_eff = recal.apply(p_unl), recal.apply(p_eff)
            p_lab = recal.apply(self.lerp_lab(probs))
            window_prior = float(
                (np.sum(ww_lab * p_lab) + np.sum(ww_unl * p_unl)) / max(ww.sum(), 1e-12)
            )
        # 4. each day's prevalence
        k1 = np.bincount(self.g_lab, weights=ww_lab * self.y_lab, minlength=k)
        k0 = np.bincount(self.g_lab, weights=ww_lab, minlength=k) - k1
        shift = np.zeros(k)
        adapted = np.zeros(k, dtype=bool)
        fit_prior = None
        if self.adapt != "never" and len(p_unl):
            fit_prior = adapt_prior(
                p_unl,
                window_prior,
                start=prior_start,
                groups=self.g_unl,
                n_groups=k,
                labeled_positive=k1,
                labeled_negative=k0,
                still_unlabeled=(u0, u1),
                weights=ww_unl,
            )
            adapted = (
                np.ones(k, dtype=bool)
                if self.adapt == "always"
                else (fit_prior.lr_statistic > _CHI2[1]) & self.balance_explains
            )
            shift = np.where(
                adapted,
                logit(fit_prior.prevalence) - logit(np.clip(window_prior, _EPS, 1 - _EPS)),
                0,
            )
        with np.errstate(divide="ignore"):
            selection = np.log(u1) - np.log(u0)
        selection = np.where((u0 <= 0) & (u1 <= 0), 0.0, selection)
        post = expit(logit(p_eff) + shift[self.g_unl] + selection)
        q1, q0 = post * e1, (1 - post) * e0
        plain = expit(logit(p_unl) + shift[self.g_unl] + selection)
        positives = np.bincount(self.g_lab, weights=self.y_lab_w, minlength=k) + np.bincount(
            self.g_unl, weights=plain, minlength=k
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            day_prevalence = positives / self.n_per_group
        return _Replicate(
            q1=q1,
            q0=q0,
            mean=q1 * self.v1 + q0 * self.v0,
            prior=prior,
            recalibration=recal,
            adapted=adapted,
            day_prevalence=day_prevalence,
            prior_fit=fit_prior.prevalence if fit_prior is not None else None,
        )


# ------------------------------------------------------------------- the daily summary table

_REALIZED_WINDOW = "realized: the label window has passed"
_REALIZED_ALL = "realized: every prediction is labeled"


def _iso(dates: pd.Series) -> pd.Series:
    return pd.Series(
        pd.to_datetime(dates.astype("string")).dt.strftime("%Y-%m-%d"),
        index=dates.index,
        dtype=object,
    )


def _days(values: pd.Series) -> NDArray[np.float64]:
    """Timestamps as float days since the epoch (NaN where null)."""
    stamps = pd.to_datetime(values, utc=True, errors="coerce")
    delta = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)
    return np.asarray(delta.to_numpy(dtype=np.float64, na_value=np.nan))


@dataclass(frozen=True)
class _Need:
    """What to estimate, and which days each version's estimate reads."""

    as_of: dt.date
    window_passed: pd.Series  # per (date, model_version)
    to_estimate: pd.Series
    reference: dict[str, list[str]]  # version -> its reference days (mature, window passed)
    window: dict[str, list[str]]  # version -> its days inside the label window

    @property
    def dates(self) -> list[str]:
        wanted: set[str] = set()
        for days in (*self.reference.values(), *self.window.values()):
            wanted.update(days)
        return sorted(wanted)


def _need(
    daily: pd.DataFrame, config: GuapConfig, as_of: dt.date | None, reference_days: int
) -> _Need:
    key = pd.MultiIndex.from_arrays(
        [_iso(daily["date"]), daily["model_version"].astype(str)], names=["date", "model_version"]
    )
    dates = pd.Series(pd.to_datetime(key.get_level_values("date")).date, index=key)
    as_of = as_of or max(dates)
    mature = daily["mature"].fillna(False).to_numpy(dtype=bool)
    # Final: the window passed and the day is mature (not waiting on a stalled label feed).
    window_passed = (dates <= as_of - dt.timedelta(days=config.label_window_days)) & mature
    n_unlabeled = daily["n_predictions"].to_numpy(dtype=float) - daily["n_labeled"].to_numpy(
        dtype=float
    )
    to_estimate = ~window_passed & pd.Series(n_unlabeled > 0, index=key)
    versions = key.get_level_values("model_version")
    day_of = key.get_level_values("date")
    reference: dict[str, list[str]] = {}
    window: dict[str, list[str]] = {}
    for version in sorted(set(versions[to_estimate.to_numpy()])):
        mine = np.asarray(versions == version)
        passed = window_passed.to_numpy()
        days = sorted(day_of[mine & passed & mature])
        reference[version] = days[-reference_days:] if reference_days > 0 else []
        window[version] = sorted(day_of[mine & ~passed])
    return _Need(as_of, window_passed, to_estimate, reference, window)


def estimate_frame(
    labeled: pd.DataFrame,
    daily: pd.DataFrame,
    config: GuapConfig,
    *,
    as_of: dt.date | None = None,
    level: float = LEVEL,
    reference_days: int = REFERENCE_DAYS,
    n_replicates: int = N_REPLICATES,
    adapt: Adapt = "auto",
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`estimate_days` over frames: ``labeled`` holds the row-level rows of the days.

    ``labeled`` needs (at least) every day of the label window and the reference days of
    each version; other days are ignored. See :func:`estimate_days`.
    """
    out = daily.copy()
    out["estimated_profit"] = np.nan
    out["estimated_profit_low"] = np.nan
    out["estimated_profit_high"] = np.nan
    out["estimate_kind"] = "none"
    out["estimate_note"] = ""
    if daily.empty:
        return out
    need = _need(daily, config, as_of, reference_days)
    realized = ~need.to_estimate.to_numpy()
    profit = out["profit"].to_numpy(dtype=np.float64)
    for column in ("estimated_profit", "estimated_profit_low", "estimated_profit_high"):
        out.loc[realized, column] = profit[realized]
    out.loc[realized, "estimate_kind"] = "realized"
    out.loc[realized, "estimate_note"] = np.where(
        need.window_passed.to_numpy()[realized], _REALIZED_WINDOW, _REALIZED_ALL
    )
    if not need.to_estimate.any():
        return out
    position = {key: i for i, key in enumerate(need.to_estimate.index)}
    column_at = {c: out.columns.get_loc(c) for c in ESTIMATE_COLUMNS}

    def say(keys: list[tuple[str, str]], note: str) -> None:
        out.iloc[[position[k] for k in keys], column_at["estimate_note"]] = note

    targets = list(need.to_estimate.index[need.to_estimate.to_numpy()])
    if not config.is_binary:
        say(targets, "no estimate: estimating profit from scores needs a binary problem")
        return out
    rows = labeled.copy() if len(labeled) else pd.DataFrame(columns=["date", "model_version"])
    if len(rows):
        rows["date"] = _iso(rows["date"])
        rows["model_version"] = rows["model_version"].astype(str)
    censor = _censoring_instant(rows)
    by_key = dict(list(rows.groupby(["date", "model_version"], sort=False)))
    for version, ref_days in need.reference.items():
        mine = [key for key in targets if key[1] == version]
        ref = _reference_rows(by_key, ref_days, version, config)
        problem = _reference_problem(ref, version, ref_days)
        if problem:
            say(mine, problem)
            continue
        assert ref is not None
        window_keys, parts = [], []
        for day in need.window[version]:
            key = (day, version)
            part = _day_rows(by_key.get(key), config, censor)
            if isinstance(part, str):
                if key in position and need.to_estimate.iloc[position[key]]:
                    say([key], part)
                continue
            window_keys.append(key)
            parts.append(part)
        usable = [k for k in window_keys if need.to_estimate.iloc[position[k]]]
        if not usable:
            continue
        group = np.concatenate([np.full(len(p["score"]), i) for i, p in enumerate(parts)])
        stacked = {c: np.concatenate([p[c] for p in parts]) for c in parts[0] if c != "stakes"}
        stakes = {c: np.concatenate([p["stakes"][c] for p in parts]) for c in parts[0]["stakes"]}
        rows_seed = seed + zlib.crc32(version.encode())
        window_rows = _thin_labeled(
            DayRows(group=group.astype(np.intp), n_groups=len(parts), stakes=stakes, **stacked),
            MAX_LEARNING_ROWS,
            np.random.default_rng(rows_seed + 1),
        )
        result = estimate_unlabeled(
            _thin_reference(ref, MAX_LEARNING_ROWS, np.random.default_rng(rows_seed + 2)),
            window_rows,
            level=level,
            n_replicates=n_replicates,
            adapt=adapt,
            seed=rows_seed,
        )
        result.index = pd.MultiIndex.from_tuples(window_keys)
        result = result.loc[usable]
        at = [position[k] for k in usable]
        base = profit[at]
        out.iloc[at, column_at["estimated_profit"]] = base + result["expected"].to_numpy()
        out.iloc[at, column_at["estimated_profit_low"]] = base + result["low"].to_numpy()
        out.iloc[at, column_at["estimated_profit_high"]] = base + result["high"].to_numpy()
        out.iloc[at, column_at["estimate_kind"]] = "estimated"
        out.iloc[at, column_at["estimate_note"]] = [
            _estimated_note(r, version, len(ref_days), ref.n_positive, level)
            for r in result.to_dict("records")
        ]
    return out


def estimate_days(
    store: Store,
    config: GuapConfig,
    daily: pd.DataFrame,
    *,
    as_of: dt.date | None = None,
    level: float = LEVEL,
    reference_days: int = REFERENCE_DAYS,
    n_replicates: int = N_REPLICATES,
    adapt: Adapt = "auto",
    seed: int = 0,
) -> pd.DataFrame:
    """``daily`` plus ``estimated_profit``, ``_low``, ``_high``, ``estimate_kind``, ``_note``.

    - Days whose label window has passed as of ``as_of`` (default: the newest date in
      ``daily``; pass the run's as-of date), or with every prediction labeled: the
      realized ``profit`` (low = high = profit), kind ``realized``.
    - Other days (immature, or mature by coverage while labels may still arrive): the
      realized profit of the labeled rows plus the expected value of the unlabeled ones,
      from a calibration fitted on that version's most recent ``reference_days`` mature
      days (label window passed) in ``labeled_predictions``, adapted to the labels of the
      label window (see the module docstring); kind ``estimated``, with a ``level``
      interval.
    - NaN, kind ``none``, and the reason in ``estimate_note`` when it cannot be done: no
      scores, no mature days (or too few labeled positives) for the version, multiclass.

    Deterministic for a given store, ``as_of`` and ``seed``.
    """
    if daily.empty:
        return estimate_frame(pd.DataFrame(), daily, config, as_of=as_of)
    need = _need(daily, config, as_of, reference_days)
    labeled = _read_bounded(store, config, need, np.random.default_rng(seed))
    return estimate_frame(
        labeled,
        daily,
        config,
        as_of=need.as_of,
        level=level,
        reference_days=reference_days,
        n_replicates=n_replicates,
        adapt=adapt,
        seed=seed,
    )


def _thin_reference(ref: ReferenceRows, cap: int, rng: np.random.Generator) -> ReferenceRows:
    """A uniform sample of ``cap`` reference rows when there are more (never-labeled
    rows scaled alike): the calibration is a ratio, a sample estimates it unbiased."""
    n = len(ref.score)
    if n <= cap:
        return ref
    keep = np.sort(rng.choice(n, size=cap, replace=False))
    return ReferenceRows(
        score=ref.score[keep],
        positive=ref.positive[keep],
        delay_days=ref.delay_days[keep],
        n_never=round(ref.n_never * cap / n),
        columns={c: x[keep] for c, x in ref.columns.items()},
    )


def _thin_labeled(rows: DayRows, cap: int, rng: np.random.Generator) -> DayRows:
    """At most ``cap`` of the window's labeled rows, each weighted to stand for the ones
    left out (so per-day counts and the prevalence fit keep their scale); every
    unlabeled row stays: each is estimated."""
    labeled = np.flatnonzero(rows.labeled)
    if len(labeled) <= cap:
        return rows
    share = cap / len(labeled)
    keep = np.ones(len(rows.score), dtype=bool)
    keep[labeled] = rng.random(len(labeled)) < share
    return _subset(rows, keep, np.where(rows.labeled, 1 / share, 1.0))


def _thin_unlabeled(
    rows: DayRows, cap: int, rng: np.random.Generator
) -> tuple[DayRows, NDArray[np.float64] | None]:
    """Rows for the Monte Carlo: every labeled row and, per group, at most ``cap / groups``
    unlabeled rows (a seeded uniform sample, weighted up to stand for the rest).

    Returns the rows and, per unlabeled row kept, the factor its weight was raised by
    (``rows`` itself and None when nothing is left out). Days with few unlabeled rows — the
    nearly decided ones, whose discrete outcomes an interval must pin down — keep all.
    """
    unlabeled = ~rows.labeled
    counts = np.bincount(rows.group[unlabeled], minlength=rows.n_groups)
    share = np.minimum(1.0, cap / max(rows.n_groups, 1) / np.maximum(counts, 1))
    if (share >= 1).all():
        return rows, None
    row_share = np.where(unlabeled, share[rows.group], 1.0)
    keep = rng.random(len(rows.score)) < row_share
    return _subset(rows, keep, 1 / row_share), 1 / row_share[keep & unlabeled]


def _subset(rows: DayRows, keep: NDArray[np.bool_], raise_by: NDArray[np.float64]) -> DayRows:
    """The ``keep`` rows, their weights multiplied by ``raise_by``."""
    before = np.ones(len(rows.score)) if rows.weight is None else rows.weight
    arrays = ("group", "labeled", "positive", "score", "age_days", "value_pos", "value_neg")
    return DayRows(
        **{name: getattr(rows, name)[keep] for name in arrays},
        n_groups=rows.n_groups,
        stakes={c: x[keep] for c, x in rows.stakes.items()},
        weight=(before * raise_by)[keep],
    )


def _read_bounded(
    store: Store, config: GuapConfig, need: _Need, rng: np.random.Generator
) -> pd.DataFrame:
    """The labeled predictions the estimate reads, in bounded memory: the columns it
    uses; a uniform sample of the reference days' rows (``MAX_LEARNING_ROWS`` in all);
    on each window day, its share of ``MAX_LEARNING_ROWS`` labeled and of
    ``MAX_UNLABELED_ROWS`` unlabeled rows, weighted (``WEIGHT``) to stand for the day."""
    reference = sorted({d for days in need.reference.values() for d in days})
    window = sorted({d for days in need.window.values() for d in days})
    wanted = {"date", "model_version", "y_true", "y_pred", "score", "predicted_at"}
    wanted |= {"labeled_at", *config.value_matrix.columns}
    paths = {d: store.path("labeled_predictions", d) for d in reference + window}
    paths = {d: path for d, path in paths.items() if path.exists()}
    n_reference = sum(pq.ParquetFile(paths[d]).metadata.num_rows for d in reference if d in paths)
    frames = []
    for day, path in paths.items():
        columns = [c for c in pq.read_schema(path).names if c in wanted]
        frame = pq.read_table(path, columns=columns).to_pandas()
        if not len(frame):
            continue
        if day in reference:
            keep = rng.random(len(frame)) < MAX_LEARNING_ROWS / max(n_reference, 1)
            weight = np.ones(len(frame))
        else:
            unlabeled = frame["y_true"].isna().to_numpy()
            caps = np.where(unlabeled, MAX_UNLABELED_ROWS, MAX_LEARNING_ROWS) / len(window)
            counts = np.where(unlabeled, unlabeled.sum(), (~unlabeled).sum())
            share = np.minimum(1.0, caps / np.maximum(counts, 1))
            keep = rng.random(len(frame)) < share
            weight = 1 / share
        frames.append(frame[keep].assign(**{WEIGHT: weight[keep]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _censoring_instant(rows: pd.DataFrame) -> float:
    """'Now' for the label feed, in epoch days: the latest label seen (the latest
    prediction when no label carries a time). A row's age — how long its label has had to
    arrive — counts up to it: a feed that stopped a month ago has shown nothing since, and
    ageing the rows to the newest prediction read their missing labels as never coming."""
    for column in ("labeled_at", "predicted_at"):
        if column in rows.columns and len(rows):
            values = _days(rows[column])
            if np.isfinite(values).any():
                return float(np.nanmax(values))
    return np.nan


def _positive(frame: pd.DataFrame, config: GuapConfig) -> NDArray[np.float64]:
    """1 / 0 for labeled rows of the positive / negative class, NaN where unlabeled."""
    codes = class_codes(frame["y_true"], config.classes)
    pos = config.classes.index(config.positive_class)
    return np.where(codes < 0, np.nan, (codes == pos).astype(np.float64))


def _numeric(frame: pd.DataFrame, column: str) -> NDArray[np.float64]:
    return np.asarray(
        pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    )


def _reference_rows(
    by_key: dict[tuple[str, str], pd.DataFrame],
    days: list[str],
    version: str,
    config: GuapConfig,
) -> ReferenceRows | None:
    frames = [by_key[(d, version)] for d in days if (d, version) in by_key]
    if not frames:
        return None
    rows = pd.concat(frames, ignore_index=True)
    if "score" not in rows.columns:
        return ReferenceRows(np.empty(0), np.empty(0), np.empty(0))
    positive = _positive(rows, config)
    score = _numeric(rows, "score")
    labeled = np.isfinite(positive)
    use = labeled & np.isfinite(score)
    delay = (
        _days(rows["labeled_at"]) - _days(rows["predicted_at"])
        if {"labeled_at", "predicted_at"} <= set(rows.columns)
        else np.full(len(rows), np.nan)
    )
    columns = {c: _numeric(rows, c)[use] for c in config.value_matrix.columns if c in rows.columns}
    return ReferenceRows(
        score=np.clip(score[use], 0.0, 1.0),
        positive=positive[use],
        delay_days=delay[use],
        n_never=int((~labeled).sum()),
        columns=columns,
    )


def _reference_problem(ref: ReferenceRows | None, version: str, days: list[str]) -> str | None:
    if not days or ref is None:
        return (
            f"no estimate: model version {version} has no mature days yet, so its scores "
            "cannot be calibrated against outcomes"
        )
    if not len(ref.score):
        return f"no estimate: the mature days of model version {version} carry no scores"
    if min(ref.n_positive, ref.n_negative) < MIN_CLASS_ROWS:
        return (
            f"no estimate: the {len(days)} mature day(s) of model version {version} have "
            f"{ref.n_positive} labeled positive and {ref.n_negative} negative rows; "
            f"calibrating its scores needs at least {MIN_CLASS_ROWS} of each"
        )
    return None


def _day_rows(frame: pd.DataFrame | None, config: GuapConfig, censor: float) -> dict | str:
    """The arrays :class:`DayRows` needs for one (date, version), or why there are none."""
    if frame is None or not len(frame):
        return "no estimate: the day's predictions are not in the store"
    positive = _positive(frame, config)
    unlabeled = ~np.isfinite(positive)
    if "score" not in frame.columns:
        return "no estimate: no scores on this day"
    score = _numeric(frame, "score")
    n_unlabeled = int(unlabeled.sum())
    missing = int((unlabeled & ~np.isfinite(score)).sum())
    if n_unlabeled and missing == n_unlabeled:
        return "no estimate: no scores on this day"
    if missing:
        return f"no estimate: {missing} of {n_unlabeled} unlabeled rows have no score"
    matrix = config.value_matrix
    pos = config.classes.index(config.positive_class)
    decision = class_codes(frame["y_pred"], config.classes)
    decision = np.where(decision < 0, np.where(score >= config.threshold, pos, 1 - pos), decision)
    columns = {}
    for column in matrix.columns:
        if column not in frame.columns:
            return f"no estimate: the value matrix reads column '{column}', which the day lacks"
        data = _numeric(frame, column)
        if not np.isfinite(data[unlabeled]).all():
            return f"no estimate: unlabeled rows have missing values in column '{column}'"
        columns[column] = np.nan_to_num(data)
    rates = matrix.rates()
    stakes = {
        column: (rates[pos, decision, i] - rates[1 - pos, decision, i]) * columns[column]
        for i, column in enumerate(matrix.columns)
    }
    age = censor - _days(frame["predicted_at"]) if "predicted_at" in frame.columns else 0.0
    n = len(frame)
    return {
        "labeled": ~unlabeled,
        "positive": np.nan_to_num(positive),
        "score": np.clip(np.nan_to_num(score), 0.0, 1.0),
        "age_days": np.clip(np.nan_to_num(np.broadcast_to(age, (n,)).astype(float)), 0.0, None),
        "value_pos": matrix.row_values(np.full(n, pos), decision, columns),
        "value_neg": matrix.row_values(np.full(n, 1 - pos), decision, columns),
        "stakes": stakes,
        "weight": _numeric(frame, WEIGHT) if WEIGHT in frame.columns else np.ones(n),
    }


def _estimated_note(
    r: dict[str, object], version: str, n_days: int, n_positive: int, level: float
) -> str:
    how = [f"calibrated on {n_days} mature days of model {version} ({n_positive} positives)"]
    if r["recalibrated"]:
        how.append("adjusted to the labels landed so far")
    if r["prior_adapted"]:
        how.append(f"prevalence adapted to the day's scores ({r['prevalence']:.1%})")
    elif r["covariate_shift"]:
        how.append("scores moved unlike a change of class balance: calibration kept as is")
    if not r["delays_known"]:
        how.append("label delays unknown: assumed the same for both classes")
    return (
        f"estimated: {r['n_unlabeled']} unlabeled rows valued from their scores, "
        f"{level:.0%} interval; " + "; ".join(how)
    )


def overall_estimate(daily: pd.DataFrame) -> pd.DataFrame:
    """Per date, the estimate summed over model versions (the series' ``(all)`` rows).

    Versions are estimated independently, so the interval half-widths add in quadrature
    (exact for normal errors, close otherwise). NaN on a date where any version has no
    estimate; kind ``realized`` only when every version's is.
    """
    columns = list(ESTIMATED_PROFIT)
    frame = daily[["date", *columns]].assign(estimate_kind=estimate_kinds(daily))
    frame["below"] = (frame[columns[0]] - frame[columns[1]]) ** 2
    frame["above"] = (frame[columns[2]] - frame[columns[0]]) ** 2
    grouped = frame.groupby("date", sort=True)
    point = grouped[columns[0]].sum(min_count=1).where(~grouped[columns[0]].apply(_any_nan))
    out = pd.DataFrame(
        {
            "estimated_profit": point,
            "estimated_profit_low": point - np.sqrt(grouped["below"].sum()),
            "estimated_profit_high": point + np.sqrt(grouped["above"].sum()),
            "estimate_kind": grouped["estimate_kind"].agg(_overall_kind),
        }
    )
    return out.reset_index()


def estimate_kinds(daily: pd.DataFrame) -> pd.Series:
    """``estimate_kind`` of each row; derived from the figures where the column is absent
    (the public table): no estimate is NaN, and a zero-width interval is ``realized`` —
    also on a day inside the window whose missing labels are not expected to arrive."""
    if "estimate_kind" in daily.columns:
        return daily["estimate_kind"].astype(object)
    low, high = daily["estimated_profit_low"], daily["estimated_profit_high"]
    kinds = np.where(low.eq(high), "realized", "estimated")
    return pd.Series(np.where(daily["estimated_profit"].isna(), "none", kinds), index=daily.index)


def _any_nan(values: pd.Series) -> bool:
    return bool(values.isna().any())


def _overall_kind(kinds: pd.Series) -> str:
    if (kinds == "none").any():
        return "none"
    return "realized" if (kinds == "realized").all() else "estimated"
