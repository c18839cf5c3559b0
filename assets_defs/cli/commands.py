"""``guap-pipeline``: run the monitoring pipeline, export its tables, write the report.

Each command imports what it needs when it runs: ``--help`` imports neither Dagster nor
pandas; ``export``, ``report`` and ``flags`` read through the core; ``demo`` and ``run``
import Dagster only when the plan finds something missing or stale
(:mod:`assets_defs.cli.summary`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from assets_defs.cli.summary import RunSummary
    from guap_pipeline.config import GuapConfig

AS_OF_HELP = (
    "pretend today is this ISO date (default: today): the last day built, which days are "
    "mature and which are estimated follow it; for reproducible runs and backfills"
)
OK, FAILED, INPUT_REJECTED = 0, 1, 3  # exit statuses (SPEC "Command line")
WORST = (OK, INPUT_REJECTED, FAILED)  # several models: the command exits with the worst
MODEL_HELP = "with a models: section in the config, only this model (default: every model in turn)"
EXIT_STATUSES = """\
exit status of run and demo:
  0  all went well
  1  an error (bad config, missing folder, failed step): one message names the cause
  3  the tables were built, but a landing file was rejected whole, more than
     quarantine_tolerance (guap.yaml, default 1%) of the rows read went to quarantine,
     or rows were dropped by the default start_date; the message says what to fix
"""


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _models(config_path: str | Path, model: str | None) -> dict[str, GuapConfig]:
    """The config's models by name, or only ``model`` (``""``: a single-model file)."""
    from guap_pipeline.models_config import load_deployment

    return dict(load_deployment(config_path).select(model).models)


def _each_model(
    config_path: str | Path, model: str | None, command: Callable[[str, GuapConfig], int]
) -> int:
    """``command`` for every selected model in turn; the worst exit status. A model's
    error is printed naming it, and the others still run."""
    from guap_pipeline.errors import GuapError

    models = _models(config_path, model)
    if "" in models:
        return command("", models[""])
    statuses = []
    for name, config in models.items():
        _progress(f"model {name}")
        try:
            statuses.append(command(name, config))
        except GuapError as exc:
            print(f"guap-pipeline: error: model {name}: {exc}", file=sys.stderr)
            statuses.append(FAILED)
    return max(statuses, key=WORST.index)


def _run_pipeline(
    config_path: Path, as_of: str | None, config: GuapConfig, model: str = ""
) -> RunSummary:
    """Execute every missing or stale step of ``model`` through Dagster, in-process;
    without Dagster when nothing is missing or stale."""
    from assets_defs.cli.summary import run_if_current
    from guap_pipeline.alerts.delivery import WebhookNotifier, notifiers

    started = time.perf_counter()
    day = dt.date.fromisoformat(as_of) if as_of else None
    summary = run_if_current(config, day, notifiers(WebhookNotifier()), progress=_progress)
    if summary is None:
        summary = _run_graph(config, config_path, as_of, model)
    if summary.did_nothing:
        _progress("nothing new: every day is current")
    else:
        elapsed = time.perf_counter() - started
        _progress(f"done in {elapsed:.1f}s: {len(summary.days_built)} day(s) rebuilt")
    if summary.out_of_range_days:
        _progress(
            f"warning: {len(summary.out_of_range_days)} day(s) outside the partitions "
            f"({summary.out_of_range_days[0]} ..): check start_date and time zones"
        )
    return summary


def _run_graph(config: GuapConfig, config_path: Path, as_of: str | None, model: str) -> RunSummary:
    """The asset graph's run: whatever is missing or stale, through Dagster."""
    import assets_defs.quiet  # noqa: F401  (first: before any asset is defined)
    from assets_defs.factory import build_definitions  # isort: split
    from assets_defs.cli.runner import persistent_instance, run_monitoring
    from assets_defs.models import ModelKeys
    from assets_defs.resources import GuapResource

    defs = build_definitions(config_path.resolve())  # partitions follow the config
    guap = GuapResource(config_path=str(config_path.resolve()), as_of=as_of or "")
    with persistent_instance(config.storage) as instance:
        return run_monitoring(defs, guap, instance, model=ModelKeys(model), progress=_progress)


def _print_summary(
    config: GuapConfig, summary: RunSummary, config_path: Path, model: str = ""
) -> int:
    """The money summary, then what the run did with the input; returns the exit status."""
    from guap_pipeline.ingest import label_feed
    from guap_pipeline.report.text import input_lines, input_problems, summary_text
    from guap_pipeline.store.store import Store

    store = Store(config.storage)
    feed = label_feed.stored(store)
    if model:
        print(f"== model {model} ==")
    print(summary_text(store.read("daily_summary"), config, store.read("flags"), feed))
    print()
    print("\n".join(input_lines(summary.staging, config)))
    if summary.staging is not None and summary.staging.quarantined_rows:
        print(
            "  every quarantined row, with its reason: guap-pipeline export quarantine "
            f"--config {config_path}{f' --model {model}' if model else ''} "
            "--output quarantine.csv"
        )
    problems = input_problems(summary.staging, config)
    if not problems:
        return OK
    print(
        f"guap-pipeline: {f'model {model}: ' if model else ''}the tables were built from "
        "the good rows, but " + "; ".join(problems) + f" (exit status {INPUT_REJECTED})",
        file=sys.stderr,
    )
    return INPUT_REJECTED


def cmd_demo(args: argparse.Namespace) -> int:
    from guap_pipeline.datasets.demo import DAYS, write_demo

    directory = Path(args.dir)
    days = args.days or DAYS
    _progress(f"writing {days} days of demo traffic to {directory}/")
    config_path = write_demo(directory, days=days)
    config = _models(config_path, None)[""]
    summary = _run_pipeline(config_path, args.as_of, config)
    status = _print_summary(config, summary, config_path)
    home = os.environ.get("DAGSTER_HOME") or config.storage / "dagster_home"
    print(
        f"\nconfig: {config_path}\nUI:     GUAP_CONFIG={config_path} DAGSTER_HOME={home} "
        "dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000"
    )
    return status


def cmd_run(args: argparse.Namespace) -> int:
    config_path = Path(args.config)

    def run(model: str, config: GuapConfig) -> int:
        summary = _run_pipeline(config_path, args.as_of, config, model)
        return _print_summary(config, summary, config_path, model)

    status = _each_model(config_path, args.model, run)
    models = _models(config_path, args.model)
    if len(models) > 1:  # the models side by side and in total, as their stores now hold them
        from guap_pipeline.report.portfolio import portfolio_text, read_portfolio

        print("\n== portfolio ==")
        print(portfolio_text(read_portfolio(models)))
    return status


def _exported(config: GuapConfig, table: str) -> pd.DataFrame | None:
    """A stored table as users see it; ``None`` before the first run (the caller says so)."""
    from guap_pipeline.store.store import Store

    store = Store(config.storage)
    if table == "daily":
        from guap_pipeline.series.daily_table import DAILY_COLUMNS

        frame = store.read("daily_summary")
        return None if frame is None else frame[list(DAILY_COLUMNS)]
    if table == "cells":
        return store.read_partitions("daily_cells") if store.partitions("daily_cells") else None
    from guap_pipeline.steps import quarantine

    return quarantine(store)


EXPORTS = {
    "daily": "the daily summary table",
    "cells": "the K×K cell table (date, model_version, true_class, predicted_class, count, value)",
    "quarantine": "every quarantined row with its reason",
}


def cmd_export(args: argparse.Namespace) -> int:
    from guap_pipeline.errors import GuapError
    from guap_pipeline.report.portfolio import combined

    frames: dict[str, pd.DataFrame] = {}

    def read(model: str, config: GuapConfig) -> int:
        frame = _exported(config, args.table)
        if frame is None:
            raise GuapError(
                f"no {args.table} table in {config.storage} yet: run `guap-pipeline run`"
            )
        frames[model] = frame
        return OK

    status = _each_model(args.config, args.model, read)
    if not frames:
        return status
    several = args.model is None and "" not in frames  # every model in one file
    frame = combined(frames) if several else next(iter(frames.values()))
    frame.to_csv(args.output, index=False)
    counts = f" ({', '.join(f'{n}: {len(f)}' for n, f in frames.items())})" if several else ""
    _progress(f"wrote {len(frame)} rows to {args.output}{counts}")
    return status


def cmd_report(args: argparse.Namespace) -> int:
    import pandas as pd

    from guap_pipeline.errors import GuapError
    from guap_pipeline.report.html import render_html
    from guap_pipeline.report.portfolio import model_line, portfolio
    from guap_pipeline.report.portfolio_page import ModelTables, render_portfolio_html
    from guap_pipeline.store.store import Store

    tables: dict[str, ModelTables] = {}

    def read(model: str, config: GuapConfig) -> int:
        store = Store(config.storage)
        daily, flags = store.read("daily_summary"), store.read("flags")
        if flags is None:
            flags = pd.DataFrame(columns=["series", "flag", "start_date"])
        built = daily is not None and not daily.empty
        curves = store.read_partitions("threshold_curve") if built else pd.DataFrame()
        tables[model] = ModelTables(config, daily, flags, curves)
        if not built:
            raise GuapError(
                f"no daily summary in {config.storage} yet: run `guap-pipeline run` first"
            )
        return OK

    status = _each_model(args.config, args.model, read)
    built = {name: t for name, t in tables.items() if t.daily is not None and not t.daily.empty}
    if not built:
        return status
    today = dt.date.today()
    if args.model is None and "" not in tables:  # every model: the portfolio, then each
        lines = [model_line(name, t.daily, t.flags, t.config) for name, t in tables.items()]
        page = render_portfolio_html(portfolio(lines), tables, generated=today)
    else:
        [one] = built.values()
        page = render_html(one.daily, one.flags, one.curves, one.config, generated=today)
    output = Path(args.output)
    output.write_text(page, encoding="utf-8")
    _progress(f"wrote {output} ({len(page) // 1024} KiB, self-contained)")
    return status


FLAGS_INPUT = ("date", "n_predictions", "n_labeled", "tp", "fp", "fn", "tn")


def cmd_flags(args: argparse.Namespace) -> int:
    import pandas as pd

    from guap_pipeline.errors import GuapError
    from guap_pipeline.flags import FLAG_COLUMNS, detect_flags_by, explain
    from guap_pipeline.money.summary import summary_from_counts

    models = _models(args.config, args.model)
    if len(models) > 1:  # one daily table is one model's: whose values apply is not a guess
        raise GuapError(
            f"{args.daily} is one model's daily table: name it with --model (one of {list(models)})"
        )
    [config] = models.values()
    try:
        daily = pd.read_csv(args.daily)
    except (OSError, ValueError) as exc:
        raise GuapError(f"cannot read {args.daily} as CSV: {exc}") from None
    missing = [c for c in (*FLAGS_INPUT, *([args.by] if args.by else [])) if c not in daily]
    if missing:
        raise GuapError(f"{args.daily} lacks column(s) {missing}; needs {list(FLAGS_INPUT)}")
    daily = summary_from_counts(
        daily, config.value_matrix, baseline=config.baseline, positive_class=config.positive_class
    )
    n_series = daily[args.by].nunique() if args.by else 1
    _progress(f"assessing {n_series} series of {daily['date'].nunique()} days")
    flags = detect_flags_by(daily, args.by, config.flags)
    flags[list(FLAG_COLUMNS)].to_csv(args.output, index=False)
    counts = flags["flag"].value_counts().to_dict() if len(flags) else {}
    _progress(f"wrote {len(flags)} active flag(s) to {args.output}: {counts or 'none'}")
    if not args.by:
        for note in explain(daily, config.flags):
            _progress(f"note: {note}")
    return OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="guap-pipeline",
        description="Is the deployed classifier making money? Daily realized profit, "
        "uplift and trend flags.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="write the demo data set and run the whole pipeline",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--days", type=int, help="days of demo traffic (default: enough to raise every flag)"
    )
    demo.add_argument("--dir", default="guap-demo", help="folder to write into (default guap-demo)")
    demo.add_argument("--as-of", help=AS_OF_HELP)
    demo.set_defaults(func=cmd_demo)

    run = commands.add_parser(
        "run",
        help="materialize every missing or stale partition",
        description="Stage new landing files, rebuild the days they touch, restitch the "
        "series; then print the summary and what the run did with the input.",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--config", required=True, help="path to guap.yaml")
    run.add_argument("--as-of", help=AS_OF_HELP)
    run.add_argument("--model", help=MODEL_HELP)
    run.set_defaults(func=cmd_run)

    export = commands.add_parser("export", help="write a pipeline table to a file")
    tables = export.add_subparsers(dest="table", required=True)
    for table, what in EXPORTS.items():
        sub = tables.add_parser(table, help=f"{what}, as CSV")
        sub.add_argument("--config", required=True, help="path to guap.yaml")
        sub.add_argument(
            "--output",
            required=True,
            help="CSV file to write (several models: one file, a `model` column first)",
        )
        sub.add_argument("--model", help=MODEL_HELP)
        sub.set_defaults(func=cmd_export, table=table)

    flags = commands.add_parser(
        "flags", help="trend flags (decline, plateau, diminishing returns) of a daily table"
    )
    flags.add_argument("daily", help="daily summary CSV (date, n_predictions, n_labeled, tp..tn)")
    flags.add_argument("--config", required=True, help="path to guap.yaml (values, settings)")
    flags.add_argument("--by", help="column to split series on (segment, model_version, ...)")
    flags.add_argument("--output", required=True, help="flags CSV to write")
    flags.add_argument(
        "--model", help="with a models: section: the model whose values and settings apply"
    )
    flags.set_defaults(func=cmd_flags)

    report = commands.add_parser("report", help="write the self-contained HTML report")
    report.add_argument("--config", required=True, help="path to guap.yaml")
    report.add_argument(
        "--output",
        required=True,
        help="HTML file to write (several models: one page, the portfolio on top)",
    )
    report.add_argument("--model", help=MODEL_HELP)
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run the command; 0, 1 (an error, its message on stderr) or 3 (input rejected)."""
    args = build_parser().parse_args(argv)  # `--help` exits here, before any heavy import
    from guap_pipeline.errors import GuapError

    try:
        return args.func(args)
    except GuapError as exc:
        print(f"guap-pipeline: error: {exc}", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
