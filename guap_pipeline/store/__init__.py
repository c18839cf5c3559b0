"""The store: tables as Parquet files (one per table and day, written atomically), locks,
and the DuckDB and Arrow helpers every stage reads and writes through.

Imports: ``errors`` only.
"""
