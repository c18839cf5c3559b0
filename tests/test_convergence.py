"""Late labels in any order and batching, with runs in between, give the same final table."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guap_pipeline import load_config
from guap_pipeline.ingest.staging import stage_landing
from guap_pipeline.steps import (
    build_day_profit,
    build_labeled,
    build_labels,
    build_predictions,
    build_timeseries,
    dirty_days,
    quarantine,
)
from guap_pipeline.store.labeled import read_labeled
from guap_pipeline.store.store import Store
from tests.pipeline_data import days, predictions_for, write_config

pytestmark = pytest.mark.slow  # monitoring runs until the store converges

AS_OF = dt.date(2026, 10, 20)


def monitoring_run(config_path: Path) -> pd.DataFrame:
    """What one scheduled run does, without Dagster: stage, rebuild dirty days, restitch."""
    config = load_config(config_path)
    store = Store(config.storage)
    stage_landing(config, store)
    for day in dirty_days(store):
        build_predictions(store, day)
        build_labels(store, day)
        build_labeled(store, day)
        build_day_profit(store, config, day)
    return build_timeseries(store, config, AS_OF)


def landing_with_predictions(root: Path) -> pd.DataFrame:
    write_config(root)
    frames = []
    for i, day in enumerate(days("2026-10-01", 3)):
        preds = predictions_for(day, 40, seed=i)
        preds.to_parquet(root / "landing" / "predictions" / f"{day}.parquet")
        frames.append(preds)
    return pd.concat(frames, ignore_index=True)


def all_labels(predictions: pd.DataFrame) -> pd.DataFrame:
    """Two label versions for some ids (a correction later), distinct labeled_at each."""
    rng = np.random.default_rng(0)
    first = pd.DataFrame(
        {
            "prediction_id": predictions["prediction_id"],
            "y_true": rng.integers(0, 2, len(predictions)),
            "labeled_at": predictions["predicted_at"] + pd.Timedelta(days=2),
        }
    )
    corrected = first.sample(frac=0.2, random_state=1).assign(
        y_true=lambda f: 1 - f["y_true"],
        labeled_at=lambda f: f["labeled_at"] + pd.Timedelta(days=3),
    )
    labels = pd.concat([first, corrected], ignore_index=True)
    labels["labeled_at"] = labels["labeled_at"] + pd.to_timedelta(np.arange(len(labels)), unit="s")
    return labels


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000), batches=st.integers(1, 5))
def test_any_order_and_batching_converges_to_the_one_batch_table(
    tmp_path_factory, seed: int, batches: int
) -> None:
    one = tmp_path_factory.mktemp("one")
    labels = all_labels(landing_with_predictions(one))
    labels.to_parquet(one / "landing" / "labels" / "all.parquet")
    expected = monitoring_run(one / "guap.yaml")

    many = tmp_path_factory.mktemp("many")
    landing_with_predictions(many)
    shuffled = labels.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    cuts = np.sort(np.random.default_rng(seed).integers(0, len(shuffled), batches - 1))
    for i, rows in enumerate(np.split(np.arange(len(shuffled)), cuts)):
        shuffled.iloc[rows].to_csv(many / "landing" / "labels" / f"batch_{i}.csv", index=False)
        monitoring_run(many / "guap.yaml")  # a run between deliveries
    got = monitoring_run(many / "guap.yaml")

    pd.testing.assert_frame_equal(got, expected)
    assert expected["n_labeled"].sum() == 120


def test_deleting_a_days_only_predictions_file_leaves_that_day_empty(tmp_path_factory) -> None:
    """Its staged labels stay, now orphans: the day builds to no rows, and the table equals
    that of a landing folder that never had the file."""
    gone = "2026-10-02"
    deleted = tmp_path_factory.mktemp("deleted")
    labels = all_labels(landing_with_predictions(deleted))
    labels.to_parquet(deleted / "landing" / "labels" / "all.parquet")
    monitoring_run(deleted / "guap.yaml")
    (deleted / "landing" / "predictions" / f"{gone}.parquet").unlink()
    got = monitoring_run(deleted / "guap.yaml")

    never = tmp_path_factory.mktemp("never")
    landing_with_predictions(never)
    (never / "landing" / "predictions" / f"{gone}.parquet").unlink()
    labels.to_parquet(never / "landing" / "labels" / "all.parquet")
    pd.testing.assert_frame_equal(got, monitoring_run(never / "guap.yaml"))

    assert got["date"].unique().tolist() == ["2026-10-01", "2026-10-03"]
    store = Store(load_config(deleted / "guap.yaml").storage)
    assert dirty_days(store) == []
    assert store.read("daily_quadrant_profit", gone).empty
    assert read_labeled(store, gone).empty
    keys = ["prediction_id", "date", "model_version"]
    for table, day in [
        ("predictions", gone),
        ("labeled", gone),
        ("predictions", "2026-10-01"),
        ("labeled", "2026-10-01"),
    ]:
        frame = read_labeled(store, day) if table == "labeled" else store.read(table, day)
        assert frame[keys].dtypes.eq("string").all(), (table, day)
    assert store.read("labels", "2026-10-01")["prediction_id"].dtype == "string"
    orphans = quarantine(store)
    assert orphans["prediction_id"].dtype == "string"
    assert (
        orphans["prediction_id"].str.startswith(gone).sum()
        == labels["prediction_id"].str.startswith(gone).sum()
    )
    assert set(orphans["reason"]) == {"label for a prediction_id not among the day's predictions"}
