"""What a detector returns: the active flag with its evidence, or why it could not run."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FLAG_NAMES: tuple[str, ...] = ("decline", "plateau", "diminishing_returns")
FLAG_COLUMNS: tuple[str, ...] = (
    "series",
    "model_version",
    "flag",
    "start_date",
    "money_at_stake",
    "ceiling",
    "projected_date",
    "evidence",
)
EVIDENCE_COLUMNS: tuple[str, ...] = (
    "method",
    "statistic",
    "threshold",
    "p_value",
    "window_start",
    "window_end",
)


@dataclass(frozen=True)
class Flag:
    """One active flag. Money is per day in the value matrix's currency; NaN when n/a.

    ``statistic`` is compared with ``threshold`` (CUSUM) or summarised by ``p_value``
    (tests); ``window_start``/``window_end`` are the mature days the evidence used.
    """

    flag: str
    model_version: str
    start_date: np.datetime64 | None
    evidence: str
    method: str
    statistic: float = math.nan
    threshold: float = math.nan
    p_value: float = math.nan
    money_at_stake: float = math.nan
    ceiling: float = math.nan
    projected_date: np.datetime64 | None = None
    window_start: np.datetime64 | None = None
    window_end: np.datetime64 | None = None


@dataclass(frozen=True)
class Verdict:
    """A detector's answer: ``flag`` when active; ``note`` when it could not decide."""

    flag: Flag | None = None
    note: str | None = None


def fmt(value: float, digits: int = 3) -> str:
    """A number for evidence strings: ``digits`` significant digits, thousands separated."""
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:,.{digits}g}"
