"""Staging the landing folder: each kind of bad input gets a defined outcome."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guap_pipeline import load_config
from guap_pipeline.ingest import staging
from guap_pipeline.ingest.staged import read_staged
from guap_pipeline.ingest.staging import stage_landing
from guap_pipeline.steps import build_labels, build_predictions, dirty_days, quarantine
from guap_pipeline.store.store import Store
from tests.pipeline_data import predictions_for, write_config
from tests.test_convergence import monitoring_run

HEADER = "prediction_id,predicted_at,y_pred,score,amount\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_config(tmp_path)
    return tmp_path


def stage(root: Path) -> tuple[Store, pd.DataFrame]:
    config = load_config(root / "guap.yaml")
    store = Store(config.storage)
    stage_landing(config, store)
    return store, quarantine(store)


def write(root: Path, name: str, text: str | bytes) -> None:
    path = root / "landing" / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


def _not_json(token: str) -> None:
    raise AssertionError(f"{token} is not JSON")


def reasons(bad: pd.DataFrame) -> dict[int, str]:
    return dict(zip(bad["row"], bad["reason"], strict=True))


def test_each_bad_prediction_row_is_quarantined_with_its_reason(root: Path) -> None:
    write(
        root,
        "predictions/mixed.csv",
        HEADER + "a,2026-10-01T10:00:00Z,1,0.9,10\n"  # good
        ",2026-10-01T10:00:00Z,1,0.9,10\n"  # no id
        "c,yesterday,1,0.9,10\n"  # bad timestamp
        "d,2026-10-01T10:00:00Z,7,0.9,10\n"  # unknown class
        "e,2026-10-01T10:00:00Z,1,1.5,10\n"  # score out of range
        "f,2026-10-01T10:00:00Z,1,0.9,lots\n"  # amount not numeric
        "g,2025-06-01T10:00:00Z,1,0.9,10\n"  # before start_date
        "h,2026-10-01T10:00:00Z,1,0.9,10,extra\n",  # stray delimiter
    )
    store, bad = stage(root)
    assert reasons(bad) == {
        2: "'prediction_id' is missing",
        3: "'predicted_at' is not a timestamp",
        4: "'y_pred' is not one of the classes [0, 1]",
        5: "'score' is outside [0, 1]",
        6: "'amount' is not a finite number",
        7: "predicted before start_date 2026-10-01",
        8: "line has the wrong number of fields",
    }
    records = [json.loads(r, parse_constant=_not_json) for r in bad["record"]]
    assert records[0] == {
        "predicted_at": "2026-10-01T10:00:00Z",
        "y_pred": "1",
        "score": "0.9",
        "amount": "10",
    }
    build_predictions(store, "2026-10-01")
    assert store.read("predictions", "2026-10-01")["prediction_id"].tolist() == ["a"]


def test_duplicate_ids_keep_the_first_file_and_quarantine_the_rest(root: Path) -> None:
    write(root, "predictions/a.csv", HEADER + "x,2026-10-01T10:00:00Z,1,0.9,10\n")
    write(root, "predictions/b.csv", HEADER + "x,2026-10-01T11:00:00Z,0,0.1,10\n")
    store, _ = stage(root)
    assert build_predictions(store, "2026-10-01") == {"n_predictions": 1, "n_duplicates": 1}
    kept = store.read("predictions", "2026-10-01")
    assert kept["y_pred"].tolist() == [1]
    [row] = quarantine(store).itertuples()
    assert row.source == "predictions/b.csv"
    assert row.reason == "duplicate prediction_id (first seen in predictions/a.csv row 1)"


def test_time_zones_decide_the_day(root: Path) -> None:
    write(
        root,
        "predictions/tz.csv",
        HEADER + "naive,2026-10-01T23:30:00,1,0.9,10\n"  # read as UTC: Oct 1
        "zoned,2026-10-02T01:30:00+02:00,1,0.9,10\n",  # 23:30 UTC on Oct 1
    )
    store, bad = stage(root)
    assert bad.empty
    assert build_predictions(store, "2026-10-01")["n_predictions"] == 2


def test_latest_label_wins_and_unknown_ids_wait_in_quarantine(root: Path) -> None:
    write(root, "predictions/p.csv", HEADER + "x,2026-10-01T10:00:00Z,1,0.9,10\n")
    write(root, "labels/first.csv", "prediction_id,y_true,labeled_at\nx,0,2026-10-03\n")
    write(root, "labels/second.csv", "prediction_id,y_true,labeled_at\nx,1,2026-10-05\nghost,1,\n")
    store, bad = stage(root)
    assert build_labels(store, "2026-10-01") == {
        "n_labels": 1,
        "n_label_rows": 2,
        "n_changed_labels": 1,
    }
    assert store.read("labels", "2026-10-01")["y_true"].tolist() == [1]
    assert bad["reason"].tolist() == ["no prediction with this prediction_id has landed (yet)"]


def test_a_label_that_arrives_before_its_prediction_is_routed_later(root: Path) -> None:
    write(root, "labels/early.csv", "prediction_id,y_true\nx,1\n")
    store, bad = stage(root)
    assert len(bad) == 1
    write(root, "predictions/p.csv", HEADER + "x,2026-10-02T10:00:00Z,1,0.9,10\n")
    store, bad = stage(root)
    assert bad.empty
    assert "2026-10-02" in dirty_days(store)
    assert build_labels(store, "2026-10-02")["n_labels"] == 1


def test_labels_route_to_the_day_their_prediction_is_staged_on(root: Path) -> None:
    """The day comes from the staged chunk's folder; a folder that is not a day (left by
    hand in the store) is not a day to route to."""
    write(root, "predictions/p.csv", HEADER + "x,2026-10-01T10:00:00Z,1,0.9,10\n")
    write(root, "predictions/q.csv", HEADER + "y,2026-10-03T23:00:00Z,1,0.9,10\n")
    store, _ = stage(root)
    stray = store.root / "staging" / "predictions" / "backup"
    stray.mkdir()
    for chunk in (store.root / "staging" / "predictions" / "2026-10-01").glob("*.parquet"):
        (stray / chunk.name).write_bytes(chunk.read_bytes())
    write(root, "labels/l.csv", "prediction_id,y_true\ny,1\nx,0\n")
    store, bad = stage(root)
    assert bad.empty
    assert read_staged(store, "labels", "2026-10-01")["prediction_id"].tolist() == ["x"]
    assert read_staged(store, "labels", "2026-10-03")["prediction_id"].tolist() == ["y"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x00\x01\x02binary", "not a Parquet or CSV file"),
        (b"PAR1 truncated parquet", "unreadable Parquet file"),
    ],
)
def test_a_file_that_is_not_parquet_or_csv_is_quarantined_whole(
    root: Path, content: bytes, reason: str
) -> None:
    write(root, "predictions/weird.bin", content)
    _, bad = stage(root)
    [row] = bad.itertuples()
    assert reason in row.reason
    assert row.source == "predictions/weird.bin"


def test_an_empty_file_stages_nothing_and_is_not_an_error(root: Path) -> None:
    write(root, "predictions/empty.csv", b"")
    store, bad = stage(root)
    assert bad.empty
    assert dirty_days(store) == []


def test_changed_file_replaces_its_rows_and_removed_file_takes_them_away(root: Path) -> None:
    write(root, "predictions/p.csv", HEADER + "x,2026-10-01T10:00:00Z,1,0.9,10\n")
    store, _ = stage(root)
    write(root, "predictions/p.csv", HEADER + "y,2026-10-01T10:00:00Z,1,0.9,10\n")
    stage(root)
    build_predictions(store, "2026-10-01")
    assert store.read("predictions", "2026-10-01")["prediction_id"].tolist() == ["y"]
    (root / "landing" / "predictions" / "p.csv").unlink()
    stage(root)
    build_predictions(store, "2026-10-01")
    assert store.read("predictions", "2026-10-01").empty


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("x,,1,0.9,10", "'predicted_at' is missing"),
        ("x,2026-10-01T10:00:00Z,1,0.9,", "'amount' is missing"),
        ("x,2026-10-01T10:00:00Z,1,NaN,10", "'score' is not a number"),
        ("x,2026-10-01T10:00:00Z,1,high,10", "'score' is not a number"),
        (
            "x,2026-10-01T10:00:00Z,,,10",
            "'y_pred' is missing, and there is no 'score' to threshold",
        ),
    ],
)
def test_nulls_and_wrong_types_in_predictions(root: Path, line: str, reason: str) -> None:
    write(root, "predictions/p.csv", HEADER + line + "\n")
    _, bad = stage(root)
    assert bad["reason"].tolist() == [reason]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (",1,2026-10-03", "'prediction_id' is missing"),
        ("x,,2026-10-03", "'y_true' is missing"),
        ("x,maybe,2026-10-03", "'y_true' is not one of the classes [0, 1]"),
        ("x,1,soon", "'labeled_at' is not a timestamp"),
    ],
)
def test_nulls_and_wrong_types_in_labels(root: Path, line: str, reason: str) -> None:
    write(root, "predictions/p.csv", HEADER + "x,2026-10-01T10:00:00Z,1,0.9,10\n")
    write(root, "labels/l.csv", "prediction_id,y_true,labeled_at\n" + line + "\n")
    _, bad = stage(root)
    assert bad["reason"].tolist() == [reason]


def test_a_null_y_pred_without_a_score_column_is_quarantined_as_missing(root: Path) -> None:
    write(root, "predictions/p.csv", "prediction_id,predicted_at,y_pred,amount\nx,2026-10-01,,10\n")
    _, bad = stage(root)
    assert bad["reason"].tolist() == ["'y_pred' is missing"]


def test_a_null_y_pred_with_a_score_is_decided_by_the_threshold(root: Path) -> None:
    write(root, "predictions/p.csv", HEADER + "x,2026-10-01T10:00:00Z,,0.7,10\n")
    store, bad = stage(root)
    assert bad.empty
    build_predictions(store, "2026-10-01")
    assert store.read("predictions", "2026-10-01")["y_pred"].tolist() == [1]


def test_duplicates_within_one_file_keep_the_first_row(root: Path) -> None:
    write(
        root,
        "predictions/p.csv",
        HEADER + "x,2026-10-01T10:00:00Z,1,0.9,10\nx,2026-10-01T11:00:00Z,0,0.1,10\n",
    )
    store, _ = stage(root)
    assert build_predictions(store, "2026-10-01") == {"n_predictions": 1, "n_duplicates": 1}
    assert quarantine(store)["row"].tolist() == [2]


def test_a_dst_day_is_cut_in_the_configured_time_zone(root: Path) -> None:
    config = root / "guap.yaml"
    config.write_text(config.read_text() + "timezone: Europe/Berlin\n")
    write(
        root,
        "predictions/p.csv",
        HEADER + "a,2026-10-24T22:30:00Z,1,0.9,10\n"  # 00:30 CEST on Oct 25: DST ends that day
        "b,2026-10-25T22:59:00Z,1,0.9,10\n"  # 23:59 CET, still Oct 25 (a 25-hour day)
        "c,2026-10-25T23:00:00Z,1,0.9,10\n",  # 00:00 CET on Oct 26
    )
    store, bad = stage(root)
    assert bad.empty
    assert build_predictions(store, "2026-10-25")["n_predictions"] == 2
    assert build_predictions(store, "2026-10-26")["n_predictions"] == 1


def test_a_csv_in_a_legacy_encoding_is_read(root: Path) -> None:
    text = (
        HEADER.replace("amount", "amount,country") + "é1,2026-10-01T10:00:00Z,1,0.9,10,Österreich\n"
    )
    config = root / "guap.yaml"
    config.write_text(config.read_text() + "segments: [country]\n")
    write(root, "predictions/p.csv", text.encode("cp1252"))
    store, bad = stage(root)
    assert bad.empty
    build_predictions(store, "2026-10-01")
    row = store.read("predictions", "2026-10-01").iloc[0]
    assert (row["prediction_id"], row["country"]) == ("é1", "Österreich")


def test_a_stray_delimiter_on_the_first_line_does_not_shift_the_file(root: Path) -> None:
    """pandas would read the extra field as an index column and shift every row."""
    write(
        root,
        "predictions/p.csv",
        HEADER + "a,2026-10-01T10:00:00Z,1,0.9,10,extra\nb,2026-10-01T11:00:00Z,0,0.2,20\n",
    )
    store, bad = stage(root)
    assert reasons(bad) == {1: "line has the wrong number of fields"}
    build_predictions(store, "2026-10-01")
    kept = store.read("predictions", "2026-10-01")
    assert kept[["prediction_id", "y_pred", "amount"]].values.tolist() == [["b", 0, 20.0]]


@pytest.mark.parametrize(
    ("line", "outcome"),
    [
        ("x,2026-10-01T10:00:00Z,,0.7,10", 1),  # no decision: the score at threshold 0.5
        ("x,2026-10-01T10:00:00Z,,0.2,10", 0),
        (
            "x,2026-10-01T10:00:00Z,,,10",
            "'y_pred' is missing, and there is no 'score' to threshold",
        ),
    ],
)
def test_a_missing_decision_is_thresholded_or_quarantined(
    root: Path, line: str, outcome: int | str
) -> None:
    write(root, "predictions/p.csv", HEADER + line + "\n")
    store, bad = stage(root)
    if isinstance(outcome, str):
        assert bad["reason"].tolist() == [outcome]
    else:
        assert bad.empty
        build_predictions(store, "2026-10-01")
        assert store.read("predictions", "2026-10-01")["y_pred"].tolist() == [outcome]


def test_wrong_types_in_a_parquet_file(root: Path) -> None:
    """Typed columns of the wrong type: numbers as text, classes as floats, ids as ints."""
    pd.DataFrame(
        {
            "prediction_id": [1, 2, 3],
            "predicted_at": ["2026-10-01T10:00:00Z", "2026-10-01T11:00:00Z", "noon"],
            "y_pred": [1.0, 0.5, 0.0],
            "score": ["0.9", "0.4", "0.1"],
            "amount": [10, 20, 30],
        }
    ).to_parquet(root / "landing" / "predictions" / "p.parquet")
    store, bad = stage(root)
    assert reasons(bad) == {
        2: "'y_pred' is not one of the classes [0, 1]",
        3: "'predicted_at' is not a timestamp",
    }
    build_predictions(store, "2026-10-01")
    kept = store.read("predictions", "2026-10-01")
    assert kept[["y_pred", "score"]].values.tolist() == [[1, 0.9]]
    assert kept["prediction_id"].dtype == "int64" and kept["prediction_id"].tolist() == [1]


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.99])
def test_a_truncated_parquet_file_is_quarantined_whole(root: Path, keep: float) -> None:
    path = root / "landing" / "predictions" / "p.parquet"
    predictions_for("2026-10-01", 200, seed=0).to_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: max(4, int(len(data) * keep))])
    store, bad = stage(root)
    [row] = bad.itertuples()
    assert (row.source, row.row) == ("predictions/p.parquet", 0)
    assert row.reason.startswith("unreadable Parquet file")
    assert dirty_days(store) == []


def test_a_file_without_a_required_column_quarantines_every_row(root: Path) -> None:
    """One reason for the whole file: the columns it has, and the key that maps one."""
    write(root, "predictions/p.csv", "prediction_id,y_pred,score,amount\na,1,0.9,10\nb,0,0.1,5\n")
    _, bad = stage(root)
    reason = (
        "file has no 'predicted_at' column (it has: prediction_id, y_pred, score, amount); "
        "set columns: {predicted_at: <your column>} in guap.yaml"
    )
    assert reasons(bad) == {1: reason, 2: reason}


def test_a_file_in_its_own_column_names_is_told_which_key_maps_them(root: Path) -> None:
    write(root, "predictions/p.csv", "id,timestamp,y_pred_proba\n7,2026-10-01T10:00:00Z,0.9\n")
    _, bad = stage(root)
    assert reasons(bad) == {
        1: "file has no 'prediction_id' column (it has: id, timestamp, y_pred_proba); "
        "set columns: {prediction_id: <your column>} in guap.yaml"
    }


def test_a_mapped_column_missing_from_a_file_names_both_names(root: Path) -> None:
    config = root / "guap.yaml"
    config.write_text(config.read_text() + "columns: {y_true: repaid}\n")
    write(root, "predictions/p.csv", HEADER + "x,2026-10-01T10:00:00Z,1,0.9,10\n")
    write(root, "labels/l.csv", "prediction_id,y_true\nx,1\n")
    _, bad = stage(root)
    assert reasons(bad) == {
        1: "file has no 'repaid' (y_true) column (it has: prediction_id, y_true); "
        "set columns: {y_true: <your column>} in guap.yaml"
    }


def test_a_changed_label_keeps_its_history_and_the_latest_wins(root: Path) -> None:
    """The later labeled_at wins whatever the file order; both versions stay staged."""
    write(root, "predictions/p.csv", HEADER + "x,2026-10-01T10:00:00Z,1,0.9,10\n")
    write(root, "labels/a_late.csv", "prediction_id,y_true,labeled_at\nx,0,2026-10-09\n")
    write(root, "labels/b_early.csv", "prediction_id,y_true,labeled_at\nx,1,2026-10-03\n")
    store, bad = stage(root)
    assert bad.empty
    build_labels(store, "2026-10-01")
    latest = store.read("labels", "2026-10-01")
    assert latest[["y_true", "n_label_versions"]].values.tolist() == [[0, 2]]
    history = read_staged(store, "labels", "2026-10-01").sort_values("labeled_at")
    assert history["y_true"].tolist() == [1, 0]


def test_the_labels_table_keeps_each_latest_label_in_file_and_row_order(root: Path) -> None:
    """Not in labeled_at order: a day whose ids are each labeled once is then its staged
    rows as they are (a big day's labels are written without a sort)."""
    preds = "".join(f"{x},2026-10-01T1{i}:00:00Z,1,0.9,10\n" for i, x in enumerate("pqrs"))
    write(root, "predictions/p.csv", HEADER + preds)
    write(
        root,
        "labels/a.csv",
        "prediction_id,y_true,labeled_at\nr,1,2026-10-08\np,0,2026-10-02\nq,1,2026-10-05\n",
    )
    write(root, "labels/b.csv", "prediction_id,y_true,labeled_at\ns,0,2026-10-03\np,1,2026-10-04\n")
    store, bad = stage(root)
    assert bad.empty
    build_labels(store, "2026-10-01")
    latest = store.read("labels", "2026-10-01")
    # a.csv rows 1 and 3 (r, q), then b.csv rows 1 and 2 (s, and p's later label)
    assert latest["prediction_id"].tolist() == ["r", "q", "s", "p"]
    assert latest["y_true"].tolist() == [1, 1, 0, 1]
    assert latest["n_label_versions"].tolist() == [1, 1, 1, 2]


def test_a_day_with_a_single_class(root: Path) -> None:
    """Every label and decision negative: all TN, zero money, value_capture undefined."""
    write(
        root,
        "predictions/p.csv",
        HEADER + "".join(f"n{i},2026-10-01T1{i}:00:00Z,0,0.1,{10 * (i + 1)}\n" for i in range(3)),
    )
    write(root, "labels/l.csv", "prediction_id,y_true\n" + "".join(f"n{i},0\n" for i in range(3)))
    daily = monitoring_run(root / "guap.yaml")
    [day] = daily.to_dict("records")
    assert (day["tp"], day["fp"], day["fn"], day["tn"]) == (0, 0, 0, 3)
    assert day["profit"] == day["baseline_profit"] == day["oracle_profit"] == 0
    assert pd.isna(day["value_capture"])


@pytest.mark.parametrize("stray", ["", "s,2026-10-01T10:00:00Z,1,0.9,10,extra\n"])
def test_a_short_line_reads_its_missing_values_as_empty(root: Path, stray: str) -> None:
    """The same outcome whether or not another line sends the file to the slow reader."""
    write(
        root,
        "predictions/p.csv",
        HEADER + "a,2026-10-01T10:00:00Z,1,0.9\n" + stray + "b,2026-10-01T10:00:00Z,1\n",
    )
    _, bad = stage(root)
    short = bad.loc[bad["prediction_id"].isin(["a", "b"]), ["prediction_id", "reason"]]
    assert short.values.tolist() == [["a", "'amount' is missing"], ["b", "'amount' is missing"]]


def test_a_parquet_file_with_text_that_is_not_utf8_is_quarantined_whole(root: Path) -> None:
    """Parquet does not check its text; validating it then failed deep inside pandas."""
    path = root / "landing" / "predictions" / "p.parquet"
    frame = predictions_for("2026-10-01", 20, seed=0)
    frame.loc[3, "prediction_id"] = "MARKERMARKER"
    frame.to_parquet(path, compression="none")
    data = path.read_bytes()
    path.write_bytes(data.replace(b"MARKERMARKER", b"MARKER\xff\xfeRKER"))
    _, bad = stage(root)
    [row] = bad.itertuples()
    assert row.row == 0
    assert row.reason.startswith("unreadable Parquet file (ArrowInvalid")


def test_a_timestamp_beyond_pythons_range_is_quarantined_with_its_record(root: Path) -> None:
    """NumPy holds a date 3 million years BC; Python cannot print it in the record."""
    table = pa.Table.from_pandas(predictions_for("2026-10-01", 2, seed=0), preserve_index=False)
    good = pd.Timestamp("2026-10-01T10:00:00Z").value // 10**9
    stamps = pa.array([good, -(10**14)], pa.timestamp("s", tz="UTC"))
    table = table.set_column(table.schema.get_field_index("predicted_at"), "predicted_at", stamps)
    pq.write_table(table, root / "landing" / "predictions" / "p.parquet")
    _, bad = stage(root)
    assert bad["reason"].tolist() == ["predicted before start_date 2026-10-01"]
    assert "<unprintable Timestamp>" in bad["record"].iloc[0]


def test_a_timestamp_after_the_year_9999_is_out_of_range_not_before_start_date(
    root: Path,
) -> None:
    table = pa.Table.from_pandas(predictions_for("2026-10-01", 2, seed=0), preserve_index=False)
    good = pd.Timestamp("2026-10-01T10:00:00Z").value // 10**9
    far = (np.datetime64("10000-03-01", "s") - np.datetime64(0, "s")).astype(np.int64)
    stamps = pa.array([good, int(far)], pa.timestamp("s", tz="UTC"))
    table = table.set_column(table.schema.get_field_index("predicted_at"), "predicted_at", stamps)
    pq.write_table(table, root / "landing" / "predictions" / "p.parquet")
    store, bad = stage(root)
    assert bad["reason"].tolist() == ["'predicted_at' is after the year 9999"]
    assert read_staged(store, "predictions", "2026-10-01")["predicted_at"].size == 1


@pytest.mark.slow  # hundreds of corrupted files
def test_bit_flipped_parquet_files_never_crash_staging(root: Path) -> None:
    """Each damaged copy is quarantined whole or read row by row; none raises."""
    clean = root / "clean.parquet"
    predictions_for("2026-10-01", 50, seed=0).to_parquet(clean)
    data = clean.read_bytes()
    rng = np.random.default_rng(0)
    config = load_config(root / "guap.yaml")
    target = root / "landing" / "predictions" / "p.parquet"
    outcomes = set()
    for _ in range(60):
        damaged = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            damaged[rng.integers(len(damaged))] ^= int(rng.integers(1, 256))
        target.write_bytes(bytes(damaged))
        report = stage_landing(config, Store(config.storage))
        outcomes.add("file" if report.unreadable else "rows")
    assert outcomes == {"file", "rows"}


def test_a_csv_the_parser_chokes_on_is_read_line_by_line(root: Path) -> None:
    """A lone CR ends a line; a field over the CSV module's size limit is one bad line."""
    write(
        root,
        "predictions/p.csv",
        HEADER + "a,2026-10-01T10:00:00Z,1,0.9,10\rb,2026-10-01T10:00:00Z,1,0.9,10\n"
        "c,2026-10-01T10:00:00Z,1,0.9,10,extra\n"  # sends the file to the slow reader
        f"d,2026-10-01T10:00:00Z,1,0.9,{'9' * 200_000}\n"
        "e,2026-10-01T10:00:00Z,0,0.1,20\n",
    )
    store, bad = stage(root)
    assert reasons(bad) == {
        3: "line has the wrong number of fields",
        4: "line is not valid CSV (field larger than field limit (131072))",
    }
    build_predictions(store, "2026-10-01")
    assert store.read("predictions", "2026-10-01")["prediction_id"].tolist() == ["a", "b", "e"]


def line(prediction_id: str, amount: str = "10") -> str:
    return f"{prediction_id},2026-10-01T10:00:00Z,1,0.9,{amount}\n"


UNTERMINATED = "line is not valid CSV (unterminated quote)"
OPENS = 'b,"2026-10-01T10:00:00Z,1,0.9,10\n'  # a quote that this line never closes


@pytest.mark.parametrize(
    ("lines", "expected", "kept"),
    [
        pytest.param(
            [line("a"), line("b"), '"unterminated,quote\n', line("c"), line("d")],
            {3: UNTERMINATED},
            ["a", "b", "c", "d"],
            id="open-to-the-end",
        ),
        pytest.param(
            ['"unterminated,quote\n', line("a"), line("b")],
            {1: UNTERMINATED},
            ["a", "b"],
            id="first-line",
        ),
        pytest.param(
            [line("a"), line("b"), '"unterminated,quote'],
            {3: UNTERMINATED},
            ["a", "b"],
            id="last-line-without-newline",
        ),
        pytest.param(  # the stray quote in d's amount closes b's: pandas reads no error
            [line("a"), OPENS, line("c"), line("d", '1"0'), line("e")],
            {2: UNTERMINATED, 4: "'amount' is not a finite number"},
            ["a", "c", "e"],
            id="closed-by-a-later-quote",
        ),
        pytest.param(  # d's quote closes b's, then opens its own, open to the end
            [line("a"), OPENS, line("c"), line("d", '"10'), line("e")],
            {2: UNTERMINATED, 4: UNTERMINATED},
            ["a", "c", "e"],
            id="two-open-quotes",
        ),
    ],
)
def test_an_unterminated_quote_costs_its_line_alone(
    root: Path, lines: list[str], expected: dict[int, str], kept: list[str]
) -> None:
    """A quote left open used to swallow every line after it into one bad row."""
    write(root, "predictions/p.csv", HEADER + "".join(lines))
    store, bad = stage(root)
    assert reasons(bad) == expected
    staged = read_staged(store, "predictions", "2026-10-01")
    assert staged["prediction_id"].tolist() == kept


def test_a_quoted_value_over_several_lines_is_one_good_row(root: Path) -> None:
    """A legitimately quoted line break is data: the record is kept whole."""
    config = root / "guap.yaml"
    config.write_text(config.read_text() + "segments: [country]\n")
    text = HEADER.replace("amount", "amount,country") + (
        'a,2026-10-01T10:00:00Z,1,0.9,10,"Bosnia\nand Herzegovina"\n'
        "b,2026-10-01T11:00:00Z,0,0.2,20,France\n"
    )
    write(root, "predictions/p.csv", text)
    store, bad = stage(root)
    assert bad.empty
    staged = read_staged(store, "predictions", "2026-10-01")
    assert staged["country"].tolist() == ["Bosnia\nand Herzegovina", "France"]


def test_quarantine_rows_written_slice_by_slice_are_the_whole_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big file of bad rows keeps one slice of them in memory, not all (each carries its
    raw record): the quarantine table and the reasons counted are those of one slice."""
    frame = predictions_for("2026-10-01", 60, seed=3)
    frame.loc[frame.index % 3 == 0, "score"] = 1.5  # out of range
    frame.loc[frame.index % 5 == 0, "prediction_id"] = None  # missing
    found = {}
    for slice_rows in (1_000, 7):
        monkeypatch.setattr(staging, "SLICE_ROWS", slice_rows)
        root = tmp_path / str(slice_rows)
        write_config(root)
        frame.to_parquet(root / "landing" / "predictions" / "bad.parquet", row_group_size=7)
        config = load_config(root / "guap.yaml")
        store = Store(config.storage)
        report = stage_landing(config, store)
        (path,) = store.staging.file_parts("quarantine")
        found[slice_rows] = (pq.read_table(path), report.files[0].reasons)
    (whole, whole_reasons), (sliced, sliced_reasons) = found[1_000], found[7]
    assert whole.equals(sliced) and whole.schema.equals(sliced.schema, check_metadata=True)
    assert sliced_reasons == whole_reasons
    assert sum(whole_reasons.values()) == len(whole) == 60 - 60 * 8 // 15  # 1/3 + 1/5 - 1/15
