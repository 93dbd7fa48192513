"""The one-polygon-per-point boundary rule, shared by blocks, plans and lookups."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Point, box

from gis.geometry.ownership import assign_points, assign_polygons

# four unit squares meeting at (1, 1)
SQUARES = np.asarray([box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 1, 1, 2), box(1, 1, 2, 2)])


def test_interior_points_get_their_square() -> None:
    pts = [Point(0.5, 0.5), Point(1.5, 0.5), Point(0.5, 1.5), Point(1.5, 1.5)]
    assert assign_points(pts, SQUARES).tolist() == [0, 1, 2, 3]


def test_every_boundary_point_gets_exactly_one_square_by_the_nudge() -> None:
    # shared edge midpoints and the shared corner: the nudge goes east and north
    pts = [Point(1, 0.5), Point(0.5, 1), Point(1, 1), Point(1, 1.5), Point(1.5, 1)]
    assert assign_points(pts, SQUARES, nudge=(0.01, 0.00618)).tolist() == [1, 2, 3, 3, 3]


def test_points_outside_get_minus_one() -> None:
    assert assign_points([Point(5, 5)], SQUARES).tolist() == [-1]


def test_on_the_outer_edge_with_the_nudge_outside_falls_back_to_lowest_id() -> None:
    # on the east edge of square 1 (outer boundary): only square 1 covers it
    assert assign_points([Point(2, 0.5)], SQUARES).tolist() == [1]
    # top-right outer corner of square 3: one candidate
    assert assign_points([Point(2, 2)], SQUARES).tolist() == [3]


def test_polygons_go_where_most_of_their_area_is() -> None:
    feats = [box(0.8, 0.2, 1.5, 0.4), box(0.2, 0.9, 0.4, 1.05), shapely.Point(9, 9).buffer(0.1)]
    best, share = assign_polygons(feats, SQUARES)
    assert best.tolist() == [1, 0, -1]
    assert share[0] == np.float64(0.5 / 0.7).round(12) or abs(share[0] - 0.5 / 0.7) < 1e-9
