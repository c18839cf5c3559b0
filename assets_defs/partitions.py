"""Daily partitions on the prediction day, in the config's time zone (today included)."""

import dagster as dg

from assets_defs.settings import START_DATE, TIMEZONE

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=START_DATE.isoformat(), timezone=TIMEZONE, end_offset=1
)
