"""The report people look at: one self-contained HTML page, charts embedded as PNG.

The answer first: a card per model version (and all versions) with profit and uplift
per day, the trend in words, net profit, ROI and payback (:mod:`guap_pipeline.report.cards`);
then what needs attention, each flag in the alert's words with its evidence folded away;
then the charts, full width: uplift per day per version with flags marked (immature days
hollow), the newest days' profit estimated from the scores with its interval, cumulative
net profit against the investment, daily quadrant values stacked, and the
threshold-hindsight profit curve; then the summary table. No network is needed to view
the page: images are data URIs and there is no script.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io

import pandas as pd
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from guap_pipeline.alerts.incidents import EVIDENCE_PREFIX, message
from guap_pipeline.alerts.store_runs import flag_context
from guap_pipeline.config import GuapConfig
from guap_pipeline.estimate import LEVEL, estimate_kinds
from guap_pipeline.formatting import day, money
from guap_pipeline.report.cards import Card, cards
from guap_pipeline.report.text import readable_version_table
from guap_pipeline.series.acceptance import acceptance
from guap_pipeline.series.daily_table import overall
from guap_pipeline.series.roi import Payback, payback
from guap_pipeline.value_matrix import QUADRANTS

CHARTS = (
    "profit_series",
    "profit_estimate",
    "cumulative_net_profit",
    "quadrant_values",
    "threshold_curve",
)
COLORS = {"tp": "#2b8a3e", "fp": "#e67700", "fn": "#c92a2a", "tn": "#868e96"}


def _axes(height: float, *, dates: bool = True, currency: str = "") -> tuple[Figure, Axes]:
    """A fresh figure (no pyplot state: safe in threads and servers) and its axes, wide
    enough for the page's full width; money on the y axis as people read it (``1.2M``),
    dates on the x axis as short, non-overlapping labels."""
    figure = Figure(figsize=(12, height))
    axis = figure.subplots()
    axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _: money(v, compact=True)))
    axis.set_ylabel(currency or "money")
    if dates:
        locator = mdates.AutoDateLocator(maxticks=12)
        axis.xaxis.set_major_locator(locator)
        axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axis.grid(axis="y", color="#eee")
    return figure, axis


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _dates(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["date"])


FLAG_LABELS = {"decline": "decline", "plateau": "plateau", "diminishing_returns": "slowing"}


def profit_series_chart(daily: pd.DataFrame, flags: pd.DataFrame, currency: str = "") -> bytes:
    """Uplift per day per version; mature days solid, immature hollow; flags as lines."""
    figure, axis = _axes(4.0, currency=f"uplift per day ({currency})" if currency else "")
    for version, rows in daily.groupby("model_version", sort=True):
        rows = rows.sort_values("date")
        mature = rows["mature"].astype(bool)
        line = axis.plot(_dates(rows), rows["uplift"], lw=1, label=f"uplift {version}")[0]
        axis.scatter(_dates(rows[~mature]), rows.loc[~mature, "uplift"], s=12,
                     facecolors="none", edgecolors=line.get_color())  # fmt: skip
    for flag in flags.itertuples():
        if pd.notna(flag.start_date):
            axis.axvline(pd.Timestamp(flag.start_date), color="#c92a2a", ls="--", lw=1)
            label = f"{flag.model_version} {FLAG_LABELS.get(flag.flag, flag.flag)}"
            axis.annotate(label, (pd.Timestamp(flag.start_date), axis.get_ylim()[1]),
                          fontsize=8, color="#c92a2a", va="top", rotation=90)  # fmt: skip
    axis.axhline(0, color="black", lw=0.5)
    axis.set_title(
        "Uplift per day, per model version (hollow: labels still arriving; dashed: flags)"
    )
    axis.legend(fontsize=8, loc="upper left")
    return _png(figure)


def estimate_chart(series: pd.DataFrame, currency: str = "") -> bytes:
    """Profit per day (all versions): realized, and for days whose labels are still
    arriving the estimate from the scores with its interval, marked as estimated."""
    figure, axis = _axes(3.4, currency=f"profit per day ({currency})" if currency else "")
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
    axis.set_title("Profit per day, all versions: newest days estimated from the scores (dashed)")
    axis.legend(fontsize=8, loc="upper left")
    return _png(figure)


def cumulative_chart(
    series: pd.DataFrame, investment: float, result: Payback, currency: str = ""
) -> bytes:
    """Cumulative net profit (all versions) against the one-time investment."""
    figure, axis = _axes(3.4, currency=f"cumulative ({currency})" if currency else "")
    axis.plot(_dates(series), series["cumulative_net_profit"], lw=1.5, label="cumulative net")
    if investment > 0:
        axis.axhline(investment, color="#e67700", ls="--", lw=1, label="investment")
    if result.reached_on:
        axis.axvline(pd.Timestamp(result.reached_on), color="#2b8a3e", lw=1,
                     label=f"payback {day(result.reached_on)}")  # fmt: skip
    newest = pd.Timestamp(series["date"].max()).date()
    axis.set_title(f"Cumulative net profit, all versions — {result.describe(today=newest)}")
    axis.legend(fontsize=8, loc="upper left")
    return _png(figure)


def quadrant_chart(series: pd.DataFrame, names: dict[str, str], currency: str = "") -> bytes:
    """Daily value of each quadrant (all versions), stacked: gains up, costs down. Each
    quadrant is one stepped area, a bar per day: a bar chart's patch per day would take
    seconds to draw a year."""
    figure, axis = _axes(3.4, currency=f"value per day ({currency})" if currency else "")
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
    axis.set_title("Value per quadrant per day, all versions (gains up, costs down)")
    axis.legend(fontsize=8, ncols=4, loc="upper left")
    return _png(figure)


def threshold_chart(
    curves: pd.DataFrame, thresholds: dict[str, float], currency: str = ""
) -> bytes:
    """Profit over the last 28 days had each threshold been used, per model version."""
    figure, axis = _axes(3.4, dates=False, currency=f"profit ({currency})" if currency else "")
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
    axis.set_title("Threshold hindsight: profit of the last 28 labeled days at each threshold")
    axis.legend(fontsize=8)
    return _png(figure)


def charts(
    daily: pd.DataFrame, flags: pd.DataFrame, curves: pd.DataFrame, config: GuapConfig
) -> dict[str, bytes]:
    """Every chart of the report as PNG bytes, keyed by ``CHARTS`` names."""
    series = overall(daily).sort_values("date")
    investment, currency = config.operating_cost.investment, config.currency
    result = payback(series, investment)
    return {
        "profit_series": profit_series_chart(daily, flags, currency),
        "profit_estimate": estimate_chart(series, currency),
        "cumulative_net_profit": cumulative_chart(series, investment, result, currency),
        "quadrant_values": quadrant_chart(series, dict(config.quadrants), currency),
        "threshold_curve": threshold_chart(curves, {"configured": config.threshold}, currency),
    }


STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1.5em 2em;
       max-width: 78em; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.1em; } .sub { color: #555; margin-top: 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(13em, 1fr));
         gap: 1em; margin: 1.2em 0; }
.card { border: 1px solid #ddd; border-left: 6px solid #2b8a3e; border-radius: 6px;
        padding: 0.8em 1em; }
.card.decline { border-left-color: #c92a2a; }
.card.plateau, .card.diminishing_returns { border-left-color: #e67700; }
.card.young { border-left-color: #adb5bd; }
.card h3 { margin: 0 0 0.3em; } .card .trend { font-weight: 600; margin: 0.3em 0; }
.card dl { display: grid; grid-template-columns: auto 1fr; gap: 0.1em 0.8em; margin: 0.4em 0; }
.card dt { color: #555; } .card dd { margin: 0; font-variant-numeric: tabular-nums; }
.card .basis { color: #777; font-size: 0.85em; margin: 0.3em 0 0; }
.attention li { margin-bottom: 0.8em; } .attention .where { color: #444; }
details { color: #555; font-size: 0.9em; } summary { cursor: pointer; }
figure { margin: 1.2em 0; }
img { width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 0.85em; width: 100%; }
td, th { border-bottom: 1px solid #ddd; padding: 0.3em 0.5em; text-align: right; }
th { vertical-align: bottom; } td:first-child, th:first-child { text-align: left; }
td { font-variant-numeric: tabular-nums; }
tr.total td { border-top: 2px solid #999; } .notes { color: #555; font-size: 0.85em; }
.portfolio td { white-space: nowrap; } .portfolio td:nth-child(9) { white-space: normal; }
"""


def _card_html(card: Card) -> str:
    """One headline card: the version, its trend in words, its figures."""
    figures = card.figures()
    trend = figures.pop("trend")
    kind = card.flag or ("young" if trend.startswith(("too young", "no predictions")) else "")
    rows = "".join(
        f"<dt>{html.escape(name)}</dt><dd>{html.escape(value)}</dd>"
        for name, value in figures.items()
    )
    return (
        f'<div class="card {kind}"><h3>{html.escape(card.title)}</h3>'
        f'<p class="trend">{html.escape(trend)}</p><dl>{rows}</dl>'
        f'<p class="basis">{html.escape(card.basis())}</p></div>'
    )


def _attention_html(
    daily: pd.DataFrame, flags: pd.DataFrame, config: GuapConfig, today: dt.date
) -> str:
    """Each active flag in the alert's words; its statistics folded in ``<details>``."""
    if flags.empty:
        return "<p>No flag is active: no decline, plateau or slowing growth.</p>"
    items = []
    for _, flag in flags.iterrows():
        context = flag_context(daily, config, flag, today=today)
        lines = message("opened", flag, context, currency=config.currency, today=today)
        head, *rest = lines.split("\n")
        evidence = [r.removeprefix(EVIDENCE_PREFIX) for r in rest if r.startswith(EVIDENCE_PREFIX)]
        where = [r for r in rest if not r.startswith(EVIDENCE_PREFIX)]
        items.append(
            f"<li><strong>{html.escape(head)}</strong>"
            + "".join(f'<div class="where">{html.escape(w)}</div>' for w in where)
            + "".join(
                f"<details><summary>Evidence</summary>{html.escape(e)}</details>" for e in evidence
            )
            + "</li>"
        )
    return f'<ul class="attention">{"".join(items)}</ul>'


def _acceptance_html(
    daily: pd.DataFrame, config: GuapConfig, today: dt.date, heading: str = "h2"
) -> str:
    """The targets agreed with the business, met or not; nothing when none is set."""
    verdicts = acceptance(daily, config, today)
    if not verdicts:
        return ""
    rows = "".join(
        f"<li>{'met' if v.met else '<strong>not met</strong>'}: "
        f"{html.escape(v.name.replace('_', ' '))} — {html.escape(v.detail)}</li>"
        for v in verdicts
    )
    return f"<{heading}>Acceptance targets</{heading}><ul>{rows}</ul>"


def model_section(
    daily: pd.DataFrame,
    flags: pd.DataFrame,
    curves: pd.DataFrame,
    config: GuapConfig,
    *,
    generated: dt.date,
    heading: int = 2,
) -> str:
    """One model's report below its title: the period, the cards, what needs attention,
    the acceptance targets, the charts, the summary table; ``heading``: the level of its
    section titles (3 on a several-model page, under the model's own)."""
    images = charts(daily, flags, curves, config)
    found = cards(daily, flags, config, today=generated)
    table = readable_version_table(daily, config.currency)
    anchor = f"{config.model_name}-" if config.model_name else ""
    figures = "\n".join(
        f'<figure id="chart-{anchor}{name}"><img alt="{name}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}"></figure>'
        for name, png in images.items()
    )
    first, last = (day(daily["date"].min()), day(daily["date"].max()))
    h, n_days = f"h{heading}", daily["date"].nunique()
    return f"""<p class="sub">{first} – {last}, {n_days:,} days; generated {day(generated)}.
Per day = the mean over the last mature days (labels in).</p>
<section class="cards">{"".join(_card_html(c) for c in found[-1:] + found[:-1])}</section>
<{h}>What needs attention</{h}>
{_attention_html(daily, flags, config, generated)}
{_acceptance_html(daily, config, generated, h)}
<{h}>Charts</{h}>
{figures}
<{h}>Summary</{h}>
{table.to_html(index=False)}
"""


def page(title: str, body: str) -> str:
    """A whole self-contained HTML page around ``body``."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
{body}</body></html>
"""


def render_html(
    daily: pd.DataFrame,
    flags: pd.DataFrame,
    curves: pd.DataFrame,
    config: GuapConfig,
    *,
    generated: dt.date,
) -> str:
    """The whole report page of one model; every chart an ``<img>`` with a data URI. A
    model of a models: section is named in the title."""
    name = config.model_name
    title = f"guap-pipeline report: {name}" if name else "guap-pipeline report"
    question = f"Is the {name} model making money?" if name else "Is the model making money?"
    section = model_section(daily, flags, curves, config, generated=generated)
    return page(title, f"<h1>{html.escape(question)}</h1>\n{section}")
