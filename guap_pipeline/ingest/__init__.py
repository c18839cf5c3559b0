"""From the landing folder to staged, validated rows: scanning, reading Parquet and CSV,
row validation with quarantine reasons, staging by day with its manifest, routing labels
to their prediction's day, reading a database source into extracts (imported only by a
config that has one: ``source``), and the label feed's health.

Imports: ``errors``, ``formatting``, ``value_matrix``, ``config``, ``store``.
"""
