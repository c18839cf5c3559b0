"""The daily table and what is read off it: the profit time series, the recent-window rule,
ROI and payback, acceptance targets, the early warning from the estimate, and attributing
a change of profit to the quadrants.

Imports: everything below it: ``errors``, ``formatting``, ``flags``, ``value_matrix``,
``config``, ``store``, ``ingest``, ``money``, ``estimate``.
"""
