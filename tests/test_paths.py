"""Nothing in the landing folder or in the data builds a path outside the configured folders."""

from pathlib import Path

import pandas as pd
import pytest

from guap_pipeline import load_config
from guap_pipeline.ingest.scan import BROKEN_LINK_REASON, OUTSIDE_REASON
from guap_pipeline.ingest.staging import stage_landing
from guap_pipeline.steps import build_predictions, dirty_days, quarantine
from guap_pipeline.store.store import Store
from tests.pipeline_data import predictions_for, write_config
from tests.test_convergence import monitoring_run

HEADER = "prediction_id,predicted_at,y_pred,score,amount\n"
GOOD_ROW = "x,2026-10-01T10:00:00Z,1,0.9,10\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_config(tmp_path / "project")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(HEADER + "stolen,2026-10-01T10:00:00Z,1,0.9,10\n")
    (outside / "folder").mkdir()
    (outside / "folder" / "more.csv").write_text(HEADER + "stolen2,2026-10-01T10:00:00Z,1,0.9,10\n")
    return tmp_path / "project"


def stage(root: Path) -> tuple[Store, pd.DataFrame]:
    config = load_config(root / "guap.yaml")
    store = Store(config.storage)
    stage_landing(config, store)
    return store, quarantine(store)


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


def test_a_symlink_to_a_file_outside_is_quarantined_unread(root: Path) -> None:
    (root / "landing" / "predictions" / "p.csv").write_text(HEADER + GOOD_ROW)
    (root / "landing" / "predictions" / "s.csv").symlink_to(root.parent / "outside" / "secret.csv")
    store, bad = stage(root)
    assert bad[["source", "row", "reason"]].to_dict("records") == [
        {"source": "predictions/s.csv", "row": 0, "reason": OUTSIDE_REASON}
    ]
    build_predictions(store, "2026-10-01")
    assert store.read("predictions", "2026-10-01")["prediction_id"].tolist() == ["x"]


def test_a_relative_symlink_climbing_out_with_dotdot_is_refused(root: Path) -> None:
    (root / "landing" / "labels" / "l.csv").symlink_to("../../../outside/secret.csv")
    _, bad = stage(root)
    assert bad[["source", "reason"]].values.tolist() == [["labels/l.csv", OUTSIDE_REASON]]


def test_a_symlinked_folder_outside_is_refused_and_not_descended(root: Path) -> None:
    (root / "landing" / "predictions" / "sub").symlink_to(root.parent / "outside" / "folder")
    store, bad = stage(root)
    assert bad[["source", "reason"]].values.tolist() == [["predictions/sub", OUTSIDE_REASON]]
    assert dirty_days(store) == []


def test_a_broken_symlink_is_quarantined_not_skipped(root: Path) -> None:
    (root / "landing" / "predictions" / "gone.csv").symlink_to(root / "landing" / "nowhere.csv")
    _, bad = stage(root)
    assert bad[["source", "reason"]].values.tolist() == [
        ["predictions/gone.csv", BROKEN_LINK_REASON]
    ]


def test_a_symlink_inside_the_landing_folder_is_read(root: Path) -> None:
    archive = root / "landing" / "archive"
    archive.mkdir()
    (archive / "p.csv").write_text(HEADER + GOOD_ROW)
    (root / "landing" / "predictions" / "latest.csv").symlink_to(archive / "p.csv")
    store, bad = stage(root)
    assert bad.empty
    build_predictions(store, "2026-10-01")
    assert store.read("predictions", "2026-10-01")["prediction_id"].tolist() == ["x"]


@pytest.mark.parametrize(
    "hostile", ["../../../escape", "/tmp/escape", "..", "a/../../b", "C:\\escape", "x\x00y"]
)
def test_path_like_strings_in_the_data_stay_data(root: Path, hostile: str) -> None:
    """model_version, ids and file names that look like paths never become paths."""
    preds = predictions_for("2026-10-02", 20, seed=1, version=hostile)
    preds["prediction_id"] = [f"{hostile}{i}" for i in range(len(preds))]
    preds.to_parquet(root / "landing" / "predictions" / "p..'weird' name$.parquet")
    nested = root / "landing" / "predictions" / "x..y" / "deeper.."
    nested.mkdir(parents=True)
    predictions_for("2026-10-03", 5, seed=2).to_csv(nested / "p..csv", index=False)
    before = files_under(root.parent)
    daily = monitoring_run(root / "guap.yaml")
    created = files_under(root.parent) - before
    assert created and all(p.is_relative_to(root / "store") for p in created)
    assert set(daily["model_version"]) == {hostile, "v1"}
    assert daily["n_predictions"].sum() == 25


def test_a_kind_folder_linked_to_a_mount_is_read_and_its_links_checked(root: Path) -> None:
    """predictions/ may be a link to another disk; links inside it still may not leave it."""
    mount = root.parent / "mount"
    mount.mkdir()
    (mount / "p.csv").write_text(HEADER + GOOD_ROW)
    (mount / "s.csv").symlink_to(root.parent / "outside" / "secret.csv")
    (root / "landing" / "predictions").rmdir()
    (root / "landing" / "predictions").symlink_to(mount)
    store, bad = stage(root)
    assert bad[["source", "reason"]].values.tolist() == [["predictions/s.csv", OUTSIDE_REASON]]
    build_predictions(store, "2026-10-01")
    assert store.read("predictions", "2026-10-01")["prediction_id"].tolist() == ["x"]
