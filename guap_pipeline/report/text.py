"""Short human summaries of the daily table, for the command line and logs."""

from __future__ import annotations

import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.estimate import ESTIMATED_PROFIT, LEVEL, estimate_kinds
from guap_pipeline.formatting import money as _money
from guap_pipeline.formatting import per_unit, percent
from guap_pipeline.ingest.label_feed import LabelFeed
from guap_pipeline.ingest.stage_report import FileOutcome, StageReport
from guap_pipeline.ingest.validation import BEFORE_START
from guap_pipeline.series.daily_table import overall
from guap_pipeline.series.early_warning import early_declines
from guap_pipeline.series.recent import RECENT_DAYS, recent_mature
from guap_pipeline.series.roi import payback

TOP_REASONS = 5  # (file, reason) groups of quarantined rows listed after a run


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def version_table(daily: pd.DataFrame) -> pd.DataFrame:
    """Per model version (and overall): days, volumes, money, and the recent mature pace."""
    frames = pd.concat([daily, overall(daily)], ignore_index=True)
    rows = []
    for version, rows_v in frames.groupby("model_version", sort=True):
        mature = rows_v[rows_v["mature"].astype(bool)].sort_values("date")
        recent = recent_mature(mature)
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


def readable_version_table(daily: pd.DataFrame, currency: str = "") -> pd.DataFrame:
    """:func:`version_table` as people read it, in the summary and the report alike:
    headers in words, money rounded (with its currency), ratios as percentages."""
    table = version_table(daily)
    money = f" ({currency})" if currency else ""
    formats = {
        "model_version": ("model version", str),
        "days": ("days", "{:,}".format),
        "mature_days": ("mature days", "{:,}".format),
        "predictions": ("predictions", "{:,}".format),
        "labeled": ("labeled", "{:,}".format),
        "profit": (f"profit{money}", _money),
        "uplift": (f"uplift{money}", _money),
        "uplift_per_day_recent": (f"uplift per day, recent{money}", _money),
        "uplift_per_prediction_recent": ("uplift per prediction, recent", per_unit),
        "value_capture_recent": ("value capture, recent", percent),
    }
    return pd.DataFrame(
        {header: table[column].map(format_) for column, (header, format_) in formats.items()}
    )


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


def label_feed_lines(feed: LabelFeed | None, model: str = "") -> list[str]:
    """The label feed's warning, when days wait on labels that stopped arriving."""
    message = None if feed is None else feed.message(model)
    return [] if message is None else [f"label feed (WARN): {message}"]


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
        ceiling = (
            "" if pd.isna(row.ceiling) else f", ceiling {row.ceiling:,.2f} per labeled prediction"
        )
        since = pd.Timestamp(row.start_date).date().isoformat()
        version = f"{row.model_version}: " if "model_version" in flags else ""  # older tables
        lines.append(f"  {version}{row.flag}{where} since {since}{money}{ceiling}")
    return lines


def summary_text(
    daily: pd.DataFrame | None,
    config: GuapConfig,
    flags: pd.DataFrame | None = None,
    label_feed: LabelFeed | None = None,
) -> str:
    """A few lines a person reads after a run: money per version, ROI, payback, the
    label feed's warning, flags."""
    if daily is None or daily.empty:
        return "No labeled predictions yet: nothing to summarise."
    first, last, n_days = daily["date"].min(), daily["date"].max(), daily["date"].nunique()
    lines = [
        f"guap-pipeline summary: {first} .. {last}, {n_days} day{'s' if n_days != 1 else ''} "
        f"(recent pace = last {RECENT_DAYS} mature days)",
        "",
    ]
    lines.append(readable_version_table(daily, config.currency).to_string(index=False))
    lines += ["", *roi_lines(daily, config), *estimate_lines(daily)]
    lines += [*label_feed_lines(label_feed, config.model_name), *flag_lines(flags)]
    return "\n".join(lines)


def _hint(outcome: FileOutcome, reason: str, config: GuapConfig, *, every: bool) -> str | None:
    """What to change in guap.yaml when one reason quarantines ``every`` row of a file,
    or any row only because start_date was left to its default."""
    if reason.startswith(BEFORE_START) and outcome.first_day:
        return (
            _start_date_hint(outcome.first_day, config)
            if every or not config.start_date_given
            else None
        )
    if not every:
        return None
    if "is not one of the classes" in reason:
        return "map the values your file uses with `class_values:` in guap.yaml"
    return None


def _start_date_hint(first_day: str, config: GuapConfig) -> str:
    if config.start_date_given:
        return f"this file starts {first_day}: move start_date in guap.yaml if you want it"
    return f"your data starts {first_day}: set `start_date: {first_day}` in guap.yaml"


def _before_default_start(report: StageReport, config: GuapConfig) -> tuple[int, str | None] | None:
    """Rows quarantined only because guap.yaml sets no start_date (the default applies),
    and the first day of the data; ``None`` when start_date is set or no row is early."""
    early = [f for f in report.files if any(r.startswith(BEFORE_START) for r in f.reasons)]
    if config.start_date_given or not early:
        return None
    rows = sum(n for f in early for r, n in f.reasons.items() if r.startswith(BEFORE_START))
    firsts = [f.first_day for f in early if f.first_day]
    return rows, min(firsts) if firsts else None


def input_problems(report: StageReport | None, config: GuapConfig) -> list[str]:
    """Why the run's input needs the user (the causes of exit status 3); empty if none."""
    if report is None:
        return []
    problems = []
    whole = [f.relative for f in report.files if f.rejected_whole]
    if whole:
        problems.append(
            f"{_count(len(whole), 'file')} rejected whole ({', '.join(whole[:3])}"
            f"{', ...' if len(whole) > 3 else ''})"
        )
    read, quarantined = report.rows_read, report.quarantined_rows
    if read and quarantined / read > config.quarantine_tolerance:
        problems.append(
            f"{quarantined / read:.1%} of the rows read went to quarantine "
            f"(quarantine_tolerance {config.quarantine_tolerance:.1%})"
        )
    early = _before_default_start(report, config)
    if early is not None:
        rows, first = early
        fix = _start_date_hint(first, config) if first else "set `start_date:` in guap.yaml"
        problems.append(
            f"{_count(rows, 'row')} predicted before start_date {config.start_date}, "
            f"the default (guap.yaml sets none): {fix} and run again"
        )
    return problems


def database_line(report: StageReport | None, config: GuapConfig) -> str | None:
    """Rows this run read from the database source, per kind; ``None`` for a landing
    folder. The files listed after it are the extracts those rows were written to."""
    if config.source is None:
        return None
    pulled = report.pulled if report is not None else {}
    counts = ", ".join(f"{pulled.get(read.kind, 0):,} {read.kind}" for read in config.source.reads)
    return f"database: {_count(sum(pulled.values()), 'new row')} read ({counts})"


def input_lines(report: StageReport | None, config: GuapConfig) -> list[str]:
    """What the run did with the landing files: files read, rows accepted, rows
    quarantined by reason (largest first, with their file), labels still waiting, and a
    hint for each file that one reason rejects whole."""
    database = database_line(report, config)
    if report is None or not (report.files or report.removed):
        return [database or f"input: no new files in {config.landing}"]
    read, quarantined = report.rows_read, report.quarantined_rows
    opened = [f for f in report.files if f.rejected is None]
    refused = len(report.files) - len(opened)
    kinds = pd.Series([f.kind for f in opened], dtype="object").value_counts()
    what = ", ".join(f"{n} {kind}" for kind, n in kinds.sort_index().items())
    lines = [database] if database else []
    lines += [
        f"input: {_count(len(opened), 'file')} read ({what or 'none'})"
        + (f", {refused:,} not read" if refused else "")
        + (f", {len(report.removed)} removed" if report.removed else "")
        + f": {_count(read, 'row')}, {report.rows_accepted:,} accepted, "
        f"{quarantined:,} quarantined" + (f" ({quarantined / read:.1%})" if read else "")
    ]
    groups = sorted(
        ((n, f, reason) for f in report.files for reason, n in f.reasons.items()),
        key=lambda group: (-group[0], group[1].relative, group[2]),
    )
    if groups:
        lines.append("  quarantined, largest first:")
    for n, outcome, reason in groups[:TOP_REASONS]:
        every = n == outcome.rows_read
        lines.append(f"    {n:>9,}  {outcome.relative}: {reason}{'  (every row)' if every else ''}")
        hint = _hint(outcome, reason, config, every=every)
        if hint:
            lines.append(f"    {'':>9}  hint: {hint}")
    if len(groups) > TOP_REASONS:
        rest = groups[TOP_REASONS:]
        lines.append(
            f"    {sum(n for n, _, _ in rest):>9,}  in {len(rest)} more (file, reason) groups"
        )
    lines += [f"  not read: {f.relative}: {f.rejected}" for f in report.files if f.rejected]
    if ids := report.ids_line():
        lines.append(f"  {ids}")
    if report.labels_waiting:
        lines.append(
            f"  labels waiting for their prediction: {report.labels_waiting:,} "
            "(each is routed to its day when its prediction lands)"
        )
    return lines
