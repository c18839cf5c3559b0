"""The pipeline's steps over the store, and the plan of what is stale.

Each ``build_*`` function reads its inputs from the store, calls the pure functions of
:mod:`guap_pipeline.daily` / :mod:`guap_pipeline.timeseries`, writes its table
atomically and returns figures for metadata. Dagster assets call these one-liners; so
could a notebook or another orchestrator. :func:`plan` says what a monitoring run must
do: stage new files, rebuild the days whose staged inputs changed, restitch the series.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import pandas as pd

from guap_pipeline.config import GuapConfig
from guap_pipeline.daily import (
    DayProfit,
    day_profit,
    dedupe_predictions,
    join_labels,
    latest_labels,
)
from guap_pipeline.landing import (
    pending_changes,
    read_staged,
    staged_days,
    staged_quarantine,
    staged_signature,
)
from guap_pipeline.storage import Store
from guap_pipeline.timeseries import DAILY_COLUMNS, daily_summary, profit_timeseries
from guap_pipeline.validation import QUARANTINE_COLUMNS

BUILT = "built_days"
SERIES_STATE = "timeseries_state"


def build_predictions(store: Store, day: str) -> dict[str, int]:
    """Validated, de-duplicated predictions of one day; duplicates to quarantine."""
    unique, duplicates = dedupe_predictions(read_staged(store, "predictions", day))
    store.write("predictions", unique, day)
    store.write("quarantine_predictions", _as_quarantine(duplicates), day)
    return {"n_predictions": len(unique), "n_duplicates": len(duplicates)}


def build_labels(store: Store, day: str) -> dict[str, int]:
    """Latest label per prediction of one day (history stays in the staged chunks)."""
    staged = read_staged(store, "labels", day)
    latest, changed = latest_labels(staged)
    store.write("labels", latest, day)
    return {"n_labels": len(latest), "n_label_rows": len(staged), "n_changed_labels": changed}


def build_labeled(store: Store, day: str) -> dict[str, int]:
    """The day's predictions with their latest label; orphan labels to quarantine."""
    predictions = store.read("predictions", day)
    labels = store.read("labels", day)
    staged = read_staged(store, "labels", day)
    labeled, orphans = join_labels(
        predictions if predictions is not None else pd.DataFrame(),
        labels
        if labels is not None
        else pd.DataFrame(columns=["prediction_id", "y_true", "labeled_at"]),
        staged if len(staged) else pd.DataFrame(columns=["prediction_id", "_source", "_row"]),
    )
    store.write("labeled_predictions", labeled, day)
    store.write("quarantine_labels", _as_quarantine(orphans), day)
    n_labeled = int(labeled["y_true"].notna().sum()) if len(labeled) else 0
    return {"n_predictions": len(labeled), "n_labeled": n_labeled, "n_orphan_labels": len(orphans)}


def build_day_profit(store: Store, config: GuapConfig, day: str) -> DayProfit:
    """The day's money per model version; records the inputs it was built from."""
    labeled = store.read("labeled_predictions", day)
    result = day_profit(
        labeled
        if labeled is not None
        else pd.DataFrame(columns=["y_true", "y_pred", "date", "model_version"]),
        config,
    )
    store.write("daily_quadrant_profit", result.summary, day)
    store.write("daily_cells", result.cells, day)
    store.write("threshold_hindsight", result.hindsight, day)
    store.write("threshold_curve", result.curves, day)
    built = store.read_json(BUILT, {})
    built[day] = staged_signature(store, day)
    store.write_json(BUILT, built)
    return result


def build_timeseries(store: Store, config: GuapConfig, as_of: dt.date) -> pd.DataFrame:
    """Stitch every built day into the daily summary table and the profit time series."""
    days = store.read_partitions("daily_quadrant_profit")
    daily = daily_summary(days, config, as_of)
    store.write("daily_summary", daily)
    series = profit_timeseries(daily)
    store.write("profit_timeseries", series)
    store.write_json(SERIES_STATE, series_state(store, as_of))
    return daily


def quarantine(store: Store) -> pd.DataFrame:
    """Every quarantined row with its reason: staging, duplicates and orphan labels."""
    frames = [
        staged_quarantine(store),
        store.read_partitions("quarantine_predictions"),
        store.read_partitions("quarantine_labels"),
    ]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(QUARANTINE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(QUARANTINE_COLUMNS)]


def _as_quarantine(frame: pd.DataFrame) -> pd.DataFrame:
    return (
        frame
        if len(frame)
        else pd.DataFrame({c: pd.Series([], dtype="string") for c in QUARANTINE_COLUMNS})
    )


def dirty_days(store: Store) -> list[str]:
    """Days whose staged inputs differ from what their profit was last built from."""
    built = store.read_json(BUILT, {})
    days = set(staged_days(store)) | set(built)
    return sorted(d for d in days if built.get(d) != staged_signature(store, d))


def series_state(store: Store, as_of: dt.date) -> str:
    """Fingerprint of what the time series depends on: every built day and the as-of date."""
    payload = json.dumps(
        {
            "built": store.read_json(BUILT, {}),
            "as_of": as_of.isoformat(),
            "columns": DAILY_COLUMNS,  # an upgrade that changes the table restitches it
        },
        sort_keys=True,
    )
    return hashlib.sha1(payload.encode()).hexdigest()


def contiguous_ranges(days: list[str]) -> list[tuple[str, str]]:
    """Group sorted ISO days into (first, last) runs of consecutive days."""
    ranges: list[tuple[str, str]] = []
    for day in sorted(days):
        if ranges and dt.date.fromisoformat(day) - dt.date.fromisoformat(
            ranges[-1][1]
        ) == dt.timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


@dataclass(frozen=True)
class Plan:
    """What a monitoring run has to do now; empty when everything is current."""

    stage: bool
    day_ranges: list[tuple[str, str]] = field(default_factory=list)
    out_of_range_days: list[str] = field(default_factory=list)
    timeseries: bool = False

    @property
    def days(self) -> int:
        return sum(
            (dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days + 1
            for a, b in self.day_ranges
        )

    @property
    def empty(self) -> bool:
        return not (self.stage or self.day_ranges or self.timeseries)


def plan(
    config: GuapConfig, store: Store, *, as_of: dt.date, last_partition: str, staged: bool = False
) -> Plan:
    """Decide the work: stage if files changed (unless ``staged``), rebuild dirty days up to
    ``last_partition``, restitch when any day or the as-of date changed."""
    stage = not staged and any(pending_changes(config, store).values())
    days = dirty_days(store)
    in_range = [d for d in days if config.start_date.isoformat() <= d <= last_partition]
    out = [d for d in days if d not in in_range]
    series_stale = store.read_json(SERIES_STATE) != series_state(store, as_of)
    return Plan(
        stage=stage,
        day_ranges=contiguous_ranges(in_range),
        out_of_range_days=out,
        timeseries=bool(in_range) or series_stale,
    )
