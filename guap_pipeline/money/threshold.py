"""Threshold hindsight: what each decision threshold would have earned on labeled rows.

Decision rule: a row is predicted positive when ``score >= threshold`` — the same rule
that turns ``score`` into ``y_pred`` with the config's ``threshold`` (validation). The
curve has one point per distinct score (plus ``inf``: nobody predicted positive), so the
best threshold in hindsight is exact, not a grid approximation.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from guap_pipeline.errors import InputError
from guap_pipeline.money.ordering import stable_order
from guap_pipeline.value_matrix import ValueMatrix

ROUNDING = 1e-9  # relative (and absolute) gap between two sums of the same money


@dataclass(frozen=True)
class Hindsight:
    """The best threshold in hindsight and the money the realized decisions left behind."""

    best_threshold: float
    best_profit: float
    realized_profit: float

    @property
    def left_on_table(self) -> float:
        """``best_profit − realized_profit``; 0, not a tiny negative, when the two differ by
        float rounding only (the realized decisions were the best threshold's, summed in
        another order). A real negative stays: decisions not made by a score threshold
        can beat every threshold."""
        left = self.best_profit - self.realized_profit
        if left < 0 and math.isclose(
            self.best_profit, self.realized_profit, rel_tol=ROUNDING, abs_tol=ROUNDING
        ):
            return 0.0
        return left


@dataclass(frozen=True)
class Curve:
    """Profit at every distinct threshold, from the highest (``inf``: no row predicted
    positive) down: the arrays :func:`profit_curve` tabulates, without the table (a big
    day has millions of distinct scores)."""

    threshold: NDArray[np.float64]
    profit: NDArray[np.float64]
    last_row: NDArray[np.intp]  # per threshold below inf, its last row in score order

    @property
    def n_predicted_positive(self) -> NDArray[np.int64]:
        return np.r_[0, self.last_row + 1].astype(np.int64)

    def best(self, realized_profit: float) -> Hindsight:
        """The best point; ties go to the highest threshold."""
        return _best(self.threshold, self.profit, realized_profit)

    def profit_at(self, thresholds: ArrayLike) -> NDArray[np.float64]:
        """Profit when rows of ``score >= t`` are predicted positive, for each ``t``
        (at most 1: the curve ends at ``inf``)."""
        ascending = self.threshold[::-1]
        return self.profit[::-1][np.searchsorted(ascending, thresholds, side="left")]


def profit_curve(
    true_codes: ArrayLike,
    scores: ArrayLike,
    matrix: ValueMatrix,
    *,
    positive_class: Hashable,
    columns: Mapping[str, ArrayLike] | None = None,
) -> pd.DataFrame:
    """Profit at every distinct threshold: columns ``threshold, n_predicted_positive, profit``.

    ``true_codes`` index ``matrix.classes`` (labeled rows only); ``scores`` are the
    positive-class probabilities in [0, 1]. Sorted by ascending threshold.
    """
    curve = descending_curve(
        true_codes, scores, matrix, positive_class=positive_class, columns=columns
    )
    return pd.DataFrame(
        {
            "threshold": curve.threshold[::-1],
            "n_predicted_positive": curve.n_predicted_positive[::-1],
            "profit": curve.profit[::-1],
        }
    )


def descending_curve(
    true_codes: ArrayLike,
    scores: ArrayLike,
    matrix: ValueMatrix,
    *,
    positive_class: Hashable,
    columns: Mapping[str, ArrayLike] | None = None,
) -> Curve:
    """:func:`profit_curve` as a :class:`Curve`, highest threshold first."""
    s, row_gain, base = threshold_gains(
        true_codes, scores, matrix, positive_class=positive_class, columns=columns
    )
    order = descending_order(s)
    s_desc = s[order]
    gain = row_gain[order]
    del order, row_gain
    np.cumsum(gain, out=gain)
    # last index of each run of equal scores: predicting positive at threshold = that score
    ends = np.flatnonzero(np.r_[s_desc[1:] != s_desc[:-1], True]) if s.size else np.array([], int)
    threshold = np.empty(len(ends) + 1)
    threshold[0] = np.inf
    np.take(s_desc, ends, out=threshold[1:])
    del s_desc
    profit = np.empty(len(ends) + 1)
    profit[0] = 0.0
    np.take(gain, ends, out=profit[1:])
    profit += base
    return Curve(threshold, profit, ends)


def descending_order(scores: np.ndarray) -> np.ndarray:
    """``np.argsort(-scores, kind="stable")``: rows by descending score, ties in row order.

    Scores in [0, 1] (the usual case): the bit patterns of non-negative floats sort as
    their values, so their complements sort descending, as integers (:func:`stable_order`,
    faster than sorting the floats). Other scores take the plain argsort.
    """
    values = np.asarray(scores, dtype=np.float64)
    if values.size and not values.min() >= 0:  # a negative score, or NaN
        return np.argsort(-values, kind="stable")
    bits = (values + 0.0).view(np.uint64)  # + 0.0: -0.0 is 0.0
    return stable_order(np.invert(bits, out=bits))


def threshold_gains(
    true_codes: ArrayLike,
    scores: ArrayLike,
    matrix: ValueMatrix,
    *,
    positive_class: Hashable,
    columns: Mapping[str, ArrayLike] | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Scores, each row's gain from being predicted positive rather than negative, and the
    profit with no row positive: profit at threshold t = base + Σ gain over score >= t.

    Additive over rows, so the curve of a day split into parts is the sum of theirs.
    """
    if matrix.n_classes != 2:
        raise InputError("threshold hindsight needs a binary problem")
    t = np.asarray(true_codes, dtype=np.intp)
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != t.shape:
        raise InputError(f"scores have shape {s.shape}, labels {t.shape}")
    if s.size and not ((s >= 0) & (s <= 1)).all():
        raise InputError("scores must lie in [0, 1] with no missing values")
    pos = matrix.classes.index(positive_class)
    v_pos, v_neg = matrix.decision_values(t, (pos, 1 - pos), columns)
    v_pos -= v_neg  # the gains, in place of the values they replace
    return s, v_pos, float(v_neg.sum())


def hindsight(curve: pd.DataFrame, realized_profit: float) -> Hindsight:
    """Best point of a :func:`profit_curve`; ties go to the highest threshold."""
    thresholds, profits = curve["threshold"].to_numpy(), curve["profit"].to_numpy()
    return _best(thresholds[::-1], profits[::-1], realized_profit)


def _best(thresholds: NDArray, profits: NDArray, realized_profit: float) -> Hindsight:
    """The best point of a curve given highest threshold first: the first maximum, so
    ties go to the highest threshold."""
    at = int(np.argmax(profits))
    return Hindsight(
        best_threshold=float(thresholds[at]),
        best_profit=float(profits[at]),
        realized_profit=float(realized_profit),
    )
