"""Daily partitions on the prediction day, in the config's time zone (today included)."""

import dagster as dg

from guap_pipeline.config import DEFAULT_START_DATE, GuapConfig


def daily_partitions(config: GuapConfig | None) -> dg.DailyPartitionsDefinition:
    """The days from the config's ``start_date`` in its time zone; without a config
    (the UI before a model is configured) the default start date in UTC."""
    start = config.start_date if config else DEFAULT_START_DATE
    return dg.DailyPartitionsDefinition(
        start_date=start.isoformat(), timezone=config.timezone if config else "UTC", end_offset=1
    )
