"""Which polygon owns a point, a household or a building: one rule for the whole library.

The rule (used by blocks, atoms, cells, checks, adjustment and lookups alike):

1. a point belongs to the polygons that **cover** it (interior or boundary); none → outside
   (``-1``);
2. among several (a point on a shared edge or vertex), to the one whose **interior contains
   the point nudged** by a fixed vector;
3. if still tied (or the nudged point falls in none of them), to the **first** polygon in the
   order given (lowest id; lookups order grids by code).

A polygon (a building, a household polygon) belongs to the polygon it overlaps most (ties:
the first); one without area falls back to the point rule on its point on surface.
:func:`assign_features` applies the right rule to each feature of a mixed layer.

The nudge has one direction, ``(1, 0.618)``, and a length in the units of the CRS the rule
runs in, for one reason: it must be far below any real geometry and far above the rounding of
that CRS. Planning runs in metres (:data:`NUDGE_M`, 1 cm east and 0.618 cm north); lookups run
on the published plan in EPSG:4326 (:data:`NUDGE_DEG`, 1e-9° ≈ 0.1 mm). A point exactly on an
edge in metres is not exactly on it after reprojection, so the two runs only each have to
agree with themselves; :func:`pick_owners` is the one implementation of steps 2–3 both call.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gis.columns import HOUSEHOLDS, HOUSEHOLDS_ESTIMATED

#: The nudge vector of the boundary rule, in metres of the working CRS.
NUDGE_M: tuple[float, float] = (0.01, 0.00618)
#: The same direction in degrees, for lookups on a published plan (EPSG:4326).
NUDGE_DEG: tuple[float, float] = (1e-9, 0.618e-9)
#: DE-9IM pattern: the interiors share an area (catches nesting, which overlaps misses).
INTERIORS_MEET = "2********"


def pick_owners(
    result: npt.NDArray[np.int64],
    pi: npt.NDArray[np.int64],
    gi: npt.NDArray[np.int64],
    inside_nudged: Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64]], npt.NDArray[np.bool_]],
) -> npt.NDArray[np.int64]:
    """Steps 2–3 of the rule for (point, covering polygon) pairs; fills and returns ``result``.

    Parameters
    ----------
    result
        One slot per point (``-1`` for outside); filled in place.
    pi, gi
        Point and polygon positions of every pair where the polygon covers the point.
    inside_nudged
        ``f(points, polygons)``: whether each polygon's interior contains its point nudged.
    """
    if len(pi) == 0:
        return result
    counts = np.bincount(pi, minlength=len(result))
    single = counts[pi] == 1
    result[pi[single]] = gi[single]
    multi = ~single
    if multi.any():
        mp, mg = pi[multi], gi[multi]
        inside = inside_nudged(mp, mg)
        order = np.lexsort((mg, ~inside, mp))  # per point: nudged-inside first, then order
        mp, mg = mp[order], mg[order]
        first = np.ones(len(mp), dtype=bool)
        first[1:] = mp[1:] != mp[:-1]
        result[mp[first]] = mg[first]
    return result


def assign_features(
    features: npt.ArrayLike, polygons: npt.ArrayLike, *, tree: shapely.STRtree | None = None
) -> npt.NDArray[np.int64]:
    """Index of the polygon owning each feature: points by the point rule, others by overlap.

    This is how households (points or polygons) are counted into blocks, atoms, grids and
    cells everywhere in the library.
    """
    feats = np.asarray(features, dtype=object)
    polys = np.asarray(polygons, dtype=object)
    where = np.full(len(feats), -1, dtype=np.int64)
    if len(feats) == 0 or len(polys) == 0:
        return where
    tree = tree if tree is not None else shapely.STRtree(polys)
    is_point = shapely.get_type_id(feats) == 0
    if is_point.any():
        where[is_point] = assign_points(feats[is_point], polys, tree=tree)
    if (~is_point).any():
        where[~is_point] = assign_polygons(feats[~is_point], polys, tree=tree)[0]
    return where


def count_households(
    polygons: npt.ArrayLike, households: gpd.GeoDataFrame, *, tree: shapely.STRtree | None = None
) -> npt.NDArray[np.int64]:
    """Households per polygon, each feature counted once by :func:`assign_features`.

    Parameters
    ----------
    polygons
        A coverage (blocks, atoms, grids, cells), same CRS as ``households``.
    households
        Household features (points or polygons) with a ``households`` count.
    """
    polys = np.asarray(polygons, dtype=object)
    if len(households) == 0:
        return np.zeros(len(polys), dtype=np.int64)
    counts = pd.to_numeric(households[HOUSEHOLDS], errors="coerce").fillna(0).to_numpy()
    where = assign_features(households.geometry.to_numpy(), polys, tree=tree)
    ok = where >= 0
    summed = np.bincount(where[ok], weights=counts[ok], minlength=len(polys))
    return np.rint(summed).astype(np.int64)


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
    vector = np.asarray(nudge)

    def inside(mp: npt.NDArray[np.int64], mg: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        moved = shapely.transform(pts[mp], lambda xy: xy + vector)
        return shapely.contains_properly(polys[mg], moved)

    return pick_owners(result, pi, gi, inside)


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
    # most features lie inside one polygon: their overlap is their area, no overlay needed
    overlap = shapely.area(feats[fi])
    cut = ~shapely.within(feats[fi], polys[gi])
    overlap[cut] = shapely.area(shapely.intersection(feats[fi[cut]], polys[gi[cut]]))
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


def estimated_in(polygons: npt.ArrayLike, households: gpd.GeoDataFrame) -> npt.NDArray[np.bool_]:
    """Whether each polygon holds households that were estimated from buildings rather than
    counted (the ``households_estimated`` flag of the features, by the same ownership rule as
    :func:`count_households`)."""
    geoms = np.asarray(polygons, dtype=object)
    flag = households.get(HOUSEHOLDS_ESTIMATED)
    if flag is None or len(households) == 0:
        return np.zeros(len(geoms), dtype=bool)
    picked = households[flag.fillna(False).astype(bool).to_numpy()]
    if len(picked) == 0:
        return np.zeros(len(geoms), dtype=bool)
    return count_households(geoms, picked) > 0
