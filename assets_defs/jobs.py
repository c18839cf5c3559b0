"""Jobs a monitoring run is made of: stage the landing folder, rebuild days, restitch."""

from collections.abc import Sequence
from typing import NamedTuple

import dagster as dg

# What define_asset_job returns; Dagster does not export the class at its top level.
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition as AssetJob,
)

from assets_defs.assets import DAILY_ASSETS
from assets_defs.models import ModelKeys

INGEST_LANDING_JOB = "ingest_landing_job"
DAILY_PROFIT_JOB = "daily_profit_job"
PROFIT_TIMESERIES_JOB = "profit_timeseries_job"


class ModelJobs(NamedTuple):
    """One model's three jobs."""

    ingest_landing: AssetJob
    daily_profit: AssetJob
    profit_timeseries: AssetJob


def model_jobs(model: ModelKeys, freshness: Sequence[dg.AssetChecksDefinition]) -> ModelJobs:
    """The model's jobs, named under it; ``freshness`` are its freshness checks."""
    return ModelJobs(
        dg.define_asset_job(
            model.named(INGEST_LANDING_JOB),
            selection=dg.AssetSelection.assets(model.key("staged_landing_files")),
            description="Stage new or changed files of the landing folder.",
        ),
        dg.define_asset_job(
            model.named(DAILY_PROFIT_JOB),
            selection=dg.AssetSelection.assets(*(model.key(name) for name in DAILY_ASSETS)),
            description="Rebuild the given prediction days, from staged rows to daily money.",
        ),
        dg.define_asset_job(
            model.named(PROFIT_TIMESERIES_JOB),
            # Freshness is the sensor's to assess: run right after the write it would say
            # "The last update was  ago" (Dagster words a delta under a second as nothing).
            selection=dg.AssetSelection.assets(
                *(
                    model.key(name)
                    for name in ("profit_timeseries", "profit_flags", "profit_alerts")
                )
            )
            - dg.AssetSelection.checks(*freshness),
            description="Restitch the daily summary table and series, assess the flags, alert.",
        ),
    )
