"""Benchmark: the whole pipeline, ingest → join → quadrant profit, on big days and a long backfill.

Targets (issue "Dagster pipeline"):

- **One day of 10M predictions plus 10M labels** through the core steps the Dagster
  assets call (``stage_landing``, ``build_predictions``, ``build_labels``,
  ``build_labeled``, ``build_day_profit``): wall time within **2×** of a bare DuckDB
  join-and-aggregate over the same two Parquet files in the same run, and peak RSS
  under **1.5 GiB**.
- **A 365-day backfill at 100k predictions/day** through the real command line,
  ``guap-pipeline run --config ... --as-of ...`` (in-process Dagster on a persistent
  instance): under **2 minutes** on 2 cores (issue 19; it was 3 minutes). ``--ids int``
  keys the same data by int64 ids.
- **The big day as a user meets it** (issue 19, ``--only day-cli``, ``--ids str|int``):
  one ``guap-pipeline run`` process over the same day (fresh store, as of the next day),
  minus the same command over an almost empty day, within **2×** of the floor below
  (DuckDB writing the same tables from the same files), in wall time and in CPU time
  (user + system, from ``wait4``), and the whole process's peak RSS under **1.5 GiB**.
  ``--repeat N`` takes N rounds of floor and runs in turn and reports the medians.
- **Any number of landing files** (issue 14): 1,000 daily predictions files and ~1,000
  daily labels files of ~1.3k rows each, all landed before the first ``guap-pipeline
  run``, staged and built by that one process with the default 1 GB DuckDB budget: no
  out-of-memory, peak RSS under **1.5 GiB**; wall time reported.

Each scenario runs in its own subprocess, reaped with ``os.wait4``, so the peak RSS
(``ru_maxrss``) reported is that scenario's alone. Wall times are measured around the
work inside the child (imports excluded) and around the whole process.

Data (synthetic fraud traffic, written by a separate subprocess under ``--out``):
predictions Parquet with ``prediction_id`` (string), ``predicted_at`` (UTC timestamps),
``model_version`` (``v1``/``v2``), ``score``, ``y_pred``, ``amount``; labels Parquet
with ``prediction_id``, ``y_true``, ``labeled_at``. The big day has one file of each,
every prediction labeled once, labels in random order. The backfill (and the
many-files run, smaller days over more of them) has one predictions file per day and
one labels file per arrival day (labels come 1-20 days late, fraud last), so routing
crosses days and the last days are still immature.
Value matrix: the SPEC's fraud example, TP ``0.9 × amount − 5``, FP ``−20``, FN
``−amount``, TN ``0``.

The bare DuckDB yardstick reads both files, joins on ``prediction_id``, values each
row with the same matrix and aggregates counts and values per
``(model_version, y_true, y_pred)``; the benchmark checks that the pipeline's
``daily_quadrant_profit`` agrees with it to the cent. A second yardstick, DuckDB
*writing the same tables* (predictions, labels, labeled predictions, then the aggregate
over the labeled table; no validation), is the floor for any pipeline that stores its
steps' tables as the issue asks; its ratio to the bare query shows how much of the 2×
budget writing them alone takes.

Usage::

    python benchmarks/bench_pipeline.py                         # full: 10M day + 365 × 100k
    python benchmarks/bench_pipeline.py --rows 200000 --days 10 --per-day 5000   # smoke test
    python benchmarks/bench_pipeline.py --only day              # or: --only backfill
    python benchmarks/bench_pipeline.py --only files            # 1,000 + ~1,000 daily files
    python benchmarks/bench_pipeline.py --only day-cli --ids int  # the day through the CLI
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 2.0
TARGET_RSS_MIB = 1.5 * 1024
TARGET_BACKFILL_SECONDS = 120.0  # issue 19
DAY = "2026-03-02"
BACKFILL_START = "2025-10-01"
EMPTY_ROWS = 1000  # the almost empty day whose run the CLI day subtracts
# The many-files run: 1,000 days from here end before today (partitions end today).
FILES_START = "2023-01-01"
CONFIG = """\
landing: ./landing
storage: ./store
start_date: {start}
value_matrix:
  tp: {{constant: -5, amount: 0.9}}
  fp: -20
  fn: {{amount: -1.0}}
  tn: 0
label_window_days: 21
min_label_coverage: 0.95
"""
ROOT = Path(__file__).resolve().parent
HERE = Path(__file__).resolve()

# The yardstick: one SQL statement, the same value matrix, written by hand.
QUADRANT_SQL = """
SELECT model_version, y_true, y_pred,
       count(*) AS n,
       sum(CASE
             WHEN y_true = 1 AND y_pred = 1 THEN 0.9 * amount - 5
             WHEN y_true = 0 AND y_pred = 1 THEN -20
             WHEN y_true = 1 AND y_pred = 0 THEN -amount
             ELSE 0
           END) AS value
FROM {rows}
GROUP BY ALL
ORDER BY ALL
"""
DUCKDB_SQL = QUADRANT_SQL.format(
    rows="read_parquet(?) AS p JOIN read_parquet(?) AS l USING (prediction_id)"
)
# The floor for any pipeline that stores its steps' tables, as the issue asks: DuckDB
# alone, validating nothing, writing what the pipeline writes for the day (predictions,
# labels, labeled predictions), each step reading the file of the step before, then the
# yardstick's aggregate over the labeled table.
DUCKDB_TABLES_SQL = (
    "COPY (SELECT * FROM read_parquet({predictions})) TO '{dir}/predictions.parquet'",
    "COPY (SELECT * FROM read_parquet({labels})) TO '{dir}/labels.parquet'",
    "COPY (SELECT p.*, l.y_true, l.labeled_at FROM read_parquet('{dir}/predictions.parquet') AS p"
    " LEFT JOIN read_parquet('{dir}/labels.parquet') AS l USING (prediction_id))"
    " TO '{dir}/labeled.parquet'",
    QUADRANT_SQL.format(rows="read_parquet('{dir}/labeled.parquet') WHERE y_true IS NOT NULL"),
)

FLOOR_STEPS = ("predictions", "labels", "labeled", "aggregate")  # what each statement writes


# ---------------------------------------------------------------------------- data


def _day_tables(day: dt.date, n: int, seed: int, *, shuffle_labels: bool):
    """One prediction day: (predictions, labels) as Arrow tables, labels with arrival day."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    seq = pa.array(np.arange(n, dtype=np.int64))
    ids = pc.binary_join_element_wise(
        f"tx-{day:%Y%m%d}-", pc.utf8_lpad(pc.cast(seq, pa.string()), 8, "0"), ""
    )
    start = np.datetime64(day, "us")
    predicted_at = start + np.sort(rng.integers(0, 86_400_000_000, n)).astype("timedelta64[us]")
    fraud = rng.random(n) < 0.02
    score = np.clip(rng.normal(np.where(fraud, 0.7, 0.2), 0.15), 0.0, 1.0).round(4)
    amount = np.maximum(rng.lognormal(4.0 + 0.5 * fraud, 0.8), 1.0).round(2)
    version = np.where(rng.random(n) < 0.7, "v1", "v2")
    predictions = pa.table(
        {
            "prediction_id": ids,
            "predicted_at": pa.array(predicted_at, pa.timestamp("us", tz="UTC")),
            "model_version": pa.array(version, pa.string()),
            "score": score,
            "y_pred": (score >= 0.5).astype(np.int64),
            "amount": amount,
        }
    )
    delay = np.where(fraud, rng.integers(5, 21, n), rng.integers(1, 8, n))
    labeled_at = predicted_at + (delay * 86_400_000_000).astype("timedelta64[us]")
    order = rng.permutation(n) if shuffle_labels else np.arange(n)
    labels = pa.table(
        {
            "prediction_id": ids.take(pa.array(order)),
            "y_true": fraud.astype(np.int64)[order],
            "labeled_at": pa.array(labeled_at[order], pa.timestamp("us", tz="UTC")),
        }
    )
    arrival = (np.datetime64(day, "D") + delay.astype("timedelta64[D]"))[order]
    return predictions, labels, arrival


def generate_day(folder: Path, rows: int, ids: str = "str") -> None:
    """One day of ``rows`` predictions and ``rows`` labels (every prediction labeled once);
    with ``ids="int"`` the same rows keyed by int64 ids (database keys) instead of text."""
    import pyarrow.parquet as pq

    _fresh_landing(folder, start=DAY)
    predictions, labels, _ = _day_tables(dt.date.fromisoformat(DAY), rows, 0, shuffle_labels=True)
    if ids == "int":
        predictions, labels = _integer_ids(predictions, labels)
    pq.write_table(predictions, folder / "landing/predictions/predictions.parquet")
    pq.write_table(labels, folder / "landing/labels/labels.parquet")


def _integer_ids(predictions, labels):
    """Both tables with ``prediction_id`` as int64, database keys made of the text ids'
    digits (``tx-20261001-00000042`` -> 2026100100000042): every label keeps its
    prediction, and no two days share an id."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def as_int(ids):
        digits = pc.replace_substring(pc.utf8_slice_codeunits(ids, 3), "-", "")
        return pc.cast(digits, pa.int64())

    return (
        predictions.set_column(0, "prediction_id", as_int(predictions["prediction_id"])),
        labels.set_column(0, "prediction_id", as_int(labels["prediction_id"])),
    )


def generate_backfill(
    folder: Path, days: int, per_day: int, start: str = BACKFILL_START, ids: str = "str"
) -> str:
    """``days`` prediction files from ``start`` and one labels file per arrival day,
    keyed by text ids or, ``ids="int"``, by int64 ones; returns the as-of date."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    _fresh_landing(folder, start=start)
    first = dt.date.fromisoformat(start)
    last = first + dt.timedelta(days=days - 1)
    as_of = last + dt.timedelta(days=1)  # labels that arrive later have not landed yet
    pending: dict[dt.date, list[pa.Table]] = {}

    def flush(upto: dt.date) -> None:
        for arrival in sorted(d for d in pending if d <= upto):
            pq.write_table(
                pa.concat_tables(pending.pop(arrival)),
                folder / f"landing/labels/labels_{arrival:%Y%m%d}.parquet",
            )

    for i in range(days):
        day = first + dt.timedelta(days=i)
        predictions, labels, arrival = _day_tables(day, per_day, 1000 + i, shuffle_labels=False)
        if ids == "int":
            predictions, labels = _integer_ids(predictions, labels)
        pq.write_table(
            predictions, folder / f"landing/predictions/predictions_{day:%Y%m%d}.parquet"
        )
        for when in np.unique(arrival):
            when_day = when.astype(dt.date)
            if when_day <= as_of:
                pending.setdefault(when_day, []).append(labels.filter(pa.array(arrival == when)))
        flush(day)
    flush(as_of)
    return as_of.isoformat()


def _fresh_landing(folder: Path, *, start: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    for kind in ("predictions", "labels"):
        (folder / "landing" / kind).mkdir(parents=True)
    (folder / "guap.yaml").write_text(CONFIG.format(start=start))


# ---------------------------------------------------------------------------- scenarios


def scenario_guap(folder: Path) -> dict:
    """The core steps of the Dagster assets, in their order, on a fresh store."""
    from guap_pipeline.config import load_config
    from guap_pipeline.ingest.staging import stage_landing
    from guap_pipeline.steps import (
        build_day_profit,
        build_labeled,
        build_labels,
        build_predictions,
    )
    from guap_pipeline.store.store import Store

    config = load_config(folder / "guap.yaml")
    shutil.rmtree(config.storage, ignore_errors=True)
    store = Store(config.storage)
    steps: dict[str, float] = {}
    cpu: dict[str, float] = {}
    peaks: dict[str, float] = {}
    started = time.perf_counter()

    def step(name: str, call):
        _reset_peak()
        begin, begin_cpu = time.perf_counter(), time.process_time()
        out = call()
        steps[name] = round(time.perf_counter() - begin, 3)
        cpu[name] = round(time.process_time() - begin_cpu, 3)  # every thread's
        peaks[name] = _peak_mib()
        return out

    report = step("stage_landing", lambda: stage_landing(config, store))
    assert report.dirty_days == {DAY}, report.dirty_days
    step("build_predictions", lambda: build_predictions(store, DAY))
    step("build_labels", lambda: build_labels(store, DAY))
    step("build_labeled", lambda: build_labeled(store, DAY))
    result = step("build_day_profit", lambda: build_day_profit(store, config, DAY))
    wall = time.perf_counter() - started
    summary = result.summary
    cells = {
        f"{row.model_version}/{q}": [int(getattr(row, q)), float(getattr(row, f"value_{q}"))]
        for row in summary.itertuples()
        for q in ("tp", "fp", "fn", "tn")
    }
    return {"wall": wall, "steps": steps, "step_cpu": cpu, "step_peak_mib": peaks, "cells": cells}


def _reset_peak() -> None:
    """Reset this process's peak RSS (Linux ``clear_refs``), to measure one step's peak."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_mib() -> float:
    """Peak RSS since the last reset (``VmHWM``), in MiB; -1 where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return -1.0


QUADRANT = {(1, 1): "tp", (0, 1): "fp", (1, 0): "fn", (0, 0): "tn"}


def scenario_duckdb(folder: Path) -> dict:
    import duckdb

    started, cpu_started = time.perf_counter(), time.process_time()
    with duckdb.connect() as con:
        rows = con.execute(
            DUCKDB_SQL,
            [
                (folder / "landing/predictions/predictions.parquet").as_posix(),
                (folder / "landing/labels/labels.parquet").as_posix(),
            ],
        ).fetchall()
    wall = time.perf_counter() - started
    return {"wall": wall, "cpu": time.process_time() - cpu_started, "cells": _cells(rows)}


def scenario_duckdb_tables(folder: Path) -> dict:
    """DuckDB writing the day's tables (:data:`DUCKDB_TABLES_SQL`) in a scratch folder."""
    import duckdb

    from guap_pipeline.store.store import sql_path

    landing = {
        "predictions": sql_path(folder / "landing/predictions/predictions.parquet"),
        "labels": sql_path(folder / "landing/labels/labels.parquet"),
    }
    with tempfile.TemporaryDirectory(dir=folder) as tables:
        started, cpu_started = time.perf_counter(), time.process_time()
        steps: dict[str, float] = {}
        with duckdb.connect() as con:
            for name, statement in zip(FLOOR_STEPS, DUCKDB_TABLES_SQL, strict=True):
                begin = time.process_time()
                rows = con.execute(statement.format(dir=tables, **landing)).fetchall()
                steps[name] = round(time.process_time() - begin, 3)  # every DuckDB thread's
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    return {"wall": wall, "cpu": cpu, "step_cpu": steps, "cells": _cells(rows)}


def _cells(rows: list[tuple]) -> dict[str, list]:
    """The yardstick's rows as ``{"version/quadrant": [count, value]}``."""
    return {
        f"{version}/{QUADRANT[(int(t), int(p))]}": [int(n), float(v)]
        for version, t, p, n, v in rows
    }


def _child_main(argv: list[str]) -> None:
    name, folder = argv[0], Path(argv[1])
    if name == "generate-day":
        generate_day(folder, int(argv[2]), *argv[3:])
        out: dict = {}
    elif name == "generate-backfill":
        out = {"as_of": generate_backfill(folder, int(argv[2]), int(argv[3]), *argv[4:])}
    elif name == "guap":
        out = scenario_guap(folder)
    elif name == "duckdb":
        out = scenario_duckdb(folder)
    elif name == "duckdb-tables":
        out = scenario_duckdb_tables(folder)
    else:
        raise SystemExit(f"unknown scenario {name}")
    print("RESULT " + json.dumps(out))


# ---------------------------------------------------------------------------- parent


def child_result(argv: list[str], returncode: int, log: Path) -> dict:
    """The RESULT line a child printed to ``log``; exit with its log tail if it failed."""
    text = log.read_text()
    if returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed ({returncode}); see {log}\n{text[-3000:]}")
    result: dict = {}
    for line in text.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
    return result


def run_child(argv: list[str], *, log: Path) -> dict:
    """Run a subprocess; its wall time, own peak RSS (wait4) and the RESULT it printed."""
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT.parent)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    result = child_result(argv, proc.returncode, log)
    result["process_wall"] = wall
    result["process_cpu"] = usage.ru_utime + usage.ru_stime
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    return result


def child(name: str, *args: object, log: Path) -> dict:
    return run_child([sys.executable, str(HERE), "--child", name, *map(str, args)], log=log)


def bench_day(out: Path, rows: int, ids: str) -> dict:
    folder = out / "day"
    print(f"generating one day of {rows:,} predictions and labels, {ids} ids ...", flush=True)
    child("generate-day", folder, rows, ids, log=out / "generate_day.log")
    duck = child("duckdb", folder, log=out / "duckdb.log")
    print(
        f"  bare DuckDB   {duck['wall']:7.2f} s  {duck['cpu']:6.2f} s CPU"
        f"  peak RSS {duck['peak_rss_mib']:7.0f} MiB"
    )
    floor = child("duckdb-tables", folder, log=out / "duckdb_tables.log")
    print(
        f"  DuckDB writing the same tables {floor['wall']:7.2f} s  "
        f"peak RSS {floor['peak_rss_mib']:7.0f} MiB  ({floor['wall'] / duck['wall']:.2f}x bare)"
    )
    guap = child("guap", folder, log=out / "guap_day.log")
    # Resetting the peak before each step also lowers what wait4 reports for the process
    # (Linux folds the reset high-water mark into ru_maxrss): the true peak is the larger.
    guap["peak_rss_mib"] = max(guap["peak_rss_mib"], *guap["step_peak_mib"].values())
    print(f"  guap pipeline {guap['wall']:7.2f} s  peak RSS {guap['peak_rss_mib']:7.0f} MiB")
    print(
        "    steps: "
        + ", ".join(
            f"{k} {v:.2f}s/{guap['step_cpu'][k]:.2f}s CPU/{guap['step_peak_mib'][k]:.0f}MiB"
            for k, v in guap["steps"].items()
        )
    )
    print(
        f"  CPU: guap steps {sum(guap['step_cpu'].values()):.2f} s, floor {floor['cpu']:.2f} s ("
        + ", ".join(f"{k} {v:.2f}" for k, v in floor["step_cpu"].items())
        + f"): ratio {sum(guap['step_cpu'].values()) / floor['cpu']:.2f}"
    )
    agree = _agree(guap["cells"], duck["cells"]) and _agree(floor["cells"], duck["cells"])
    ratio = guap["wall"] / duck["wall"]
    print(
        f"  ratio guap/duckdb {ratio:.2f} (target ≤ {TARGET_RATIO}); "
        f"guap/(DuckDB writing the same tables) {guap['wall'] / floor['wall']:.2f}; "
        f"results {'agree' if agree else 'DIFFER'}"
    )
    return {
        "rows": rows,
        "duckdb": duck,
        "duckdb_tables": floor,
        "guap": guap,
        "ratio": ratio,
        "agree": agree,
    }


def bench_day_cli(out: Path, rows: int, ids: str, repeat: int = 1) -> dict:
    """The big day as a user meets it: one ``guap-pipeline run`` process (fresh store,
    as of the next day) over the day, minus the same run over an almost empty day,
    against the floor (DuckDB writing the same tables from the same files).

    With ``repeat`` > 1, that many rounds of floor, almost empty run and run, one after
    the other, each round's ratio its own; the medians are the figures (a VM's speed
    drifts by ±25 % within minutes, so one floor and one run taken apart mislead)."""
    big, empty = out / "day", out / "empty"
    print(f"generating one day of {rows:,} predictions and labels, {ids} ids ...", flush=True)
    child("generate-day", big, rows, ids, log=out / "generate_day.log")
    child("generate-day", empty, EMPTY_ROWS, ids, log=out / "generate_empty.log")
    duck = child("duckdb", big, log=out / "duckdb.log")
    as_of = (dt.date.fromisoformat(DAY) + dt.timedelta(days=1)).isoformat()
    rounds = []
    for i in range(repeat):
        for folder in (big, empty):
            shutil.rmtree(folder / "store", ignore_errors=True)
        floor = child("duckdb-tables", big, log=out / f"duckdb_tables_{i + 1}.log")
        base = run_cli(empty, as_of, log=out / f"run_empty_{i + 1}.log")
        run = run_cli(big, as_of, log=out / f"run_day_{i + 1}.log")
        cells = _stored_cells(big)
        rounds.append(
            {
                "floor": floor,
                "almost_empty": base,
                "run": run,
                "phases": run_phases((out / f"run_day_{i + 1}.log").read_text()),
                "ratio_wall": (run["process_wall"] - base["process_wall"]) / floor["wall"],
                "ratio_cpu": (run["process_cpu"] - base["process_cpu"]) / floor["cpu"],
                "agree": _agree(cells, duck["cells"]) and _agree(floor["cells"], duck["cells"]),
            }
        )
        _print_round(rounds[-1], f"round {i + 1}/{repeat}: " if repeat > 1 else "")
    wall = statistics.median(r["ratio_wall"] for r in rounds)
    cpu = statistics.median(r["ratio_cpu"] for r in rounds)
    peak = max(r["run"]["peak_rss_mib"] for r in rounds)
    agree = all(r["agree"] for r in rounds)
    print(
        f"  (run - almost empty) / floor{', median of the rounds' if repeat > 1 else ''}: wall"
        f" {wall:.2f}, CPU {cpu:.2f} (target ≤ {TARGET_RATIO}); peak {peak:.0f} MiB (target <"
        f" {TARGET_RSS_MIB:.0f}); stored daily_quadrant_profit"
        f" {'agrees' if agree else 'DIFFERS'} with DuckDB"
    )
    return {
        "rows": rows,
        "ids": ids,
        "rounds": rounds,
        "duckdb": duck,
        "ratio_wall": wall,
        "ratio_cpu": cpu,
        "peak_rss_mib": peak,
        "agree": agree,
    }


def _print_round(r: dict, label: str) -> None:
    """One round of :func:`bench_day_cli`: each process's figures and the round's ratios."""
    if label:
        print(f"  {label}")
    for name, p in (("run, the day", r["run"]), (f"run, {EMPTY_ROWS:,} rows", r["almost_empty"])):
        print(
            f"    {name:16} {p['process_wall']:7.1f} s wall {p['process_cpu']:7.1f} s CPU"
            f"  peak RSS {p['peak_rss_mib']:5.0f} MiB"
        )
    floor = r["floor"]
    print(
        f"    floor (DuckDB writing the same tables) {floor['wall']:6.1f} s wall"
        f" {floor['cpu']:6.1f} s CPU  peak RSS {floor['peak_rss_mib']:5.0f} MiB; by statement: "
        + ", ".join(f"{k} {v:.2f}" for k, v in floor["step_cpu"].items())
    )
    print(
        "    run phases: "
        + ", ".join(f"{k} {v} s" for k, v in r["phases"].items())
        + f"; ratios wall {r['ratio_wall']:.2f}, CPU {r['ratio_cpu']:.2f}"
    )


def _stored_cells(folder: Path) -> dict[str, list]:
    """The stored ``daily_quadrant_profit`` of :data:`DAY`: ``{"version/quadrant": [n, value]}``."""
    from guap_pipeline.config import load_config
    from guap_pipeline.store.store import Store

    summary = Store(load_config(folder / "guap.yaml").storage).read("daily_quadrant_profit", DAY)
    return {
        f"{row.model_version}/{q}": [int(getattr(row, q)), float(getattr(row, f"value_{q}"))]
        for row in summary.itertuples()
        for q in ("tp", "fp", "fn", "tn")
    }


def _agree(a: dict, b: dict) -> bool:
    """Same count in every (model version, quadrant); values equal to the cent."""
    zero = [0, 0.0]
    return all(
        a.get(k, zero)[0] == b.get(k, zero)[0]
        and abs(a.get(k, zero)[1] - b.get(k, zero)[1]) < 0.005 + 1e-12 * abs(b.get(k, zero)[1])
        for k in set(a) | set(b)
    )


def bench_backfill(out: Path, days: int, per_day: int, ids: str = "str") -> dict:
    folder = out / "backfill"
    print(f"generating a backfill of {days} days × {per_day:,} predictions, {ids} ids ...")
    log = out / "generate_backfill.log"
    as_of = child("generate-backfill", folder, days, per_day, BACKFILL_START, ids, log=log)["as_of"]
    run = run_cli(folder, as_of, log=out / "backfill.log")
    import pandas as pd

    daily = pd.read_parquet(folder / "store/tables/daily_summary.parquet")
    n_days = int(daily["date"].nunique())
    n_predictions = int(daily["n_predictions"].sum())
    print(
        f"  guap-pipeline run: {run['process_wall']:7.1f} s  peak RSS {run['peak_rss_mib']:.0f} MiB"
        f"  ({n_days} days, {n_predictions:,} predictions; "
        f"target < {TARGET_BACKFILL_SECONDS:.0f} s)"
    )
    assert n_days == days and n_predictions == days * per_day, (n_days, n_predictions)
    phases = run_phases((out / "backfill.log").read_text())
    print("    " + ", ".join(f"{name} {seconds} s" for name, seconds in phases.items()))
    return {
        "days": days,
        "per_day": per_day,
        "run": run,
        "phases": phases,
        "n_predictions": n_predictions,
    }


def run_cli(folder: Path, as_of: str, *, log: Path) -> dict:
    """``guap-pipeline run`` on the folder's config, as a user runs it, in its own process."""
    cli = Path(sys.executable).with_name("guap-pipeline")
    argv = [str(cli), "run", "--config", str(folder / "guap.yaml"), "--as-of", as_of]
    env_home = os.environ.pop("DAGSTER_HOME", None)  # the store's own persistent instance
    try:
        return run_child(argv, log=log)
    finally:
        if env_home is not None:
            os.environ["DAGSTER_HOME"] = env_home


def bench_files(out: Path, days: int, per_day: int) -> dict:
    """``days`` daily predictions files and their daily labels files, all landed before
    one ``guap-pipeline run`` that stages and builds every day."""
    import pandas as pd
    import pyarrow.parquet as pq

    folder = out / "files"
    print(
        f"generating {days} daily files of {per_day:,} predictions and their labels ...", flush=True
    )
    as_of = child(
        "generate-backfill", folder, days, per_day, FILES_START, log=out / "generate_files.log"
    )["as_of"]
    labels = sorted((folder / "landing/labels").glob("*.parquet"))
    n_labels = sum(pq.ParquetFile(path).metadata.num_rows for path in labels)
    run = run_cli(folder, as_of, log=out / "files.log")
    daily = pd.read_parquet(folder / "store/tables/daily_summary.parquet")
    counts = {
        "days": int(daily["date"].nunique()),
        "n_predictions": int(daily["n_predictions"].sum()),
        "n_labeled": int(daily["n_labeled"].sum()),
    }
    print(
        f"  guap-pipeline run over {days} + {len(labels)} files: {run['process_wall']:7.1f} s"
        f"  peak RSS {run['peak_rss_mib']:.0f} MiB (target < {TARGET_RSS_MIB:.0f} MiB); "
        f"{counts['n_predictions']:,} predictions, {counts['n_labeled']:,} labeled"
    )
    print(
        "    "
        + ", ".join(f"{k} {v} s" for k, v in run_phases((out / "files.log").read_text()).items())
    )
    expected = {"days": days, "n_predictions": days * per_day, "n_labeled": n_labels}
    assert counts == expected, (counts, expected)
    return {"days": days, "per_day": per_day, "label_files": len(labels), "run": run, **counts}


PHASES = {"staging": "staging", "building day": "days", "stitching": "series"}


def run_phases(log: str) -> dict[str, int]:
    """Seconds between the progress lines ``run`` prints (``[HH:MM:SS] what``), by phase:
    staging, days (the range runs), series; whole seconds, as the lines give them."""
    stamps = []
    for line in log.splitlines():
        if line.startswith("[") and line[9:11] == "] ":
            clock = dt.datetime.strptime(line[1:9], "%H:%M:%S")
            name = next((v for k, v in PHASES.items() if line[11:].startswith(k)), None)
            stamps.append((clock, name))
    phases: dict[str, int] = {}
    for (start, name), (end, _) in itertools.pairwise(stamps):
        if name:
            phases[name] = phases.get(name, 0) + (end - start).seconds  # wraps at midnight
    return phases


def _positive(text: str) -> int:
    """An argument that must be a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=10_000_000, help="predictions (and labels) of the big day"
    )
    parser.add_argument("--days", type=int, default=365, help="days of the backfill")
    parser.add_argument("--per-day", type=int, default=100_000, help="predictions per backfill day")
    parser.add_argument("--files", type=int, default=1000, help="daily files of the files run")
    parser.add_argument(
        "--file-rows", type=int, default=1300, help="predictions per daily file (files run)"
    )
    parser.add_argument(
        "--only", choices=["day", "day-cli", "backfill", "files"], help="run one benchmark only"
    )
    parser.add_argument(
        "--ids", choices=["str", "int"], default="str", help="prediction_id type of the data"
    )
    parser.add_argument(
        "--repeat", type=_positive, default=1, help="rounds of the day-cli benchmark (medians)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "pipeline", help="work folder")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and stores")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=args.out))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}; work folder {work}")
    results: dict = {"cores": os.cpu_count(), "loadavg_start": os.getloadavg()}
    ok, checked = True, False  # the targets are for the full sizes only
    try:
        if args.only in (None, "day"):
            day = results["day"] = bench_day(work, args.rows, args.ids)
            ok &= day["agree"]
            if args.rows >= 10_000_000:
                checked = True
                ok &= day["ratio"] <= TARGET_RATIO and day["guap"]["peak_rss_mib"] < TARGET_RSS_MIB
        if args.only == "day-cli":
            cli = results["day_cli"] = bench_day_cli(work, args.rows, args.ids, args.repeat)
            ok &= cli["agree"]
            if args.rows >= 10_000_000:
                checked = True
                ok &= max(cli["ratio_wall"], cli["ratio_cpu"]) <= TARGET_RATIO
                ok &= cli["peak_rss_mib"] < TARGET_RSS_MIB
        if args.only in (None, "backfill"):
            back = results["backfill"] = bench_backfill(work, args.days, args.per_day, args.ids)
            if args.days >= 365 and args.per_day >= 100_000:
                checked = True
                ok &= back["run"]["process_wall"] < TARGET_BACKFILL_SECONDS
        if args.only in (None, "files"):
            files = results["files"] = bench_files(work, args.files, args.file_rows)
            if args.files >= 1000:
                checked = True
                ok &= files["run"]["peak_rss_mib"] < TARGET_RSS_MIB
    finally:
        results["loadavg_end"] = os.getloadavg()
        (args.out / "pipeline_results.json").write_text(json.dumps(results, indent=1))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    verdict = ("met" if ok else "NOT met") if checked else "checked at full size only"
    print(f"results in {args.out / 'pipeline_results.json'}; targets {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child_main(sys.argv[2:])
    else:
        sys.exit(main())
