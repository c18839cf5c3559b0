"""Decline: a one-sided CUSUM for a fall of the level, dated and sized by PELT.

Method, per current model version (:class:`~guap_pipeline.flags.series.VersionSeries`);
``R = reference_days`` (28), ``G = R`` (the guard):

1. Reference. The first ``R`` mature days of the version set the reference: weekday
   offsets (:func:`~guap_pipeline.flags.series.weekday_effects`), the level ``mu``
   (mean of the weekday-adjusted values, winsorized at 3 robust sd), the daily noise
   ``sigma`` and its lag-1 autocorrelation ``rho``. The CUSUM works in long-run units
   ``s = sigma √((1 + rho) / (1 - rho))`` so that autocorrelated noise does not look
   like a shift. A new model version restarts everything.
2. Volume. Uplift per labeled prediction is noisier on a quiet day. A day with fewer
   labeled predictions than the reference median ``n_ref`` gets a wider band,
   ``s √(n_ref / n)``; a busy day keeps ``s`` (never narrower than the reference): a pure
   volume drop, with the value per prediction unchanged, does not raise a decline.
3. CUSUM. ``z_t = clip((x_t − mu) / s_t, ±winsor_z)`` and
   ``S_t = min(max(0, S_{t-1} − z_t − k), 1.5 h)``. The flag is raised when ``S_t > h``
   and stays up until ``S_t <= h/2`` (:func:`flagged`): one incident, one alarm, not a
   flag blinking while ``S`` hovers about ``h``. The clip means one bad day moves ``S``
   by at most ``winsor_z − k``; the cap means the flag clears within a few weeks once
   the level has recovered. ``k = 0.5`` is tuned to a drop of one long-run sd.
4. A growing reference. A 28-day reference is imprecise, and its error costs more
   than anything else (the threshold must allow for it). So the reference is refit on
   ``R·2^j`` days (56, 112, 224) once the version is ``R·2^j + G`` days old: the last
   ``G`` days stay out of it (a change that began lately is not absorbed) and are
   replayed through the CUSUM with the new reference. A refit waits while the CUSUM
   holds half the evidence of an alarm (``S > h/2``), so a decline under way is not
   absorbed either. Each stage has its own calibrated ``h`` (step 6).
5. Rebaseline. An upper CUSUM (same ``k``, threshold ``1.5 × h`` of stage 0) watches
   for a significant rise; when it fires, at most once per ``R`` days, ``mu`` moves up
   to the mean of the last ``R`` days and the stages restart from there. A fall from a
   higher level is then measured from that level; the reference never moves down.
6. Threshold, by simulation (:func:`calibrate_threshold`; cached once per process).
   Stable AR(1) series with lag-1 autocorrelation uniform on
   ``[0, calibration_autocorrelation]`` and a strong weekly pattern go through steps 1–3
   with a reference of each stage's length; each stage's ``h`` is the smallest whose
   rate of alarms (flags raised, with the hysteresis of step 3) per year, over the days
   that stage is in force, is at most ``false_alarms_per_year``. Short references get
   a higher ``h`` than Siegmund's known-parameter approximation (:func:`siegmund_arl`)
   would give: that is the price of estimating the reference. The thresholds and the
   rate actually achieved (``benchmarks/flags_eval.py``) are in ``benchmarks/README.md``.
7. Dating and size. When active, PELT (:func:`~guap_pipeline.flags.changepoint.change_points`)
   segments the standardized series of the version; the decline starts at the first
   change point of the latest run of downward steps (one for a fall, several for a
   slide), else at the start of the CUSUM run. ``money_at_stake`` per day is the drop of
   the level (reference minus the mean since the last downward change point) times the
   mean daily number of predictions over those days.

A decline that lasts is absorbed into the reference at the next refits (months later):
the flag then clears, the new level having become the norm.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from guap_pipeline.flags.changepoint import change_points
from guap_pipeline.flags.series import (
    VersionSeries,
    lag1_autocorrelation,
    long_run_factor,
    weekday_effects,
)
from guap_pipeline.flags.settings import FlagSettings
from guap_pipeline.flags.verdict import Flag, Verdict, fmt

WINSOR_REFERENCE = 3.0
CALIBRATION_DAYS = 365
CALIBRATION_PATH_DAYS = 730_000  # 2000 paths of a year
# A strong weekly pattern (in noise sd): its offsets are then estimated, not shrunk away,
# and their estimation error is part of the calibration (the worst case).
CALIBRATION_WEEKLY = np.array([1.5, 1.0, 0.5, 0.0, -0.5, -1.5, -1.0])
REFERENCE_DOUBLINGS = 3
CAP = 1.5  # S never exceeds CAP × h: the flag clears soon after a recovery
_DEFAULT = FlagSettings()  # the defaults live in settings.py only
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


@dataclass(frozen=True)
class DeclineRule:
    """The decline detector's parameters, every one explicit (see the module docstring).

    ``thresholds[j]`` is ``h`` while the reference is in its stage ``j``: stage ``j``
    rests on the first ``reference_days × 2^j`` days of the version (or of its
    rebaselined part) and, for ``j >= 1``, begins ``guard_days`` after those days.
    """

    reference_days: int
    k: float
    thresholds: tuple[float, ...]
    guard_days: int
    winsor_z: float = _DEFAULT.winsor_z
    rebaseline: bool = _DEFAULT.rebaseline
    penalty: float = _DEFAULT.changepoint_penalty
    min_days: int = _DEFAULT.changepoint_min_days
    design_rate: float | None = None

    @classmethod
    def calibrated(
        cls,
        *,
        reference_days: int = _DEFAULT.reference_days,
        k: float = _DEFAULT.cusum_k,
        false_alarms_per_year: float = _DEFAULT.false_alarms_per_year,
        cusum_h: float | None = _DEFAULT.cusum_h,
        winsor_z: float = _DEFAULT.winsor_z,
        rebaseline: bool = _DEFAULT.rebaseline,
        max_autocorrelation: float = _DEFAULT.calibration_autocorrelation,
        penalty: float = _DEFAULT.changepoint_penalty,
        min_days: int = _DEFAULT.changepoint_min_days,
    ) -> DeclineRule:
        """A rule whose thresholds meet ``false_alarms_per_year`` (or are ``cusum_h``)."""
        guard = reference_days
        stages = REFERENCE_DOUBLINGS + 1
        if cusum_h is not None:
            table = (float(cusum_h),) * stages
        else:
            # Stage j rests on R·2^j days and is in force from age R·2^j + guard (R for
            # stage 0) to the next stage (for good, for the last one).
            table = tuple(
                calibrate_threshold(
                    k=float(k),
                    false_alarms_per_year=float(false_alarms_per_year),
                    reference_days=reference_days * 2**j,
                    warmup=guard if j else 0,
                    days=(
                        CALIBRATION_DAYS
                        if j == stages - 1
                        else reference_days * 2**j + (guard if j == 0 else 0)
                    ),
                    winsor_z=float(winsor_z),
                    max_autocorrelation=float(max_autocorrelation),
                )
                for j in range(stages)
            )
        return cls(
            reference_days=reference_days,
            k=k,
            thresholds=table,
            guard_days=guard,
            winsor_z=winsor_z,
            rebaseline=rebaseline,
            penalty=penalty,
            min_days=min_days,
            design_rate=None if cusum_h is not None else false_alarms_per_year,
        )


@dataclass(frozen=True)
class DeclinePath:
    """The CUSUM over a version's mature days, and the reference in force at the end."""

    statistic: NDArray[np.float64]
    threshold: NDArray[np.float64]
    adjusted: NDArray[np.float64]  # level minus the final weekday offsets
    scale: NDArray[np.float64]  # long-run sd of each day under the final reference
    reference: Reference
    level: float  # reference level at the end (after any rebaselining)
    reference_start: int
    reference_stop: int


def decline_path(series: VersionSeries, rule: DeclineRule) -> DeclinePath:
    """Run the decline CUSUM over a version with at least ``reference_days + 1`` days.

    Stage 0: reference on the first ``R = reference_days`` days, CUSUM from the next
    day. Stage ``j`` (1, 2, 3) begins when the version's age since its anchor (its first
    day, or the start of the window a rebaseline used) reaches ``R·2^j + guard_days``:
    the reference is refit on the first ``R·2^j`` days since the anchor — the last
    ``guard_days`` stay out, so a change that began lately is not absorbed — and the
    CUSUM restarts at the end of the new reference, replaying the days left out. A refit
    waits while the CUSUM holds half the evidence of an alarm (``S > h/2``), so a
    decline under way is not absorbed either.
    """
    n = len(series)
    weekday, day = series.weekday, series.day
    r, guard = rule.reference_days, rule.guard_days
    last_stage = len(rule.thresholds) - 1

    def fit(a: int, b: int) -> tuple[Reference, NDArray[np.float64], NDArray[np.float64]]:
        ref = fit_reference(weekday[a:b], day[a:b], series.level[a:b], series.n_labeled[a:b])
        x = series.level - ref.effects[weekday]
        scale = float(ref.scale) * np.sqrt(np.maximum(1.0, ref.volume / series.n_labeled))
        return ref, x[:, None], scale[:, None]

    ref, x, scale = fit(0, r)
    span = (0, r)
    stage = 0
    state = CusumState.start(np.atleast_1d(ref.level), rule.thresholds[0])
    stats = np.zeros(n)
    hs = np.full(n, rule.thresholds[0])
    t = r
    while t < n:
        anchor = int(state.anchor[0])
        due = anchor + r * 2 ** (stage + 1) + guard if stage < last_stage else n
        stop = min(n, max(due, t + 1))
        s, h = run_cusum(
            state,
            x,
            scale,
            start=t,
            stop=stop,
            k=rule.k,
            winsor_z=rule.winsor_z,
            rebaseline_h=1.5 * rule.thresholds[0] if rule.rebaseline else None,
            window=r,
            reanchored_h=rule.thresholds[0],
        )
        stats[t:stop], hs[t:stop] = s[:, 0], h[:, 0]
        t = stop
        if int(state.anchor[0]) != anchor:  # rebaselined: back to stage 0 from the anchor
            stage = 0
            span = (int(state.anchor[0]), int(state.anchor[0]) + r)
            continue
        if t >= n or t < due or state.s_low[0] > 0.5 * state.h[0]:
            continue
        stage += 1
        b = anchor + r * 2**stage
        ref, x, scale = fit(anchor, b)
        span = (anchor, b)
        state = CusumState.start(np.atleast_1d(ref.level), rule.thresholds[stage])
        state.anchor[:] = anchor
        t = b
    return DeclinePath(
        statistic=stats,
        threshold=hs,
        adjusted=x[:, 0],
        scale=scale[:, 0],
        reference=ref,
        level=float(state.level[0]),
        reference_start=span[0],
        reference_stop=span[1],
    )


def _decline_start(z: NDArray[np.float64], cps: list[int]) -> tuple[int | None, int]:
    """First and last change point of the latest run of downward steps.

    Going back from the last segment, steps down are collected until a step up (a step
    fall is one change point; a slide is several in a row). If the last step is up (a
    partial recovery), the latest step down before it is used. ``(None, 0)`` when PELT
    found no step down.
    """
    bounds = [0, *cps, len(z)]
    means = [float(z[a:b].mean()) for a, b in itertools.pairwise(bounds)]
    down = [means[i + 1] < means[i] for i in range(len(cps))]
    if not any(down):
        return None, 0
    last = max(i for i, d in enumerate(down) if d)
    first = last
    while first > 0 and down[first - 1]:
        first -= 1
    return cps[first], cps[last]


def detect_decline(series: VersionSeries, rule: DeclineRule) -> Verdict:
    """Is the level of this version falling, as of its last mature day?

    Returns a :class:`Verdict` with the flag when active, or a note when the version has
    too few mature days to set its reference.
    """
    n = len(series)
    r = rule.reference_days
    if n <= r:
        return Verdict(
            note=(
                f"decline: model version {series.version!r} has {n} mature days, needs "
                f"{r + 1} ({r} to set its reference, then 1 to test)"
            )
        )
    path = decline_path(series, rule)
    stat, h = float(path.statistic[-1]), float(path.threshold[-1])
    if not flagged(path.statistic, path.threshold)[-1]:
        return Verdict()

    x, scale = path.adjusted, path.scale
    z = np.clip((x - path.level) / scale, -rule.winsor_z, rule.winsor_z)
    cps = change_points(z, penalty=rule.penalty, min_size=rule.min_days, scale=1.0)
    start, last = _decline_start(z, cps)
    if start is None:
        zeros = np.flatnonzero(path.statistic[: n - 1] == 0)
        start = last = int(zeros[-1]) + 1 if len(zeros) else r
        dated_by = "start of the CUSUM run"
    else:
        dated_by = "PELT change point"

    level_now = float(x[last:].mean())
    drop = path.level - level_now
    volume = float(series.n_predictions[last:].mean())
    money = drop * volume
    sigma = float(path.reference.sigma)
    rate = f", calibrated for {fmt(rule.design_rate)} false alarms/year" if rule.design_rate else ""
    a, b = path.reference_start, path.reference_stop
    evidence = (
        f"one-sided CUSUM of weekday-adjusted uplift per labeled prediction, model version "
        f"{series.version!r}: S = {stat:.2f}, raised above h = {h:.2f} (k = {rule.k:g} sd"
        f"{rate}); "
        f"reference level {fmt(path.level)} per labeled prediction from "
        f"{series.dates[a]}..{series.dates[b - 1]} ({b - a} days, sd {fmt(sigma)}/day, "
        f"lag-1 autocorrelation {float(path.reference.autocorrelation):.2f}); {dated_by} "
        f"{series.dates[start]}; level since {series.dates[last]} {fmt(level_now)} "
        f"({-drop / sigma:+.1f} sd) × {fmt(volume)} predictions/day = {fmt(money)} per day "
        "at stake"
    )
    return Verdict(
        Flag(
            flag="decline",
            model_version=series.version,
            start_date=series.dates[start],
            evidence=evidence,
            method="cusum+pelt",
            statistic=stat,
            threshold=h,
            money_at_stake=money,
            window_start=series.dates[a],
            window_end=series.dates[-1],
        )
    )


def siegmund_arl(k: float, h: float) -> float:
    """Siegmund's approximation of the in-control ARL of a one-sided CUSUM (known mean)."""
    b = h + 1.166
    if k == 0:
        return b * b
    return (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k)
