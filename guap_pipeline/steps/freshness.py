"""What each day was built from, and the plan of what is stale.

The build steps fingerprint the staged inputs they read (:func:`note_inputs`,
:func:`record_built`); :func:`plan` compares them with what is staged now and says what a
monitoring run must do: stage new files, rebuild the days whose staged inputs changed,
restitch the series.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from guap_pipeline.config import GuapConfig
from guap_pipeline.ingest.source import input_changes
from guap_pipeline.ingest.staged import has_staged_rows, staged_days, staged_signature
from guap_pipeline.series.daily_table import DAILY_COLUMNS
from guap_pipeline.store.store import Store

T = TypeVar("T")

BUILT = "built_days"
INPUTS = "inputs"  # per day: the staged signature each build step started from
SERIES_STATE = "timeseries_state"


STAGED_TRIES = 3  # a step built again while staging keeps changing its inputs


def note_inputs(store: Store, day: str, step: str) -> str:
    """Fingerprint the day's staged inputs as a step starts reading them, so that a
    staging pass landing mid-build leaves the day dirty rather than recorded as fresh;
    returns the fingerprint."""
    name = f"{INPUTS}-{day}"
    with store.lock(name):
        seen = store.read_json(name, {})
        seen[step] = signature = staged_signature(store, day)
        store.write_json(name, seen)
    return signature


def from_staged(store: Store, day: str, steps: Sequence[str], build: Callable[[], T]) -> T:
    """``build()``, which reads the day's staged inputs in place of ``steps``, done again
    when a staging pass changed them before it finished (up to :data:`STAGED_TRIES`).

    Otherwise its table, of the older inputs, could replace one that another run built
    from the newer inputs, which the shared inputs file then names: the day would be
    recorded as built from inputs its money never saw. After the last try the step's
    table stands; the day then stays dirty (its inputs moved on) and is rebuilt."""
    for _ in range(STAGED_TRIES):
        noted = {note_inputs(store, day, step) for step in steps}
        result = build()
        if noted == {staged_signature(store, day)}:
            break
    return result


def record_built(store: Store, day: str) -> None:
    """Note the staged inputs the day was built from (as its first steps saw them), under
    the store's lock: runs building days in parallel would overwrite each other's entries.
    Steps that saw different inputs record a signature no staging matches: rebuilt next run."""
    seen = set(store.read_json(f"{INPUTS}-{day}", {}).values()) or {staged_signature(store, day)}
    signature = seen.pop() if len(seen) == 1 else "mixed: " + " ".join(sorted(seen))
    with store.lock(BUILT):
        built = store.read_json(BUILT, {})
        built[day] = signature
        store.write_json(BUILT, built)


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
    """Decide the work: stage if files changed or the database source has new rows (unless
    ``staged``), rebuild dirty days up to ``last_partition``, restitch when any day or the
    as-of date changed; list the days with staged rows outside the partitions."""
    stage = not staged and any(input_changes(config, store).values())
    days = dirty_days(store)
    in_range = [d for d in days if config.start_date.isoformat() <= d <= last_partition]
    out = [d for d in days if d not in in_range and has_staged_rows(store, d)]
    series_stale = store.read_json(SERIES_STATE) != series_state(store, as_of)
    return Plan(
        stage=stage,
        day_ranges=contiguous_ranges(in_range),
        out_of_range_days=out,
        timeseries=bool(in_range) or series_stale,
    )
