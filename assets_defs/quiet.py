"""Hide Dagster's maturity warnings in this project's own processes.

The project uses some beta and preview Dagster APIs knowingly (single-run backfills,
partitioned checks); their notes are for its developers, not for users' logs (`run`,
`dagster dev`). Imported first by the entry points this project owns
(:mod:`assets_defs.definitions`, the command line), before any asset is defined, where
the warnings fire; never by :mod:`assets_defs.component`, which runs in users' projects.
"""

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
