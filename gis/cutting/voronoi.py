"""Building cells: a face cut along the gaps between its buildings, one cell per building.

Every building gets the part of the face nearest to its footprint: a Voronoi diagram of points
densified along the footprints (GEOS), its cells merged per building; each cell is then made to
contain its footprint whole and nothing of any other footprint, and a stray part of a cell
joins the neighbour it shares most boundary with (:func:`gis.geometry.tiling.make_single_part`).
Written here because no library cuts a polygon between polygons this way (shapely's Voronoi
works on points; momepy's tessellation needs the whole layer and does not keep footprints whole
inside a given face).
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import shapely
from shapely.errors import GEOSException
from shapely.geometry.base import BaseGeometry

from gis.geometry.tiling import make_single_part
from gis.options import DEFAULT_TOLERANCES, Tolerances

log = logging.getLogger(__name__)


def building_cells(
    face: BaseGeometry,
    generators: npt.NDArray[np.object_],
    *,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> list[BaseGeometry]:
    """Tile ``face`` with one cell per generator (footprint or point), each holding it whole.

    Parameters
    ----------
    face
        The polygon to tile (metric CRS).
    generators
        At least two disjoint footprints (polygons) or household points inside ``face``.
    tolerances
        ``shared_edge_m``: a stray part of a cell goes to the neighbour it shares an edge with.

    Returns
    -------
    list of shapely geometries
        One polygon per generator, tiling ``face``; a footprint lies whole in its own cell
        and in no other.
    """
    polys = np.asarray(generators, dtype=object)
    is_poly = shapely.get_type_id(polys) >= 3
    spacing = float(np.clip(np.sqrt(face.area) / 60.0, 0.5, 5.0))
    outlines = np.where(is_poly, shapely.boundary(polys), polys)
    dense = shapely.segmentize(outlines, spacing)
    coords, owner = shapely.get_coordinates(dense, return_index=True)
    _, first = np.unique(np.round(coords, 6), axis=0, return_index=True)
    first = np.sort(first)
    coords, owner = coords[first], owner[first]
    if len(np.unique(owner)) < 2:
        return [face]
    # a fixed sub-millimetre jitter breaks the co-circular layouts (regular rows of towers)
    # for which GEOS returns invalid Voronoi cells; it moves sample points, not footprints
    coords = coords + np.random.default_rng(0).uniform(-1e-3, 1e-3, size=coords.shape)
    vor = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(coords), extend_to=face, ordered=True)
    )
    if len(vor) != len(coords):  # degenerate input (e.g. collinear points): give up cleanly
        log.warning(
            "Voronoi of %d points returned %d cells; block left whole", len(coords), len(vor)
        )
        return [face]
    vor = _polygonal(vor)
    bad = ~shapely.is_valid(vor)
    if bad.any():
        vor[bad] = shapely.make_valid(vor[bad], method="structure", keep_collapsed=False)
    cells = _cells_of(vor, owner, len(polys), exact=bool(bad.any()))
    cells = shapely.intersection(cells, face)
    if is_poly.any():
        own = shapely.intersection(polys[is_poly], face)
        # each cell gives up the parts of other footprints reaching into it
        ci, fi = shapely.STRtree(own).query(cells, predicate="intersects")
        foreign = np.flatnonzero(is_poly)[fi] != ci
        ci, fi = ci[foreign], fi[foreign]
        for c in np.unique(ci).tolist():
            cells[c] = shapely.difference(cells[c], shapely.union_all(own[fi[ci == c]]))
        cells[is_poly] = shapely.union(cells[is_poly], own)
    anchors = np.where(is_poly, polys, shapely.buffer(polys, 1e-3))
    return make_single_part(cells, anchors, tolerances=tolerances)


def _cells_of(
    vor: npt.NDArray[np.object_], owner: npt.NDArray[np.int64], n: int, *, exact: bool
) -> npt.NDArray[np.object_]:
    """The Voronoi cells of each generator's sample points, merged into one cell per generator.

    Cells of one diagram share their edges exactly: they are merged as a coverage (GEOS
    coverage union, twice as fast on a compound of 3,000 buildings), unless some were
    repaired (``exact``) or a merged cell comes out invalid, which are merged by overlay.
    """
    cells = np.empty(n, dtype=object)
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n + 1))
    for g in range(n):
        members = vor[order[bounds[g] : bounds[g + 1]]]
        cells[g] = _merged(members, exact=exact) if len(members) else shapely.Polygon()
    bad = ~shapely.is_valid(cells)
    for g in np.flatnonzero(bad).tolist():
        cells[g] = shapely.union_all(vor[order[bounds[g] : bounds[g + 1]]])
    return cells


def _merged(members: npt.NDArray[np.object_], *, exact: bool) -> BaseGeometry:
    """One generator's Voronoi cells merged: as a coverage, by overlay when ``exact`` or when
    GEOS finds the cells not noded together."""
    if not exact:
        try:
            return shapely.coverage_union_all(members)
        except GEOSException:
            pass
    return shapely.union_all(members)


def _polygonal(geoms: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """Drop the stray lines GEOS sometimes leaves in Voronoi cells (collections → polygons)."""
    out = geoms.copy()
    for i in np.flatnonzero(shapely.get_type_id(geoms) == 7).tolist():
        parts = shapely.get_parts(geoms[i])
        parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
        out[i] = shapely.union_all(parts) if len(parts) else shapely.Polygon()
    return out
