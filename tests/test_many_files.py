"""Real landing folders as they come: many daily files in one run, labels that match
nothing, a landing folder that is not there."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from guap_pipeline import load_config
from guap_pipeline.landing import KINDS, read_staged, stage_landing, staged_days
from guap_pipeline.storage import DUCKDB_MEMORY_ENV, Store
from tests.pipeline_data import days, labels_for, predictions_for, write_config

# Daily files of a user's size. Before routing read every labels file in a scan of its
# own, 20 of them ran out of a 128 MB DuckDB budget (~8 MiB per scan: 1 GB at ~120).
N_FILES, ROWS_PER_FILE = 25, 1300
SMALL_BUDGET = "128MB"


def land_daily_files(landing: Path, n_days: int) -> dict[str, set[str]]:
    """One predictions file and one labels file per day (every prediction labeled);
    returns the prediction ids generated for each day."""
    ids = {}
    for i, day in enumerate(days("2026-10-01", n_days)):
        predictions = predictions_for(day, ROWS_PER_FILE, seed=i)
        predictions.to_parquet(landing / "predictions" / f"p_{day}.parquet")
        labels_for(predictions, share=1.0, seed=i).to_parquet(
            landing / "labels" / f"l_{day}.parquet"
        )
        ids[day] = set(predictions["prediction_id"])
    return ids


def staged_tables(store: Store) -> dict[tuple[str, str], pd.DataFrame]:
    return {
        (kind, day): read_staged(store, kind, day) for day in staged_days(store) for kind in KINDS
    }


def test_many_daily_files_stage_in_one_run_as_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DUCKDB_MEMORY_ENV, SMALL_BUDGET)
    all_at_once, one_by_one = tmp_path / "all", tmp_path / "one"
    write_config(all_at_once)
    ids = land_daily_files(all_at_once / "landing", N_FILES)
    config = load_config(all_at_once / "guap.yaml")
    store = Store(config.storage)
    report = stage_landing(config, store)  # raised DuckDB's OutOfMemoryException
    assert report.dirty_days == set(ids)

    write_config(one_by_one)
    config_one = load_config(one_by_one / "guap.yaml")
    store_one = Store(config_one.storage)
    for day in sorted(ids):  # a day's predictions and labels land, then are staged
        for kind, prefix in zip(KINDS, "pl", strict=True):
            name = f"{prefix}_{day}.parquet"
            shutil.copy(all_at_once / "landing" / kind / name, one_by_one / "landing" / kind / name)
        stage_landing(config_one, store_one)

    tables, tables_one = staged_tables(store), staged_tables(store_one)
    assert sorted(tables) == sorted(tables_one) == sorted((k, d) for d in ids for k in KINDS)
    for key, table in tables.items():
        pd.testing.assert_frame_equal(table, tables_one[key])
    for day, day_ids in ids.items():  # each label is routed to its own prediction's day
        assert set(tables["labels", day]["prediction_id"]) == day_ids
