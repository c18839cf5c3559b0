"""guap-pipeline core: turn a classifier's predictions and outcomes into money, day by day.

No Dagster here: every function works from a notebook on plain tables.
"""

from guap_pipeline.config import GuapConfig, load_config, parse_config
from guap_pipeline.errors import ConfigError, GuapError, InputError
from guap_pipeline.money.accounting import SUMMARY_COLUMNS, Accounts, account, normalized_profit
from guap_pipeline.value_matrix import CellValue, ValueMatrix

__all__ = [
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
