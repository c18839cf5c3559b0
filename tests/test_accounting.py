"""Quadrant accounting on hand-worked days: every expected figure is worked out by hand.

The binary matrix of most examples is the SPEC's ``[[TN, FP], [FN, TP]]`` =
``[[0, -200], [-1000, 1500]]``: a TP earns 1,500, an FP costs 200, an FN costs 1,000.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from guap_pipeline import SUMMARY_COLUMNS, InputError, ValueMatrix, account, normalized_profit
from guap_pipeline.money.accounting import encode_classes, one_vs_rest

MATRIX = ValueMatrix.from_nested([[0, -200], [-1000, 1500]], classes=[0, 1])
FRAUD = ValueMatrix.from_named(
    {"tp": {"constant": -5, "amount": 0.9}, "fp": -20, "fn": {"amount": -1.0}, "tn": 0},
    classes=[0, 1],
    positive_class=1,
)
MULTI = ValueMatrix.from_nested([[10, -1, -2], [-3, 20, -4], [-5, -6, 30]], classes=["a", "b", "c"])


def rows(*pairs: tuple[object, object], repeat: int = 1) -> pd.DataFrame:
    """A frame of (y_true, y_pred) pairs."""
    pairs = pairs * repeat
    return pd.DataFrame(
        {"y_true": [t for t, _ in pairs], "y_pred": [p for _, p in pairs]}, dtype=object
    )


def four_quadrant_day() -> pd.DataFrame:
    # 2 TP, 1 FP, 3 FN, 4 TN
    return rows(*[(1, 1)] * 2, (0, 1), *[(1, 0)] * 3, *[(0, 0)] * 4)


def one_row(frame: pd.DataFrame, **kwargs: object) -> pd.Series:
    summary = account(frame, MATRIX, positive_class=1, **kwargs).summary(positive_class=1)
    assert len(summary) == 1
    return summary.iloc[0]


def test_summary_has_the_spec_columns_in_order() -> None:
    summary = account(four_quadrant_day(), MATRIX, positive_class=1).summary(1)
    assert tuple(summary.columns) == SUMMARY_COLUMNS


def test_day_with_all_four_quadrants() -> None:
    s = one_row(four_quadrant_day())
    assert (s.tp, s.fp, s.fn, s.tn) == (2, 1, 3, 4)
    assert (s.value_tp, s.value_fp, s.value_fn, s.value_tn) == (3000, -200, -3000, 0)
    assert s.profit == -200
    assert s.profit_per_prediction == -20
    assert (s.n_predictions, s.n_labeled, s.label_coverage) == (10, 10, 1.0)
    # all_negative baseline: the 5 positives are FN (-5,000), the 5 negatives TN
    assert s.baseline_profit == -5000
    assert s.uplift == 4800
    # oracle: 5 × 1,500 for positives, 0 for negatives
    assert s.oracle_profit == 7500
    assert s.value_capture == pytest.approx(4800 / 12500)


def test_day_with_only_true_positives() -> None:
    frame = rows((1, 1), repeat=5)
    accounts = account(frame, MATRIX, positive_class=1)
    s = accounts.summary(1).iloc[0]
    assert s.profit == 7500
    assert s.profit_per_prediction == 1500
    assert (s.tp, s.fp, s.fn, s.tn) == (5, 0, 0, 0)
    assert (s.value_tp, s.value_fp, s.value_fn, s.value_tn) == (7500, 0, 0, 0)
    assert s.oracle_profit == 7500
    assert s.baseline_profit == -5000
    assert s.value_capture == 1.0
    np.testing.assert_array_equal(accounts.counts[0], [[0, 0], [0, 5]])


def test_day_with_only_true_negatives_keeps_all_four_quadrants() -> None:
    s = one_row(rows((0, 0), repeat=4))
    for q in ("tp", "fp", "fn", "tn"):
        assert q in s.index and f"value_{q}" in s.index
    assert (s.tp, s.fp, s.fn, s.tn) == (0, 0, 0, 4)
    assert (s.value_tp, s.value_fp, s.value_fn, s.value_tn) == (0, 0, 0, 0)
    assert s.profit == 0
    assert s.profit_per_prediction == 0
    assert s.baseline_profit == 0
    assert s.oracle_profit == 0
    assert math.isnan(s.value_capture)  # oracle - baseline = 0


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA], ids=["None", "nan", "NA"])
def test_only_labeled_rows_are_valued(missing: object) -> None:
    frame = rows((1, 1), (0, 1), (1, 0), (missing, 1), (missing, 0), (0, 0))
    s = one_row(frame)
    assert s.n_predictions == 6
    assert s.n_labeled == 4
    assert s.label_coverage == pytest.approx(4 / 6)
    assert (s.tp, s.fp, s.fn, s.tn) == (1, 1, 1, 1)
    assert s.profit == 1500 - 200 - 1000
    assert s.profit_per_prediction == pytest.approx(300 / 4)
    assert s.baseline_profit == -2000  # 2 labeled positives as FN
    assert s.oracle_profit == 3000


def test_float_labels_with_nan_are_read_as_classes() -> None:
    frame = pd.DataFrame({"y_true": [1.0, np.nan, 0.0], "y_pred": [1, 1, 1]})
    s = one_row(frame)
    assert (s.n_labeled, s.tp, s.fp) == (2, 1, 1)


def test_unlabeled_rows_may_lack_a_decision() -> None:
    frame = rows((1, 1), (None, None))
    s = one_row(frame)
    assert (s.n_predictions, s.n_labeled, s.profit) == (2, 1, 1500)


def test_day_with_no_labels_yet() -> None:
    s = one_row(rows((None, 1), (None, 0)))
    assert (s.n_predictions, s.n_labeled, s.label_coverage) == (2, 0, 0.0)
    assert (s.tp, s.fp, s.fn, s.tn) == (0, 0, 0, 0)
    assert s.profit == 0
    assert math.isnan(s.profit_per_prediction)
    assert math.isnan(s.value_capture)


def test_multiclass_cells_table() -> None:
    frame = rows(
        *[("a", "a")] * 2,
        ("a", "b"),
        ("b", "b"),
        *[("b", "c")] * 2,
        ("c", "a"),
        *[("c", "c")] * 3,
    )
    frame["baseline_pred"] = "a"
    accounts = account(frame, MULTI, baseline="baseline_pred")
    cells = accounts.cells()
    assert list(cells.columns) == ["true_class", "predicted_class", "count", "value"]
    assert list(zip(cells.true_class, cells.predicted_class, strict=True)) == [
        (t, p) for t in "abc" for p in "abc"
    ]
    assert cells["count"].tolist() == [2, 1, 0, 0, 1, 2, 1, 0, 3]
    assert cells["value"].tolist() == [20, -1, 0, 0, 20, -8, -5, 0, 90]

    s = accounts.summary().iloc[0]
    assert s.profit == 116
    assert s.profit_per_prediction == pytest.approx(11.6)
    # baseline "a" for all: 3 × 10 + 3 × -3 + 4 × -5 = 1
    assert s.baseline_profit == 1
    assert s.uplift == 115
    # oracle: diagonal, 3 × 10 + 3 × 20 + 4 × 30
    assert s.oracle_profit == 210
    assert s.value_capture == pytest.approx(115 / 209)


def test_multiclass_one_vs_rest_quadrants_of_a_positive_class() -> None:
    frame = rows(
        *[("a", "a")] * 2,
        ("a", "b"),
        ("b", "b"),
        *[("b", "c")] * 2,
        ("c", "a"),
        *[("c", "c")] * 3,
    )
    frame["baseline_pred"] = "a"
    s = account(frame, MULTI, baseline="baseline_pred").summary(positive_class="c").iloc[0]
    assert (s.tp, s.fp, s.fn, s.tn) == (3, 2, 1, 4)
    assert (s.value_tp, s.value_fp, s.value_fn, s.value_tn) == (90, -8, -5, 39)


def test_multiclass_quadrant_columns_are_null_without_positive_class() -> None:
    frame = rows(("a", "a"), ("b", "c"))
    frame["baseline_pred"] = "a"
    summary = account(frame, MULTI, baseline="baseline_pred").summary(positive_class=None)
    for column in ("tp", "fp", "fn", "tn", "value_tp", "value_fp", "value_fn", "value_tn"):
        assert summary[column].isna().all(), column
    assert summary.profit.iloc[0] == 6


def test_multiclass_refuses_binary_baselines() -> None:
    frame = rows(("a", "a"))
    with pytest.raises(ValueError, match="binary"):
        account(frame, MULTI, baseline="all_negative")


def fraud_day() -> pd.DataFrame:
    frame = rows((1, 1), (1, 1), (1, 0), (0, 1), (0, 0))
    frame["amount"] = [100.0, 1000.0, 50.0, 500.0, 70.0]
    return frame


def test_example_dependent_fraud_values() -> None:
    s = account(fraud_day(), FRAUD, positive_class=1).summary(1).iloc[0]
    # TP: 0.9 × 100 − 5 = 85 and 0.9 × 1000 − 5 = 895; FN: −50; FP: −20; TN: 0
    assert s.value_tp == pytest.approx(980)
    assert s.value_fn == pytest.approx(-50)
    assert s.value_fp == pytest.approx(-20)
    assert s.value_tn == 0
    assert s.profit == pytest.approx(910)
    # all_negative: every fraud paid out, −(100 + 1000 + 50)
    assert s.baseline_profit == pytest.approx(-1150)
    # oracle: stop every fraud (85 + 895 + 0.9 × 50 − 5 = 40), serve every customer
    assert s.oracle_profit == pytest.approx(1020)
    assert s.value_capture == pytest.approx(2060 / 2170)


def test_example_dependent_oracle_lets_small_frauds_through() -> None:
    matrix = ValueMatrix.from_named(
        {"tp": {"constant": -50, "amount": 0.1}, "fp": -20, "fn": {"amount": -0.01}, "tn": 0},
        classes=[0, 1],
        positive_class=1,
    )
    frame = rows((1, 1), (1, 1))
    frame["amount"] = [100.0, 1000.0]
    s = account(frame, matrix, positive_class=1).summary(1).iloc[0]
    assert s.profit == pytest.approx(-40 + 50)
    # small fraud: FN (−1) beats TP (−40); big fraud: TP (50) beats FN (−10)
    assert s.oracle_profit == pytest.approx(-1 + 50)


def test_example_dependent_column_is_read_on_labeled_rows_only() -> None:
    frame = fraud_day()
    frame.loc[5] = [None, 1, np.nan]
    s = account(frame, FRAUD, positive_class=1).summary(1).iloc[0]
    assert s.profit == pytest.approx(910)
    assert s.n_predictions == 6


def test_missing_amount_on_a_labeled_row_is_an_input_error() -> None:
    frame = fraud_day()
    frame.loc[0, "amount"] = np.nan
    with pytest.raises(InputError, match="amount"):
        account(frame, FRAUD, positive_class=1)


def test_missing_amount_column_is_an_input_error() -> None:
    with pytest.raises(InputError, match="amount"):
        account(rows((1, 1)), FRAUD, positive_class=1)


def test_normalisations_of_the_four_quadrant_day() -> None:
    accounts = account(four_quadrant_day(), MATRIX, positive_class=1)
    counts, values = accounts.counts[0], accounts.values[0]
    assert normalized_profit(counts, values, normalize="total") == -200
    assert normalized_profit(counts, values, normalize="per_row") == -20
    # predicted 1: (3,000 − 200) / 3 rows; predicted 0: (−3,000 + 0) / 7 rows
    assert normalized_profit(counts, values, normalize="per_predicted_class") == pytest.approx(
        2800 / 3 - 3000 / 7
    )


def test_per_row_normalisation_of_five_true_positives() -> None:
    assert normalized_profit([[0, 0], [0, 5]], [[0, 0], [0, 7500]], normalize="per_row") == 1500


def test_per_predicted_class_skips_classes_nobody_was_predicted() -> None:
    # only predicted 1: (1,500 − 200) / 2; predicted 0 has no rows and adds nothing
    got = normalized_profit(
        [[0, 1], [0, 1]], [[0, -200], [0, 1500]], normalize="per_predicted_class"
    )
    assert got == 650


def test_normalisations_of_an_empty_group() -> None:
    zeros = np.zeros((2, 2))
    assert normalized_profit(zeros, zeros, normalize="total") == 0
    assert math.isnan(normalized_profit(zeros, zeros, normalize="per_row"))
    assert normalized_profit(zeros, zeros, normalize="per_predicted_class") == 0


def test_normalisation_is_vectorised_over_groups() -> None:
    counts = np.array([[[1, 0], [0, 1]], [[0, 0], [0, 0]]])
    values = np.array([[[0.0, 0.0], [0.0, 10.0]], [[0.0, 0.0], [0.0, 0.0]]])
    np.testing.assert_array_equal(
        normalized_profit(counts, values, normalize="per_row"), [5, np.nan]
    )


def test_unknown_normalisation_is_rejected() -> None:
    with pytest.raises(ValueError, match="per_predicted_class"):
        normalized_profit([[1]], [[1]], normalize="per_prediction")  # type: ignore[arg-type]


def test_all_positive_baseline() -> None:
    s = one_row(four_quadrant_day(), baseline="all_positive")
    # 5 positives as TP (+7,500), 5 negatives as FP (−1,000)
    assert s.baseline_profit == 6500
    assert s.uplift == -200 - 6500
    assert s.value_capture == pytest.approx(-6700 / (7500 - 6500))


def test_baseline_pred_column() -> None:
    frame = four_quadrant_day()
    # the old rule flags the first 5 rows (truly 1, 1, 0, 1, 1): 4 TP and 1 FP;
    # unflagged: the last positive is an FN, then 4 TN
    frame["baseline_pred"] = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    s = one_row(frame, baseline="baseline_pred")
    assert s.baseline_profit == 4 * 1500 - 200 - 1000
    assert s.uplift == -200 - 4800


def test_baseline_pred_equal_to_model_gives_zero_uplift() -> None:
    frame = four_quadrant_day()
    frame["baseline_pred"] = frame["y_pred"]
    s = one_row(frame, baseline="baseline_pred")
    assert s.uplift == 0
    assert s.value_capture == 0


def test_value_capture_is_nan_when_baseline_is_already_the_oracle() -> None:
    frame = four_quadrant_day()
    frame["baseline_pred"] = frame["y_true"]
    s = one_row(frame, baseline="baseline_pred")
    assert s.baseline_profit == s.oracle_profit == 7500
    assert math.isnan(s.value_capture)


def test_baseline_pred_missing_is_an_input_error() -> None:
    with pytest.raises(InputError, match="baseline_pred"):
        account(four_quadrant_day(), MATRIX, baseline="baseline_pred")


def test_binary_baseline_needs_the_positive_class() -> None:
    with pytest.raises(ValueError, match="positive_class"):
        account(four_quadrant_day(), MATRIX, baseline="all_positive")


def test_unknown_baseline_is_rejected() -> None:
    with pytest.raises(ValueError, match="baseline"):
        account(four_quadrant_day(), MATRIX, baseline="coin_flip", positive_class=1)


def test_positive_class_zero_swaps_the_quadrants() -> None:
    s = account(four_quadrant_day(), MATRIX, positive_class=0).summary(positive_class=0).iloc[0]
    # class 0 is positive: the old TN (4) are TP, the old TP (2) are TN
    assert (s.tp, s.fp, s.fn, s.tn) == (4, 3, 1, 2)
    assert (s.value_tp, s.value_fp, s.value_fn, s.value_tn) == (0, -3000, -200, 3000)
    # all_negative now means "predict 1" for everybody: 5 × 1,500 + 5 × −200
    assert s.baseline_profit == 6500


def test_empty_input_without_grouping_is_one_empty_group() -> None:
    frame = rows()
    s = one_row(frame)
    assert (s.n_predictions, s.n_labeled) == (0, 0)
    assert math.isnan(s.label_coverage)
    assert (s.tp, s.fp, s.fn, s.tn) == (0, 0, 0, 0)
    assert (s.profit, s.baseline_profit, s.oracle_profit, s.uplift) == (0, 0, 0, 0)
    assert math.isnan(s.profit_per_prediction)
    assert math.isnan(s.value_capture)


def test_empty_input_grouped_has_no_rows_but_all_columns() -> None:
    frame = rows()
    frame["date"] = pd.Series([], dtype=object)
    frame["model_version"] = pd.Series([], dtype=object)
    accounts = account(frame, MATRIX, by=["date", "model_version"], positive_class=1)
    summary = accounts.summary(1)
    assert len(summary) == 0
    assert tuple(summary.columns) == ("date", "model_version", *SUMMARY_COLUMNS)
    assert len(accounts.cells()) == 0
    assert accounts.counts.shape == (0, 2, 2)


def test_grouping_by_date_and_model_version_in_one_call() -> None:
    frame = pd.DataFrame(
        {
            "date": ["2025-01-02", "2025-01-01", "2025-01-01", "2025-01-02", "2025-01-01"],
            "model_version": ["v2", "v1", "v1", "v1", "v2"],
            "y_true": [1, 1, 0, None, 0],
            "y_pred": [1, 0, 1, 1, 0],
        }
    )
    accounts = account(frame, MATRIX, by=["date", "model_version"], positive_class=1)
    summary = accounts.summary(1)
    assert list(summary.columns[:2]) == ["date", "model_version"]
    # sorted by key; (2025-01-02, v1) has only an unlabeled row
    assert list(zip(summary.date, summary.model_version, strict=True)) == [
        ("2025-01-01", "v1"),
        ("2025-01-01", "v2"),
        ("2025-01-02", "v1"),
        ("2025-01-02", "v2"),
    ]
    assert summary.n_predictions.tolist() == [2, 1, 1, 1]
    assert summary.n_labeled.tolist() == [2, 1, 0, 1]
    assert summary.fn.tolist() == [1, 0, 0, 0]
    assert summary.fp.tolist() == [1, 0, 0, 0]
    assert summary.tn.tolist() == [0, 1, 0, 0]
    assert summary.tp.tolist() == [0, 0, 0, 1]
    assert summary.profit.tolist() == [-1200, 0, 0, 1500]
    assert summary.baseline_profit.tolist() == [-1000, 0, 0, -1000]
    np.testing.assert_array_equal(summary.label_coverage, [1, 1, 0, 1])

    cells = accounts.cells()
    assert list(cells.columns) == [
        "date",
        "model_version",
        "true_class",
        "predicted_class",
        "count",
        "value",
    ]
    assert len(cells) == 4 * 4
    first_day_v1 = cells[(cells.date == "2025-01-01") & (cells.model_version == "v1")]
    assert first_day_v1["count"].tolist() == [0, 1, 1, 0]  # (0,0) (0,1) (1,0) (1,1)
    assert first_day_v1["value"].tolist() == [0, -200, -1000, 0]


def test_grouping_by_a_missing_column_is_an_input_error() -> None:
    with pytest.raises(InputError, match="date"):
        account(four_quadrant_day(), MATRIX, by=["date"], positive_class=1)


def test_missing_y_true_is_an_input_error() -> None:
    with pytest.raises(InputError, match="y_true"):
        account(pd.DataFrame({"y_pred": [1]}), MATRIX, positive_class=1)


def test_missing_y_pred_is_an_input_error() -> None:
    with pytest.raises(InputError, match="y_pred"):
        account(pd.DataFrame({"y_true": [1]}), MATRIX, positive_class=1)


def test_undeclared_class_is_an_input_error_naming_the_column() -> None:
    with pytest.raises(InputError, match=r"y_pred.*'maybe'"):
        account(rows((1, "maybe")), MATRIX, positive_class=1)


def test_null_decision_on_a_labeled_row_is_an_input_error() -> None:
    with pytest.raises(InputError, match="y_pred"):
        account(rows((1, None)), MATRIX, positive_class=1)


def test_encode_classes_maps_labels_to_positions_and_null_to_minus_one() -> None:
    codes = encode_classes(["b", None, "a", "c"], ["a", "b", "c"], column="y_true")
    assert codes.tolist() == [1, -1, 0, 2]


def test_one_vs_rest_of_a_hand_matrix() -> None:
    counts = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    values = counts * 10.0
    quadrants = one_vs_rest(counts, values, positive_code=1)
    assert {q: int(c) for q, (c, _) in quadrants.items()} == {
        "tp": 5,
        "fp": 2 + 8,
        "fn": 4 + 6,
        "tn": 1 + 3 + 7 + 9,
    }
    assert float(quadrants["tn"][1]) == 200.0
