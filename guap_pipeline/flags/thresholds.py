"""The decline's calibrated thresholds for the default settings, shipped with the code.

:func:`~guap_pipeline.flags.cusum.calibrate_threshold` simulates stable series to find
each stage's CUSUM threshold; the answer depends on the settings alone, yet every process
that assessed the flags redid the four simulations (seconds of CPU per ``run``; see
benchmarks/README.md, issue 19). Deployments that keep the default detector settings read
them from :data:`SHIPPED`; other settings miss it and are simulated (once per process).

A table in the code rather than a cache file in the store: a fresh store and a first run
(a backfill, a benchmark) gain too, and there is nothing to invalidate at run time. A
change of the simulation's code that moves a threshold fails
``tests/test_flags_thresholds.py``, which recomputes every entry.
"""

from __future__ import annotations

from guap_pipeline.flags.cusum import calibrate_threshold

Arguments = tuple[tuple[str, float], ...]


def _key(**arguments: float) -> Arguments:
    return tuple(sorted(arguments.items()))


_DEFAULT = {"k": 0.5, "false_alarms_per_year": 0.2, "winsor_z": 2.5, "max_autocorrelation": 0.4}
# calibrate_threshold's arguments (path_days and seed at their defaults) → threshold h:
# FlagSettings()'s four stages (reference of 28, 56, 112 and 224 days).
SHIPPED: dict[Arguments, float] = {
    _key(**_DEFAULT, reference_days=28, warmup=0, days=56): 10.67,
    _key(**_DEFAULT, reference_days=56, warmup=28, days=56): 7.86,
    _key(**_DEFAULT, reference_days=112, warmup=28, days=112): 6.4,
    _key(**_DEFAULT, reference_days=224, warmup=28, days=365): 5.77,
}


def threshold(**arguments: float) -> float:
    """:func:`calibrate_threshold` of these (keyword) arguments: from :data:`SHIPPED` when
    there, else simulated."""
    shipped = SHIPPED.get(_key(**arguments))
    return shipped if shipped is not None else calibrate_threshold(**arguments)
