"""The daily monitoring schedule: stage whatever landed, every morning, as a safety net."""

import dagster as dg

from assets_defs.jobs import AssetJob
from assets_defs.models import ModelKeys


def daily_monitoring_schedule(
    timezone: str, job: AssetJob, model: ModelKeys
) -> dg.ScheduleDefinition:
    """06:00 in the model's time zone."""
    return dg.ScheduleDefinition(
        name=model.named("daily_monitoring_schedule"),
        job=job,
        cron_schedule="0 6 * * *",
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="06:00 daily: stage the landing folder; the stale-days sensor does the rest.",
    )
