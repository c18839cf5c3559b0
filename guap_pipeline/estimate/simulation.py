"""What each Monte Carlo replicate of :mod:`guap_pipeline.estimate.monte_carlo` draws
from: the day's model (calibration, label delays, prior shift, recalibration) refit on a
bootstrap of the reference, and its probabilities for each unlabeled row."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, gammaincinv, logit

from guap_pipeline.estimate.calibration import (
    _EPS,
    MAX_BINS,
    _bin_index,
    cv_folds,
    isotonic_helps,
    prior_rows,
    shrunk_isotonic,
)
from guap_pipeline.estimate.delays import _delay_terms, fit_label_delays
from guap_pipeline.estimate.prior_shift import adapt_prior, class_balance_fit
from guap_pipeline.estimate.recalibration import Recalibration, recalibrate
from guap_pipeline.estimate.rows import DayRows, ReferenceRows

TEST_LEVEL = 0.01  # adapt="auto": adapt when the likelihood-ratio test rejects at this level
# LR test thresholds: chi2.ppf(1 - TEST_LEVEL, df), as scipy.stats computes it (that module
# takes seconds to import; the special functions do not)
_CHI2 = {df: float(2 * gammaincinv(df / 2, 1 - TEST_LEVEL)) for df in (1, 2)}
Adapt = Literal["auto", "always", "never"]


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
    raw_scores: bool = False  # every fit of step 1 used the scores raw (see _Engine.step1)


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
        self.folds = cv_folds(len(reference.score))
        self.raw_unl = np.clip(rows.score[self.unl], _EPS, 1 - _EPS)
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
        # 1. calibration (and the value-weighted ones); raw scores only if not recalibrated
        fits: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
        probs, p_unl, p_eff, raw_fits = self.step1(wr, choose=False, fits=fits)
        prior = float(np.sum(wr * ref.positive) / wr.sum())
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
        if recal == Recalibration():
            _, p_unl, p_eff, raw_fits = self.step1(wr, choose=True, fits=fits)
            if raw_fits[0]:  # the prevalence the raw scores imply
                window_prior = float(np.sum(wr * ref.score) / wr.sum())
        else:
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
            raw_scores=all(raw_fits),
        )

    def step1(
        self,
        wr: NDArray[np.float64],
        *,
        choose: bool,
        fits: dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]],
    ) -> tuple[NDArray[np.float64] | None, NDArray[np.float64], NDArray[np.float64], list[bool]]:
        """Step 1 on reference row weights ``wr``: P(positive) at the knots (None when
        raw), at the unlabeled rows (``p_unl``), the value-weighted one (``p_eff``), and
        whether each fit (P(positive), then each value-weighted one) used the scores raw.
        ``choose``: use the raw scores wherever the isotonic map does not predict
        held-out reference rows better (:func:`isotonic_helps`) — only when step 3 keeps
        the calibration as it is: it recalibrates the map, whose blocks pool the raw
        scores' long tails. ``fits``: each fit's isotonic map on this ``wr`` (at the knots,
        at the unlabeled rows), filled by the first call and reused by the second."""
        ref = self.ref

        def calibrated(fit: int, x: NDArray[np.float64]) -> tuple[NDArray | None, NDArray, bool]:
            fold = (ref.score, ref.positive, x, self.index, self.n_bins, self.folds)
            if choose and not isotonic_helps(*fold):
                return None, self.raw_unl, True
            if fit not in fits:
                den = np.bincount(self.index, weights=x, minlength=self.n_bins)
                num = np.bincount(self.index, weights=x * ref.positive, minlength=self.n_bins)
                probs = shrunk_isotonic(num, den, prior_rows(den.sum(), len(x)))
                fits[fit] = probs, self.lerp(probs)
            return *fits[fit], False

        probs, p_unl, raw = calibrated(0, wr)
        numer, raw_fits = self.const * p_unl, [raw]
        for fit, (column, stake) in enumerate(self.weighted.items(), start=1):
            _, p_column, raw = calibrated(fit, wr * ref.columns[column])
            numer, raw_fits = numer + stake * p_column, [*raw_fits, raw]
        nonzero = np.abs(self.stake) > 1e-12
        p_eff = np.where(nonzero, numer / np.where(nonzero, self.stake, 1.0), p_unl)
        return probs, p_unl, np.clip(p_eff, _EPS, 1 - _EPS), raw_fits
