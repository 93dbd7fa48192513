"""Which points lie within a distance of some lines: exact, without a geometry per point.

shapely answers this with an ``STRtree`` ``dwithin`` query, which needs a Point geometry per
query point (about 1 µs each to build) and a GEOS distance per candidate. The street-share
and off-street checks ask it of every 5 m of a plan's boundary: 285,000 points on the
SYNTHETIC city of 1,900 grids (bench/scale.py), 1.0 s, half the checks' time. Nothing in
shapely, scipy or geopandas takes bare coordinates for it, hence this module:

1. the lines become straight segments (:func:`segments`), each cut for the search into
   pieces of at most :data:`PIECE_M`, whose midpoints go in a :class:`scipy.spatial.cKDTree`;
2. a point's nearest midpoint names a candidate segment, and the point's exact distance to it
   (:func:`point_segment_distance`, GEOS's own formula) settles most points at once;
3. a point left unsettled with a midpoint in reach (distance + half a piece) is measured
   against every segment with a piece in reach, so no near point is missed.

A point is near when its distance to some segment is at most the distance: the answers of
``dwithin`` on random and real plans in projected coordinates, except on exact ties, where
GEOS's ``dwithin`` sometimes answers no for a point whose ``shapely.distance`` equals the
distance (seen near the origin, within 1e-13 m). 0.17 s on that city.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely
from scipy.spatial import cKDTree

from gis.arrays import ranges

#: Longest piece (m) of a line put in the search tree: longer pieces make a smaller tree but
#: leave more points to the slower second pass (on the 1,900-grid city, 6 m: 0.41 s; 24 m:
#: 0.26 s; 48 m: 0.17 s with 2 % of points in the second pass).
PIECE_M = 48.0
_POLYGON = 3


def within_distance(
    xy: npt.ArrayLike, lines: npt.NDArray[np.object_], distance: float
) -> npt.NDArray[np.bool_]:
    """Per point of ``xy`` (n × 2), whether some line of ``lines`` lies within ``distance``.

    ``lines`` may hold lines, rings, points, their multi-part kinds and polygons, which count
    by their rings (a point inside a polygon is not near its outline); empty and missing
    geometries are never near.

    Examples
    --------
    >>> line = np.array([shapely.LineString([(0, 0), (100, 0)])])
    >>> within_distance([[50, 2.9], [50, 3.1], [-2, 2]], line, 3.0).tolist()
    [True, False, True]
    """
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    near = np.zeros(len(pts), dtype=bool)
    a, b = segments(lines)
    if len(a) == 0 or len(pts) == 0:
        return near
    count = np.maximum(1, np.ceil(np.hypot(*(b - a).T) / PIECE_M)).astype(np.int64)
    seg = np.repeat(np.arange(len(a)), count)
    step = ranges(np.zeros(len(a), dtype=np.int64), count)
    frac = ((step + 0.5) / count[seg])[:, None]
    tree = cKDTree(a[seg] + frac * (b[seg] - a[seg]))
    reach = distance + PIECE_M / 2.0 + 1e-6  # a point on a piece lies this near its midpoint
    _, nearest = tree.query(pts, k=1, distance_upper_bound=reach)
    found = np.flatnonzero(nearest < tree.n)
    s = seg[nearest[found]]
    near[found[point_segment_distance(pts[found], a[s], b[s]) <= distance]] = True
    rest = found[~near[found]]
    if len(rest):
        pairs = cKDTree(pts[rest]).sparse_distance_matrix(tree, reach, output_type="ndarray")
        p, s = rest[pairs["i"]], seg[pairs["j"]]
        near[p[point_segment_distance(pts[p], a[s], b[s]) <= distance]] = True
    return near


def segments(
    lines: npt.NDArray[np.object_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The straight segments of ``lines`` as their start and end coordinates (n × 2 each).

    Polygons give their rings; a point gives a segment of length zero.
    """
    geoms = np.asarray(lines, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    while np.any(shapely.get_type_id(geoms) > _POLYGON):  # multi-parts, collections of them
        geoms = shapely.get_parts(geoms)
    polygon = shapely.get_type_id(geoms) == _POLYGON
    if polygon.any():
        geoms = np.concatenate([geoms[~polygon], shapely.get_rings(geoms[polygon])])
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    same = which[1:] == which[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    lone = np.bincount(which, minlength=len(geoms))[which] == 1
    return np.concatenate([a, coords[lone]]), np.concatenate([b, coords[lone]])


def point_segment_distance(
    p: npt.NDArray[np.float64], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Distance from each point ``p[i]`` to the segment ``a[i]``-``b[i]`` (rows n × 2).

    GEOS's formula (``Distance::pointToSegment``), step for step: the values of
    ``shapely.distance``.
    """
    ab = b - a
    len2 = ab[:, 0] * ab[:, 0] + ab[:, 1] * ab[:, 1]
    pa, pb = p - a, p - b
    to_a = np.sqrt(pa[:, 0] * pa[:, 0] + pa[:, 1] * pa[:, 1])
    to_b = np.sqrt(pb[:, 0] * pb[:, 0] + pb[:, 1] * pb[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (pa[:, 0] * ab[:, 0] + pa[:, 1] * ab[:, 1]) / len2
        s = ((a[:, 1] - p[:, 1]) * ab[:, 0] - (a[:, 0] - p[:, 0]) * ab[:, 1]) / len2
        across = np.abs(s) * np.sqrt(len2)
    return np.where((len2 == 0) | (r <= 0.0), to_a, np.where(r >= 1.0, to_b, across))
