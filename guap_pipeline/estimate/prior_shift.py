"""Prior shift: a day's prevalence re-estimated from its own scores by maximum likelihood,
and the test that a change of class balance explains the day's score histogram."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import chdtrc

from guap_pipeline.estimate.calibration import _EPS

BALANCE_BINS = 10  # score bins (reference quantiles) of the class-balance fit test
MIN_EXPECTED = 5.0  # rows expected in every bin, at least, for that test to speak


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
    return np.where(enough, chdtrc(n_b - 2, statistic), 1.0)  # chi2.sf(statistic, n_b - 2)
