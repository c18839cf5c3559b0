"""Real data as it comes: files in the user's own column names and class values, mapped
by ``columns:`` and ``class_values:`` in guap.yaml, give the tables the SPEC's names give."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets_defs.cli import main
from guap_pipeline import load_config
from guap_pipeline.ingest.staged import read_staged
from guap_pipeline.ingest.staging import stage_landing
from guap_pipeline.steps import quarantine
from guap_pipeline.store.store import Store
from tests.pipeline_data import AS_OF, CONFIG, days, labels_for, predictions_for

# The SPEC's names on the left, the names of a NannyML- or Evidently-style frame on the right.
MAPPING = """\
columns:
  prediction_id: id
  predicted_at: timestamp
  score: y_pred_proba
  y_true: repaid
  amount: loan_amount
  country: region
class_values: {"yes": 1, "no": 0}
"""
RENAMED = {
    "prediction_id": "id",
    "predicted_at": "timestamp",
    "score": "y_pred_proba",
    "y_true": "repaid",
    "amount": "loan_amount",
    "country": "region",
}
SETTINGS = "segments: [country]\nquarantine_tolerance: 0.5\n"


def landing_set(root: Path, *, mapped: bool) -> Path:
    """Three days of predictions (Parquet, integer ids) and labels (CSV), one bad row of
    each kind; in the user's names (labels ``yes``/``no``) when ``mapped``."""
    for kind in ("predictions", "labels"):
        (root / "landing" / kind).mkdir(parents=True)
    for i, day in enumerate(days("2026-10-01", 3)):
        predictions = predictions_for(day, 200, seed=i)
        predictions["prediction_id"] = np.arange(200) + 1000 * i
        predictions["country"] = np.where(np.arange(200) % 3, "DE", "FR")
        predictions.loc[5, "score"] = 1.5  # quarantined: outside [0, 1]
        labels = labels_for(predictions, share=0.9, seed=10 + i)
        labels["y_true"] = labels["y_true"].astype(object)
        labels.loc[labels.index[7], "y_true"] = "maybe"  # quarantined: not a class
        if mapped:
            labels["y_true"] = labels["y_true"].replace({1: "yes", 0: "no"})
            predictions = predictions.rename(columns=RENAMED)
            labels = labels.rename(columns=RENAMED)
        predictions.to_parquet(root / "landing" / "predictions" / f"p_{day}.parquet")
        labels.to_csv(root / "landing" / "labels" / f"l_{day}.csv", index=False)
    config = root / "guap.yaml"
    config.write_text(CONFIG + SETTINGS + (MAPPING if mapped else ""))
    return config


def stored_tables(config: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The daily summary and the quarantine, as ``guap-pipeline run`` stored them."""
    store = Store(load_config(config).storage)
    bad = quarantine(store).sort_values(["source", "row"], ignore_index=True)
    return store.read("daily_summary"), bad


@pytest.mark.slow  # two pipelines built side by side
def test_own_column_names_and_labels_give_the_same_tables(tmp_path: Path) -> None:
    spec = landing_set(tmp_path / "spec", mapped=False)
    own = landing_set(tmp_path / "own", mapped=True)
    assert main(["run", "--config", str(spec), "--as-of", AS_OF]) == 0
    assert main(["run", "--config", str(own), "--as-of", AS_OF]) == 0

    spec_daily, spec_bad = stored_tables(spec)
    own_daily, own_bad = stored_tables(own)
    pd.testing.assert_frame_equal(own_daily, spec_daily)
    pd.testing.assert_frame_equal(own_bad, spec_bad)
    # Not two empty tables: every day counted, every bad row quarantined with its reason.
    assert own_daily["n_predictions"].tolist() == [199, 199, 199]
    reasons = own_bad["reason"].value_counts().to_dict()
    assert reasons["'score' is outside [0, 1]"] == 3
    assert reasons["'y_true' is not one of the classes [0, 1]"] == 3
    # 180 labels a day, one not a class, and the bad prediction's label (if drawn) waits.
    waiting = reasons.get("no prediction with this prediction_id has landed (yet)", 0)
    assert own_daily["n_labeled"].sum() == 3 * 179 - waiting


def stage(root: Path, settings: str) -> tuple[Store, pd.DataFrame]:
    for kind in ("predictions", "labels"):
        (root / "landing" / kind).mkdir(parents=True, exist_ok=True)
    (root / "guap.yaml").write_text(CONFIG + settings)
    config = load_config(root / "guap.yaml")
    store = Store(config.storage)
    stage_landing(config, store)
    return store, quarantine(store)


def test_yes_and_no_map_for_decisions_baseline_and_labels(tmp_path: Path) -> None:
    (tmp_path / "landing" / "predictions").mkdir(parents=True)
    (tmp_path / "landing" / "labels").mkdir(parents=True)
    (tmp_path / "landing" / "predictions" / "p.csv").write_text(
        "id,predicted_at,y_pred,baseline_pred,amount\n"
        "a,2026-10-01T10:00:00Z,yes,no,10\n"
        "b,2026-10-01T11:00:00Z, no ,yes,10\n"
        "c,2026-10-01T12:00:00Z,1,0,10\n"  # a declared class is still read as itself
        "d,2026-10-01T13:00:00Z,perhaps,no,10\n"
    )
    (tmp_path / "landing" / "labels" / "l.csv").write_text("id,y_true\na,no\nb,yes\nc,1\n")
    settings = (
        'baseline: baseline_pred\ncolumns: {prediction_id: id}\nclass_values: {"yes": 1, "no": 0}\n'
    )
    store, bad = stage(tmp_path, settings)
    assert bad[["row", "reason"]].values.tolist() == [
        [4, "'y_pred' is not one of the classes [0, 1]"]
    ]
    predictions = read_staged(store, "predictions", "2026-10-01")
    assert predictions[["prediction_id", "y_pred", "baseline_pred"]].values.tolist() == [
        ["a", 1, 0],
        ["b", 0, 1],
        ["c", 1, 0],
    ]
    labels = read_staged(store, "labels", "2026-10-01")
    assert labels[["prediction_id", "y_true"]].values.tolist() == [["a", 0], ["b", 1], ["c", 1]]


def test_booleans_map_as_text_and_as_parquet_booleans(tmp_path: Path) -> None:
    (tmp_path / "landing" / "predictions").mkdir(parents=True)
    (tmp_path / "landing" / "labels").mkdir(parents=True)
    frame = predictions_for("2026-10-01", 4, seed=0).drop(columns=["y_pred", "score"])
    table = pa.Table.from_pandas(frame, preserve_index=False).append_column(
        "y_pred", pa.array([True, False, None, True], pa.bool_())
    )
    pq.write_table(table, tmp_path / "landing" / "predictions" / "p.parquet")
    ids = frame["prediction_id"].tolist()
    labels = pa.table({"prediction_id": ids[:2], "y_true": pa.array([False, True], pa.bool_())})
    pq.write_table(labels, tmp_path / "landing" / "labels" / "l.parquet")
    (tmp_path / "landing" / "labels" / "m.csv").write_text(
        f"prediction_id,y_true\n{ids[2]},TRUE\n{ids[3]},false\n"
    )
    store, bad = stage(tmp_path, "class_values: {true: 1, false: 0}\n")
    assert sorted(bad[["source", "row", "reason"]].itertuples(index=False, name=None)) == [
        ("labels/m.csv", 1, "no prediction with this prediction_id has landed (yet)"),
        ("predictions/p.parquet", 3, "'y_pred' is missing"),
    ]
    predictions = read_staged(store, "predictions", "2026-10-01")
    assert predictions["y_pred"].tolist() == [1, 0, 1]
    labels = read_staged(store, "labels", "2026-10-01").sort_values("prediction_id")
    expected = {ids[0]: 0, ids[1]: 1, ids[3]: 0}  # ids[2]'s prediction is quarantined
    assert dict(zip(labels["prediction_id"], labels["y_true"], strict=True)) == expected


def test_string_classes_take_numbers_and_words(tmp_path: Path) -> None:
    (tmp_path / "landing" / "predictions").mkdir(parents=True)
    (tmp_path / "landing" / "predictions" / "p.csv").write_text(
        "prediction_id,predicted_at,y_pred\n"
        "a,2026-10-01T10:00:00Z,1\nb,2026-10-01T10:00:00Z,0.0\nc,2026-10-01T10:00:00Z,legit\n"
    )
    config = "classes: [legit, fraud]\nvalue_matrix: {tp: 1, fp: -1, fn: -5, tn: 0}\n"
    (tmp_path / "guap.yaml").write_text(
        "landing: ./landing\nstorage: ./store\nstart_date: 2026-10-01\n"
        + config
        + "class_values: {1: fraud, 0: legit}\n"
    )
    loaded = load_config(tmp_path / "guap.yaml")
    store = Store(loaded.storage)
    stage_landing(loaded, store)
    assert quarantine(store).empty
    staged = read_staged(store, "predictions", "2026-10-01")
    assert staged["y_pred"].tolist() == ["fraud", "legit", "legit"]


@pytest.mark.parametrize("extension", ["csv", "parquet"])
def test_the_mapped_column_wins_over_one_with_the_tools_name(
    tmp_path: Path, extension: str
) -> None:
    """A file with both ``id`` and ``prediction_id``: the config says ``id`` is the id."""
    (tmp_path / "landing" / "predictions").mkdir(parents=True)
    frame = pd.DataFrame(
        {
            "prediction_id": ["row-1", "row-2"],
            "id": ["a", "b"],
            "predicted_at": ["2026-10-01T10:00:00Z"] * 2,
            "y_pred": [1, 0],
            "amount": [10.0, 20.0],
        }
    )
    path = tmp_path / "landing" / "predictions" / f"p.{extension}"
    if extension == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    store, bad = stage(tmp_path, "columns: {prediction_id: id}\n")
    assert bad.empty
    staged = read_staged(store, "predictions", "2026-10-01")
    assert staged["prediction_id"].tolist() == ["a", "b"]


def test_the_readme_example_of_your_own_data_reads_as_documented(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Your own data\n", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "landing" / "predictions").mkdir(parents=True)
    (tmp_path / "landing" / "labels").mkdir(parents=True)
    (tmp_path / "landing" / "predictions" / "p.csv").write_text(
        "id,timestamp,y_pred_proba,y_pred,loan_amount,region\n"
        "20417,2026-03-02 09:14:05,0.81,1,2400.0,DE\n"
    )
    (tmp_path / "landing" / "labels" / "l.csv").write_text("id,repaid\n20417,no\n")
    (tmp_path / "guap.yaml").write_text(
        example + "value_matrix: {tp: 0, fp: -100, fn: {amount: -1.0}, tn: 50}\n"
        "storage: ./store\nstart_date: 2026-03-01\n"
    )
    config = load_config(tmp_path / "guap.yaml")
    store = Store(config.storage)
    stage_landing(config, store)
    assert quarantine(store).empty
    predictions = read_staged(store, "predictions", "2026-03-02")
    row = predictions.iloc[0]
    assert (row["prediction_id"], row["score"], row["amount"], row["country"]) == (
        "20417",
        0.81,
        2400.0,
        "DE",
    )
    assert read_staged(store, "labels", "2026-03-02")["y_true"].tolist() == [1]  # defaulted


@pytest.mark.slow  # two pipelines built side by side
def test_setting_the_key_a_reason_names_reads_the_files_again(tmp_path: Path) -> None:
    """The user's path: run, read the reason, add the mapping, run again: no file is
    touched, yet every row is read under the new mapping."""
    config = landing_set(tmp_path, mapped=True)
    config.write_text(config.read_text().replace(MAPPING, ""))
    main(["run", "--config", str(config), "--as-of", AS_OF])
    _, bad = stored_tables(config)
    assert bad["reason"].str.startswith("file has no 'prediction_id' column (it has: id,").all()
    assert len(bad) == 3 * 200 + 3 * 180

    config.write_text(config.read_text() + MAPPING)
    assert main(["run", "--config", str(config), "--as-of", AS_OF]) == 0
    daily, bad = stored_tables(config)
    assert daily["n_predictions"].tolist() == [199, 199, 199]
    assert not bad["reason"].str.startswith("file has no").any()
