"""Assets: landing files → validated predictions and labels → labeled join → daily money →
series and flags → alerts.

Each asset is a few lines that call :mod:`guap_pipeline.steps` (and the monitoring
steps); the tables are written by the core to the store (Parquet), never pickled between
steps, and what the UI shows is built in :mod:`assets_defs.metadata`. Daily assets take
whole ranges in one run (``single_run``) and loop over ``context.partition_keys``; their
partitions come from the config (:func:`daily_assets`). :func:`model_assets` builds
a model's assets, under its name when the config lists several.
"""

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any, TypeVar

import dagster as dg

from assets_defs.metadata import day_metadata, flags_metadata, series_metadata
from assets_defs.models import ModelKeys
from assets_defs.resources import AlertsResource, GuapResource, SourceResource
from guap_pipeline import steps as pipeline
from guap_pipeline.alerts.store_runs import build_alerts, build_flags
from guap_pipeline.config import GuapConfig
from guap_pipeline.steps.each_day import built_alone, each_day
from guap_pipeline.store.store import Store

R = TypeVar("R")


def report_days(
    context: dg.AssetExecutionContext,
    config: GuapConfig,
    store: Store,
    build: Callable[[str], R],
    describe: Callable[[R], Mapping[str, Any]],
) -> dg.MaterializeResult:
    """Build every partition, small days two at a time
    (:func:`~guap_pipeline.steps.each_day.each_day`: in worker processes for a long range,
    so ``build`` is a module-level function or a partial of one), and put each day's
    ``describe(result)`` on that day's own materialization, in day order, in a one-day run
    and in a range run alike (no extra events: the event log commits each one, which is
    most of a long backfill's bookkeeping). A day that fails fails the step with its own
    error."""
    alone = built_alone(config, store)
    for day, result in each_day(context.partition_keys, build, alone=alone, processes=True):
        context.add_asset_metadata(describe(result), partition_key=day)
    return dg.MaterializeResult()


def row_step(
    context: dg.AssetExecutionContext,
    guap: GuapResource,
    build: Callable[[Store, str], Mapping[str, Any]],
) -> dg.MaterializeResult:
    """A per-row step of each day; with a distributed engine, ``daily_quadrant_profit``
    does the whole day on the cluster instead, and this step only says so."""
    config = guap.config()
    store = Store(config.storage)
    engine = config.engine.kind
    if engine != "embedded":
        handed = {"engine": engine, "built_by": "daily_quadrant_profit"}
        return report_days(context, config, store, lambda _day: handed, dict)
    return report_days(context, config, store, partial(build, store), dict)


STAGE_REPORT = "stage_report"
DELIVERY = "alerts_delivery"  # profit_alerts' one line on what it delivered, for `run`


def model_assets(
    model: ModelKeys, partitions: dg.DailyPartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """Every asset of one model, keyed under its name (:class:`ModelKeys`), its daily
    assets on ``partitions`` (from its config)."""
    staged = staged_landing_files(model)
    daily = daily_assets(partitions, model, staged)
    return [staged, *daily, profit_timeseries_and_flags(model), profit_alerts(model)]


def staged_landing_files(model: ModelKeys) -> dg.AssetsDefinition:
    """The model's staging asset."""

    @dg.asset(key_prefix=model.prefix(), group_name=model.group("landing"), kinds={"parquet"})
    def staged_landing_files(guap: GuapResource, source: SourceResource) -> dg.MaterializeResult:
        """New and changed landing files (or new database rows), validated and split by
        prediction day."""
        guap = model.resource(guap)
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

    return staged_landing_files


DAILY_ASSETS = (
    "validated_predictions",
    "outcome_labels",
    "labeled_predictions",
    "daily_quadrant_profit",
)


def daily_assets(
    partitions: dg.DailyPartitionsDefinition, model: ModelKeys, staged: dg.AssetsDefinition
) -> list[dg.AssetsDefinition]:
    """The assets built per prediction day, on the partitions the config sets: each
    takes a whole range in one run (``single_run``) and loops over its days."""
    daily: dict[str, Any] = {
        "partitions_def": partitions,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "group_name": model.group("daily"),
        "kinds": {"parquet"},
        "key_prefix": model.prefix(),
    }

    @dg.asset(deps=[staged], **daily)
    def validated_predictions(
        context: dg.AssetExecutionContext, guap: GuapResource
    ) -> dg.MaterializeResult:
        """One row per prediction_id of the day; later duplicates go to quarantine."""
        return row_step(context, model.resource(guap), pipeline.build_predictions)

    @dg.asset(deps=[staged], **daily)
    def outcome_labels(
        context: dg.AssetExecutionContext, guap: GuapResource
    ) -> dg.MaterializeResult:
        """The latest outcome label of each of the day's predictions."""
        return row_step(context, model.resource(guap), pipeline.build_labels)

    @dg.asset(deps=[validated_predictions, outcome_labels], **daily)
    def labeled_predictions(
        context: dg.AssetExecutionContext, guap: GuapResource
    ) -> dg.MaterializeResult:
        """Predictions joined with their latest label (null where not labeled yet)."""
        return row_step(context, model.resource(guap), pipeline.build_labeled)

    @dg.asset(deps=[labeled_predictions], **daily)
    def daily_quadrant_profit(
        context: dg.AssetExecutionContext, guap: GuapResource
    ) -> dg.MaterializeResult:
        """Realized profit per quadrant and model version: profit, uplift, oracle, coverage."""
        guap = model.resource(guap)
        config, today = guap.config(), guap.today()
        store = Store(config.storage)
        return report_days(
            context,
            config,
            store,
            partial(pipeline.build_day_profit, store, config),
            lambda profit: day_metadata(profit.summary, config, today),
        )

    return [validated_predictions, outcome_labels, labeled_predictions, daily_quadrant_profit]


def profit_timeseries_and_flags(model: ModelKeys) -> dg.AssetsDefinition:
    """The model's series and flags step."""

    @dg.multi_asset(
        name=model.named("profit_timeseries_and_flags"),
        specs=[
            dg.AssetSpec(
                model.key("profit_timeseries"),
                deps=[model.key("daily_quadrant_profit")],
                description="The daily summary table, rolling and cumulative series, the charts.",
                group_name=model.group("series"),
                kinds={"parquet"},
            ),
            dg.AssetSpec(
                model.key("profit_flags"),
                deps=[model.key("profit_timeseries")],
                description="Trend flags (decline, plateau, diminishing returns) of the mature "
                "days, with their evidence and the money at stake.",
                group_name=model.group("series"),
                kinds={"parquet"},
            ),
        ],
    )
    def profit_timeseries_and_flags(guap: GuapResource) -> Iterator[dg.MaterializeResult]:
        """The series, then its flags: one step, as the series' charts mark the flags."""
        guap = model.resource(guap)
        config, store, today = guap.config(), guap.store(), guap.today()
        daily = pipeline.build_timeseries(store, config, today)
        found = build_flags(store, config)
        yield dg.MaterializeResult(
            asset_key=model.key("profit_timeseries"),
            metadata=series_metadata(daily, found, store, config, today),
        )
        yield dg.MaterializeResult(
            asset_key=model.key("profit_flags"),
            metadata=flags_metadata(found, store, config, today),
        )

    return profit_timeseries_and_flags


def profit_alerts(model: ModelKeys) -> dg.AssetsDefinition:
    """The model's alerting asset."""

    @dg.asset(
        key_prefix=model.prefix(),
        deps=[model.key("profit_flags")],
        group_name=model.group("series"),
        kinds={"python"},
    )
    def profit_alerts(
        context: dg.AssetExecutionContext, guap: GuapResource, alerts: AlertsResource
    ) -> dg.MaterializeResult:
        """Incidents (flag, model version, series) from the flags; each alerted once when it
        opens, worsens or resolves (log, webhook if configured); undelivered ones stay
        pending."""
        guap = model.resource(guap)
        result = build_alerts(
            guap.store(), guap.config(), today=guap.today(), notifiers=alerts.notifiers()
        )
        if result.pending:
            context.log.warning(result.delivery.describe())
        open_incidents = result.incidents[result.incidents["status"] == "open"]
        return dg.MaterializeResult(
            metadata={
                "open_incidents": len(open_incidents),
                "alerts_new": result.new,
                "alerts_pending_delivery": result.pending,
                DELIVERY: result.delivery.describe(),
                "channels": dg.MetadataValue.json([n.name for n in alerts.notifiers()]),
            }
        )

    return profit_alerts
