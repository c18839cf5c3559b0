"""Labeled rows into money: quadrant accounting, one prediction day from staged rows to its
profit tables, threshold hindsight (and the stable row order it sorts with).

Imports: ``errors``, ``formatting``, ``value_matrix``, ``config``, ``store``, ``ingest``.
"""
