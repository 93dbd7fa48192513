"""The visible lines a block above the maximum is cut along first, dead ends carried on.

街巷定界: grid boundaries follow lines residents can see. Inside a compound those are its
service roads, lanes, walls and water; a lane that stops short of the compound's edge (a
dead end) still marks where a boundary would run, so it is carried on straight ahead to the
first line or block edge it meets (unless that would cross a building: the boundary would then
have to bend around it, and the building would join the two faces again anyway).

Written here because neither shapely nor momepy extends dead ends inside a polygon to the next
line (momepy's ``extend_lines`` extends to a target layer but neither stops at buildings nor
works per block); shapely does the geometry.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

#: An end of a line within this distance (m) of another line or the block edge is joined.
JOIN_M = 1.0
#: Lines shorter than this (m) inside the block are not carried on (stubs, driveways).
MIN_DEAD_END_M = 15.0


def carried_on(
    block: BaseGeometry,
    lines: npt.NDArray[np.object_],
    streets: npt.NDArray[np.bool_],
    footprints: npt.NDArray[np.object_],
) -> npt.NDArray[np.object_]:
    """Straight extensions of the dead-end streets among ``lines`` inside ``block``.

    Parameters
    ----------
    block
        The block polygon (metric CRS).
    lines
        Inner lines near the block (service roads, lanes, walls, water edges).
    streets
        Which of ``lines`` are streets whose dead ends may be carried on (not walls, not
        footpaths: see :data:`gis.blocks.roads.PATH_HIGHWAYS`).
    footprints
        Building footprints of the block; an extension crossing one is dropped.

    Returns
    -------
    numpy.ndarray of LineString
        One segment per carried-on dead end, from its end to the first line or block edge
        straight ahead (none for ends already joined, short lines or blocked extensions).
    """
    if not len(lines):
        return np.empty(0, dtype=object)
    clipped = shapely.intersection(lines, block)
    parts, owner = shapely.get_parts(clipped, return_index=True)
    keep = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) > 0)
    parts, owner = parts[keep], owner[keep]
    if not len(parts):
        return np.empty(0, dtype=object)
    ends, heads, part_of = _line_ends(parts, streets[owner])
    if not len(ends):
        return np.empty(0, dtype=object)
    edge = shapely.boundary(block)
    tree = shapely.STRtree(parts)
    points = shapely.points(ends)
    pi, li = tree.query(points, predicate="dwithin", distance=JOIN_M)
    joined = np.zeros(len(ends), dtype=bool)
    joined[pi[li != part_of[pi]]] = True
    joined |= shapely.dwithin(points, edge, JOIN_M)
    ends, heads = ends[~joined], heads[~joined]
    if not len(ends):
        return np.empty(0, dtype=object)
    x0, y0, x1, y1 = block.bounds
    reach = float(np.hypot(x1 - x0, y1 - y0))
    rays = shapely.linestrings(np.stack([ends + 0.01 * heads, ends + reach * heads], axis=1))
    target = shapely.union_all(np.concatenate([parts, [edge]]))
    hits = shapely.intersection(rays, target)
    out = []
    for end, hit in zip(ends, np.asarray(hits, dtype=object), strict=True):
        nearest = _nearest_point(end, hit)
        if nearest is not None:
            out.append(shapely.linestrings([end, nearest]))
    segs = np.asarray(out, dtype=object)
    if len(segs) and len(footprints):
        crossed = shapely.STRtree(footprints).query(segs, predicate="intersects")[0]
        segs = np.delete(segs, np.unique(crossed))
    return segs[shapely.within(segs, shapely.buffer(block, 0.01))] if len(segs) else segs


def _line_ends(
    parts: npt.NDArray[np.object_], extend: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Both ends of every street part long enough, the unit direction out of each, its part."""
    ends, heads, part_of = [], [], []
    for i in np.flatnonzero(extend & (shapely.length(parts) >= MIN_DEAD_END_M)).tolist():
        xy = shapely.get_coordinates(parts[i])
        if len(xy) < 2 or np.allclose(xy[0], xy[-1]):
            continue
        for end, before in ((xy[0], xy[1]), (xy[-1], xy[-2])):
            d = end - before
            norm = float(np.hypot(*d))
            if norm > 0:
                ends.append(end)
                heads.append(d / norm)
                part_of.append(i)
    if not ends:
        return np.empty((0, 2)), np.empty((0, 2)), np.empty(0, dtype=np.int64)
    return np.asarray(ends), np.asarray(heads), np.asarray(part_of, dtype=np.int64)


def _nearest_point(origin: npt.NDArray[np.float64], hit: BaseGeometry) -> npt.NDArray | None:
    """The point of ``hit`` (points or overlapping segments) nearest ``origin``."""
    if hit.is_empty:
        return None
    xy = shapely.get_coordinates(hit)
    return xy[int(np.argmin(np.hypot(*(xy - origin).T)))]
