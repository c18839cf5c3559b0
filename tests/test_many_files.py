"""Real landing folders as they come: many daily files in one run, labels that match
nothing, a landing folder that is not there."""

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets_defs.cli import main
from assets_defs.resources import GuapResource
from assets_defs.sensors import landing_folder_sensor, stale_days_sensor
from guap_pipeline import load_config
from guap_pipeline.errors import ConfigError
from guap_pipeline.ingest.scan import KINDS
from guap_pipeline.ingest.staged import read_staged, staged_days
from guap_pipeline.ingest.staging import stage_landing
from guap_pipeline.steps import plan
from guap_pipeline.store.store import DUCKDB_MEMORY_ENV, Store
from tests.pipeline_data import AS_OF, days, labels_for, predictions_for, write_config

pytestmark = pytest.mark.slow  # hundreds of landing files

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


def write_labels(root: Path, y_true: list[str]) -> None:
    pd.DataFrame(
        {"prediction_id": [f"2026-10-01-{i}" for i in range(len(y_true))], "y_true": y_true}
    ).to_csv(root / "landing" / "labels" / "labels.csv", index=False)


@pytest.mark.parametrize("why", ["rejected", "no prediction"])
def test_labels_that_stage_no_row_leave_no_day(tmp_path: Path, why: str) -> None:
    write_config(tmp_path)
    if why == "rejected":
        predictions_for("2026-10-01", 3, seed=0).to_parquet(
            tmp_path / "landing" / "predictions" / "p.parquet"
        )
    write_labels(tmp_path, ["maybe", "maybe", "maybe"] if why == "rejected" else ["1", "0", "1"])
    config = load_config(tmp_path / "guap.yaml")
    store = Store(config.storage)
    report = stage_landing(config, store)
    assert staged_days(store) == (["2026-10-01"] if why == "rejected" else [])
    assert report.dirty_days == set(staged_days(store))
    todo = plan(config, store, as_of=dt.date(2026, 10, 20), last_partition="2026-10-19")
    assert todo.out_of_range_days == []


def test_only_days_with_staged_rows_are_outside_the_partitions(tmp_path: Path) -> None:
    write_config(tmp_path)
    for i, day in enumerate(["2026-10-01", "2026-10-25"]):
        predictions_for(day, 3, seed=i).to_parquet(
            tmp_path / "landing" / "predictions" / f"p_{day}.parquet"
        )
    config = load_config(tmp_path / "guap.yaml")
    store = Store(config.storage)
    stage_landing(config, store)
    leftover = store.root / "staging" / "labels" / "1970-01-01"  # as older versions left it
    leftover.mkdir(parents=True)
    pq.write_table(pa.table({"prediction_id": pa.array([], pa.string())}), leftover / "x.parquet")
    (store.root / "staging" / "predictions" / "1970-01-02").mkdir()
    todo = plan(config, store, as_of=dt.date(2026, 10, 20), last_partition="2026-10-19")
    assert todo.out_of_range_days == ["2026-10-25"]
    assert todo.day_ranges == [("2026-10-01", "2026-10-01")]


def test_a_fixed_labels_file_never_warns_of_days_outside_the_partitions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    predictions_for("2026-10-01", 3, seed=0).to_parquet(
        tmp_path / "landing" / "predictions" / "p.parquet"
    )
    write_labels(tmp_path, ["yes", "no", "yes"])  # not classes: every label rejected
    main(["run", "--config", str(config), "--as-of", AS_OF])
    write_labels(tmp_path, ["1", "0", "1"])
    main(["run", "--config", str(config), "--as-of", AS_OF])
    assert "outside the partitions" not in capsys.readouterr().err
    assert not (tmp_path / "store" / "staging" / "labels" / "1970-01-01").exists()
    assert (
        main(["export", "daily", "--config", str(config), "--output", str(tmp_path / "d.csv")]) == 0
    )
    daily = pd.read_csv(tmp_path / "d.csv")
    assert daily["date"].tolist() == ["2026-10-01"]
    assert daily["n_labeled"].tolist() == [3]


def test_a_landing_folder_that_does_not_exist_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    predictions_for("2026-10-01", 3, seed=0).to_parquet(
        tmp_path / "landing" / "predictions" / "p.parquet"
    )
    store = Store(tmp_path / "store")
    stage_landing(load_config(config), store)
    shutil.rmtree(tmp_path / "landing")  # a wrong path, an unmounted volume
    assert main(["run", "--config", str(config), "--as-of", AS_OF]) == 1
    assert len(read_staged(store, "predictions", "2026-10-01")) == 3  # not taken as deleted
    err = capsys.readouterr().err
    assert f"config field 'landing': {tmp_path / 'landing'} does not exist" in err
    assert "Traceback" not in err
    guap = GuapResource(config_path=str(config), as_of=AS_OF)
    with dg.build_sensor_context(resources={"guap": guap}) as context:
        for sensor in (landing_folder_sensor, stale_days_sensor):
            with pytest.raises(ConfigError, match=r"'landing': .* does not exist"):
                sensor(context)


def test_a_landing_folder_without_predictions_yet_is_nothing_to_do(tmp_path: Path) -> None:
    write_config(tmp_path)
    shutil.rmtree(tmp_path / "landing" / "predictions")
    config = load_config(tmp_path / "guap.yaml")
    store = Store(config.storage)
    assert (
        plan(config, store, as_of=dt.date(2026, 10, 20), last_partition="2026-10-19").stage is False
    )
