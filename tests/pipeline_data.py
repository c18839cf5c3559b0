"""Small landing folders for pipeline tests: a config, prediction and label files."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from guap_pipeline.store.labeled import LABEL_COLUMNS, predictions_identity, write_labeled_frame
from guap_pipeline.store.store import Store

CONFIG = """\
landing: ./landing
storage: ./store
start_date: 2026-10-01
value_matrix:
  tp: {constant: -5, amount: 0.9}
  fp: -10
  fn: {amount: -1.0}
  tn: 0
label_window_days: 5
min_label_coverage: 0.9
"""
AS_OF = "2026-10-20"
CLI = Path(sys.executable).with_name("guap-pipeline")


def write_config(root: Path) -> Path:
    (root / "landing" / "predictions").mkdir(parents=True, exist_ok=True)
    (root / "landing" / "labels").mkdir(parents=True, exist_ok=True)
    path = root / "guap.yaml"
    path.write_text(CONFIG)
    return path


def run_as_a_user(config: Path) -> subprocess.CompletedProcess[str]:
    """``guap-pipeline run`` as a user runs it: the installed command in its own process,
    in the config's folder, DAGSTER_HOME an empty folder beside it (Dagster prints its
    telemetry banner on an instance's first run), no test-only warning filters."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["DAGSTER_HOME"] = str(config.parent / "dagster_home")
    return subprocess.run(
        [CLI, "run", "--config", config, "--as-of", AS_OF],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=config.parent,
    )


def predictions_for(day: str, n: int, *, seed: int, version: str = "v1") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(day, tz="UTC")
    score = rng.uniform(0, 1, n).round(3)
    return pd.DataFrame(
        {
            "prediction_id": [f"{day}-{i}" for i in range(n)],
            "predicted_at": start + pd.to_timedelta(rng.integers(0, 86_399, n), unit="s"),
            "model_version": version,
            "score": score,
            "y_pred": (score >= 0.5).astype(int),
            "amount": rng.lognormal(4, 1, n).round(2),
        }
    )


def labels_for(predictions: pd.DataFrame, *, share: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    chosen = predictions.sample(frac=share, random_state=seed)
    truth = (rng.uniform(0, 1, len(chosen)) < chosen["score"].to_numpy() * 0.6).astype(int)
    return pd.DataFrame(
        {
            "prediction_id": chosen["prediction_id"].to_numpy(),
            "y_true": truth,
            "labeled_at": (chosen["predicted_at"] + pd.Timedelta(days=3)).to_numpy(),
        }
    )


def days(first: str, n: int) -> list[str]:
    start = dt.date.fromisoformat(first)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range(n)]


def store_labeled(store: Store, day: str, labeled: pd.DataFrame) -> None:
    """Store a whole labeled frame as a built day holds it: its predictions table and
    the label columns aligned with it."""
    store.write("predictions", labeled.drop(columns=list(LABEL_COLUMNS)), day)
    write_labeled_frame(store, day, labeled, predictions_identity(store, day))
