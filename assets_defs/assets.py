"""Assets: landing files → validated predictions and labels → labeled join → daily money → series.

Each asset is a few lines that call :mod:`guap_pipeline.pipeline`; the tables are
written by the core to the store (Parquet), never pickled between steps. Daily assets
take whole ranges in one run (``single_run``) and loop over ``context.partition_keys``.
"""

import base64
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import dagster as dg
import pandas as pd

from assets_defs.partitions import daily_partitions
from assets_defs.resources import AlertsResource, GuapResource, SourceResource
from guap_pipeline import pipeline
from guap_pipeline.acceptance import acceptance
from guap_pipeline.config import GuapConfig
from guap_pipeline.early_warning import early_declines
from guap_pipeline.estimate import estimate_kinds
from guap_pipeline.html_report import charts
from guap_pipeline.monitoring import build_alerts, build_flags
from guap_pipeline.storage import Store
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
    """Run ``per_day`` for every partition; each day's metadata goes on that day's own
    materialization, in a one-day run and in a range run alike (no extra events: the
    event log commits each one, which is most of a long backfill's bookkeeping)."""
    for day in context.partition_keys:
        context.add_asset_metadata(per_day(day), partition_key=day)
    return dg.MaterializeResult()


def row_step(
    context: dg.AssetExecutionContext,
    guap: GuapResource,
    build: Callable[[Store, str], Mapping[str, Any]],
) -> dg.MaterializeResult:
    """A per-row step of each day; with a distributed engine, ``daily_quadrant_profit``
    does the whole day on the cluster instead, and this step only says so."""
    engine = guap.config().engine.kind
    if engine != "embedded":
        handed = {"engine": engine, "built_by": "daily_quadrant_profit"}
        return report_days(context, lambda day: handed)
    store = guap.store()
    return report_days(context, lambda day: build(store, day))


STAGE_REPORT = "stage_report"


@dg.asset(group_name="landing", kinds={"parquet"})
def staged_landing_files(guap: GuapResource, source: SourceResource) -> dg.MaterializeResult:
    """New and changed landing files (or new database rows), validated and split by
    prediction day."""
    report = source.stage(guap.config(), guap.store())
    return dg.MaterializeResult(
        metadata={
            **{f"rows_read_from_database_{kind}": n for kind, n in report.pulled.items()},
            "files_added": len(report.added),
            "files_changed": len(report.changed),
            "files_removed": len(report.removed),
            "files_unchanged": report.unchanged,
            "files_unreadable": dg.MetadataValue.json(report.unreadable),
            "rows_read": report.rows_read,
            "rows_quarantined": report.quarantined_rows,
            "labels_waiting": report.labels_waiting,
            "days_touched": len(report.dirty_days),
            STAGE_REPORT: dg.MetadataValue.json(report.as_dict()),  # `run` reads it back
        }
    )


@dg.asset(deps=[staged_landing_files], **DAILY)
def validated_predictions(
    context: dg.AssetExecutionContext, guap: GuapResource
) -> dg.MaterializeResult:
    """One row per prediction_id of the day; later duplicates go to quarantine."""
    return row_step(context, guap, pipeline.build_predictions)


@dg.asset(deps=[staged_landing_files], **DAILY)
def outcome_labels(context: dg.AssetExecutionContext, guap: GuapResource) -> dg.MaterializeResult:
    """The latest outcome label of each of the day's predictions."""
    return row_step(context, guap, pipeline.build_labels)


@dg.asset(deps=[validated_predictions, outcome_labels], **DAILY)
def labeled_predictions(
    context: dg.AssetExecutionContext, guap: GuapResource
) -> dg.MaterializeResult:
    """Predictions joined with their latest label (null where not labeled yet)."""
    return row_step(context, guap, pipeline.build_labeled)


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


FLAG_CHECKS = {
    "decline": ("no_profit_decline", dg.AssetCheckSeverity.ERROR),
    "plateau": ("no_plateau", dg.AssetCheckSeverity.WARN),
    "diminishing_returns": ("no_diminishing_returns", dg.AssetCheckSeverity.WARN),
}


def flag_check(flags: pd.DataFrame, flag: str) -> dg.AssetCheckResult:
    """One trend flag as a check: passed while inactive, else its evidence as metadata."""
    name, severity = FLAG_CHECKS[flag]
    active = flags[flags["flag"] == flag]
    metadata: dict[str, Any] = {"active": len(active)}
    for row in active.head(3).itertuples():  # two versions in decline: one entry each
        where = f"{row.model_version} {row.series}".strip()
        metadata[f"evidence ({where})"] = str(row.evidence)
        if pd.notna(row.money_at_stake):
            metadata[f"money_at_stake_per_day ({where})"] = float(row.money_at_stake)
        metadata[f"start_date ({where})"] = str(row.start_date)
    return dg.AssetCheckResult(
        check_name=name, passed=active.empty, severity=severity, metadata=metadata
    )


def early_decline_check(daily: pd.DataFrame) -> dg.AssetCheckResult:
    """The estimate of the newest days below the realized pace: WARN, never ERROR (it is
    a forecast from the scores; realized profit raises the ERROR once labels land)."""
    found = early_declines(daily)
    metadata: dict[str, Any] = {"versions": len(found)}
    for item in found[:3]:
        metadata[f"evidence ({item.model_version})"] = item.evidence()
        metadata[f"money_at_stake_per_day ({item.model_version})"] = item.money_at_stake
    return dg.AssetCheckResult(
        check_name="no_early_decline_estimate",
        passed=not found,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )


def acceptance_check(
    daily: pd.DataFrame, config: GuapConfig, today: dt.date
) -> dg.AssetCheckResult:
    """The targets agreed with the business (config ``acceptance``), met or not, with figures."""
    verdicts = acceptance(daily, config, today)
    return dg.AssetCheckResult(
        check_name="acceptance_targets",
        passed=all(v.met for v in verdicts),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={v.name: f"{'met' if v.met else 'NOT met'}: {v.detail}" for v in verdicts}
        or {"targets": "none configured"},
    )


def chart_markdown(charts: Mapping[str, bytes]) -> dg.MetadataValue:
    """The report's charts as PNG images inside one Markdown metadata value."""
    return dg.MetadataValue.md(
        "\n\n".join(
            f"**{name.replace('_', ' ')}**\n\n![{name}](data:image/png;base64,"
            f"{base64.b64encode(png).decode()})"
            for name, png in charts.items()
        )
    )


@dg.asset(
    deps=[daily_quadrant_profit],
    group_name="series",
    kinds={"parquet"},
    check_specs=[
        *(dg.AssetCheckSpec(name, asset="profit_timeseries") for name, _ in FLAG_CHECKS.values()),
        dg.AssetCheckSpec("no_early_decline_estimate", asset="profit_timeseries"),
        dg.AssetCheckSpec("acceptance_targets", asset="profit_timeseries"),
    ],
)
def profit_timeseries(guap: GuapResource) -> dg.MaterializeResult:
    """The daily summary table, rolling and cumulative series, and the trend flags."""
    config, store, today = guap.config(), guap.store(), guap.today()
    daily = pipeline.build_timeseries(store, config, today)
    found = build_flags(store, config)
    mature = daily[daily["mature"].astype(bool)] if len(daily) else daily
    metadata: dict[str, Any] = {
        "dagster/row_count": len(daily),
        "days": int(daily["date"].nunique()) if len(daily) else 0,
        "mature_days": int(mature["date"].nunique()) if len(mature) else 0,
        "total_profit": float(daily["profit"].sum()) if len(daily) else 0.0,
        "total_uplift": float(daily["uplift"].sum()) if len(daily) else 0.0,
        "cumulative_net_profit": float(daily["net_profit"].sum()) if len(daily) else 0.0,
        "estimated_days": int((estimate_kinds(daily) == "estimated").sum()) if len(daily) else 0,
        "active_flags": len(found.flags),
        "flag_notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in found.notes) or "none"),
        "columns": dg.MetadataValue.json(list(DAILY_COLUMNS)),
        "path": dg.MetadataValue.path(str(store.path("daily_summary"))),
    }
    if len(daily):
        curves = store.read_partitions("threshold_curve")
        metadata["charts"] = chart_markdown(charts(daily, found.flags, curves, config))
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            *(flag_check(found.flags, flag) for flag in FLAG_CHECKS),
            early_decline_check(daily),
            acceptance_check(daily, config, today),
        ],
    )


@dg.asset(deps=[profit_timeseries], group_name="series", kinds={"python"})
def profit_alerts(
    context: dg.AssetExecutionContext, guap: GuapResource, alerts: AlertsResource
) -> dg.MaterializeResult:
    """Incidents (flag, model version, series) from the flags; each alerted once when it
    opens, worsens or resolves (log, webhook if configured); undelivered ones stay pending."""
    result = build_alerts(
        guap.store(), guap.config(), today=guap.today(), notifiers=alerts.notifiers()
    )
    if result.pending:
        context.log.warning(f"{result.pending} alert(s) not delivered: retried by the next run")
    open_incidents = result.incidents[result.incidents["status"] == "open"]
    return dg.MaterializeResult(
        metadata={
            "open_incidents": len(open_incidents),
            "alerts_new": result.new,
            "alerts_pending_delivery": result.pending,
            "channels": dg.MetadataValue.json([n.name for n in alerts.notifiers()]),
        }
    )
