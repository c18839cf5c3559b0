"""Label-feed health: the usual coverage by age, stalled days kept out of the mature days,
and a month-long label outage seen through the ``guap-pipeline run`` command."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from guap_pipeline.config import load_config
from guap_pipeline.ingest.label_feed import (
    BASIS_LABELED_AT,
    BASIS_WINDOW,
    LabelAges,
    LabelFeed,
    label_ages,
    samples_from_label_ages,
    stalled_days,
    usual_coverage,
)
from guap_pipeline.series.daily_table import is_mature
from guap_pipeline.store.store import Store
from tests.pipeline_data import store_labeled

CONFIG = """\
landing: ./landing
storage: ./store
start_date: 2026-01-01
value_matrix: {tp: 100, fp: -10, fn: -100, tn: 0}
label_window_days: 3
min_label_coverage: 0.95
"""


@pytest.fixture
def config(tmp_path: Path):
    path = tmp_path / "guap.yaml"
    path.write_text(CONFIG)
    return load_config(path)


def test_usual_coverage_is_the_median_and_scaled_mad_per_age() -> None:
    # Age 30: fourteen days. Median 0.97; deviations 0 (x4), 1 point (x6), 2 points (x4)
    # -> MAD 0.01. Age 31: thirteen days only -> not learned (MIN_DAYS = 14).
    samples = pd.DataFrame(
        {
            "age": [30] * 14 + [31] * 13,
            "coverage": [0.95, 0.96, 0.97, 0.97, 0.98, 0.98, 0.99] * 2 + [0.5] * 13,
        }
    )
    usual = usual_coverage(samples, basis=BASIS_LABELED_AT)
    assert usual is not None
    assert usual.ages.tolist() == [30]
    assert usual.median.tolist() == pytest.approx([0.97])
    assert usual.spread.tolist() == pytest.approx([1.4826 * 0.01])
    # Lowest coverage not stalled, 0.97 - 4 x max(spread, binomial sd of the day):
    # a day of 100 rows: sd = sqrt(0.97 x 0.03 / 100) = 0.0170587 -> 0.901765;
    # 10,000 rows: sd 0.0017 < spread 0.014826 -> 0.910696. Older ages use age 30's;
    # before age 30 nothing is known.
    typical, lowest = usual.at([29, 30, 45], [100, 100, 10_000])
    assert np.isnan(typical[0]) and np.isnan(lowest[0])
    assert typical[1:].tolist() == pytest.approx([0.97, 0.97])
    assert lowest[1:].tolist() == pytest.approx([0.901765, 0.910696], abs=1e-6)


def test_a_day_far_below_the_usual_coverage_for_its_age_is_stalled() -> None:
    samples = pd.DataFrame({"age": [30] * 14, "coverage": [0.97] * 14})  # spread 0
    usual = usual_coverage(samples, basis=BASIS_LABELED_AT)
    days = pd.DataFrame(
        {
            "n_predictions": [10_000] * 4,
            "n_labeled": [6_100, 9_650, 9_500, 1_000],
            "coverage": [0.61, 0.965, 0.95, 0.10],
            "age": [45, 31, 30, 29],  # 29: before the first learned age, never stalled
        },
        index=pd.Index(["2026-01-01", "2026-01-15", "2026-01-16", "2026-01-17"], name="date"),
    )
    # lowest = 0.97 - 4 x sqrt(0.97 x 0.03 / 10,000) = 0.963176: 0.61 and 0.95 stalled.
    stalled = stalled_days(days, usual, window_days=28)
    assert stalled.index.tolist() == ["2026-01-01", "2026-01-16"]
    assert stalled["usual"].tolist() == pytest.approx([0.97, 0.97])
    assert stalled["lowest"].tolist() == pytest.approx([0.963176, 0.963176], abs=1e-6)
    # Inside the label window nothing is stalled: those days are immature anyway.
    assert stalled_days(days, usual, window_days=46).empty


def test_when_every_label_usually_arrives_half_a_point_short_is_stalled() -> None:
    # Usual 100 %, no spread, no binomial noise: the floor MIN_GAP = 0.005 decides.
    full = usual_coverage(pd.DataFrame({"age": [5] * 14, "coverage": [1.0] * 14}), basis="x")
    assert full is not None
    _, lowest = full.at([40], [2_000])
    assert lowest.tolist() == pytest.approx([0.995])


def test_coverage_by_age_is_learned_from_labeled_at_up_to_the_latest_label(config) -> None:
    # Two days of 10 predictions, window 3 days, as of 2026-01-12. Labels by age:
    # day 1: ages 0,1,2,3,4,5 -> 2,2,2,1,1,0 ; day 2: ages 0..3 -> 5,2,1,1.
    # The latest label is 2026-01-08 12:00, so day 1 (starts 01-01) is observed in full
    # up to age 6 (its 7th day ended 01-08 00:00), day 2 (01-02) up to age 5.
    latest = pd.Timestamp("2026-01-08 12:00", tz="UTC")
    ages = LabelAges(
        counts={
            "2026-01-01": np.array([2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0]),
            "2026-01-02": np.array([5, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0]),
        },
        untimed={"2026-01-01": 0, "2026-01-02": 0},
        latest=latest,
    )
    n = pd.Series({"2026-01-01": 10, "2026-01-02": 10})
    samples = samples_from_label_ages(ages, n, config, dt.date(2026, 1, 12))
    got = {(int(a), round(float(c), 6)) for a, c in samples[["age", "coverage"]].to_numpy()}
    # day 1, cumulative from age 3: 7,8,8,8 of 10; day 2: 9,9,9 of 10.
    assert got == {(3, 0.7), (4, 0.8), (5, 0.8), (6, 0.8), (3, 0.9), (4, 0.9), (5, 0.9)}
    assert len(samples) == 7
    # A day with a label of unknown time teaches nothing.
    ages.untimed["2026-01-02"] = 1
    assert len(samples_from_label_ages(ages, n, config, dt.date(2026, 1, 12))) == 4


def test_label_ages_are_counted_from_the_stored_labeled_rows(config, tmp_path: Path) -> None:
    store = Store(config.storage)
    day = pd.Timestamp("2026-01-02", tz="UTC")
    store_labeled(
        store,
        "2026-01-02",
        pd.DataFrame(
            {
                "prediction_id": ["a", "b", "c", "d", "e"],
                "y_true": [1.0, 0.0, 0.0, np.nan, 1.0],
                "labeled_at": [
                    day + pd.Timedelta(hours=5),  # age 0
                    day + pd.Timedelta(days=2, hours=23),  # age 2
                    day + pd.Timedelta(days=2, hours=1),  # age 2
                    pd.NaT,  # not labeled
                    pd.NaT,  # labeled, time unknown
                ],
            }
        ),
    )
    ages = label_ages(store, config, dt.date(2026, 1, 5))
    assert ages.counts["2026-01-02"].tolist() == [1, 0, 2, 0]
    assert ages.untimed == {"2026-01-02": 1}
    assert ages.latest == day + pd.Timedelta(days=2, hours=23)


def test_a_stalled_day_past_its_window_is_not_mature(config) -> None:
    dates = pd.Series(["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-09"])
    coverage = pd.Series([0.6, 0.6, 0.96, 0.2])
    as_of = dt.date(2026, 1, 10)  # window 3 days: the first three have passed it
    plain = is_mature(dates, coverage, config, as_of)
    assert plain.tolist() == [True, True, True, False]
    waiting = is_mature(dates, coverage, config, as_of, stalled=frozenset({"2026-01-02"}))
    assert waiting.tolist() == [True, False, True, False]
    # 96 % is above the minimum, but far below the usual: the missing 4 % (often the
    # positives, labeled last) are still to come.
    short = is_mature(dates, coverage, config, as_of, stalled=frozenset({"2026-01-03"}))
    assert short.tolist() == [True, True, False, False]


def test_the_message_names_the_day_the_feed_stopped_and_the_usual_coverage() -> None:
    stalled = pd.DataFrame(
        {
            "n_predictions": [100, 100, 100],
            "n_labeled": [97, 61, 0],
            "coverage": [0.97, 0.61, 0.0],
            "age": [47, 46, 45],
        },
        index=pd.Index(["2019-08-02", "2019-08-03", "2019-08-04"], name="date"),
    ).assign(usual=1.0, lowest=0.995)
    feed = LabelFeed(stalled, BASIS_LABELED_AT, "2019-09-01")
    assert feed.message() == (
        "labels for days after 2019-08-01 have stopped arriving: 3 days past the label "
        "window are 0%–97% labeled where 100% is usual at 45–47 days; they do not count as "
        "mature until their labels land (latest label 2019-09-01)"
    )
    assert LabelFeed.from_json(feed.to_json()).message() == feed.message()
    window = LabelFeed(stalled.iloc[1:2], BASIS_WINDOW, None)
    assert window.message() == (
        "labels for days after 2019-08-02 have stopped arriving: 1 day past the label window "
        "is 61% labeled where 100% is usual once the label window has passed; it does not "
        "count as mature until its labels land"
    )
    assert LabelFeed(stalled.iloc[:0], BASIS_LABELED_AT, None).message() is None


# --------------------------------------------------------------- through `guap-pipeline run`

END = dt.date(2026, 6, 9)  # last prediction day; runs are as of the day after
AS_OF = (END + dt.timedelta(days=1)).isoformat()
DAYS, ROWS, PREVALENCE = 100, 600, 0.05
PIPELINE_CONFIG = """\
landing: ./landing
storage: ./store
start_date: {start}
value_matrix:
  tp: {{constant: -5, amount: 0.9}}
  fp: -10
  fn: {{amount: -1.0}}
  tn: 0
label_window_days: 28
min_label_coverage: 0.95
"""


def fraud_traffic(*, seed: int, decline_from: int | None = None) -> tuple[pd.DataFrame, ...]:
    """(predictions, labels) of a fraud model over DAYS days ending END, labels with
    their ``labeled_at``: legitimate cases known after 1-7 days, fraud after 5-25 (last).
    Stable, or from day ``decline_from`` on the model separates fraud far less well."""
    rng = np.random.default_rng(seed)
    start = END - dt.timedelta(days=DAYS - 1)
    predictions, labels = [], []
    for i in range(DAYS):
        day = start + dt.timedelta(days=i)
        at = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(
            np.sort(rng.integers(0, 86_400, ROWS)), unit="s"
        )
        fraud = rng.random(ROWS) < PREVALENCE
        separation = 1.0 if decline_from is not None and i >= decline_from else 3.5
        latent = rng.normal(0.0, 1.0, ROWS) + separation * fraud
        score = np.round(1 / (1 + np.exp(-1.5 * (latent - 2.0))), 6)
        delay = np.where(fraud, 5 + 20 * rng.beta(2, 3, ROWS), 1 + 6 * rng.beta(1.5, 3, ROWS))
        ids = [f"p-{day}-{j}" for j in range(ROWS)]
        predictions.append(
            pd.DataFrame(
                {
                    "prediction_id": ids,
                    "predicted_at": at,
                    "model_version": "v1",
                    "score": score,
                    "y_pred": (score >= 0.5).astype(int),
                    "amount": np.round(rng.lognormal(np.log(80) + 0.5 * fraud, 0.7), 2),
                }
            )
        )
        labels.append(
            pd.DataFrame(
                {
                    "prediction_id": ids,
                    "y_true": fraud.astype(int),
                    "labeled_at": at + pd.to_timedelta(np.round(delay * 86_400), unit="s"),
                }
            )
        )
    return pd.concat(predictions, ignore_index=True), pd.concat(labels, ignore_index=True)


def land(root: Path, predictions: pd.DataFrame, arrived: pd.DataFrame) -> Path:
    """A landing folder with the predictions and the labels that arrived; the config."""
    (root / "landing" / "predictions").mkdir(parents=True)
    (root / "landing" / "labels").mkdir(parents=True)
    predictions.to_parquet(root / "landing" / "predictions" / "predictions.parquet")
    arrived.to_parquet(root / "landing" / "labels" / "arrived.parquet")
    config = root / "guap.yaml"
    start = END - dt.timedelta(days=DAYS - 1)
    config.write_text(PIPELINE_CONFIG.format(start=start.isoformat()))
    return config


def run(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, pd.DataFrame]:
    """``guap-pipeline run`` as of AS_OF: its printed summary and the flags table."""
    from assets_defs.cli import main

    assert main(["run", "--config", str(config), "--as-of", AS_OF]) == 0
    store = Store(config.parent / "store")
    return capsys.readouterr().out, store.read("flags")


def final_profit(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.Series:
    """Per ISO date (UTC), the profit once every label is in, written out from the rows and
    the config's matrix: TP 0.9 × amount − 5, FP −10, FN −amount, TN 0."""
    rows = predictions.merge(labels[["prediction_id", "y_true"]], on="prediction_id")
    fraud, caught, amount = rows["y_true"] == 1, rows["y_pred"] == 1, rows["amount"]
    value = np.where(fraud, np.where(caught, 0.9 * amount - 5, -amount), np.where(caught, -10, 0))
    return pd.Series(value).groupby(rows["predicted_at"].dt.strftime("%Y-%m-%d")).sum()


def check_result(config: Path):
    """The ``label_feed`` asset check, evaluated on the store the run left."""
    from assets_defs.checks import label_feed
    from assets_defs.resources import GuapResource

    return label_feed(guap=GuapResource(config_path=str(config), as_of=AS_OF))


@pytest.mark.slow  # months of monitoring runs
def test_a_month_long_label_outage_raises_no_decline_and_flags_return_when_labels_land(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    predictions, labels = fraud_traffic(seed=11)
    stopped = pd.Timestamp(END - dt.timedelta(days=34), tz="UTC")  # 35 days before as-of
    config = land(tmp_path, predictions, labels[labels["labeled_at"] < stopped])

    out, flags = run(config, capsys)
    assert "decline" not in set(flags["flag"])
    assert "label feed (WARN): labels for days after" in out
    daily = Store(tmp_path / "store").read("daily_summary")
    past_window = pd.to_datetime(daily["date"]).dt.date <= END - dt.timedelta(days=27)
    short = daily[past_window & ~daily["mature"]]
    # The days past their window that miss labels wait; they span the outage's reach:
    # predicted from ~25 days before labels stopped (fraud takes up to 25) to the window.
    assert len(short) >= 25
    assert (short["label_coverage"] < 0.995).all()
    assert short["date"].astype(str).min() <= (stopped.date() - dt.timedelta(days=20)).isoformat()
    # Not mature, so estimated: from the labels that did land, their rows' scores, and how
    # long those rows' labels had to arrive before the feed stopped. The 90 % intervals
    # cover what each day realizes once its labels land (26 of 28 days when written).
    final = final_profit(predictions, labels)
    truth = short["date"].astype(str).map(final)
    covered = (short["estimated_profit_low"] <= truth + 1e-6) & (
        truth <= short["estimated_profit_high"] + 1e-6
    )
    assert covered.mean() >= 0.85, short.assign(final=truth)[~covered].to_string()
    result = check_result(config)
    assert not result.passed
    assert result.severity.value == "WARN"
    assert "have stopped arriving" in (result.description or "")

    late = labels[labels["labeled_at"] >= stopped]
    late.to_parquet(tmp_path / "landing" / "labels" / "landed_late.parquet")
    out, flags = run(config, capsys)
    assert "label feed" not in out
    assert "decline" not in set(flags["flag"])
    daily = Store(tmp_path / "store").read("daily_summary")
    assert daily.loc[past_window, "mature"].all()  # every day past its window counts again
    # the final profit the estimate was held to is what the pipeline realizes now
    realized = daily.loc[past_window, ["date", "profit"]]
    expected = realized["date"].astype(str).map(final).to_numpy()
    assert realized["profit"].to_numpy() == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert check_result(config).passed


@pytest.mark.slow  # months of monitoring runs
def test_a_real_decline_during_a_partial_outage_is_found_once_its_labels_land(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change = 55  # the model degrades from this day on
    predictions, labels = fraud_traffic(seed=12, decline_from=change)
    # From 40 days before as-of, two labels in three never arrive.
    outage = pd.Timestamp(END - dt.timedelta(days=39), tz="UTC")
    lost = (labels["labeled_at"] >= outage) & (np.random.default_rng(1).random(len(labels)) < 2 / 3)
    config = land(tmp_path, predictions, labels[~lost])

    out, _ = run(config, capsys)
    assert "label feed (WARN)" in out

    labels[lost].to_parquet(tmp_path / "landing" / "labels" / "landed_late.parquet")
    out, flags = run(config, capsys)
    assert "label feed" not in out
    decline = flags[flags["flag"] == "decline"]
    assert len(decline) == 1
    start = pd.Timestamp(decline["start_date"].iloc[0]).date()
    changed = END - dt.timedelta(days=DAYS - 1 - change)
    assert abs((start - changed).days) <= 7
