"""Threshold hindsight on hand-worked rows (TP 1,500, FP −200, FN −1,000, TN 0)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from guap_pipeline import InputError, ValueMatrix
from guap_pipeline.money.threshold import hindsight, profit_curve

MATRIX = ValueMatrix.from_nested([[0, -200], [-1000, 1500]], classes=[0, 1])

# (score, true class): the 2 positives are at 0.9 and 0.6
SCORES = [0.9, 0.8, 0.6, 0.3, 0.1]
TRUE = [1, 0, 1, 0, 0]


def test_curve_has_one_point_per_distinct_score_plus_nobody_positive() -> None:
    curve = profit_curve(TRUE, SCORES, MATRIX, positive_class=1)
    assert list(curve.columns) == ["threshold", "n_predicted_positive", "profit"]
    assert curve.threshold.tolist() == [0.1, 0.3, 0.6, 0.8, 0.9, math.inf]
    assert curve.n_predicted_positive.tolist() == [5, 4, 3, 2, 1, 0]
    # inf: both positives are FN (−2,000); each step down adds one row as predicted positive
    assert curve.profit.tolist() == [2400, 2600, 2800, 300, 500, -2000]


def test_best_threshold_and_money_left_on_the_table() -> None:
    curve = profit_curve(TRUE, SCORES, MATRIX, positive_class=1)
    # the model decided at 0.85: only the 0.9 row flagged -> 1,500 − 1,000 = 500
    result = hindsight(curve, realized_profit=500)
    assert result.best_threshold == 0.6
    assert result.best_profit == 2800
    assert result.realized_profit == 500
    assert result.left_on_table == 2300


def test_nothing_left_on_the_table_at_the_best_threshold() -> None:
    curve = profit_curve(TRUE, SCORES, MATRIX, positive_class=1)
    assert hindsight(curve, realized_profit=2800).left_on_table == 0


def test_tied_scores_move_together() -> None:
    curve = profit_curve([1, 0, 1, 1], [0.7, 0.7, 0.4, 0.4], MATRIX, positive_class=1)
    assert curve.threshold.tolist() == [0.4, 0.7, math.inf]
    assert curve.n_predicted_positive.tolist() == [4, 2, 0]
    # inf: 3 FN; 0.7: one TP, one FP, two FN; 0.4: three TP, one FP
    assert curve.profit.tolist() == [4300, -700, -3000]


def test_tied_profits_go_to_the_highest_threshold() -> None:
    curve = pd.DataFrame(
        {
            "threshold": [0.2, 0.5, math.inf],
            "n_predicted_positive": [3, 1, 0],
            "profit": [10, 10, 5],
        }
    )
    assert hindsight(curve, realized_profit=5).best_threshold == 0.5


def test_all_zero_matrix_prefers_nobody_positive() -> None:
    zero = ValueMatrix.from_nested([[0, 0], [0, 0]], classes=[0, 1])
    curve = profit_curve([1, 0], [0.2, 0.8], zero, positive_class=1)
    assert hindsight(curve, 0).best_threshold == math.inf


def test_scores_at_the_bounds_are_allowed() -> None:
    curve = profit_curve([1, 0], [1.0, 0.0], MATRIX, positive_class=1)
    assert curve.threshold.tolist() == [0.0, 1.0, math.inf]
    assert curve.profit.tolist() == [1300, 1500, -1000]


def test_example_dependent_curve() -> None:
    fraud = ValueMatrix.from_named(
        {"tp": {"constant": -5, "amount": 0.9}, "fp": -20, "fn": {"amount": -1.0}, "tn": 0},
        classes=[0, 1],
        positive_class=1,
    )
    curve = profit_curve(
        [1, 0, 1], [0.9, 0.5, 0.2], fraud, positive_class=1, columns={"amount": [100.0, 40, 10]}
    )
    # inf: FN −100, TN 0, FN −10; 0.9: TP 85; 0.5: FP −20; 0.2: TP 4
    np.testing.assert_allclose(curve.profit, [69, 55, 75, -110])
    assert hindsight(curve, 0).best_threshold == 0.9


def test_positive_class_zero_flags_class_zero() -> None:
    curve = profit_curve([0, 1], [0.9, 0.1], MATRIX, positive_class=0)
    # class 0 positive; inf: everybody predicted 1: −200 + 1,500;
    # 0.9: the first row predicted 0 (0) + 1,500; 0.1: both predicted 0: 0 − 1,000
    assert curve.profit.tolist() == [-1000, 1500, 1300]


def test_empty_input_gives_only_the_nobody_positive_point() -> None:
    curve = profit_curve([], [], MATRIX, positive_class=1)
    assert curve.threshold.tolist() == [math.inf]
    assert curve.n_predicted_positive.tolist() == [0]
    assert curve.profit.tolist() == [0]


@pytest.mark.parametrize("bad", [1.01, -0.1, np.nan, np.inf])
def test_scores_outside_0_1_are_an_input_error(bad: float) -> None:
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        profit_curve([1, 0], [0.5, bad], MATRIX, positive_class=1)


def test_scores_and_labels_of_different_length_are_an_input_error() -> None:
    with pytest.raises(InputError, match="shape"):
        profit_curve([1, 0], [0.5], MATRIX, positive_class=1)


def test_multiclass_has_no_threshold_curve() -> None:
    multi = ValueMatrix.from_nested([[1, 0, 0], [0, 1, 0], [0, 0, 1]], classes=[0, 1, 2])
    with pytest.raises(InputError, match="binary"):
        profit_curve([1], [0.5], multi, positive_class=1)


# summed in this order these are 6867.29; in reverse, 6867.290000000001
ROUNDED_AMOUNTS = [2655.0, -392.94, -410.94, 1394.94, 2787.02, 834.21]


def test_rounding_never_shows_a_negative_left_on_the_table() -> None:
    by_amount = ValueMatrix.from_named(
        {"tp": {"amount": 1.0}, "fp": 0, "fn": 0, "tn": 0}, classes=[0, 1], positive_class=1
    )
    scores = [0.9, 0.8, 0.7, 0.6, 0.55, 0.5]  # descending: the curve sums in list order
    curve = profit_curve(
        [1] * 6, scores, by_amount, positive_class=1, columns={"amount": ROUNDED_AMOUNTS}
    )
    realized = sum(reversed(ROUNDED_AMOUNTS))  # the same decisions, summed in another order
    result = hindsight(curve, realized)
    assert result.best_threshold == 0.5  # everyone positive, as decided
    assert -2e-12 < result.best_profit - realized < -5e-13  # the rounding artefact
    assert result.left_on_table == 0.0


def test_decisions_that_beat_every_threshold_keep_their_negative_left_on_the_table() -> None:
    curve = profit_curve(TRUE, SCORES, MATRIX, positive_class=1)
    # not a threshold's decisions: both positives flagged, no false alarm -> 3,000 > 2,800
    assert hindsight(curve, realized_profit=3000).left_on_table == -200
