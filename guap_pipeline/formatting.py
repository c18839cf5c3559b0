"""Numbers and dates for people: one home for how money and days read in summaries,
messages and reports.

Money is shown whole (``1,250``) or compact (``3.3k``, ``1.2M``), with the config's
currency after it (``3.3k EUR``) when one is set. A negative amount carries a real minus
sign (``−3.3k``); ``signed=True`` also puts ``+`` before a positive one, for changes.
Shares read as percentages with one decimal (``99.1%``), money per prediction with
``DECIMALS``: no figure meant for people carries more decimals than that.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

MINUS = "\u2212"
DECIMALS = 2  # the most decimals a figure for people shows (money per prediction: cents)
COMPACT_UNITS = ((1e9, "bn"), (1e6, "M"), (1e3, "k"))


def as_number(value: object) -> float:
    """A table field as a float; NaN when missing or not a number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def money(value: object, currency: str = "", *, compact: bool = False, signed: bool = False) -> str:
    """``value`` as money for a reader: ``1,250``, ``−3.3k EUR``, ``+410``; ``n/a`` if missing.

    >>> money(-3295.4, "EUR", compact=True), money(1250), money(12, signed=True)
    ('−3.3k EUR', '1,250', '+12')
    """
    number = as_number(value)
    if not math.isfinite(number):
        return "n/a"
    magnitude = abs(number)
    text = f"{magnitude:,.0f}"
    if compact:
        for size, unit in COMPACT_UNITS:
            if round(magnitude / size, 1) >= 1:  # 999.96 reads 1.0k, not 1,000
                text = f"{magnitude / size:,.1f}{unit}"
                break
    if text.strip("0.,") == "":  # rounds to zero: no sign
        return "0" + (f" {currency}" if currency else "")
    sign = MINUS if number < 0 else ("+" if signed else "")
    return f"{sign}{text}" + (f" {currency}" if currency else "")


def day(value: object, *, today: dt.date | None = None) -> str:
    """A date as people write it: ``6 May``, with the year when it is not ``today``'s.

    >>> day("2025-05-06", today=dt.date(2025, 7, 1)), day("2024-12-30", today=dt.date(2025, 1, 2))
    ('6 May', '30 Dec 2024')
    """
    date = pd.Timestamp(value).date()
    text = f"{date.day} {date:%b}"
    return text if today is not None and date.year == today.year else f"{text} {date.year}"


def percent(value: object) -> str:
    """A share as a percentage, ``99.1%``; ``n/a`` when undefined (nothing labeled).

    >>> percent(0.99142), percent(float("nan"))
    ('99.1%', 'n/a')
    """
    number = as_number(value)
    return "n/a" if not math.isfinite(number) else f"{number:.1%}"


def per_unit(value: object) -> str:
    """Money per prediction, to ``DECIMALS`` (``5.63``); ``n/a`` when undefined."""
    number = as_number(value)
    return "n/a" if not math.isfinite(number) else f"{number:,.{DECIMALS}f}"
