"""The Dagster layer of guap-pipeline: a thin wiring of the core into assets."""
