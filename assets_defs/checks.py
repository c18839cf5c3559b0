"""Asset checks: data quality of the landing files, label coverage, label feed, freshness.

Checks read what the assets wrote (the store); each failure carries its figures.
"""

import datetime as dt
import warnings

import dagster as dg

from assets_defs.assets import profit_timeseries, staged_landing_files
from assets_defs.resources import GuapResource
from guap_pipeline import steps as pipeline
from guap_pipeline.ingest.label_feed import stored


@dg.asset_check(asset=staged_landing_files, description="No landing row was quarantined.")
def no_quarantined_rows(guap: GuapResource) -> dg.AssetCheckResult:
    """WARN with the counts by reason when any landing row had to be quarantined."""
    quarantined = pipeline.quarantine(guap.store())
    by_reason = quarantined.groupby("reason", sort=True).size().rename("rows").reset_index()
    return dg.AssetCheckResult(
        passed=quarantined.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rows_quarantined": len(quarantined),
            "by_reason": dg.MetadataValue.md(by_reason.to_markdown(index=False) or "none"),
        },
    )


@dg.asset_check(
    asset=profit_timeseries,
    description="Every day whose label window has passed reached the minimum label coverage.",
)
def label_coverage(guap: GuapResource) -> dg.AssetCheckResult:
    """WARN listing the old days that are still short of labels (a label feed problem)."""
    config = guap.config()
    daily = guap.store().read("daily_summary")
    cutoff = (guap.today() - dt.timedelta(days=config.label_window_days)).isoformat()
    if daily is None or daily.empty:
        short = daily
    else:
        old = daily[daily["date"].astype(str) <= cutoff]
        short = old[old["label_coverage"].fillna(0) < config.min_label_coverage]
    n_short = 0 if short is None else len(short)
    return dg.AssetCheckResult(
        passed=n_short == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "days_short_of_labels": n_short,
            "min_label_coverage": config.min_label_coverage,
            "examples": dg.MetadataValue.json(
                []
                if not n_short
                else short[["date", "model_version", "label_coverage"]]
                .head(10)
                .astype(str)
                .to_dict("records")
            ),
        },
    )


@dg.asset_check(
    asset=profit_timeseries,
    description="Labels keep arriving: no day past its label window is far below the "
    "label coverage usual at its age.",
)
def label_feed(guap: GuapResource) -> dg.AssetCheckResult:
    """WARN in plain words when the label feed stalled; those days are kept out of the
    mature days (flags, final profit) until their labels land."""
    feed = stored(guap.store())
    if feed is None:
        return dg.AssetCheckResult(passed=True, metadata={"note": "series not built yet"})
    stalled = feed.stalled.reset_index()
    return dg.AssetCheckResult(
        passed=stalled.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=feed.message(),
        metadata={
            "stalled_days": len(stalled),
            "usual_coverage_learned_from": feed.basis or "not enough history yet",
            "latest_label": feed.latest_label or "none",
            "examples": dg.MetadataValue.md(
                stalled[["date", "age", "coverage", "usual"]]
                .head(10)
                .assign(coverage=lambda f: f["coverage"].map("{:.1%}".format))
                .assign(usual=lambda f: f["usual"].map("{:.1%}".format))
                .to_markdown(index=False)
                if len(stalled)
                else "none"
            ),
        },
    )


with warnings.catch_warnings():
    # Superseded by FreshnessPolicy, but OSS can only alert on check evaluations.
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    freshness_checks = dg.build_last_update_freshness_checks(
        assets=[profit_timeseries], lower_bound_delta=dt.timedelta(hours=26)
    )
