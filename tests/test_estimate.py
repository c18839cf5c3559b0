"""The immature-day profit estimate: constructed cases with a known answer."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from guap_pipeline.config import parse_config
from guap_pipeline.estimate import (
    DayRows,
    ReferenceRows,
    adapt_prior,
    class_balance_fit,
    estimate_days,
    estimate_frame,
    estimate_unlabeled,
    fit_calibration,
    fit_label_delays,
    from_store,
    monte_carlo,
    overall_estimate,
    recalibrate,
    table,
)
from guap_pipeline.estimate.rows import WEIGHT
from guap_pipeline.money.one_day import day_profit
from guap_pipeline.series.daily_table import daily_summary
from guap_pipeline.store.labeled import labeled_day
from guap_pipeline.store.store import Store
from tests.pipeline_data import store_labeled

TP, FP, FN, TN = 100.0, -10.0, -150.0, 0.0


def calibrated(rng: np.random.Generator, n: int, prevalence: float = 0.1, sep: float = 2.5):
    """Scores that are exactly P(y = 1 | score): latent N(0,1) vs N(sep,1)."""
    y = (rng.random(n) < prevalence).astype(float)
    latent = rng.normal(0, 1, n) + sep * y
    log_odds = sep * latent - sep**2 / 2 + np.log(prevalence / (1 - prevalence))
    return 1 / (1 + np.exp(-log_odds)), y


def scores_given_class(rng, y, sep=2.5, model_prevalence=0.1):
    """Scores of a model calibrated at ``model_prevalence``, for given classes."""
    latent = rng.normal(0, 1, len(y)) + sep * y
    log_odds = sep * latent - sep**2 / 2 + np.log(model_prevalence / (1 - model_prevalence))
    return 1 / (1 + np.exp(-log_odds))


def constant_values(score):
    decision = score >= 0.5
    return np.where(decision, TP, FN), np.where(decision, FP, TN)


def unlabeled_days(rng, n_days, rows, *, prevalence=0.1, model_prevalence=0.1):
    """Day rows with no label yet (age 0), and each day's true value."""
    y = (rng.random(n_days * rows) < prevalence).astype(float)
    score = scores_given_class(rng, y, model_prevalence=model_prevalence)
    return age_zero_days(y, score, *constant_values(score), rows)


def age_zero_days(y, score, v1, v0, rows: int, **extra):
    """``rows`` rows a day, none labeled yet, and each day's true value."""
    n_days = len(y) // rows
    group = np.repeat(np.arange(n_days), rows)
    day = DayRows(
        group=group,
        labeled=np.zeros(len(y), dtype=bool),
        positive=np.zeros(len(y)),
        score=score,
        age_days=np.zeros(len(y)),
        value_pos=v1,
        value_neg=v0,
        n_groups=n_days,
        **extra,
    )
    truth = np.bincount(group, weights=np.where(y == 1, v1, v0), minlength=n_days)
    return day, truth


def amount_rows(rng, n: int, prevalence: float = 0.1):
    """Calibrated scores, and amounts that are larger for positives (fraud is bigger):
    the amount says something of the class that the score does not."""
    y = (rng.random(n) < prevalence).astype(float)
    amount = np.round(rng.lognormal(4.0 + 1.0 * y, 0.8), 2)
    return y, scores_given_class(rng, y, model_prevalence=prevalence), amount


def amount_days(rng, n_days: int, rows: int):
    """Unlabeled days valued by amount (FN −amount, TP 0.9·amount − 5, FP −10), and each
    day's true value."""
    y, score, amount = amount_rows(rng, n_days * rows)
    decision = score >= 0.5
    v1 = np.where(decision, 0.9 * amount - 5, -amount)
    v0 = np.where(decision, FP, TN)
    stakes = {"amount": np.where(decision, 0.9, -1.0) * amount}
    return age_zero_days(y, score, v1, v0, rows, stakes=stakes)


def reference(rng, n=40_000, **kwargs) -> ReferenceRows:
    score, y = calibrated(rng, n, **kwargs)
    return ReferenceRows(score=score, positive=y, delay_days=np.full(n, np.nan))


# ----------------------------------------------------------------------- pure functions


def test_calibration_of_calibrated_scores_is_near_the_identity():
    rng = np.random.default_rng(1)
    score, y = calibrated(rng, 50_000)
    cal = fit_calibration(score, y)
    grid = np.array([0.05, 0.2, 0.5, 0.8])
    assert np.allclose(cal.predict(grid), grid, atol=0.06)
    assert cal.prevalence == pytest.approx(y.mean())
    assert cal.predict([0.0])[0] > 0 and cal.predict([1.0])[0] < 1  # shrunk, never 0 or 1


def test_calibration_refuses_bad_input():
    with pytest.raises(ValueError, match="0 or 1"):
        fit_calibration([0.2, 0.4], [0, 2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit_calibration([0.2, 1.4], [0, 1])


def test_value_weighted_calibration_follows_the_weight():
    # same score everywhere, but positives carry twice the amount
    y = np.array([1.0] * 100 + [0.0] * 900)
    amount = np.where(y == 1, 200.0, 100.0)
    plain = fit_calibration(np.full(1000, 0.3), y)
    weighted = fit_calibration(np.full(1000, 0.3), y, weights=amount)
    assert plain.predict([0.3])[0] == pytest.approx(0.1, abs=1e-3)
    assert weighted.predict([0.3])[0] == pytest.approx(20_000 / 110_000, abs=1e-3)


def test_perfectly_calibrated_scores_give_an_unbiased_estimate():
    rng = np.random.default_rng(2)
    day, truth = unlabeled_days(rng, 300, 400)
    for adapt in ("never", "auto"):
        result = estimate_unlabeled(reference(rng), day, n_replicates=0, adapt=adapt)
        error = result["expected"].to_numpy() - truth
        # the total's error is within 3 standard errors of zero
        assert abs(error.mean()) < 3 * error.std() / np.sqrt(len(error)), adapt


@pytest.mark.slow  # Monte Carlo coverage over many days
def test_interval_covers_the_realized_value_at_its_level():
    rng = np.random.default_rng(3)
    day, truth = unlabeled_days(rng, 100, 250)
    result = estimate_unlabeled(reference(rng, 20_000), day, n_replicates=120, level=0.9)
    covered = (truth >= result["low"]) & (truth <= result["high"])
    assert 0.8 <= covered.mean() <= 0.97
    assert (result["low"] <= result["expected"]).all()
    assert (result["expected"] <= result["high"]).all()


@pytest.mark.slow  # Monte Carlo coverage over many days
def test_interval_simulated_on_a_sample_of_rows_covers_alike(monkeypatch):
    """Above MAX_SIMULATED_ROWS the Monte Carlo draws a sample of the unlabeled rows: the
    estimate still values every row, and the interval keeps its width and coverage."""
    rng = np.random.default_rng(3)
    day, truth = unlabeled_days(rng, 100, 250)
    ref = reference(rng, 20_000)
    whole = estimate_unlabeled(ref, day, n_replicates=200, level=0.9)
    monkeypatch.setattr(monte_carlo, "MAX_SIMULATED_ROWS", 5_000)  # 50 of 250 a day
    sampled = estimate_unlabeled(ref, day, n_replicates=200, level=0.9)
    np.testing.assert_allclose(sampled["expected"], whole["expected"], rtol=1e-12)
    covered = (truth >= sampled["low"]) & (truth <= sampled["high"])
    assert 0.8 <= covered.mean() <= 0.97
    ratio = (sampled["high"] - sampled["low"]).sum() / (whole["high"] - whole["low"]).sum()
    assert 0.85 <= ratio <= 1.2


@pytest.mark.slow  # Monte Carlo coverage over many days
def test_values_that_tell_the_class_are_weighted_into_the_calibration():
    """Fraud is bigger: the amount-weighted calibration values a score's rows at
    E[fraud × amount | score], so the estimate is unbiased where a score-only chance times
    each row's amount is not, and its interval covers at its level."""
    rng = np.random.default_rng(5)
    y, score, amount = amount_rows(rng, 40_000)
    ref = ReferenceRows(score, y, np.full(len(y), np.nan), columns={"amount": amount})
    day, truth = amount_days(rng, 150, 250)
    result = estimate_unlabeled(ref, day, n_replicates=200)
    error = result["expected"].to_numpy() - truth
    assert abs(error.mean()) < 3 * error.std() / np.sqrt(len(error))
    covered = (truth >= result["low"]) & (truth <= result["high"])
    assert 0.82 <= covered.mean() <= 0.97
    # score-only: each row at its score's chance of fraud, times its own values
    chance = fit_calibration(score, y).predict(day.score)
    score_only = np.bincount(
        day.group, weights=chance * day.value_pos + (1 - chance) * day.value_neg
    )
    assert np.abs(error).mean() < 0.95 * np.abs(score_only - truth).mean()


def test_prior_shift_is_recovered_from_scores_alone():
    rng = np.random.default_rng(4)
    cal_scores, y = calibrated(rng, 40_000)
    cal = fit_calibration(cal_scores, y)
    shifted = (rng.random(20_000) < 0.25).astype(float)  # prevalence 10 % -> 25 %
    probs = cal.predict(scores_given_class(rng, shifted))
    fit = adapt_prior(probs, cal.prevalence)
    assert fit.prevalence[0] == pytest.approx(0.25, abs=0.02)
    assert fit.lr_statistic[0] > 100
    same = adapt_prior(cal.predict(scores_given_class(rng, y[:20_000])), cal.prevalence)
    assert same.prevalence[0] == pytest.approx(y[:20_000].mean(), abs=0.02)


def test_adapting_to_a_prevalence_shift_removes_the_bias():
    rng = np.random.default_rng(5)
    day, truth = unlabeled_days(rng, 60, 500, prevalence=0.2)  # the model believes 10 %
    ref = reference(rng)
    fixed = estimate_unlabeled(ref, day, n_replicates=0, adapt="never")["expected"] - truth
    adapted = estimate_unlabeled(ref, day, n_replicates=0, adapt="auto")
    error = adapted["expected"] - truth
    assert adapted["prior_adapted"].mean() > 0.9
    assert not adapted["covariate_shift"].any()  # a new class balance explains the scores
    assert abs(error.mean()) < abs(fixed.mean()) / 3
    assert abs(error.mean()) < 3 * error.std() / np.sqrt(len(error))


def tilted_days(rng, n_days: int, rows: int, *, tilt: float, prevalence=0.1, sep=2.5):
    """Covariate shift: the latent's density tilted by exp(tilt·x) moves each class's
    N(μ, 1) to N(μ + tilt, 1) and the class odds by exp(tilt·sep), and leaves
    P(y | latent) — so the scores of a model calibrated before stay calibrated."""
    odds = prevalence / (1 - prevalence) * np.exp(tilt * sep)
    y = (rng.random(n_days * rows) < odds / (1 + odds)).astype(float)
    latent = rng.normal(tilt, 1, len(y)) + sep * y
    score = 1 / (1 + np.exp(-(sep * latent - sep**2 / 2 + np.log(prevalence / (1 - prevalence)))))
    return age_zero_days(y, score, *constant_values(score), rows)


def test_a_covariate_shift_is_left_uncorrected():
    rng = np.random.default_rng(12)
    day, truth = tilted_days(rng, 40, 500, tilt=0.5)  # positives 10 % -> 26 %
    ref = reference(rng)
    auto = estimate_unlabeled(ref, day, n_replicates=0)
    forced = estimate_unlabeled(ref, day, n_replicates=0, adapt="always")
    assert auto["covariate_shift"].mean() > 0.9 and auto["prior_adapted"].mean() < 0.1
    # nothing to correct: the estimate is the calibrated expected value, unchanged
    plain = estimate_unlabeled(ref, day, n_replicates=0, adapt="never")
    kept = ~auto["prior_adapted"]
    np.testing.assert_array_equal(auto["expected"][kept], plain["expected"][kept])
    error, forced_error = auto["expected"] - truth, forced["expected"] - truth
    assert abs(error.mean()) < 3 * error.std() / np.sqrt(len(error))
    assert abs(forced_error.mean()) > 3 * abs(error.mean())  # what a prior shift would cost


def test_a_covariate_drift_too_slight_to_show_in_one_day_is_left_uncorrected():
    # Positives 10 % -> 13.9 %: each day's prevalence test often rejects "same", while
    # one day's 500 scores are too few to show they are not a mixture of the classes;
    # the window's 20,000 are not.
    rng = np.random.default_rng(14)
    day, _ = tilted_days(rng, 40, 500, tilt=0.15)
    ref = reference(rng)
    by_day = class_balance_fit(ref.score, ref.positive, day.score, groups=day.group)
    assert (by_day >= 0.01).mean() > 0.5  # most days alone: no evidence against
    auto = estimate_unlabeled(ref, day, n_replicates=0)
    plain = estimate_unlabeled(ref, day, n_replicates=0, adapt="never")
    assert auto["covariate_shift"].all() and not auto["prior_adapted"].any()
    # nothing to correct: the calibrated expected value, as where nothing is adapted
    np.testing.assert_array_equal(auto["expected"], plain["expected"])


def test_class_balance_fit_tells_a_prior_shift_from_a_covariate_shift():
    rng = np.random.default_rng(13)
    ref = reference(rng)
    prior_shift, _ = unlabeled_days(rng, 40, 2000, prevalence=0.2)
    covariate, _ = tilted_days(rng, 40, 2000, tilt=0.3)
    fit = {
        name: class_balance_fit(
            ref.score, ref.positive, day.score, groups=day.group, n_groups=day.n_groups
        )
        for name, day in (("prior", prior_shift), ("covariate", covariate))
    }
    assert (fit["prior"] >= 0.01).mean() >= 0.9  # p-values of a true model: rarely small
    assert (fit["covariate"] < 0.01).all()
    few = class_balance_fit(ref.score, ref.positive, covariate.score[:20])
    assert few.tolist() == [1.0]  # 20 rows: too few to tell, no evidence against


def test_labels_that_arrive_later_for_positives_are_accounted_for():
    rng = np.random.default_rng(6)
    n_ref = 40_000
    score, y = calibrated(rng, n_ref)
    delays = np.where(y == 1, rng.uniform(3, 15, n_ref), rng.uniform(0.5, 6, n_ref))
    ref = ReferenceRows(score=score, positive=y, delay_days=delays)
    # days 4 days old: most negatives are labeled, few positives are
    n_days, rows = 100, 400
    y_day = (rng.random(n_days * rows) < 0.1).astype(float)
    s_day = scores_given_class(rng, y_day)
    delay_day = np.where(
        y_day == 1, rng.uniform(3, 15, len(y_day)), rng.uniform(0.5, 6, len(y_day))
    )
    age = np.full(len(y_day), 4.0) - rng.uniform(0, 1, len(y_day))
    labeled = delay_day <= age
    v1, v0 = constant_values(s_day)
    group = np.repeat(np.arange(n_days), rows)
    day = DayRows(group, labeled, np.where(labeled, y_day, 0), s_day, age, v1, v0, n_days)
    unl = ~labeled
    truth = np.bincount(group[unl], weights=np.where(y_day == 1, v1, v0)[unl], minlength=n_days)
    with_delays = estimate_unlabeled(ref, day, n_replicates=0, adapt="never")
    assert with_delays["delays_known"].all()
    error = with_delays["expected"] - truth
    assert abs(error.mean()) < 3 * error.std() / np.sqrt(n_days)
    blind = ReferenceRows(score=score, positive=y, delay_days=np.full(n_ref, np.nan))
    naive = estimate_unlabeled(blind, day, n_replicates=0, adapt="never")["expected"] - truth
    assert naive.mean() > 5 * abs(error.mean())  # ignoring the delays is optimistic


def test_fresh_labels_recalibrate_a_model_that_degraded():
    rng = np.random.default_rng(7)
    n = 30_000
    y = (rng.random(n) < 0.1).astype(float)
    latent = rng.normal(0, 1, n) + 1.2 * y  # the model believes separation 2.5
    probs = 1 / (1 + np.exp(-(2.5 * latent - 2.5**2 / 2 + np.log(0.1 / 0.9))))
    fit = recalibrate(probs, np.ones(n, dtype=bool), y)
    assert fit.beta < 0.8 and fit.lr_statistic > 50
    score, truth = calibrated(rng, n)
    honest = recalibrate(score, np.ones(n, dtype=bool), truth)
    assert honest.lr_statistic < 15 and abs(honest.beta - 1) < 0.1


def test_label_delays_need_timestamps():
    assert fit_label_delays(np.full(100, np.nan), np.r_[np.ones(50), np.zeros(50)]) is None
    delays = fit_label_delays(
        np.r_[np.full(50, 10.0), np.full(50, 1.0)], np.r_[np.ones(50), np.zeros(50)]
    )
    u0, u1, _, e1 = delays.at([0.5, 5.0, 20.0])
    assert u0[0] == pytest.approx(1, abs=0.02) and u0[1] < 0.02 and u1[1] > 0.98
    assert e1[2] < 0.02  # past every delay: the label will never come


# ------------------------------------------------------------------- the daily table

CONFIG = {
    "value_matrix": {
        "tp": {"amount": 0.9, "constant": -5},
        "fp": -10,
        "fn": {"amount": -1.0},
        "tn": 0,
    },
    "label_window_days": 10,
    "min_label_coverage": 0.95,
    "start_date": "2026-03-01",
}
START = dt.date(2026, 3, 1)


def store_rows(rng, day_index: int, n: int, now: pd.Timestamp, *, version="v1", scores=True):
    day = START + dt.timedelta(days=day_index)
    y = (rng.random(n) < 0.1).astype(int)
    score = scores_given_class(rng, y.astype(float))
    predicted = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")
    delay = np.where(y == 1, rng.uniform(3, 8, n), rng.uniform(0.5, 2, n))
    labeled_at = predicted + pd.to_timedelta(delay * 86_400, unit="s")
    late = labeled_at >= now
    frame = pd.DataFrame(
        {
            "prediction_id": [f"{version}-{day}-{i}" for i in range(n)],
            "predicted_at": predicted,
            "date": day.isoformat(),
            "model_version": version,
            "y_pred": (score >= 0.5).astype(int),
            "score": score,
            "amount": rng.lognormal(4, 0.5, n).round(2),
            "y_true": pd.array(np.where(late, pd.NA, y), dtype="Int64"),
            "labeled_at": labeled_at.where(~late),
        }
    )
    return frame if scores else frame.drop(columns="score")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A store with 30 days of v1, 3 days of a new v2, and a last v1 day without scores."""
    rng = np.random.default_rng(8)
    config = parse_config(CONFIG)
    store = Store(tmp_path_factory.mktemp("store"))
    as_of = START + dt.timedelta(days=30)
    now = pd.Timestamp(as_of, tz="UTC")
    frames = []
    for i in range(30):
        parts = [store_rows(rng, i, 300, now, scores=i != 29)]
        if i >= 27:
            parts.append(store_rows(rng, i, 100, now, version="v2"))
        day = pd.concat(parts, ignore_index=True)
        store_labeled(store, day["date"].iloc[0], day)
        frames.append(day)
    rows = pd.concat(frames, ignore_index=True)
    daily = daily_summary(day_profit(rows, config).summary, config, as_of)
    out = estimate_days(store, config, daily, as_of=as_of, n_replicates=60)
    return config, store, daily, out, as_of


@pytest.mark.slow  # a store of months of days
def test_mature_days_estimate_is_their_realized_profit(built):
    _, _, _, out, as_of = built
    passed = pd.to_datetime(out["date"]).dt.date <= as_of - dt.timedelta(days=10)
    realized = out[passed]
    assert (realized["estimate_kind"] == "realized").all()
    for column in ("estimated_profit", "estimated_profit_low", "estimated_profit_high"):
        assert np.allclose(realized[column], realized["profit"])
    assert (realized["estimate_note"].str.startswith("realized")).all()


@pytest.mark.slow  # a store of months of days
def test_immature_days_are_estimated_with_an_interval(built):
    _, _, _, out, _ = built
    estimated = out[out["estimate_kind"] == "estimated"]
    assert len(estimated) >= 5
    assert (estimated["estimated_profit_low"] <= estimated["estimated_profit"]).all()
    assert (estimated["estimated_profit"] <= estimated["estimated_profit_high"]).all()
    young = estimated[estimated["n_labeled"] < estimated["n_predictions"] * 0.5]
    assert (young["estimated_profit"] != young["profit"]).all()
    assert estimated["estimate_note"].str.contains("90% interval").all()


@pytest.mark.slow  # a store of months of days
def test_a_day_without_scores_has_no_estimate_said_plainly(built):
    _, _, _, out, _ = built
    row = out[(out["date"] == "2026-03-30") & (out["model_version"] == "v1")].iloc[0]
    assert row["estimate_kind"] == "none"
    assert np.isnan(row["estimated_profit"]) and np.isnan(row["estimated_profit_low"])
    assert row["estimate_note"] == "no estimate: no scores on this day"


@pytest.mark.slow  # a store of months of days
def test_a_new_model_version_without_mature_days_has_no_estimate(built):
    _, _, _, out, _ = built
    v2 = out[out["model_version"] == "v2"]
    assert (v2["estimate_kind"] == "none").all() and v2["estimated_profit"].isna().all()
    assert v2["estimate_note"].str.contains("v2 has no mature days yet").all()


@pytest.mark.slow  # a store of months of days
def test_the_estimate_is_deterministic(built):
    config, store, daily, out, as_of = built
    again = estimate_days(store, config, daily, as_of=as_of, n_replicates=60)
    pd.testing.assert_frame_equal(out, again)


@pytest.mark.slow  # a store of months of days
def test_big_days_are_read_as_weighted_samples_that_agree_with_the_whole(built, monkeypatch):
    """Capped rows (as on days of millions): the interval from the sample covers the
    estimate from every row, and is wider, for it also covers the sampling."""
    config, store, daily, out, as_of = built
    monkeypatch.setattr(from_store, "MAX_LEARNING_ROWS", 2_000)
    monkeypatch.setattr(table, "MAX_LEARNING_ROWS", 2_000)
    monkeypatch.setattr(from_store, "MAX_UNLABELED_ROWS", 500)
    need = table._need(daily, config, as_of, table.REFERENCE_DAYS)
    rows = from_store._read_bounded(store, config, need, np.random.default_rng(0))
    assert len(rows) < 2_000 * 1.2 + 2_000 * 1.2 + 500 * 1.2  # vs 9,300 rows stored
    window = rows[rows["date"] > str(as_of - dt.timedelta(days=10))]
    unlabeled = window[window["y_true"].isna()]
    whole = sum(labeled_day(store, d).num_rows for d in window["date"].unique())
    assert unlabeled[WEIGHT].gt(1).any() and whole > len(window)
    sampled = estimate_days(store, config, daily, as_of=as_of, n_replicates=60)
    both = out.merge(sampled, on=["date", "model_version"], suffixes=("", "_s"))
    both = both[both["estimate_kind"] == "estimated"]
    assert len(both) >= 5
    assert (
        both["estimated_profit"]
        .between(both["estimated_profit_low_s"], both["estimated_profit_high_s"])
        .all()
    )
    width = both["estimated_profit_high"] - both["estimated_profit_low"]
    width_s = both["estimated_profit_high_s"] - both["estimated_profit_low_s"]
    assert width_s.sum() >= width.sum()


def test_multiclass_and_empty_tables_say_why():
    config = parse_config(
        {
            "classes": ["a", "b", "c"],
            "value_matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
            "baseline": "baseline_pred",
        }
    )
    daily = pd.DataFrame(
        {
            "date": ["2026-03-01"],
            "model_version": ["v1"],
            "n_predictions": [10],
            "n_labeled": [2],
            "mature": [False],
            "profit": [2.0],
        }
    )
    out = estimate_frame(pd.DataFrame(), daily, config, as_of=dt.date(2026, 3, 2))
    assert out["estimate_kind"].iloc[0] == "none"
    assert "binary" in out["estimate_note"].iloc[0]
    empty = estimate_frame(pd.DataFrame(), daily.iloc[:0], config)
    assert {"estimated_profit", "estimate_note"} <= set(empty.columns)


def test_versions_add_up_with_half_widths_in_quadrature():
    daily = pd.DataFrame(
        {
            "date": ["d1", "d1", "d2", "d2"],
            "estimated_profit": [100.0, 50.0, 10.0, np.nan],
            "estimated_profit_low": [70.0, 10.0, 10.0, np.nan],
            "estimated_profit_high": [130.0, 50.0, 10.0, np.nan],
            "estimate_kind": ["estimated", "realized", "realized", "none"],
        }
    )
    out = overall_estimate(daily).set_index("date")
    assert out.loc["d1", "estimated_profit"] == 150
    assert out.loc["d1", "estimated_profit_low"] == pytest.approx(150 - 50)  # √(30² + 40²)
    assert out.loc["d1", "estimated_profit_high"] == pytest.approx(180)
    assert out.loc["d1", "estimate_kind"] == "estimated"
    assert np.isnan(out.loc["d2", "estimated_profit"]) and out.loc["d2", "estimate_kind"] == "none"
