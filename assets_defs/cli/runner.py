"""Run the monitoring pipeline in-process on a persistent Dagster instance.

The same plan the sensors follow, executed synchronously: stage the landing folder if
it changed, rebuild each run of consecutive stale days as one range run, restitch the
series. A second call with no new input launches nothing.
"""

import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy

from assets_defs.assets import DELIVERY, STAGE_REPORT
from assets_defs.cli.sqlite_engines import reused_sqlite_engines
from assets_defs.cli.summary import RunSummary, retry_pending_alerts
from assets_defs.failures import failure_cause
from assets_defs.jobs import DAILY_PROFIT_JOB, INGEST_LANDING_JOB, PROFIT_TIMESERIES_JOB
from assets_defs.models import SINGLE, ModelKeys
from assets_defs.partitions import daily_partitions
from assets_defs.resources import AlertsResource, GuapResource
from assets_defs.sensors import range_tags
from guap_pipeline.errors import GuapError
from guap_pipeline.ingest.stage_report import StageReport
from guap_pipeline.steps import day_quarantine, plan

INSTANCE_YAML = "telemetry:\n  enabled: false\n"
# Dagster's log is for the UI. The command line says what went wrong in its own lines: a
# failed step as one error naming its cause (failure_cause), undelivered alerts from
# profit_alerts' metadata; Dagster's ERROR line would add the step's whole stack trace.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def persistent_instance(storage: Path) -> dg.DagsterInstance:
    """``$DAGSTER_HOME``'s instance if set, else one kept under the store's folder; a
    folder without a ``dagster.yaml`` gets one with Dagster's telemetry off (no banner)."""
    given = os.environ.get("DAGSTER_HOME")
    home = Path(given) if given else storage / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)
    return dg.DagsterInstance.get() if given else dg.DagsterInstance.from_config(str(home))


@contextmanager
def quick_sqlite_commits() -> Iterator[None]:
    """While the block runs, Dagster's SQLite files (WAL mode) commit without an fsync
    and stay open between events.

    Dagster's SQLite storages open and close a connection for every event. Closing the
    last connection to a WAL database checkpoints it into the main file and deletes the
    WAL, and every commit waits for an fsync: together most of a range run's bookkeeping
    (eight events a day). Here one extra connection per file stays open, so a close is
    only a close, and ``synchronous=NORMAL`` makes a commit a write to the WAL. A crash
    of this process loses nothing; a power cut may lose the last events but never
    corrupts the file (SQLite's guarantee in WAL mode), and the store, not Dagster's
    log, says which days are built, so the next run redoes what is missing. Other
    databases (in-memory, PostgreSQL) are left alone.
    """
    keepers: dict[str, sqlite3.Connection] = {}
    lock = threading.Lock()

    def on_connect(connection: object, _record: object) -> None:
        if not isinstance(connection, sqlite3.Connection):
            return
        try:
            path = connection.execute("PRAGMA database_list").fetchone()[2]
            if path in keepers:  # known to be in WAL mode: one statement per connection
                connection.execute("PRAGMA synchronous=NORMAL")
                return
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                return  # a new file (Dagster switches it to WAL next), or in memory
            connection.execute("PRAGMA synchronous=NORMAL")
            with lock:
                if path and path not in keepers:
                    keeper = sqlite3.connect(path, timeout=30, check_same_thread=False)
                    keeper.execute("SELECT count(*) FROM sqlite_master").fetchone()  # joins the WAL
                    keepers[path] = keeper
        except sqlite3.Error:
            pass  # only a speed-up: Dagster's own connection works without it

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", on_connect)
    try:
        yield
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "connect", on_connect)
        with lock:
            for keeper in keepers.values():
                keeper.close()


def run_monitoring(
    defs: dg.Definitions,
    guap: GuapResource,
    instance: dg.DagsterInstance,
    *,
    model: ModelKeys = SINGLE,
    progress: Callable[[str], None] = lambda _: None,
) -> RunSummary:
    """Materialize whatever of ``model`` is missing or stale; raise GuapError naming a
    failed step. ``guap`` is the deployment's resource, as the definitions bind it."""
    mine = model.resource(guap)
    config, store = mine.config(), mine.store()
    as_of: dt.date = mine.today()
    last = daily_partitions(config).get_last_partition_key()
    summary = RunSummary()

    def execute(job_name: str, what: str, **kwargs: object) -> dg.ExecuteInProcessResult:
        progress(what)
        with quick_sqlite_commits(), reused_sqlite_engines():
            result = defs.resolve_job_def(job_name).execute_in_process(
                instance=instance,
                resources={"guap": guap, "alerts": AlertsResource()},
                run_config=QUIET_LOGS,
                raise_on_error=False,
                **kwargs,
            )
        if not result.success:
            cause = failure_cause(result.all_events, result.get_run_failure_event())
            raise GuapError(f"{what} failed (run {result.run_id[:8]}): {cause}")
        return result

    if plan(config, store, as_of=as_of, last_partition=last).stage:
        what = "reading new database rows" if config.source else "staging new landing files"
        staged = execute(model.named(INGEST_LANDING_JOB), what)
        summary.staged, summary.staging = True, stage_report(staged, model)
    todo = plan(config, store, as_of=as_of, last_partition=last, staged=True)
    summary.out_of_range_days = todo.out_of_range_days
    for first, last_day in todo.day_ranges:
        if first == last_day:
            execute(model.named(DAILY_PROFIT_JOB), f"building day {first}", partition_key=first)
        else:
            execute(
                model.named(DAILY_PROFIT_JOB),
                f"building days {first} .. {last_day}",
                tags=range_tags(first, last_day),
            )
        summary.day_ranges.append((first, last_day))
    if todo.timeseries:
        series = execute(
            model.named(PROFIT_TIMESERIES_JOB), "stitching the daily summary and profit series"
        )
        summary.timeseries = True
        if delivery := materialized(series, model.named("profit_alerts"), DELIVERY):
            progress(delivery)
    else:  # profit_alerts did not run
        retry_pending_alerts(store, AlertsResource().notifiers(), progress)
    if summary.staging is not None:  # duplicates are found when a day is built
        touched = sorted(summary.staging.dirty_days.intersection(summary.days_built))
        summary.staging.add_day_quarantine(day_quarantine(store, touched))
    return summary


def stage_report(result: dg.ExecuteInProcessResult, model: ModelKeys) -> StageReport | None:
    """The staging pass's report, read back from its materialization's metadata."""
    report = materialized(result, model.named("staged_landing_files"), STAGE_REPORT)
    return None if report is None else StageReport.from_dict(report)


def materialized(result: dg.ExecuteInProcessResult, node: str, key: str) -> object:
    """The value of metadata ``key`` of ``node``'s materialization in ``result``, if any."""
    for materialization in result.asset_materializations_for_node(node):
        if key in materialization.metadata:
            return materialization.metadata[key].value
    return None
