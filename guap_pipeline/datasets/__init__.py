"""Synthetic data with known answers: the demo's fraud traffic and the flag series that
tests and benchmarks share.

Imports: ``errors`` and ``formatting`` only (the generators know nothing of the pipeline).
"""
