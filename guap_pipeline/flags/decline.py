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
6. Threshold, by simulation (:func:`calibrate_threshold`; shipped for the default
   settings in :mod:`~guap_pipeline.flags.thresholds`, else cached once per process).
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

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from guap_pipeline.flags.changepoint import change_points
from guap_pipeline.flags.cusum import (
    CALIBRATION_DAYS,
    CusumState,
    Reference,
    fit_reference,
    flagged,
    run_cusum,
)
from guap_pipeline.flags.series import VersionSeries
from guap_pipeline.flags.settings import FlagSettings
from guap_pipeline.flags.thresholds import threshold
from guap_pipeline.flags.verdict import Flag, Verdict, fmt

REFERENCE_DOUBLINGS = 3
_DEFAULT = FlagSettings()  # the defaults live in settings.py only


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
                threshold(
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
