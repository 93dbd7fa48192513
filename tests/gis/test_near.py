"""Points within a distance of lines: the same answers as shapely's ``dwithin``."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.geometry.near import PIECE_M, point_segment_distance, within_distance


def _dwithin(xy: np.ndarray, lines: np.ndarray, distance: float) -> np.ndarray:
    near = np.zeros(len(xy), dtype=bool)
    hit, _ = shapely.STRtree(lines).query(
        shapely.points(xy), predicate="dwithin", distance=distance
    )
    near[hit] = True
    return near


def _random_lines(rng: np.random.Generator, n: int, span: float) -> np.ndarray:
    """Lines of 2-6 vertices, some long (many pieces), some tiny."""
    out = []
    for _ in range(n):
        k = int(rng.integers(2, 7))
        start = rng.uniform(0, span, 2)
        steps = rng.normal(0, rng.choice([0.5, 20.0, 300.0]), (k - 1, 2))
        out.append(shapely.LineString(np.vstack([start, start + np.cumsum(steps, axis=0)])))
    return np.array(out, dtype=object)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), distance=st.sampled_from([0.5, 3.0, 10.0, 60.0]))
def test_answers_are_those_of_dwithin(seed: int, distance: float) -> None:
    rng = np.random.default_rng(seed)
    lines = _random_lines(rng, 40, 1000.0)
    xy = rng.uniform(-100, 1100, (2000, 2))
    # points just off the lines too, where the answer turns
    on = shapely.get_coordinates(
        shapely.line_interpolate_point(lines, rng.uniform(0, 1, 40), normalized=True)
    )
    xy = np.vstack([xy, on + rng.normal(0, distance, on.shape)])
    assert np.array_equal(within_distance(xy, lines, distance), _dwithin(xy, lines, distance))


def test_multi_parts_points_and_polygon_outlines_count_empties_do_not() -> None:
    geoms = np.array(
        [
            shapely.MultiLineString([[(0, 0), (10, 0)], [(0, 100), (10, 100)]]),
            shapely.box(200, 0, 300, 100).difference(shapely.box(240, 40, 260, 60)),
            shapely.Point(500, 500),
            shapely.LineString(),
            None,
        ],
        dtype=object,
    )
    xy = np.array([[5, 101], [5, 50], [250, 50], [250, 58], [501, 501], [600, 600], [270, 50]])
    outlines = geoms[:4].copy()
    outlines[1] = shapely.boundary(outlines[1])  # a polygon counts by its rings, not its inside
    assert within_distance(xy, geoms, 3.0).tolist() == _dwithin(xy, outlines, 3.0).tolist()
    assert within_distance(xy, geoms, 3.0).tolist() == [
        True,
        False,
        False,
        True,
        True,
        False,
        False,
    ]


def test_collections_of_multi_parts_do_not_join_their_parts() -> None:
    nested = shapely.GeometryCollection(
        [shapely.MultiLineString([[(0, 0), (10, 0)], [(100, 0), (110, 0)]]), shapely.Point(0, 50)]
    )
    xy = np.array([[55, 0], [105, 1], [0, 51]])  # between the two lines; on the second; the point
    assert within_distance(xy, np.array([nested]), 3.0).tolist() == [False, True, True]


def test_a_long_straight_line_is_found_from_its_middle() -> None:
    line = np.array([shapely.LineString([(0, 0), (100 * PIECE_M, 0)])])
    xy = np.array([[50 * PIECE_M + 7, 2.0], [50 * PIECE_M + 7, 2.5]])
    assert within_distance(xy, line, 2.25).tolist() == [True, False]


def test_nothing_is_near_no_lines_and_no_points_are_asked() -> None:
    assert within_distance([[0, 0]], np.array([], dtype=object), 1.0).tolist() == [False]
    line = np.array([shapely.LineString([(0, 0), (1, 0)])])
    assert within_distance(np.empty((0, 2)), line, 1.0).tolist() == []


def test_point_segment_distance_is_the_distance_to_the_nearest_point() -> None:
    a = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [3.0, 3.0]])
    b = np.array([[10.0, 0.0], [10.0, 0.0], [10.0, 0.0], [3.0, 3.0]])
    p = np.array([[5.0, 4.0], [-3.0, 4.0], [13.0, -4.0], [0.0, -1.0]])
    assert point_segment_distance(p, a, b).tolist() == [4.0, 5.0, 5.0, 5.0]
