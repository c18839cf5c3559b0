"""Rows per second read from PostgreSQL by the database source, against plain COPY.

Loads N predictions into a fresh database on the server named by ``DAGSTER_PG_*``
(start one with ``.ci/postgres.sh``), then times, each in a process of its own (peak
memory is that process's): ``copy`` — ``COPY (SELECT ...) TO STDOUT`` of the same rows
into a discarding sink, the floor; ``copy_parquet`` — that COPY as CSV into a temporary
file, then Arrow's CSV reader into Parquet (what a COPY-based source would do); and
``pull`` — :func:`guap_pipeline.ingest.database.pull`, the source as shipped (COPY into
Arrow into a Parquet extract, on psycopg2); ``pull_cursor`` — the same with COPY turned
off, the path of every other database (server-side cursor, ``slice_rows`` at a time).
Figures go to benchmarks/README.md.

    .venv/bin/python benchmarks/bench_db_source.py --rows 2000000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
QUERY = "SELECT * FROM predictions"
MODES = ("copy", "copy_parquet", "pull", "pull_cursor")
TABLE = (
    "CREATE TABLE predictions (prediction_id text, predicted_at timestamptz, "
    "model_version text, score double precision, y_pred integer, amount double precision)"
)


def _connect(database: str):
    import psycopg2

    return psycopg2.connect(
        host=os.environ["DAGSTER_PG_HOST"],
        port=int(os.environ["DAGSTER_PG_PORT"]),
        dbname=database,
        user=os.environ["DAGSTER_PG_USERNAME"],
        password=os.environ["DAGSTER_PG_PASSWORD"],
    )


def _url(database: str) -> str:
    import sqlalchemy as sa

    return sa.engine.URL.create(
        "postgresql+psycopg2",
        username=os.environ["DAGSTER_PG_USERNAME"],
        password=os.environ["DAGSTER_PG_PASSWORD"],
        host=os.environ["DAGSTER_PG_HOST"],
        port=int(os.environ["DAGSTER_PG_PORT"]),
        database=database,
    ).render_as_string(hide_password=False)


def load(database: str, rows: int, *, chunk: int = 500_000) -> None:
    """N predictions over 30 days, shaped as tests/pipeline_data.py makes them."""
    rng = np.random.default_rng(0)
    with _connect(database) as connection, connection.cursor() as cursor:
        cursor.execute(TABLE)
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            score = rng.uniform(0, 1, n).round(3)
            frame = pd.DataFrame(
                {
                    "prediction_id": [f"p-{i}" for i in range(start, start + n)],
                    "predicted_at": pd.Timestamp("2026-10-01", tz="UTC")
                    + pd.to_timedelta(rng.integers(0, 30 * 86_400, n), unit="s"),
                    "model_version": "v1",
                    "score": score,
                    "y_pred": (score >= 0.5).astype(int),
                    "amount": rng.lognormal(4, 1, n).round(2),
                }
            )
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False)
            buffer.seek(0)
            cursor.copy_expert("COPY predictions FROM STDIN WITH (FORMAT csv)", buffer)
        cursor.execute("CREATE INDEX ON predictions (predicted_at)")
        cursor.execute("ANALYZE predictions")


class _Discard(io.RawIOBase):
    def write(self, data: bytes) -> int:
        return len(data)


def _peak_mib() -> float:
    """This process's peak resident memory (VmHWM), in MiB."""
    status = Path("/proc/self/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def measure(mode: str, database: str) -> dict:
    """Time one way of reading every row; rows, seconds, memory (MiB) after the imports
    (every mode imports the same modules, outside the timing) and at the peak."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from guap_pipeline import db_source
    from guap_pipeline.source_config import parse_source
    from guap_pipeline.store.store import Store

    Path("/proc/self/clear_refs").write_text("5")  # peak RSS from here (not the parent's)
    before = _peak_mib()
    started = time.perf_counter()
    if mode == "copy":
        with _connect(database) as connection, connection.cursor() as cursor:
            cursor.copy_expert(f"COPY ({QUERY}) TO STDOUT WITH (FORMAT csv)", _Discard())
            cursor.execute("SELECT count(*) FROM predictions")
            rows = cursor.fetchone()[0]
    elif mode == "copy_parquet":
        with tempfile.TemporaryDirectory() as folder:
            csv_path, rows = Path(folder) / "rows.csv", 0
            with (
                _connect(database) as connection,
                connection.cursor() as cursor,
                csv_path.open("wb") as sink,
            ):
                cursor.copy_expert(f"COPY ({QUERY}) TO STDOUT WITH (FORMAT csv, HEADER)", sink)
            reader = pcsv.open_csv(csv_path)
            with pq.ParquetWriter(Path(folder) / "rows.parquet", reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
    else:
        os.environ["GUAP_BENCH_URL"] = _url(database)
        source = parse_source(
            {
                "kind": "database",
                "url_env": "GUAP_BENCH_URL",
                "predictions": {"table": "predictions", "watermark": "predicted_at"},
                "labels": {"query": "SELECT 1 AS t WHERE false", "watermark": "t"},
            }
        )
        with tempfile.TemporaryDirectory() as folder:
            if mode == "pull_cursor":  # the path of other databases: no COPY
                db_source._copy_part = lambda *_: None
            rows = db_source.pull(source, Store(folder))["predictions"]
    seconds = time.perf_counter() - started
    peak = _peak_mib()
    return {
        "mode": mode,
        "rows": rows,
        "seconds": round(seconds, 2),
        "imports_mib": round(before),
        "peak_mib": round(peak),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # mode, in a child process
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.database)))
        return
    from tests.pg_support import fresh_database

    with fresh_database() as database:
        started = time.perf_counter()
        load(database, args.rows)
        print(f"loaded {args.rows:,} rows in {time.perf_counter() - started:.1f}s", flush=True)
        for mode in args.modes.split(","):
            child = [sys.executable, __file__, "--measure", mode, "--database", database]
            done = subprocess.run(child, capture_output=True, text=True, check=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            rate = figures["rows"] / figures["seconds"]
            print(
                f"{mode:>13}: {figures['rows']:,} rows in {figures['seconds']:.2f}s = "
                f"{rate:,.0f} rows/s, memory {figures['imports_mib']} MiB after imports, "
                f"peak {figures['peak_mib']} MiB  "
                f"(load {Path('/proc/loadavg').read_text().split()[0]})",
                flush=True,
            )


if __name__ == "__main__":
    main()
