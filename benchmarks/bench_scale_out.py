"""Benchmark: scale-out. A backfill on the PostgreSQL instance, serial against parallel
runs; one big day on the Dask engine against the embedded engine.

``backfill`` — ``--days`` days of ``--per-day`` predictions (default 90 × 1M), generated
by ``bench_pipeline.generate_backfill`` (one predictions file per day, one labels file
per arrival day). The landing folder is staged once (the core's ``stage_landing``, in a
child process). Then, for each mode, on a fresh database with ``deploy/dagster.yaml``
as shipped (QueuedRunCoordinator, at most 3 range runs at once) and an empty table
store: ``dagster job launch`` queues ``daily_profit_job`` over the whole range
(``serial``: one run) or over ``--parallel`` contiguous slices of it (``parallel``), and
``dagster-daemon run`` starts them through the default run launcher, as in production.
The sensors and the schedule are stopped first, so that only these runs execute. Wall
time: from the daemon's start to the last run's end (and the runs' own first start to
last end, from the run records); peak memory: the sum of the RSS of the daemon's whole
process tree (daemon, code server, run workers), sampled every 0.2 s.

``day`` — one day of ``--rows`` predictions and as many labels (default 50M), generated
by ``bench_pipeline.generate_day``, staged and built by each engine in a process of its
own: ``embedded`` (the four core steps the Dagster assets call) and ``dask`` (the same
staging, then ``build_day_profit`` with ``engine: {kind: dask, workers: N}``, a
LocalCluster of worker processes). Peak memory: the summed RSS of the process tree
(driver, nannies, workers), sampled every 0.2 s. The daily tables of both engines are
compared (counts exactly, money to 1e-9 relative).

Data goes under ``--out`` (default ``/tmp/guap-bench``), never into the repository; it is
removed at the end unless ``--keep``. Not run in CI.

Usage::

    python benchmarks/bench_scale_out.py day --rows 50000000
    python benchmarks/bench_scale_out.py day --rows 1000000            # smoke test
    env="$(bash .ci/postgres.sh start)" && eval "$env"
    python benchmarks/bench_scale_out.py backfill --days 90 --per-day 1000000 --parallel 3
    python benchmarks/bench_scale_out.py backfill --days 6 --per-day 20000  # smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
HERE = Path(__file__).resolve()
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(REPO))

import bench_pipeline  # noqa: E402  (the generators of the pipeline benchmark)

SAMPLE_SECONDS = 0.2


# ---------------------------------------------------------------------------- measuring


def tree_rss(pid: int) -> int:
    """Summed RSS (bytes) of a process and all its descendants; 0 once it is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


def run_sampled(argv: list[str], *, log: Path, env: dict | None = None, done=None) -> dict:
    """Run ``argv`` in its own process group, sampling its tree's RSS, until it exits (or
    ``done()`` turns true, then stop the group); wall time, peak RSS, RESULT line."""
    started = time.perf_counter()
    peak = 0
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True
        )
        try:
            while proc.poll() is None:
                peak = max(peak, tree_rss(proc.pid))
                if done is not None and done():
                    break
                time.sleep(SAMPLE_SECONDS)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
    wall = time.perf_counter() - started
    returncode = 0 if done is not None else proc.returncode  # stopped on purpose: no failure
    result = bench_pipeline.child_result(argv, returncode, log)
    result.update(process_wall=round(wall, 2), peak_tree_rss_mib=round(peak / 2**20))
    return result


def load() -> str:
    """The load average (1, 5, 15 min): other jobs share the machine."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def child(name: str, *args: object, log: Path, env: dict | None = None) -> dict:
    return run_sampled(
        [sys.executable, str(HERE), "--child", name, *map(str, args)], log=log, env=env
    )


def write_config(root: Path, landing: Path, start: str, engine: str | None = None) -> Path:
    """bench_pipeline's config (fraud matrix) over a shared landing folder."""
    text = bench_pipeline.CONFIG.format(start=start).replace(
        "landing: ./landing", f"landing: {landing}"
    )
    if engine:
        text += f"engine: {engine}\n"
    root.mkdir(parents=True, exist_ok=True)
    (root / "guap.yaml").write_text(text)
    return root / "guap.yaml"


# ---------------------------------------------------------------------------- children


def child_stage(config_path: Path) -> dict:
    """Stage the landing folder with the core (what ingest_landing_job runs)."""
    from guap_pipeline.config import load_config
    from guap_pipeline.ingest.staging import stage_landing
    from guap_pipeline.store.store import Store

    config = load_config(config_path)
    begin = time.perf_counter()
    report = stage_landing(config, Store(config.storage))
    return {"wall": time.perf_counter() - begin, "days": len(report.dirty_days)}


def child_day(config_path: Path, engine: str) -> dict:
    """Stage and build one day with one engine; step times and the day's summary."""
    from guap_pipeline.config import load_config
    from guap_pipeline.engines import dask_engine as distributed
    from guap_pipeline.ingest.staging import stage_landing
    from guap_pipeline.steps import (
        build_day_profit,
        build_labeled,
        build_labels,
        build_predictions,
    )
    from guap_pipeline.store.store import Store

    config = load_config(config_path)
    store = Store(config.storage)
    steps: dict[str, float] = {}

    def step(name: str, call):
        begin = time.perf_counter()
        out = call()
        steps[name] = round(time.perf_counter() - begin, 2)
        return out

    day = bench_pipeline.DAY
    step("stage_landing", lambda: stage_landing(config, store))
    if engine == "embedded":
        step("build_predictions", lambda: build_predictions(store, day))
        step("build_labels", lambda: build_labels(store, day))
        step("build_labeled", lambda: build_labeled(store, day))
    else:
        step("start_cluster", lambda: distributed.client_for(config.engine))
    result = step("build_day_profit", lambda: build_day_profit(store, config, day))
    distributed.close_clients()
    summary = result.summary
    return {
        "steps": steps,
        "after_staging": round(sum(v for k, v in steps.items() if k != "stage_landing"), 2),
        "summary": json.loads(summary.to_json(orient="records")),
    }


def _child_main(argv: list[str]) -> None:
    name, *rest = argv
    if name == "generate-day":
        bench_pipeline.generate_day(Path(rest[0]), int(rest[1]))
        out: dict = {}
    elif name == "generate-backfill":
        out = {"as_of": bench_pipeline.generate_backfill(Path(rest[0]), int(rest[1]), int(rest[2]))}
    elif name == "stage":
        out = child_stage(Path(rest[0]))
    elif name == "day":
        out = child_day(Path(rest[0]), rest[1])
    else:
        raise SystemExit(f"unknown child {name}")
    print("RESULT " + json.dumps(out, default=str), flush=True)


# ---------------------------------------------------------------------------- day


def same_summary(a: list[dict], b: list[dict]) -> bool:
    """Same rows; counts equal, money equal to 1e-9 relative."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for key in x:
            u, v = x[key], y.get(key)
            if isinstance(u, float) and isinstance(v, float):
                if abs(u - v) > 1e-9 * max(1.0, abs(u)):
                    return False
            elif u != v:
                return False
    return True


def bench_day(work: Path, rows: int, workers: int) -> dict:
    data = work / "day"
    print(f"generating one day of {rows:,} predictions and {rows:,} labels ...", flush=True)
    child("generate-day", data, rows, log=work / "generate_day.log")
    results: dict = {}
    for engine, setting in (
        ("embedded", None),
        ("dask", f"{{kind: dask, workers: {workers}}}"),
    ):
        config = write_config(work / engine, data / "landing", bench_pipeline.DAY, setting)
        before = load()
        out = child("day", config, engine, log=work / f"day_{engine}.log")
        out.update(load_before=before, load_after=load())
        results[engine] = out
        print(
            f"  {engine:8s} total {out['process_wall']:7.1f} s, after staging "
            f"{out['after_staging']:7.1f} s, peak tree RSS {out['peak_tree_rss_mib']:6.0f} MiB "
            f"(load {before} → {out['load_after']})\n    steps: {out['steps']}",
            flush=True,
        )
        shutil.rmtree(work / engine / "store", ignore_errors=True)
    agree = same_summary(results["embedded"]["summary"], results["dask"]["summary"])
    print(f"  daily tables {'agree' if agree else 'DIFFER'}", flush=True)
    return {"rows": rows, "workers": workers, "agree": agree, **results}


# ---------------------------------------------------------------------------- backfill


def slices(first: str, days: int, parts: int) -> list[tuple[str, str]]:
    """``parts`` contiguous (first, last) day ranges covering ``days`` days."""
    import datetime as dt

    start = dt.date.fromisoformat(first)
    bounds = [round(i * days / parts) for i in range(parts + 1)]
    return [
        (
            (start + dt.timedelta(days=bounds[i])).isoformat(),
            (start + dt.timedelta(days=bounds[i + 1] - 1)).isoformat(),
        )
        for i in range(parts)
        if bounds[i + 1] > bounds[i]
    ]


def _connect(database: str | None = None):
    import psycopg2

    connection = psycopg2.connect(
        host=os.environ["DAGSTER_PG_HOST"],
        port=int(os.environ["DAGSTER_PG_PORT"]),
        dbname=database or os.environ["DAGSTER_PG_DB"],
        user=os.environ["DAGSTER_PG_USERNAME"],
        password=os.environ["DAGSTER_PG_PASSWORD"],
        connect_timeout=10,
    )
    connection.autocommit = True
    return connection


def _reset_tables(store: Path) -> None:
    """An empty table store over the same staged rows: every day to build again."""
    shutil.rmtree(store / "tables", ignore_errors=True)
    for state in ("built_days.json", "timeseries_state.json"):
        (store / state).unlink(missing_ok=True)


def run_mode(work: Path, config: Path, ranges: list[tuple[str, str]], mode: str) -> dict:
    """Queue ``daily_profit_job`` over each range on a fresh Postgres instance; let the
    daemon run them; wall time and peak RSS of the daemon's process tree."""
    import dagster as dg

    from assets_defs.sensors import range_tags

    database = f"guap_bench_{uuid.uuid4().hex[:10]}"
    saved = {name: os.environ.get(name) for name in ("DAGSTER_HOME", "DAGSTER_PG_DB")}
    admin = _connect()
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    home = work / f"dagster_home_{mode}"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_DB": database,
        "GUAP_CONFIG": str(config),
    }
    cli = str(Path(sys.executable).with_name("dagster"))
    workspace = ["-w", str(REPO / "workspace.yaml")]
    try:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        for sensor in ("landing_folder_sensor", "stale_days_sensor"):
            subprocess.run(
                [cli, "sensor", "stop", *workspace, sensor], env=env, cwd=REPO, check=True, **quiet
            )
        subprocess.run(
            [cli, "schedule", "stop", *workspace, "daily_monitoring_schedule"],
            env=env,
            cwd=REPO,
            check=True,
            **quiet,
        )
        for first, last in ranges:
            subprocess.run(
                [
                    cli,
                    "job",
                    "launch",
                    *workspace,
                    "-j",
                    "daily_profit_job",
                    "--tags",
                    json.dumps(range_tags(first, last)),
                ],
                env=env,
                cwd=REPO,
                check=True,
                **quiet,
            )
        os.environ.update(DAGSTER_HOME=str(home), DAGSTER_PG_DB=database)
        with dg.DagsterInstance.get() as instance:
            assert len(instance.get_run_records()) == len(ranges)
            finished = {
                dg.DagsterRunStatus.SUCCESS,
                dg.DagsterRunStatus.FAILURE,
                dg.DagsterRunStatus.CANCELED,
            }
            last_check = [0.0]

            def done() -> bool:
                if time.monotonic() - last_check[0] < 2:
                    return False
                last_check[0] = time.monotonic()
                return all(r.dagster_run.status in finished for r in instance.get_run_records())

            before = load()
            daemon = run_sampled(
                [str(Path(sys.executable).with_name("dagster-daemon")), "run", *workspace],
                log=work / f"daemon_{mode}.log",
                env=env,
                done=done,
            )
            records = instance.get_run_records()
            statuses = sorted(r.dagster_run.status.value for r in records)
            runs_wall = max(r.end_time for r in records) - min(r.start_time for r in records)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()
    return {
        "runs": len(ranges),
        "statuses": statuses,
        "daemon_wall": daemon["process_wall"],
        "runs_wall": round(runs_wall, 1),
        "peak_tree_rss_mib": daemon["peak_tree_rss_mib"],
        "load_before": before,
        "load_after": load(),
    }


def bench_backfill(work: Path, days: int, per_day: int, parallel: int) -> dict:
    if not all(
        os.environ.get(f"DAGSTER_PG_{k}") for k in ("HOST", "PORT", "DB", "USERNAME", "PASSWORD")
    ):
        raise SystemExit('needs DAGSTER_PG_*: env="$(bash .ci/postgres.sh start)" && eval "$env"')
    data = work / "backfill"
    print(f"generating a backfill of {days} days × {per_day:,} predictions ...", flush=True)
    child("generate-backfill", data, days, per_day, log=work / "generate_backfill.log")
    config = write_config(work / "bf", data / "landing", bench_pipeline.BACKFILL_START)
    staged = child("stage", config, log=work / "stage.log")
    print(
        f"  staging (once, core): {staged['wall']:.1f} s, peak RSS "
        f"{staged['peak_tree_rss_mib']} MiB, {staged['days']} days",
        flush=True,
    )
    first = bench_pipeline.BACKFILL_START
    out: dict = {"days": days, "per_day": per_day, "staging": staged}
    for mode, parts in (("serial", 1), ("parallel", parallel)):
        _reset_tables(work / "bf" / "store")
        result = out[mode] = run_mode(work, config, slices(first, days, parts), mode)
        built = len(
            list((work / "bf" / "store" / "tables" / "daily_quadrant_profit").glob("*.parquet"))
        )
        result["days_built"] = built
        print(
            f"  {mode:8s} {parts} run(s): daemon start → last run end "
            f"{result['daemon_wall']:.1f} s, "
            f"runs {result['runs_wall']:.1f} s, peak tree RSS {result['peak_tree_rss_mib']} MiB, "
            f"{built} days built, statuses {result['statuses']} "
            f"(load {result['load_before']} → {result['load_after']})",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    day = sub.add_parser("day", help="one big day: dask engine against embedded")
    day.add_argument("--rows", type=int, default=50_000_000)
    day.add_argument("--workers", type=int, default=2)
    backfill = sub.add_parser("backfill", help="serial against parallel runs on Postgres")
    backfill.add_argument("--days", type=int, default=90)
    backfill.add_argument("--per-day", type=int, default=1_000_000)
    backfill.add_argument("--parallel", type=int, default=3, help="runs of the parallel mode")
    for p in (day, backfill):
        p.add_argument("--out", type=Path, default=Path("/tmp/guap-bench"))
        p.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    work = args.out / f"{args.what}-{uuid.uuid4().hex[:6]}"
    work.mkdir(parents=True)
    print(f"machine: {os.cpu_count()} cores, load average {load()}; work folder {work}", flush=True)
    try:
        if args.what == "day":
            result = bench_day(work, args.rows, args.workers)
        else:
            result = bench_backfill(work, args.days, args.per_day, args.parallel)
        (args.out / f"{args.what}-result.json").write_text(
            json.dumps(result, indent=1, default=str)
        )
    finally:
        if not args.keep:
            for folder in ("day", "backfill", "bf", "embedded", "dask"):
                shutil.rmtree(work / folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child_main(sys.argv[2:])
    else:
        sys.exit(main())
