"""The street-share figures: boundary pieces found once, lengths near lines."""

from __future__ import annotations

import numpy as np
import shapely

from gis.checks.street_share import MIDPOINT_GRID_M, _pieces, near_lengths


def test_pieces_group_rows_with_the_same_midpoint_and_only_those() -> None:
    rng = np.random.default_rng(3)
    # on the snapping grid, so that noise below half a cell never moves a point to another
    distinct = np.round(rng.uniform(3e5, 4e5, (500, 2)) / MIDPOINT_GRID_M) * MIDPOINT_GRID_M
    rows = rng.integers(0, len(distinct), 4000)
    noise = rng.uniform(-0.2, 0.2, (len(rows), 2)) * MIDPOINT_GRID_M
    mid = distinct[rows] + noise
    first, piece = _pieces(mid)
    assert len(first) == len(np.unique(rows))
    # a row's piece starts at a row of the same midpoint, the first one holding it
    assert np.array_equal(rows[first[piece]], rows)
    assert np.array_equal(piece[first], np.arange(len(first)))
    assert all(first[p] == np.flatnonzero(piece == p)[0] for p in range(len(first)))


def test_a_shared_edge_counts_for_both_grids_and_is_asked_about_once() -> None:
    left = shapely.box(0, 0, 100, 100)
    right = shapely.box(100, 0, 200, 100)
    street = np.array([shapely.LineString([(100, -10), (100, 110)])], dtype=object)
    (near,), total = near_lengths(np.array([left, right], dtype=object), [street], 3.0)
    assert total.tolist() == [400.0, 400.0]
    # the shared edge lies on the street; of the top and bottom edges, the 5 m pieces whose
    # midpoint is 2.5 m from it
    assert near.tolist() == [110.0, 110.0]
