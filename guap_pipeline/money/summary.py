"""A daily table's money columns from its sums: the ratio figures (one definition of
each) and, for a binary table that carries only quadrant counts, the money itself."""

from __future__ import annotations

from collections.abc import Hashable

import pandas as pd

from guap_pipeline.errors import InputError
from guap_pipeline.value_matrix import QUADRANTS, ValueMatrix


def summary_from_counts(
    counts: pd.DataFrame,
    matrix: ValueMatrix,
    *,
    baseline: str = "all_negative",
    positive_class: Hashable,
) -> pd.DataFrame:
    """Money columns of a binary daily table that only carries quadrant counts.

    For tables aggregated elsewhere (e.g. a warehouse): ``tp, fp, fn, tn`` and
    ``n_labeled`` are enough with a constant value matrix and an ``all_negative`` or
    ``all_positive`` baseline. Example-dependent values or a ``baseline_pred`` baseline
    cannot be recovered from counts; then the table must carry the money columns.
    """
    missing = [c for c in (*QUADRANTS, "n_labeled") if c not in counts.columns]
    if missing:
        raise InputError(f"daily table lacks column(s) {missing}")
    if matrix.n_classes != 2:
        raise InputError("recomputing money from tp/fp/fn/tn needs a binary value matrix")
    if matrix.columns or baseline == "baseline_pred":
        needed = [
            *(f"value_{q}" for q in QUADRANTS),
            "baseline_profit",
            "oracle_profit",
        ]
        absent = [c for c in needed if c not in counts.columns]
        if absent:
            raise InputError(
                "example-dependent values or a baseline_pred baseline cannot be recomputed "
                f"from counts: the table must carry {absent}"
            )
    out = counts.copy()
    if not (matrix.columns or baseline == "baseline_pred"):
        v = matrix.constants()
        pos = matrix.classes.index(positive_class)
        neg = 1 - pos
        n = {q: out[q].astype("float64") for q in QUADRANTS}
        cell = {"tp": (pos, pos), "fp": (neg, pos), "fn": (pos, neg), "tn": (neg, neg)}
        for q, (t, p) in cell.items():
            out[f"value_{q}"] = n[q] * v[t, p]
        positives, negatives = n["tp"] + n["fn"], n["fp"] + n["tn"]
        decision = pos if baseline == "all_positive" else neg
        out["baseline_profit"] = positives * v[pos, decision] + negatives * v[neg, decision]
        out["oracle_profit"] = positives * v[pos].max() + negatives * v[neg].max()
    out["profit"] = sum(out[f"value_{q}"] for q in QUADRANTS)
    out["uplift"] = out["profit"] - out["baseline_profit"]
    return with_ratios(out)


# The figures with_ratios derives from the sums: they never add up across rows.
RATIO_COLUMNS = ("label_coverage", "profit_per_prediction", "value_capture")


def with_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ratio figures (re)computed from its sums, the one definition of
    each: ``label_coverage`` (labeled / predictions; only with ``n_predictions``),
    ``profit_per_prediction`` (profit / labeled) and ``value_capture`` (uplift / the
    oracle's headroom over the baseline); NaN where the denominator is zero."""
    out = frame.copy()
    n_lab = out["n_labeled"].astype("float64")
    if "n_predictions" in out.columns:
        n_pred = out["n_predictions"].astype("float64")
        out["label_coverage"] = (n_lab / n_pred).where(n_pred > 0)
    out["profit_per_prediction"] = (out["profit"] / n_lab).where(n_lab > 0)
    headroom = out["oracle_profit"] - out["baseline_profit"]
    out["value_capture"] = (out["uplift"] / headroom).where(headroom != 0)
    return out
