"""The production instance (deploy/dagster.yaml) on a real PostgreSQL server.

Concurrent day runs from separate processes, the late-label path driven by the sensors,
the schedule, the run-failure alert and the run queue's limits, all against one
Postgres-backed instance per test. Needs ``DAGSTER_PG_*`` (see tests/pg_support.py).
"""

import datetime as dt
import itertools
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from assets_defs.cli.runner import QUIET_LOGS
from assets_defs.definitions import defs
from assets_defs.resources import AlertsResource, GuapResource
from assets_defs.sensors import (
    landing_folder_sensor,
    range_tags,
    run_failure_alert_sensor,
    stale_days_sensor,
)
from guap_pipeline import load_config
from guap_pipeline.store.store import Store
from tests.failure_alerts import alert_failed_run
from tests.pg_support import DEPLOY_YAML, postgres_home
from tests.pipeline_data import AS_OF, days, labels_for, predictions_for, write_config
from tests.test_convergence import monitoring_run

pytestmark = pytest.mark.slow  # a PostgreSQL-backed Dagster instance

DAYS = days("2026-10-01", 3)
CREDENTIALS = {
    "hostname": "DAGSTER_PG_HOST",
    "port": "DAGSTER_PG_PORT",
    "db_name": "DAGSTER_PG_DB",
    "username": "DAGSTER_PG_USERNAME",
    "password": "DAGSTER_PG_PASSWORD",
}


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """deploy/dagster.yaml, verbatim, as ``$DAGSTER_HOME`` on a fresh database."""
    with (
        postgres_home(tmp_path / "dagster_home", monkeypatch) as home,
        dg.DagsterInstance.from_config(str(home)) as instance,
    ):
        yield instance


def write_landing(root: Path) -> Path:
    """Three days of predictions, labels for the first two."""
    config = write_config(root)
    for i, day in enumerate(DAYS):
        preds = predictions_for(day, 400, seed=i)
        preds.to_parquet(root / "landing" / "predictions" / f"p_{day}.parquet")
        if i < 2:
            labels_for(preds, share=0.9, seed=50 + i).to_parquet(
                root / "landing" / "labels" / f"l_{day}.parquet"
            )
    return config


def execute(
    instance: dg.DagsterInstance, guap: GuapResource, job: str, **kwargs: object
) -> dg.ExecuteInProcessResult:
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance,
        resources={"guap": guap, "alerts": AlertsResource()},
        run_config=QUIET_LOGS,
        **kwargs,
    )
    assert result.success, job
    return result


def materialized(instance: dg.DagsterInstance, asset: str) -> pd.Series:
    """How many times each partition of ``asset`` was materialized on ``instance``."""
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
    return pd.Series([r.partition_key for r in records], dtype=object).value_counts()


def test_deploy_instance_is_postgres_with_a_run_queue(instance: dg.DagsterInstance) -> None:
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    queue = instance.get_concurrency_config().run_queue_config
    assert 1 <= queue.max_concurrent_runs <= 8
    limited = {limit["key"] for limit in queue.tag_concurrency_limits}
    assert {"dagster/partition", "dagster/asset_partition_range_start"} <= limited
    assert {"dagster/backfill", "dagster/sensor_name"} <= limited
    assert instance.run_monitoring_enabled
    settings = yaml.safe_load(DEPLOY_YAML.read_text())
    assert settings["telemetry"] == {"enabled": False}
    database = settings["storage"]["postgres"]["postgres_db"]
    assert {key: database[key] for key in CREDENTIALS} == {
        key: {"env": name} for key, name in CREDENTIALS.items()
    }
    # The instance reference Dagster hands to every run worker names the variables only.
    reference = dg.serialize_value(instance.get_ref())
    assert "DAGSTER_PG_PASSWORD" in reference
    assert os.environ["DAGSTER_PG_PASSWORD"] not in reference


def test_run_queue_starts_day_rebuilds_within_the_limits(instance: dg.DagsterInstance) -> None:
    """What the daemon would start from bursts of queued runs on this instance.

    Uses the daemon's own selection (a private method, Dagster pinned to 1.13.27).
    """
    from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteRepositoryOrigin
    from dagster._core.run_coordinator import SubmitRunContext
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
        QueuedRunCoordinatorDaemon,
    )

    location = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("guap"), "__repository__")
    staging = {"dagster/sensor_name": landing_folder_sensor.name}

    def queue(*runs: tuple[str, dict[str, str]]) -> list[str]:
        """Queue the runs (FIFO), return which ones the daemon starts (as ``job:tag``)."""
        for run in instance.get_runs():
            instance.delete_run(run.run_id)
        for job, tags in runs:
            run = instance.create_run_for_job(
                defs.resolve_job_def(job), tags=tags, remote_job_origin=location.get_job_origin(job)
            )
            queued = instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))
            assert queued.status == dg.DagsterRunStatus.QUEUED  # nothing starts by itself
        with QueuedRunCoordinatorDaemon(interval_seconds=1) as daemon:
            chosen = daemon._get_runs_to_dequeue(
                instance, instance.get_concurrency_config(), fixed_iteration_time=None
            )
        keys = (
            "dagster/backfill",
            "dagster/partition",
            "dagster/sensor_name",
            "dagster/asset_partition_range_start",
        )
        return [f"{r.job_name}:{next(r.tags[k] for k in keys if k in r.tags)}" for r in chosen]

    # Six days asked one by one, then staging twice: 1 day and 1 staging start (2 slots).
    days_first = [("daily_profit_job", {"dagster/partition": d}) for d in DAYS * 2]
    started = queue(*days_first, ("ingest_landing_job", staging), ("ingest_landing_job", staging))
    assert sorted(started) == sorted(
        [f"daily_profit_job:{DAYS[0]}", "ingest_landing_job:landing_folder_sensor"]
    )
    # A backfill's range runs first: only 1 of them starts, the rest waits behind the others.
    backfill = {"dagster/backfill": "b1", **range_tags(DAYS[0], DAYS[-1])}
    started = queue(
        *[("daily_profit_job", backfill)] * 3,
        ("daily_profit_job", {"dagster/partition": DAYS[0]}),
        ("ingest_landing_job", staging),
    )
    assert started == ["daily_profit_job:b1", f"daily_profit_job:{DAYS[0]}"]
    # Two ranges of days from the stale-days sensor (no backfill): still one at a time.
    started = queue(
        ("daily_profit_job", range_tags(DAYS[0], DAYS[0])),
        ("daily_profit_job", range_tags(DAYS[1], DAYS[2])),
        ("ingest_landing_job", staging),
    )
    assert started == [f"daily_profit_job:{DAYS[0]}", "ingest_landing_job:landing_folder_sensor"]


def build_one_day(config: str, day: str, start) -> None:
    """A run worker: ``daily_profit_job`` for one day, on the instance of $DAGSTER_HOME."""
    with dg.DagsterInstance.get() as instance:
        start.wait(timeout=120)  # every worker loaded and the landing staged: go together
        execute(instance, GuapResource(config_path=config, as_of=AS_OF), "daily_profit_job",
                partition_key=day)  # fmt: skip


def test_concurrent_runs_build_a_range_of_days(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    config = write_landing(tmp_path / "shared")
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(DAYS) + 1)
    workers = [
        context.Process(target=build_one_day, args=(str(config), day, start)) for day in DAYS
    ]
    for worker in workers:
        worker.start()  # they load while the landing folder is staged
    guap = GuapResource(config_path=str(config), as_of=AS_OF)
    execute(instance, guap, "ingest_landing_job")
    deadline = time.monotonic() + 180
    while start.n_waiting < len(DAYS):  # a worker that dies never reaches the barrier
        assert all(w.is_alive() for w in workers), [w.exitcode for w in workers]
        assert time.monotonic() < deadline, "run workers did not start"
        time.sleep(0.1)
    start.wait(timeout=10)
    for worker in workers:
        worker.join(timeout=180)
    assert [worker.exitcode for worker in workers] == [0] * len(DAYS)

    runs = instance.get_run_records(dg.RunsFilter(job_name="daily_profit_job"))
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in runs) == DAYS
    assert {r.dagster_run.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
    assert any(  # the runs really overlapped in time
        a.start_time < b.end_time and b.start_time < a.end_time
        for a, b in itertools.combinations(runs, 2)
    )
    counts = materialized(instance, "daily_quadrant_profit")
    assert sorted(counts.index) == DAYS
    assert (counts == 1).all()

    store = Store(load_config(config).storage)
    # The same landing folder built one day after the other, by the core alone.
    alone = write_landing(tmp_path / "alone")
    monitoring_run(alone)
    reference = Store(load_config(alone).storage)
    for day in DAYS:
        pd.testing.assert_frame_equal(
            store.read("daily_quadrant_profit", day), reference.read("daily_quadrant_profit", day)
        )


def test_late_labels_rebuild_exactly_their_day_through_the_sensors(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    config = write_landing(tmp_path)
    guap = GuapResource(config_path=str(config), as_of=AS_OF)
    execute(instance, guap, "ingest_landing_job")
    execute(instance, guap, "daily_profit_job", tags=range_tags(DAYS[0], DAYS[-1]))
    assert (materialized(instance, "daily_quadrant_profit") == 1).all()
    late_day = DAYS[2]
    preds = pd.read_parquet(tmp_path / "landing" / "predictions" / f"p_{late_day}.parquet")
    labels_for(preds, share=0.5, seed=9).to_parquet(
        tmp_path / "landing" / "labels" / "late.parquet"
    )

    launched = []
    with dg.build_sensor_context(instance=instance, resources={"guap": guap}) as context:
        [stage] = landing_folder_sensor(context).run_requests
        launched.append(execute(instance, guap, "ingest_landing_job", tags=stage.tags))
        [rebuild] = stale_days_sensor(context).run_requests
        assert rebuild.job_name == "daily_profit_job"
        assert rebuild.tags["dagster/asset_partition_range_start"] == late_day
        assert rebuild.tags["dagster/asset_partition_range_end"] == late_day
        launched.append(execute(instance, guap, rebuild.job_name, tags=rebuild.tags))
        [restitch] = stale_days_sensor(context).run_requests
        assert restitch.job_name == "profit_timeseries_job"
        launched.append(execute(instance, guap, restitch.job_name, tags=restitch.tags))
        assert not stale_days_sensor(context).run_requests  # every day is current

    counts = materialized(instance, "daily_quadrant_profit")
    assert counts[late_day] == 2
    assert (counts.drop(late_day) == 1).all()
    stored = {r.dagster_run.run_id for r in instance.get_run_records()}
    assert {result.run_id for result in launched} <= stored
    daily = Store(load_config(config).storage).read("daily_summary").set_index("date")
    assert daily.loc[late_day, "n_labeled"] == 200


def test_schedule_and_failure_alert_on_postgres(
    instance: dg.DagsterInstance, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_landing(tmp_path)
    guap = GuapResource(config_path=str(config), as_of=AS_OF)
    schedule = defs.resolve_schedule_def("daily_monitoring_schedule")
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=dt.datetime(2026, 10, 21, 6, tzinfo=dt.UTC)
    )
    [request] = schedule.evaluate_tick(context).run_requests
    result = execute(instance, guap, schedule.job_name, tags=request.tags)
    staged = instance.get_latest_materialization_event(dg.AssetKey("staged_landing_files"))
    assert staged.run_id == result.run_id
    assert staged.asset_materialization.metadata["files_added"].value == 5

    broken = GuapResource(config_path=str(tmp_path / "missing.yaml"), as_of=AS_OF)
    failed = defs.resolve_job_def("ingest_landing_job").execute_in_process(
        instance=instance, resources={"guap": broken}, raise_on_error=False
    )
    assert instance.get_run_by_id(failed.run_id).status == dg.DagsterRunStatus.FAILURE
    with caplog.at_level("ERROR", logger="guap_pipeline.alerts.incidents"):
        alert_failed_run(run_failure_alert_sensor, failed, instance)
    assert f"monitoring run {failed.run_id[:8]} of ingest_landing_job failed" in caplog.text
