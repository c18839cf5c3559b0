"""Two monitoring runs at once on the same store do not corrupt it."""

import multiprocessing
from pathlib import Path

import pandas as pd

from tests.pipeline_data import days, labels_for, predictions_for, write_config
from tests.test_convergence import monitoring_run


def landing(root: Path) -> Path:
    config = write_config(root)
    for i, day in enumerate(days("2026-10-01", 6)):
        preds = predictions_for(day, 3000, seed=i)
        preds.to_parquet(root / "landing" / "predictions" / f"{day}.parquet")
        labels_for(preds, share=0.9, seed=i).to_parquet(
            root / "landing" / "labels" / f"{day}.parquet"
        )
    return config


def test_two_runs_at_once_give_the_same_table_as_one(tmp_path: Path) -> None:
    alone = monitoring_run(landing(tmp_path / "alone"))
    config = landing(tmp_path / "shared")
    context = multiprocessing.get_context("spawn")
    runs = [context.Process(target=monitoring_run, args=(config,)) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert [run.exitcode for run in runs] == [0, 0]
    together = monitoring_run(config)
    pd.testing.assert_frame_equal(together, alone)
