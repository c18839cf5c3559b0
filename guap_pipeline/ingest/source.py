"""Where a run's input comes from: the landing folder, or a database read into extracts.

Only a config with a ``source:`` section imports :mod:`guap_pipeline.ingest.database`, and
SQLAlchemy with it (~0.2 s): the commands that never read a database don't pay for it.
"""

from __future__ import annotations

from guap_pipeline.config import GuapConfig
from guap_pipeline.ingest.stage_report import StageReport
from guap_pipeline.ingest.staging import pending_changes, stage_landing
from guap_pipeline.store.store import Store


def stage_input(config: GuapConfig, store: Store) -> StageReport:
    """Stage what is new at the config's source: landing files, or database rows."""
    if config.source is None:
        return stage_landing(config, store)
    from guap_pipeline.ingest import database

    return database.stage_input(config, store)


def input_changes(config: GuapConfig, store: Store) -> dict[str, list[str]]:
    """What waits to be staged: landing files added, changed or removed; for a database,
    also (under ``database``) each kind with rows above its watermark."""
    if config.source is None:
        return pending_changes(config, store)
    from guap_pipeline.ingest import database

    return database.input_changes(config, store)
