"""Every asset check: data quality of the landing files, label coverage, label feed,
the trend flags, the early warning, the acceptance targets, freshness.

Checks read what the assets wrote (the store); each failure carries its figures.
"""

import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd

from assets_defs.assets import staged_landing_files
from assets_defs.resources import GuapResource
from guap_pipeline import pipeline
from guap_pipeline.acceptance import acceptance
from guap_pipeline.config import GuapConfig
from guap_pipeline.early_warning import early_declines
from guap_pipeline.flags import FLAG_COLUMNS
from guap_pipeline.label_feed import stored
from guap_pipeline.timeseries import DAILY_COLUMNS, OVERALL

SERIES = dg.AssetKey("profit_timeseries")
FLAGS = dg.AssetKey("profit_flags")


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
    asset=SERIES,
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
    asset=SERIES,
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
        assets=[SERIES], lower_bound_delta=dt.timedelta(hours=26)
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
        asset_key=FLAGS, check_name=name, passed=active.empty, severity=severity, metadata=metadata
    )


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(name, asset=FLAGS) for name, _ in FLAG_CHECKS.values()]
)
def trend_flag_checks(guap: GuapResource) -> Iterator[dg.AssetCheckResult]:
    """One check per trend flag, from the flags table ``profit_flags`` wrote."""
    flags = guap.store().read("flags")
    if flags is None:
        flags = pd.DataFrame(columns=list(FLAG_COLUMNS))
    for flag in FLAG_CHECKS:
        yield flag_check(flags, flag)


def early_decline_check(daily: pd.DataFrame) -> dg.AssetCheckResult:
    """The estimate of the newest days below the realized pace: WARN, never ERROR (it is
    a forecast from the scores; realized profit raises the ERROR once labels land)."""
    found = early_declines(daily)
    metadata: dict[str, Any] = {"versions": len(found)}
    for item in found[:3]:
        metadata[f"evidence ({item.model_version})"] = item.evidence()
        metadata[f"money_at_stake_per_day ({item.model_version})"] = item.money_at_stake
    return dg.AssetCheckResult(
        asset_key=SERIES,
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
        asset_key=SERIES,
        check_name="acceptance_targets",
        passed=all(v.met for v in verdicts),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={v.name: f"{'met' if v.met else 'NOT met'}: {v.detail}" for v in verdicts}
        or {"targets": "none configured"},
    )


def stored_daily(guap: GuapResource) -> pd.DataFrame:
    """The daily rows per model version as ``profit_timeseries`` wrote them, with the
    estimate's kind per row; empty before the first build."""
    series = guap.store().read("profit_timeseries")
    if series is None:
        return pd.DataFrame(columns=list(DAILY_COLUMNS))
    return series[series["model_version"] != OVERALL].reset_index(drop=True)


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("no_early_decline_estimate", asset=SERIES),
        dg.AssetCheckSpec("acceptance_targets", asset=SERIES),
    ]
)
def series_checks(guap: GuapResource) -> Iterator[dg.AssetCheckResult]:
    """The early warning from the estimate, and the acceptance targets."""
    daily = stored_daily(guap)
    yield early_decline_check(daily)
    yield acceptance_check(daily, guap.config(), guap.today())
