"""Where the code location finds its business config when Dagster loads it.

``dagster dev -w workspace.yaml`` loads :mod:`assets_defs.definitions`, which reads the
config path from ``GUAP_CONFIG`` (default ``guap.yaml`` in the working folder). Without
a config file the location still loads, with default partitions, so the UI and
``dagster definitions validate`` work before a model is configured. Code that knows its
config (the command line, tests) calls :func:`assets_defs.factory.build_definitions`.
"""

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

from guap_pipeline.config import GuapConfig, load_config

CONFIG_ENV = "GUAP_CONFIG"


def config_path() -> str:
    return os.environ.get(CONFIG_ENV, "guap.yaml")


def load_config_if_present(path: str | Path) -> GuapConfig | None:
    """The config at ``path``, or ``None`` when there is none yet."""
    return load_config(path) if Path(path).exists() else None


def today(timezone: str) -> dt.date:
    """The current date in the partitions' time zone."""
    return dt.datetime.now(ZoneInfo(timezone)).date()
