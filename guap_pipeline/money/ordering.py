"""Stable row orders of big key arrays, faster than NumPy's stable argsort
(``benchmarks/README.md``).

Each key is packed with its row number into one ``uint64`` and the packed values are
sorted (NumPy's vectorised sort of plain integers) instead of arg-sorting the keys:
ties then come out in row order by construction. Keys whose range leaves too few bits
for the row number lose their lowest bits in the packing; the few runs of rows that
this makes tie are re-sorted by their full keys afterwards.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

# Row numbers are packed in slices of this many rows, to bound the temporary arrays.
_ROWS_AT_A_TIME = 1 << 20
# From this many keys the two halves are sorted on two threads (NumPy's sort releases
# the GIL), then merged; below, threads cost more than they save.
_PARALLEL_ROWS = 1 << 20


def stable_order(keys: NDArray[np.uint64]) -> NDArray[np.intp]:
    """``np.argsort(keys, kind="stable")``: rows by ascending key, ties in row order."""
    if keys.dtype != np.uint64:  # signed keys would need their sign bit flipped first
        raise TypeError(f"stable_order sorts uint64 keys, got {keys.dtype}")
    n = len(keys)
    if n < 2:
        return np.arange(n, dtype=np.intp)
    row_bits = (n - 1).bit_length()
    packed = keys - keys.min()
    shift = max(0, int(packed.max()).bit_length() + row_bits - 64)
    packed >>= np.uint64(shift)
    packed <<= np.uint64(row_bits)
    for start in range(0, n, _ROWS_AT_A_TIME):  # row numbers without an n-row temporary
        stop = min(start + _ROWS_AT_A_TIME, n)
        packed[start:stop] |= np.arange(start, stop, dtype=np.uint64)
    sort_in_place(packed)
    coarse = packed >> np.uint64(row_bits) if shift else None
    packed &= np.uint64((1 << row_bits) - 1)  # in place: the row numbers are the order
    order = packed.view(np.int64).astype(np.intp, copy=False)
    if coarse is not None:
        _sort_runs(order, keys, coarse)
    return order


def sort_in_place(values: NDArray[np.uint64]) -> None:
    """``values.sort()``; a big array's halves on two threads, then merged (a stable sort
    of two sorted runs is one merge pass)."""
    if len(values) < _PARALLEL_ROWS:
        values.sort()
        return
    half = len(values) // 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(np.ndarray.sort, [values[:half], values[half:]]))
    values.sort(kind="stable")


def _sort_runs(
    order: NDArray[np.intp], keys: NDArray[np.uint64], coarse: NDArray[np.uint64]
) -> None:
    """Re-sort, in place by (key, row), each run of ``order`` whose coarse keys tie but
    whose full keys are out of order (``coarse``: the sorted keys without their low bits).
    Only rows in such runs have their full key looked up."""
    tied = coarse[1:] == coarse[:-1]  # each position with the next one
    members = np.flatnonzero(np.r_[tied, False] | np.r_[False, tied])
    if not len(members):
        return
    ordered = keys[order[members]]
    out_of_order = members[:-1][tied[members[:-1]] & (ordered[1:] < ordered[:-1])]
    if not len(out_of_order):
        return
    runs = np.unique(coarse[out_of_order])
    starts = np.searchsorted(coarse, runs, side="left")
    lengths = np.searchsorted(coarse, runs, side="right") - starts
    ends = np.cumsum(lengths)
    members = np.arange(ends[-1]) + np.repeat(starts - ends + lengths, lengths)
    rows = order[members]
    order[members] = rows[np.lexsort((rows, keys[rows]))]
