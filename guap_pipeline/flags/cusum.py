"""The decline's CUSUM machinery: the reference a version is measured against, the
lower CUSUM with its rebaselining upper twin, the flag's hysteresis, and the threshold
calibrated by simulation. :mod:`guap_pipeline.flags.decline` describes the method and
applies it to a version's series.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from guap_pipeline.flags.series import lag1_autocorrelation, long_run_factor, weekday_effects

WINSOR_REFERENCE = 3.0
CALIBRATION_DAYS = 365
CALIBRATION_PATH_DAYS = 730_000  # 2000 paths of a year
# A strong weekly pattern (in noise sd): its offsets are then estimated, not shrunk away,
# and their estimation error is part of the calibration (the worst case).
CALIBRATION_WEEKLY = np.array([1.5, 1.0, 0.5, 0.0, -0.5, -1.5, -1.0])
CAP = 1.5  # S never exceeds CAP × h: the flag clears soon after a recovery
RELEASE = 0.5  # a raised flag stays up until S falls to RELEASE × h


@dataclass(frozen=True)
class Reference:
    """Reference of a version (arrays over paths when calibrating, scalars otherwise)."""

    effects: NDArray[np.float64]  # (7,) or (7, paths) weekday offsets
    level: NDArray[np.float64]  # mu
    sigma: NDArray[np.float64]  # daily sd of the adjusted level at reference volume
    autocorrelation: NDArray[np.float64]
    scale: NDArray[np.float64]  # long-run sd
    volume: float  # median labeled predictions per day


def fit_reference(
    weekday: NDArray[np.int64],
    day: NDArray[np.float64],
    level: NDArray[np.float64],
    n_labeled: NDArray[np.float64],
) -> Reference:
    """Estimate the reference from its days; ``level`` may be ``(days, paths)``."""
    effects = weekday_effects(weekday, day, level)
    adjusted = level - (effects[weekday] if level.ndim == 1 else effects[weekday, :])
    volume = float(np.median(n_labeled))
    ratio = np.sqrt(np.maximum(1.0, volume / n_labeled))
    if level.ndim == 2:
        ratio = ratio[:, None]
    # Deviations in units of a reference-volume day, winsorized at 3 robust sd.
    center = np.median(adjusted, axis=0)
    unit = (adjusted - center) / ratio
    spread = 1.4826 * np.median(np.abs(unit), axis=0)
    spread = np.where(spread > 0, spread, unit.std(axis=0) + 1e-12)
    unit = np.clip(unit, -WINSOR_REFERENCE * spread, WINSOR_REFERENCE * spread)
    weight = 1.0 / ratio**2 * np.ones_like(unit)
    mu = center + (weight * unit * ratio).sum(axis=0) / weight.sum(axis=0)
    resid = unit - (mu - center) / ratio
    sigma = np.sqrt((resid**2).sum(axis=0) / (len(resid) - 1))
    sigma = np.where(sigma > 0, sigma, 1e-12)
    rho = lag1_autocorrelation(resid)
    return Reference(effects, mu, sigma, rho, sigma * long_run_factor(rho), volume)


@dataclass
class CusumState:
    """Running state of the decline CUSUM, one entry per path."""

    s_low: NDArray[np.float64]  # evidence of a fall (the flag's statistic)
    s_up: NDArray[np.float64]  # evidence of a rise (for rebaselining)
    level: NDArray[np.float64]  # reference level mu in use
    h: NDArray[np.float64]  # threshold in use
    anchor: NDArray[np.int64]  # first day of the days behind the reference level
    since: NDArray[np.int64]  # days since the reference was last set

    @classmethod
    def start(cls, level: NDArray[np.float64], h: float) -> CusumState:
        paths = len(level)
        return cls(
            s_low=np.zeros(paths),
            s_up=np.zeros(paths),
            level=np.array(level, dtype=np.float64),
            h=np.full(paths, float(h)),
            anchor=np.zeros(paths, dtype=np.int64),
            since=np.zeros(paths, dtype=np.int64),
        )


def run_cusum(
    state: CusumState,
    x: NDArray[np.float64],
    scale: NDArray[np.float64],
    *,
    start: int,
    stop: int,
    k: float,
    winsor_z: float,
    rebaseline_h: float | None,
    window: int,
    reanchored_h: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Advance ``state`` over days ``start..stop-1``; arrays are ``(days, paths)``.

    ``x`` is the weekday-adjusted level and ``scale`` the long-run sd of each day.
    With ``rebaseline_h`` set, an upper CUSUM above it (and at least ``window`` days
    since the reference was set) moves the level up to the mean of the last ``window``
    days, and the threshold to ``reanchored_h``. Returns the statistic and the threshold
    of each day.
    """
    paths = x.shape[1]
    stat = np.empty((stop - start, paths))
    thresholds = np.empty((stop - start, paths))
    cumulative = np.vstack([np.zeros((1, paths)), np.cumsum(x, axis=0)]) if rebaseline_h else None
    for t in range(start, stop):
        z = np.clip((x[t] - state.level) / scale[t], -winsor_z, winsor_z)
        state.s_low = np.minimum(np.maximum(0.0, state.s_low - z - k), CAP * state.h)
        state.since += 1
        if cumulative is not None and rebaseline_h is not None:
            state.s_up = np.maximum(0.0, state.s_up + z - k)
            fire = (state.s_up > rebaseline_h) & (state.since >= window)
            if fire.any():
                recent = (cumulative[t + 1] - cumulative[t + 1 - window]) / window
                state.level = np.where(fire, np.maximum(state.level, recent), state.level)
                state.h = np.where(fire, reanchored_h, state.h)
                state.anchor = np.where(fire, t + 1 - window, state.anchor)
                for name in ("s_up", "s_low", "since"):
                    setattr(state, name, np.where(fire, 0, getattr(state, name)))
        stat[t - start] = state.s_low
        thresholds[t - start] = state.h
    return stat, thresholds


def flagged(stat: NDArray[np.float64], h: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Days on which the decline flag is up: raised when ``S > h``, kept until ``S <= h/2``.

    The hysteresis makes one incident one alarm, instead of a flag that blinks while
    ``S`` hovers about ``h``. Arrays are ``(days,)`` or ``(days, paths)``.
    """
    on = np.zeros(stat.shape, dtype=bool)
    previous = np.zeros(stat.shape[1:], dtype=bool)
    for t in range(len(stat)):
        previous = (stat[t] > h[t]) | (previous & (stat[t] > RELEASE * h[t]))
        on[t] = previous
    return on


@functools.lru_cache(maxsize=64)
def calibrate_threshold(
    *,
    k: float,
    false_alarms_per_year: float,
    reference_days: int,
    winsor_z: float,
    max_autocorrelation: float,
    warmup: int = 0,
    days: int = CALIBRATION_DAYS,
    path_days: int = CALIBRATION_PATH_DAYS,
    seed: int = 20250101,
) -> float:
    """The CUSUM threshold ``h`` giving ``false_alarms_per_year`` on stable data.

    Simulates stable series (Gaussian AR(1), lag-1 autocorrelation uniform on
    ``[0, max_autocorrelation]``, a strong weekly pattern, constant volume), fits each
    reference on its first ``reference_days`` days exactly as :func:`detect_decline`
    does, runs the CUSUM from there and bisects ``h`` on the rate of alarms (flags raised,
    see :func:`flagged`) per year over ``days`` days that follow ``warmup`` days (the days a refit
    reference leaves out, whose CUSUM is replayed). ``path_days`` simulated days in all.
    Deterministic (fixed seed) and cached.
    """
    rng = np.random.default_rng(seed)
    paths = max(path_days // days, 200)
    total = reference_days + warmup + days
    rho = rng.uniform(0.0, max_autocorrelation, size=paths)
    noise = rng.standard_normal((total, paths))
    x = np.empty_like(noise)
    x[0] = noise[0]
    innovation = np.sqrt(1 - rho**2)
    for t in range(1, total):
        x[t] = rho * x[t - 1] + innovation * noise[t]
    weekday = (np.arange(total) % 7).astype(np.int64)
    x += CALIBRATION_WEEKLY[weekday, None]
    ref = fit_reference(
        weekday[:reference_days],
        np.arange(reference_days, dtype=np.float64),
        x[:reference_days],
        np.ones(reference_days),
    )
    adjusted = x - ref.effects[weekday, :]
    scale = np.broadcast_to(ref.scale, (total, paths))
    years = paths * days / 365.0

    def rate(h: float) -> float:
        stat, _ = run_cusum(
            CusumState.start(ref.level, h),
            adjusted,
            scale,
            start=reference_days,
            stop=total,
            k=k,
            winsor_z=winsor_z,
            rebaseline_h=None,
            window=reference_days,
            reanchored_h=h,
        )
        on = flagged(stat, np.full_like(stat, h))
        counted = on[warmup:]
        before = on[warmup - 1] if warmup else np.zeros(paths, dtype=bool)
        raised = (counted[1:] & ~counted[:-1]).sum() + (counted[0] & ~before).sum()
        return float(raised) / years

    low, high = 0.5, 4.0
    while rate(high) > false_alarms_per_year and high < 200:
        low, high = high, high * 2
    for _ in range(12):
        mid = 0.5 * (low + high)
        if rate(mid) > false_alarms_per_year:
            low = mid
        else:
            high = mid
    return round(high, 2)


def siegmund_arl(k: float, h: float) -> float:
    """Siegmund's approximation of the in-control ARL of a one-sided CUSUM (known mean)."""
    b = h + 1.166
    if k == 0:
        return b * b
    return (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k)
