"""A table column as float64 numbers, missing values NaN: the one conversion the money,
the estimate and the flags read numbers through.

What a caller does with what is not a number differs on purpose, so it is a parameter:
the money refuses it (a labeled row must be priced), the estimate drops it (a row
without a score is no evidence), the flags refuse a column of text but take gaps.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray


def as_floats(values: pd.Series, *, not_numeric: Literal["nan", "raise"]) -> NDArray[np.float64]:
    """``values`` as float64, missing values NaN. A value that is not a number becomes NaN
    (``"nan"``) or raises ``ValueError``/``TypeError`` (``"raise"``; the caller names the
    column in its own error)."""
    numbers = pd.to_numeric(values, errors="coerce" if not_numeric == "nan" else "raise")
    return np.asarray(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
