"""Reused SQLite engines (assets_defs/cli/sqlite_engines.py) record the same events."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite import sqlite_event_log

from assets_defs.cli.runner import quick_sqlite_commits
from assets_defs.cli.sqlite_engines import reused_sqlite_engines

DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-11")
RANGE = {
    "dagster/asset_partition_range_start": "2026-01-01",
    "dagster/asset_partition_range_end": "2026-01-10",
}


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def rows(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    for day in context.partition_keys:
        context.add_asset_metadata({"rows": int(day[-2:])}, partition_key=day)
    return dg.MaterializeResult()


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(), deps=[rows])
def money(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    for day in context.partition_keys:
        context.add_asset_metadata({"money": 2.5 * int(day[-2:])}, partition_key=day)
    return dg.MaterializeResult()


JOB = dg.Definitions(assets=[rows, money], jobs=[dg.define_asset_job("days", [rows, money])])


def recorded(home: Path, block: Callable[[], AbstractContextManager]) -> list:
    """Run the range inside ``block`` on a fresh SQLite instance; what its storages hold
    afterwards."""
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        with quick_sqlite_commits(), block():
            result = JOB.resolve_job_def("days").execute_in_process(instance=instance, tags=RANGE)
        assert result.success
        events = instance.all_logs(result.run_id)  # the run's own file
        runs = instance.get_runs()
        by_asset = {  # the cross-run asset index
            key: sorted(
                (r.partition_key, dict(r.asset_materialization.metadata))
                for r in instance.fetch_materializations(dg.AssetKey(key), limit=100).records
            )
            for key in ("rows", "money")
        }
    return [
        [(e.dagster_event_type, e.dagster_event and e.dagster_event.partition) for e in events],
        [(r.job_name, r.status, r.tags.get(RANGE_START)) for r in runs],
        by_asset,
    ]


RANGE_START = "dagster/asset_partition_range_start"


def test_the_same_events_are_recorded_with_one_engine_per_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    create = sqlite_event_log.create_engine

    def counting(url: object, **kwargs: object) -> object:
        built.append(str(url))
        return create(url, **kwargs)

    @contextmanager
    def counted(reuse: bool) -> Iterator[None]:
        monkeypatch.setattr(sqlite_event_log, "create_engine", counting)
        with reused_sqlite_engines() if reuse else nullcontext():
            yield
        assert sqlite_event_log.create_engine is counting  # put back when the block ends
        monkeypatch.setattr(sqlite_event_log, "create_engine", create)

    plain = recorded(tmp_path / "plain", lambda: counted(False))
    per_event = len(built)
    built.clear()
    reused = recorded(tmp_path / "reused", lambda: counted(True))
    assert reused == plain
    assert len(plain[2]["money"]) == 10 and len(plain[0]) > 40  # the range was recorded
    # one engine for the run's file and one for the asset index, instead of one per use
    assert per_event > 40
    assert sorted(built) == sorted(set(built)) and len(built) == 2
