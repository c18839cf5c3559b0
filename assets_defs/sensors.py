"""Sensors: one watches the landing folder, one rebuilds the days whose inputs changed,
one alerts on failed runs, one evaluates the series' freshness.

The first two read only file stats and small manifests, so a tick is cheap. Run keys carry the
fingerprint of what they react to, so one change launches one run, however many ticks
see it.
"""

import hashlib
import json
import warnings

import dagster as dg
import pandas as pd

from assets_defs.checks import freshness_checks
from assets_defs.jobs import daily_profit_job, ingest_landing_job, profit_timeseries_job
from assets_defs.partitions import daily_partitions
from assets_defs.resources import AlertsResource, GuapResource
from guap_pipeline.alerts.delivery import deliver
from guap_pipeline.alerts.incidents import run_failure_alert
from guap_pipeline.ingest.database import input_changes
from guap_pipeline.ingest.staged import staged_days, staged_signature
from guap_pipeline.steps import BUILT, plan, series_state


def _digest(payload: object) -> str:
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def range_tags(first: str, last: str) -> dict[str, str]:
    """Tags that make one run materialize a whole range of daily partitions."""
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


@dg.sensor(
    job=ingest_landing_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Stages the landing folder when a file is added, changed or removed (or a "
    "database source when it has rows above its watermark).",
)
def landing_folder_sensor(
    context: dg.SensorEvaluationContext, guap: GuapResource
) -> dg.SensorResult:
    changes = input_changes(guap.config(), guap.store())
    if not any(changes.values()):
        return dg.SensorResult(skip_reason="landing folder unchanged", cursor=context.cursor)
    key = _digest(changes)
    if key == context.cursor:
        return dg.SensorResult(skip_reason="staging of these changes already requested")
    summary = {kind: len(files) for kind, files in changes.items()}
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=key, tags={"guap/changes": json.dumps(summary)})],
        cursor=key,
    )


@dg.sensor(
    jobs=[daily_profit_job, profit_timeseries_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuilds exactly the days whose staged inputs changed (late labels), then "
    "the time series.",
)
def stale_days_sensor(context: dg.SensorEvaluationContext, guap: GuapResource) -> dg.SensorResult:
    config, store = guap.config(), guap.store()
    todo = plan(
        config,
        store,
        as_of=guap.today(),
        last_partition=daily_partitions(config).get_last_partition_key(),
    )
    if todo.stage:  # staging changes days: rebuilding first would build some twice
        return dg.SensorResult(
            skip_reason="landing files are waiting to be staged (landing_folder_sensor's "
            "run stages them); the days they touch are rebuilt after that"
        )
    if not staged_days(store) and not store.read_json(BUILT):
        return dg.SensorResult(skip_reason="nothing is staged yet: the store is empty")
    requests = [
        dg.RunRequest(
            job_name=daily_profit_job.name,
            run_key=f"{first}..{last}:"
            + _digest([staged_signature(store, first), staged_signature(store, last)]),
            tags=range_tags(first, last),
        )
        for first, last in todo.day_ranges
    ]
    if not requests and todo.timeseries:
        state = series_state(store, guap.today())
        requests.append(dg.RunRequest(job_name=profit_timeseries_job.name, run_key=state))
    if not requests:
        return dg.SensorResult(skip_reason="every day is current")
    return dg.SensorResult(run_requests=requests)


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts (log, webhook) when a monitoring run fails, so nobody has to look.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerts: AlertsResource) -> None:
    run = context.dagster_run
    message = context.failure_event.message or "no message"
    alert = run_failure_alert(run.job_name, run.run_id, message)
    delivered = deliver(pd.DataFrame([alert]), alerts.notifiers(), backoff_seconds=1.0)
    if delivered["delivered_at"].isna().any():
        context.log.warning(f"run-failure alert not delivered: {delivered.loc[0, 'last_error']}")


with warnings.catch_warnings():
    # Superseded by FreshnessPolicy, which OSS cannot alert on; the check sensor can.
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=freshness_checks,
        minimum_interval_seconds=600,
        default_status=dg.DefaultSensorStatus.RUNNING,  # the README promises it
    )
