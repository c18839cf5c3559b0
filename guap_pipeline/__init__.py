"""guap-pipeline core: turn a classifier's predictions and outcomes into money, day by day.

No Dagster here: every function works from a notebook on plain tables.

The data's path: landing folder → ``ingest`` (scanned, read, validated, staged by day,
labels routed to their prediction's day) → ``money`` (one day labeled and priced:
quadrant accounting, threshold hindsight) → ``estimate`` (immature days) → ``series``
(the daily table, ROI, acceptance) → ``flags`` and ``alerts`` → ``report``. ``steps``
is what each Dagster asset calls; ``engines`` runs a day's heavy step on a cluster;
``store`` holds every table; ``datasets`` makes synthetic data.

Dependencies go one way, lowest first (:data:`LAYERS`): a module imports only from its
own layer or lower ones (``tests/test_structure.py`` checks it). ``flags`` sit low
because they need nothing but a daily table; ``config`` sits above them and the value
matrix because it builds both from ``guap.yaml``.
"""

from guap_pipeline.config import GuapConfig, load_config, parse_config
from guap_pipeline.errors import ConfigError, GuapError, InputError
from guap_pipeline.money.accounting import SUMMARY_COLUMNS, Accounts, account, normalized_profit
from guap_pipeline.value_matrix import CellValue, ValueMatrix

# The core's layers, lowest first: top-level modules and subpackages by name.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(names.split())
    for names in (
        "errors formatting numeric",
        "datasets",
        "flags",
        "value_matrix",
        "config source_config config_reading models_config",
        "store",
        "ingest",
        "money",
        "estimate",
        "series",
        "alerts",
        "report",
        "engines",
        "steps",
    )
)

__all__ = [
    "LAYERS",
    "SUMMARY_COLUMNS",
    "Accounts",
    "CellValue",
    "ConfigError",
    "GuapConfig",
    "GuapError",
    "InputError",
    "ValueMatrix",
    "account",
    "load_config",
    "normalized_profit",
    "parse_config",
]
