"""Attribute a change in profit to the quadrants, and within each to volume and value.

For two periods A (before) and B (after), on per-day averages:
``Δprofit = Σ_q Δvalue_q``, and for each quadrant
``Δvalue_q = (n_B − n_A) × v̄_A  +  n_B × (v̄_B − v̄_A)``
(volume effect + value-per-row effect, where ``v̄`` is the mean value per row). The two
effects add up to ``Δvalue_q`` exactly; a quadrant empty in A has all its change as
volume at the value per row it has in B, and one empty in B loses all of it as volume.

For a flag, A and B are the mature days on either side of its start date
(:func:`around`): a decline's attribution then says where the money it lost went.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from guap_pipeline.formatting import money
from guap_pipeline.series.recent import RECENT_DAYS
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


def around(
    rows: pd.DataFrame, change: object, *, days: int = RECENT_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The daily rows of up to ``days`` mature days before ``change`` and from it on.

    Both periods sit next to the change point (the last mature days before it, the first
    ones from it), so the comparison is the change itself, not drift long after it.
    """
    mature = rows[rows["mature"].fillna(False).astype(bool)]
    when = pd.to_datetime(mature["date"])
    at = pd.Timestamp(change)
    before = np.sort(when[when < at].unique())[-days:]
    after = np.sort(when[when >= at].unique())[:days]
    return mature[when.isin(before)], mature[when.isin(after)]


def describe(table: pd.DataFrame, *, top: int = 3, currency: str = "") -> str:
    """One line: the change of profit per day, then the quadrants that moved it most.

    e.g. ``−12.4k EUR/day: fraud paid out −15.1k EUR (310 more a day), fraud stopped
    +2.1k EUR (40 more a day)``
    """
    total = float(table["delta"].sum())
    shown = money(total, currency, compact=True, signed=True)
    return f"{shown}/day: {movers(table, top=top, currency=currency)}"


def movers(table: pd.DataFrame, *, top: int = 3, currency: str = "") -> str:
    """The quadrants that moved the most, e.g. ``fraud paid out −15.1k EUR (310 more a
    day)``: each amount in the currency of the total it explains."""
    biggest = table.reindex(table["delta"].abs().sort_values(ascending=False).index).head(top)
    parts = [
        f"{row.name} {money(row.delta, currency, compact=True, signed=True)} "
        f"({_count_change(row.count_after - row.count_before)})"
        for row in biggest.itertuples()
        if money(row.delta, compact=True) != "0"
    ]
    return ", ".join(parts) if parts else "no quadrant moved"


def _count_change(change: float) -> str:
    """``30 more a day``, ``8 fewer a day``, ``as many a day`` (rounded to whole rows)."""
    rounded = int(np.round(change))
    if rounded == 0:
        return "as many a day"
    return f"{abs(rounded):,} {'more' if rounded > 0 else 'fewer'} a day"
