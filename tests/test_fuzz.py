"""Random corruptions of valid landing files never change the figures of untouched rows.

A clean landing folder (two days of CSV predictions, two of Parquet, a labels CSV per
day) is run once. Each example then corrupts a random few of its files — bad values,
nulls, wrong types, stray delimiters, duplicated lines and new bad lines in the CSVs; a
truncated or bit-flipped Parquet file — runs again, and checks that every corrupted row
is quarantined with its reason (or its file reported whole), that every row of every
file is either accepted or quarantined, never both and never lost, and that untouched
rows and days keep their clean figures.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from guap_pipeline.ingest.staged import UNMATCHED_REASON, read_staged, staged_days
from guap_pipeline.steps import quarantine
from guap_pipeline.store.labeled import labeled_days, read_labeled
from guap_pipeline.store.store import Store
from tests.corruption import (
    LABEL_MUTATIONS,
    PREDICTION_MUTATIONS,
    CsvFile,
    bad_label,
    bad_prediction,
    truncate,
)
from tests.pipeline_data import days, labels_for, predictions_for, write_config
from tests.test_convergence import monitoring_run

pytestmark = pytest.mark.slow  # monitoring runs on generated corrupt files

DAYS = days("2026-10-02", 4)
CSV_DAYS, PARQUET_DAYS = DAYS[:2], DAYS[2:]
START = "2026-10-01"
ROW_COLUMNS = [
    "prediction_id",
    "predicted_at",
    "date",
    "model_version",
    "y_pred",
    "score",
    "amount",
    "y_true",
    "labeled_at",
]
# Running totals depend on earlier days; a day's own figures are the other columns.
RUNNING = ("cumulative_net_profit", "roi")


@dataclass
class Landing:
    """A landing folder as the test wrote it: CSVs as tagged lines, Parquet files as frames."""

    root: Path
    csv: dict[str, CsvFile] = field(default_factory=dict)  # source -> file
    parquet: dict[str, pd.DataFrame] = field(default_factory=dict)  # source -> rows
    day_of: dict[str, str] = field(default_factory=dict)  # source -> the day it holds

    def write(self) -> None:
        for source, frame in self.csv.items():
            frame.write(self.root / "landing" / source)
        for source, frame in self.parquet.items():
            frame.to_parquet(self.root / "landing" / source)


def clean_landing(root: Path) -> Landing:
    write_config(root)
    landing = Landing(root)
    for i, day in enumerate(DAYS):
        preds = predictions_for(day, 25, seed=i)
        if day in CSV_DAYS:
            landing.csv[f"predictions/{day}.csv"] = CsvFile.of(preds)
            landing.day_of[f"predictions/{day}.csv"] = day
        else:
            landing.parquet[f"predictions/{day}.parquet"] = preds
            landing.day_of[f"predictions/{day}.parquet"] = day
        landing.csv[f"labels/{day}.csv"] = CsvFile.of(labels_for(preds, share=0.8, seed=i))
        landing.day_of[f"labels/{day}.csv"] = day
    landing.write()
    return landing


@dataclass
class Damage:
    """What the corruptions did, and so what the run must show."""

    touched_days: set[str] = field(default_factory=set)
    whole_files: dict[str, str] = field(default_factory=dict)  # source -> reason part
    mystery: set[str] = field(default_factory=set)  # bit-flipped files: any defined outcome
    lost_ids: set[str] = field(default_factory=set)


def corrupt(landing: Landing, rng: np.random.Generator, n_ops: int) -> Damage:
    """Apply ``n_ops`` random corruptions to the landing files and rewrite them."""
    damage = Damage()
    for n in range(n_ops):
        sources = sorted([*landing.csv, *landing.parquet])  # a spoiled Parquet file stays so
        source = sources[rng.integers(len(sources))]
        damage.touched_days.add(landing.day_of[source])
        if source in landing.parquet:
            path = landing.root / "landing" / source
            landing.parquet[source].to_parquet(path)
            if rng.random() < 0.5:
                truncate(path, int(rng.integers(4, path.stat().st_size)))
                damage.whole_files[source] = "unreadable Parquet file"
                damage.lost_ids |= set(landing.parquet[source]["prediction_id"])
            else:
                data = bytearray(path.read_bytes())
                for _ in range(int(rng.integers(1, 9))):
                    data[rng.integers(len(data))] ^= int(rng.integers(1, 256))
                path.write_bytes(bytes(data))
                damage.mystery.add(source)
            landing.parquet.pop(source)  # written as corrupted: never rewritten clean
            continue
        file = landing.csv[source]
        predictions = source.startswith("predictions/")
        ops = (
            ("mutate", "stray", "insert", "duplicate")
            if predictions
            else ("mutate", "stray", "insert")
        )
        op = ops[rng.integers(len(ops))]
        at = int(rng.integers(len(file.lines)))
        if op in ("mutate", "stray") and file.lines[at].reason is not None:
            # one spoiling per line: which reason a doubly spoiled line gets is the order
            # of the checks (structure, then values, then matching), not this test's tags
            continue
        if op == "mutate":
            catalogue = PREDICTION_MUTATIONS if predictions else LABEL_MUTATIONS
            column, value, reason = catalogue[rng.integers(len(catalogue))]
            file.mutate(at, column, value.format(n=n), reason.format(start=START))
        elif op == "stray":
            file.add_field(at)
        elif op == "duplicate":
            file.duplicate(at, int(rng.integers(at + 1, len(file.lines) + 1)))
        elif predictions:
            mutation = PREDICTION_MUTATIONS[rng.integers(len(PREDICTION_MUTATIONS))]
            file.insert(at, *bad_prediction(landing.day_of[source], n, mutation, START))
        else:
            known = file.lines[at].fields[0]
            mutation = LABEL_MUTATIONS[rng.integers(len(LABEL_MUTATIONS))]
            file.insert(at, *bad_label(known, "2026-10-09T00:00:00Z", n, mutation))
    for source, file in landing.csv.items():
        if source.startswith("predictions/"):
            damage.lost_ids |= file.lost_ids()
    landing.write()
    return damage


def accepted_rows(store: Store) -> pd.DataFrame:
    """(source, row) of every accepted row: kept predictions and staged labels."""
    frames = [store.read_partitions("predictions")[["_source", "_row"]]]
    for day in staged_days(store):
        labels = read_staged(store, "labels", day)
        if len(labels):
            frames.append(labels[["_source", "_row"]])
    rows = pd.concat(frames, ignore_index=True).drop_duplicates()  # a label may route twice
    return rows.rename(columns={"_source": "source", "_row": "row"})


def row_figures(store: Store, ids: set[str]) -> pd.DataFrame:
    rows = pd.concat([read_labeled(store, d) for d in labeled_days(store)], ignore_index=True)
    rows = rows.loc[rows["prediction_id"].isin(ids), ROW_COLUMNS]
    return rows.sort_values("prediction_id", ignore_index=True)


def day_figures(daily: pd.DataFrame, keep: set[str]) -> pd.DataFrame:
    own = [c for c in daily.columns if c not in RUNNING]
    return daily.loc[daily["date"].astype(str).isin(keep), own].reset_index(drop=True)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Landing, pd.DataFrame, Store]:
    """The clean landing folder, run once: its files, daily table and store."""
    root = tmp_path_factory.mktemp("clean")
    landing = clean_landing(root)
    return landing, monitoring_run(root / "guap.yaml"), Store(root / "store")


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(1, 5))
@example(seed=1653, n_ops=2)  # one label line spoiled twice (y_true, then its id)
def test_corruptions_leave_untouched_rows_and_days_alone(
    tmp_path_factory: pytest.TempPathFactory,
    clean: tuple[Landing, pd.DataFrame, Store],
    seed: int,
    n_ops: int,
) -> None:
    clean, clean_daily, clean_store = clean
    root = tmp_path_factory.mktemp("fuzzed")
    shutil.copytree(clean.root / "landing", root / "landing")
    write_config(root)
    landing = Landing(root, copy.deepcopy(clean.csv), dict(clean.parquet), dict(clean.day_of))
    damage = corrupt(landing, np.random.default_rng(seed), n_ops)
    daily = monitoring_run(root / "guap.yaml")
    store = Store(root / "store")

    got = quarantine(store)
    got_reasons = {
        (s, int(r)): reason
        for s, r, reason in got[["source", "row", "reason"]].itertuples(index=False)
    }
    mystery_ids = set().union(*(set(clean.parquet[s]["prediction_id"]) for s in damage.mystery))

    # every corrupted line is quarantined with its reason; whole files are reported
    expected = {}
    for source, file in landing.csv.items():
        expected.update(file.expected(source))
        if source.startswith("labels/"):  # labels of lost predictions wait for them
            for row, line in enumerate(file.lines, start=1):
                if line.reason is None and line.fields[0] in damage.lost_ids:
                    expected[(source, row)] = UNMATCHED_REASON
    for (source, row), reason in expected.items():
        assert got_reasons.get((source, row)) == reason, (source, row)
    for source, part in damage.whole_files.items():
        assert part in got_reasons[(source, 0)]

    # nothing else is quarantined, except what a bit-flipped file may cause
    for (source, row), reason in got_reasons.items():
        if (source, row) in expected or source in damage.whole_files or source in damage.mystery:
            continue
        line = landing.csv[source].lines[row - 1] if source in landing.csv else None
        assert line is not None and reason == UNMATCHED_REASON and line.fields[0] in mystery_ids, (
            source,
            row,
            reason,
        )

    # count conservation: each file's rows are accepted or quarantined, exactly once
    accepted = accepted_rows(store)
    for source in landing.day_of:
        taken = set(accepted.loc[accepted["source"] == source, "row"])
        held = {r for s, r in got_reasons if s == source}
        assert not taken & held, source
        if source in damage.whole_files or 0 in held:  # reported whole, nothing taken
            assert taken == set() and held == {0}, source
        elif source in landing.csv:
            assert taken | held == set(range(1, len(landing.csv[source].lines) + 1)), source
        elif source in damage.mystery:  # read despite the flips: no row goes missing
            assert taken | held == set(range(1, len(taken | held) + 1)), source
        else:
            assert taken == set(range(1, len(clean.parquet[source]) + 1)) and not held

    # untouched rows keep their figures: clean prediction line and clean (or no) label line
    intact = set()
    for source, file in landing.csv.items():
        if source.startswith("predictions/"):
            intact |= file.untouched_ids()
    for source, frame in clean.parquet.items():
        if source not in damage.whole_files and source not in damage.mystery:
            intact |= set(frame["prediction_id"])
    for source, file in landing.csv.items():
        if source.startswith("labels/"):
            spoiled = {line.clean_id for line in file.lines if line.reason and line.clean_id}
            intact -= spoiled
    kept = store.read_partitions("predictions")
    from_flipped = kept.loc[kept["_source"].isin(damage.mystery)]
    intact -= mystery_ids | set(from_flipped["prediction_id"])  # a flip may forge an id
    pd.testing.assert_frame_equal(row_figures(store, intact), row_figures(clean_store, intact))

    # untouched days keep their figures (a bit-flipped file touches every day it reaches)
    reached = set(from_flipped["date"])
    untouched = set(DAYS) - damage.touched_days - {str(d) for d in reached}
    pd.testing.assert_frame_equal(
        day_figures(daily, untouched), day_figures(clean_daily, untouched)
    )
