"""Soak test (not in CI): 60 simulated days of late labels, corrupted files and SIGKILLs.

Each simulated day delivers that day's predictions (the demo's fraud traffic, one
Parquet file a day), the labels that arrived that day (split into 1-3 files, some held
back 1-3 more days, a few preceded by a wrong label with an earlier ``labeled_at`` that
the later one must override) and, at random, corrupted files:

- a predictions CSV of bad rows: every mistake of the catalogue (nulls, wrong types,
  scores outside [0, 1] or NaN, unknown classes, bad timestamps, rows before
  ``start_date``), stray delimiters, and duplicates of the day's real ``prediction_id``s;
- a labels CSV of bad rows (nulls, unknown classes, bad timestamps, unknown ids);
- a truncated copy of the day's Parquet file, a binary blob, an empty file, a symlink
  to a file outside the landing folder;
- an interrupted upload: the day's real predictions file first lands truncated and is
  replaced by the whole file after the first run of the day was killed.

Each day ``guap-pipeline run`` is started in a subprocess, killed with SIGKILL at a
random point of its expected duration, then run again to completion. At the end the
daily table must equal the one the same command computes from the clean data in one
run, and the quarantine must hold exactly the corrupted rows, each with its reason.

    .venv/bin/python benchmarks/soak.py                 # 60 days (~20 min on 2 busy cores)
    .venv/bin/python benchmarks/soak.py --days 4        # smoke test

Data goes to ``benchmarks/out/soak/`` (git-ignored). The corruption catalogue is shared
with the fuzz test (``tests/corruption.py``); the script puts the project folder on the
path to import it and runs the command with the same ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guap_pipeline.config import load_config  # noqa: E402
from guap_pipeline.datasets.demo import demo_frames, write_demo  # noqa: E402
from guap_pipeline.ingest.scan import OUTSIDE_REASON  # noqa: E402
from tests.corruption import (  # noqa: E402
    LABEL_MUTATIONS,
    PREDICTION_MUTATIONS,
    CsvFile,
    bad_label,
    bad_prediction,
    truncate,
)

END = dt.date(2026, 9, 30)  # last simulated day
SEED = 7
PREDICTION_HEADER = ["prediction_id", "predicted_at", "model_version", "score", "y_pred"]
PREDICTION_HEADER += ["amount", "country"]
LABEL_HEADER = ["prediction_id", "y_true", "labeled_at"]


class Soak:
    """The soak's landing folder, what it delivered and what must end in quarantine."""

    def __init__(self, folder: Path, config: Path, rng: np.random.Generator) -> None:
        self.folder = folder
        self.landing = folder / "landing"
        for kind in ("predictions", "labels"):
            (self.landing / kind).mkdir(parents=True, exist_ok=True)
        (folder / "guap.yaml").write_text(config.read_text())
        self.rng = rng
        self.start = load_config(config).start_date.isoformat()
        self.expected: dict[tuple[str, int], str] = {}  # (source, row) -> reason
        self.files: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.pending: list[tuple[int, pd.DataFrame]] = []  # (day to deliver, labels)
        self.known_ids: list[str] = []

    def put(self, relative: str, frame: pd.DataFrame | None = None, data: bytes = b"") -> Path:
        path = self.landing / relative
        if frame is not None:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        else:
            path.write_bytes(data)
        self.files[relative.split("/")[0]] += 1
        return path

    def deliver_predictions(self, day: dt.date, rows: pd.DataFrame) -> Path | None:
        """The day's predictions file; sometimes first as an interrupted upload.

        Returns the path to complete after the first (killed) run, or ``None``.
        """
        name = f"predictions/predictions_{day}.parquet"
        path = self.put(name, rows)
        self.known_ids.extend(rows["prediction_id"].tolist())
        if self.rng.random() < 0.2:
            truncate(path, int(self.rng.integers(4, path.stat().st_size)))
            self.counts["interrupted uploads"] += 1
            return path
        return None

    def deliver_labels(self, index: int, arrived: pd.DataFrame) -> None:
        """Queue the day's arrived labels (some held back), then write what is due today."""
        if len(arrived):
            delay = int(self.rng.choice([0, 0, 0, 1, 2, 3]))
            wrong = arrived.sample(frac=0.02, random_state=int(self.rng.integers(1 << 31)))
            if len(wrong):  # a wrong label first, overridden by the later true one
                early = wrong.assign(
                    y_true=1 - wrong["y_true"], labeled_at=wrong["labeled_at"] - pd.Timedelta("1h")
                )
                self.pending.append((index, early))
                self.counts["overridden labels"] += len(early)
            order = self.rng.permutation(len(arrived))  # any order, 1-3 files
            for part in np.array_split(order, int(self.rng.integers(1, 4))):
                self.pending.append((index + delay, arrived.iloc[part]))
        self.flush_labels(index)

    def flush_labels(self, index: int) -> None:
        due = [frame for when, frame in self.pending if when <= index]
        self.pending = [(when, frame) for when, frame in self.pending if when > index]
        for frame in due:
            if len(frame):
                self.counts["label files"] += 1
                self.put(f"labels/batch_{self.counts['label files']:04d}.parquet", frame)

    def corrupt(self, day: dt.date, rows: pd.DataFrame, index: int) -> None:
        """Write the day's random corrupted files and record what each row must become."""
        rng = self.rng
        if rng.random() < 0.5:
            source = f"predictions/predictions_{day}_bad.csv"
            bad = CsvFile(PREDICTION_HEADER)
            for n, mutation in enumerate(PREDICTION_MUTATIONS):
                if rng.random() < 0.5:
                    bad.insert(len(bad.lines), *bad_prediction(str(day), n, mutation, self.start))
            for i in rng.choice(len(rows), size=3, replace=False):
                row = rows.iloc[int(i)]
                values = {c: str(row[c]) for c in PREDICTION_HEADER}
                values["predicted_at"] = row["predicted_at"].isoformat()
                first = f"predictions/predictions_{day}.parquet row {int(i) + 1}"
                bad.insert(
                    len(bad.lines), values, f"duplicate prediction_id (first seen in {first})"
                )
            if bad.lines:
                bad.add_field(int(rng.integers(len(bad.lines))))  # a stray delimiter too
                bad.write(self.landing / source)
                self.files["predictions"] += 1
                self.expected.update(bad.expected(source))
        if rng.random() < 0.4 and self.known_ids:
            source = f"labels/bad_{day}.csv"
            bad = CsvFile(LABEL_HEADER)
            for n, mutation in enumerate(LABEL_MUTATIONS):
                known = self.known_ids[int(rng.integers(len(self.known_ids)))]
                values, reason = bad_label(known, f"{day}T12:00:00Z", index * 100 + n, mutation)
                bad.insert(len(bad.lines), values, reason)
            bad.write(self.landing / source)
            self.files["labels"] += 1
            self.expected.update(bad.expected(source))
        if rng.random() < 0.3:
            source = f"predictions/partial_{day}.parquet"
            path = self.put(source, rows)
            truncate(path, int(rng.integers(4, path.stat().st_size)))
            self.expected[(source, 0)] = "unreadable Parquet file"
        if rng.random() < 0.2:
            source = f"predictions/blob_{day}.bin"
            self.put(source, data=bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
            self.expected[(source, 0)] = "not a Parquet or CSV file"
        if rng.random() < 0.1:
            self.put(f"labels/empty_{day}.csv")
        if rng.random() < 0.1:
            source = f"predictions/link_{day}.csv"
            (self.landing / source).symlink_to(self.folder.parent / "outside.csv")
            self.files["predictions"] += 1
            self.expected[(source, 0)] = OUTSIDE_REASON


def cli(config: Path, as_of: dt.date) -> list[str]:
    command = Path(sys.executable).with_name("guap-pipeline")
    return [str(command), "run", "--config", str(config), "--as-of", as_of.isoformat()]


def env() -> dict[str, str]:
    """The command's environment: this project first; Dagster's home under each store."""
    base = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    return {**base, "PYTHONPATH": str(ROOT)}


def run_to_end(argv: list[str], log: Path) -> float:
    """Run the command to completion; its wall time. Exits if it fails."""
    started = time.perf_counter()
    with log.open("a") as out:
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env()).returncode
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} failed with {code}; see {log}")
    return time.perf_counter() - started


def run_and_kill(argv: list[str], after: float, log: Path) -> bool:
    """Start the command and SIGKILL it after ``after`` seconds; whether it was still running."""
    with log.open("a") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env())
        try:
            process.wait(timeout=after)
            return False
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return True


def export(config: Path, table: str, out: Path) -> pd.DataFrame:
    target = out / f"{config.parent.name}_{table}.csv"
    argv = [str(Path(sys.executable).with_name("guap-pipeline")), "export", table]
    argv += ["--config", str(config), "--output", str(target)]
    subprocess.run(argv, check=True, env=env(), capture_output=True)
    return pd.read_csv(target, keep_default_na=False, na_values=[""])


def reason_kind(reason: str) -> str:
    """A reason without the file name or the first-seen row it names, to count by kind."""
    if reason.startswith("duplicate"):
        return "duplicate prediction_id"
    return re.sub(r"^[^' ]+: ", "", reason).split(" (")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--rows-per-day", type=int, default=400)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "soak")
    args = parser.parse_args()
    started = time.perf_counter()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    (args.out / "outside.csv").write_text("prediction_id,y_true\nsecret,1\n")
    log = args.out / "runs.log"

    print(f"clean reference: {args.days} days in one run ...", flush=True)
    sizes = {"days": args.days, "end_date": END, "seed": args.seed}
    clean_config = write_demo(args.out / "clean", rows_per_day=args.rows_per_day, **sizes)
    full_run = run_to_end(cli(clean_config, END + dt.timedelta(days=1)), log)
    print(f"  {full_run:.1f} s", flush=True)

    predictions, labels = demo_frames(rows_per_day=args.rows_per_day, **sizes)
    soak = Soak(args.out / "soak", clean_config, np.random.default_rng(args.seed))
    config = soak.folder / "guap.yaml"
    pred_day = predictions["predicted_at"].dt.date
    arrival = labels["labeled_at"].dt.date
    first = END - dt.timedelta(days=args.days - 1)
    kills = finished = reruns = 0
    recent = [full_run]  # durations of recent complete runs
    for index in range(args.days):
        day = first + dt.timedelta(days=index)
        rows = predictions[pred_day == day].reset_index(drop=True)
        interrupted = soak.deliver_predictions(day, rows)
        soak.deliver_labels(index, labels[arrival == day].reset_index(drop=True))
        soak.corrupt(day, rows, index)
        argv = cli(config, day + dt.timedelta(days=1))
        # a random point of the run: a share of the shortest recent complete run
        after = float(soak.rng.uniform(0.2, 1.0)) * min(recent[-3:])
        killed = run_and_kill(argv, after, log)
        kills += killed
        finished += not killed
        if interrupted is not None:  # the upload completes while no run is going
            pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), interrupted)
        recent.append(run_to_end(argv, log))
        reruns += 1
        print(
            f"day {index + 1:2d} {day}: {'killed' if killed else 'finished before'} at "
            f"{after:.1f} s, rerun {recent[-1]:.1f} s (kills {kills}, unkilled {finished})",
            flush=True,
        )
    soak.flush_labels(args.days + 10)  # labels still held back arrive
    reruns += 1
    run_to_end(cli(config, END + dt.timedelta(days=1)), log)

    want = export(clean_config, "daily", args.out)
    got = export(config, "daily", args.out)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-6)
    assert len(export(clean_config, "quarantine", args.out)) == 0
    held = export(config, "quarantine", args.out)
    found = {(s, int(r)): reason for s, r, reason in held[["source", "row", "reason"]].values}
    missing = {k: v for k, v in soak.expected.items() if k not in found or v not in found[k]}
    extra = {k: v for k, v in found.items() if k not in soak.expected}
    assert not missing, f"corrupted rows not quarantined as expected: {list(missing.items())[:5]}"
    assert not extra, f"rows quarantined that were not corrupted: {list(extra.items())[:5]}"

    by_reason = Counter(reason_kind(r) for r in held["reason"])
    print("\nSOAK PASSED: daily table equals the clean one-run table; quarantine = corrupted rows")
    print(f"days {args.days}, rows {len(predictions):,} predictions, {len(labels):,} labels")
    print(f"files delivered: {dict(soak.files)}; {dict(soak.counts)}")
    print(f"corrupted rows/files expected in quarantine: {len(soak.expected)}")
    print(f"quarantined rows: {len(held)}")
    for reason, n in sorted(by_reason.items(), key=lambda item: -item[1]):
        print(f"  {n:4d}  {reason}")
    print(f"runs killed with SIGKILL: {kills}; finished before the kill: {finished}")
    print(f"reruns to completion: {reruns}; clean one-run reference: {full_run:.1f} s")
    print(f"wall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
