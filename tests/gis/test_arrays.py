"""Array helpers: concatenated index ranges."""

from __future__ import annotations

import numpy as np

from gis.arrays import ranges


def test_ranges_are_the_runs_one_after_another() -> None:
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 1000, 200)
    counts = rng.integers(0, 6, 200)  # empty runs too
    expected = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, counts, strict=True)])
    assert np.array_equal(ranges(starts, counts), expected)
    assert ranges([], []).tolist() == []
