"""Property tests: account() and profit_curve() against a deliberately naive reference.

The reference below loops over rows with plain dicts and reads the SPEC definitions
literally; it shares no code with guap_pipeline beyond building the ValueMatrix input.

Money is drawn on a dyadic grid (integer constants, rates like 0.25 or 1.5, amounts in
halves) so every sum is exact in floating point whatever the summation order: the
reference and the library then agree to the last bit, and "oracle − baseline = 0" (where
value_capture is NaN) means the same thing on both sides.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guap_pipeline import SUMMARY_COLUMNS, ValueMatrix, account, normalized_profit
from guap_pipeline.money.one_day import CURVE_GRID
from guap_pipeline.money.threshold import descending_curve, hindsight, profit_curve

RATES = (-2.0, -1.0, -0.5, 0.25, 0.5, 1.0, 1.5)
GROUPINGS = (
    (),
    ("date",),
    ("model_version",),
    ("date", "model_version"),
    ("model_version", "date"),
)
QUADRANT_SIDES = {
    "tp": (True, True),
    "fp": (False, True),
    "fn": (True, False),
    "tn": (False, False),
}

Cell = int | dict[str, float]
Row = dict[str, Any]

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


@dataclass(frozen=True)
class Case:
    classes: list[Hashable]
    cells: list[list[Cell]]
    rows: list[Row]
    by: tuple[str, ...]
    baseline: str
    positive_class: Hashable | None
    summary_positive: Hashable | None
    object_dtype: bool


# --------------------------------------------------------------------------- strategies


def class_labels(k: int) -> st.SearchStrategy[list[Hashable]]:
    ints = st.lists(st.integers(-5, 50), min_size=k, max_size=k, unique=True)
    strs = st.lists(st.text("abcxyz", min_size=1, max_size=3), min_size=k, max_size=k, unique=True)
    return st.one_of(ints, strs)


cells_strategy: st.SearchStrategy[Cell] = st.one_of(
    st.integers(-2000, 2000),
    st.fixed_dictionaries(
        {"constant": st.integers(-50, 50)},
        optional={"amount": st.sampled_from(RATES), "qty": st.sampled_from(RATES)},
    ),
)


def matrix_cells(k: int) -> st.SearchStrategy[list[list[Cell]]]:
    return st.lists(st.lists(cells_strategy, min_size=k, max_size=k), min_size=k, max_size=k)


amounts = st.integers(0, 20_000).map(lambda x: x / 2)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    k = draw(st.integers(2, 4))
    classes = draw(class_labels(k))
    cells = draw(matrix_cells(k))
    # small pools make single-class groups and never-predicted classes common
    true_pool = draw(st.lists(st.sampled_from(classes), min_size=1, max_size=k, unique=True))
    pred_pool = draw(st.lists(st.sampled_from(classes), min_size=1, max_size=k, unique=True))
    versions = draw(st.sampled_from([["v1", "v2"], [2, 10], ["only"]]))
    row = st.fixed_dictionaries(
        {
            "date": st.sampled_from(["2025-01-01", "2025-01-02", "2025-01-03"]),
            "model_version": st.sampled_from(versions),
            "y_true": st.one_of(st.none(), st.sampled_from(true_pool)),
            "y_pred": st.sampled_from(pred_pool),
            "baseline_pred": st.sampled_from(classes),
            "amount": amounts,
            "qty": st.integers(0, 100),
        }
    )
    rows = draw(st.lists(row, max_size=40))
    if k == 2:
        positive = draw(st.sampled_from(classes))
        baseline = draw(st.sampled_from(["all_negative", "all_positive", "baseline_pred"]))
        summary_positive = draw(st.one_of(st.just(positive), st.none()))
    else:
        positive = None
        baseline = "baseline_pred"
        summary_positive = draw(st.one_of(st.none(), st.sampled_from(classes)))
    return Case(
        classes=classes,
        cells=cells,
        rows=rows,
        by=draw(st.sampled_from(GROUPINGS)),
        baseline=baseline,
        positive_class=positive,
        summary_positive=summary_positive,
        object_dtype=draw(st.booleans()),
    )


def frame_of(case: Case) -> pd.DataFrame:
    columns = ["date", "model_version", "y_true", "y_pred", "baseline_pred", "amount", "qty"]
    frame = pd.DataFrame(case.rows, columns=columns)
    if case.object_dtype:
        for column in ("y_true", "y_pred", "baseline_pred"):
            frame[column] = pd.Series(
                [r[column] for r in case.rows], dtype=object, index=frame.index
            )
    return frame


# --------------------------------------------------------------------------- naive reference


def cell_value(cell: Cell, row: Mapping[str, Any]) -> float:
    if isinstance(cell, int):
        return float(cell)
    total = float(cell["constant"])
    for column, rate in cell.items():
        if column != "constant":
            total += rate * row[column]
    return total


def value_of(case: Case, row: Row, true: Hashable, pred: Hashable) -> float:
    return cell_value(case.cells[case.classes.index(true)][case.classes.index(pred)], row)


def baseline_decision(case: Case, row: Row) -> Hashable:
    if case.baseline == "baseline_pred":
        return row["baseline_pred"]
    if case.baseline == "all_positive":
        return case.positive_class
    return next(c for c in case.classes if c != case.positive_class)


def reference_group(case: Case, rows: list[Row]) -> tuple[dict[str, Any], dict[tuple, list]]:
    cells = {(t, p): [0, 0.0] for t in case.classes for p in case.classes}
    profit = baseline = oracle = 0.0
    labeled = 0
    for row in rows:
        true = row["y_true"]
        if true is None:
            continue
        labeled += 1
        value = value_of(case, row, true, row["y_pred"])
        cells[(true, row["y_pred"])][0] += 1
        cells[(true, row["y_pred"])][1] += value
        profit += value
        baseline += value_of(case, row, true, baseline_decision(case, row))
        oracle += max(value_of(case, row, true, p) for p in case.classes)

    out: dict[str, Any] = {
        "n_predictions": len(rows),
        "n_labeled": labeled,
        "label_coverage": labeled / len(rows) if rows else math.nan,
    }
    pos = case.summary_positive
    for q, (true_pos, pred_pos) in QUADRANT_SIDES.items():
        if pos is None:
            out[q] = out[f"value_{q}"] = None
            continue
        count, value = 0, 0.0
        for (t, p), (n, v) in cells.items():
            if (t == pos) == true_pos and (p == pos) == pred_pos:
                count += n
                value += v
        out[q], out[f"value_{q}"] = count, value
    out["profit"] = profit
    out["profit_per_prediction"] = profit / labeled if labeled else math.nan
    out["baseline_profit"] = baseline
    out["uplift"] = profit - baseline
    out["oracle_profit"] = oracle
    headroom = oracle - baseline
    out["value_capture"] = (profit - baseline) / headroom if headroom != 0 else math.nan

    per_predicted_class = 0.0
    for p in case.classes:
        n = sum(cells[(t, p)][0] for t in case.classes)
        if n:
            per_predicted_class += sum(cells[(t, p)][1] for t in case.classes) / n
    out["per_predicted_class"] = per_predicted_class
    return out, cells


def reference(case: Case) -> dict[tuple, tuple[dict[str, Any], dict[tuple, list]]]:
    groups: dict[tuple, list[Row]] = {} if case.by else {(): []}
    for row in case.rows:
        groups.setdefault(tuple(row[c] for c in case.by), []).append(row)
    return {key: reference_group(case, groups[key]) for key in sorted(groups)}


def assert_same(got: object, want: object, what: str) -> None:
    if want is None or (isinstance(want, float) and math.isnan(want)):
        assert pd.isna(got), f"{what}: got {got!r}, want null"
        return
    assert not pd.isna(got), f"{what}: got null, want {want!r}"
    if isinstance(want, int):
        assert int(got) == want, f"{what}: got {got!r}, want {want!r}"
    else:
        assert math.isclose(float(got), want, rel_tol=1e-9, abs_tol=1e-6), (
            f"{what}: got {got!r}, want {want!r}"
        )


# --------------------------------------------------------------------------- properties


@pytest.mark.slow  # many generated tables against a naive loop
@PROPERTY_SETTINGS
@given(cases())
def test_summary_matches_naive_reference(case: Case) -> None:
    matrix = ValueMatrix.from_nested(case.cells, classes=case.classes)
    accounts = account(
        frame_of(case),
        matrix,
        by=list(case.by),
        baseline=case.baseline,
        positive_class=case.positive_class,
    )
    summary = accounts.summary(positive_class=case.summary_positive)
    expected = reference(case)

    assert list(summary.columns) == [*case.by, *SUMMARY_COLUMNS]
    keys = [tuple(record) for record in summary[list(case.by)].itertuples(index=False)]
    assert keys == list(expected)  # one row per group, sorted by key
    per_class = normalized_profit(accounts.counts, accounts.values, normalize="per_predicted_class")
    for i, (key, (want, _)) in enumerate(expected.items()):
        for column in SUMMARY_COLUMNS:
            assert_same(summary[column].iloc[i], want[column], f"{key} {column}")
        assert_same(per_class[i], want["per_predicted_class"], f"{key} per_predicted_class")


@pytest.mark.slow  # many generated tables against a naive loop
@PROPERTY_SETTINGS
@given(cases())
def test_cells_match_naive_reference(case: Case) -> None:
    matrix = ValueMatrix.from_nested(case.cells, classes=case.classes)
    accounts = account(
        frame_of(case),
        matrix,
        by=list(case.by),
        baseline=case.baseline,
        positive_class=case.positive_class,
    )
    cells = accounts.cells()
    expected = reference(case)

    assert list(cells.columns) == [*case.by, "true_class", "predicted_class", "count", "value"]
    want_rows = [
        (*key, t, p, n, v)
        for key, (_, group_cells) in expected.items()
        for (t, p), (n, v) in group_cells.items()
    ]
    got_rows = list(cells.itertuples(index=False, name=None))
    assert len(got_rows) == len(want_rows) == len(expected) * len(case.classes) ** 2
    width = len(case.by) + 2
    for got, want in zip(got_rows, want_rows, strict=True):
        assert tuple(got[:width]) == tuple(want[:width])
        assert got[width] == want[width]
        assert math.isclose(got[width + 1], want[width + 1], rel_tol=1e-9, abs_tol=1e-6)


@pytest.mark.slow  # many generated tables against a naive loop
@PROPERTY_SETTINGS
@given(cases())
def test_oracle_bounds_the_model_and_the_baseline(case: Case) -> None:
    matrix = ValueMatrix.from_nested(case.cells, classes=case.classes)
    summary = account(
        frame_of(case),
        matrix,
        by=list(case.by),
        baseline=case.baseline,
        positive_class=case.positive_class,
    ).summary(positive_class=case.summary_positive)
    assert (summary.oracle_profit >= summary.profit).all()
    assert (summary.oracle_profit >= summary.baseline_profit).all()
    capture = summary.value_capture.dropna()
    assert (capture <= 1 + 1e-12).all()


@dataclass(frozen=True)
class CurveCase:
    classes: list[Hashable]
    positive: Hashable
    cells: list[list[Cell]]
    rows: list[Row]
    realized: float


@st.composite
def curve_cases(draw: st.DrawFn) -> CurveCase:
    classes = draw(class_labels(2))
    score = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), st.floats(0.0, 1.0))
    row = st.fixed_dictionaries(
        {
            "y_true": st.sampled_from(classes),
            "score": score,
            "amount": amounts,
            "qty": st.integers(0, 100),
        }
    )
    return CurveCase(
        classes=classes,
        positive=draw(st.sampled_from(classes)),
        cells=draw(matrix_cells(2)),
        rows=draw(st.lists(row, max_size=30)),
        realized=float(draw(st.integers(-10_000, 10_000))),
    )


def naive_curve_point(case: CurveCase, threshold: float) -> tuple[float, int]:
    """Profit and rows predicted positive when ``score >= threshold`` is predicted positive."""
    negative = next(c for c in case.classes if c != case.positive)
    profit, flagged = 0.0, 0
    for r in case.rows:
        decision = case.positive if r["score"] >= threshold else negative
        flagged += decision == case.positive
        cell = case.cells[case.classes.index(r["y_true"])][case.classes.index(decision)]
        profit += cell_value(cell, r)
    return profit, flagged


def curve_inputs(case: CurveCase) -> tuple[list[int], list[float], ValueMatrix, dict]:
    matrix = ValueMatrix.from_nested(case.cells, classes=case.classes)
    return (
        [case.classes.index(r["y_true"]) for r in case.rows],
        [r["score"] for r in case.rows],
        matrix,
        {"positive_class": case.positive, "columns": curve_columns(case)},
    )


def curve_columns(case: CurveCase) -> dict[str, list]:
    return {c: [r[c] for r in case.rows] for c in ("amount", "qty")}


@PROPERTY_SETTINGS
@given(curve_cases())
def test_profit_curve_matches_naive_loop_over_thresholds(case: CurveCase) -> None:
    true, scores, matrix, options = curve_inputs(case)
    curve = profit_curve(true, scores, matrix, **options)

    thresholds = [*sorted({r["score"] for r in case.rows}), math.inf]
    want_profit, want_positive = zip(*(naive_curve_point(case, t) for t in thresholds), strict=True)

    assert curve.threshold.tolist() == thresholds
    assert curve.n_predicted_positive.tolist() == list(want_positive)
    for got, want in zip(curve.profit, want_profit, strict=True):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-6)

    best = max(want_profit)
    result = hindsight(curve, case.realized)
    assert math.isclose(result.best_profit, best, rel_tol=1e-9, abs_tol=1e-6)
    # ties go to the highest threshold
    assert result.best_threshold == max(
        t for t, p in zip(thresholds, want_profit, strict=True) if p == best
    )
    assert math.isclose(result.left_on_table, best - case.realized, rel_tol=1e-9, abs_tol=1e-6)


@PROPERTY_SETTINGS
@given(curve_cases())
def test_the_stored_curve_and_best_point_match_naive_loops(case: CurveCase) -> None:
    """What a day stores: profit at each grid threshold, and the best point."""
    true, scores, matrix, options = curve_inputs(case)
    curve = descending_curve(true, scores, matrix, **options)

    for threshold, got in zip(CURVE_GRID, curve.profit_at(CURVE_GRID), strict=True):
        want = naive_curve_point(case, threshold)[0]
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-6), threshold

    points = {t: naive_curve_point(case, t)[0] for t in {r["score"] for r in case.rows}}
    points[math.inf] = naive_curve_point(case, math.inf)[0]
    best = curve.best(case.realized)
    want = max(points.values())
    assert math.isclose(best.best_profit, want, rel_tol=1e-9, abs_tol=1e-6)
    assert best.best_threshold == max(t for t, p in points.items() if p == want)  # ties: highest
    assert best.realized_profit == case.realized
