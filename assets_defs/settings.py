"""Where the code location finds its business config, read once when definitions load.

The partitions (start date, time zone) must be known when Dagster loads the code, so
the config path comes from ``GUAP_CONFIG`` (default ``guap.yaml`` in the working
folder). Without a config file the location still loads, with default partitions, so
the UI and ``dagster definitions validate`` work before a model is configured.
"""

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

from guap_pipeline.config import DEFAULT_START_DATE, GuapConfig, load_config

CONFIG_ENV = "GUAP_CONFIG"


def config_path() -> str:
    return os.environ.get(CONFIG_ENV, "guap.yaml")


def load_config_if_present() -> GuapConfig | None:
    """The configured ``guap.yaml``, or ``None`` when there is none yet."""
    path = Path(config_path())
    return load_config(path) if path.exists() else None


def today(timezone: str) -> dt.date:
    """The current date in the partitions' time zone."""
    return dt.datetime.now(ZoneInfo(timezone)).date()


CONFIG = load_config_if_present()
START_DATE = CONFIG.start_date if CONFIG else DEFAULT_START_DATE
TIMEZONE = CONFIG.timezone if CONFIG else "UTC"
