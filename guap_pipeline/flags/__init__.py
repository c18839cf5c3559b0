"""Trend flags on the daily money series: decline, plateau and diminishing returns.

Each flag watches uplift per labeled prediction (volume cannot fake it) on mature days
only (late, positives-last labels bias recent days), adjusted for the day of the week,
per model version (a new version restarts the reference), and comes with its evidence.

- ``decline`` — one-sided CUSUM calibrated for a stated false-alarm rate, dated and sized
  by PELT (:mod:`~guap_pipeline.flags.decline`); ``money_at_stake`` per day.
- ``plateau`` — growth, then the slope after a broken line's knot shown flat by an
  equivalence test (:mod:`~guap_pipeline.flags.plateau`).
- ``diminishing_returns`` — concave growth towards a fitted ceiling, with the projected
  date of getting within 5 % of it; or each model version adding less than the last
  (:mod:`~guap_pipeline.flags.diminishing`).

Imports: ``errors`` only: the flags need nothing of the pipeline but a daily table.

>>> from guap_pipeline.flags import FlagSettings, detect_flags, explain
>>> from guap_pipeline.datasets.flag_series import stable
>>> daily = stable(n_days=20, seed=1).daily.drop(columns="mature")
>>> detect_flags(daily).empty
True
>>> explain(daily)[0]
"decline: model version 'v1' has 6 mature days, needs 29 (28 to set its reference, then 1 to test)"
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from guap_pipeline.errors import FlagError, FlagInputError, FlagSettingsError
from guap_pipeline.flags.settings import FlagSettings
from guap_pipeline.flags.verdict import EVIDENCE_COLUMNS, FLAG_COLUMNS, FLAG_NAMES

if TYPE_CHECKING:
    from guap_pipeline.flags.detect import (
        FlagReport,
        assess,
        assess_by,
        detect_flags,
        detect_flags_by,
        explain,
        flags_frame,
    )


# The detectors pull in SciPy's statistics and ruptures (seconds to import): loaded on
# first use, so that reading a config (which holds FlagSettings) stays quick.
def __getattr__(name: str) -> object:
    if name in __all__:  # a name of the detectors': the others are imported above
        return getattr(importlib.import_module("guap_pipeline.flags.detect"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EVIDENCE_COLUMNS",
    "FLAG_COLUMNS",
    "FLAG_NAMES",
    "FlagError",
    "FlagInputError",
    "FlagReport",
    "FlagSettings",
    "FlagSettingsError",
    "assess",
    "assess_by",
    "detect_flags",
    "detect_flags_by",
    "explain",
    "flags_frame",
]
