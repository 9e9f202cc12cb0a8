"""Sorted lookups and distinct rows answer as NumPy's general functions do."""

from __future__ import annotations

import numpy as np
import pytest

from feed.core.lookup import distinct, find_sorted


@pytest.mark.parametrize("n", [0, 1, 2, 7, 2000])
def test_distinct_is_numpys_unique(rng, n):
    for values in (rng.integers(0, max(n // 3, 1), n), rng.integers(-(10**12), 10**12, n)):
        out = distinct(values)
        assert out.dtype == values.dtype
        np.testing.assert_array_equal(out, np.unique(values))
    floats = rng.standard_normal(n).round(1)
    np.testing.assert_array_equal(distinct(floats), np.unique(floats))


def test_find_sorted_says_which_values_are_there():
    keys = np.array([2, 5, 9], dtype=np.int64)
    at, found = find_sorted(keys, np.array([9, 1, 5, 10, 6]))
    assert found.tolist() == [True, False, True, False, False]
    assert at[found].tolist() == [2, 1]
    at, found = find_sorted(np.empty(0, np.int64), np.array([3]))
    assert found.tolist() == [False]
