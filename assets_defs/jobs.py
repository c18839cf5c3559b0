"""Jobs a monitoring run is made of: stage the landing folder, rebuild days, restitch."""

import dagster as dg

from assets_defs.assets import (
    DAILY_ASSETS,
    profit_alerts,
    profit_timeseries_and_flags,
    staged_landing_files,
)
from assets_defs.checks import freshness_checks

ingest_landing_job = dg.define_asset_job(
    "ingest_landing_job",
    selection=[staged_landing_files],
    description="Stage new or changed files of the landing folder.",
)
daily_profit_job = dg.define_asset_job(
    "daily_profit_job",
    selection=dg.AssetSelection.assets(*DAILY_ASSETS),
    description="Rebuild the given prediction days, from staged rows to daily money.",
)
profit_timeseries_job = dg.define_asset_job(
    "profit_timeseries_job",
    # Freshness is the sensor's to assess: run right after the write it would say
    # "The last update was  ago" (Dagster words a delta under a second as nothing).
    selection=dg.AssetSelection.assets(profit_timeseries_and_flags, profit_alerts)
    - dg.AssetSelection.checks(*freshness_checks),
    description="Restitch the daily summary table and series, assess the flags, alert.",
)
