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

Everything here is pure: arrays in, arrays out (:mod:`~guap_pipeline.estimate.from_store`
reads the store).
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import expit, gammaincinv, logit

from guap_pipeline.estimate.calibration import _EPS, MAX_BINS, PRIOR_WEIGHT, _bin_index, _isotonic
from guap_pipeline.estimate.delays import _delay_terms, fit_label_delays
from guap_pipeline.estimate.prior_shift import adapt_prior, class_balance_fit
from guap_pipeline.estimate.recalibration import Recalibration, recalibrate
from guap_pipeline.estimate.rows import DayRows, ReferenceRows, _thin_unlabeled

LEVEL = 0.9  # two-sided coverage of estimated_profit_low / _high
N_REPLICATES = 300  # Monte Carlo draws behind each interval
STREAMS = 2  # the draws run in this many threads, each with its own random stream
# Unlabeled rows whose outcomes each Monte Carlo replicate draws, at most: beyond this a
# seeded sample per day, weighted up. The estimate itself values every row read; only the
# spread around it is simulated on the sample (its cost is per row and replicate).
MAX_SIMULATED_ROWS = 200_000
TEST_LEVEL = 0.01  # adapt="auto": adapt when the likelihood-ratio test rejects at this level
# LR test thresholds: chi2.ppf(1 - TEST_LEVEL, df), as scipy.stats computes it (that module
# takes seconds to import; the special functions do not)
_CHI2 = {df: float(2 * gammaincinv(df / 2, 1 - TEST_LEVEL)) for df in (1, 2)}
Adapt = Literal["auto", "always", "never"]


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
