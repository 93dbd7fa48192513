"""Assigning features to the polygons of a coverage, each to exactly one.

The boundary rule of the library (households to blocks, atoms and grids while planning):
a point is assigned to the polygon whose **interior** contains it; when it lies on a shared
edge or vertex, to the covering polygon whose interior contains the point nudged by the fixed
vector ``NUDGE_M`` (east by 1 cm, north by 0.618 cm in the metric CRS); if still tied (or the
nudged point falls outside every candidate), to the lowest polygon id among those covering the
point. Polygons (buildings, household polygons) go to the polygon they overlap most (ties: the
lowest id).

Lookups on a published plan (:mod:`gis.serving.lookup`, the SQL path of :mod:`gis.store`) follow the
same three steps in the stored CRS, EPSG:4326: a nudge of ``(1e-9, 0.618e-9)`` degrees and the
lowest grid code. The two cannot be one rule: a point exactly on an edge in the metric CRS is
not exactly on it after reprojection, so each side only has to be consistent with itself.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely

#: The nudge vector of the boundary rule, in metres of the working CRS.
NUDGE_M: tuple[float, float] = (0.01, 0.00618)


def assign_points(
    points: npt.ArrayLike,
    polygons: npt.ArrayLike,
    *,
    nudge: tuple[float, float] = NUDGE_M,
    tree: shapely.STRtree | None = None,
) -> npt.NDArray[np.int64]:
    """Index of the one polygon each point belongs to (``-1`` when outside all).

    Parameters
    ----------
    points
        Shapely points, in the same CRS as ``polygons``.
    polygons
        A coverage: polygons that do not overlap (they may touch).
    nudge
        The tie-break vector (same units as the CRS).
    tree
        A prebuilt ``STRtree(polygons)`` to reuse.

    Returns
    -------
    numpy.ndarray
        One polygon index per point; the order of ``polygons`` is the tie-break order.
    """
    pts = np.asarray(points, dtype=object)
    polys = np.asarray(polygons, dtype=object)
    result = np.full(len(pts), -1, dtype=np.int64)
    if len(pts) == 0 or len(polys) == 0:
        return result
    tree = tree if tree is not None else shapely.STRtree(polys)
    pi, gi = tree.query(pts, predicate="intersects")
    if len(pi) == 0:
        return result
    counts = np.bincount(pi, minlength=len(pts))
    single = counts[pi] == 1
    result[pi[single]] = gi[single]
    multi = ~single
    if multi.any():
        mp, mg = pi[multi], gi[multi]
        moved = shapely.transform(pts[mp], lambda xy: xy + np.asarray(nudge))
        inside = shapely.contains_properly(polys[mg], moved)
        # lowest id first; within ties prefer the nudged containment
        order = np.lexsort((mg, ~inside, mp))
        mp, mg = mp[order], mg[order]
        first = np.ones(len(mp), dtype=bool)
        first[1:] = mp[1:] != mp[:-1]
        result[mp[first]] = mg[first]
    return result


def assign_polygons(
    features: npt.ArrayLike, polygons: npt.ArrayLike, *, tree: shapely.STRtree | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Index of the polygon each feature overlaps most, and that overlap's share.

    Parameters
    ----------
    features
        Polygons to place (e.g. building footprints).
    polygons
        The coverage to place them in.
    tree
        A prebuilt ``STRtree(polygons)`` to reuse.

    Returns
    -------
    tuple of numpy.ndarray
        Polygon index per feature (``-1`` when it overlaps none) and the share of the
        feature's area inside that polygon (0–1).
    """
    feats = np.asarray(features, dtype=object)
    polys = np.asarray(polygons, dtype=object)
    best = np.full(len(feats), -1, dtype=np.int64)
    share = np.zeros(len(feats), dtype=np.float64)
    if len(feats) == 0 or len(polys) == 0:
        return best, share
    tree = tree if tree is not None else shapely.STRtree(polys)
    fi, gi = tree.query(feats, predicate="intersects")
    if len(fi) == 0:
        return best, share
    overlap = shapely.area(shapely.intersection(feats[fi], polys[gi]))
    order = np.lexsort((gi, -overlap, fi))
    fi, gi, overlap = fi[order], gi[order], overlap[order]
    first = np.ones(len(fi), dtype=bool)
    first[1:] = fi[1:] != fi[:-1]
    best[fi[first]] = gi[first]
    areas = shapely.area(feats[fi[first]])
    share[fi[first]] = np.where(areas > 0, overlap[first] / np.where(areas > 0, areas, 1), 0)
    # degenerate features (no area): fall back to the point rule on a representative point
    degenerate = (areas <= 0) | (overlap[first] <= 0)
    if degenerate.any():
        idx = fi[first][degenerate]
        best[idx] = assign_points(shapely.point_on_surface(feats[idx]), polys, tree=tree)
    return best, share
