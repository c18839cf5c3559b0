"""The asset graph materialized in-process: days, ranges, late labels, idempotent re-runs."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy

from assets_defs.cli import main
from assets_defs.cli.runner import persistent_instance, quick_sqlite_commits, run_monitoring
from assets_defs.definitions import defs
from assets_defs.resources import GuapResource
from guap_pipeline import account, load_config
from guap_pipeline.series.daily_table import DAILY_COLUMNS
from guap_pipeline.store.store import Store
from tests.pipeline_data import AS_OF, days, labels_for, predictions_for, write_config

pytestmark = pytest.mark.slow  # Dagster runs of the whole pipeline


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """Five days of predictions, labels for the first three, one file per day."""
    config = write_config(tmp_path)
    for i, day in enumerate(days("2026-10-01", 5)):
        preds = predictions_for(day, 300, seed=i)
        preds.to_parquet(tmp_path / "landing" / "predictions" / f"p_{day}.parquet")
        if i < 3:
            labels = labels_for(preds, share=0.95, seed=100 + i)
            labels.to_csv(tmp_path / "landing" / "labels" / f"l_{day}.csv", index=False)
    return config


def run(config: Path, instance: dg.DagsterInstance):
    guap = GuapResource(config_path=str(config), as_of=AS_OF)
    return run_monitoring(defs, guap, instance)


def materialized_days(instance: dg.DagsterInstance, asset: str) -> list[str]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
    return sorted(r.partition_key for r in records)


def test_first_run_builds_every_day_as_one_range(landing: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    summary = run(landing, instance)
    assert summary.staged
    assert summary.day_ranges == [("2026-10-01", "2026-10-05")]
    assert summary.timeseries
    assert materialized_days(instance, "daily_quadrant_profit") == days("2026-10-01", 5)
    daily = Store(load_config(landing).storage).read("daily_summary")
    assert list(daily.columns) == list(DAILY_COLUMNS)
    assert daily["date"].tolist() == days("2026-10-01", 5)


def test_range_run_gives_each_day_its_own_figures(landing: Path) -> None:
    """The UI plots materialization metadata by partition: in a range run each day's
    materialization must carry that day's figures, not copies of one value."""
    instance = dg.DagsterInstance.ephemeral()
    run(landing, instance)
    records = instance.fetch_materializations(
        dg.AssetKey("daily_quadrant_profit"), limit=1000
    ).records
    by_day = {r.partition_key: r.asset_materialization.metadata for r in records}
    daily = Store(load_config(landing).storage).read("daily_summary").set_index("date")
    for day, metadata in by_day.items():
        row = daily.loc[day]
        assert metadata["volume v1 (predictions)"].value == row["n_predictions"]
        if row["mature"]:  # profit is plotted once final; a day still labeling is a gap
            assert metadata["profit v1"].value == round(row["profit"])
            assert metadata["uplift v1"].value == round(row["uplift"])
        else:
            assert "profit v1" not in metadata
            built = f"no label yet on {AS_OF} for its 300 predictions"  # as of the run
            assert metadata["v1"].value.startswith(built)
    # 285 of 300 labeled, and none yet
    assert {m["with labels v1 (%)"].value for m in by_day.values()} == {95.0, 0.0}
    assert "TP" in by_day["2026-10-01"]["quadrants"].value
    assert not instance.fetch_observations(dg.AssetKey("daily_quadrant_profit"), limit=1).records


def test_second_run_with_no_new_input_does_nothing(landing: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    run(landing, instance)
    before = len(instance.get_run_records())
    summary = run(landing, instance)
    assert summary.did_nothing
    assert len(instance.get_run_records()) == before


def test_late_labels_rebuild_exactly_their_day(landing: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    run(landing, instance)
    store = Store(load_config(landing).storage)
    old = store.read("daily_summary").set_index("date")
    late_day = "2026-10-04"
    preds = pd.read_parquet(landing.parent / "landing" / "predictions" / f"p_{late_day}.parquet")
    labels_for(preds, share=0.5, seed=7).to_parquet(
        landing.parent / "landing" / "labels" / "late_batch.parquet"
    )

    summary = run(landing, instance)

    assert summary.day_ranges == [(late_day, late_day)]
    counts = pd.Series(materialized_days(instance, "daily_quadrant_profit")).value_counts()
    assert counts[late_day] == 2
    assert (counts.drop(late_day) == 1).all()
    new = store.read("daily_summary").set_index("date")
    assert new.loc[late_day, "n_labeled"] == 150
    assert old.loc[late_day, "n_labeled"] == 0
    untouched = [d for d in new.index if d != late_day]
    own_figures = new.columns.drop(["cumulative_net_profit", "roi"])  # running sums move
    pd.testing.assert_frame_equal(new.loc[untouched, own_figures], old.loc[untouched, own_figures])


def test_cli_run_records_every_day_on_the_persistent_instance(landing: Path) -> None:
    """The command line's SQLite instance (quick commits while runs execute) holds every
    day's materialization afterwards, and a second run does nothing."""
    assert main(["run", "--config", str(landing), "--as-of", AS_OF]) == 0
    storage = load_config(landing).storage
    with persistent_instance(storage) as instance:
        assert materialized_days(instance, "daily_quadrant_profit") == days("2026-10-01", 5)
        runs = len(instance.get_run_records())
        assert run(landing, instance).did_nothing
        assert len(instance.get_run_records()) == runs
    assert not list((storage / "dagster_home").rglob("*.db-wal"))  # all checkpointed


def test_quick_sqlite_commits_applies_inside_the_block_only(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}", poolclass=sqlalchemy.pool.NullPool)

    def synchronous() -> int:
        with engine.connect() as connection:
            return connection.exec_driver_sql("PRAGMA synchronous").scalar()

    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        connection.exec_driver_sql("CREATE TABLE event (id INTEGER)")
        connection.commit()
    with quick_sqlite_commits():
        assert synchronous() == 1  # NORMAL: no fsync per commit in WAL mode
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO event VALUES (1)")
        assert Path(f"{path}-wal").exists()  # kept open: a close does not checkpoint
    assert synchronous() == 2  # FULL again: the listener is gone
    assert not Path(f"{path}-wal").exists()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM event").scalar() == 1


def test_single_day_materializes_through_dagster(landing: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    guap = GuapResource(config_path=str(landing), as_of=AS_OF)
    defs.resolve_job_def("ingest_landing_job").execute_in_process(
        instance=instance, resources={"guap": guap}
    )
    result = defs.resolve_job_def("daily_profit_job").execute_in_process(
        instance=instance, resources={"guap": guap}, partition_key="2026-10-02"
    )
    assert result.success
    [event] = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("daily_quadrant_profit")
    ]
    metadata = event.materialization.metadata
    # per model version (one here): volume and label coverage plotted, the quadrants listed
    [volume] = [v.value for k, v in metadata.items() if k.startswith("volume ")]
    [labeled] = [v.value for k, v in metadata.items() if k.startswith("with labels ")]
    assert volume == 300
    assert labeled == pytest.approx(95.0, abs=1.0)
    assert "TP" in metadata["quadrants"].value


def reference_daily(config_path: Path) -> pd.DataFrame:
    """The daily figures computed straight from the raw landing files with the core."""
    config = load_config(config_path)
    preds = pd.concat(
        pd.read_parquet(p) for p in sorted((config.landing / "predictions").glob("*.parquet"))
    )
    labels = pd.concat(pd.read_csv(p) for p in sorted((config.landing / "labels").glob("*.csv")))
    labels["prediction_id"] = labels["prediction_id"].astype(str)
    preds["date"] = preds["predicted_at"].dt.strftime("%Y-%m-%d")
    joined = preds.merge(labels[["prediction_id", "y_true"]], on="prediction_id", how="left")
    accounts = account(
        joined,
        config.value_matrix,
        by=["date", "model_version"],
        baseline=config.baseline,
        positive_class=config.positive_class,
    )
    return accounts.summary(config.positive_class)


def test_exported_daily_table_equals_core_figures_from_raw_files(
    landing: Path, tmp_path: Path
) -> None:
    assert main(["run", "--config", str(landing), "--as-of", AS_OF]) == 0
    output = tmp_path / "daily.csv"
    assert main(["export", "daily", "--config", str(landing), "--output", str(output)]) == 0
    exported = pd.read_csv(output)
    assert list(exported.columns) == list(DAILY_COLUMNS)
    expected = reference_daily(landing)
    for column in expected.columns.drop(["date", "model_version"]):
        pd.testing.assert_series_equal(
            exported[column].astype(float), expected[column].astype(float), check_names=False
        )


def test_run_reports_a_bad_config_clearly(tmp_path: Path, capsys) -> None:
    config = tmp_path / "guap.yaml"
    config.write_text("value_matrix: {tp: 1, fp: 0, fn: 0, tx: 0}\n")
    assert main(["run", "--config", str(config)]) == 1
    assert "value_matrix" in capsys.readouterr().err


MULTICLASS = """\
landing: ./landing
storage: ./store
start_date: 2026-10-01
classes: [low, mid, high]
baseline: baseline_pred
value_matrix: [[0, -5, -20], [-10, 8, -5], [-40, -10, 30]]
"""


def test_multiclass_exports_the_cell_table_equal_to_the_core(tmp_path: Path) -> None:
    (tmp_path / "landing" / "predictions").mkdir(parents=True)
    (tmp_path / "landing" / "labels").mkdir(parents=True)
    config = tmp_path / "guap.yaml"
    config.write_text(MULTICLASS)
    rng = np.random.default_rng(4)
    classes = np.array(["low", "mid", "high"])
    preds = pd.DataFrame(
        {
            "prediction_id": [f"m{i}" for i in range(600)],
            "predicted_at": pd.Timestamp("2026-10-02", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 2 * 86_400, 600), unit="s"),
            "y_pred": classes[rng.integers(0, 3, 600)],
            "baseline_pred": "low",
        }
    )
    preds.to_csv(tmp_path / "landing" / "predictions" / "p.csv", index=False)
    labels = pd.DataFrame(
        {"prediction_id": preds["prediction_id"], "y_true": classes[rng.integers(0, 3, 600)]}
    )
    labels.to_csv(tmp_path / "landing" / "labels" / "l.csv", index=False)

    assert main(["run", "--config", str(config), "--as-of", AS_OF]) == 0
    assert (
        main(["export", "cells", "--config", str(config), "--output", str(tmp_path / "c.csv")]) == 0
    )
    assert (
        main(["export", "daily", "--config", str(config), "--output", str(tmp_path / "d.csv")]) == 0
    )

    cells = pd.read_csv(tmp_path / "c.csv")
    joined = preds.merge(labels, on="prediction_id")
    joined["date"] = joined["predicted_at"].dt.strftime("%Y-%m-%d")
    matrix = {"low": 0, "mid": 1, "high": 2}
    values = np.array([[0, -5, -20], [-10, 8, -5], [-40, -10, 30]])
    joined["value"] = values[joined["y_true"].map(matrix), joined["y_pred"].map(matrix)]
    expected = joined.groupby(["date", "y_true", "y_pred"]).agg(
        count=("value", "size"), value=("value", "sum")
    )
    got = cells.set_index(["date", "true_class", "predicted_class"])
    for key, row in expected.iterrows():
        assert got.loc[key, "count"] == row["count"]
        assert got.loc[key, "value"] == row["value"]
    assert len(cells) == 2 * 9  # two days, every cell present even when empty
    daily = pd.read_csv(tmp_path / "d.csv")
    assert daily["tp"].isna().all()  # no positive class: read the cells instead
    assert daily["profit"].sum() == joined["value"].sum()
