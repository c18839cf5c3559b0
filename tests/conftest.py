"""Shared test setup: the code location loads with default partitions, never a user's config."""

import os
from pathlib import Path

from hypothesis import settings

# Property tests check results, not speed: a loaded machine must not fail them on time.
settings.register_profile("guap", deadline=None)
settings.load_profile("guap")

# assets_defs.definitions reads GUAP_CONFIG when it is imported; point it at nothing so the tests
# never pick up a guap.yaml from the working folder or the developer's environment.
os.environ["GUAP_CONFIG"] = str(Path(__file__).parent / "no-such-guap.yaml")

# Tests build definitions without the entry points; hide Dagster's maturity notes as they do.
import assets_defs.quiet  # noqa: E402, F401
