"""Every knob of the trend flags, with defaults that work on daily money series.

Units: days are *mature days* (calendar days whose labels are complete), except
``label_window_days`` which counts calendar days. Slopes are in the level's currency per
day. Probabilities (``alpha``) are one-sided test sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from guap_pipeline.errors import FlagSettingsError


@dataclass(frozen=True)
class FlagSettings:
    """Settings of the three trend flags; every field has a sensible default.

    Maturity
        ``label_window_days`` — labels may take this many calendar days; without a
        ``mature`` column a day is mature once the window has passed.
        ``strict_maturity`` — inside the label window a day counts only when fully labeled
        (``n_labeled >= n_predictions``), even if the table marks it mature: positives are
        often labeled last, so a 95 % labeled day can still be biased low.

    Decline (one-sided CUSUM, dated by PELT; see :mod:`guap_pipeline.flags.decline`)
        ``reference_days`` — mature days of a model version that set its first reference
        level and noise (the reference then grows to 8× as the version ages); the version
        needs ``reference_days + 1`` mature days to be tested.
        ``false_alarms_per_year`` — the design false-alarm rate on stable data; the CUSUM
        threshold ``h`` is calibrated by simulation to meet it (unless ``cusum_h`` is set).
        A lower rate alerts later and more rarely, a higher one sooner and more often;
        what the default achieves is measured in ``benchmarks/README.md``.
        ``cusum_k`` — allowance, in long-run standard deviations per day (about half the
        smallest drop worth detecting). ``cusum_h`` — fixed threshold, overrides calibration.
        ``winsor_z`` — no single day moves the CUSUM by more than this many standard
        deviations (a one-day outlier cannot raise a decline on its own).
        ``rebaseline`` — raise the reference when the level has risen significantly (an
        upper CUSUM), so that a fall from a higher level is measured from that level.
        ``calibration_autocorrelation`` — upper end of the lag-1 autocorrelations the
        calibration simulates (uniformly from 0 to it).
        ``changepoint_penalty`` — PELT penalty per change point, times ``log(n)``, on
        standardized values. ``changepoint_min_days`` — shortest segment PELT may return.

    Plateau (broken-line fit, equivalence test on the slope after its knot;
    :mod:`guap_pipeline.flags.plateau`)
        ``plateau_min_flat_days`` — fewest mature days after the end of growth before a
        plateau may be shown (the window after the knot grows with the data).
        ``plateau_margin`` — the equivalence margin, as a fraction of the earlier growth
        rate: "flat" means the slope after the knot is shown to be within ± margin ×
        the slope before it.
        ``min_growth_days`` — fewest mature days up to the knot (to show growth).
        ``plateau_min_rise_sd`` — fewest residual standard deviations the fitted level
        must have risen by up to the knot: "flat" is judged against the earlier growth,
        so that growth must be bigger than the daily noise, not only significant (2:
        no false plateau on the harness's stable series, whose knot search found
        "growth" of up to 1.7σ; the rise-then-flat family rises by 2.5σ to 8σ).

    Diminishing returns (:mod:`guap_pipeline.flags.diminishing`)
        ``diminishing_min_days`` — mature days of a version needed to fit a curve.
        ``diminishing_proximity`` — projected date = when the curve gets within this
        fraction of its ceiling. ``min_aic_gain`` — how much lower the saturating curve's
        AIC must be than the straight line's. ``min_version_days`` — mature days a model
        version needs for its level to count in the across-versions comparison.

    ``alpha`` — size of each one-sided test of the plateau's equivalence (TOST).
    ``growth_alpha`` — one-sided p-value that growth-type evidence must beat: earlier
    growth (plateau), growth (diminishing returns), a shrinking version increment. Strict,
    because these tests are repeated every day on an ever longer history.
    ``active_version_days`` — a model version is current when it has mature data within
    this many days of the last mature date; only current versions raise flags.
    """

    label_window_days: int = 14
    strict_maturity: bool = True
    reference_days: int = 28
    false_alarms_per_year: float = 0.2
    cusum_k: float = 0.5
    cusum_h: float | None = None
    winsor_z: float = 2.5
    rebaseline: bool = True
    calibration_autocorrelation: float = 0.4
    changepoint_penalty: float = 3.0
    changepoint_min_days: int = 7
    plateau_min_flat_days: int = 28
    plateau_margin: float = 0.5
    min_growth_days: int = 42
    plateau_min_rise_sd: float = 2.0
    diminishing_min_days: int = 56
    diminishing_proximity: float = 0.05
    min_aic_gain: float = 10.0
    min_version_days: int = 14
    alpha: float = 0.05
    growth_alpha: float = 0.001
    active_version_days: int = 7

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or value is None:
                continue
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise FlagSettingsError(f.name, f"must be a finite number, got {value!r}")
        _at_least(self, "label_window_days", 0)
        _at_least(self, "reference_days", 14)
        _at_least(self, "changepoint_min_days", 2)
        _at_least(self, "plateau_min_flat_days", 14)
        _at_least(self, "min_growth_days", 14)
        _at_least(self, "diminishing_min_days", 21)
        _at_least(self, "min_version_days", 7)
        _at_least(self, "active_version_days", 1)
        _positive(self, "false_alarms_per_year")
        _positive(self, "cusum_k")
        _positive(self, "winsor_z")
        _positive(self, "changepoint_penalty")
        if not 0 < self.plateau_margin < 1:
            raise FlagSettingsError(
                "plateau_margin",
                f"must be in (0, 1) (a share of the earlier growth rate), got "
                f"{self.plateau_margin}",
            )
        _at_least(self, "min_aic_gain", 0)
        _at_least(self, "plateau_min_rise_sd", 0)
        if self.cusum_h is not None and self.cusum_h <= 0:
            raise FlagSettingsError("cusum_h", f"must be positive or None, got {self.cusum_h}")
        if not 0 <= self.calibration_autocorrelation < 0.9:
            raise FlagSettingsError(
                "calibration_autocorrelation",
                f"must be in [0, 0.9), got {self.calibration_autocorrelation}",
            )
        for name in ("diminishing_proximity", "alpha", "growth_alpha"):
            value = getattr(self, name)
            if not 0 < value < 0.5:
                raise FlagSettingsError(name, f"must be in (0, 0.5), got {value}")


def _at_least(settings: FlagSettings, name: str, low: float) -> None:
    value = getattr(settings, name)
    if value < low:
        raise FlagSettingsError(name, f"must be at least {low}, got {value}")


def _positive(settings: FlagSettings, name: str) -> None:
    value = getattr(settings, name)
    if value <= 0:
        raise FlagSettingsError(name, f"must be positive, got {value}")
