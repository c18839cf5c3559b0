"""Integer prediction ids (database keys) are kept as integers, and give every table and
export the same figures as the same ids given as text.

A store keeps one id type: integers while every landing file has integer ids, text as
soon as one has not; the files staged in the other type are then read again, and the run
says so. The text-id path is the reference here: its money is checked elsewhere against
hand-worked examples and NannyML.
"""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets_defs.cli import main
from guap_pipeline import load_config
from guap_pipeline.errors import GuapError
from guap_pipeline.ingest import staging
from guap_pipeline.ingest.readers import integer_ids
from guap_pipeline.ingest.staging import stage_landing
from guap_pipeline.money.one_day import _is_in
from guap_pipeline.steps import quarantine
from guap_pipeline.store.labeled import read_labeled
from guap_pipeline.store.store import Store
from tests.pipeline_data import (
    AS_OF,
    days,
    labels_for,
    predictions_for,
    run_as_a_user,
    write_config,
)

pytestmark = pytest.mark.slow  # whole runs of guap-pipeline

EXPORTS = ("daily", "cells", "quarantine")


def as_integers(ids: pd.Series) -> pd.Series:
    """``2026-10-01-17`` -> 2026100117: distinct ids stay distinct (one day, i < 100)."""
    return ids.str.replace("-", "").astype("int64")


DAYS = days("2026-10-01", 4)


def landing(root: Path, *, integer: bool) -> Path:
    """Four days of two versions, a duplicated id, labels in two files (one id labeled
    twice, three days partly labeled, the last one not yet) and three labels whose
    prediction never lands."""
    config = write_config(root)
    land = root / "landing"
    frames = [
        predictions_for(day, 80, seed=i, version=f"v{1 + i % 2}") for i, day in enumerate(DAYS)
    ]
    frames[1].loc[5, "prediction_id"] = frames[1].loc[4, "prediction_id"]  # a duplicate
    labeled = frames[:3]
    first = pd.concat([labels_for(f, share=0.7, seed=10 + i) for i, f in enumerate(labeled)])
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
    """The id types of the tables with rows (a day without labels has an empty table)."""
    store = Store(load_config(config).storage)
    found = set()
    for day in DAYS:
        tables = [store.read(t, day) for t in ("predictions", "labels")]
        for table in [*tables, read_labeled(store, day)]:
            if table is not None and len(table):
                found.add(str(table["prediction_id"].dtype))
    return found


def test_integer_ids_give_the_exports_the_same_ids_as_text_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = landing(tmp_path / "text", integer=False)
    integer = landing(tmp_path / "integer", integer=True)
    run(text, capsys)
    done = run_as_a_user(integer)
    assert done.returncode == 0, done.stderr
    out = done.stdout

    assert stored_id_types(integer) == {"int64"}
    assert stored_id_types(text) == {"string"}
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in integer.parent.glob("landing/*/*"))
    read = f"input: 3 files read (2 labels, 1 predictions): {rows} rows, {rows - 1} accepted, "
    assert read + "1 quarantined" in out  # the duplicated id
    assert "labels waiting for their prediction: 3 " in out
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
    landing; the CSV removed, the store goes back to integers, and to its tables."""
    config = landing(tmp_path / "store", integer=True)
    run(config, capsys)
    before = exports(config, tmp_path / "before")
    land = config.parent / "landing"
    late = pq.read_table(land / "labels" / "again.parquet").to_pandas().assign(y_true=0)
    late.to_csv(land / "labels" / "late.csv", index=False)

    out = run(config, capsys)

    assert "input: 1 file read (1 labels)" in out  # the files read again are not news
    assert "labels waiting for their prediction: 3 " in out
    assert (
        "ids: labels/late.csv has prediction ids that are not integers (text, or a column "
        "with a missing id): every id is now kept as text, and 3 staged files with integer "
        "ids were read again"
    ) in out
    assert stored_id_types(config) == {"string"}
    relabeled = read_labeled(Store(load_config(config).storage), "2026-10-01").set_index(
        "prediction_id"
    )
    assert (relabeled.loc[late["prediction_id"].astype(str), "y_true"] == 0).all()
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
    assert_same_exports(exports(config, tmp_path / "after"), before)


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


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"id,y_true\n1,0\n", False),  # a CSV file's values are text
        (b"\xef\xbb\xbf y_true , id \n1,0\n", False),  # a BOM, spaces around names
        (b"id,y_true\n", True),  # a header and no row
        (b"id,y_true\n\n\n", True),
        (b"key,y_true\n1,0\n", True),  # no id column: every row is quarantined
        (b"", True),
        (b"\x00\x01binary", True),  # rejected whole, unread
        (b"PAR1 not really Parquet", True),
    ],
    ids=["rows", "bom-spaces", "header-only", "blank-lines", "no-id-column", "empty",
         "binary", "broken-parquet"],
)  # fmt: skip
def test_files_that_bring_no_ids_do_not_decide_the_id_type(
    tmp_path: Path, content: bytes, expected: bool
) -> None:
    path = tmp_path / "file"
    path.write_bytes(content)
    assert integer_ids(path, "id") is expected


def test_pandas_nullable_and_arrow_backed_integer_ids_are_integers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Frames from ``read_sql(dtype_backend=...)`` or ``convert_dtypes()`` keep their
    dtype in the Parquet file's pandas metadata: read back, it is not NumPy's int64."""
    config = write_config(tmp_path)
    land = tmp_path / "landing"
    predictions = predictions_for("2026-10-01", 50, seed=3)
    labels = labels_for(predictions, share=1.0, seed=4)
    ids = as_integers(predictions["prediction_id"]).astype("Int64")
    predictions.assign(prediction_id=ids).to_parquet(land / "predictions" / "p.parquet")
    label_ids = as_integers(labels["prediction_id"]).astype("int64[pyarrow]")
    labels.assign(prediction_id=label_ids).to_parquet(land / "labels" / "l.parquet")

    out = run(config, capsys)

    assert "input: 2 files read (1 labels, 1 predictions): 100 rows, 100 accepted" in out
    assert stored_id_types(config) == {"int64"}
    assert read_labeled(Store(load_config(config).storage), "2026-10-01")["y_true"].notna().all()


def test_a_crash_while_turning_the_store_to_text_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while the files staged as integers are removed, before they are staged
    again as text: the next run stages them (the manifest no longer lists them), even
    with the file that caused it removed, and the tables are as before."""
    config = landing(tmp_path / "store", integer=True)
    run(config, capsys)
    before = exports(config, tmp_path / "before")
    land = config.parent / "landing"
    (land / "labels" / "late.csv").write_text("prediction_id,y_true\n2026100101,1\n")

    remove = staging._Stager._remove
    removed = []

    def killed(self: staging._Stager, entry: dict) -> None:
        """Removes the first file's chunks, then the run is killed."""
        if removed:
            raise KeyboardInterrupt
        removed.append(remove(self, entry))

    with monkeypatch.context() as patch:
        patch.setattr(staging._Stager, "_remove", killed)
        with pytest.raises(KeyboardInterrupt):
            stage_landing(load_config(config), Store(load_config(config).storage))
    (land / "labels" / "late.csv").unlink()

    run(config, capsys)

    assert stored_id_types(config) == {"int64"}
    assert_same_exports(exports(config, tmp_path / "after"), before)


def test_integer_and_text_ids_never_meet_silently() -> None:
    """Were they ever to meet (one store keeps one type), no label would match: every one
    would be quarantined as an orphan. That is an error instead."""
    with pytest.raises(GuapError, match="ids of two types"):
        _is_in(pd.Series([1, 2]), pd.Series(["1", "2"], dtype="string"))
    assert _is_in(pd.Series([1, 2]), pd.Series([2], dtype="int64")).tolist() == [False, True]
