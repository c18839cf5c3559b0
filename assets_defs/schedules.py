"""The daily monitoring schedule: stage whatever landed, every morning, as a safety net."""

import dagster as dg

from assets_defs.jobs import ingest_landing_job


def daily_monitoring_schedule(timezone: str) -> dg.ScheduleDefinition:
    """06:00 in the config's time zone."""
    return dg.ScheduleDefinition(
        name="daily_monitoring_schedule",
        job=ingest_landing_job,
        cron_schedule="0 6 * * *",
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="06:00 daily: stage the landing folder; the stale-days sensor does the rest.",
    )
