"""The estimate over the store: read the labeled predictions an estimate needs, in bounded
memory, and add the estimate columns to the daily table."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.estimate.monte_carlo import LEVEL, N_REPLICATES, Adapt
from guap_pipeline.estimate.rows import WEIGHT
from guap_pipeline.estimate.table import (
    MAX_LEARNING_ROWS,
    REFERENCE_DAYS,
    _Need,
    _need,
    estimate_frame,
)
from guap_pipeline.store.labeled import labeled_day
from guap_pipeline.store.store import Store

# Unlabeled rows valued one by one, at most; beyond this a seeded uniform sample of each
# day's, weighted up (each sampled row's draw stands for its weight: the interval widens
# to cover the sampling too). Bounds time and memory on days of millions of rows.
MAX_UNLABELED_ROWS = 1_000_000


def estimate_days(
    store: Store,
    config: GuapConfig,
    daily: pd.DataFrame,
    *,
    as_of: dt.date | None = None,
    level: float = LEVEL,
    reference_days: int = REFERENCE_DAYS,
    n_replicates: int = N_REPLICATES,
    adapt: Adapt = "auto",
    seed: int = 0,
) -> pd.DataFrame:
    """``daily`` plus ``estimated_profit``, ``_low``, ``_high``, ``estimate_kind``, ``_note``.

    - Days whose label window has passed as of ``as_of`` (default: the newest date in
      ``daily``; pass the run's as-of date), or with every prediction labeled: the
      realized ``profit`` (low = high = profit), kind ``realized``.
    - Other days (immature, or mature by coverage while labels may still arrive): the
      realized profit of the labeled rows plus the expected value of the unlabeled ones,
      from a calibration fitted on that version's most recent ``reference_days`` mature
      days (label window passed) in ``labeled_predictions``, adapted to the labels of the
      label window (see the module docstring); kind ``estimated``, with a ``level``
      interval.
    - NaN, kind ``none``, and the reason in ``estimate_note`` when it cannot be done: no
      scores, no mature days (or too few labeled positives) for the version, multiclass.

    Deterministic for a given store, ``as_of`` and ``seed``.
    """
    if daily.empty:
        return estimate_frame(pd.DataFrame(), daily, config, as_of=as_of)
    need = _need(daily, config, as_of, reference_days)
    labeled = _read_bounded(store, config, need, np.random.default_rng(seed))
    return estimate_frame(
        labeled,
        daily,
        config,
        as_of=need.as_of,
        level=level,
        reference_days=reference_days,
        n_replicates=n_replicates,
        adapt=adapt,
        seed=seed,
    )


def _read_bounded(
    store: Store, config: GuapConfig, need: _Need, rng: np.random.Generator
) -> pd.DataFrame:
    """The labeled predictions the estimate reads, in bounded memory: the columns it
    uses; a uniform sample of the reference days' rows (``MAX_LEARNING_ROWS`` in all);
    on each window day, its share of ``MAX_LEARNING_ROWS`` labeled and of
    ``MAX_UNLABELED_ROWS`` unlabeled rows, weighted (``WEIGHT``) to stand for the day."""
    reference = sorted({d for days in need.reference.values() for d in days})
    window = sorted({d for days in need.window.values() for d in days})
    wanted = {"date", "model_version", "y_true", "y_pred", "score", "predicted_at"}
    wanted |= {"labeled_at", *config.value_matrix.columns}
    # Row counts first, each day's files open only while they are read: a long window
    # would otherwise hold two open files per day.
    days = dict.fromkeys(reference + window)
    rows = {d: found.num_rows for d in days if (found := labeled_day(store, d)) is not None}
    n_reference = sum(rows.get(d, 0) for d in reference)
    frames = []
    for day in rows:
        labeled = labeled_day(store, day)
        if labeled is None:  # removed since it was counted: a run is rebuilding it
            continue
        frame = labeled.to_pandas([c for c in labeled.names if c in wanted])
        if not len(frame):
            continue
        if day in reference:
            keep = rng.random(len(frame)) < MAX_LEARNING_ROWS / max(n_reference, 1)
            weight = np.ones(len(frame))
        else:
            unlabeled = frame["y_true"].isna().to_numpy()
            caps = np.where(unlabeled, MAX_UNLABELED_ROWS, MAX_LEARNING_ROWS) / len(window)
            counts = np.where(unlabeled, unlabeled.sum(), (~unlabeled).sum())
            share = np.minimum(1.0, caps / np.maximum(counts, 1))
            keep = rng.random(len(frame)) < share
            weight = 1 / share
        frames.append(frame[keep].assign(**{WEIGHT: weight[keep]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
