"""The labeled table stored as label columns aligned with the predictions table reads
back as the whole file did, refuses to pair labels with predictions they were not
built against, and is forgotten when the predictions are rebuilt."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from guap_pipeline import steps
from guap_pipeline.config import GuapConfig, load_config
from guap_pipeline.errors import InputError
from guap_pipeline.ingest.staging import stage_landing
from guap_pipeline.store import labeled
from guap_pipeline.store.labeled import (
    ALIGNED,
    LEGACY,
    forget_labeled,
    labeled_day,
    labeled_days,
    predictions_identity,
    read_labeled,
    still_stored,
    write_labeled_frame,
    write_labels,
)
from guap_pipeline.store.store import Store
from tests.pipeline_data import labels_for, predictions_for, store_labeled, write_config

DAY = "2026-10-01"


def labeled_frame(n: int = 6) -> pd.DataFrame:
    """A day's labeled predictions with every kind of column: text ids, stamps with a time
    zone, integer classes, missing labels (so ``y_true`` is float)."""
    start = pd.Timestamp(DAY, tz="UTC")
    return pd.DataFrame(
        {
            "prediction_id": pd.array([f"id-{i}" for i in range(n)], dtype="string"),
            "predicted_at": start + pd.to_timedelta(np.arange(n), "min"),
            "date": pd.array([DAY] * n, dtype="string"),
            "model_version": pd.array(["v1", "v2"] * (n // 2), dtype="string"),
            "y_pred": np.arange(n) % 2,
            "score": np.linspace(0.1, 0.9, n),
            "y_true": [1.0, np.nan, 0.0, 1.0, np.nan, 0.0][:n],
            "labeled_at": [
                start + pd.Timedelta(days=i) if i % 3 != 1 else pd.NaT for i in range(n)
            ],
        }
    )


def as_stored(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a whole Parquet file of it reads back."""
    return pa.Table.from_pandas(frame, preserve_index=False).to_pandas()


def test_aligned_labels_read_back_as_the_whole_file_did(tmp_path: Path) -> None:
    frame = labeled_frame()
    aligned, legacy = Store(tmp_path / "aligned"), Store(tmp_path / "legacy")
    store_labeled(aligned, DAY, frame)
    legacy.write(LEGACY, frame, DAY)  # a day built before the aligned layout

    assert aligned.path(ALIGNED, DAY).exists() and not aligned.path(LEGACY, DAY).exists()
    for store in (aligned, legacy):
        pd.testing.assert_frame_equal(read_labeled(store, DAY), as_stored(frame))
        assert labeled_days(store) == [DAY]
        table = labeled_day(store, DAY).read(["labeled_at", "model_version", "y_true"])
        assert table.column_names == ["model_version", "y_true", "labeled_at"]  # table order
        keys = labeled_day(store, DAY).read(["model_version"], read_dictionary=["model_version"])
        assert pa.types.is_dictionary(keys["model_version"].type)
        assert keys["model_version"].to_pylist() == ["v1", "v2"] * 3
    stored = pd.read_parquet(aligned.path(ALIGNED, DAY))
    assert stored.columns.tolist() == ["y_true", "labeled_at"]  # no prediction column twice


def test_labels_are_refused_against_predictions_they_were_not_built_with(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "store")
    frame = labeled_frame()
    store_labeled(store, DAY, frame)
    shutil.copytree(store.root, tmp_path / "copy")  # a backup: other inodes, same content
    pd.testing.assert_frame_equal(read_labeled(Store(tmp_path / "copy"), DAY), as_stored(frame))

    other = frame.drop(columns=["y_true", "labeled_at"]).iloc[::-1]  # same rows, other order
    store.write("predictions", other, DAY)
    with pytest.raises(InputError, match=f"labels of {DAY} .* not aligned with its predictions"):
        read_labeled(store, DAY)


def test_label_rows_must_be_one_per_prediction(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    frame = labeled_frame()
    store_labeled(store, DAY, frame)
    schema = labeled_day(store, DAY).schema
    short = pa.Table.from_pandas(frame[["y_true", "labeled_at"]].iloc[:5], preserve_index=False)
    with pytest.raises(InputError, match=f"5 label rows for 6 predictions of {DAY}"):
        write_labels(store, DAY, short, schema, predictions_identity(store, DAY))


def test_labels_built_while_another_run_replaced_the_predictions_are_refused(
    tmp_path: Path,
) -> None:
    """Computed from the rows as they were when the step began: written against the
    table another run put in their place, they would pair each label with another row."""
    store = Store(tmp_path / "store")
    frame = labeled_frame()
    store_labeled(store, DAY, frame)
    built_from = predictions_identity(store, DAY)
    reordered = frame.drop(columns=["y_true", "labeled_at"]).iloc[::-1]
    store.write("predictions", reordered, DAY)  # the other run
    with pytest.raises(InputError, match=f"predictions of {DAY} were replaced while"):
        write_labeled_frame(store, DAY, frame, built_from)


def labeled_store(root: Path) -> tuple[GuapConfig, Store]:
    """A store whose day of 80 predictions, 56 of them labeled, went through every step
    up to the labeled table."""
    config = load_config(write_config(root))
    predictions = predictions_for(DAY, 80, seed=3)
    predictions.to_parquet(root / "landing" / "predictions" / "p.parquet")
    labels_for(predictions, share=0.7, seed=4).to_parquet(root / "landing" / "labels" / "l.parquet")
    store = Store(config.storage)
    stage_landing(config, store)
    steps.build_predictions(store, DAY)
    steps.build_labels(store, DAY)
    steps.build_labeled(store, DAY)
    return config, store


def test_rebuilding_a_days_predictions_forgets_its_labels_until_they_are_rebuilt(
    tmp_path: Path,
) -> None:
    _, store = labeled_store(tmp_path)
    built = read_labeled(store, DAY)
    assert len(built) == 80 and built["y_true"].notna().sum() == 56

    steps.build_predictions(store, DAY)
    assert labeled_day(store, DAY) is None  # not labels aligned with rows since replaced
    steps.build_labeled(store, DAY)
    pd.testing.assert_frame_equal(read_labeled(store, DAY), built)


def test_money_of_a_day_whose_predictions_another_run_rebuilt_labels_them_again(
    tmp_path: Path,
) -> None:
    """Two runs at once: the other run's predictions step removes the labels this run's
    money step is about to read. The money step labels the day again: the same money,
    not a day of no money recorded as built, nor a failed run."""
    config, store = labeled_store(tmp_path)
    alone = steps.build_day_profit(store, config, DAY).summary
    assert alone["n_labeled"].sum() == 56  # 70 % of 80

    steps.build_predictions(store, DAY)  # the other run
    again = steps.build_day_profit(store, config, DAY).summary
    pd.testing.assert_frame_equal(again, alone)
    assert read_labeled(store, DAY)["y_true"].notna().sum() == 56


def test_the_money_step_labels_again_from_the_labels_staged_now(tmp_path: Path) -> None:
    """The other run staged more labels before rebuilding the predictions: this run's
    labels table predates them. Labeling the day again from that table would give money
    of the old labels, recorded as built from the new ones (nothing would rebuild it);
    the money step rebuilds the labels table too."""
    config, store = labeled_store(tmp_path)
    predictions = predictions_for(DAY, 80, seed=3)
    first = set(labels_for(predictions, share=0.7, seed=4)["prediction_id"])
    rest = predictions[~predictions["prediction_id"].isin(first)]
    labels_for(rest, share=1.0, seed=5).to_parquet(tmp_path / "landing" / "labels" / "m.parquet")
    stage_landing(config, store)  # the other run stages the 24 new labels ...
    steps.build_predictions(store, DAY)  # ... and rebuilds the predictions

    money = steps.build_day_profit(store, config, DAY).summary
    assert money["n_labeled"].sum() == 80
    assert steps.dirty_days(store) == []


def test_money_read_before_another_run_rebuilt_the_day_is_computed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While this run computes the day's money, another run stages more labels and
    rebuilds the day: money of the labels read before would be written over that run's
    and recorded as built from the newer inputs. It is computed again from the day as
    the other run left it."""
    config, store = labeled_store(tmp_path)
    predictions = predictions_for(DAY, 80, seed=3)
    first = set(labels_for(predictions, share=0.7, seed=4)["prediction_id"])
    rest = predictions[~predictions["prediction_id"].isin(first)]
    labels_for(rest, share=1.0, seed=5).to_parquet(tmp_path / "landing" / "labels" / "m.parquet")
    real, seen = steps.build._money, []

    def money_while_the_other_run_rebuilds(labeled, config):
        result = real(labeled, config)
        seen.append(int(result.summary["n_labeled"].sum()))
        if len(seen) == 1:  # the other run, start to end, before this one writes
            stage_landing(config, store)
            for step in (steps.build_predictions, steps.build_labels, steps.build_labeled):
                step(store, DAY)
        return result

    monkeypatch.setattr(steps.build, "_money", money_while_the_other_run_rebuilds)
    written = steps.build_day_profit(store, config, DAY).summary

    assert seen == [56, 80]
    assert written["n_labeled"].sum() == 80
    assert store.read("daily_quadrant_profit", DAY)["n_labeled"].sum() == 80
    assert steps.dirty_days(store) == []


def test_a_step_whose_staged_inputs_changed_before_it_finished_builds_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This run's predictions step read the staged rows; before it finished, more
    predictions were staged and another run built the whole day from them. Its table of
    the older rows would replace that run's, and the day be recorded as built from the
    newer inputs: the step builds again from the rows staged now."""
    config, store = labeled_store(tmp_path)
    late = predictions_for(DAY, 20, seed=9)
    late["prediction_id"] = late["prediction_id"] + "-late"
    real, built, other_run = steps.build._build_predictions, [], []

    def predictions_while_more_arrive(store: Store, day: str) -> dict[str, int]:
        figures = real(store, day)
        if other_run:
            return figures
        built.append(figures["n_predictions"])
        if len(built) == 1:  # staged, then the other run, start to end
            late.to_parquet(tmp_path / "landing" / "predictions" / "late.parquet")
            stage_landing(config, store)
            other_run.append(True)
            for step in (steps.build_predictions, steps.build_labels, steps.build_labeled):
                step(store, day)
            steps.build_day_profit(store, config, day)
            other_run.clear()
        return figures

    monkeypatch.setattr(steps.build, "_build_predictions", predictions_while_more_arrive)
    steps.build_predictions(store, DAY)
    steps.build_labels(store, DAY)
    steps.build_labeled(store, DAY)
    money = steps.build_day_profit(store, config, DAY).summary
    assert built == [80, 100]
    assert money["n_predictions"].sum() == 100
    assert steps.dirty_days(store) == []


def test_labels_stamped_against_predictions_replaced_since_are_labeled_again(
    tmp_path: Path,
) -> None:
    """The other run replaced the predictions between this run's check and its write: the
    labels on disk are aligned with rows no longer there. The money step labels again."""
    config, store = labeled_store(tmp_path)
    alone = steps.build_day_profit(store, config, DAY).summary
    stored = store.read("predictions", DAY)
    store.write("predictions", stored.iloc[::-1].reset_index(drop=True), DAY)
    with pytest.raises(InputError, match="not aligned with its predictions"):
        labeled_day(store, DAY)  # what any other reader meets

    again = steps.build_day_profit(store, config, DAY).summary
    pd.testing.assert_frame_equal(again, alone)
    assert labeled_day(store, DAY) is not None


def test_a_money_step_that_keeps_meeting_replaced_predictions_gives_up_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store = labeled_store(tmp_path)
    monkeypatch.setattr(steps.build, "build_labeled", lambda store, day: forget_labeled(store, day))
    pauses: list[float] = []
    monkeypatch.setattr(steps.build.time, "sleep", pauses.append)
    forget_labeled(store, DAY)
    with pytest.raises(InputError, match=f"another run rebuilt day {DAY} 6 times while"):
        steps.build_day_profit(store, config, DAY)
    # each try waits longer for the other run's pass over the day to finish
    assert pauses == [0.1, 0.2, 0.4, 0.8, 1.6]


def test_one_overlap_while_the_money_step_labels_again_is_not_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other run writes its predictions just after this run's money step labeled the
    day again against the old ones: the labels are misaligned once more, and the money
    step labels again instead of giving up after that single overlap."""
    config, store = labeled_store(tmp_path)
    alone = steps.build_day_profit(store, config, DAY).summary
    real, calls = steps.build.build_labeled, []

    def labeled_then_replaced(store: Store, day: str) -> dict[str, int]:
        figures = real(store, day)
        calls.append(day)
        if len(calls) == 1:  # the other run's predictions, rows in another order
            stored = store.read("predictions", day)
            store.write("predictions", stored.iloc[::-1].reset_index(drop=True), day)
        return figures

    monkeypatch.setattr(steps.build, "build_labeled", labeled_then_replaced)
    forget_labeled(store, DAY)  # the other run's predictions step has begun
    again = steps.build_day_profit(store, config, DAY).summary
    assert len(calls) == 2
    pd.testing.assert_frame_equal(again, alone)


@pytest.mark.parametrize("replaced", ["labels", "predictions"])
def test_a_read_is_still_stored_until_either_file_is_rewritten_even_alike(
    tmp_path: Path, replaced: str
) -> None:
    """Rewritten with the same rows (so the same sizes and footer), a file is still
    another file: the money step must not take it for the one it read."""
    store = Store(tmp_path)
    store_labeled(store, DAY, labeled_frame())
    read = labeled_day(store, DAY)
    assert still_stored(store, DAY, read)
    table = ALIGNED if replaced == "labels" else "predictions"
    path = store.path(table, DAY)
    shutil.copyfile(path, tmp_path / "copy.parquet")
    (tmp_path / "copy.parquet").replace(path)
    assert not still_stored(store, DAY, read)


def test_a_day_without_predictions_is_still_so_until_some_arrive(tmp_path: Path) -> None:
    store = Store(tmp_path)
    assert still_stored(store, DAY, None)
    store.write("predictions", labeled_frame().drop(columns=["y_true", "labeled_at"]), DAY)
    assert not still_stored(store, DAY, None)


def test_a_read_of_an_older_whole_file_is_still_stored_until_it_is_rewritten(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    store.write(LEGACY, labeled_frame(), DAY)
    read = labeled_day(store, DAY)
    assert read is not None and read.predictions is None and still_stored(store, DAY, read)
    store.write(LEGACY, labeled_frame(), DAY)
    assert not still_stored(store, DAY, read)


def test_labels_built_while_another_run_replaced_the_predictions_are_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The labeled step's write is refused once (the predictions changed since it read
    them); it builds again from the rows now stored, and pairs each label with its row."""
    store = Store(tmp_path / "store")
    frame = labeled_frame()
    store_labeled(store, DAY, frame)
    store.write("labels", frame[["prediction_id", "y_true", "labeled_at"]].dropna(), DAY)
    real = steps.build.predictions_identity
    tries = []

    def replaced_once(store: Store, day: str) -> dict[str, object]:
        tries.append(day)
        return {"rows": 6, "footer": "replaced"} if len(tries) == 1 else real(store, day)

    monkeypatch.setattr(steps.build, "predictions_identity", replaced_once)
    steps.build_labeled(store, DAY)
    assert len(tries) == 2
    pd.testing.assert_frame_equal(read_labeled(store, DAY), as_stored(frame), check_dtype=False)


def test_a_day_without_predictions_reads_as_an_empty_labeled_table(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    empty = labeled_frame().iloc[:0]
    store_labeled(store, DAY, empty)
    got = read_labeled(store, DAY)
    assert got.empty and got.columns.tolist() == empty.columns.tolist()
    assert labeled_day(store, DAY).num_rows == 0


def test_a_read_keeps_the_pair_it_opened_while_another_run_rebuilds_the_day(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "store")
    old, new = labeled_frame(), labeled_frame().assign(score=0.5, y_true=1.0)
    store_labeled(store, DAY, old)
    held = labeled_day(store, DAY)
    forget_labeled(store, DAY)  # what build_predictions does, then the new rows and labels
    store_labeled(store, DAY, new)
    pd.testing.assert_frame_equal(held.to_pandas(), as_stored(old))
    pd.testing.assert_frame_equal(read_labeled(store, DAY), as_stored(new))


def test_labels_met_against_predictions_being_replaced_are_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run replaced the predictions between opening the labels and opening them:
    the second look finds the pair consistent; a pair never consistent is refused."""
    store = Store(tmp_path / "store")
    store_labeled(store, DAY, labeled_frame())
    identity = labeled._identity
    looks: list[int] = []

    def replaced_once(predictions: pa.NativeFile | None) -> dict[str, object]:
        looks.append(1)
        return {"rows": -1, "footer": None} if len(looks) == 1 else identity(predictions)

    monkeypatch.setattr(labeled, "_identity", replaced_once)
    pd.testing.assert_frame_equal(read_labeled(store, DAY), as_stored(labeled_frame()))
    assert len(looks) == 2
    monkeypatch.setattr(labeled, "_identity", lambda _: {"rows": -1, "footer": None})
    with pytest.raises(InputError, match="restore both from the same backup"):
        labeled_day(store, DAY)
