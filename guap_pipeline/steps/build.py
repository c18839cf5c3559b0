"""The build steps over the store: predictions, labels, the labeled join, a day's money,
and the stitched series.

Each ``build_*`` function reads its inputs from the store, calls the pure functions of
:mod:`guap_pipeline.money.one_day` / :mod:`guap_pipeline.series.daily_table`, writes its table
atomically and returns figures for metadata. Dagster assets call these one-liners; so
could a notebook or another orchestrator. Big days take the paths of
:mod:`~guap_pipeline.steps.big_days`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.engines import dask_engine as distributed
from guap_pipeline.errors import InputError
from guap_pipeline.estimate import estimate_days
from guap_pipeline.ingest import label_feed
from guap_pipeline.ingest.staged import read_staged
from guap_pipeline.ingest.validation import empty_predictions
from guap_pipeline.money.one_day import (
    DAY_KEYS,
    DayProfit,
    day_accounts,
    day_hindsight,
    day_profit,
    dedupe_predictions,
    join_labels,
    latest_labels,
)
from guap_pipeline.series.daily_table import DAILY_COLUMNS, daily_summary, profit_timeseries
from guap_pipeline.steps.big_days import fast_labeled, fast_labels, fast_predictions
from guap_pipeline.steps.freshness import (
    SERIES_STATE,
    from_staged,
    record_built,
    series_state,
)
from guap_pipeline.steps.quarantine import as_quarantine
from guap_pipeline.store.labeled import (
    LabeledDay,
    LabelsMisaligned,
    PredictionsReplaced,
    forget_labeled,
    has_predictions,
    labeled_day,
    predictions_identity,
    still_stored,
    write_labeled_frame,
)
from guap_pipeline.store.store import SHARED_DUCKDB_ROWS, Store, release_memory

REBUILD_TRIES = 6  # another run rebuilding the same day, met again and again: give up
# The pause before the second try; it doubles before each next one (0.1 s ... 1.6 s):
# another run's pass over the day replaces up to four tables one after the other, and
# retrying at once meets it again at each of them instead of letting it finish.
FIRST_PAUSE = 0.1
_REPLACED = (
    "another run rebuilt day {day} {tries} times while this one computed its money: run "
    "`guap-pipeline run` again once that run has finished"
)


def build_predictions(store: Store, day: str) -> dict[str, int]:
    """Validated, de-duplicated predictions of one day; duplicates to quarantine."""
    return from_staged(store, day, ["predictions"], lambda: _build_predictions(store, day))


def _build_predictions(store: Store, day: str) -> dict[str, int]:
    forget_labeled(store, day)  # aligned with the rows about to be replaced
    fast = fast_predictions(store, day)
    if fast is not None:
        return _released(fast, fast["n_predictions"])
    staged = read_staged(store, "predictions", day)
    unique, duplicates = dedupe_predictions(staged if len(staged) else empty_predictions())
    store.write("predictions", unique, day)
    store.write("quarantine_predictions", as_quarantine(duplicates), day)
    return {"n_predictions": len(unique), "n_duplicates": len(duplicates)}


def build_labels(store: Store, day: str) -> dict[str, int]:
    """Latest label per prediction of one day (history stays in the staged chunks)."""
    return from_staged(store, day, ["labels"], lambda: _build_labels(store, day))


def _build_labels(store: Store, day: str) -> dict[str, int]:
    fast = fast_labels(store, day)
    if fast is not None:
        return _released(fast, fast["n_label_rows"])
    staged = read_staged(store, "labels", day)
    latest, changed = latest_labels(staged)
    store.write("labels", latest, day)
    return {"n_labels": len(latest), "n_label_rows": len(staged), "n_changed_labels": changed}


def build_labeled(store: Store, day: str) -> dict[str, int]:
    """The day's predictions with their latest label (the label columns, stored aligned
    with the predictions table: :mod:`guap_pipeline.store.labeled`); orphan labels to
    quarantine. Built again when another run replaced the predictions meanwhile."""
    for last in _tries():  # the last try returns or raises
        try:
            return _build_labeled(store, day)
        except PredictionsReplaced:  # again, from the rows now stored
            if last:
                raise
    raise AssertionError(REBUILD_TRIES)  # not reached: there is a last try


def _tries() -> Iterator[bool]:
    """Whether each try of a step whose inputs another run keeps replacing is the last;
    a growing pause before each try after the first."""
    for attempt in range(REBUILD_TRIES):
        if attempt:
            time.sleep(FIRST_PAUSE * 2 ** (attempt - 1))
        yield attempt == REBUILD_TRIES - 1


def _build_labeled(store: Store, day: str) -> dict[str, int]:
    """One try of :func:`build_labeled`; raises :class:`PredictionsReplaced`."""
    built_from = predictions_identity(store, day)  # before the rows are read
    fast = fast_labeled(store, day, built_from)
    if fast is not None:
        return _released(fast, fast["n_predictions"])
    predictions = store.read("predictions", day)
    labels = store.read("labels", day)
    staged = read_staged(store, "labels", day)
    labeled, orphans = join_labels(
        predictions if predictions is not None else pd.DataFrame(),
        labels if labels is not None else latest_labels(pd.DataFrame())[0],
        staged if len(staged) else pd.DataFrame(columns=["prediction_id", "_source", "_row"]),
    )
    write_labeled_frame(store, day, labeled, built_from)
    store.write("quarantine_labels", as_quarantine(orphans), day)
    n_labeled = int(labeled["y_true"].notna().sum()) if len(labeled) else 0
    return {"n_predictions": len(labeled), "n_labeled": n_labeled, "n_orphan_labels": len(orphans)}


def _released(figures: dict[str, int], rows: int) -> dict[str, int]:
    """``figures``, once a big day's freed buffers are handed back to the OS: the next
    step would otherwise peak on top of them (~1 GB after the 10M-row labeled join)."""
    if rows >= SHARED_DUCKDB_ROWS:
        release_memory()
    return figures


def build_day_profit(store: Store, config: GuapConfig, day: str) -> DayProfit:
    """The day's money per model version; records the inputs it was built from.

    Money computed from a labeled table that another run replaced meanwhile (it rebuilt
    the day from newer inputs) is computed again rather than written over that run's:
    the day would be recorded as built from inputs its money did not see."""
    if config.engine.kind == "dask":  # the whole day, from the staged rows, on the cluster
        result = from_staged(  # it reads both kinds, in place of their steps
            store,
            day,
            ["predictions", "labels"],
            lambda: distributed.build_day(store, config, day).profit,
        )
    else:
        for _ in _tries():
            try:
                labeled = _labeled_for_profit(store, day)
            except _Relabeled:
                continue  # read what was just built
            result = _money(labeled, config)
            if still_stored(store, day, labeled):
                break
        else:
            raise InputError(_REPLACED.format(day=day, tries=REBUILD_TRIES))
    store.write("daily_quadrant_profit", result.summary, day)
    store.write("daily_cells", result.cells, day)
    store.write("threshold_hindsight", result.hindsight, day)
    store.write("threshold_curve", result.curves, day)
    record_built(store, day)
    return result


def _money(labeled_rows: LabeledDay | None, config: GuapConfig) -> DayProfit:
    """The money of the day's labeled predictions (``None``: a day without any)."""
    if labeled_rows is None or not labeled_rows.num_rows:
        return day_profit(_no_predictions(config), config)
    # only the columns the money needs; a big day in two passes, to bound memory
    stored = labeled_rows.schema.empty_table().to_pandas().dtypes
    value_columns = list(config.value_matrix.columns)
    money = ["y_true", "y_pred", *value_columns, "baseline_pred"]
    hindsight = ["y_true", "score", *value_columns]
    small = labeled_rows.num_rows < SHARED_DUCKDB_ROWS
    labeled = _read_for_profit(labeled_rows, money + hindsight if small else money, config)
    summary, cells = day_accounts(labeled, config)
    summary, cells = _plain_keys(summary, stored), _plain_keys(cells, stored)
    if not small:
        del labeled
        release_memory()
        labeled = _read_for_profit(labeled_rows, hindsight, config)
    hindsight_rows, curves = day_hindsight(labeled, summary, config)
    del labeled
    return DayProfit(summary, cells, hindsight_rows, curves)


class _Relabeled(Exception):
    """The money step labeled the day again (another run had rebuilt its predictions)."""


def _labeled_for_profit(store: Store, day: str) -> LabeledDay | None:
    """The day's labeled predictions; ``None`` when it has no predictions. Raises
    :class:`_Relabeled` when it had predictions without labels aligned with them and was
    labeled again.

    That means another run rebuilt the predictions after this run's labeled step
    (removing the labels of the old rows, or writing its own just after they were
    replaced): the day is labeled again, from the labels as staged now, rather than
    recorded as built with no money or failing the run."""
    try:
        labeled = labeled_day(store, day)
    except LabelsMisaligned:
        labeled = None
    if labeled is not None or not has_predictions(store, day):
        return labeled
    build_labels(store, day)
    build_labeled(store, day)
    raise _Relabeled


def _no_predictions(config: GuapConfig) -> pd.DataFrame:
    """Labeled predictions of a day that has none, with every column the money reads
    (a stored empty table may lack them: its file was deleted, or it had no rows)."""
    money = ["y_true", *config.value_matrix.columns, "baseline_pred"]
    return empty_predictions(config).assign(**{c: pd.Series([], dtype="float64") for c in money})


def build_timeseries(store: Store, config: GuapConfig, as_of: dt.date) -> pd.DataFrame:
    """Stitch every built day into the daily summary table and the profit time series;
    returns the table with the estimate's kind and note per row."""
    days = store.read_partitions("daily_quadrant_profit")
    feed = label_feed.assess(store, config, days, as_of)
    store.write_json(label_feed.STATE, feed.to_json())
    summary = daily_summary(days, config, as_of, stalled=feed.stalled_dates)
    daily = estimate_days(store, config, summary, as_of=as_of)
    store.write("daily_summary", daily[list(DAILY_COLUMNS)])
    series = profit_timeseries(daily)  # keeps estimate_kind and estimate_note
    store.write("profit_timeseries", series)
    store.write_json(SERIES_STATE, series_state(store, as_of))
    return daily


def _read_for_profit(labeled: LabeledDay, columns: list[str], config: GuapConfig) -> pd.DataFrame:
    """The day keys and the given columns of the labeled predictions (those it has); the
    keys as categoricals, sorted so that groups come out in the same order, to group
    cheaply. ``baseline_pred`` only when the baseline reads it."""
    wanted = {*DAY_KEYS, *columns} - (
        {"baseline_pred"} if config.baseline != "baseline_pred" else set()
    )
    keys = [c for c in DAY_KEYS if c in labeled.names]
    table = labeled.read([c for c in labeled.names if c in wanted], read_dictionary=keys)
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    del table
    release_memory()  # the reader's buffers, before the accounting allocates its own
    for key in keys:
        if isinstance(frame[key].dtype, pd.CategoricalDtype):
            frame[key] = frame[key].cat.reorder_categories(sorted(frame[key].cat.categories))
    return frame


def _plain_keys(frame: pd.DataFrame, dtypes: pd.Series) -> pd.DataFrame:
    """Day keys back in their stored dtype (they were read as categoricals)."""
    for key in DAY_KEYS:
        if key in frame.columns and isinstance(frame[key].dtype, pd.CategoricalDtype):
            frame[key] = frame[key].astype(dtypes[key])
    return frame
