"""What each Dagster asset calls: the build steps over the store (``build``), the record
of what each day was built from and the plan of what is stale (``freshness``), the
Arrow/DuckDB paths for big days (``big_days``) and the quarantine table.

Imports: any other subpackage; nothing in the core imports it.
"""

from guap_pipeline.steps.build import (
    build_day_profit,
    build_labeled,
    build_labels,
    build_predictions,
    build_timeseries,
)
from guap_pipeline.steps.freshness import BUILT, Plan, dirty_days, plan, series_state
from guap_pipeline.steps.quarantine import day_quarantine, quarantine

__all__ = [
    "BUILT",
    "Plan",
    "build_day_profit",
    "build_labeled",
    "build_labels",
    "build_predictions",
    "build_timeseries",
    "day_quarantine",
    "dirty_days",
    "plan",
    "quarantine",
    "series_state",
]
