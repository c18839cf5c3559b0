"""The code location as Dagster loads it: wiring, schedule, and the sensors' ticks."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets_defs.cli.runner import run_monitoring
from assets_defs.definitions import defs
from assets_defs.factory import build_definitions
from assets_defs.resources import GuapResource
from assets_defs.sensors import landing_folder_sensor, run_failure_alert_sensor, stale_days_sensor
from tests.failure_alerts import alert_failed_run
from tests.pipeline_data import AS_OF, labels_for, predictions_for, write_config

pytestmark = pytest.mark.slow  # Dagster jobs executed in process


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {
        "staged_landing_files",
        "validated_predictions",
        "outcome_labels",
        "labeled_predictions",
        "daily_quadrant_profit",
        "profit_timeseries",
    } <= keys


def test_definitions_follow_the_config_they_are_built_from(tmp_path: Path) -> None:
    """No environment variable: the partitions and the resource follow the config given."""
    config = write_config(tmp_path)
    built = build_definitions(config)
    partitions = built.resolve_job_def("daily_profit_job").partitions_def
    assert partitions is not None
    assert partitions.get_first_partition_key() == "2026-10-01"  # write_config's start_date
    assert os.environ["GUAP_CONFIG"] != str(config)


def test_schedule_stages_the_landing_folder_every_morning() -> None:
    schedule = defs.resolve_schedule_def("daily_monitoring_schedule")
    assert schedule.cron_schedule == "0 6 * * *"
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 10, 2, 6, tzinfo=dt.UTC)
    )
    [request] = schedule.evaluate_tick(context).run_requests
    assert schedule.job_name == "ingest_landing_job"
    assert request.partition_key is None


def test_landing_sensor_fires_once_per_change(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    guap = GuapResource(config_path=str(config), as_of=AS_OF)
    with dg.build_sensor_context(resources={"guap": guap}) as context:
        assert not landing_folder_sensor(context).run_requests  # empty folder
        predictions_for("2026-10-01", 10, seed=1).to_parquet(
            tmp_path / "landing" / "predictions" / "a.parquet"
        )
        first = landing_folder_sensor(context)
        assert len(first.run_requests) == 1
        context.update_cursor(first.cursor)
        assert not landing_folder_sensor(context).run_requests  # same change: once


def test_stale_days_sensor_requests_only_the_day_a_late_label_touched(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    preds = {d: predictions_for(d, 20, seed=i) for i, d in enumerate(["2026-10-01", "2026-10-02"])}
    for day, frame in preds.items():
        frame.to_parquet(tmp_path / "landing" / "predictions" / f"{day}.parquet")
    guap = GuapResource(config_path=str(config), as_of=AS_OF)
    instance = dg.DagsterInstance.ephemeral()
    run_monitoring(defs, guap, instance)
    with dg.build_sensor_context(resources={"guap": guap}, instance=instance) as context:
        assert not stale_days_sensor(context).run_requests
        labels_for(preds["2026-10-01"], share=1.0, seed=3).to_parquet(
            tmp_path / "landing" / "labels" / "late.parquet"
        )
        defs.resolve_job_def("ingest_landing_job").execute_in_process(
            instance=instance, resources={"guap": guap}
        )
        [request] = stale_days_sensor(context).run_requests
    assert request.job_name == "daily_profit_job"
    assert request.tags["dagster/asset_partition_range_start"] == "2026-10-01"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-10-01"


def skip_message(result: dg.SensorResult) -> str:
    """Why a sensor tick launched nothing (and that it launched nothing)."""
    assert not result.run_requests
    assert result.skip_reason is not None
    return result.skip_reason.skip_message or ""


def test_stale_days_sensor_waits_until_something_is_staged(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    guap = GuapResource(config_path=str(config), as_of=AS_OF)
    instance = dg.DagsterInstance.ephemeral()
    with dg.build_sensor_context(resources={"guap": guap}, instance=instance) as context:
        assert skip_message(stale_days_sensor(context)) == (
            "nothing is staged yet: the store is empty"
        )
        predictions_for("2026-10-01", 20, seed=1).to_parquet(
            tmp_path / "landing" / "predictions" / "a.parquet"
        )
        assert "landing files are waiting to be staged" in skip_message(stale_days_sensor(context))
        defs.resolve_job_def("ingest_landing_job").execute_in_process(
            instance=instance, resources={"guap": guap}
        )
        [request] = stale_days_sensor(context).run_requests
        assert request.job_name == "daily_profit_job"
        assert request.tags["dagster/asset_partition_range_start"] == "2026-10-01"
        predictions_for("2026-10-02", 20, seed=2).to_parquet(
            tmp_path / "landing" / "predictions" / "b.parquet"
        )  # a day is still to build, but a new file comes first
        assert "landing files are waiting to be staged" in skip_message(stale_days_sensor(context))


def test_a_failed_run_is_alerted(tmp_path: Path, caplog) -> None:
    instance = dg.DagsterInstance.ephemeral()
    guap = GuapResource(config_path=str(tmp_path / "missing.yaml"), as_of=AS_OF)  # fails
    result = defs.resolve_job_def("ingest_landing_job").execute_in_process(
        instance=instance, resources={"guap": guap}, raise_on_error=False
    )
    assert not result.success
    with caplog.at_level("ERROR", logger="guap_pipeline.alerts.incidents"):
        alert_failed_run(run_failure_alert_sensor, result, instance)
    assert f"monitoring run {result.run_id[:8]} of ingest_landing_job failed" in caplog.text
    # why, in the error's own words: Dagster's failure event names only the step
    assert "step staged_landing_files: config field '<file>': cannot read" in caplog.text
    assert "missing.yaml: No such file or directory" in caplog.text


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [
            Path(sys.executable).parent / "dagster",
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=root,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "All code locations passed validation" in result.stderr + result.stdout
