"""The packed-key stable orders against NumPy's stable argsort: ties, wide keys, nulls."""

from __future__ import annotations

import numpy as np
import pytest

from guap_pipeline.money.ordering import stable_order
from guap_pipeline.money.threshold import descending_order

RNG = np.random.default_rng(7)


def _wide_with_near_ties(n: int) -> np.ndarray:
    """Keys over 62 bits (too wide to pack with a row number whole) in clusters that
    differ only in their lowest bits, and exact ties."""
    base = RNG.integers(0, 1 << 40, n // 8, dtype=np.uint64) << np.uint64(22)
    keys = np.repeat(base, 8) + RNG.integers(0, 4, 8 * (n // 8)).astype(np.uint64)
    return RNG.permutation(keys)


@pytest.mark.parametrize(
    "keys",
    [
        np.array([], dtype=np.uint64),
        np.array([5], dtype=np.uint64),
        np.array([3, 1, 3, 0, 1, 3], dtype=np.uint64),
        RNG.integers(0, 50, 10_000).astype(np.uint64),  # many ties
        RNG.integers(0, 1 << 64, 10_000, dtype=np.uint64, endpoint=False),  # full range
        _wide_with_near_ties(20_000),
        np.full(1000, (1 << 64) - 1, dtype=np.uint64),
    ],
)
def test_stable_order_is_numpys_stable_argsort(keys: np.ndarray) -> None:
    expected, given = np.argsort(keys, kind="stable"), keys.copy()
    np.testing.assert_array_equal(stable_order(keys), expected)
    np.testing.assert_array_equal(keys, given)  # keys left as they were


def test_row_numbers_packed_slice_by_slice_give_the_same_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("guap_pipeline.money.ordering._ROWS_AT_A_TIME", 7)  # slices end mid-run
    for keys in (RNG.integers(0, 50, 1000).astype(np.uint64), _wide_with_near_ties(1000)):
        np.testing.assert_array_equal(stable_order(keys), np.argsort(keys, kind="stable"))


def test_big_keys_sorted_in_halves_on_two_threads_give_the_same_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("guap_pipeline.money.ordering._PARALLEL_ROWS", 8)
    for keys in (
        RNG.integers(0, 50, 10_001).astype(np.uint64),  # odd length: unequal halves
        RNG.integers(0, 1 << 64, 10_000, dtype=np.uint64, endpoint=False),
        _wide_with_near_ties(20_000),
        np.arange(5000, dtype=np.uint64)[::-1].copy(),  # every key of one half above the other's
    ):
        np.testing.assert_array_equal(stable_order(keys), np.argsort(keys, kind="stable"))


@pytest.mark.parametrize(
    "scores",
    [
        np.round(RNG.random(100_000), 3),  # rounded: few distinct values, many ties
        RNG.random(100_000),
        np.array([0.5, -0.0, 1.0, 0.0, 0.5, 1.0, 0.0]),
        np.array([], dtype=np.float64),
        np.array([-1.0, 0.5, -0.5, 0.5]),  # outside [0, 1]: the bit trick does not hold
        np.array([0.2, np.nan, 0.7, np.nan]),
        np.array([0.25, 0.5, 0.25], dtype=np.float32),
    ],
)
def test_descending_order_is_the_stable_argsort_of_minus_scores(scores: np.ndarray) -> None:
    np.testing.assert_array_equal(descending_order(scores), np.argsort(-scores, kind="stable"))


def test_signed_keys_are_refused_rather_than_misordered() -> None:
    with pytest.raises(TypeError, match="uint64"):
        stable_order(np.array([-1, 2], dtype=np.int64))
