"""Raw scores or the isotonic map: the estimate calibrates only where it predicts better,
and keeps the map wherever fresh labels recalibrate it.

Each day's truth is summed here from the simulated outcomes; the raw expected value is
computed here from the scores, not by the code under test.
"""

import numpy as np
from scipy.special import expit, logit

from guap_pipeline.estimate import DayRows, ReferenceRows, estimate_unlabeled
from guap_pipeline.estimate.calibration import _bin_index, cv_folds, isotonic_helps
from guap_pipeline.estimate.simulation import _Engine
from tests.test_estimate import age_zero_days, amount_days, amount_rows

PREVALENCE, SEP = 0.1, 2.5
V1, V0 = -150.0, -10.0  # a row's value if positive / negative (all rows flagged)


def true_chance(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes and their exact P(y = 1 | latent): latent N(0, 1) vs N(SEP, 1)."""
    y = (rng.random(n) < PREVALENCE).astype(float)
    latent = rng.normal(0, 1, n) + SEP * y
    return y, expit(SEP * latent - SEP**2 / 2 + logit(PREVALENCE))


def unlabeled(y: np.ndarray, score: np.ndarray, n_days: int) -> tuple[DayRows, np.ndarray]:
    """``n_days`` days of rows with no label yet, and each day's true value."""
    v1, v0 = np.full(len(y), V1), np.full(len(y), V0)
    return age_zero_days(y, score, v1, v0, len(y) // n_days)


def raw_expected(score: np.ndarray, n_days: int) -> np.ndarray:
    """Each day's value if every score is its row's chance of being positive."""
    group = np.repeat(np.arange(n_days), len(score) // n_days)
    return np.bincount(group, weights=score * V1 + (1 - score) * V0, minlength=n_days)


def two_score_reference(rate_low: float, rate_high: float) -> tuple[np.ndarray, np.ndarray]:
    """1,000 rows scored 0.2 and 1,000 scored 0.8, with exactly ``rate_low`` and
    ``rate_high`` of them positive."""
    score = np.r_[np.full(1_000, 0.2), np.full(1_000, 0.8)]
    y = np.r_[np.arange(1_000) < rate_low * 1_000, np.arange(1_000) < rate_high * 1_000]
    return score, y.astype(float)


def helps(score: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> bool:
    index, n_bins = _bin_index(score, 1_000)
    w = np.ones(len(y)) if weights is None else weights
    return isotonic_helps(score, y, w, index, n_bins, cv_folds(len(y)))


def test_the_choice_by_held_out_brier_loss_on_a_hand_checkable_reference():
    """Scores 0.2 / 0.8 with exactly 20 % / 80 % positives are calibrated: a held-out
    fold's map is the other folds' share, r₋f − 0.2 = −(r_f − 0.2)·n_f / (n − n_f), so its
    error (r_f − r₋f)² is (5/4)² times the raw score's and the raw scores win. With 50 %
    positives at both scores, the raw loss is 0.34 a row and the map's about 0.25."""
    assert not helps(*two_score_reference(0.2, 0.8))
    assert helps(*two_score_reference(0.5, 0.5))


def test_calibrated_scores_are_used_raw():
    """An isotonic fit on 5,000 reference rows would only add its own error (step 1
    alone: no prior-shift test that could fire by chance on one of 200 days)."""
    rng = np.random.default_rng(21)
    ref_y, ref_score = true_chance(rng, 5_000)
    reference = ReferenceRows(ref_score, ref_y, np.full(len(ref_y), np.nan))
    y, score = true_chance(rng, 200 * 400)
    rows, truth = unlabeled(y, score, 200)
    raw = raw_expected(score, 200)
    result = estimate_unlabeled(reference, rows, n_replicates=0, adapt="never")
    assert result["raw_scores"].all()
    np.testing.assert_allclose(result["expected"], raw, atol=0.01)  # scores clipped at 1e-6
    assert np.abs(result["expected"] - truth).mean() <= np.abs(raw - truth).mean() + 1e-6


def test_miscalibrated_scores_are_still_calibrated():
    """Over-confident scores (twice the true log-odds): the map beats them."""
    rng = np.random.default_rng(22)
    ref_y, ref_chance = true_chance(rng, 20_000)
    reference = ReferenceRows(expit(2 * logit(ref_chance)), ref_y, np.full(len(ref_y), np.nan))
    y, chance = true_chance(rng, 100 * 1_000)
    score = expit(2 * logit(chance))
    rows, truth = unlabeled(y, score, 100)
    result = estimate_unlabeled(reference, rows, n_replicates=0)
    assert not result["raw_scores"].any()
    error = np.abs(result["expected"] - truth).mean()
    assert error < 0.8 * np.abs(raw_expected(score, 100) - truth).mean()


def test_a_recalibrated_window_keeps_the_isotonic_map():
    """Calibrated scores, but the window's landed labels are positive three times as
    often as the scores say: step 3 recalibrates, and it does so on the map, not on the
    raw scores (whose unpooled tails the recalibration stretches)."""
    rng = np.random.default_rng(23)
    ref_y, ref_score = true_chance(rng, 20_000)
    delays = np.where(ref_y == 1, rng.uniform(3, 15, len(ref_y)), rng.uniform(0.5, 6, len(ref_y)))
    reference = ReferenceRows(ref_score, ref_y, delays)
    assert not helps(ref_score, ref_y)  # on the reference alone the raw scores win
    n_days, per_day = 20, 1_000
    _, score = true_chance(rng, n_days * per_day)
    y = (rng.random(len(score)) < expit(logit(score) + np.log(3))).astype(float)
    age = np.repeat(np.linspace(20, 1, n_days), per_day)
    delay = np.where(y == 1, rng.uniform(3, 15, len(y)), rng.uniform(0.5, 6, len(y)))
    labeled = delay <= age
    group = np.repeat(np.arange(n_days), per_day)
    v1, v0 = np.full(len(y), V1), np.full(len(y), V0)
    rows = DayRows(group, labeled, np.where(labeled, y, 0), score, age, v1, v0, n_days)
    result = estimate_unlabeled(reference, rows, n_replicates=0)
    assert result["recalibrated"].all()
    assert not result["raw_scores"].any()


def test_scores_are_said_raw_only_when_every_fit_takes_them_raw():
    """Calibrated scores, but fraud is bigger: P(fraud | score) is the score, while the
    amount-weighted E[fraud · amount | score] / E[amount | score] is not, so that fit
    keeps its map and the estimate is not said to use the scores as they are."""
    rng = np.random.default_rng(24)
    y, score, amount = amount_rows(rng, 40_000)
    assert not helps(score, y) and helps(score, y, amount)
    reference = ReferenceRows(score, y, np.full(len(y), np.nan), columns={"amount": amount})
    day, _ = amount_days(rng, 20, 250)
    result = estimate_unlabeled(reference, day, n_replicates=0, adapt="never")
    assert not result["raw_scores"].any()


def test_the_choosing_pass_reuses_the_maps_it_keeps_bit_for_bit():
    """Step 1 fits each isotonic map once per replicate: the pass that may take the raw
    scores reuses the first pass's maps, and gives what fitting them again gives."""
    rng = np.random.default_rng(24)
    y, score, amount = amount_rows(rng, 40_000)
    reference = ReferenceRows(score, y, np.full(len(y), np.nan), columns={"amount": amount})
    day, _ = amount_days(rng, 20, 250)
    engine = _Engine(reference, day, "never")
    wr = rng.standard_exponential(len(y))  # a bootstrap replicate's weights
    fits: dict = {}
    engine.step1(wr, choose=False, fits=fits)
    assert sorted(fits) == [0, 1]  # P(fraud), then the amount-weighted fit
    reused = engine.step1(wr, choose=True, fits=fits)
    fresh = engine.step1(wr, choose=True, fits={})
    assert reused[3] == fresh[3] == [True, False]  # P(fraud) raw, the amount's map kept
    for kept, refitted in zip(reused[1:3], fresh[1:3], strict=True):
        np.testing.assert_array_equal(kept, refitted)
