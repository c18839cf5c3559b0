"""Attribute a change in profit to the quadrants, and within each to volume and value.

For two periods A (before) and B (after), on per-day averages:
``Δprofit = Σ_q Δvalue_q``, and for each quadrant
``Δvalue_q = (n_B − n_A) × v̄_A  +  n_B × (v̄_B − v̄_A)``
(volume effect + value-per-row effect, where ``v̄`` is the mean value per row). The two
effects add up to ``Δvalue_q`` exactly; a quadrant empty in A has all its change as
volume at the value per row it has in B, and one empty in B loses all of it as volume.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from guap_pipeline.value_matrix import QUADRANTS

ATTRIBUTION_COLUMNS = (
    "quadrant",
    "name",
    "count_before",
    "count_after",
    "value_before",
    "value_after",
    "delta",
    "volume_effect",
    "rate_effect",
)


def per_day(rows: pd.DataFrame) -> pd.Series:
    """Mean daily count and value of each quadrant over a period's daily rows."""
    n_days = max(rows["date"].nunique(), 1)
    columns = [*QUADRANTS, *(f"value_{q}" for q in QUADRANTS)]
    return rows[columns].sum().astype("float64") / n_days


def attribute(
    before: pd.DataFrame, after: pd.DataFrame, names: dict[str, str] | None = None
) -> pd.DataFrame:
    """Per-quadrant change in mean daily value from ``before`` to ``after``, split."""
    a, b = per_day(before), per_day(after)
    names = names or {q: q.upper() for q in QUADRANTS}
    rows = []
    for q in QUADRANTS:
        n_a, n_b, v_a, v_b = a[q], b[q], a[f"value_{q}"], b[f"value_{q}"]
        rate_a = v_a / n_a if n_a else (v_b / n_b if n_b else 0.0)
        volume = (n_b - n_a) * rate_a
        rows.append(
            {
                "quadrant": q,
                "name": names[q],
                "count_before": n_a,
                "count_after": n_b,
                "value_before": v_a,
                "value_after": v_b,
                "delta": v_b - v_a,
                "volume_effect": volume,
                "rate_effect": (v_b - v_a) - volume,
            }
        )
    return pd.DataFrame(rows, columns=list(ATTRIBUTION_COLUMNS))


def _short_money(value: float) -> str:
    sign = "−" if value < 0 else "+"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{sign}{magnitude / 1000:,.1f}k"
    return f"{sign}{magnitude:,.0f}"


def describe(table: pd.DataFrame, *, top: int = 3) -> str:
    """One line: total change per day, then the quadrants that moved it most.

    e.g. ``−12.4k/day: FN +310/day (−15.1k), FP −40/day (+2.1k)``
    """
    total = float(table["delta"].sum())
    movers = table.reindex(table["delta"].abs().sort_values(ascending=False).index).head(top)
    parts = [
        f"{row.name} {int(np.round(row.count_after - row.count_before)):+,}/day "
        f"({_short_money(row.delta)})"
        for row in movers.itertuples()
        if abs(row.delta) > 0
    ]
    return f"{_short_money(total)}/day: " + (", ".join(parts) if parts else "no quadrant moved")
