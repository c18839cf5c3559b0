"""Profit before the labels land: a calibrated estimate for immature days, with intervals.

The method is described in :mod:`~guap_pipeline.estimate.monte_carlo`; each of its steps
has its module: ``calibration``, ``delays`` (late labels), ``recalibration`` (fresh
labels), ``prior_shift``, ``monte_carlo`` (the engine and its interval), ``rows`` (frames
to arrays), ``table`` (the daily table's estimate columns), ``from_store``.

Imports: ``errors``, ``formatting``, ``value_matrix``, ``config``, ``store``, ``ingest``.
"""

from guap_pipeline.estimate.calibration import Calibration, fit_calibration
from guap_pipeline.estimate.delays import LabelDelays, fit_label_delays
from guap_pipeline.estimate.from_store import estimate_days
from guap_pipeline.estimate.monte_carlo import LEVEL, N_REPLICATES, estimate_unlabeled
from guap_pipeline.estimate.prior_shift import PriorFit, adapt_prior, class_balance_fit
from guap_pipeline.estimate.recalibration import Recalibration, recalibrate
from guap_pipeline.estimate.rows import DayRows, ReferenceRows
from guap_pipeline.estimate.table import (
    ESTIMATE_COLUMNS,
    ESTIMATED_PROFIT,
    REFERENCE_DAYS,
    estimate_frame,
    estimate_kinds,
    overall_estimate,
)

__all__ = [
    "ESTIMATED_PROFIT",
    "ESTIMATE_COLUMNS",
    "LEVEL",
    "N_REPLICATES",
    "REFERENCE_DAYS",
    "Calibration",
    "DayRows",
    "LabelDelays",
    "PriorFit",
    "Recalibration",
    "ReferenceRows",
    "adapt_prior",
    "class_balance_fit",
    "estimate_days",
    "estimate_frame",
    "estimate_kinds",
    "estimate_unlabeled",
    "fit_calibration",
    "fit_label_delays",
    "overall_estimate",
    "recalibrate",
]
