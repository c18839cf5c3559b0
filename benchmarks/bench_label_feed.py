"""Benchmark: what the label-feed assessment adds to each series build.

``guap_pipeline.ingest.label_feed.label_ages`` reads ``y_true`` and ``labeled_at`` of every
built day's labeled predictions at each series build (the usual coverage by age is
learned from all of them). This writes ``--days`` synthetic days of ``--rows`` labeled
predictions (90 % labeled, labels within 30 days) into a temporary store and times the
read, best of ``--repeat``, per day and per million rows.

Usage::

    python benchmarks/bench_label_feed.py [--days 10] [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from guap_pipeline.config import load_config
from guap_pipeline.ingest.label_feed import label_ages
from guap_pipeline.store.labeled import predictions_identity, write_labeled_frame
from guap_pipeline.store.store import Store


def write_days(store: Store, days: int, rows: int, seed: int) -> dt.date:
    """``days`` partitions of labeled predictions from 2026-01-01; returns the as-of date."""
    rng = np.random.default_rng(seed)
    first = dt.date(2026, 1, 1)
    for i in range(days):
        day = first + dt.timedelta(days=i)
        start = pd.Timestamp(day, tz="UTC")
        frame = pd.DataFrame(
            {
                "prediction_id": np.arange(rows).astype(str),
                "y_true": np.where(rng.random(rows) < 0.9, 1.0, np.nan),
                "labeled_at": start + pd.to_timedelta(rng.integers(0, 30 * 86_400, rows), "s"),
            }
        )
        store.write("predictions", frame[["prediction_id"]], day.isoformat())
        built_from = predictions_identity(store, day.isoformat())
        write_labeled_frame(store, day.isoformat(), frame, built_from)  # aligned with it
    return first + dt.timedelta(days=days + 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "guap.yaml").write_text(
            "landing: ./landing\nstorage: ./store\nvalue_matrix: {tp: 1, fp: 0, fn: 0, tn: 0}\n"
        )
        config = load_config(root / "guap.yaml")
        store = Store(config.storage)
        as_of = write_days(store, args.days, args.rows, args.seed)
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            label_ages(store, config, as_of)
            best = min(best, time.perf_counter() - started)
    per_day = best / args.days
    print(
        f"label_ages: {args.days} days x {args.rows:,} rows in {best:.2f} s "
        f"({per_day:.3f} s per day, {per_day / args.rows * 1e6:.3f} s per million rows)"
    )


if __name__ == "__main__":
    main()
