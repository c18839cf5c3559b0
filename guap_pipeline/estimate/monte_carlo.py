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
   Scores that are already probabilities are used as they are, free of the fit's own
   error: where the map does not predict held-out reference rows better (Brier loss,
   ``CV_FOLDS``-fold cross-validation, per fit: ``calibration.isotonic_helps``) and
   step 3 does not recalibrate (it recalibrates the map).
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
   own error, the choice of raw scores or the map included; the prevalence estimate's
   error), then draws every unlabeled row's
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

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from guap_pipeline.estimate.recalibration import Recalibration
from guap_pipeline.estimate.rows import DayRows, ReferenceRows, _thin_unlabeled
from guap_pipeline.estimate.simulation import Adapt, _Engine, _Replicate

LEVEL = 0.9  # two-sided coverage of estimated_profit_low / _high
N_REPLICATES = 300  # Monte Carlo draws behind each interval
STREAMS = 2  # the draws run in this many threads, each with its own random stream
# Unlabeled rows whose outcomes each Monte Carlo replicate draws, at most: beyond this a
# seeded sample per day, weighted up. The estimate itself values every row read; only the
# spread around it is simulated on the sample (its cost is per row and replicate).
MAX_SIMULATED_ROWS = 200_000


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
    balance does not explain, so the prevalence is not adapted), ``delays_known`` and
    ``raw_scores`` (the scores were used as probabilities: not recalibrated, and the
    isotonic map did not predict held-out reference rows better).
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
            "raw_scores": first.raw_scores,
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
