"""Sensors: one watches the landing folder, one rebuilds the days whose inputs changed,
one alerts on failed runs (of any model), one evaluates the series' freshness; all but
the run-failure sensor are per model (:func:`model_sensors`).

The first two read only file stats and small manifests, so a tick is cheap. Run keys carry the
fingerprint of what they react to, so one change launches one run, however many ticks
see it.
"""

import hashlib
import json
import warnings
from collections.abc import Sequence

import dagster as dg
import pandas as pd

from assets_defs.checks import freshness_checks
from assets_defs.failures import failure_cause
from assets_defs.jobs import AssetJob, ModelJobs, model_jobs
from assets_defs.models import SINGLE, ModelKeys
from assets_defs.partitions import daily_partitions
from assets_defs.resources import AlertsResource, GuapResource
from guap_pipeline.alerts.delivery import deliver
from guap_pipeline.alerts.incidents import run_failure_alert
from guap_pipeline.ingest.source import input_changes
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


def model_sensors(
    model: ModelKeys, jobs: ModelJobs, freshness: Sequence[dg.AssetChecksDefinition]
) -> list[dg.SensorDefinition]:
    """One model's sensors, named under it: landing, stale days, freshness."""

    @dg.sensor(
        name=model.named("landing_folder_sensor"),
        job=jobs.ingest_landing,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Stages the landing folder when a file is added, changed or removed (or "
        "a database source when it has rows above its watermark).",
    )
    def landing_folder_sensor(
        context: dg.SensorEvaluationContext, guap: GuapResource
    ) -> dg.SensorResult:
        guap = model.resource(guap)
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
        name=model.named("stale_days_sensor"),
        jobs=[jobs.daily_profit, jobs.profit_timeseries],
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Rebuilds exactly the days whose staged inputs changed (late labels), "
        "then the time series.",
    )
    def stale_days_sensor(
        context: dg.SensorEvaluationContext, guap: GuapResource
    ) -> dg.SensorResult:
        guap = model.resource(guap)
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
                job_name=jobs.daily_profit.name,
                run_key=f"{first}..{last}:"
                + _digest([staged_signature(store, first), staged_signature(store, last)]),
                tags=range_tags(first, last),
            )
            for first, last in todo.day_ranges
        ]
        if not requests and todo.timeseries:
            state = series_state(store, guap.today())
            requests.append(dg.RunRequest(job_name=jobs.profit_timeseries.name, run_key=state))
        if not requests:
            return dg.SensorResult(skip_reason="every day is current")
        return dg.SensorResult(run_requests=requests)

    with warnings.catch_warnings():
        # Superseded by FreshnessPolicy, which OSS cannot alert on; the check sensor can.
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        freshness_sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=freshness,
            name=model.named("freshness_checks_sensor"),
            minimum_interval_seconds=600,
            default_status=dg.DefaultSensorStatus.RUNNING,  # the README promises it
        )
    return [landing_folder_sensor, stale_days_sensor, freshness_sensor]


def run_failure_alert_sensor_for(
    name: str = "run_failure_alert_sensor", jobs: Sequence[AssetJob] | None = None
) -> dg.SensorDefinition:
    """The sensor that alerts when a run fails: of any job of the code location, or of
    ``jobs`` only (a component's model, in a project whose other jobs are not its own)."""

    @dg.run_failure_sensor(
        name=name,
        monitored_jobs=jobs,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Alerts (log, webhook) when a monitoring run fails, so nobody has to look.",
    )
    def run_failure_alert_sensor(
        context: dg.RunFailureSensorContext, alerts: AlertsResource
    ) -> None:
        run = context.dagster_run
        reason = failure_cause(context.get_step_failure_events(), context.failure_event)
        model = ModelKeys.of_job(run.job_name)
        alert = run_failure_alert(run.job_name, run.run_id, reason, model=model)
        delivered = deliver(pd.DataFrame([alert]), alerts.notifiers(), backoff_seconds=1.0)
        if delivered["delivered_at"].isna().any():
            context.log.warning(
                f"run-failure alert not delivered: {delivered.loc[0, 'last_error']}"
            )

    return run_failure_alert_sensor


run_failure_alert_sensor = run_failure_alert_sensor_for()

# The single model's sensors, for tests that evaluate one directly.
landing_folder_sensor, stale_days_sensor, freshness_sensor = model_sensors(
    SINGLE, model_jobs(SINGLE, freshness_checks(SINGLE)), freshness_checks(SINGLE)
)
