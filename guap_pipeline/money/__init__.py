"""Labeled rows into money: quadrant accounting, one prediction day from staged rows to its
profit tables, threshold hindsight, and attributing a change of profit to the quadrants.

Imports: ``errors``, ``formatting``, ``value_matrix``, ``config``, ``store``, ``ingest``.
"""
