"""The daily table and what is read off it: the profit time series, ROI and payback,
acceptance targets, and the early warning from the estimate.

Imports: everything below it: ``errors``, ``formatting``, ``flags``, ``value_matrix``,
``config``, ``store``, ``ingest``, ``money``, ``estimate``.
"""
