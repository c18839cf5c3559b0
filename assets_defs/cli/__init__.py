"""The ``guap-pipeline`` command line, beside the definitions and not part of them.

:mod:`~assets_defs.cli.commands` parses and runs the commands; only the ones that execute
the asset graph import :mod:`~assets_defs.cli.runner`, and with it Dagster.
"""

from assets_defs.cli.commands import main

__all__ = ["main"]
