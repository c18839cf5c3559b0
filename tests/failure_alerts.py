"""The run-failure sensor evaluated on a failed run, as Dagster's daemon evaluates it."""

import dagster as dg

from assets_defs.resources import AlertsResource


def alert_failed_run(
    sensor: dg.SensorDefinition,
    failed: dg.ExecuteInProcessResult,
    instance: dg.DagsterInstance,
) -> None:
    """Evaluate ``sensor`` on ``failed``'s run, with the default alerts (the log only)."""
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=failed.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(failed.run_id),
        resources={"alerts": AlertsResource()},
    ).for_run_failure()
    sensor(context)
