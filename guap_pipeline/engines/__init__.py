"""Execution engines other than the embedded one: a day's heavy step on a Dask cluster,
giving the same tables as the embedded path.

Imports: everything below it (``report`` and lower); never ``steps``.
"""
