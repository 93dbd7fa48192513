"""Unit cells (单元格 / 微网格): ordinary grids subdivided into groups of at most N households.

Buildings are the bricks: each ordinary grid's buildings (overlapping footprints taken
together) are split by recursive bisection along the longer axis at the household-weighted
median until every group holds at most ``max_households`` — a single building above that is a
cell of its own and is reported. Cell polygons are drawn around their buildings: the Voronoi
diagram of points sampled on every building outline, dissolved per group and clipped to the
grid, then every building is given whole to its own cell. Cells therefore tile their grid
exactly and never split a building.

Examples
--------
>>> import geopandas as gpd, shapely
>>> grid = gpd.GeoDataFrame({"grid_id": [0], "grid_code": ["001101"], "kind": ["ordinary"]},
...                         geometry=[shapely.box(0, 0, 100, 50)], crs=32650)
>>> blds = gpd.GeoDataFrame({"households": [20, 20, 20]},
...     geometry=[shapely.box(x, 10, x + 20, 40) for x in (5, 40, 75)], crs=32650)
>>> cells, report = unit_cells(grid, blds, blds.iloc[0:0], max_households=30)
>>> len(cells)
3
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gis import columns as col
from gis.errors import OptionError
from gis.geometry.ownership import count_households

log = logging.getLogger(__name__)

CELL_ID = "cell_id"
CELL_CODE = "cell_code"
#: Footprints smaller than this (m²) are slivers left by clipping, not buildings.
DUST_M2 = 0.01
#: Spacing (m) of the points sampled on building outlines for the cell diagram.
SAMPLE_M = 2.0


def unit_cells(
    plan_grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame,
    *,
    max_households: int = 30,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Subdivide every ordinary grid into cells of at most ``max_households``.

    Parameters
    ----------
    plan_grids
        Grids with ``grid_id``, ``kind`` (only ``ordinary`` ones are subdivided) and
        optionally ``grid_code``; polygons in a metric CRS.
    buildings
        Footprints in the same CRS; their ``households`` column is used when ``households``
        is empty.
    households
        Household features (points or polygons with ``households``), same CRS; may be empty.
    max_households
        The most households per cell (*local rule*: about 30).

    Returns
    -------
    tuple
        Cells (``cell_id``, ``grid_id``, ``grid_code`` when given, ``households`` counted
        from the household features, ``n_buildings``, polygons) and a report: ``n_cells``,
        ``over_max`` (cells above the maximum, each with its reason: normally a single
        building).

    Raises
    ------
    OptionError
        When ``max_households`` is below 1.
    """
    if isinstance(max_households, bool) or not isinstance(max_households, int | np.integer):
        msg = f"max_households must be an integer, got {max_households!r}"
        raise OptionError(msg)
    if max_households < 1:
        msg = f"max_households must be at least 1, got {max_households}; give e.g. 30"
        raise OptionError(msg)
    crs = plan_grids.crs
    ordinary = (
        plan_grids[plan_grids[col.KIND].astype(str) == "ordinary"]
        if col.KIND in (plan_grids)
        else plan_grids
    )
    bgeoms, bhh = _building_households(buildings, households)
    grid_geoms = ordinary.geometry.to_numpy()
    owner = np.full(len(bgeoms), -1, dtype=np.int64)
    if len(bgeoms) and len(grid_geoms):
        owner = _owner(bgeoms, grid_geoms)
    rows: list[dict[str, Any]] = []
    over: list[dict[str, Any]] = []
    for g in range(len(ordinary)):
        grid = grid_geoms[g]
        mine = np.flatnonzero(owner == g)
        geoms = shapely.intersection(bgeoms[mine], grid) if len(mine) else np.empty(0)
        groups = _groups(geoms, bhh[mine], max_households)
        polys = _cell_polygons(grid, geoms, groups)
        gid = ordinary[col.GRID_ID].iloc[g] if col.GRID_ID in ordinary else g
        for k, poly in enumerate(polys):
            members = np.flatnonzero(groups == k)
            hh = int(bhh[mine][members].sum())
            row = {
                col.GRID_ID: gid,
                col.HOUSEHOLDS: hh,
                "n_buildings": len(members),
                "geometry": poly,
            }
            if col.GRID_CODE in ordinary:
                row[col.GRID_CODE] = ordinary[col.GRID_CODE].iloc[g]
            rows.append(row)
    cells = (
        gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
        if rows
        else gpd.GeoDataFrame(
            {col.GRID_ID: [], col.HOUSEHOLDS: [], "n_buildings": []},
            geometry=gpd.GeoSeries([], crs=crs),
            crs=crs,
        )
    )
    cells.insert(0, CELL_ID, np.arange(len(cells), dtype=np.int64))
    if len(households) and len(cells):
        # count from the household features themselves, by the rule grids are checked with
        cells[col.HOUSEHOLDS] = count_households(cells.geometry.to_numpy(), households)
    for _, cell in cells[cells[col.HOUSEHOLDS] > max_households].iterrows():
        over.append(
            {
                col.GRID_ID: _json(cell[col.GRID_ID]),
                col.HOUSEHOLDS: int(cell[col.HOUSEHOLDS]),
                "n_buildings": int(cell["n_buildings"]),
                "reason": "single building above the cell maximum"
                if cell["n_buildings"] <= 1
                else "households placed outside buildings push the cell above the maximum",
            }
        )
    report = {"n_cells": len(cells), "max_households": max_households, "over_max": over}
    log.info(
        "%d unit cells in %d grids, %d above %d",
        len(cells),
        len(ordinary),
        len(over),
        max_households,
    )
    return cells, report


def _json(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _building_households(
    buildings: gpd.GeoDataFrame, households: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Building clusters (overlapping footprints merged) and their household counts."""
    if len(buildings) == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    geoms = buildings.geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a != b
    a, b = a[keep], b[keep]
    if len(a):
        real = shapely.area(shapely.intersection(geoms[a], geoms[b])) > 0.01
        a, b = a[real], b[real]
    n = len(geoms)
    k, label = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)))
    clusters = np.asarray([shapely.union_all(geoms[label == c]) for c in range(k)], dtype=object)
    hh = np.zeros(k, dtype=np.float64)
    if len(households) and col.HOUSEHOLDS in households:
        pts = shapely.point_on_surface(households.geometry.to_numpy())
        counts = pd.to_numeric(households[col.HOUSEHOLDS], errors="coerce").fillna(0).to_numpy()
        tree = shapely.STRtree(clusters)
        inside = tree.query(pts, predicate="within")
        where = np.full(len(pts), -1, dtype=np.int64)
        where[inside[0]] = inside[1]
        lost = np.flatnonzero(where < 0)
        if len(lost):
            where[lost] = tree.query_nearest(pts[lost], return_distance=False)[1]
        np.add.at(hh, where, counts)
    elif col.HOUSEHOLDS in buildings:
        counts = pd.to_numeric(buildings[col.HOUSEHOLDS], errors="coerce").fillna(0).to_numpy()
        np.add.at(hh, label, counts)
    return _drop_dust(clusters, hh)


def _drop_dust(clusters: np.ndarray, hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep polygon parts; give the households of degenerate footprints to the nearest one.

    Clipping a building to the area can leave a hair-thin sliver or a geometry collection
    that overlays cannot handle; its households are not lost but counted with its neighbour.
    """
    polys = np.asarray(
        [
            shapely.union_all(
                [
                    p
                    for p in shapely.get_parts(shapely.make_valid(c))
                    if shapely.get_type_id(p) in (3, 6)
                ]
            )
            for c in clusters
        ],
        dtype=object,
    )
    solid = shapely.area(polys) >= DUST_M2
    if solid.all() or not solid.any():
        return polys, np.rint(hh).astype(np.int64)
    keep = np.flatnonzero(solid)
    tree = shapely.STRtree(polys[keep])
    for i in np.flatnonzero(~solid).tolist():
        probe = shapely.point_on_surface(clusters[i])
        j = int(tree.query_nearest(probe, return_distance=False)[0])
        hh[keep[j]] += hh[i]
    return polys[keep], np.rint(hh[keep]).astype(np.int64)


def _owner(bgeoms: np.ndarray, grid_geoms: np.ndarray) -> np.ndarray:
    """The grid holding most of each building."""
    bi, gi = shapely.STRtree(grid_geoms).query(bgeoms, predicate="intersects")
    area = shapely.area(shapely.intersection(bgeoms[bi], grid_geoms[gi]))
    order = np.lexsort((gi, -area, bi))
    bi, gi = bi[order], gi[order]
    first = np.ones(len(bi), dtype=bool)
    first[1:] = bi[1:] != bi[:-1]
    owner = np.full(len(bgeoms), -1, dtype=np.int64)
    owner[bi[first]] = gi[first]
    return owner


def _groups(geoms: np.ndarray, hh: np.ndarray, max_households: int) -> np.ndarray:
    """Group labels 0..k-1 by recursive bisection at the household-weighted median."""
    labels = np.zeros(len(geoms), dtype=np.int64)
    if len(geoms) == 0:
        return labels
    pts = shapely.point_on_surface(geoms)
    xy = shapely.get_coordinates(pts)
    stack = [np.arange(len(geoms))]
    groups: list[np.ndarray] = []
    while stack:
        idx = stack.pop()
        if hh[idx].sum() <= max_households or len(idx) == 1:
            groups.append(idx)
            continue
        span = xy[idx].max(axis=0) - xy[idx].min(axis=0)
        axis = int(np.argmax(span))
        order = idx[np.lexsort((xy[idx, 1 - axis], xy[idx, axis]))]
        cum = np.cumsum(np.maximum(hh[order], 0)) + np.arange(1, len(order) + 1) * 1e-6
        cut = int(np.searchsorted(cum, cum[-1] / 2))
        cut = min(max(cut, 1), len(order) - 1)
        stack.extend([order[cut:], order[:cut]])
    # number groups in reading order: north→south, west→east
    key = [(-xy[g, 1].mean(), xy[g, 0].mean()) for g in groups]
    for k, pos in enumerate(sorted(range(len(groups)), key=lambda i: key[i])):
        labels[groups[pos]] = k
    return labels


def _cell_polygons(grid: shapely.Geometry, geoms: np.ndarray, groups: np.ndarray) -> list[Any]:
    """One polygon per group tiling ``grid``, every building whole in its group's cell."""
    k = int(groups.max()) + 1 if len(groups) else 0
    if k <= 1:
        return [grid]
    outlines = shapely.segmentize(shapely.boundary(geoms), SAMPLE_M)
    coords, idx = shapely.get_coordinates(outlines, return_index=True)
    coords = np.round(coords, 6)
    _, first = np.unique(coords, axis=0, return_index=True)
    coords, idx = coords[first], idx[first]
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(coords), extend_to=grid, ordered=True)
    )
    group_of_point = groups[idx]
    raw = [shapely.union_all(cells[group_of_point == g]) for g in range(k)]
    built = [shapely.union_all(geoms[groups == g]) for g in range(k)]
    all_built = shapely.union_all(geoms)
    out = []
    for g in range(k):
        others = shapely.difference(all_built, built[g])
        poly = shapely.union(shapely.difference(raw[g], others), built[g])
        out.append(_polygonal(shapely.intersection(poly, grid)))
    return out


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == 3 and p.area > 0]
    if not parts:
        return shapely.Polygon()
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
