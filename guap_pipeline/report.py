"""Short human summaries of the daily table, for the command line and logs."""

from __future__ import annotations

import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.early_warning import early_declines
from guap_pipeline.estimate import ESTIMATED_PROFIT, LEVEL, estimate_kinds
from guap_pipeline.roi import payback
from guap_pipeline.timeseries import overall

RECENT_DAYS = 28


def _money(value: float) -> str:
    return f"{value:,.0f}"


def version_table(daily: pd.DataFrame) -> pd.DataFrame:
    """Per model version (and overall): days, volumes, money, and the recent mature pace."""
    frames = pd.concat([daily, overall(daily)], ignore_index=True)
    rows = []
    for version, rows_v in frames.groupby("model_version", sort=True):
        mature = rows_v[rows_v["mature"].astype(bool)].sort_values("date")
        recent = mature.tail(RECENT_DAYS)
        n_lab = recent["n_labeled"].sum()
        headroom = (recent["oracle_profit"] - recent["baseline_profit"]).sum()
        rows.append(
            {
                "model_version": version,
                "days": rows_v["date"].nunique(),
                "mature_days": len(mature),
                "predictions": int(rows_v["n_predictions"].sum()),
                "labeled": int(rows_v["n_labeled"].sum()),
                "profit": rows_v["profit"].sum(),
                "uplift": rows_v["uplift"].sum(),
                "uplift_per_day_recent": recent["uplift"].mean() if len(recent) else float("nan"),
                "uplift_per_prediction_recent": (
                    recent["uplift"].sum() / n_lab if n_lab else float("nan")
                ),
                "value_capture_recent": (
                    recent["uplift"].sum() / headroom if headroom else float("nan")
                ),
            }
        )
    return pd.DataFrame(rows)


def roi_lines(daily: pd.DataFrame, config: GuapConfig) -> list[str]:
    """Net profit, ROI and payback of all versions together."""
    series = overall(daily).sort_values("date")
    last = series.iloc[-1]
    roi = last["roi"]
    return [
        f"net profit {_money(last['cumulative_net_profit'])} (uplift − operating cost of "
        f"the labeled rows, {_money(series['operating_cost'].sum())}); "
        f"ROI {'n/a' if pd.isna(roi) else f'{roi:.1f}×'} (net profit / that cost); "
        f"payback: {payback(series, config.operating_cost.investment).describe()}"
    ]


def estimate_lines(daily: pd.DataFrame) -> list[str]:
    """The newest days' profit as realized so far and as estimated from the scores."""
    if not set(ESTIMATED_PROFIT) <= set(daily.columns):
        return []
    kinds = estimate_kinds(daily)
    open_days = daily[kinds != "realized"]
    if open_days.empty:
        return ["estimate: every day is realized (labels in, or the label window passed)"]
    estimated = daily[kinds == "estimated"]
    lines = []
    if len(estimated):
        first, last = estimated["date"].min(), estimated["date"].max()
        lines.append(
            f"estimate, {first} .. {last} (labels still arriving): realized so far "
            f"{_money(estimated['profit'].sum())}; estimated "
            f"{_money(estimated['estimated_profit'].sum())} once labeled "
            f"(per-day {LEVEL:.0%} intervals in the daily table)"
        )
    lines += [f"early warning (estimate, WARN only): {w.evidence()}" for w in early_declines(daily)]
    missing = daily[kinds == "none"]
    if len(missing):
        lines.append(
            f"estimate: none for {len(missing)} day(s) of "
            f"{', '.join(sorted(map(str, missing['model_version'].unique())))} "
            "(no scores, or no mature days to calibrate on: see estimate_note in the "
            "profit time series)"
        )
    return lines


def flag_lines(flags: pd.DataFrame | None) -> list[str]:
    """One line per active flag, with the money at stake and the start date."""
    if flags is None or flags.empty:
        return ["flags: none active"]
    lines = ["flags:"]
    for row in flags.itertuples():
        where = f" [{row.series}]" if row.series else ""
        money = (
            "" if pd.isna(row.money_at_stake) else f", {_money(row.money_at_stake)}/day at stake"
        )
        ceiling = "" if pd.isna(row.ceiling) else f", ceiling {_money(row.ceiling)}"
        since = pd.Timestamp(row.start_date).date().isoformat()
        lines.append(f"  {row.flag}{where} since {since}{money}{ceiling}")
    return lines


def summary_text(
    daily: pd.DataFrame | None, config: GuapConfig, flags: pd.DataFrame | None = None
) -> str:
    """A few lines a person reads after a run: money per version, ROI, payback, flags."""
    if daily is None or daily.empty:
        return "No labeled predictions yet: nothing to summarise."
    table = version_table(daily)
    first, last = daily["date"].min(), daily["date"].max()
    lines = [
        f"guap-pipeline summary: {first} .. {last}, {daily['date'].nunique()} days "
        f"(recent pace = last {RECENT_DAYS} mature days)",
        "",
    ]
    shown = table.assign(
        predictions=table["predictions"].map("{:,}".format),
        labeled=table["labeled"].map("{:,}".format),
        profit=table["profit"].map(_money),
        uplift=table["uplift"].map(_money),
        uplift_per_day_recent=table["uplift_per_day_recent"].map(_money),
        uplift_per_prediction_recent=table["uplift_per_prediction_recent"].map("{:,.3f}".format),
        value_capture_recent=table["value_capture_recent"].map("{:.1%}".format),
    )
    lines.append(shown.to_string(index=False))
    lines += ["", *roi_lines(daily, config), *estimate_lines(daily), *flag_lines(flags)]
    return "\n".join(lines)
