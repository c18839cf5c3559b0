"""What a monitoring run did, and the run that finds nothing to build, without Dagster.

Planning reads only the store's manifests and the landing folder's file stats, so a
``run`` whose plan is empty ends here: it retries the alerts an earlier run left pending
and reports, as a run through Dagster would, without importing Dagster (seconds).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from assets_defs.settings import today as local_date
from guap_pipeline.alerts.delivery import Notifier
from guap_pipeline.alerts.store_runs import deliver_pending
from guap_pipeline.config import GuapConfig
from guap_pipeline.ingest.stage_report import StageReport
from guap_pipeline.steps import plan
from guap_pipeline.store.store import Store


@dataclass
class RunSummary:
    """What one monitoring run executed; ``staging`` says what it did with the input."""

    staged: bool = False
    staging: StageReport | None = None
    day_ranges: list[tuple[str, str]] = field(default_factory=list)
    timeseries: bool = False
    out_of_range_days: list[str] = field(default_factory=list)

    @property
    def did_nothing(self) -> bool:
        return not (self.staged or self.day_ranges or self.timeseries)

    @property
    def days_built(self) -> list[str]:
        first_last = [
            (dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for a, b in self.day_ranges
        ]
        return [
            (first + dt.timedelta(days=i)).isoformat()
            for first, last in first_last
            for i in range((last - first).days + 1)
        ]


def retry_pending_alerts(
    store: Store, notifiers: list[Notifier], progress: Callable[[str], None]
) -> None:
    """Deliver what an earlier run left pending (``profit_alerts`` did not run), and say so."""
    if delivery := deliver_pending(store, notifiers).describe():
        progress(delivery)


def run_if_current(
    config: GuapConfig,
    as_of: dt.date | None,
    notifiers: list[Notifier],
    *,
    progress: Callable[[str], None] = lambda _: None,
) -> RunSummary | None:
    """The run when nothing is missing or stale (pending alerts retried); ``None`` when
    there is work, for the asset graph to do. ``as_of`` defaults to today in the config's
    time zone (the newest partition)."""
    store, today = Store(config.storage), local_date(config.timezone)
    todo = plan(config, store, as_of=as_of or today, last_partition=today.isoformat())
    if not todo.empty:
        return None
    retry_pending_alerts(store, notifiers, progress)
    return RunSummary(out_of_range_days=todo.out_of_range_days)
