"""The guap-pipeline code location as ``dagster dev -w workspace.yaml`` loads it: the
config named by ``GUAP_CONFIG`` (default ``guap.yaml`` in the working folder)."""

import assets_defs.quiet  # noqa: F401  (first: before any asset is defined)
from assets_defs.factory import build_definitions
from assets_defs.settings import config_path

defs = build_definitions(config_path())
