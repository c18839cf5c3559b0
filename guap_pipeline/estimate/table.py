"""The estimate columns of the daily summary table: per (date, model version), realized
where nothing is left to estimate, else realized plus the estimate of the unlabeled rows."""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.estimate.monte_carlo import LEVEL, N_REPLICATES, Adapt, estimate_unlabeled
from guap_pipeline.estimate.rows import (
    DayRows,
    _censoring_instant,
    _day_rows,
    _reference_problem,
    _reference_rows,
    _thin_labeled,
    _thin_reference,
)

REFERENCE_DAYS = 28  # most recent mature days of a version that calibrate its scores
# Labeled rows an estimate learns from, at most: beyond this a seeded uniform sample (the
# window's labeled rows weighted up to stand for all). 300k rows put ~300 in each score
# bin: more only slows every bootstrap replicate and leaves the interval as wide.
MAX_LEARNING_ROWS = 300_000
ESTIMATE_COLUMNS: tuple[str, ...] = (
    "estimated_profit",
    "estimated_profit_low",
    "estimated_profit_high",
    "estimate_kind",
    "estimate_note",
)
# estimate_kind: "realized" (nothing left to estimate, or the label window has passed:
# the figure is the realized profit), "estimated" (realized + estimated), "none".
ESTIMATED_PROFIT = ESTIMATE_COLUMNS[:3]  # the ones in the public daily summary table
_REALIZED_WINDOW = "realized: the label window has passed"
_REALIZED_ALL = "realized: every prediction is labeled"


def _iso(dates: pd.Series) -> pd.Series:
    return pd.Series(
        pd.to_datetime(dates.astype("string")).dt.strftime("%Y-%m-%d"),
        index=dates.index,
        dtype=object,
    )


@dataclass(frozen=True)
class _Need:
    """What to estimate, and which days each version's estimate reads."""

    as_of: dt.date
    window_passed: pd.Series  # per (date, model_version)
    to_estimate: pd.Series
    reference: dict[str, list[str]]  # version -> its reference days (mature, window passed)
    window: dict[str, list[str]]  # version -> its days inside the label window

    @property
    def dates(self) -> list[str]:
        wanted: set[str] = set()
        for days in (*self.reference.values(), *self.window.values()):
            wanted.update(days)
        return sorted(wanted)


def _need(
    daily: pd.DataFrame, config: GuapConfig, as_of: dt.date | None, reference_days: int
) -> _Need:
    key = pd.MultiIndex.from_arrays(
        [_iso(daily["date"]), daily["model_version"].astype(str)], names=["date", "model_version"]
    )
    dates = pd.Series(pd.to_datetime(key.get_level_values("date")).date, index=key)
    as_of = as_of or max(dates)
    mature = daily["mature"].fillna(False).to_numpy(dtype=bool)
    # Final: the window passed and the day is mature (not waiting on a stalled label feed).
    window_passed = (dates <= as_of - dt.timedelta(days=config.label_window_days)) & mature
    n_unlabeled = daily["n_predictions"].to_numpy(dtype=float) - daily["n_labeled"].to_numpy(
        dtype=float
    )
    to_estimate = ~window_passed & pd.Series(n_unlabeled > 0, index=key)
    versions = key.get_level_values("model_version")
    day_of = key.get_level_values("date")
    reference: dict[str, list[str]] = {}
    window: dict[str, list[str]] = {}
    for version in sorted(set(versions[to_estimate.to_numpy()])):
        mine = np.asarray(versions == version)
        passed = window_passed.to_numpy()
        days = sorted(day_of[mine & passed & mature])
        reference[version] = days[-reference_days:] if reference_days > 0 else []
        window[version] = sorted(day_of[mine & ~passed])
    return _Need(as_of, window_passed, to_estimate, reference, window)


def estimate_frame(
    labeled: pd.DataFrame,
    daily: pd.DataFrame,
    config: GuapConfig,
    *,
    as_of: dt.date | None = None,
    level: float = LEVEL,
    reference_days: int = REFERENCE_DAYS,
    n_replicates: int = N_REPLICATES,
    adapt: Adapt = "auto",
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`estimate_days` over frames: ``labeled`` holds the row-level rows of the days.

    ``labeled`` needs (at least) every day of the label window and the reference days of
    each version; other days are ignored. See :func:`estimate_days`.
    """
    out = daily.copy()
    out["estimated_profit"] = np.nan
    out["estimated_profit_low"] = np.nan
    out["estimated_profit_high"] = np.nan
    out["estimate_kind"] = "none"
    out["estimate_note"] = ""
    if daily.empty:
        return out
    need = _need(daily, config, as_of, reference_days)
    realized = ~need.to_estimate.to_numpy()
    profit = out["profit"].to_numpy(dtype=np.float64)
    for column in ("estimated_profit", "estimated_profit_low", "estimated_profit_high"):
        out.loc[realized, column] = profit[realized]
    out.loc[realized, "estimate_kind"] = "realized"
    out.loc[realized, "estimate_note"] = np.where(
        need.window_passed.to_numpy()[realized], _REALIZED_WINDOW, _REALIZED_ALL
    )
    if not need.to_estimate.any():
        return out
    position = {key: i for i, key in enumerate(need.to_estimate.index)}
    column_at = {c: out.columns.get_loc(c) for c in ESTIMATE_COLUMNS}

    def say(keys: list[tuple[str, str]], note: str) -> None:
        out.iloc[[position[k] for k in keys], column_at["estimate_note"]] = note

    targets = list(need.to_estimate.index[need.to_estimate.to_numpy()])
    if not config.is_binary:
        say(targets, "no estimate: estimating profit from scores needs a binary problem")
        return out
    rows = labeled.copy() if len(labeled) else pd.DataFrame(columns=["date", "model_version"])
    if len(rows):
        rows["date"] = _iso(rows["date"])
        rows["model_version"] = rows["model_version"].astype(str)
    censor = _censoring_instant(rows)
    by_key = dict(list(rows.groupby(["date", "model_version"], sort=False)))
    for version, ref_days in need.reference.items():
        mine = [key for key in targets if key[1] == version]
        ref = _reference_rows(by_key, ref_days, version, config)
        problem = _reference_problem(ref, version, ref_days)
        if problem:
            say(mine, problem)
            continue
        assert ref is not None
        window_keys, parts = [], []
        for day in need.window[version]:
            key = (day, version)
            part = _day_rows(by_key.get(key), config, censor)
            if isinstance(part, str):
                if key in position and need.to_estimate.iloc[position[key]]:
                    say([key], part)
                continue
            window_keys.append(key)
            parts.append(part)
        usable = [k for k in window_keys if need.to_estimate.iloc[position[k]]]
        if not usable:
            continue
        group = np.concatenate([np.full(len(p["score"]), i) for i, p in enumerate(parts)])
        stacked = {c: np.concatenate([p[c] for p in parts]) for c in parts[0] if c != "stakes"}
        stakes = {c: np.concatenate([p["stakes"][c] for p in parts]) for c in parts[0]["stakes"]}
        rows_seed = seed + zlib.crc32(version.encode())
        window_rows = _thin_labeled(
            DayRows(group=group.astype(np.intp), n_groups=len(parts), stakes=stakes, **stacked),
            MAX_LEARNING_ROWS,
            np.random.default_rng(rows_seed + 1),
        )
        result = estimate_unlabeled(
            _thin_reference(ref, MAX_LEARNING_ROWS, np.random.default_rng(rows_seed + 2)),
            window_rows,
            level=level,
            n_replicates=n_replicates,
            adapt=adapt,
            seed=rows_seed,
        )
        result.index = pd.MultiIndex.from_tuples(window_keys)
        result = result.loc[usable]
        at = [position[k] for k in usable]
        base = profit[at]
        out.iloc[at, column_at["estimated_profit"]] = base + result["expected"].to_numpy()
        out.iloc[at, column_at["estimated_profit_low"]] = base + result["low"].to_numpy()
        out.iloc[at, column_at["estimated_profit_high"]] = base + result["high"].to_numpy()
        out.iloc[at, column_at["estimate_kind"]] = "estimated"
        out.iloc[at, column_at["estimate_note"]] = [
            _estimated_note(r, version, len(ref_days), ref.n_positive, level)
            for r in result.to_dict("records")
        ]
    return out


def _estimated_note(
    r: dict[str, object], version: str, n_days: int, n_positive: int, level: float
) -> str:
    reference = f"{n_days} mature days of model {version} ({n_positive} positives)"
    how = [
        f"scores used as probabilities (a calibration on {reference} predicted no better)"
        if r["raw_scores"]
        else f"calibrated on {reference}"
    ]
    if r["recalibrated"]:
        how.append("adjusted to the labels landed so far")
    if r["prior_adapted"]:
        how.append(f"prevalence adapted to the day's scores ({r['prevalence']:.1%})")
    elif r["covariate_shift"]:
        how.append("scores moved unlike a change of class balance: calibration kept as is")
    if not r["delays_known"]:
        how.append("label delays unknown: assumed the same for both classes")
    return (
        f"estimated: {r['n_unlabeled']} unlabeled rows valued from their scores, "
        f"{level:.0%} interval; " + "; ".join(how)
    )


def overall_estimate(daily: pd.DataFrame) -> pd.DataFrame:
    """Per date, the estimate summed over model versions (the series' ``(all)`` rows).

    Versions are estimated independently, so the interval half-widths add in quadrature
    (exact for normal errors, close otherwise). NaN on a date where any version has no
    estimate; kind ``realized`` only when every version's is.
    """
    columns = list(ESTIMATED_PROFIT)
    kinds = estimate_kinds(daily)
    frame = daily[["date", *columns]].assign(
        below=(daily[columns[0]] - daily[columns[1]]) ** 2,
        above=(daily[columns[2]] - daily[columns[0]]) ** 2,
        missing=daily[columns[0]].isna(),
        none=kinds.eq("none"),
        realized=kinds.eq("realized"),
    )
    grouped = frame.groupby("date", sort=True)
    point = grouped[columns[0]].sum(min_count=1).where(~grouped["missing"].any())
    kind = np.where(
        grouped["none"].any(), "none", np.where(grouped["realized"].all(), "realized", "estimated")
    )
    out = pd.DataFrame(
        {
            "estimated_profit": point,
            "estimated_profit_low": point - np.sqrt(grouped["below"].sum()),
            "estimated_profit_high": point + np.sqrt(grouped["above"].sum()),
            "estimate_kind": pd.Series(kind, index=point.index),
        }
    )
    return out.reset_index()


def estimate_kinds(daily: pd.DataFrame) -> pd.Series:
    """``estimate_kind`` of each row; derived from the figures where the column is absent
    (the public table): no estimate is NaN, and a zero-width interval is ``realized`` —
    also on a day inside the window whose missing labels are not expected to arrive."""
    if "estimate_kind" in daily.columns:
        return daily["estimate_kind"].astype(object)
    low, high = daily["estimated_profit_low"], daily["estimated_profit_high"]
    kinds = np.where(low.eq(high), "realized", "estimated")
    return pd.Series(np.where(daily["estimated_profit"].isna(), "none", kinds), index=daily.index)
