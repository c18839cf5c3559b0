"""Which days of a daily summary table the flags read, and its columns as arrays.

Kept apart from :mod:`~guap_pipeline.flags.series` (which needs SciPy, slow to import):
a flag's message counts its days and volume over the same rows, and the quick commands
that print messages must not load the detectors.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from guap_pipeline.errors import FlagInputError
from guap_pipeline.flags.settings import FlagSettings
from guap_pipeline.numeric import as_floats


@dataclass(frozen=True)
class DailyColumns:
    """The columns of a daily summary table the flags read, as arrays."""

    dates: NDArray[np.datetime64]
    n_labeled: NDArray[np.float64]
    n_predictions: NDArray[np.float64]  # ``n_labeled`` where the table has none
    uplift: NDArray[np.float64]

    @classmethod
    def of(cls, daily: pd.DataFrame) -> DailyColumns:
        dates = dates_of(daily["date"])  # read in this order: the first bad one is told
        n_labeled, uplift = numbers_of(daily, "n_labeled"), numbers_of(daily, "uplift")
        has = "n_predictions" in daily
        n_predictions = numbers_of(daily, "n_predictions") if has else n_labeled
        return cls(dates, n_labeled, n_predictions, uplift)


def usable_days(
    daily: pd.DataFrame, settings: FlagSettings, columns: DailyColumns | None = None
) -> NDArray[np.bool_]:
    """Which rows of a daily summary table the detectors read: mature days (strictly so
    inside the label window, see :class:`FlagSettings`) with labels and a finite uplift.
    A flag's message takes its days and volume from these rows too. ``columns``: the
    table's, when the caller has read them already."""
    c = columns if columns is not None else DailyColumns.of(daily)
    window_passed = c.dates <= c.dates.max() - np.timedelta64(settings.label_window_days, "D")
    if "mature" in daily.columns:
        mature = daily["mature"].fillna(False).to_numpy(dtype=bool, copy=True)
        if settings.strict_maturity:
            mature &= window_passed | (c.n_labeled >= c.n_predictions)
    else:
        mature = window_passed
    return mature & (c.n_labeled > 0) & np.isfinite(c.uplift)


def dates_of(values: pd.Series) -> NDArray[np.datetime64]:
    """The ``date`` column as calendar days; unreadable or empty dates are refused."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
            parsed = pd.to_datetime(values)
    except (ValueError, TypeError) as exc:
        raise FlagInputError(f"column 'date' cannot be read as dates: {exc}") from None
    if parsed.isna().any():
        raise FlagInputError("column 'date' has empty values")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.to_numpy(dtype="datetime64[D]")


def numbers_of(daily: pd.DataFrame, column: str) -> NDArray[np.float64]:
    """A column of the daily table as numbers; gaps (NaN) are kept, text is refused."""
    try:
        return as_floats(daily[column], not_numeric="raise")
    except (ValueError, TypeError):
        raise FlagInputError(f"column '{column}' must be numeric") from None
