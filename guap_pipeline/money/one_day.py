"""One prediction day, from staged chunks to money: dedupe, latest label, join, account.

Each function is pure over frames (the caller reads and writes storage), so the Dagster
assets and the tests call exactly the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from guap_pipeline.config import GuapConfig
from guap_pipeline.errors import GuapError
from guap_pipeline.ingest.columns import class_codes
from guap_pipeline.ingest.readers import ROW
from guap_pipeline.ingest.validation import SOURCE, empty_quarantine, quarantine_rows
from guap_pipeline.money.accounting import SUMMARY_COLUMNS, Accounts, account, group_ids
from guap_pipeline.money.threshold import Hindsight, descending_curve

DAY_KEYS = ("date", "model_version")
HINDSIGHT_COLUMNS = (
    "date",
    "model_version",
    "best_threshold",
    "best_profit",
    "realized_profit",
    "left_on_table",
)
CURVE_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)


def _quarantine_rows(rows: pd.DataFrame, kind: str, reasons: pd.Series | str) -> pd.DataFrame:
    return quarantine_rows(
        source=rows[SOURCE].astype("string"),
        kind=kind,
        row=rows[ROW].astype("int64"),
        prediction_id=rows["prediction_id"].astype("string"),
        reason=reasons,
        record="{}",
    )


def dedupe_predictions(staged: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the first row of each prediction_id (file path order, then row order).

    Returns (unique predictions, quarantine rows for the later duplicates).
    """
    if staged.empty:
        return staged, empty_quarantine()
    ordered = staged.sort_values([SOURCE, ROW], kind="stable", ignore_index=True)
    duplicated = ordered["prediction_id"].duplicated(keep="first").to_numpy()
    first = ordered.loc[~duplicated].set_index("prediction_id")
    dupes = ordered.loc[duplicated]
    origin = first.loc[dupes["prediction_id"], [SOURCE, ROW]]
    reasons = (
        "duplicate prediction_id (first seen in "
        + origin[SOURCE].astype(str).to_numpy()
        + " row "
        + origin[ROW].astype(str).to_numpy()
        + ")"
    )
    quarantine = _quarantine_rows(dupes, "predictions", pd.Series(reasons, index=dupes.index))
    return ordered.loc[~duplicated].reset_index(drop=True), quarantine


def latest_labels(staged: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The latest label of each prediction_id (by ``labeled_at``, then file and row order),
    in the staged order (source file, row): a big day's labels, each id labeled once, are
    then its staged rows as they are, without a sort.

    Returns (one row per id with ``n_label_versions``, number of ids whose label changed).
    """
    if staged.empty:
        empty = pd.DataFrame(
            {
                "prediction_id": pd.Series([], dtype="string"),
                "y_true": [],
                "labeled_at": pd.Series([], dtype="datetime64[ns, UTC]"),
                "n_label_versions": pd.Series([], dtype="int64"),
            }
        )
        return empty, 0
    ordered = staged.sort_values(
        ["labeled_at", SOURCE, ROW], kind="stable", na_position="first", ignore_index=True
    )
    grouped = ordered.groupby("prediction_id", sort=False)
    versions = grouped["y_true"].transform("size")
    changed = int((grouped["y_true"].nunique() > 1).sum())
    latest = ordered.assign(n_label_versions=versions).drop_duplicates("prediction_id", keep="last")
    latest = latest.sort_values([SOURCE, ROW], kind="stable")
    columns = ["prediction_id", "y_true", "labeled_at", "n_label_versions"]
    return latest[columns].reset_index(drop=True), changed


def join_labels(
    predictions: pd.DataFrame, labels: pd.DataFrame, staged_labels: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attach each prediction's latest label (null ``y_true`` = not labeled yet).

    Labels routed to this day whose prediction is not among the day's predictions (its
    file was removed) are returned as quarantine rows.
    """
    if predictions.empty:
        labeled = predictions.assign(
            y_true=pd.Series([], dtype=object),
            labeled_at=pd.Series([], dtype="datetime64[us, UTC]"),
        )
    else:
        labeled = predictions.merge(
            labels[["prediction_id", "y_true", "labeled_at"]], on="prediction_id", how="left"
        )
    known = _is_in(staged_labels["prediction_id"], predictions.get("prediction_id", []))
    orphans = staged_labels.loc[~known] if len(staged_labels) else staged_labels
    quarantine = (
        _quarantine_rows(
            orphans, "labels", "label for a prediction_id not among the day's predictions"
        )
        if len(orphans)
        else empty_quarantine()
    )
    return labeled, quarantine


def _is_in(values: pd.Series, among: pd.Series | list) -> np.ndarray:
    """``values.isin(among)``; by Arrow's hash set when both are of one Arrow type (pandas'
    ``isin`` on Arrow-backed strings is far slower: ``benchmarks/README.md``). Integer ids
    against text ones raise: no id would match, and every label would be quarantined."""
    if len(values) and len(among):
        try:
            left, right = pa.array(values), pa.array(among)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            left = right = None
        if left is not None and left.type == right.type:
            return pc.is_in(left, value_set=right).to_numpy(zero_copy_only=False)
        if left is not None and pa.types.is_integer(left.type) != pa.types.is_integer(right.type):
            raise GuapError(
                f"labels and predictions hold ids of two types ({left.type}, {right.type}) "
                "that never match: a bug, please report it"
            )
    return values.isin(among).to_numpy()


@dataclass(frozen=True)
class DayProfit:
    """A day's money per model version: summary rows, K×K cells, threshold hindsight."""

    summary: pd.DataFrame
    cells: pd.DataFrame
    hindsight: pd.DataFrame
    curves: pd.DataFrame


def day_profit(labeled: pd.DataFrame, config: GuapConfig) -> DayProfit:
    """Account one day's labeled predictions per model version (SPEC definitions)."""
    summary, cells = day_accounts(labeled, config)
    hindsight_rows, curves = day_hindsight(labeled, summary, config)
    return DayProfit(summary, cells, hindsight_rows, curves)


def day_accounts(labeled: pd.DataFrame, config: GuapConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary rows and K×K cells of :func:`day_profit`."""
    return day_tables(day_ledger(labeled, config), config)


def day_ledger(labeled: pd.DataFrame, config: GuapConfig) -> Accounts:
    """Counts and money of each (date, model_version, true, decision) cell: additive over
    any split of the rows, so parts of a day can be accounted apart and summed."""
    return account(
        labeled,
        config.value_matrix,
        by=list(DAY_KEYS),
        baseline=config.baseline,
        positive_class=config.positive_class,
    )


def day_tables(accounts: Accounts, config: GuapConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The daily summary rows and K×K cells of a day's ledger."""
    summary = accounts.summary(config.positive_class)
    return summary[[*DAY_KEYS, *SUMMARY_COLUMNS]], accounts.cells()


def day_hindsight(
    labeled: pd.DataFrame, summary: pd.DataFrame, config: GuapConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The threshold hindsight rows and profit curves of :func:`day_profit`: the best
    threshold per model version where every labeled row carries a score."""
    found = []
    if config.is_binary and "score" in labeled.columns and len(labeled):
        realized = summary.set_index(list(DAY_KEYS))["profit"]
        matrix = config.value_matrix
        has_label = labeled["y_true"].notna().to_numpy()
        score = labeled["score"].to_numpy()
        true_codes = class_codes(labeled["y_true"], config.classes)  # row by row: once
        columns = {c: labeled[c].to_numpy() for c in matrix.columns}
        for key, rows in sorted(_group_rows(labeled), key=lambda item: item[0]):
            rows_of_key = rows[has_label[rows]]
            scores = score[rows_of_key]  # gathered once: checked, then the curve's
            if not len(rows_of_key) or pd.isna(scores).any():
                continue
            curve = descending_curve(
                true_codes[rows_of_key],
                scores,
                matrix,
                positive_class=config.positive_class,
                columns={c: values[rows_of_key] for c, values in columns.items()},
            )
            found.append((key, curve.best(realized.loc[key]), curve.profit_at(CURVE_GRID)))
    return hindsight_tables(found)


def _group_rows(labeled: pd.DataFrame) -> list[tuple[tuple, np.ndarray]]:
    """Each day key's row positions, in row order (those of ``groupby(DAY_KEYS).indices``:
    keys with a null left out), without copying the frame."""
    ids, keys = group_ids(labeled, list(DAY_KEYS))
    small = ids.astype(np.uint16) if len(keys) <= 1 << 16 else ids  # NumPy: radix sort
    order = np.argsort(small, kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(len(keys) + 1))
    return [
        (key, order[bounds[g] : bounds[g + 1]])
        for g, key in enumerate(keys.itertuples(index=False, name=None))
        if not any(pd.isna(k) for k in key)
    ]


def hindsight_tables(
    found: list[tuple[tuple[str, str], Hindsight, np.ndarray]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored hindsight rows and curve table from each group's (day key, best point,
    profit at each threshold of ``CURVE_GRID``); both engines write them alike."""
    rows = [
        (*key, h.best_threshold, h.best_profit, h.realized_profit, h.left_on_table)
        for key, h, _ in found
    ]
    curves = [
        pd.DataFrame(
            {"date": key[0], "model_version": key[1], "threshold": CURVE_GRID, "profit": grid}
        )
        for key, _, grid in found
    ]
    curve_frame = (
        pd.concat(curves, ignore_index=True)
        if curves
        else pd.DataFrame(columns=["date", "model_version", "threshold", "profit"])
    )
    return pd.DataFrame(rows, columns=list(HINDSIGHT_COLUMNS)), curve_frame
