"""The report people look at: one self-contained HTML page, charts embedded as PNG.

Charts: profit and uplift per day with flags marked (immature days hollow), the newest
days' profit estimated from the scores with its interval, cumulative net profit against
the investment with the payback date, daily quadrant values stacked, and the
threshold-hindsight profit curve; then the summary table. No network is needed
to view the page: images are data URIs and there is no script.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from guap_pipeline.config import GuapConfig
from guap_pipeline.estimate import LEVEL, estimate_kinds
from guap_pipeline.report import readable_version_table
from guap_pipeline.roi import Payback, payback
from guap_pipeline.timeseries import overall
from guap_pipeline.value_matrix import QUADRANTS

CHARTS = (
    "profit_series",
    "profit_estimate",
    "cumulative_net_profit",
    "quadrant_values",
    "threshold_curve",
)
COLORS = {"tp": "#2b8a3e", "fp": "#e67700", "fn": "#c92a2a", "tn": "#868e96"}


def _axes(height: float) -> tuple[Figure, Axes]:
    """A fresh figure (no pyplot state: safe in threads and servers) and its axes."""
    figure = Figure(figsize=(9, height))
    return figure, figure.subplots()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def _dates(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["date"])


def profit_series_chart(daily: pd.DataFrame, flags: pd.DataFrame) -> bytes:
    """Uplift per day per version; mature days solid, immature hollow; flags as lines."""
    figure, axis = _axes(3.6)
    for version, rows in daily.groupby("model_version", sort=True):
        rows = rows.sort_values("date")
        mature = rows["mature"].astype(bool)
        line = axis.plot(_dates(rows), rows["uplift"], lw=1, label=f"uplift {version}")[0]
        axis.scatter(_dates(rows[~mature]), rows.loc[~mature, "uplift"], s=12,
                     facecolors="none", edgecolors=line.get_color())  # fmt: skip
    for flag in flags.itertuples():
        if pd.notna(flag.start_date):
            axis.axvline(pd.Timestamp(flag.start_date), color="#c92a2a", ls="--", lw=1)
            axis.annotate(flag.flag, (pd.Timestamp(flag.start_date), axis.get_ylim()[1]),
                          fontsize=8, color="#c92a2a", va="top")  # fmt: skip
    axis.axhline(0, color="black", lw=0.5)
    axis.set_title("Uplift per day (hollow: not yet mature; dashed: flags)")
    axis.legend(fontsize=8)
    return _png(figure)


def estimate_chart(series: pd.DataFrame) -> bytes:
    """Profit per day (all versions): realized, and for days whose labels are still
    arriving the estimate from the scores with its interval, marked as estimated."""
    figure, axis = _axes(3.2)
    when = _dates(series)
    axis.plot(when, series["profit"], lw=1, color="#1c7ed6", label="realized (labeled rows)")
    if "estimated_profit" in series.columns:
        open_days = (estimate_kinds(series) == "estimated").to_numpy()
        axis.plot(when[open_days], series.loc[open_days, "estimated_profit"], ls="--", lw=1.5,
                  marker="o", ms=3, color="#e67700", label="estimated once labeled")  # fmt: skip
        axis.fill_between(when[open_days], series.loc[open_days, "estimated_profit_low"],
                          series.loc[open_days, "estimated_profit_high"], color="#e67700",
                          alpha=0.2, label=f"{LEVEL:.0%} interval")  # fmt: skip
    axis.axhline(0, color="black", lw=0.5)
    axis.set_title("Profit per day — newest days estimated from the scores (dashed)")
    axis.legend(fontsize=8)
    return _png(figure)


def cumulative_chart(series: pd.DataFrame, investment: float, result: Payback) -> bytes:
    """Cumulative net profit (all versions) against the one-time investment."""
    figure, axis = _axes(3.2)
    axis.plot(_dates(series), series["cumulative_net_profit"], lw=1.5, label="cumulative net")
    if investment > 0:
        axis.axhline(investment, color="#e67700", ls="--", lw=1, label="investment")
    when = result.reached_on or result.projected_on
    if when is not None and result.reached_on:
        axis.axvline(pd.Timestamp(when), color="#2b8a3e", lw=1, label=f"payback {when}")
    axis.set_title(f"Cumulative net profit — payback: {result.describe()}")
    axis.legend(fontsize=8)
    return _png(figure)


def quadrant_chart(series: pd.DataFrame, names: dict[str, str]) -> bytes:
    """Daily value of each quadrant (all versions), stacked: gains up, costs down. Each
    quadrant is one stepped area, a bar per day: a bar chart's patch per day would take
    seconds to draw a year."""
    figure, axis = _axes(3.2)
    when = _dates(series)
    up = pd.Series(0.0, index=series.index)
    down = pd.Series(0.0, index=series.index)
    for q in QUADRANTS:
        values = series[f"value_{q}"].astype("float64").fillna(0.0)
        base = up.where(values >= 0, down)
        axis.fill_between(
            when, base, base + values, step="mid", lw=0, color=COLORS[q], label=names[q]
        )
        up, down = up + values.clip(lower=0), down + values.clip(upper=0)
    axis.set_title("Value per quadrant per day")
    axis.legend(fontsize=8, ncols=4)
    return _png(figure)


def threshold_chart(curves: pd.DataFrame, thresholds: dict[str, float]) -> bytes:
    """Profit over the last 28 days had each threshold been used, per model version."""
    figure, axis = _axes(3.2)
    if curves.empty:
        axis.text(0.5, 0.5, "no scored, labeled rows yet", ha="center", transform=axis.transAxes)
        return _png(figure)
    for version, rows in curves.groupby("model_version", sort=True):
        recent = rows[rows["date"] >= sorted(rows["date"].unique())[-28:][0]]
        total = recent.groupby("threshold")["profit"].sum()
        axis.plot(total.index, total.to_numpy(), lw=1.5, label=f"{version}")
        best = total.idxmax()
        axis.scatter([best], [total.max()], s=20)
    for label, value in thresholds.items():
        axis.axvline(value, color="black", ls=":", lw=1, label=label)
    axis.set_xlabel("threshold")
    axis.set_title("Threshold hindsight (last 28 labeled days)")
    axis.legend(fontsize=8)
    return _png(figure)


def charts(
    daily: pd.DataFrame, flags: pd.DataFrame, curves: pd.DataFrame, config: GuapConfig
) -> dict[str, bytes]:
    """Every chart of the report as PNG bytes, keyed by ``CHARTS`` names."""
    series = overall(daily).sort_values("date")
    result = payback(series, config.operating_cost.investment)
    return {
        "profit_series": profit_series_chart(daily, flags),
        "profit_estimate": estimate_chart(series),
        "cumulative_net_profit": cumulative_chart(series, config.operating_cost.investment, result),
        "quadrant_values": quadrant_chart(series, dict(config.quadrants)),
        "threshold_curve": threshold_chart(curves, {"configured": config.threshold}),
    }


def render_html(
    daily: pd.DataFrame,
    flags: pd.DataFrame,
    curves: pd.DataFrame,
    config: GuapConfig,
    *,
    generated: dt.date,
) -> str:
    """The whole report page; every chart an ``<img>`` with a data URI."""
    images = charts(daily, flags, curves, config)
    result = payback(overall(daily).sort_values("date"), config.operating_cost.investment)
    table = readable_version_table(daily, config.currency)
    flag_rows = (
        flags[
            ["series", "model_version", "flag", "start_date", "money_at_stake", "evidence"]
        ].to_html(index=False)
        if len(flags)
        else "<p>No active flags.</p>"
    )
    figures = "\n".join(
        f'<figure id="chart-{name}"><img alt="{name}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"></figure>'
        for name, png in images.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>guap-pipeline report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>Is the model making money?</h1>
<p>{html.escape(str(daily["date"].min()))} .. {html.escape(str(daily["date"].max()))},
generated {generated.isoformat()}. Payback: {html.escape(result.describe())}.</p>
<h2>Flags</h2>
{flag_rows}
<h2>Charts</h2>
{figures}
<h2>Summary</h2>
{table.to_html(index=False)}
</body></html>
"""
