"""Every asset check: data quality of the landing files, label coverage, label feed,
the trend flags, the early warning, the acceptance targets, freshness.

Checks read what the assets wrote (the store); each failure carries its figures. The
bodies take the model's resource; :func:`model_checks` declares them on a model's keys.
"""

import datetime as dt
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import pandas as pd

from assets_defs.models import ModelKeys
from assets_defs.resources import GuapResource
from guap_pipeline import steps as pipeline
from guap_pipeline.alerts.incidents import Context, message
from guap_pipeline.alerts.store_runs import flag_context
from guap_pipeline.config import GuapConfig
from guap_pipeline.flags import FLAG_COLUMNS
from guap_pipeline.formatting import day, money, percent
from guap_pipeline.ingest.label_feed import stored
from guap_pipeline.series.acceptance import acceptance
from guap_pipeline.series.daily_table import DAILY_COLUMNS, OVERALL
from guap_pipeline.series.early_warning import early_declines

SERIES = dg.AssetKey("profit_timeseries")
FLAGS = dg.AssetKey("profit_flags")


def no_quarantined_rows(guap: GuapResource) -> dg.AssetCheckResult:
    """WARN with the counts by reason when any landing row had to be quarantined."""
    quarantined = pipeline.quarantine(guap.store())
    by_reason = quarantined.groupby("reason", sort=True).size().rename("rows").reset_index()
    top = by_reason.sort_values("rows", ascending=False).head(1)
    return dg.AssetCheckResult(
        passed=quarantined.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if quarantined.empty
        else f"{len(quarantined):,} landing rows quarantined; most: {top['reason'].iloc[0]} "
        f"({int(top['rows'].iloc[0]):,} rows)",
        metadata={
            "rows quarantined": f"{len(quarantined):,}",
            "by reason": dg.MetadataValue.md(
                by_reason.assign(rows=by_reason["rows"].map("{:,}".format)).to_markdown(index=False)
                if len(by_reason)
                else "none"
            ),
        },
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
        description=None
        if not n_short
        else f"{n_short:,} day(s) past their {config.label_window_days}-day label window "
        f"are below {percent(config.min_label_coverage)} label coverage (a label feed problem)",
        metadata={
            "days short of labels": f"{n_short:,}",
            "minimum label coverage": percent(config.min_label_coverage),
            "examples": dg.MetadataValue.md(
                short[["date", "model_version", "label_coverage"]]
                .head(10)
                .assign(label_coverage=lambda f: f["label_coverage"].map(percent))
                .to_markdown(index=False)
                if n_short
                else "none"
            ),
        },
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
        description=feed.message(guap.config().model_name),
        metadata={
            "stalled days": f"{len(stalled):,}",
            "usual coverage learned from": feed.basis or "not enough history yet",
            "latest label": feed.latest_label or "none",
            "examples": dg.MetadataValue.md(
                stalled[["date", "age", "coverage", "usual"]]
                .head(10)
                .assign(coverage=lambda f: f["coverage"].map(percent))
                .assign(usual=lambda f: f["usual"].map(percent))
                .to_markdown(index=False)
                if len(stalled)
                else "none"
            ),
        },
    )


FLAG_CHECKS = {
    "decline": (
        "no_profit_decline",
        dg.AssetCheckSeverity.ERROR,
        "No model version's profit is falling: a one-sided CUSUM on the mature days' "
        "weekday-adjusted uplift per labeled prediction (about 0.2 false alarms a year). "
        "ERROR, not blocking: the run goes on so that profit_alerts sends the alert.",
    ),
    "plateau": (
        "no_plateau",
        dg.AssetCheckSeverity.WARN,
        "No model version's uplift has stopped growing after a period of growth "
        "(equivalence test on the slope after the knot). WARN.",
    ),
    "diminishing_returns": (
        "no_diminishing_returns",
        dg.AssetCheckSeverity.WARN,
        "No model version's growth is levelling off towards a ceiling, and no new version "
        "adds less than the one before. WARN.",
    ),
}


def flag_check(
    flags: pd.DataFrame,
    flag: str,
    daily: pd.DataFrame | None = None,
    config: GuapConfig | None = None,
    today: dt.date | None = None,
    asset_key: dg.AssetKey = FLAGS,
) -> dg.AssetCheckResult:
    """One trend flag as a check: passed while inactive; else the alert's own message
    (money and cause first, statistics after) as its description, figures as metadata."""
    name, severity, _ = FLAG_CHECKS[flag]
    active = flags[flags["flag"] == flag]
    currency = config.currency if config else ""
    metadata: dict[str, Any] = {"active": len(active)}
    messages = []
    for _, row in active.head(3).iterrows():  # two versions in decline: one entry each
        where = f"{row['model_version']} {row['series'] or ''}".strip()
        context = flag_context(daily, config, row, today=today) if config and today else Context()
        messages.append(message("opened", row, context, currency=currency, today=today))
        metadata[f"headline ({where})"] = messages[-1].split("\n", 1)[0]
        if pd.notna(row["money_at_stake"]):
            metadata[f"money at stake per day ({where})"] = money(row["money_at_stake"], currency)
        metadata[f"since ({where})"] = day(row["start_date"], today=today)
        metadata[f"evidence ({where})"] = str(row["evidence"])
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=name,
        passed=active.empty,
        severity=severity,
        description="\n\n".join(messages) or None,
        metadata=metadata,
    )


def trend_flag_results(guap: GuapResource, asset_key: dg.AssetKey) -> Iterator[dg.AssetCheckResult]:
    """One check per trend flag, from the flags table ``profit_flags`` wrote."""
    store = guap.store()
    flags = store.read("flags")
    if flags is None:
        flags = pd.DataFrame(columns=list(FLAG_COLUMNS))
    daily = store.read("daily_summary")
    for flag in FLAG_CHECKS:
        yield flag_check(flags, flag, daily, guap.config(), guap.today(), asset_key)


def early_decline_check(
    daily: pd.DataFrame, currency: str = "", asset_key: dg.AssetKey = SERIES
) -> dg.AssetCheckResult:
    """The estimate of the newest days below the realized pace: WARN, never ERROR (it is
    a forecast from the scores; realized profit raises the ERROR once labels land)."""
    found = early_declines(daily)
    metadata: dict[str, Any] = {"versions": len(found)}
    lines = []
    for item in found[:3]:
        lines.append(
            f"{item.model_version}: newest days estimated "
            f"{money(item.money_at_stake, currency, compact=True)}/day below its realized pace "
            f"since {day(item.first_date)} (labels still arriving; WARN only)"
        )
        metadata[f"headline ({item.model_version})"] = lines[-1]
        metadata[f"money at stake per day ({item.model_version})"] = money(
            item.money_at_stake, currency
        )
        metadata[f"evidence ({item.model_version})"] = item.evidence()
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="no_early_decline_estimate",
        passed=not found,
        severity=dg.AssetCheckSeverity.WARN,
        description="\n".join(lines) or None,
        metadata=metadata,
    )


def acceptance_check(
    daily: pd.DataFrame, config: GuapConfig, today: dt.date, asset_key: dg.AssetKey = SERIES
) -> dg.AssetCheckResult:
    """The targets agreed with the business (config ``acceptance``), met or not, with figures."""
    verdicts = acceptance(daily, config, today)
    missed = [f"{v.name.replace('_', ' ')} not met: {v.detail}" for v in verdicts if not v.met]
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name="acceptance_targets",
        passed=not missed,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(missed) or None,
        metadata={
            v.name.replace("_", " "): f"{'met' if v.met else 'NOT met'}: {v.detail}"
            for v in verdicts
        }
        or {"targets": "none configured"},
    )


def stored_daily(guap: GuapResource) -> pd.DataFrame:
    """The daily rows per model version as ``profit_timeseries`` wrote them, with the
    estimate's kind per row; empty before the first build."""
    series = guap.store().read("profit_timeseries")
    if series is None:
        return pd.DataFrame(columns=list(DAILY_COLUMNS))
    return series[series["model_version"] != OVERALL].reset_index(drop=True)


def model_checks(model: ModelKeys) -> list[dg.AssetChecksDefinition]:
    """Every check of one model but freshness (:func:`freshness_checks`), on its keys."""
    series, flags = model.key("profit_timeseries"), model.key("profit_flags")

    def on_model(body: Callable[[GuapResource], dg.AssetCheckResult]) -> Callable[..., Any]:
        def check(guap: GuapResource) -> dg.AssetCheckResult:
            return body(model.resource(guap))

        check.__doc__ = body.__doc__
        return check

    quarantine = dg.asset_check(
        asset=model.key("staged_landing_files"),
        name="no_quarantined_rows",
        description="No landing row was quarantined (WARN with the rows by reason otherwise; "
        "`guap-pipeline export quarantine` lists each with its reason).",
    )(on_model(no_quarantined_rows))
    coverage = dg.asset_check(
        asset=series,
        name="label_coverage",
        description="Every day whose label window has passed reached the minimum label coverage.",
    )(on_model(label_coverage))
    feed = dg.asset_check(
        asset=series,
        name="label_feed",
        description="Labels keep arriving: no day past its label window is far below the "
        "label coverage usual at its age.",
    )(on_model(label_feed))

    @dg.multi_asset_check(
        name=model.named("trend_flag_checks"),
        specs=[
            dg.AssetCheckSpec(name, asset=flags, description=description)
            for name, _, description in FLAG_CHECKS.values()
        ],
    )
    def trend_flag_checks(guap: GuapResource) -> Iterator[dg.AssetCheckResult]:
        """One check per trend flag, from the flags table ``profit_flags`` wrote."""
        yield from trend_flag_results(model.resource(guap), flags)

    @dg.multi_asset_check(
        name=model.named("series_checks"),
        specs=[
            dg.AssetCheckSpec(
                "no_early_decline_estimate",
                asset=series,
                description="The newest days, estimated from the scores before their labels "
                "land, are not below each version's realized pace. WARN only: it is a "
                "forecast.",
            ),
            dg.AssetCheckSpec(
                "acceptance_targets",
                asset=series,
                description="The targets agreed with the business (guap.yaml `acceptance`): "
                "uplift per day, value capture, payback date. WARN when one is not met.",
            ),
        ],
    )
    def series_checks(guap: GuapResource) -> Iterator[dg.AssetCheckResult]:
        """The early warning from the estimate, and the acceptance targets."""
        guap = model.resource(guap)
        daily, config = stored_daily(guap), guap.config()
        yield early_decline_check(daily, config.currency, series)
        yield acceptance_check(daily, config, guap.today(), series)

    return [quarantine, coverage, feed, trend_flag_checks, series_checks]


def freshness_checks(model: ModelKeys) -> list[dg.AssetChecksDefinition]:
    """The series' last-update check: due every 26 hours (the freshness sensor runs it)."""
    with warnings.catch_warnings():
        # Superseded by FreshnessPolicy, but OSS can only alert on check evaluations.
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return list(
            dg.build_last_update_freshness_checks(
                assets=[model.key("profit_timeseries")], lower_bound_delta=dt.timedelta(hours=26)
            )
        )
