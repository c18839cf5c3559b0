"""Quadrant accounting: turn labeled predictions into money, per group, in one pass.

Every figure follows ``SPEC.md`` "What it computes". Values are money earned (gains
positive, costs negative; see :mod:`guap_pipeline.value_matrix`). Only *labeled* rows
(``y_true`` not null) are valued; unlabeled rows count towards ``n_predictions`` and
``label_coverage`` only.

Normalisations of a group's profit, named for what they divide by:

- ``total`` — Σ of all cell values (the ``profit`` column).
- ``per_row`` — total / labeled rows (the ``profit_per_prediction`` column).
- ``per_predicted_class`` — Σ over predicted classes of the mean value per row predicted
  as that class; NannyML 0.13 calls this ``per_prediction``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from guap_pipeline.errors import InputError
from guap_pipeline.money.summary import with_ratios
from guap_pipeline.numeric import as_floats
from guap_pipeline.value_matrix import QUADRANTS, ValueMatrix, integer_codes

Normalize = Literal["total", "per_row", "per_predicted_class"]

SUMMARY_COLUMNS: tuple[str, ...] = (
    "n_predictions",
    "n_labeled",
    "label_coverage",
    "tp",
    "fp",
    "fn",
    "tn",
    "value_tp",
    "value_fp",
    "value_fn",
    "value_tn",
    "profit",
    "profit_per_prediction",
    "baseline_profit",
    "uplift",
    "oracle_profit",
    "value_capture",
)


def encode_classes(values: ArrayLike, classes: Sequence[Hashable], *, column: str) -> NDArray:
    """Map class labels to their position in ``classes``; null becomes -1.

    Raises :class:`InputError` naming the column and examples when a non-null value is
    not a declared class (the pipeline quarantines such rows before they get here).
    """
    series = pd.Series(values, copy=False)
    if series.dtype.kind in "iuf" and all(type(c) is int for c in classes):
        codes = integer_codes(series.to_numpy(), classes)
    else:
        codes = pd.Index(list(classes)).get_indexer(series)
    unknown = codes < 0
    if unknown.any():  # nulls are not unknown: look for them only if needed
        unknown &= series.notna().to_numpy()
    if unknown.any():
        examples = sorted({repr(v) for v in series[unknown].head(5)})
        raise InputError(
            f"column '{column}' has values that are not declared classes {list(classes)}: "
            f"{', '.join(examples)}"
        )
    return codes.astype(np.intp, copy=False)


# (true class is positive, predicted class is positive) of each quadrant.
QUADRANT_SIDES: dict[str, tuple[bool, bool]] = {
    "tp": (True, True),
    "fp": (False, True),
    "fn": (True, False),
    "tn": (False, False),
}


def one_vs_rest(
    counts: NDArray, values: NDArray, positive_code: int
) -> dict[str, tuple[NDArray, NDArray]]:
    """TP/FP/FN/TN counts and values of one class against the rest.

    ``counts`` and ``values`` have shape ``(..., K, K)`` (rows true, columns predicted);
    the result maps each quadrant to ``(count, value)`` arrays of shape ``(...)``.
    """
    k = counts.shape[-1]
    is_pos = np.zeros(k, dtype=bool)
    is_pos[positive_code] = True
    out: dict[str, tuple[NDArray, NDArray]] = {}
    for quadrant, (true_pos, pred_pos) in QUADRANT_SIDES.items():
        rows = is_pos if true_pos else ~is_pos
        cols = is_pos if pred_pos else ~is_pos
        mask = np.outer(rows, cols)
        out[quadrant] = (
            (counts * mask).sum(axis=(-2, -1)),
            (values * mask).sum(axis=(-2, -1)),
        )
    return out


def normalized_profit(
    counts: ArrayLike, values: ArrayLike, *, normalize: Normalize = "total"
) -> NDArray[np.float64]:
    """A group's profit under a named normalisation; arrays of shape ``(..., K, K)``.

    Division by zero gives NaN (no labeled rows), except ``per_predicted_class``, which
    skips predicted classes with no rows.

    >>> float(normalized_profit([[0, 0], [0, 5]], [[0, 0], [0, 7500]], normalize="per_row"))
    1500.0
    """
    c = np.asarray(counts, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if normalize == "total":
        return v.sum(axis=(-2, -1))
    if normalize == "per_row":
        n = c.sum(axis=(-2, -1))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, v.sum(axis=(-2, -1)) / np.where(n > 0, n, 1), np.nan)
    if normalize == "per_predicted_class":
        per_col_n = c.sum(axis=-2)
        per_col_v = v.sum(axis=-2)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(per_col_n > 0, per_col_v / np.where(per_col_n > 0, per_col_n, 1), 0.0)
        return means.sum(axis=-1)
    raise ValueError(
        f"normalize must be 'total', 'per_row' or 'per_predicted_class', got {normalize!r}"
    )


@dataclass(frozen=True)
class Accounts:
    """Money of each group's confusion matrix; arrays are indexed by group, true, predicted."""

    keys: pd.DataFrame
    classes: tuple[Hashable, ...]
    counts: NDArray[np.int64]
    values: NDArray[np.float64]
    n_predictions: NDArray[np.int64]
    baseline_profit: NDArray[np.float64]
    oracle_profit: NDArray[np.float64]

    @property
    def n_labeled(self) -> NDArray[np.int64]:
        return self.counts.sum(axis=(1, 2))

    @property
    def profit(self) -> NDArray[np.float64]:
        return self.values.sum(axis=(1, 2))

    def summary(self, positive_class: Hashable | None = None) -> pd.DataFrame:
        """One row per group with the daily summary figures (``SUMMARY_COLUMNS``).

        Quadrant columns are one-vs-rest of ``positive_class``; without one (multiclass)
        they are null: read the K×K cells from :meth:`cells` instead.
        """
        n_pred = self.n_predictions
        profit = self.profit
        columns: dict[str, ArrayLike] = {"n_predictions": n_pred, "n_labeled": self.n_labeled}
        if positive_class is None:
            missing = pd.array([pd.NA] * len(n_pred), dtype="Int64")
            for q in QUADRANTS:
                columns[q] = missing
            for q in QUADRANTS:
                columns[f"value_{q}"] = missing.astype("Float64")
        else:
            quadrants = one_vs_rest(self.counts, self.values, self.classes.index(positive_class))
            for q in QUADRANTS:
                columns[q] = quadrants[q][0]
            for q in QUADRANTS:
                columns[f"value_{q}"] = quadrants[q][1]
        columns["profit"] = profit
        columns["baseline_profit"] = self.baseline_profit
        columns["uplift"] = profit - self.baseline_profit
        columns["oracle_profit"] = self.oracle_profit
        figures = with_ratios(pd.DataFrame(columns, index=self.keys.index))
        return pd.concat([self.keys, figures[list(SUMMARY_COLUMNS)]], axis=1)

    def cells(self) -> pd.DataFrame:
        """Long K×K table: group keys, ``true_class``, ``predicted_class``, ``count``, ``value``."""
        g, k = len(self.keys), len(self.classes)
        group = np.repeat(np.arange(g), k * k)
        true = np.tile(np.repeat(np.arange(k), k), g)
        pred = np.tile(np.arange(k), g * k)
        labels = np.asarray(self.classes, dtype=object)
        out = self.keys.iloc[group].reset_index(drop=True)
        out["true_class"] = labels[true]
        out["predicted_class"] = labels[pred]
        out["count"] = self.counts.reshape(-1)
        out["value"] = self.values.reshape(-1)
        return out


def group_ids(frame: pd.DataFrame, by: Sequence[str]) -> tuple[NDArray[np.intp], pd.DataFrame]:
    """Dense group id per row and the keys of each group, sorted by key."""
    if not by:
        return np.zeros(len(frame), dtype=np.intp), pd.DataFrame(index=pd.RangeIndex(1))
    missing = [c for c in by if c not in frame.columns]
    if missing:
        raise InputError(f"cannot group by {missing}: no such column(s)")
    coded = _categorical_group_ids(frame, by)
    if coded is not None:
        return coded
    grouped = frame.groupby(list(by), sort=True, dropna=False, observed=True)
    ids = grouped.ngroup().to_numpy(dtype=np.intp)
    keys = grouped.size().index.to_frame(index=False)
    return ids, keys


def _categorical_group_ids(
    frame: pd.DataFrame, by: Sequence[str]
) -> tuple[NDArray[np.intp], pd.DataFrame] | None:
    """:func:`group_ids` from the codes of categorical keys without nulls (the day keys
    of a big day are read so): the same ids and keys as pandas' ``groupby`` gives them —
    groups in category order, observed ones only — by counting instead of hashing.
    ``None`` when a key is not such a column."""
    columns = [frame[c] for c in by]
    if not all(isinstance(c.dtype, pd.CategoricalDtype) for c in columns):
        return None
    codes = [c.cat.codes.to_numpy() for c in columns]
    sizes = tuple(len(c.cat.categories) for c in columns)
    if any(len(c) and c.min() < 0 for c in codes) or np.prod(sizes, dtype=float) > 1 << 24:
        return None
    combined = np.ravel_multi_index(codes, sizes) if len(frame) else np.array([], np.intp)
    used = np.flatnonzero(np.bincount(combined, minlength=int(np.prod(sizes))))
    dense = np.zeros(int(np.prod(sizes)), dtype=np.intp)
    dense[used] = np.arange(len(used))
    keys = pd.DataFrame(
        {
            name: pd.Categorical.from_codes(key_codes, dtype=column.dtype)
            for name, column, key_codes in zip(
                by, columns, np.unravel_index(used, sizes), strict=True
            )
        }
    )
    return dense[combined], keys


def _decisions(
    frame: pd.DataFrame, column: str, matrix: ValueMatrix, *, labeled: NDArray[np.bool_]
) -> NDArray[np.intp]:
    if column not in frame.columns:
        raise InputError(f"missing column '{column}'")
    codes = encode_classes(frame[column], matrix.classes, column=column)
    if (codes[labeled] < 0).any():
        raise InputError(f"column '{column}' is null on labeled rows")
    return codes


def account(
    frame: pd.DataFrame,
    matrix: ValueMatrix,
    *,
    by: Sequence[str] = (),
    baseline: str = "all_negative",
    positive_class: Hashable | None = None,
) -> Accounts:
    """Count and value every group's confusion matrix, baseline and oracle, in one pass.

    Parameters
    ----------
    frame : DataFrame with ``y_true`` (null where not labeled yet), ``y_pred``, the data
        columns the value matrix reads, and ``baseline_pred`` for that baseline.
    matrix : the business value matrix; its classes order the K×K arrays.
    by : grouping columns (e.g. ``["date", "model_version"]``); none means one group.
    baseline : ``all_negative``, ``all_positive`` (binary, need ``positive_class``) or
        ``baseline_pred``.
    positive_class : the binary positive class.

    Returns
    -------
    Accounts with arrays of shape ``(groups, K, K)`` and ``(groups,)``.

    >>> m = ValueMatrix.from_nested([[0, -200], [-1000, 1500]], classes=[0, 1])
    >>> df = pd.DataFrame({"y_true": [1] * 5, "y_pred": [1] * 5})
    >>> float(account(df, m, positive_class=1).profit[0])
    7500.0
    """
    if "y_true" not in frame.columns:
        raise InputError("missing column 'y_true'")
    k = matrix.n_classes
    gid, keys = group_ids(frame, by)
    n_groups = len(keys)
    true = encode_classes(frame["y_true"], matrix.classes, column="y_true")
    labeled = true >= 0
    pred = _decisions(frame, "y_pred", matrix, labeled=labeled)
    base = _baseline_codes(frame, matrix, baseline, positive_class, labeled=labeled)

    lab = slice(None) if labeled.all() else np.flatnonzero(labeled)  # no copy when all are
    t, p, g = true[lab], pred[lab], gid[lab]
    columns = {c: _finite_column(frame, c, lab) for c in matrix.columns}
    row_cell = g * k
    row_cell += t  # in place: each temporary of a big day costs fresh pages
    counts, values = _cell_money(row_cell, p, n_groups * k, matrix, columns)
    counts = counts.reshape(n_groups, k, k)
    values = values.reshape(n_groups, k, k)
    baseline_cells = _cell_money(row_cell, base[lab], n_groups * k, matrix, columns)[1]
    baseline_profit = baseline_cells.reshape(n_groups, k * k).sum(axis=1)
    if columns:  # the best cell depends on the row's own amounts
        oracle = matrix.oracle_values(t, columns)
        oracle_profit = np.bincount(g, weights=oracle, minlength=n_groups)
    else:
        oracle_profit = counts.sum(axis=2) @ matrix.constants().max(axis=1)
    return Accounts(
        keys=keys,
        classes=matrix.classes,
        counts=counts,
        values=values.astype(np.float64),
        n_predictions=np.bincount(gid, minlength=n_groups).astype(np.int64),
        baseline_profit=baseline_profit.astype(np.float64),
        oracle_profit=oracle_profit.astype(np.float64),
    )


def _cell_money(
    row_cell: NDArray[np.intp],
    decision: NDArray[np.intp],
    n_rows: int,
    matrix: ValueMatrix,
    columns: dict[str, NDArray[np.float64]],
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Count and value of each (group × true class, decision) cell, flattened.

    Cell values are linear in the data columns, so each cell's money is its count times
    the constant plus, per column, the column's sum over the cell times the rate: a few
    ``bincount`` passes instead of valuing every row.
    """
    k = matrix.n_classes
    cell = row_cell * k
    cell += decision
    size = n_rows * k
    counts = np.bincount(cell, minlength=size).astype(np.int64)
    constants = np.tile(matrix.constants().reshape(-1), n_rows // k)
    values = counts * constants
    rates = matrix.rates()
    for i, column in enumerate(matrix.columns):
        sums = np.bincount(cell, weights=columns[column], minlength=size)
        values = values + sums * np.tile(rates[:, :, i].reshape(-1), n_rows // k)
    return counts, values


def _finite_column(
    frame: pd.DataFrame, column: str, rows: NDArray[np.intp] | slice
) -> NDArray[np.float64]:
    """A column the value matrix reads, on ``rows``: every value must be a finite number."""
    if column not in frame.columns:
        raise InputError(f"value matrix reads column '{column}', which the data lacks")
    data = as_floats(frame[column].iloc[rows], not_numeric="nan")
    if not np.isfinite(data).all():
        raise InputError(f"column '{column}' has missing or non-numeric values on labeled rows")
    return data


def _baseline_codes(
    frame: pd.DataFrame,
    matrix: ValueMatrix,
    baseline: str,
    positive_class: Hashable | None,
    *,
    labeled: NDArray[np.bool_],
) -> NDArray[np.intp]:
    if baseline == "baseline_pred":
        return _decisions(frame, "baseline_pred", matrix, labeled=labeled)
    if baseline not in ("all_negative", "all_positive"):
        raise ValueError(
            f"baseline must be all_negative, all_positive or baseline_pred, got {baseline!r}"
        )
    if matrix.n_classes != 2 or positive_class not in matrix.classes:
        raise ValueError(f"baseline '{baseline}' needs a binary problem and its positive_class")
    pos = matrix.classes.index(positive_class)
    code = pos if baseline == "all_positive" else 1 - pos
    return np.full(len(frame), code, dtype=np.intp)
