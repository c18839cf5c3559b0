"""The guap-pipeline code location: every asset, check, job, schedule and sensor."""

import warnings

import dagster as dg

# The project uses some beta and preview Dagster APIs knowingly (single-run backfills,
# partitioned checks); their maturity notes are for its developers, not for users' logs
# (`run`, `dagster dev`). Set before the assets below are defined, where they fire.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

from assets_defs import assets, checks  # noqa: E402
from assets_defs.jobs import (  # noqa: E402
    daily_profit_job,
    ingest_landing_job,
    profit_timeseries_job,
)
from assets_defs.resources import AlertsResource, GuapResource, SourceResource  # noqa: E402
from assets_defs.schedules import daily_monitoring_schedule  # noqa: E402
from assets_defs.sensors import (  # noqa: E402
    landing_folder_sensor,
    run_failure_alert_sensor,
    stale_days_sensor,
)
from assets_defs.settings import config_path  # noqa: E402

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
    resources={
        "guap": GuapResource(config_path=config_path()),
        "source": SourceResource(),
        "alerts": AlertsResource(),
    },
)
