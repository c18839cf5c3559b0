"""Two monitoring runs at once on the same store do not corrupt it."""

import multiprocessing
import multiprocessing.synchronize
from pathlib import Path

import pandas as pd
import pytest

from guap_pipeline import load_config
from guap_pipeline.errors import LockTimeoutError
from guap_pipeline.ingest import staging
from guap_pipeline.ingest.staging import MANIFEST, stage_landing
from guap_pipeline.steps import (
    BUILT,
    build_day_profit,
    build_labeled,
    build_labels,
    build_predictions,
    dirty_days,
)
from guap_pipeline.steps.freshness import record_built
from guap_pipeline.store.store import Store
from tests.pipeline_data import days, labels_for, predictions_for, write_config
from tests.test_convergence import monitoring_run

pytestmark = pytest.mark.slow  # parallel runs over a store

WRITERS = 4
DAYS_PER_WRITER = 40


def landing(root: Path) -> Path:
    config = write_config(root)
    for i, day in enumerate(days("2026-10-01", 6)):
        preds = predictions_for(day, 3000, seed=i)
        preds.to_parquet(root / "landing" / "predictions" / f"{day}.parquet")
        labels_for(preds, share=0.9, seed=i).to_parquet(
            root / "landing" / "labels" / f"{day}.parquet"
        )
    return config


def run_at_once(config: Path, start: multiprocessing.synchronize.Barrier) -> None:
    """A monitoring run that begins when the others do (not a second later, once its
    imports are done), so that their steps on the same days interleave."""
    start.wait()
    monitoring_run(config)


def test_two_runs_at_once_give_the_same_table_as_one(tmp_path: Path) -> None:
    """Each run rebuilds the days the other is rebuilding: its steps meet tables that
    the other replaced in between, and must still finish with the right money."""
    alone = monitoring_run(landing(tmp_path / "alone"))
    config = landing(tmp_path / "shared")
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    runs = [context.Process(target=run_at_once, args=(config, start)) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert [run.exitcode for run in runs] == [0, 0]
    together = monitoring_run(config)
    pd.testing.assert_frame_equal(together, alone)


def record_days(root: str, writer: int, start: multiprocessing.synchronize.Barrier) -> None:
    """One run's share of days, each noted in the BUILT manifest as build_day_profit does."""
    store = Store(root)
    start.wait()  # every writer begins at once, so their updates interleave
    for day in days("2026-01-01", WRITERS * DAYS_PER_WRITER)[writer::WRITERS]:
        record_built(store, day)


def test_parallel_runs_lose_no_update_of_the_built_manifest(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    writers = [
        context.Process(target=record_days, args=(str(tmp_path), i, start)) for i in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert [writer.exitcode for writer in writers] == [0] * WRITERS
    built = Store(tmp_path).read_json(BUILT, {})
    assert sorted(built) == days("2026-01-01", WRITERS * DAYS_PER_WRITER)


def hold_lock(root: str, name: str, held: multiprocessing.synchronize.Event) -> None:
    """Take a lock and keep it until killed."""
    with Store(root).lock(name):
        held.set()
        multiprocessing.Event().wait()


def test_a_lock_held_by_another_process_times_out_and_dies_with_it(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    held = context.Event()
    holder = context.Process(target=hold_lock, args=(str(tmp_path), BUILT, held))
    holder.start()
    try:
        assert held.wait(timeout=120)
        timeout = pytest.raises(LockTimeoutError, match=rf"held by pid {holder.pid}\b")
        with timeout, Store(tmp_path).lock(BUILT, timeout=0.2):
            pass
    finally:
        holder.kill()  # the OS releases a flock when its holder dies, even by SIGKILL
        holder.join()
    with Store(tmp_path).lock(BUILT, timeout=30):
        pass


def test_staging_waits_for_another_staging_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(landing(tmp_path))
    store = Store(config.storage)
    monkeypatch.setattr(staging, "STAGING_LOCK_SECONDS", 0.2)
    with store.lock(MANIFEST):  # another pass (a separate open file: flock excludes it too)
        with pytest.raises(LockTimeoutError, match="another run on this store"):
            stage_landing(config, store)
        assert store.read_json(MANIFEST) is None
    assert len(stage_landing(config, store).added) == 12


def test_a_day_whose_inputs_are_restaged_mid_build_stays_dirty(tmp_path: Path) -> None:
    config = load_config(landing(tmp_path))
    store = Store(config.storage)
    stage_landing(config, store)
    day = "2026-10-01"
    build_predictions(store, day)
    build_labels(store, day)
    # a late label file lands and is staged while the day's later steps are still to run
    late = labels_for(predictions_for(day, 3000, seed=0), share=1.0, seed=99)
    late.to_parquet(tmp_path / "landing" / "labels" / "late.parquet")
    stage_landing(config, store)
    build_labeled(store, day)
    build_day_profit(store, config, day)
    assert day in dirty_days(store)  # built from the old labels: rebuilt by the next run
    monitoring_run(config_path=tmp_path / "guap.yaml")
    assert day not in dirty_days(store)
