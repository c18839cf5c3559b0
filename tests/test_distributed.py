"""The Dask engine gives the embedded engine's tables, on a local cluster of two workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets_defs.cli.runner import run_monitoring
from assets_defs.definitions import defs
from assets_defs.resources import GuapResource
from guap_pipeline import load_config
from guap_pipeline.engines import dask_engine as distributed
from guap_pipeline.ingest.staging import stage_landing
from guap_pipeline.steps import (
    build_day_profit,
    build_labeled,
    build_labels,
    build_predictions,
    dirty_days,
    quarantine,
)
from guap_pipeline.store.labeled import read_labeled
from guap_pipeline.store.store import Store
from tests.pipeline_data import AS_OF, labels_for, predictions_for, write_config

pytestmark = pytest.mark.slow  # a Dask cluster

pytest.importorskip("distributed")

DAY_TABLES = (
    "daily_quadrant_profit",
    "daily_cells",
    "threshold_hindsight",
    "threshold_curve",
    "quarantine_predictions",
    "quarantine_labels",
)


@pytest.fixture(autouse=True)
def clusters() -> Iterator[None]:
    """Each test's local cluster is closed at its end, not at the session's."""
    yield
    distributed.close_clients()


def fraud_landing(root: Path) -> Path:
    """Two days, two model versions, three prediction files with duplicates within and
    across files, labels that change (and some without ``labeled_at``), labels whose
    predictions are removed (orphans); returns the config path."""
    config = write_config(root)
    land = root / "landing"
    for day, seed in (("2026-10-01", 0), ("2026-10-02", 10)):
        first = predictions_for(day, 400, seed=seed + 1)
        first.loc[40:44, "prediction_id"] = first.loc[0:4, "prediction_id"].to_numpy()
        first.to_parquet(land / "predictions" / f"a-{day}.parquet")
        second = predictions_for(day, 200, seed=seed + 2, version="v2")
        second["prediction_id"] = "b-" + second["prediction_id"]
        second.loc[0:5, "prediction_id"] = first.loc[10:15, "prediction_id"].to_numpy()
        second.to_parquet(land / "predictions" / f"b-{day}.parquet")
        third = predictions_for(day, 150, seed=seed + 3, version="v2")
        third["prediction_id"] = "c-" + third["prediction_id"]
        third.loc[0:2, "prediction_id"] = second.loc[20:22, "prediction_id"].to_numpy()
        third.to_csv(land / "predictions" / f"c-{day}.csv", index=False)
        labels = labels_for(first, share=0.8, seed=seed + 4)
        labels.loc[labels.index[:6], "labeled_at"] = pd.NaT
        labels.to_parquet(land / "labels" / f"l-{day}.parquet")
        again = labels_for(first, share=0.3, seed=seed + 5)  # later, and some changed
        again["y_true"] = 1 - again["y_true"].where(np.arange(len(again)) % 2 == 0, 1)
        again.to_csv(land / "labels" / f"again-{day}.csv", index=False)
        labels_for(third, share=1.0, seed=seed + 6).to_parquet(land / "labels" / f"m-{day}.parquet")
    return config


def stage_twice(config_path: Path, removed: str) -> tuple[Store, list[str]]:
    """Stage the landing folder, remove a predictions file (its labels become orphans),
    stage again; the days to build."""
    config = load_config(config_path)
    store = Store(config.storage)
    stage_landing(config, store)
    for path in (config.landing / "predictions").glob(f"{removed}-*"):
        path.unlink()
    stage_landing(config, store)
    return store, dirty_days(store)


def build_embedded(config_path: Path, removed: str) -> Store:
    store, days = stage_twice(config_path, removed)
    config = load_config(config_path)
    for day in days:
        build_predictions(store, day)
        build_labels(store, day)
        build_labeled(store, day)
        build_day_profit(store, config, day)
    return store


def build_dask(config_path: Path, removed: str, engine: str) -> Store:
    config_path.write_text(config_path.read_text() + f"engine: {engine}\n")
    store, days = stage_twice(config_path, removed)
    config = load_config(config_path)
    assert config.engine.kind == "dask"
    for day in days:
        build_day_profit(store, config, day)
    return store


def assert_same_tables(embedded: Store, dask: Store, *, exact: bool) -> None:
    """Every day table equal: counts exactly, money exactly or to rounding of sums."""
    assert embedded.partitions("daily_quadrant_profit") == dask.partitions("daily_quadrant_profit")
    for day in embedded.partitions("daily_quadrant_profit"):
        for table in DAY_TABLES:
            want, got = embedded.read(table, day), dask.read(table, day)
            assert got is not None, (table, day)
            if len(want) == 0:
                assert len(got) == 0, (table, day)
                continue
            pd.testing.assert_frame_equal(
                got, want, check_exact=exact, rtol=1e-12, obj=f"{table} {day}"
            )


def test_engines_give_the_same_day_tables_with_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(distributed, "BUCKET_ROWS", 150)  # several buckets per worker
    embedded = build_embedded(fraud_landing(tmp_path / "embedded"), removed="c")
    dask = build_dask(fraud_landing(tmp_path / "dask"), removed="c", engine="{kind: dask}")
    assert_same_tables(embedded, dask, exact=False)
    # What the landing files hold, counted by hand: per day 5 in-file duplicates, 6 ids of
    # b first seen in a; the 150 labels of the removed file c, less the 3 ids c shares with
    # b, are orphans.
    reasons = quarantine(dask)["reason"]
    assert reasons.str.startswith("duplicate prediction_id").sum() == 2 * (5 + 6)
    assert reasons.str.contains("not among the day's predictions").sum() == 2 * (150 - 3)
    assert not (dask.root / "scratch").exists() or not any((dask.root / "scratch").iterdir())
    assert read_labeled(dask, "2026-10-01") is None  # no stale per-row table


def multiclass_landing(root: Path) -> Path:
    """Three classes, a baseline_pred status quo, whole-number values: sums are exact."""
    (root / "landing" / "predictions").mkdir(parents=True)
    (root / "landing" / "labels").mkdir(parents=True)
    config = root / "guap.yaml"
    config.write_text(
        "landing: ./landing\nstorage: ./store\nstart_date: 2026-10-01\n"
        "classes: [low, mid, high]\nbaseline: baseline_pred\n"
        "value_matrix: [[3, -1, -4], [-2, 5, -1], [-6, -2, 9]]\n"
    )
    rng = np.random.default_rng(7)
    classes = np.array(["low", "mid", "high"])
    for part in range(3):
        n = 500
        frame = pd.DataFrame(
            {
                "prediction_id": [f"m{part}-{i}" for i in range(n)],
                "predicted_at": pd.Timestamp("2026-10-01", tz="UTC")
                + pd.to_timedelta(rng.integers(0, 2 * 86_400, n), unit="s"),
                "model_version": rng.choice(["v1", "v2"], n),
                "y_pred": rng.choice(classes, n),
                "baseline_pred": rng.choice(classes, n),
            }
        )
        if part:  # a few ids seen in an earlier file: duplicates
            frame.loc[:9, "prediction_id"] = [f"m0-{i}" for i in range(10)]
        frame.to_parquet(root / "landing" / "predictions" / f"p{part}.parquet")
        labels = frame.sample(frac=0.7, random_state=part)[["prediction_id", "predicted_at"]]
        labels = labels.assign(
            y_true=rng.choice(classes, len(labels)),
            labeled_at=labels["predicted_at"] + pd.Timedelta(days=2),
        ).drop(columns="predicted_at")
        labels.to_parquet(root / "landing" / "labels" / f"l{part}.parquet")
    return config


def test_multiclass_day_tables_are_exactly_equal_with_worker_threads(tmp_path: Path) -> None:
    embedded = build_embedded(multiclass_landing(tmp_path / "embedded"), removed="p2")
    dask = build_dask(
        multiclass_landing(tmp_path / "dask"),
        removed="p2",
        engine="{kind: dask, workers: 2, processes: false}",
    )
    assert_same_tables(embedded, dask, exact=True)
    assert len(embedded.read("daily_cells", "2026-10-01")) == 2 * 9  # two versions, 3 × 3


def test_dagster_run_on_the_dask_engine_gives_the_same_daily_summary(tmp_path: Path) -> None:
    summaries = {}
    for engine in ("embedded", "dask"):
        root = tmp_path / engine
        config = multiclass_landing(root)
        if engine == "dask":
            config.write_text(
                config.read_text() + "engine: {kind: dask, workers: 2, processes: false}\n"
            )
        guap = GuapResource(config_path=str(config), as_of=AS_OF)
        result = run_monitoring(defs, guap, dg.DagsterInstance.ephemeral())
        assert not result.did_nothing
        summaries[engine] = Store(root / "store").read("daily_summary")
    pd.testing.assert_frame_equal(summaries["dask"], summaries["embedded"])
    assert set(summaries["dask"]["date"].astype(str)) == {"2026-10-01", "2026-10-02"}


def test_binary_whole_number_matrix_gives_exactly_equal_hindsight(tmp_path: Path) -> None:
    """Whole-number values, and a false positive costing nothing: below the lowest-scored
    fraud the profit curve is flat over many scores and score ranges, where the highest
    threshold of equal profits wins. Every table, hindsight included, exactly equal."""
    stores = {}
    for engine in ("embedded", "dask"):
        config = fraud_landing(tmp_path / engine)
        text = config.read_text().split("value_matrix:")[0]
        config.write_text(text + "value_matrix: {tp: 12, fp: 0, fn: -9, tn: 0}\n")
        for path in (tmp_path / engine / "landing" / "predictions").glob("*.parquet"):
            frame = pd.read_parquet(path)
            frame["score"] = frame["score"].round(2)
            frame.to_parquet(path)
        stores[engine] = (
            build_embedded(config, removed="c")
            if engine == "embedded"
            else build_dask(config, removed="c", engine="{kind: dask, processes: false}")
        )
    assert_same_tables(stores["embedded"], stores["dask"], exact=True)
    assert len(stores["dask"].read("threshold_hindsight", "2026-10-02")) == 2
