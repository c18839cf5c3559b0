"""What the assets show in the Dagster UI: the answer first, numbers as people read them.

Kept apart from the assets so each asset stays a few lines of wiring. The UI shows text
entries inline, Markdown inline only under 1,000 characters (longer behind a
"[Show Markdown]" link), and plots numeric entries across partitions, sorted by name:
so the answer is text, the week-by-week chart is a small inline SVG, and the numbers
plotted per day are named so that profit and uplift come first, one per model version.
"""

import base64
import datetime as dt
import urllib.parse
from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from guap_pipeline.alerts.incidents import headline
from guap_pipeline.alerts.store_runs import FlagResult, flag_context
from guap_pipeline.config import GuapConfig
from guap_pipeline.estimate import estimate_kinds
from guap_pipeline.formatting import day, money, percent
from guap_pipeline.report.cards import cards
from guap_pipeline.report.html import charts
from guap_pipeline.series.daily_table import is_mature
from guap_pipeline.store.store import Store
from guap_pipeline.value_matrix import QUADRANTS

INLINE_MARKDOWN = 1000  # the UI shows a Markdown entry inline below this many characters
COLOR_NAMES = {"#1c7ed6": "blue", "#e67700": "orange", "#2b8a3e": "green", "#c92a2a": "red",
               "#7048e8": "violet", "#868e96": "grey"}  # fmt: skip
COLORS = tuple(COLOR_NAMES)


def _unit(currency: str) -> str:
    return f" ({currency})" if currency else ""


def day_metadata(summary: pd.DataFrame, config: GuapConfig, today: dt.date) -> dict[str, Any]:
    """One day, per model version: the answer in words first, then the numbers the UI
    plots across days (profit and uplift only once the day is mature, so a day whose
    labels are still arriving is a gap in the plot, not a fall to 0), then the quadrants."""
    summary = summary.sort_values("model_version")
    mature = is_mature(summary["date"], summary["label_coverage"], config, today).to_numpy()
    unit, currency = _unit(config.currency), config.currency
    metadata: dict[str, Any] = {}
    plotted: dict[str, Any] = {}
    for row, final in zip(summary.itertuples(), mature, strict=True):
        version, labeled = str(row.model_version), percent(row.label_coverage)
        if final:
            metadata[version] = (
                f"profit {money(row.profit, currency)}, uplift {money(row.uplift, currency)} "
                f"({labeled} labeled: final)"
            )
            plotted[f"profit {version}{unit}"] = round(float(row.profit))
            plotted[f"uplift {version}{unit}"] = round(float(row.uplift))
        elif not row.n_labeled:  # a snapshot: the day is not rebuilt when it merely ages
            metadata[version] = (
                f"no label yet on {today} for its {int(row.n_predictions):,} predictions: "
                "profit not known yet (profit_timeseries estimates it from the scores)"
            )
        else:
            metadata[version] = (
                f"labels still arriving ({labeled} labeled on {today}): profit so far "
                f"{money(row.profit, currency)}, not final (profit_timeseries estimates the rest)"
            )
        plotted[f"volume {version} (predictions)"] = int(row.n_predictions)
        if pd.notna(row.label_coverage):
            plotted[f"with labels {version} (%)"] = round(100 * float(row.label_coverage), 1)
    metadata.update(dict(sorted(plotted.items())))
    if summary[list(QUADRANTS)].notna().all().all():
        metadata["quadrants"] = dg.MetadataValue.md(_quadrant_table(summary, config))
    return metadata


def _quadrant_table(summary: pd.DataFrame, config: GuapConfig) -> str:
    """The quadrants of each model version: rows, money, in the business's names."""
    table = pd.DataFrame(
        [
            {
                "version": row.model_version,
                "quadrant": " ".join(dict.fromkeys([q.upper(), config.quadrants[q]])),
                "rows": f"{int(getattr(row, q)):,}",
                f"value{_unit(config.currency)}": money(getattr(row, f"value_{q}")),
            }
            for row in summary.itertuples()
            for q in QUADRANTS
        ]
    )
    return table.to_markdown(index=False, colalign=("left", "left", "right", "right"))


def chart_markdown(images: Mapping[str, bytes]) -> dg.MetadataValue:
    """The report's charts as PNG images inside one Markdown metadata value."""
    return dg.MetadataValue.md(
        "\n\n".join(
            f"**{name.replace('_', ' ')}**\n\n![{name}](data:image/png;base64,"
            f"{base64.b64encode(png).decode()})"
            for name, png in images.items()
        )
    )


def weekly_sparkline(daily: pd.DataFrame, currency: str = "") -> str | None:
    """Uplift per day, week by week, one line per model version, mature days only: a
    Markdown image small enough for the UI to show inline; ``None`` without mature days.
    Coarser steps (two weeks, four) when a long history would not fit."""
    mature = daily[daily["mature"].astype(bool)]
    if mature.empty:
        return None
    for weeks in (1, 2, 4, 8):
        text = _sparkline(mature, f"{7 * weeks}D", weeks, currency)
        if len(text) < INLINE_MARKDOWN:
            return text
    return None


def _sparkline(mature: pd.DataFrame, step: str, weeks: int, currency: str) -> str:
    frame = mature.assign(when=pd.to_datetime(mature["date"]))
    start = frame["when"].min()
    means = (
        frame.groupby(["model_version", pd.Grouper(key="when", freq=step, origin=start)])["uplift"]
        .mean()
        .reset_index()
    )
    width, height = 240, 60
    n_steps = max(int((frame["when"].max() - start).days // (7 * weeks)), 1)
    low, high = min(float(means["uplift"].min()), 0.0), max(float(means["uplift"].max()), 0.0)
    span = (high - low) or 1.0

    def y(value: float) -> int:
        return round(height - (value - low) / span * height)

    def x(when: pd.Timestamp) -> int:
        return round((when - start).days / (7 * weeks) / n_steps * width)

    shapes = [f"<path d='M0,{y(0)}H{width}' stroke='#aaa' stroke-width='.5'/>"]
    legend = []
    for (version, rows), color in zip(means.groupby("model_version"), COLORS * 9, strict=False):
        points = ",".join(
            f"{x(w)},{y(v)}" for w, v in zip(rows["when"], rows["uplift"], strict=True)
        )
        shapes.append(f"<polyline points='{points}' fill='none' stroke='{color}'/>")
        legend.append(f"{version} {COLOR_NAMES[color]}")
    svg = (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 -2 {width} {height + 4}' "
        f"width='{2 * width}' height='{2 * (height + 4)}'>{''.join(shapes)}</svg>"
    )
    uri = "data:image/svg+xml," + urllib.parse.quote(svg, safe="/:=,.'-")
    first, last = day(frame["when"].min()), day(frame["when"].max())
    per = "week" if weeks == 1 else f"{weeks} weeks"
    return (
        f"![uplift per day, by {per}]({uri})\n\n"
        f"uplift per day{_unit(currency)}, mean per {per} of mature days, {first} – {last}: "
        f"{', '.join(legend)}; scale {money(low, compact=True)} .. {money(high, compact=True)}"
    )


def series_metadata(
    daily: pd.DataFrame, found: FlagResult, store: Store, config: GuapConfig, today: dt.date
) -> dict[str, Any]:
    """The answer per model version (all versions first), the weekly uplift chart, the
    days, then the report's charts and where the table is."""
    metadata: dict[str, Any] = {}
    answer = cards(daily, found.flags, config, today=today)
    for card in answer[-1:] + answer[:-1]:
        metadata[card.title] = card.text().split(": ", 1)[1]
    sparkline = weekly_sparkline(daily, config.currency) if len(daily) else None
    if sparkline:
        metadata["uplift over time"] = dg.MetadataValue.md(sparkline)
    if len(daily):
        n_days = int(daily["date"].nunique())
        mature = int(daily.loc[daily["mature"].astype(bool), "date"].nunique())
        estimated = int(daily.loc[estimate_kinds(daily) == "estimated", "date"].nunique())
        metadata["days"] = (
            f"{n_days:,} days, {day(daily['date'].min(), today=today)} – "
            f"{day(daily['date'].max(), today=today)}: {mature:,} mature, "
            f"{estimated:,} estimated from the scores (labels still arriving)"
        )
    metadata["dagster/row_count"] = len(daily)
    if len(daily):
        curves = store.read_partitions("threshold_curve")
        metadata["charts"] = chart_markdown(charts(daily, found.flags, curves, config))
    metadata["path"] = dg.MetadataValue.path(str(store.path("daily_summary")))
    return metadata


def flags_metadata(
    found: FlagResult, store: Store, config: GuapConfig, today: dt.date
) -> dict[str, Any]:
    """Each active flag in the alert's words, then what could not be assessed."""
    daily = store.read("daily_summary")
    metadata: dict[str, Any] = {"active flags": len(found.flags)}
    for _, flag in found.flags.iterrows():
        context = flag_context(daily, config, flag, today=today)
        words = headline("opened", flag, context, currency=config.currency, today=today)
        metadata[f"{flag['model_version']} {str(flag['flag']).replace('_', ' ')}"] = words
    metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {n}" for n in found.notes) or "none")
    metadata["path"] = dg.MetadataValue.path(str(store.path("flags")))
    return metadata
