"""Integer prediction ids (database keys) are kept as integers, and give every table and
export the same figures as the same ids given as text.

A store keeps one id type: integers while every landing file has integer ids, text as
soon as one has not; the files staged in the other type are then read again, and the run
says so. The text-id path is the reference here: its money is checked elsewhere against
hand-worked examples and NannyML.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets_defs.cli import main
from guap_pipeline import load_config
from guap_pipeline.ingest.readers import integer_ids
from guap_pipeline.steps import quarantine
from guap_pipeline.store.labeled import read_labeled
from guap_pipeline.store.store import Store
from tests.pipeline_data import AS_OF, days, labels_for, predictions_for, write_config

pytestmark = pytest.mark.slow  # whole runs of guap-pipeline

CLI = Path(sys.executable).with_name("guap-pipeline")
EXPORTS = ("daily", "cells", "quarantine")


def as_integers(ids: pd.Series) -> pd.Series:
    """``2026-10-01-17`` -> 2026100117: distinct ids stay distinct (one day, i < 100)."""
    return ids.str.replace("-", "").astype("int64")


def landing(root: Path, *, integer: bool) -> Path:
    """Three days of two versions, a duplicated id, labels in two files (one id labeled
    twice, most days partly labeled) and three labels whose prediction never lands."""
    config = write_config(root)
    land = root / "landing"
    frames = []
    for i, day in enumerate(days("2026-10-01", 3)):
        frame = predictions_for(day, 80, seed=i, version=f"v{1 + i % 2}")
        frames.append(frame)
    frames[1].loc[5, "prediction_id"] = frames[1].loc[4, "prediction_id"]  # a duplicate
    first = pd.concat([labels_for(f, share=0.7, seed=10 + i) for i, f in enumerate(frames)])
    again = labels_for(frames[0], share=0.2, seed=20).assign(y_true=1)  # relabels
    strangers = pd.DataFrame(
        {"prediction_id": ["2026-09-30-1", "2026-09-30-2", "2026-09-30-3"], "y_true": 0}
    ).assign(labeled_at=pd.Timestamp("2026-10-02", tz="UTC"))
    tables = {
        "predictions/p.parquet": pd.concat(frames, ignore_index=True),
        "labels/first.parquet": pd.concat([first, strangers], ignore_index=True),
        "labels/again.parquet": again,
    }
    for name, frame in tables.items():
        ids = frame["prediction_id"]
        frame.assign(prediction_id=as_integers(ids) if integer else ids).to_parquet(land / name)
    return config


def run(config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    status = main(["run", "--config", str(config), "--as-of", AS_OF])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def exports(config: Path, folder: Path) -> dict[str, pd.DataFrame]:
    folder.mkdir(parents=True, exist_ok=True)
    found = {}
    for table in EXPORTS:
        path = folder / f"{table}.csv"
        assert main(["export", table, "--config", str(config), "--output", str(path)]) == 0
        found[table] = pd.read_csv(path, dtype={"prediction_id": str})
    return found


def without_run_times(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The exports without the columns that say when a run wrote them."""
    daily = tables["daily"]
    return {**tables, "daily": daily.drop(columns=[c for c in daily if c.endswith("_at")])}


def assert_same_exports(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    got, want = without_run_times(got), without_run_times(want)
    for table in EXPORTS:
        pd.testing.assert_frame_equal(got[table], want[table], obj=table)


def stored_id_types(config: Path) -> set[str]:
    store = Store(load_config(config).storage)
    found = set()
    for day in days("2026-10-01", 3):
        found.add(str(store.read("predictions", day)["prediction_id"].dtype))
        found.add(str(store.read("labels", day)["prediction_id"].dtype))
        found.add(str(read_labeled(store, day)["prediction_id"].dtype))
    return found


def test_integer_ids_give_the_exports_the_same_ids_as_text_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = landing(tmp_path / "text", integer=False)
    integer = landing(tmp_path / "integer", integer=True)
    run(text, capsys)
    out = run(integer, capsys)

    assert stored_id_types(integer) == {"int64"}
    assert stored_id_types(text) == {"string"}
    assert "ids:" not in out  # nothing staged in another type: nothing to say
    want = exports(text, tmp_path / "text_exports")
    got = exports(integer, tmp_path / "integer_exports")
    # the text store's ids are the dates' digits with hyphens: the same ids, written alike
    want["quarantine"]["prediction_id"] = want["quarantine"]["prediction_id"].str.replace("-", "")
    assert_same_exports(got, want)
    reasons = got["quarantine"]["reason"]
    assert reasons.str.startswith("duplicate prediction_id").sum() == 1
    assert (reasons == "no prediction with this prediction_id has landed (yet)").sum() == 3
    assert got["daily"]["n_labeled"].sum() > 0
    # the quarantine table keeps every id as text, whatever the store's type
    assert quarantine(Store(load_config(integer).storage))["prediction_id"].dtype == "string"


def test_a_text_id_file_turns_the_store_to_text_and_back_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Integer ids, then a CSV of relabels (text ids): the two files staged as integers
    are read again as text, and the tables are those of a fresh store on the same
    landing; the CSV removed, the store goes back to integers."""
    config = landing(tmp_path / "store", integer=True)
    run(config, capsys)
    land = config.parent / "landing"
    late = pq.read_table(land / "labels" / "again.parquet").to_pandas().assign(y_true=0)
    late.to_csv(land / "labels" / "late.csv", index=False)

    out = run(config, capsys)

    assert (
        "ids: labels/late.csv has prediction ids that are not integers (text, or a column "
        "with a missing id): every id is now kept as text, and 3 staged files with integer "
        "ids were read again"
    ) in out
    assert stored_id_types(config) == {"string"}
    fresh = tmp_path / "fresh"
    shutil.copytree(land, fresh / "landing")
    shutil.copy(config, fresh / "guap.yaml")
    run(fresh / "guap.yaml", capsys)
    assert_same_exports(
        exports(config, tmp_path / "a"), exports(fresh / "guap.yaml", tmp_path / "b")
    )

    (land / "labels" / "late.csv").unlink()
    out = run(config, capsys)

    assert (
        "ids: every landing file now has integer prediction ids: they are kept as integers, "
        "and 3 staged files with text ids were read again"
    ) in out
    assert stored_id_types(config) == {"int64"}
    again = landing(tmp_path / "again", integer=True)
    run(again, capsys)
    assert_same_exports(exports(config, tmp_path / "c"), exports(again, tmp_path / "d"))


def test_one_process_run_on_integer_ids_exits_0_and_says_nothing_of_ids(tmp_path: Path) -> None:
    """As a user meets it: the installed command, on database keys."""
    config = landing(tmp_path, integer=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")

    done = subprocess.run(
        [CLI, "run", "--config", config, "--as-of", AS_OF],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in tmp_path.glob("landing/*/*"))
    read = f"input: 3 files read (2 labels, 1 predictions): {rows} rows, {rows - 1} accepted, "
    assert read + "1 quarantined" in done.stdout  # the duplicated id
    assert "labels waiting for their prediction: 3" in done.stdout
    assert "ids:" not in done.stdout


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (pa.array([1, 2, 3], pa.int64()), True),
        (pa.array([1, 2, 3], pa.int32()), True),
        (pa.array([1, None, 3], pa.int64()), False),  # read as floats: 1.0, 3.0
        (pa.array([1, 2, 3], pa.uint64()), False),  # may not fit int64
        (pa.array(["1", "2", "3"]), False),
        (pa.array([1.0, 2.0, 3.0]), False),
    ],
    ids=["int64", "int32", "a-gap", "uint64", "text", "float"],
)
def test_which_parquet_ids_a_store_keeps_as_integers(
    tmp_path: Path, column: pa.Array, expected: bool
) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": column, "y_true": np.zeros(3)}), path)
    assert integer_ids(path, "id") is expected


def test_files_that_bring_no_ids_do_not_decide_the_id_type(tmp_path: Path) -> None:
    csv, empty, other = tmp_path / "l.csv", tmp_path / "empty", tmp_path / "other.parquet"
    csv.write_text("id,y_true\n1,0\n")
    empty.write_bytes(b"")
    pq.write_table(pa.table({"key": pa.array(["a"])}), other)
    assert integer_ids(csv, "id") is False  # a CSV file's values are text
    assert integer_ids(empty, "id") is True
    assert integer_ids(other, "id") is True  # its rows are quarantined: no id column
