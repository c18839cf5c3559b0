"""Which days of a daily summary table the flags read, and its columns as arrays.

Kept apart from :mod:`~guap_pipeline.flags.series` (which needs SciPy, slow to import):
a flag's message counts its days and volume over the same rows, and the quick commands
that print messages must not load the detectors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from guap_pipeline.errors import FlagInputError
from guap_pipeline.flags.settings import FlagSettings
from guap_pipeline.numeric import as_floats


def usable_days(daily: pd.DataFrame, settings: FlagSettings) -> NDArray[np.bool_]:
    """Which rows of a daily summary table the detectors read: mature days (strictly so
    inside the label window, see :class:`FlagSettings`) with labels and a finite uplift.
    A flag's message takes its days and volume from these rows too."""
    dates = dates_of(daily["date"])
    n_labeled = numbers_of(daily, "n_labeled")
    n_predictions = numbers_of(daily, "n_predictions") if "n_predictions" in daily else n_labeled
    window_passed = dates <= dates.max() - np.timedelta64(settings.label_window_days, "D")
    if "mature" in daily.columns:
        mature = daily["mature"].fillna(False).to_numpy(dtype=bool, copy=True)
        if settings.strict_maturity:
            mature &= window_passed | (n_labeled >= n_predictions)
    else:
        mature = window_passed
    return mature & (n_labeled > 0) & np.isfinite(numbers_of(daily, "uplift"))


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
