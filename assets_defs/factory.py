"""The code location built from a config: every asset, check, job, schedule and sensor.

:func:`build_definitions` takes the config's path, so the partitions (start date, time
zone) and the resources follow it without an environment variable read at import; the
command line and tests call it, and :mod:`assets_defs.definitions` calls it for
``dagster dev``.
"""

import warnings
from pathlib import Path

import dagster as dg

# The project uses some beta and preview Dagster APIs knowingly (single-run backfills,
# partitioned checks); their maturity notes are for its developers, not for users' logs
# (`run`, `dagster dev`). Set before the assets are defined, where they fire.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

from assets_defs import assets, checks  # noqa: E402
from assets_defs.jobs import (  # noqa: E402
    daily_profit_job,
    ingest_landing_job,
    profit_timeseries_job,
)
from assets_defs.partitions import daily_partitions  # noqa: E402
from assets_defs.resources import AlertsResource, GuapResource, SourceResource  # noqa: E402
from assets_defs.schedules import daily_monitoring_schedule  # noqa: E402
from assets_defs.sensors import (  # noqa: E402
    freshness_sensor,
    landing_folder_sensor,
    run_failure_alert_sensor,
    stale_days_sensor,
)
from assets_defs.settings import load_config_if_present  # noqa: E402


def build_definitions(config_path: str | Path) -> dg.Definitions:
    """Definitions for the config at ``config_path`` (defaults when it does not exist yet)."""
    config = load_config_if_present(config_path)
    return dg.Definitions(
        assets=[
            assets.staged_landing_files,
            *assets.daily_assets(daily_partitions(config)),
            assets.profit_timeseries_and_flags,
            assets.profit_alerts,
        ],
        asset_checks=dg.load_asset_checks_from_modules([checks]),
        jobs=[ingest_landing_job, daily_profit_job, profit_timeseries_job],
        schedules=[daily_monitoring_schedule(config.timezone if config else "UTC")],
        sensors=[
            landing_folder_sensor,
            stale_days_sensor,
            run_failure_alert_sensor,
            freshness_sensor,
        ],
        resources={
            "guap": GuapResource(config_path=str(config_path)),
            "source": SourceResource(),
            "alerts": AlertsResource(),
        },
    )
