"""Where the code location finds its business config when Dagster loads it.

``dagster dev -w workspace.yaml`` loads :mod:`assets_defs.definitions`, which reads the
config path from ``GUAP_CONFIG`` (default ``guap.yaml`` in the working folder). Without
a config file the location still loads, with default partitions, so the UI and
``dagster definitions validate`` work before a model is configured. Code that knows its
config (the command line, tests) calls :func:`assets_defs.factory.build_definitions`.
"""

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from guap_pipeline.config import GuapConfig
from guap_pipeline.models_config import load_deployment

CONFIG_ENV = "GUAP_CONFIG"


def config_path() -> str:
    return os.environ.get(CONFIG_ENV, "guap.yaml")


def load_models_if_present(path: str | Path) -> Mapping[str, GuapConfig | None]:
    """The models of the config at ``path`` by name (``""``: a single-model file); one
    unnamed model without a config when there is none yet."""
    return load_deployment(path).models if Path(path).exists() else {"": None}


def today(timezone: str) -> dt.date:
    """The current date in the partitions' time zone."""
    return dt.datetime.now(ZoneInfo(timezone)).date()
