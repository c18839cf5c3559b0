"""Big-day paths (Arrow, DuckDB, files read and written in slices) give the pandas results.

The slice size is shrunk to a few rows so that every file is read, validated, routed and
written in several parts; each table must equal what the pure pandas functions of
:mod:`guap_pipeline.money.one_day` compute from the same staged rows.
"""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guap_pipeline import load_config
from guap_pipeline.ingest import routing, staging
from guap_pipeline.ingest.staged import read_staged
from guap_pipeline.ingest.staging import stage_landing
from guap_pipeline.money.one_day import dedupe_predictions, join_labels, latest_labels
from guap_pipeline.steps import (
    big_days,
    build_day_profit,
    build_labeled,
    build_labels,
    build_predictions,
    dirty_days,
    quarantine,
)
from guap_pipeline.steps import build as steps_build
from guap_pipeline.store import store as storage
from guap_pipeline.store.labeled import read_labeled
from guap_pipeline.store.store import Store
from tests.pipeline_data import labels_for, predictions_for, write_config

pytestmark = pytest.mark.slow  # big days through DuckDB and Arrow, and spill folders


@pytest.fixture(autouse=True)
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "SLICE_ROWS", 7)
    monkeypatch.setattr(staging, "SLICE_ROWS", 7)
    monkeypatch.setattr(big_days, "SLICE_ROWS", 7)
    monkeypatch.setattr(routing, "MATCHES_MIN_ROWS", 0)  # keep the routing's matches


def build(config_path: Path) -> tuple[Store, list[str]]:
    config = load_config(config_path)
    store = Store(config.storage)
    stage_landing(config, store)
    days = dirty_days(store)
    for day in days:
        build_predictions(store, day)
        build_labels(store, day)
        build_labeled(store, day)
        build_day_profit(store, config, day)
    return store, days


def assert_same(got: pd.DataFrame | None, want: pd.DataFrame) -> None:
    """``got`` (read from the store) equals ``want`` as the store would give it back."""
    assert got is not None
    stored = pa.Table.from_pandas(want, preserve_index=False).to_pandas()
    pd.testing.assert_frame_equal(got, stored)


def check_against_pandas(store: Store, day: str) -> None:
    unique, duplicates = dedupe_predictions(read_staged(store, "predictions", day))
    assert_same(store.read("predictions", day), unique)
    if len(duplicates):
        assert_same(store.read("quarantine_predictions", day), duplicates)
    staged_labels = read_staged(store, "labels", day)
    latest, _ = latest_labels(staged_labels)
    assert_same(store.read("labels", day), latest)
    if staged_labels.empty:  # as build_labeled passes it
        staged_labels = pd.DataFrame(columns=["prediction_id", "_source", "_row"])
    labeled, orphans = join_labels(unique, latest, staged_labels)
    assert_same(read_labeled(store, day), labeled)
    if len(orphans):
        assert_same(store.read("quarantine_labels", day), orphans)


def integer_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ids as database keys: ``b-2026-10-01-7`` -> 9202610017."""
    ids = frame["prediction_id"].str.replace("b-", "9").str.replace("-", "")
    return frame.assign(prediction_id=ids.astype("int64"))


@pytest.mark.parametrize("ids", ["string", "int64"])
def test_big_day_paths_equal_pandas(tmp_path: Path, ids: str) -> None:
    """With text ids (a CSV among the files), and with integer ids (every file Parquet)."""
    config = write_config(tmp_path)
    land = tmp_path / "landing"

    def write(frame: pd.DataFrame, name: str) -> None:
        if ids == "int64":
            integer_ids(frame).to_parquet(land / name.replace(".csv", ".parquet"))
        elif name.endswith(".csv"):
            frame.to_csv(land / name, index=False)
        else:
            frame.to_parquet(land / name)

    first = predictions_for("2026-10-01", 60, seed=1)
    first.loc[40:44, "prediction_id"] = first.loc[0:4, "prediction_id"].to_numpy()  # dupes
    write(first, "predictions/a.parquet")
    second = predictions_for("2026-10-01", 30, seed=2)
    second["prediction_id"] = "b-" + second["prediction_id"]
    second.loc[0:5, "prediction_id"] = first.loc[10:15, "prediction_id"].to_numpy()
    write(second, "predictions/b.parquet")
    labels = labels_for(first, share=0.8, seed=3)
    labels.loc[labels.index[:6], "labeled_at"] = pd.NaT
    write(labels, "labels/l.parquet")
    again = labels_for(first, share=0.3, seed=4)  # a second label for some ids
    write(again, "labels/again.csv")
    write(labels_for(second, share=1.0, seed=5), "labels/m.parquet")

    store, days = build(config)
    assert days == ["2026-10-01"]
    assert store.read("labels", "2026-10-01")["prediction_id"].dtype == ids
    check_against_pandas(store, "2026-10-01")

    (land / "predictions" / "b.parquet").unlink()  # its labels become orphans
    store, days = build(config)
    check_against_pandas(store, "2026-10-01")
    assert (quarantine(store)["reason"].str.contains("not among the day's")).any()


def test_a_day_without_labels_or_duplicates_is_copied_and_joined(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    land = tmp_path / "landing"
    predictions_for("2026-10-02", 50, seed=6).to_parquet(land / "predictions" / "p.parquet")
    predictions_for("2026-10-03", 50, seed=7).to_parquet(land / "predictions" / "q.parquet")
    labels_for(predictions_for("2026-10-03", 50, seed=7), share=1.0, seed=8).to_parquet(
        land / "labels" / "l.parquet"
    )
    store, days = build(config)
    assert days == ["2026-10-02", "2026-10-03"]
    for day in days:
        check_against_pandas(store, day)
    unlabeled = read_labeled(store, "2026-10-02")
    assert unlabeled["y_true"].isna().all() and unlabeled["y_true"].dtype == np.float64
    assert (read_labeled(store, "2026-10-03")["y_true"].notna()).all()


def test_integer_ids_with_a_gap_read_in_slices_as_whole(tmp_path: Path) -> None:
    """An integer column with a missing value anywhere is float in every slice, as when the
    file is read whole (so ids become "1000.0" everywhere, not only near the gap)."""
    config = write_config(tmp_path)
    ids = pa.array([None if i == 25 else 1000 + i for i in range(30)], pa.int64())
    stamps = pd.date_range("2026-10-04T01:00", periods=30, freq="min", tz="UTC")
    pq.write_table(
        pa.table(
            {
                "prediction_id": ids,
                "predicted_at": pa.array(stamps),
                "y_pred": [i % 2 for i in range(30)],
                "amount": [10.0] * 30,
            }
        ),
        tmp_path / "landing" / "predictions" / "ints.parquet",
    )
    store, _ = build(config)
    kept = store.read("predictions", "2026-10-04")["prediction_id"]
    assert kept.iloc[0] == "1000.0" and len(kept) == 29


@pytest.mark.parametrize("big", [False, True], ids=["read-whole", "read-in-slices"])
def test_labels_of_several_files_are_written_as_staged_in_file_and_row_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, big: bool
) -> None:
    """Each id labeled once, across three files whose names sort otherwise than their
    staged chunks: the fast path writes the chunks as they are, in the order of the
    files' names, as the pandas path orders them; a big day reads them slice by slice."""
    if big:
        monkeypatch.setattr(big_days, "SHARED_DUCKDB_ROWS", 1)
    config = write_config(tmp_path)
    land = tmp_path / "landing"
    day = "2026-10-07"
    predictions = predictions_for(day, 60, seed=17)
    predictions.to_parquet(land / "predictions" / "p.parquet")
    labels = labels_for(predictions, share=0.9, seed=18)
    for i, name in enumerate(("zz.parquet", "a.parquet", "m.csv")):
        part = labels.iloc[i::3].iloc[::-1]  # rows out of id and time order
        if name.endswith(".csv"):
            part.to_csv(land / "labels" / name, index=False)
        else:
            part.to_parquet(land / "labels" / name)
    took_fast_path = []

    def fast_labels(store: Store, day: str) -> dict[str, int] | None:
        figures = big_days.fast_labels(store, day)
        took_fast_path.append(figures is not None)
        return figures

    monkeypatch.setattr(steps_build, "fast_labels", fast_labels)
    store, _ = build(config)
    assert took_fast_path == [True]
    check_against_pandas(store, day)
    sources = read_staged(store, "labels", day).sort_values(["_source", "_row"])
    assert store.read("labels", day)["prediction_id"].tolist() == sources["prediction_id"].tolist()


def test_routing_matches_stand_in_for_the_join_only_while_they_hold(tmp_path: Path) -> None:
    """The labels routed to a day keep the prediction row each matched; the day's steps
    use them instead of joining ids only while the staged chunks they point into are
    unchanged, and the tables are the pandas ones either way."""
    config = write_config(tmp_path)
    land = tmp_path / "landing"
    day = "2026-10-05"
    first = predictions_for(day, 40, seed=11)
    first.to_parquet(land / "predictions" / "a.parquet")
    labels_for(first, share=0.7, seed=12).to_parquet(land / "labels" / "l.parquet")
    store, _ = build(config)
    assert routing.staged_matches(store, day) is not None
    check_against_pandas(store, day)

    # Relabels: one id labeled in two files, another twice in one file.
    again = labels_for(first, share=0.4, seed=13)
    again.loc[again.index[1], "prediction_id"] = again["prediction_id"].iloc[0]
    again.to_parquet(land / "labels" / "again.parquet")
    store, _ = build(config)
    assert routing.staged_matches(store, day) is not None
    check_against_pandas(store, day)
    assert store.read("labels", day)["n_label_versions"].max() > 1

    # A second predictions file for the day: matches made against one chunk do not hold.
    second = predictions_for(day, 20, seed=14)
    second["prediction_id"] = "c-" + second["prediction_id"]
    second.to_parquet(land / "predictions" / "c.parquet")
    labels_for(second, share=1.0, seed=15).to_parquet(land / "labels" / "m.parquet")
    store, _ = build(config)
    assert routing.staged_matches(store, day) is None
    check_against_pandas(store, day)

    # One file again, rewritten with fewer rows: the labels of the rows it lost are orphans.
    (land / "predictions" / "c.parquet").unlink()
    (land / "labels" / "m.parquet").unlink()
    first.iloc[:30].to_parquet(land / "predictions" / "a.parquet")
    store, _ = build(config)
    assert routing.staged_matches(store, day) is None
    check_against_pandas(store, day)
    assert (quarantine(store)["reason"].str.contains("not among the day's")).any()


def test_a_fully_labeled_day_skips_the_duplicate_count_only_when_matches_vouch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every prediction labeled lets the matches vouch that the ids are distinct, but a
    prediction_id staged twice leaves no matches (its label matched two rows)."""
    day = "2026-10-06"
    staged = predictions_for(day, 30, seed=16)
    staged.loc[29, "prediction_id"] = staged.loc[3, "prediction_id"]
    unique = staged.drop_duplicates("prediction_id")
    for folder, predictions in (("twice", staged), ("once", unique)):
        config = write_config(tmp_path / folder)
        land = tmp_path / folder / "landing"
        predictions.to_parquet(land / "predictions" / "p.parquet")
        labels_for(unique, share=1.0, seed=17).to_parquet(land / "labels" / "l.parquet")
        if folder == "once":  # no DuckDB count of distinct ids: the matches tell
            monkeypatch.setattr(big_days, "_n_duplicates", lambda chunks: 1 / 0)
        store, _ = build(config)
        assert (routing.staged_matches(store, day) is None) == (folder == "twice")
        check_against_pandas(store, day)
        assert len(store.read("predictions", day)) == 29
        assert len(store.read("quarantine_predictions", day)) == (folder == "twice")


def test_duckdb_spills_into_a_folder_of_its_own_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query beyond DuckDB's memory budget spills under the system's temp folder; by
    default it would write ``.tmp`` wherever the process was started."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(storage.DUCKDB_MEMORY_ENV, "100MB")  # the query needs more: it spills
    with storage.duckdb_connection(storage.SHARED_DUCKDB_ROWS) as con:
        (spill,) = con.execute("SELECT current_setting('temp_directory')").fetchone()
        assert Path(spill) == storage.spill_folder()
        assert Path(spill).is_relative_to(tempfile.gettempdir())
        n = con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT md5(i::TEXT) FROM range(3000000) t(i))"
        ).fetchone()[0]
    assert n == 3_000_000
    assert list(tmp_path.iterdir()) == []


def test_matches_are_kept_for_the_days_the_manifest_shows_big_and_in_one_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest's row counts pick the days that get matches, without opening chunks:
    one predictions chunk of at least ``MATCHES_MIN_ROWS`` rows, as the chunk itself shows."""
    entries = [
        {"kind": "predictions", "days": {"2026-10-01": 40, "2026-10-02": 5, "2026-10-03": 0}},
        {"kind": "predictions", "days": {"2026-10-02": 50, "2026-10-04": 39}},
        {"kind": "labels", "days": {"2026-10-05": 100}},
    ]
    monkeypatch.setattr(routing, "MATCHES_MIN_ROWS", 40)
    assert routing.matchable_days(entries) == {"2026-10-01"}
    monkeypatch.setattr(routing, "MATCHES_MIN_ROWS", 39)
    assert routing.matchable_days(entries) == {"2026-10-01", "2026-10-04"}

    config = write_config(tmp_path)
    land = tmp_path / "landing"
    big, small = "2026-10-07", "2026-10-08"
    for day, n, seed in ((big, 40, 21), (small, 30, 22)):
        predictions = predictions_for(day, n, seed=seed)
        predictions.to_parquet(land / "predictions" / f"{day}.parquet")
        labels_for(predictions, share=0.8, seed=seed).to_parquet(land / "labels" / f"{day}.parquet")
    store, _ = build(config)
    assert routing.staged_matches(store, big) is not None
    assert not store.staging.day_folder("matches", small).exists()
    for day in (big, small):
        check_against_pandas(store, day)
