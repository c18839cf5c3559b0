"""Synthetic daily summary series with known answers, shared by tests and benchmarks.

Like ``ruptures.pw_constant``: each generator returns the series and its truth. The
level is uplift per labeled prediction; noise is Gaussian AR(1) whose sd is ``sigma`` on
a day of median volume and grows as ``1/√volume`` on quieter days (sampling noise);
weekdays shift both the level (by up to ``weekday_amplitude × sigma``) and the volume
(weekends are quieter). Every size is in units of ``sigma``, the day-to-day sd of the
weekday-adjusted level — "a 1σ drop" means the level falls by one such sd.

Each table is complete (every label in); :func:`as_seen_on` replays it as a monitoring
run on a given day would see it, with late labels that arrive positives-last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

START = "2025-01-06"  # a Monday
LEVEL_BY_WEEKDAY = np.array([0.3, 0.2, 0.1, 0.0, -0.1, -0.3, -0.2])  # × amplitude × sigma
VOLUME_BY_WEEKDAY = np.array([1.0, 1.05, 1.05, 1.0, 0.95, 0.6, 0.55])
NEGATIVE_COST = 0.5  # uplift per negative row (negative: false positives cost money)


@dataclass(frozen=True)
class Scenario:
    """A daily table and the truth about it.

    ``truth`` maps each flag that should be raised to the index (day number, 0-based)
    of the day its condition begins; ``tolerated`` lists flags that are not wrong on this
    series (e.g. a plateau on a saturating curve) but not required either.
    """

    name: str
    daily: pd.DataFrame
    truth: dict[str, int] = field(default_factory=dict)
    tolerated: tuple[str, ...] = ()
    sigma: float = 0.2
    params: dict[str, float] = field(default_factory=dict)


def ar1_noise(n: int, *, autocorrelation: float, rng: np.random.Generator) -> NDArray:
    """Stationary Gaussian AR(1) with unit marginal variance."""
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0]
    innovation = np.sqrt(1 - autocorrelation**2)
    for t in range(1, n):
        x[t] = autocorrelation * x[t - 1] + innovation * e[t]
    return x


def simulate(
    level: ArrayLike,
    *,
    sigma: float = 0.2,
    autocorrelation: float = 0.2,
    weekday_amplitude: float = 1.0,
    volume: float = 2000.0,
    volume_factor: ArrayLike | None = None,
    positive_rate: float = 0.1,
    start: str = START,
    model_version: str = "v1",
    seed: int = 0,
) -> pd.DataFrame:
    """Daily table whose uplift per labeled prediction follows ``level`` plus noise.

    Columns: ``date, model_version, n_predictions, n_labeled, label_coverage, mature,
    profit, uplift`` and, for :func:`as_seen_on`, ``n_positive, uplift_positive`` (the
    part of the day's uplift that comes from truly positive rows).
    """
    rng = np.random.default_rng(seed)
    mean_level = np.asarray(level, dtype=np.float64)
    n = len(mean_level)
    dates = pd.date_range(start, periods=n, freq="D")
    weekday = dates.day_of_week.to_numpy()
    factor = np.ones(n) if volume_factor is None else np.asarray(volume_factor, dtype=float)
    expected = volume * VOLUME_BY_WEEKDAY[weekday] * factor
    n_pred = rng.poisson(expected).astype(np.int64)
    median = float(np.median(volume * VOLUME_BY_WEEKDAY[weekday]))
    noise = ar1_noise(n, autocorrelation=autocorrelation, rng=rng)
    per_prediction = (
        mean_level
        + weekday_amplitude * sigma * LEVEL_BY_WEEKDAY[weekday]
        + sigma * noise * np.sqrt(median / np.maximum(n_pred, 1))
    )
    uplift = per_prediction * n_pred
    n_pos = rng.binomial(n_pred, positive_rate)
    uplift_negative = -NEGATIVE_COST * (n_pred - n_pos)
    return pd.DataFrame(
        {
            "date": dates,
            "model_version": model_version,
            "n_predictions": n_pred,
            "n_labeled": n_pred,
            "label_coverage": 1.0,
            "mature": True,
            "profit": uplift,
            "uplift": uplift,
            "n_positive": n_pos,
            "uplift_positive": uplift - uplift_negative,
        }
    )


def as_seen_on(
    daily: pd.DataFrame,
    on: int | str | pd.Timestamp,
    *,
    label_window_days: int = 14,
    min_label_coverage: float = 0.95,
    negative_days: int = 3,
) -> pd.DataFrame:
    """The table as a monitoring run on day ``on`` (index or date) sees it.

    Days after ``on`` do not exist yet. A day ``a`` days old has every negative labeled
    after ``negative_days`` days but only the share ``((a + 1) / label_window_days)^2``
    of its positives (all of them once the window has passed): positives arrive last,
    so a young day's uplift per labeled prediction is biased low. ``mature`` follows the
    spec: coverage ≥ ``min_label_coverage`` or the window has passed — so some biased
    days are marked mature.
    """
    dates = pd.to_datetime(daily["date"])
    today = dates.iloc[0] + pd.Timedelta(days=on) if isinstance(on, int) else pd.Timestamp(on)
    seen = daily[dates <= today].copy()
    age = (today - pd.to_datetime(seen["date"])).dt.days.to_numpy()
    share_neg = np.minimum(1.0, (age + 1) / negative_days)
    share_pos = np.where(
        age >= label_window_days, 1.0, np.minimum(1.0, ((age + 1) / label_window_days) ** 2)
    )
    n_pos = seen["n_positive"].to_numpy(dtype=float)
    n_neg = seen["n_predictions"].to_numpy(dtype=float) - n_pos
    u_pos = seen["uplift_positive"].to_numpy(dtype=float)
    u_neg = seen["uplift"].to_numpy(dtype=float) - u_pos
    labeled = np.floor(share_pos * n_pos) + np.floor(share_neg * n_neg)
    frac_pos = np.divide(
        np.floor(share_pos * n_pos), n_pos, out=np.ones_like(n_pos), where=n_pos > 0
    )
    frac_neg = np.divide(
        np.floor(share_neg * n_neg), n_neg, out=np.ones_like(n_neg), where=n_neg > 0
    )
    uplift = frac_pos * u_pos + frac_neg * u_neg
    coverage = labeled / np.maximum(seen["n_predictions"].to_numpy(dtype=float), 1)
    seen["n_labeled"] = labeled.astype(np.int64)
    seen["uplift"] = uplift
    seen["profit"] = uplift
    seen["label_coverage"] = coverage
    seen["mature"] = (coverage >= min_label_coverage) | (age >= label_window_days)
    return seen.reset_index(drop=True)


def _flat(n_days: int, level: float) -> NDArray:
    return np.full(n_days, level, dtype=np.float64)


def stable(
    n_days: int = 240, *, level: float = 2.0, sigma: float = 0.2, seed: int = 0, **kw: float
) -> Scenario:
    """A stable level: no flag is right."""
    daily = simulate(_flat(n_days, level), sigma=sigma, seed=seed, **kw)
    return Scenario("stable", daily, sigma=sigma, params={"level": level})


def volume_drop(
    n_days: int = 240,
    *,
    at: int = 120,
    factor: float = 0.3,
    level: float = 2.0,
    sigma: float = 0.2,
    seed: int = 0,
    **kw: float,
) -> Scenario:
    """Traffic falls to ``factor`` of normal from day ``at``; value per prediction does not."""
    volume_factor = np.where(np.arange(n_days) >= at, factor, 1.0)
    daily = simulate(
        _flat(n_days, level), sigma=sigma, seed=seed, volume_factor=volume_factor, **kw
    )
    return Scenario("volume_drop", daily, sigma=sigma, params={"at": at, "factor": factor})


def bad_day(
    n_days: int = 240,
    *,
    at: int = 120,
    size_sd: float = -8.0,
    level: float = 2.0,
    sigma: float = 0.2,
    seed: int = 0,
    **kw: float,
) -> Scenario:
    """One day's level is off by ``size_sd`` sd (an outage, a bad batch); then back."""
    path = _flat(n_days, level)
    path[at] += size_sd * sigma
    daily = simulate(path, sigma=sigma, seed=seed, **kw)
    return Scenario("bad_day", daily, sigma=sigma, params={"at": at, "size_sd": size_sd})


def step_decline(
    n_days: int = 240,
    *,
    at: int = 120,
    size_sd: float = 1.0,
    level: float = 2.0,
    sigma: float = 0.2,
    seed: int = 0,
    **kw: float,
) -> Scenario:
    """The level falls by ``size_sd`` sd on day ``at`` and stays down."""
    path = _flat(n_days, level) - np.where(np.arange(n_days) >= at, size_sd * sigma, 0.0)
    daily = simulate(path, sigma=sigma, seed=seed, **kw)
    return Scenario(
        "step_decline",
        daily,
        truth={"decline": at},
        sigma=sigma,
        params={"at": at, "size_sd": size_sd},
    )


def gradual_decline(
    n_days: int = 240,
    *,
    at: int = 120,
    size_sd: float = 1.0,
    duration: int = 28,
    level: float = 2.0,
    sigma: float = 0.2,
    seed: int = 0,
    **kw: float,
) -> Scenario:
    """The level slides down by ``size_sd`` sd over ``duration`` days from day ``at``."""
    ramp = np.clip((np.arange(n_days) - at + 1) / duration, 0.0, 1.0)
    path = _flat(n_days, level) - size_sd * sigma * ramp
    daily = simulate(path, sigma=sigma, seed=seed, **kw)
    return Scenario(
        "gradual_decline",
        daily,
        truth={"decline": at},
        sigma=sigma,
        params={"at": at, "size_sd": size_sd, "duration": duration},
    )


def growth(
    n_days: int = 240,
    *,
    rise_sd: float = 6.0,
    level: float = 1.0,
    sigma: float = 0.2,
    seed: int = 0,
    **kw: float,
) -> Scenario:
    """Steady linear growth by ``rise_sd`` sd over the whole series: no flag is right."""
    path = level + rise_sd * sigma * np.arange(n_days) / (n_days - 1)
    daily = simulate(path, sigma=sigma, seed=seed, **kw)
    return Scenario("growth", daily, sigma=sigma, params={"rise_sd": rise_sd})


def plateau(
    n_days: int = 240,
    *,
    growth_days: int = 100,
    rise_sd: float = 5.0,
    level: float = 1.0,
    sigma: float = 0.2,
    seed: int = 0,
    **kw: float,
) -> Scenario:
    """Linear growth by ``rise_sd`` sd over ``growth_days`` days, then flat.

    A plateau is right from ``growth_days``; diminishing returns is tolerated (growth
    then flat is the sharpest concave shape).
    """
    t = np.arange(n_days)
    path = level + rise_sd * sigma * np.minimum(t, growth_days) / growth_days
    daily = simulate(path, sigma=sigma, seed=seed, **kw)
    return Scenario(
        "plateau",
        daily,
        truth={"plateau": growth_days},
        tolerated=("diminishing_returns",),
        sigma=sigma,
        params={"growth_days": growth_days, "rise_sd": rise_sd},
    )


def rise_then_flat(
    *,
    growth_days: int = 90,
    flat_days: int = 120,
    rise_sd: float = 4.0,
    level: float = 1.0,
    sigma: float = 0.2,
    seed: int = 0,
    **kw: float,
) -> Scenario:
    """A rise of ``rise_sd`` sd over ``growth_days`` days that stops abruptly (a kink),
    then ``flat_days`` flat days: the shape a plateau must be found on, soon after the
    kink. Same truth as :func:`plateau`; ``params`` also holds ``flat_days``.
    """
    sc = plateau(
        n_days=growth_days + flat_days,
        growth_days=growth_days,
        rise_sd=rise_sd,
        level=level,
        sigma=sigma,
        seed=seed,
        **kw,
    )
    params = {**sc.params, "flat_days": flat_days}
    return replace(sc, name="rise_then_flat", params=params)


def saturating(
    n_days: int = 240,
    *,
    rise_sd: float = 6.0,
    half_life: float = 60.0,
    level: float = 1.0,
    sigma: float = 0.2,
    proximity: float = 0.05,
    seed: int = 0,
    **kw: float,
) -> Scenario:
    """Concave growth ``ceiling − rise·exp(−t ln2 / half_life)``: diminishing returns.

    ``params`` holds the true ``ceiling`` and ``reach_day`` (day the level gets within
    ``proximity`` of the ceiling); a plateau is tolerated once past ``reach_day``.
    """
    rise = rise_sd * sigma
    ceiling = level + rise
    rate = np.log(2) / half_life
    t = np.arange(n_days)
    path = ceiling - rise * np.exp(-rate * t)
    daily = simulate(path, sigma=sigma, seed=seed, **kw)
    reach = float(np.log(rise / (proximity * ceiling)) / rate) if ceiling > 0 else np.nan
    return Scenario(
        "diminishing_returns",
        daily,
        truth={"diminishing_returns": 0},
        tolerated=("plateau",),
        sigma=sigma,
        params={"ceiling": ceiling, "reach_day": reach, "half_life": half_life},
    )


def version_steps(
    levels: Sequence[float] = (1.0, 2.0, 2.6, 2.9),
    *,
    days_per_version: int = 56,
    sigma: float = 0.2,
    seed: int = 0,
    **kw: float,
) -> Scenario:
    """One model version after another, each at its own flat level.

    With increments that shrink (the default +1.0, +0.6, +0.3) diminishing returns across
    versions is right from the first day of the first version whose increment is smaller
    than the one before (the third version here).
    """
    parts = []
    for i, lv in enumerate(levels):
        part = simulate(
            _flat(days_per_version, lv),
            sigma=sigma,
            seed=seed + 1000 * i,
            model_version=f"v{i + 1}",
            start=str((pd.Timestamp(START) + pd.Timedelta(days=i * days_per_version)).date()),
            **kw,
        )
        parts.append(part)
    daily = pd.concat(parts, ignore_index=True)
    inc = np.diff(levels)
    shrinking = len(levels) >= 3 and bool(np.all(inc > 0) and np.all(np.diff(inc) < 0))
    truth = {"diminishing_returns": 2 * days_per_version} if shrinking else {}
    return Scenario("version_steps", daily, truth=truth, sigma=sigma, params={})
