"""ValueMatrix and CellValue: layout, parsing of cells, per-row and oracle values."""

from __future__ import annotations

import numpy as np
import pytest

from guap_pipeline import CellValue, ConfigError, InputError, ValueMatrix

FRAUD_NAMED = {
    "tp": {"constant": -5, "amount": 0.9},
    "fp": -20,
    "fn": {"amount": -1.0},
    "tn": 0,
}


def test_number_cell_is_a_constant() -> None:
    assert CellValue.parse(1500, "f") == CellValue(constant=1500.0)
    assert CellValue.parse(-2.5, "f") == CellValue(constant=-2.5)


def test_mapping_cell_reads_constant_and_rates_sorted_by_column() -> None:
    cell = CellValue.parse({"constant": -5, "qty": 2, "amount": 0.9}, "f")
    assert cell.constant == -5.0
    assert cell.rates == (("amount", 0.9), ("qty", 2.0))
    assert cell.columns == ("amount", "qty")


def test_mapping_cell_without_constant_has_zero_constant() -> None:
    assert CellValue.parse({"amount": -1}, "f") == CellValue(0.0, (("amount", -1.0),))


@pytest.mark.parametrize(
    "raw",
    ["1500", True, None, float("nan"), float("inf"), {}, [1, 2]],
    ids=["string", "bool", "none", "nan", "inf", "empty-mapping", "list"],
)
def test_cell_that_is_not_a_number_or_mapping_is_rejected(raw: object) -> None:
    with pytest.raises(ConfigError) as excinfo:
        CellValue.parse(raw, "value_matrix.tp")
    assert excinfo.value.field == "value_matrix.tp"


@pytest.mark.parametrize("rate", ["high", None, True, float("nan")])
def test_cell_rate_that_is_not_a_number_names_the_column(rate: object) -> None:
    with pytest.raises(ConfigError) as excinfo:
        CellValue.parse({"amount": rate}, "value_matrix.fn")
    assert excinfo.value.field == "value_matrix.fn.amount"
    assert "value_matrix.fn.amount" in str(excinfo.value)


def test_named_form_follows_sklearn_layout_rows_true_columns_predicted() -> None:
    m = ValueMatrix.from_named(
        {"tp": 1500, "fp": -200, "fn": -1000, "tn": 0}, classes=[0, 1], positive_class=1
    )
    np.testing.assert_array_equal(m.constants(), [[0, -200], [-1000, 1500]])


def test_named_form_with_positive_class_first() -> None:
    m = ValueMatrix.from_named(
        {"tp": 1, "fp": 2, "fn": 3, "tn": 4}, classes=["fraud", "legit"], positive_class="fraud"
    )
    # rows true (fraud, legit), columns predicted (fraud, legit)
    np.testing.assert_array_equal(m.constants(), [[1, 3], [2, 4]])


def test_named_and_nested_forms_agree() -> None:
    named = ValueMatrix.from_named(
        {"tp": 1500, "fp": -200, "fn": -1000, "tn": 0}, classes=[0, 1], positive_class=1
    )
    nested = ValueMatrix.from_nested([[0, -200], [-1000, 1500]], classes=[0, 1])
    assert named == nested


@pytest.mark.parametrize(
    ("named", "word"),
    [
        ({"tp": 1, "fp": 1, "fn": 1, "tn": 1, "tx": 1}, "tx"),
        ({"tp": 1, "fp": 1, "fn": 1}, "tn"),
    ],
    ids=["unknown", "missing"],
)
def test_named_form_needs_exactly_the_four_quadrants(named: dict, word: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        ValueMatrix.from_named(named, classes=[0, 1], positive_class=1)
    assert excinfo.value.field == "value_matrix"
    assert word in str(excinfo.value)


def test_named_form_refuses_multiclass() -> None:
    with pytest.raises(ConfigError, match="exactly 2 classes"):
        ValueMatrix.from_named(
            {"tp": 1, "fp": 1, "fn": 1, "tn": 1}, classes=[0, 1, 2], positive_class=1
        )


@pytest.mark.parametrize(
    "rows",
    [[[0, 1], [2]], [[0, 1, 2], [3, 4, 5]], [[0, 1]], "0 1 2 3", 5, [[0, 1], "ab"]],
    ids=["ragged", "2x3", "1x2", "string", "scalar", "string-row"],
)
def test_nested_form_of_wrong_shape_is_rejected(rows: object) -> None:
    with pytest.raises(ConfigError) as excinfo:
        ValueMatrix.from_nested(rows, classes=[0, 1])
    assert excinfo.value.field == "value_matrix"
    assert "2×2" in str(excinfo.value)


def test_nested_form_names_the_bad_cell() -> None:
    with pytest.raises(ConfigError) as excinfo:
        ValueMatrix.from_nested([[0, 1], [2, "x"]], classes=[0, 1])
    assert excinfo.value.field == "value_matrix[1][1]"


def test_multiclass_nested_matrix_is_accepted() -> None:
    m = ValueMatrix.from_nested([[1, 2, 3], [4, 5, 6], [7, 8, 9]], classes=["a", "b", "c"])
    assert m.n_classes == 3
    assert m.constants()[2, 0] == 7  # true "c", predicted "a"


def test_direct_construction_checks_the_shape() -> None:
    with pytest.raises(ConfigError, match="2×2"):
        ValueMatrix((0, 1), ((CellValue(),),))


def test_rates_array_places_each_column_rate_in_its_cell() -> None:
    m = ValueMatrix.from_named(FRAUD_NAMED, classes=[0, 1], positive_class=1)
    assert m.columns == ("amount",)
    expected = np.zeros((2, 2, 1))
    expected[1, 1, 0] = 0.9
    expected[1, 0, 0] = -1.0
    np.testing.assert_array_equal(m.rates(), expected)
    np.testing.assert_array_equal(m.constants(), [[0, -20], [0, -5]])


def test_row_values_of_example_dependent_cells() -> None:
    m = ValueMatrix.from_named(FRAUD_NAMED, classes=[0, 1], positive_class=1)
    true = [1, 1, 0, 0]
    pred = [1, 0, 1, 0]
    amount = [100.0, 50.0, 500.0, 70.0]
    # TP 0.9*100-5, FN -50, FP -20, TN 0
    np.testing.assert_allclose(m.row_values(true, pred, {"amount": amount}), [85, -50, -20, 0])


def test_oracle_picks_each_rows_best_cell_for_its_true_class() -> None:
    """With a review cost, stopping a small fraud loses money: the oracle lets it through."""
    m = ValueMatrix.from_named(
        {"tp": {"constant": -50, "amount": 0.1}, "fp": -20, "fn": {"amount": -0.01}, "tn": 0},
        classes=[0, 1],
        positive_class=1,
    )
    # small fraud: TP -40 vs FN -1 -> -1; big fraud: TP 50 vs FN -10 -> 50; legit: TN 0
    values = m.oracle_values([1, 1, 0], {"amount": [100.0, 1000.0, 100.0]})
    np.testing.assert_allclose(values, [-1.0, 50.0, 0.0])


def test_oracle_of_constant_matrix_is_the_row_maximum() -> None:
    m = ValueMatrix.from_nested([[1, 9, 3], [4, -5, -6], [-7, 8, 2]], classes=[0, 1, 2])
    np.testing.assert_array_equal(m.oracle_values([0, 1, 2, 2]), [9, 4, 8, 8])


def test_missing_data_column_is_an_input_error() -> None:
    m = ValueMatrix.from_named(FRAUD_NAMED, classes=[0, 1], positive_class=1)
    with pytest.raises(InputError, match="amount"):
        m.row_values([1], [1])


def test_non_finite_data_column_is_an_input_error() -> None:
    m = ValueMatrix.from_named(FRAUD_NAMED, classes=[0, 1], positive_class=1)
    with pytest.raises(InputError, match="amount"):
        m.row_values([1, 0], [1, 0], {"amount": [1.0, np.nan]})


def test_data_column_of_wrong_length_is_an_input_error() -> None:
    m = ValueMatrix.from_named(FRAUD_NAMED, classes=[0, 1], positive_class=1)
    with pytest.raises(InputError, match="shape"):
        m.row_values([1, 0], [1, 0], {"amount": [1.0]})


def test_as_table_shows_cells_for_humans() -> None:
    m = ValueMatrix.from_named(FRAUD_NAMED, classes=[0, 1], positive_class=1)
    assert m.as_table() == [["0", "-20"], ["-1×amount", "-5 + 0.9×amount"]]


@pytest.mark.parametrize(
    "rows",
    [
        [[0, {"amount": -1.0}], [{"constant": -5, "amount": 0.9}, 3]],  # one data column
        [  # multiclass, two data columns
            [1, {"amount": 0.5, "fee": -2}, -3],
            [{"fee": 1.25}, 0, {"constant": 2, "amount": -0.1}],
            [-1, 4, {"amount": 1.5, "fee": 0.3}],
        ],
    ],
)
def test_decision_values_are_row_values_of_each_constant_decision(rows: list) -> None:
    matrix = ValueMatrix.from_nested(rows, classes=list(range(len(rows))))
    rng = np.random.default_rng(3)
    true = rng.integers(0, len(rows), 200)
    columns = {"amount": rng.random(200) * 100, "fee": rng.random(200)}
    before = {c: v.copy() for c, v in columns.items()}
    got = list(matrix.decision_values(true, range(len(rows)), columns))
    for decision, values in enumerate(got):
        want = matrix.row_values(true, np.full(200, decision), columns)
        np.testing.assert_array_equal(values, want)
    np.testing.assert_array_equal(matrix.oracle_values(true, columns), np.max(got, axis=0))
    for column, values in before.items():  # read, not changed (one column is not copied)
        np.testing.assert_array_equal(columns[column], values)
