"""Label-feed health: how a day's label coverage usually grows with its age, and the days
left far below it (a stalled feed), which must not count as mature.

Why. A day counts as mature — its realized profit final, the flags' input — once its label
window has passed. If the labels stopped arriving, that day is still missing some of them,
and positives (fraud, defaults) are labeled last: its profit looks like a fall. A stalled
feed raised a false decline that way. So a day past its window whose coverage is far below
what is usual at its age is *stalled*: not mature until its labels land.

The usual coverage at age ``a`` days (``a`` = days since the day's start; today's age of
day ``d`` is ``as_of − d``) is learned from the store, one simple and robust rule:

- From ``labeled_at``, when the labels carry it: each day's coverage at each age (share of
  its predictions, all model versions together, labeled within ``a`` days), wherever the
  feed has been observed that long — up to the latest label seen, so a feed that stopped
  cannot teach its own silence as usual. Usual = the median over days at that age; spread
  = 1.4826 × their median absolute deviation. A partial outage touching less than half of
  the days at an age does not move a median.
- Without ``labeled_at``: one age bucket, "past the label window", from today's coverage
  of the days whose window has passed.

Ages with fewer than ``MIN_DAYS`` days behind them are not learned; an older day is
compared with the oldest learned age (coverage only grows with age). A day past its label
window is stalled when its coverage (all versions together) is below the usual coverage
``u`` at its age by more than ``max(MIN_GAP, SPREADS × spread, SPREADS × √(u(1−u)/n))``
(``n`` its predictions: the last term is a binomial day's own noise). The gap is small on
purpose: positives are often both rare and labeled last, so a day missing most of its
positives may be only a point of coverage short — and its profit far off.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike, NDArray

from guap_pipeline.config import GuapConfig
from guap_pipeline.store.labeled import labeled_day, labeled_days
from guap_pipeline.store.store import Store

MIN_DAYS = 14  # days observed at an age before its usual coverage is learned
MIN_GAP = 0.005  # a day is stalled only if this far (share of rows) below the usual, at least
SPREADS = 4.0  # ... and this many spreads (across days; binomial, of the day) below it
MAD_TO_SD = 1.4826  # median absolute deviation → standard deviation for normal data
BASIS_LABELED_AT = "labeled_at"
BASIS_WINDOW = "label window"
STATE = "label_feed"  # the store's JSON state holding the last assessment


@dataclass(frozen=True)
class UsualCoverage:
    """Usual label coverage of a day at each learned age, and how much it varies."""

    ages: NDArray[np.int64]  # increasing
    median: NDArray[np.float64]
    spread: NDArray[np.float64]
    basis: str  # BASIS_LABELED_AT or BASIS_WINDOW

    def at(
        self, age: ArrayLike, n_predictions: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(usual coverage, lowest coverage not stalled) of days of these ages and sizes;
        NaN before the first learned age. An age between learned ones takes the next
        younger learned age."""
        a = np.asarray(age, dtype=np.int64)
        n = np.maximum(np.asarray(n_predictions, dtype=np.float64), 1.0)
        i = np.searchsorted(self.ages, a, side="right") - 1
        known = i >= 0
        j = np.clip(i, 0, None)
        usual = self.median[j]
        binomial = np.sqrt(usual * (1 - usual) / n)
        margin = np.maximum(MIN_GAP, SPREADS * np.maximum(self.spread[j], binomial))
        return np.where(known, usual, np.nan), np.where(known, usual - margin, np.nan)


def usual_coverage(
    samples: pd.DataFrame, *, basis: str, min_days: int = MIN_DAYS
) -> UsualCoverage | None:
    """Median and spread of ``coverage`` per ``age`` over the ``samples`` (one row per day
    and age), at the ages with ``min_days`` days or more; ``None`` if none has.

    >>> s = pd.DataFrame({"age": [3] * 7, "coverage": [0.9, 0.92, 0.95, 0.97, 0.98, 0.99, 1.0]})
    >>> u = usual_coverage(s, basis="labeled_at", min_days=7)
    >>> float(u.median[0]), round(float(u.spread[0]), 4)
    (0.97, 0.0297)
    """
    if samples.empty:
        return None
    grouped = samples.groupby("age", sort=True)["coverage"]
    median = grouped.median()
    mad = (samples["coverage"] - samples["age"].map(median)).abs().groupby(samples["age"]).median()
    keep = grouped.size() >= min_days
    if not keep.any():
        return None
    return UsualCoverage(
        ages=median.index[keep].to_numpy(dtype=np.int64),
        median=median[keep].to_numpy(dtype=np.float64),
        spread=MAD_TO_SD * mad[keep].to_numpy(dtype=np.float64),
        basis=basis,
    )


@dataclass(frozen=True)
class LabelAges:
    """Labeled rows of each day by age in whole days (``counts[d][a]``), the labeled rows
    without a ``labeled_at``, and the latest ``labeled_at`` seen."""

    counts: dict[str, NDArray[np.int64]]
    untimed: dict[str, int]
    latest: pd.Timestamp | None


def label_ages(store: Store, config: GuapConfig, as_of: dt.date) -> LabelAges:
    """Count each built day's labeled rows by age (``labeled_at`` − the day's start in the
    config's time zone), reading the two label columns of its labeled predictions in slices."""
    counts: dict[str, NDArray[np.int64]] = {}
    untimed: dict[str, int] = {}
    latest: pd.Timestamp | None = None
    for day in labeled_days(store):
        labeled = labeled_day(store, day)
        if labeled is None or not {"y_true", "labeled_at"} <= set(labeled.names):
            continue
        start = pd.Timestamp(day, tz=config.timezone)
        n_ages = max((as_of - start.date()).days + 1, 1)
        counts[day], untimed[day] = np.zeros(n_ages, dtype=np.int64), 0
        for batch in labeled.label_batches():
            stamps = pc.filter(batch.column("labeled_at"), batch.column("y_true").is_valid())
            micros = _epoch_micros(stamps)
            untimed[day] += len(stamps) - len(micros)
            if not len(micros):
                continue
            ages = (micros - start.value // 1000) // _DAY_MICROS
            counts[day] += np.bincount(np.clip(ages, 0, n_ages - 1), minlength=n_ages)
            newest = pd.Timestamp(int(micros.max()), unit="us", tz="UTC")
            latest = newest if latest is None else max(latest, newest)
    return LabelAges(counts, untimed, latest)


_DAY_MICROS = 86_400_000_000


def _epoch_micros(stamps: pa.Array) -> NDArray[np.int64]:
    """Microseconds since the epoch (UTC) of the non-null timestamps, without pandas:
    a big day's two columns stay cheap. Naive stamps are UTC, as the readers take them."""
    if not pa.types.is_timestamp(stamps.type):
        stamps = stamps.cast(pa.timestamp("us"))  # an all-missing (null-typed) column
    micros = pc.drop_null(stamps.cast(pa.timestamp("us", stamps.type.tz), safe=False))
    return micros.cast(pa.int64()).to_numpy(zero_copy_only=False)


def samples_from_label_ages(
    ages: LabelAges, n_predictions: pd.Series, config: GuapConfig, as_of: dt.date
) -> pd.DataFrame:
    """Each fully timed day's coverage at each age it has been observed for in full: up to
    the latest label seen (or the end of ``as_of``), from its label window on.
    ``n_predictions``: predictions per day (all versions), indexed by ISO date."""
    end = pd.Timestamp(as_of + dt.timedelta(days=1), tz=config.timezone)
    seen = end if ages.latest is None else min(end, ages.latest)
    frames = []
    for day, counts in ages.counts.items():
        n = float(n_predictions.get(day, 0))
        if ages.untimed[day] or n <= 0:
            continue
        start = pd.Timestamp(day, tz=config.timezone)
        last_age = min((seen - start) // pd.Timedelta(days=1) - 1, len(counts) - 1)
        if last_age < config.label_window_days:
            continue
        age = np.arange(config.label_window_days, last_age + 1)
        coverage = np.cumsum(counts)[age] / n
        frames.append(pd.DataFrame({"age": age, "coverage": coverage}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def samples_from_snapshot(days: pd.DataFrame, config: GuapConfig) -> pd.DataFrame:
    """Today's coverage of the days past their label window, all at the window's age.
    ``days`` has ``age`` and ``coverage`` per date (see :func:`day_coverage`)."""
    past = days[days["age"] >= config.label_window_days]
    return pd.DataFrame({"age": config.label_window_days, "coverage": past["coverage"]})


def day_coverage(day_rows: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per date (all model versions together): predictions, labeled, coverage, and age."""
    sums = day_rows.groupby(day_rows["date"].astype(str), sort=True)[
        ["n_predictions", "n_labeled"]
    ].sum()
    sums = sums[sums["n_predictions"] > 0]
    dates = pd.to_datetime(pd.Series(sums.index, index=sums.index)).dt.date
    return pd.DataFrame(
        {
            "n_predictions": sums["n_predictions"],
            "n_labeled": sums["n_labeled"],
            "coverage": sums["n_labeled"] / sums["n_predictions"],
            "age": dates.map(lambda d: (as_of - d).days).astype("int64"),
        }
    )


def stalled_days(days: pd.DataFrame, usual: UsualCoverage | None, window_days: int) -> pd.DataFrame:
    """The days past their label window far below the usual coverage at their age, with
    ``usual`` and ``lowest`` (the least coverage that would not be stalled)."""
    if usual is None or days.empty:
        return days.iloc[:0].assign(usual=[], lowest=[])
    typical, lowest = usual.at(days["age"].to_numpy(), days["n_predictions"].to_numpy())
    out = days.assign(usual=typical, lowest=lowest)
    return out[(out["age"] >= window_days) & (out["coverage"] < out["lowest"])]


@dataclass(frozen=True)
class LabelFeed:
    """The label feed as of a date: the stalled days and what was usual for them."""

    stalled: pd.DataFrame  # index: ISO date; n_predictions, n_labeled, coverage, age, usual
    basis: str | None  # how the usual coverage was learned; None: not enough history
    latest_label: str | None  # ISO date of the latest labeled_at seen

    @property
    def stalled_dates(self) -> frozenset[str]:
        return frozenset(self.stalled.index.astype(str))

    def message(self, model: str = "") -> str | None:
        """One plain sentence for the stalled days, or ``None`` when the feed looks normal;
        ``model``: the model's name under a models: section, said first.

        >>> days = pd.DataFrame({"coverage": [0.61], "usual": [0.97], "age": [45]},
        ...                     index=pd.Index(["2019-08-02"], name="date"))
        >>> print(LabelFeed(days, BASIS_LABELED_AT, "2019-09-01").message())
        labels for days after 2019-08-01 have stopped arriving: 1 day past the label window \
is 61% labeled where 97% is usual at 45 days; it does not count as mature until its labels \
land (latest label 2019-09-01)
        """
        if self.stalled.empty:
            return None
        days = self.stalled
        day_before = dt.date.fromisoformat(str(days.index[0])) - dt.timedelta(days=1)
        at = (
            f"at {_span(days['age'], '{:.0f}')} days"
            if self.basis == BASIS_LABELED_AT
            else "once the label window has passed"
        )
        one = len(days) == 1
        latest = f" (latest label {self.latest_label})" if self.latest_label else ""
        return (
            f"{f'model {model}: ' if model else ''}"
            f"labels for days after {day_before} have stopped arriving: {len(days)} "
            f"day{'' if one else 's'} past the label window {'is' if one else 'are'} "
            f"{_span(days['coverage'], '{:.0%}')} labeled where {_span(days['usual'], '{:.0%}')} "
            f"is usual {at}; {'it does' if one else 'they do'} not count as mature until "
            f"{'its' if one else 'their'} labels land{latest}"
        )

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, for the store's state file."""
        return {
            "basis": self.basis,
            "latest_label": self.latest_label,
            "stalled": json.loads(self.stalled.reset_index(names="date").to_json(orient="records")),
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> LabelFeed:
        """The assessment :meth:`to_json` wrote (the store's state, read by check and CLI)."""
        records = payload.get("stalled") or []
        stalled = pd.DataFrame.from_records(records, columns=STALLED_COLUMNS).set_index("date")
        return cls(stalled, payload.get("basis"), payload.get("latest_label"))


def _span(values: pd.Series, form: str) -> str:
    """``low–high`` of the values as formatted, or one value when they format alike."""
    low, high = form.format(values.min()), form.format(values.max())
    return low if low == high else f"{low}–{high}"


STALLED_COLUMNS = ("date", "n_predictions", "n_labeled", "coverage", "age", "usual", "lowest")


def assess(store: Store, config: GuapConfig, day_rows: pd.DataFrame, as_of: dt.date) -> LabelFeed:
    """The label feed as of ``as_of``, from the built days (``daily_quadrant_profit`` rows)
    and their labeled rows: from ``labeled_at`` where every label carries it, else from
    today's coverage of the days past their window."""
    if day_rows.empty:
        return LabelFeed(pd.DataFrame(columns=STALLED_COLUMNS).set_index("date"), None, None)
    days = day_coverage(day_rows, as_of)
    ages = label_ages(store, config, as_of)
    samples = samples_from_label_ages(ages, days["n_predictions"], config, as_of)
    usual = usual_coverage(samples, basis=BASIS_LABELED_AT)
    if usual is None:
        usual = usual_coverage(samples_from_snapshot(days, config), basis=BASIS_WINDOW)
    latest = None if ages.latest is None else ages.latest.tz_convert(config.timezone).date()
    return LabelFeed(
        stalled_days(days, usual, config.label_window_days),
        None if usual is None else usual.basis,
        None if latest is None else latest.isoformat(),
    )


def stored(store: Store) -> LabelFeed | None:
    """The assessment the last series build wrote, or ``None`` if none did yet."""
    payload = store.read_json(STATE)
    return None if payload is None else LabelFeed.from_json(payload)
