"""The guap-pipeline code location: every asset, check, job, schedule and sensor."""

import warnings

import dagster as dg

from assets_defs import assets, checks
from assets_defs.jobs import daily_profit_job, ingest_landing_job, profit_timeseries_job
from assets_defs.resources import AlertsResource, GuapResource
from assets_defs.schedules import daily_monitoring_schedule
from assets_defs.sensors import (
    landing_folder_sensor,
    run_failure_alert_sensor,
    stale_days_sensor,
)
from assets_defs.settings import config_path

with warnings.catch_warnings():
    # Superseded by FreshnessPolicy, which OSS cannot alert on; the check sensor can.
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=checks.freshness_checks, minimum_interval_seconds=600
    )

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([assets]),
    asset_checks=dg.load_asset_checks_from_modules([checks]),
    jobs=[ingest_landing_job, daily_profit_job, profit_timeseries_job],
    schedules=[daily_monitoring_schedule],
    sensors=[
        landing_folder_sensor,
        stale_days_sensor,
        run_failure_alert_sensor,
        freshness_sensor,
    ],
    resources={"guap": GuapResource(config_path=config_path()), "alerts": AlertsResource()},
)
