"""Benchmark: many models in one deployment against one model of as many days (issue 16).

Two ``guap-pipeline run`` processes, each on a fresh store, each its own subprocess:

- **10 models** × 90 days × ``--per-day`` predictions, one config with a ``models:``
  section (each model its own landing folder and store; the folders hold hard links to
  the same files: the same rows, valued ten times);
- **1 model** × 900 days × ``--per-day`` predictions: the same number of rows and of
  model-days, in one series.

Data: :mod:`bench_pipeline`'s backfill generator (synthetic fraud traffic, one
predictions file per day, labels 1-20 days late in one file per arrival day) and its
value matrix. Printed per side: wall time, CPU time (user + system of the process,
``wait4``), peak RSS, days and predictions in the stores (checked), and the phases from
the run's progress lines. The **per-model overhead** is what each model beyond the first
adds over valuing the same model-days in one model::

    per-model overhead = (time of 10 models - time of 1 model) / 9

in wall and in CPU time. It contains each model's own staging pass, Dagster runs (a
staging run, a range run, a series run), series, flags and report, less what 900 days
in one series cost beyond 90.

Usage::

    python benchmarks/bench_models.py                       # 10 × 90 × 100k against 1 × 900 × 100k
    python benchmarks/bench_models.py --per-day 10000       # a tenth of the rows
    python benchmarks/bench_models.py --models 3 --days 20 --per-day 2000   # smoke test
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_pipeline import CONFIG, child, child_result, run_phases

HERE = Path(__file__).resolve()
ROOT = HERE.parent
START = "2023-01-01"  # 900 days from here end before today (the partitions end today)


def models_config(folder: Path, names: list[str], start: str) -> Path:
    """``models.yaml`` in ``folder``, each model with its own landing folder (hard links
    to the files of ``./landing``: the same rows, no copies) and its own store."""
    text = "models:\n"
    for name in names:
        for source in (folder / "landing").rglob("*.parquet"):
            target = folder / f"landing-{name}" / source.relative_to(folder / "landing")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
        model = CONFIG.format(start=start).replace("./store", f"./store-{name}")
        model = model.replace("./landing", f"./landing-{name}")
        text += f"  {name}:\n" + "".join(f"    {line}\n" for line in model.splitlines())
    path = folder / "models.yaml"
    path.write_text(text)
    return path


def run_cli(config: Path, as_of: str, *, log: Path) -> dict:
    """``guap-pipeline run`` as a user runs it, in its own process: wall, CPU, peak RSS."""
    cli = Path(sys.executable).with_name("guap-pipeline")
    argv = [str(cli), "run", "--config", str(config), "--as-of", as_of]
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}  # the stores' own
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    child_result(argv, os.waitstatus_to_exitcode(status), log)  # exits with the log if failed
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "phases": run_phases(log.read_text()),
    }


def stored(stores: list[Path]) -> tuple[int, int]:
    """Model-days and predictions in the stores' daily summary tables."""
    import pandas as pd

    days = predictions = 0
    for store in stores:
        daily = pd.read_parquet(store / "tables/daily_summary.parquet")
        days += int(daily["date"].nunique())
        predictions += int(daily["n_predictions"].sum())
    return days, predictions


def side(label: str, run: dict, days: int, predictions: int) -> None:
    phases = ", ".join(f"{name} {seconds} s" for name, seconds in run["phases"].items())
    print(
        f"  {label}: {run['wall']:7.1f} s wall, {run['cpu']:7.1f} s CPU, "
        f"peak RSS {run['peak_rss_mib']:,.0f} MiB; {days} model-days, {predictions:,} "
        f"predictions\n    {phases}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=10, help="models of the many-models side")
    parser.add_argument("--days", type=int, default=90, help="days of each of those models")
    parser.add_argument("--per-day", type=int, default=100_000, help="predictions per day")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "models", help="work folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=args.out))
    total_days = args.models * args.days
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}; work folder {work}")

    print(f"generating {args.days} days and {total_days} days × {args.per_day:,} ...", flush=True)
    many, one = work / "many", work / "one"
    as_of_many = child(
        "generate-backfill", many, args.days, args.per_day, START, log=work / "gen_many.log"
    )["as_of"]
    as_of_one = child(
        "generate-backfill", one, total_days, args.per_day, START, log=work / "gen_one.log"
    )["as_of"]
    names = [f"m{i:02d}" for i in range(1, args.models + 1)]
    config = models_config(many, names, START)

    print(f"{args.models} models × {args.days} days (one config, models: section):", flush=True)
    several = run_cli(config, as_of_many, log=work / "many.log")
    got = stored([many / f"store-{name}" for name in names])
    side(f"{args.models} models", several, *got)
    assert got == (total_days, total_days * args.per_day), got

    print(f"1 model × {total_days} days:", flush=True)
    single = run_cli(one / "guap.yaml", as_of_one, log=work / "one.log")
    got = stored([one / "store"])
    side("1 model", single, *got)
    assert got == (total_days, total_days * args.per_day), got

    extra = max(args.models - 1, 1)
    wall = (several["wall"] - single["wall"]) / extra
    cpu = (several["cpu"] - single["cpu"]) / extra
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"per-model overhead ((many - one) / {extra}): {wall:.1f} s wall, {cpu:.1f} s CPU; "
        f"ratio many/one {several['wall'] / single['wall']:.2f} wall, "
        f"{several['cpu'] / single['cpu']:.2f} CPU; load average at the end {load}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
