"""The off-street boundary figure of issue 12: grid boundary off the roads where it need not be.

The seeds' first boundary rule is 街巷定界 (streets people can see). A plan may still cut a
block that alone holds more than the maximum (it must be cut somewhere), but elsewhere a
grid boundary far from every road is one residents cannot see. Kept apart from
:mod:`gis.checks.validate` (which stays under the module size limit); it reuses the checks'
household count and boundary pieces (:func:`gis.checks.street_share.boundary_pieces`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from gis import columns as col
from gis.blocks.roads import PATH_HIGHWAYS
from gis.checks.street_share import boundary_pieces
from gis.checks.validate import _households
from gis.geometry.near import within_distance
from gis.options import DEFAULT_TOLERANCES, Band, Tolerances

#: Roads that do not form blocks for :func:`off_street_boundary` (paths one walks, not streets).
NOT_BLOCK_FORMING = PATH_HIGHWAYS


def off_street_boundary(
    grids: gpd.GeoDataFrame,
    *,
    roads: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame,
    band: Band,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> dict[str, float]:
    """Share of inner grid boundary that leaves the roads where it need not (issue 12).

    Inner boundary (grid boundary not on a unit's outline) counts as off-street when it lies
    more than ``tolerances.on_street_m`` from every road. Boundary inside a block that alone
    holds more households than ``band.max_households`` is left out: such a block must be cut
    somewhere. Blocks here are formed by every road but footways, paths, steps, cycleways,
    pedestrian ways and corridors (:data:`NOT_BLOCK_FORMING`), with the units' outlines.

    Parameters
    ----------
    grids
        The plan's grids (metric CRS).
    roads
        Every road (lines with OSM ``highway``), in the same CRS.
    units
        Administrative units.
    households
        Household features with a ``households`` count.
    band
        The band whose maximum marks oversized blocks.
    tolerances
        ``on_street_m``: boundary within this of a road lies on it.

    Returns
    -------
    dict
        ``off_street_share`` (0–1; 0 when there is no inner boundary) and
        ``inner_boundary_m`` (length counted, each shared edge once per grid).
    """
    geoms = grids.geometry.to_numpy()
    unit_lines = shapely.boundary(units.geometry.to_numpy())
    road_geoms = roads.geometry.to_numpy()
    kinds = roads[col.HIGHWAY].astype(str).to_numpy() if col.HIGHWAY in roads else None
    forming = road_geoms if kinds is None else road_geoms[~np.isin(kinds, list(NOT_BLOCK_FORMING))]
    lines = shapely.union_all(np.concatenate([forming, unit_lines]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    faces = faces[shapely.intersects(faces, shapely.union_all(units.geometry.to_numpy()))]
    big = faces[_households(faces, households)[0] > band.max_households] if len(faces) else faces
    start, end, _ = boundary_pieces(geoms)
    length = np.hypot(*(end - start).T)
    mid_xy = (start + end) / 2.0
    counted = ~within_distance(mid_xy, unit_lines, tolerances.on_street_m)
    if len(big):
        inside, _ = shapely.STRtree(big).query(shapely.points(mid_xy), predicate="intersects")
        counted[inside] = False
    off = counted & ~within_distance(mid_xy, road_geoms, tolerances.on_street_m)
    inner = float(length[counted].sum())
    return {
        "off_street_share": float(length[off].sum()) / inner if inner > 0 else 0.0,
        "inner_boundary_m": inner,
    }
