"""What each Dagster asset calls: the build steps over the store, the plan of what is
stale, and the Arrow/DuckDB paths for big days.

Imports: any other subpackage; nothing imports it but the Dagster layer and tools.
"""
