"""The demo data set: deterministic, loadable, and telling the fraud story it promises."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from assets_defs.cli import main
from guap_pipeline.config import load_config
from guap_pipeline.datasets.demo import DAYS, demo_frames, write_demo
from guap_pipeline.store.store import Store

pytestmark = pytest.mark.slow  # the 300-day demo, written and run

END = dt.date(2026, 8, 31)
START = END - dt.timedelta(days=DAYS - 1)
V2_LAUNCH = START + dt.timedelta(days=round(0.2 * DAYS))
V3_LAUNCH = START + dt.timedelta(days=round(0.6 * DAYS))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo, written once for the module."""
    directory = tmp_path_factory.mktemp("demo")
    write_demo(directory, days=DAYS, end_date=END)
    return directory


@pytest.fixture(scope="module")
def landed(demo_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions and the labels that have arrived, read back from the landing folder."""
    predictions = pd.read_parquet(demo_dir / "landing" / "predictions")
    labels = pd.read_parquet(demo_dir / "landing" / "labels")
    return predictions, labels


@pytest.fixture(scope="module")
def every_outcome() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions and all labels, including those that arrive after END."""
    return demo_frames(days=DAYS, end_date=END)


def _uplift(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Labeled rows with their uplift over approve-everything, under the demo's value matrix."""
    rows = predictions.merge(labels[["prediction_id", "y_true"]], on="prediction_id")
    truth, decision, amount = rows["y_true"], rows["y_pred"], rows["amount"]
    value = np.select(
        [(truth == 1) & (decision == 1), (truth == 0) & (decision == 1), truth == 1],
        [0.9 * amount - 5, -10.0, -amount],
        0.0,
    )
    baseline = np.where(truth == 1, -amount, 0.0)  # all_negative: every fraud is paid out
    return rows.assign(uplift=value - baseline, day=rows["predicted_at"].dt.date)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_arguments_give_identical_files(tmp_path: Path) -> None:
    args = {"days": 15, "end_date": END, "rows_per_day": 200}
    write_demo(tmp_path / "a", **args)
    write_demo(tmp_path / "b", **args)
    write_demo(tmp_path / "c", seed=8, **args)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


def test_config_loads_with_the_demo_settings(demo_dir: Path) -> None:
    path = demo_dir / "guap.yaml"
    config = load_config(path)
    assert config.landing == (demo_dir / "landing").resolve()
    assert config.storage == (demo_dir / ".guap").resolve()
    assert config.start_date == START
    assert config.baseline == "all_negative"
    assert config.label_window_days == 28
    assert config.value_matrix.columns == ("amount",)
    assert config.operating_cost.investment == 50000
    assert config.acceptance.min_uplift_per_day == 2000
    assert config.quadrants["fn"] == "fraud paid out"
    assert path.read_text(encoding="utf-8").count("#") > 10  # commented for a new user


def test_end_date_defaults_to_yesterday_utc(tmp_path: Path) -> None:
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    config = load_config(write_demo(tmp_path, days=3, rows_per_day=20))
    assert config.start_date == yesterday - dt.timedelta(days=2)
    files = sorted(p.name for p in (tmp_path / "landing" / "predictions").iterdir())
    assert files[-1] == f"predictions_{yesterday.isoformat()}.parquet"


def test_rewrite_replaces_demo_files_only(tmp_path: Path) -> None:
    write_demo(tmp_path, days=5, end_date=END, rows_per_day=20)
    mine = tmp_path / "landing" / "predictions" / "mine.csv"
    mine.write_text("prediction_id\n", encoding="utf-8")
    write_demo(tmp_path, days=5, end_date=END - dt.timedelta(days=10), rows_per_day=20)
    names = sorted(p.name for p in (tmp_path / "landing" / "predictions").iterdir())
    assert len(names) == 6 and "mine.csv" in names
    assert f"predictions_{END.isoformat()}.parquet" not in names


def test_one_prediction_file_per_day_and_one_label_file_per_arrival_week(demo_dir: Path) -> None:
    for path in (demo_dir / "landing" / "predictions").iterdir():
        day = pq.read_table(path, columns=["predicted_at"]).column(0).to_pandas().dt.date
        assert set(day) == {dt.date.fromisoformat(path.stem.removeprefix("predictions_"))}
    last_arrival = []
    for path in (demo_dir / "landing" / "labels").iterdir():
        first = dt.date.fromisoformat(path.stem.removeprefix("labels_arrived_"))
        arrived = pq.read_table(path, columns=["labeled_at"]).column(0).to_pandas().dt.date
        assert arrived.min() == first and (arrived - first).max() < dt.timedelta(days=7)
        last_arrival.append(arrived.max())
    assert len(list((demo_dir / "landing" / "predictions").iterdir())) == DAYS
    assert len(last_arrival) <= DAYS // 7 + 2  # weekly batches: few files to stage
    assert max(last_arrival) == END  # nothing from the future


def test_prediction_columns(landed: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    predictions, _ = landed
    assert list(predictions.columns) == [
        "prediction_id",
        "predicted_at",
        "model_version",
        "score",
        "y_pred",
        "amount",
        "country",
    ]
    assert predictions["prediction_id"].is_unique
    assert str(predictions["predicted_at"].dt.tz) == "UTC"
    assert predictions["score"].between(0, 1).all()
    assert (predictions["y_pred"] == (predictions["score"] >= 0.5)).all()
    assert 60 < predictions["amount"].median() < 110
    assert predictions["country"].nunique() >= 3
    assert sorted(predictions["model_version"].unique()) == ["v1", "v2", "v3"]


def test_labels_join_and_arrive_after_their_prediction(
    landed: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    predictions, labels = landed
    rows = labels.merge(predictions, on="prediction_id", how="left", indicator=True)
    assert (rows["_merge"] == "both").all()  # every label belongs to a known prediction
    assert labels["prediction_id"].is_unique
    assert (rows["labeled_at"] > rows["predicted_at"]).all()
    assert 0.02 <= labels["y_true"].mean() <= 0.04


def test_fraud_is_labeled_later_than_legitimate_traffic(
    every_outcome: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    predictions, labels = every_outcome
    rows = labels.merge(predictions, on="prediction_id")
    delay = (rows["labeled_at"] - rows["predicted_at"]).dt.total_seconds() / 86_400
    mean_delay = delay.groupby(rows["y_true"]).mean()
    assert 1 <= mean_delay[0] <= 5
    assert mean_delay[1] >= mean_delay[0] + 5
    assert delay.max() <= 25
    never = 1 - len(labels) / len(predictions)
    assert 0.01 <= never <= 0.03


def test_recent_days_are_less_covered_than_old_days(
    landed: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    predictions, labels = landed
    rows = predictions.merge(labels, on="prediction_id", how="left")  # isin is slow on str
    coverage = rows["y_true"].notna().groupby(rows["predicted_at"].dt.floor("D")).mean()
    old, recent = coverage.iloc[:-30], coverage.iloc[-3:]
    assert old.min() >= 0.96
    assert recent.max() <= 0.7
    assert coverage.iloc[-1] == 0  # yesterday's outcomes are not known yet


def test_weekends_have_lower_volume(landed: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    predictions, _ = landed
    volume = predictions.groupby(predictions["predicted_at"].dt.date).size()
    weekend = pd.Series([d.weekday() >= 5 for d in volume.index], index=volume.index)
    ratio = volume[weekend].mean() / volume[~weekend].mean()
    assert 0.6 <= ratio <= 0.8
    assert 1800 <= volume[~weekend].mean() <= 2200


def test_each_version_serves_its_share_from_its_launch(
    landed: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    predictions, _ = landed
    day = predictions["predicted_at"].dt.date
    share = pd.crosstab(day, predictions["model_version"], normalize="index")
    before_v2, before_v3 = share.index < V2_LAUNCH, share.index < V3_LAUNCH
    assert (share.loc[before_v2, "v1"] == 1).all()
    assert share.loc[~before_v2 & before_v3, "v2"].between(0.7, 0.9).all()
    assert (share.loc[before_v3, "v3"] == 0).all()
    assert share.loc[~before_v3, "v3"].between(0.25, 0.45).all()
    assert share.loc[~before_v2, "v1"].between(0.03, 0.3).all()  # v1 stays on as a shadow


def test_v1_degrades_before_v2_arrives(landed: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rows = _uplift(*landed)
    v1 = rows[(rows["model_version"] == "v1") & (rows["day"] < V2_LAUNCH)]
    first = v1[v1["day"] < START + dt.timedelta(days=28)]["uplift"].mean()
    last = v1[v1["day"] >= V2_LAUNCH - dt.timedelta(days=14)]["uplift"].mean()
    assert first > 5
    assert last < 0.7 * first


def test_v2_improves_then_plateaus(every_outcome: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rows = _uplift(*every_outcome)  # outcomes not yet arrived by END count too
    v2 = rows[rows["model_version"] == "v2"]
    age = (pd.to_datetime(v2["day"]) - pd.Timestamp(V2_LAUNCH)).dt.days
    periods = pd.cut(age, [-1, 9, 28, 70, 150, 230], labels=False)
    launch, middle, _, flat, late = v2["uplift"].groupby(periods).mean()
    assert launch < 0.9 * middle  # it improves at first...
    assert abs(late - flat) < 0.05 * flat  # ...then stops improving (from ~60 days)


def test_each_new_version_adds_less(every_outcome: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rows = _uplift(*every_outcome)
    recent = rows[rows["day"] >= V3_LAUNCH]  # the three versions side by side
    level = recent.groupby("model_version")["uplift"].mean()
    assert 0 < level["v3"] - level["v2"] < 0.5 * (level["v2"] - level["v1"])


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``guap-pipeline demo`` as a first-time user runs it: the folder and what it printed."""
    directory = tmp_path_factory.mktemp("demo-run")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["demo", "--dir", str(directory)]) == 0
    return directory, printed.getvalue()


def test_the_demo_raises_every_flag_on_the_right_version(demo_run: tuple[Path, str]) -> None:
    directory, printed = demo_run
    flags = Store(load_config(directory / "guap.yaml").storage).read("flags")
    raised = set(zip(flags["flag"], flags["model_version"], strict=True))
    assert ("decline", "v1") in raised  # v1 degraded
    assert ("plateau", "v2") in raised  # v2 grew, then flattened
    assert ("diminishing_returns", "v3") in raised  # each version adds less: named by the newest
    assert not {("decline", "v2"), ("decline", "v3")} & raised
    listed = printed.split("flags:")[-1]
    assert all(flag in listed for flag in ("decline", "plateau", "diminishing_returns"))
