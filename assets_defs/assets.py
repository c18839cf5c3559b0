"""Assets: landing files → validated predictions and labels → labeled join → daily money → series.

Each asset is a few lines that call :mod:`guap_pipeline.pipeline`; the tables are
written by the core to the store (Parquet), never pickled between steps. Daily assets
take whole ranges in one run (``single_run``) and loop over ``context.partition_keys``.
"""

from collections.abc import Callable, Mapping
from typing import Any

import dagster as dg
import pandas as pd

from assets_defs.partitions import daily_partitions
from assets_defs.resources import GuapResource
from guap_pipeline import pipeline
from guap_pipeline.landing import stage_landing
from guap_pipeline.timeseries import DAILY_COLUMNS
from guap_pipeline.value_matrix import QUADRANTS

DAILY = {
    "partitions_def": daily_partitions,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "group_name": "daily",
    "kinds": {"parquet"},
}


def report_days(
    context: dg.AssetExecutionContext, per_day: Callable[[str], Mapping[str, Any]]
) -> dg.MaterializeResult:
    """Run ``per_day`` for every partition; keep each day's metadata its own in range runs."""
    keys = context.partition_keys
    metadata = {day: per_day(day) for day in keys}
    if len(keys) == 1:
        return dg.MaterializeResult(metadata=metadata[keys[0]])
    for day, values in metadata.items():
        context.log_event(
            dg.AssetObservation(asset_key=context.asset_key, partition=day, metadata=values)
        )
    return dg.MaterializeResult(
        metadata={"n_days": len(keys), "first_day": keys[0], "last_day": keys[-1]}
    )


@dg.asset(group_name="landing", kinds={"parquet"})
def staged_landing_files(guap: GuapResource) -> dg.MaterializeResult:
    """New and changed landing files, validated and split by prediction day."""
    report = stage_landing(guap.config(), guap.store())
    return dg.MaterializeResult(
        metadata={
            "files_added": len(report.added),
            "files_changed": len(report.changed),
            "files_removed": len(report.removed),
            "files_unchanged": report.unchanged,
            "files_unreadable": dg.MetadataValue.json(report.unreadable),
            "rows_quarantined": report.quarantined_rows,
            "days_touched": len(report.dirty_days),
        }
    )


@dg.asset(deps=[staged_landing_files], **DAILY)
def validated_predictions(
    context: dg.AssetExecutionContext, guap: GuapResource
) -> dg.MaterializeResult:
    """One row per prediction_id of the day; later duplicates go to quarantine."""
    store = guap.store()
    return report_days(context, lambda day: pipeline.build_predictions(store, day))


@dg.asset(deps=[staged_landing_files], **DAILY)
def outcome_labels(context: dg.AssetExecutionContext, guap: GuapResource) -> dg.MaterializeResult:
    """The latest outcome label of each of the day's predictions."""
    store = guap.store()
    return report_days(context, lambda day: pipeline.build_labels(store, day))


@dg.asset(deps=[validated_predictions, outcome_labels], **DAILY)
def labeled_predictions(
    context: dg.AssetExecutionContext, guap: GuapResource
) -> dg.MaterializeResult:
    """Predictions joined with their latest label (null where not labeled yet)."""
    store = guap.store()
    return report_days(context, lambda day: pipeline.build_labeled(store, day))


def day_metadata(summary: pd.DataFrame, names: Mapping[str, str]) -> dict[str, Any]:
    """Numbers the UI plots per partition, and the quadrant table per model version."""
    totals = summary[["n_predictions", "n_labeled", "profit", "uplift", "baseline_profit"]].sum()
    n_pred, n_lab = int(totals["n_predictions"]), int(totals["n_labeled"])
    metadata: dict[str, Any] = {
        "profit": float(totals["profit"]),
        "uplift": float(totals["uplift"]),
        "baseline_profit": float(totals["baseline_profit"]),
        "n_predictions": n_pred,
        "n_labeled": n_lab,
        "label_coverage": float(n_lab / n_pred) if n_pred else 0.0,
    }
    if summary[list(QUADRANTS)].notna().all().all():
        for q in QUADRANTS:
            metadata[f"value_{q}"] = float(summary[f"value_{q}"].sum())
            metadata[f"count_{q}"] = int(summary[q].sum())
        table = pd.DataFrame(
            [
                {
                    "model_version": row.model_version,
                    "quadrant": f"{q.upper()} ({names[q]})",
                    "count": int(getattr(row, q)),
                    "value": round(float(getattr(row, f"value_{q}")), 2),
                }
                for row in summary.itertuples()
                for q in QUADRANTS
            ]
        )
        metadata["quadrants"] = dg.MetadataValue.md(table.to_markdown(index=False))
    return metadata


@dg.asset(deps=[labeled_predictions], **DAILY)
def daily_quadrant_profit(
    context: dg.AssetExecutionContext, guap: GuapResource
) -> dg.MaterializeResult:
    """Realized profit per quadrant and model version: profit, uplift, oracle, coverage."""
    config, store = guap.config(), guap.store()
    return report_days(
        context,
        lambda day: day_metadata(
            pipeline.build_day_profit(store, config, day).summary, config.quadrants
        ),
    )


@dg.asset(deps=[daily_quadrant_profit], group_name="series", kinds={"parquet"})
def profit_timeseries(guap: GuapResource) -> dg.MaterializeResult:
    """The daily summary table and the rolling, cumulative profit series over all days."""
    config, store = guap.config(), guap.store()
    daily = pipeline.build_timeseries(store, config, guap.today())
    mature = daily[daily["mature"].astype(bool)] if len(daily) else daily
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(daily),
            "days": int(daily["date"].nunique()) if len(daily) else 0,
            "mature_days": int(mature["date"].nunique()) if len(mature) else 0,
            "total_profit": float(daily["profit"].sum()) if len(daily) else 0.0,
            "total_uplift": float(daily["uplift"].sum()) if len(daily) else 0.0,
            "columns": dg.MetadataValue.json(list(DAILY_COLUMNS)),
            "path": dg.MetadataValue.path(str(store.path("daily_summary"))),
        }
    )
