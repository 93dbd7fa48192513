"""Street blocks: the atoms every grid is made of.

Per administrative unit, the bounding lines (see :mod:`gis.blocks.roads`) and the unit's own
boundary are noded together and polygonised; the faces inside the unit are its blocks, which
therefore tile the unit exactly. Real data is dirty, so three repairs follow:

1. buildings (clustered with any footprint they overlap) that straddle block edges are given
   whole to the block holding most of them, the edge moving around the building;
2. slivers (faces thinner than ``sliver_width_m`` or smaller than ``min_block_area_m2``,
   typically the median strip of a dual carriageway) merge into the neighbour they share most
   boundary with;
3. households are placed: points by the boundary rule of :mod:`gis.geometry.ownership`, polygons by
   largest overlap, building counts with their building.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gis import columns as col
from gis.blocks.graph import block_graph
from gis.blocks.roads import DEFAULT_BOUNDING_HIGHWAYS, bounding_lines
from gis.geometry.ownership import assign_points, assign_polygons
from gis.inputs.read import Area
from gis.options import DEFAULT_TOLERANCES, Progress, Tolerances

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlockSet:
    """Street blocks of an area, with what lies in them.

    Attributes
    ----------
    blocks
        One row per block: ``block_id`` (int, 0..n-1), ``unit_code``, ``unit_name``,
        ``households`` (int), ``households_estimated`` (bool), ``n_buildings`` (int),
        ``area_m2``; polygons in :attr:`crs`. Blocks tile each unit exactly.
    buildings
        Footprints: ``building_id``, ``block_id``, ``households``, ``households_estimated``;
        every building lies whole in its block (clipped to the area).
    households
        The household source features (points or polygons) with ``block_id`` and
        ``households``.
    graph
        Block adjacency: nodes are ``block_id`` (attributes ``households``, ``unit_code``),
        edges carry ``shared_m`` (shared boundary length, m) and ``street`` (bool: the
        shared edge lies along a bounding street, river or railway).
    streets
        The bounding lines blocks were cut along (metric).
    inner_lines
        Lines that did not bound blocks (service roads, footways, walls): preferred cut lines
        when a block must be split.
    units
        Administrative units: ``unit_code``, ``unit_name``, polygons.
    crs
        The local metric CRS every layer above is in.
    """

    blocks: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    households: gpd.GeoDataFrame
    graph: nx.Graph
    streets: gpd.GeoDataFrame
    inner_lines: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    crs: pyproj.CRS


def build_blocks(
    area: Area,
    *,
    highways: Collection[str] = DEFAULT_BOUNDING_HIGHWAYS,
    tunnels_bound: bool = False,
    snap_tolerance_m: float = 3.0,
    sliver_width_m: float = 4.0,
    empty_strip_width_m: float = 15.0,
    min_block_area_m2: float = 50.0,
    progress: Progress | None = None,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> BlockSet:
    """Cut an area into street blocks and place its buildings and households.

    Parameters
    ----------
    area
        Inputs from :func:`gis.inputs.read.read_area`; its households must be known (see
        :func:`gis.inputs.households.estimate_households` when only buildings are).
    highways
        Road classes that bound blocks (OSM ``highway`` values).
    tunnels_bound
        Whether tunnels bound blocks.
    snap_tolerance_m
        Dangling road ends closer than this to another line are extended onto it.
    sliver_width_m
        Faces whose mean width (2·area / perimeter) is below this merge into a neighbour.
    empty_strip_width_m
        Faces without buildings narrower than this (road medians, the strip under an
        elevated road) merge into a neighbour too.
    min_block_area_m2
        Faces smaller than this merge into a neighbour.
    progress
        Called as ``progress(step, done, total)`` while units are processed.
    tolerances
        ``dust_m2``: floating-point dust left by merging slivers is dropped;
        ``street_edge_m``: which shared edges follow a street (:func:`block_graph`).

    Returns
    -------
    BlockSet
        Blocks, buildings, households and the adjacency graph, in ``area.crs``.
    """
    streets, inner = _lines(
        area, highways=highways, tunnels_bound=tunnels_bound, snap_tolerance_m=snap_tolerance_m
    )
    units = area.boundary
    faces_arr, unit_arr = _unit_faces(units, streets, progress)
    footprints = area.buildings
    clusters, cluster_of = _building_clusters(footprints.geometry.to_numpy())
    faces_arr = _make_buildings_whole(faces_arr, unit_arr, clusters)
    faces_arr, unit_arr = _explode(faces_arr, unit_arr)
    empty = _without_buildings(faces_arr, clusters)
    faces_arr, unit_arr = _absorb_slivers(
        faces_arr,
        unit_arr,
        narrow_m=np.where(empty, max(sliver_width_m, empty_strip_width_m), sliver_width_m),
        min_area_m2=min_block_area_m2,
        dust_m2=tolerances.dust_m2,
    )
    faces_arr, unit_arr = _order(faces_arr, unit_arr)

    tree = shapely.STRtree(faces_arr)
    buildings = _buildings_in_blocks(
        footprints, clusters, cluster_of, units, faces_arr, unit_arr, tree
    )
    hh = _place_households(area, buildings, faces_arr, tree)
    blocks = _block_table(faces_arr, unit_arr, units, buildings, hh)
    graph = block_graph(blocks, streets, tolerances=tolerances)
    outside = len(footprints) - len(buildings)
    if outside:
        log.info("%d buildings lie outside the boundary and were left out", outside)
    return BlockSet(
        blocks=blocks,
        buildings=buildings.reset_index(drop=True),
        households=hh,
        graph=graph,
        streets=streets,
        inner_lines=inner,
        units=units,
        crs=area.crs,
    )


def _lines(
    area: Area, *, highways: Collection[str], tunnels_bound: bool, snap_tolerance_m: float
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The bounding lines of the area, and its inner lines (with walls and fences)."""
    streets, inner = bounding_lines(
        area.roads,
        railways=area.railways,
        water=area.water,
        highways=highways,
        tunnels_bound=tunnels_bound,
        snap_tolerance_m=snap_tolerance_m,
    )
    barriers = _barrier_lines(area)
    if not barriers.empty:
        inner = gpd.GeoDataFrame(pd.concat([inner, barriers], ignore_index=True), crs=area.crs)
    return streets, inner


def _unit_faces(
    units: gpd.GeoDataFrame, streets: gpd.GeoDataFrame, progress: Progress | None
) -> tuple[np.ndarray, np.ndarray]:
    """Faces of every unit cut by the streets, and the unit (row) of each."""
    street_geoms = streets.geometry.to_numpy()
    street_tree = shapely.STRtree(street_geoms)
    geoms: list[shapely.Geometry] = []
    unit_idx: list[int] = []
    for i, unit in enumerate(units.geometry.to_numpy()):
        faces = _faces(unit, street_geoms[street_tree.query(unit, predicate="intersects")])
        geoms.extend(faces)
        unit_idx.extend([i] * len(faces))
        if progress is not None:
            progress("faces", i + 1, len(units))
    return np.asarray(geoms, dtype=object), np.asarray(unit_idx, dtype=np.int64)


def _buildings_in_blocks(
    footprints: gpd.GeoDataFrame,
    clusters: np.ndarray,
    cluster_of: np.ndarray,
    units: gpd.GeoDataFrame,
    faces: np.ndarray,
    unit_of_face: np.ndarray,
    tree: shapely.STRtree,
) -> gpd.GeoDataFrame:
    """The buildings of the area with their block, clipped to their unit."""
    cluster_block, _ = assign_polygons(clusters, faces, tree=tree)
    # a building belongs to the area only when most of it lies inside: otherwise a sliver
    # clipped off a neighbour's house would carry that house's households into the area
    if len(clusters):
        whole_area = shapely.union_all(units.geometry.to_numpy())
        inside = shapely.area(shapely.intersection(clusters, whole_area))
        cluster_block[inside <= 0.5 * shapely.area(clusters)] = -1
    buildings = footprints.copy()
    buildings[col.BLOCK_ID] = cluster_block[cluster_of] if len(buildings) else []
    buildings = buildings[buildings[col.BLOCK_ID] >= 0].copy()
    if len(buildings):
        # clip each building to the area so that blocks hold it whole
        unit_geoms = units.geometry.to_numpy()[unit_of_face[buildings[col.BLOCK_ID].to_numpy()]]
        clipped = shapely.intersection(buildings.geometry.to_numpy(), unit_geoms)
        buildings = buildings.set_geometry(clipped)
    return buildings


def _barrier_lines(area: Area) -> gpd.GeoDataFrame:
    """Walls, fences and hedges (layer ``barriers``) are inner cut lines, not block edges."""
    lines = area.barriers
    if lines.empty:
        return lines
    lines = lines[lines.geom_type.isin(["LineString", "MultiLineString"])]
    kind = lines["kind"] if "kind" in lines else lines.get("barrier")
    out = gpd.GeoDataFrame(geometry=lines.geometry.to_numpy(), crs=area.crs)
    out["barrier"] = kind.to_numpy() if kind is not None else "wall"
    return out


def _faces(unit: shapely.Geometry, lines: np.ndarray) -> list[shapely.Geometry]:
    """Polygonise the unit boundary with the lines; keep the faces inside the unit."""
    noded = shapely.union_all(np.concatenate([[shapely.boundary(unit)], lines]))
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    if len(faces) == 0:
        return [unit]
    inside = shapely.contains_properly(unit, shapely.point_on_surface(faces))
    return list(faces[inside])


def _building_clusters(
    footprints: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Merge overlapping footprints (building parts, duplicates) into clusters."""
    n = len(footprints)
    if n == 0:
        return np.asarray([], dtype=object), np.asarray([], dtype=np.int64)
    tree = shapely.STRtree(footprints)
    a, b = tree.query(footprints, predicate="intersects")
    keep = a != b
    a, b = a[keep], b[keep]
    if len(a):
        real = shapely.area(shapely.intersection(footprints[a], footprints[b])) > 0.01
        a, b = a[real], b[real]
    adj = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    k, labels = connected_components(adj, directed=False)
    clusters = np.asarray(
        [shapely.union_all(footprints[labels == c]) for c in range(k)], dtype=object
    )
    return clusters, labels.astype(np.int64)


def _make_buildings_whole(faces: np.ndarray, units: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Move every straddling building cluster whole into its majority face of its unit."""
    if len(clusters) == 0 or len(faces) == 0:
        return faces
    tree = shapely.STRtree(faces)
    ci, fi = tree.query(clusters, predicate="intersects")
    overlap = shapely.area(shapely.intersection(clusters[ci], faces[fi]))
    real = overlap > 1e-6
    ci, fi, overlap = ci[real], fi[real], overlap[real]
    counts = np.bincount(ci, minlength=len(clusters))
    straddle = counts[ci] > 1
    if not straddle.any():
        return faces
    ci, fi, overlap = ci[straddle], fi[straddle], overlap[straddle]
    order = np.lexsort((fi, -overlap, ci))
    ci, fi = ci[order], fi[order]
    first = np.ones(len(ci), dtype=bool)
    first[1:] = ci[1:] != ci[:-1]
    winner = dict(zip(ci[first].tolist(), fi[first].tolist(), strict=True))
    add: dict[int, list[shapely.Geometry]] = {}
    remove: dict[int, list[shapely.Geometry]] = {}
    for c, f in zip(ci.tolist(), fi.tolist(), strict=True):
        w = winner[c]
        if units[f] != units[w]:
            continue  # a building across a unit boundary stays cut by that boundary
        if f == w:
            add.setdefault(f, []).append(clusters[c])
        else:
            remove.setdefault(f, []).append(clusters[c])
    out = faces.copy()
    for f, geoms in remove.items():
        out[f] = shapely.difference(out[f], shapely.union_all(geoms))
    hulls: dict[int, shapely.Geometry] = {}
    for f, geoms in add.items():
        # take only what faces of the same unit gave up: a unit boundary never moves
        u = int(units[f])
        if u not in hulls:
            hulls[u] = shapely.union_all(faces[units == u])
        out[f] = shapely.union(out[f], shapely.intersection(shapely.union_all(geoms), hulls[u]))
    log.info("moved %d straddling building clusters whole into one block", len(winner))
    return out


def _explode(faces: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split multipart faces (left when a building cut a face in two) into parts."""
    parts, idx = shapely.get_parts(faces, return_index=True)
    polys = shapely.get_type_id(parts) == 3
    return np.asarray(parts[polys], dtype=object), units[idx[polys]]


def _without_buildings(faces: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Which faces hold no building footprint."""
    empty = np.ones(len(faces), dtype=bool)
    if len(clusters) and len(faces):
        fi, _ = shapely.STRtree(clusters).query(faces, predicate="intersects")
        empty[fi] = False
    return empty


def _absorb_slivers(
    faces: np.ndarray,
    units: np.ndarray,
    *,
    narrow_m: np.ndarray,
    min_area_m2: float,
    dust_m2: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Merge thin or tiny faces into the same-unit neighbour they share most edge with.

    ``narrow_m`` is the width threshold per face (mean width = 2·area / perimeter); pieces
    under ``dust_m2`` left by the merges are dropped.
    """
    area = shapely.area(faces)
    width = 2 * area / np.maximum(shapely.length(faces), 1e-9)
    sliver = (width < narrow_m) | (area < min_area_m2)
    if not sliver.any() or len(faces) < 2:
        return faces, units
    tree = shapely.STRtree(faces)
    a, b = tree.query(faces, predicate="intersects")
    keep = (a != b) & (units[a] == units[b]) & sliver[a]
    a, b = a[keep], b[keep]
    shared = shapely.length(
        shapely.intersection(shapely.boundary(faces[a]), shapely.boundary(faces[b]))
    )
    # prefer a non-sliver neighbour, then the longest shared edge
    order = np.lexsort((b, -shared, sliver[b], a))
    a, b, shared = a[order], b[order], shared[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = a[1:] != a[:-1]
    first &= shared > 0
    n = len(faces)
    adj = coo_matrix((np.ones(int(first.sum())), (a[first], b[first])), shape=(n, n))
    k, labels = connected_components(adj, directed=False)
    merged = np.asarray(
        [
            shapely.union_all(faces[labels == c])
            if (labels == c).sum() > 1
            else faces[labels == c][0]
            for c in range(k)
        ],
        dtype=object,
    )
    group_unit = np.zeros(k, dtype=np.int64)
    group_unit[labels] = units
    merged, group_unit = _explode(merged, group_unit)
    # a merge across a not-quite-collinear edge can leave a dust triangle behind: drop it
    dust = shapely.area(merged) < dust_m2
    if dust.any():
        log.info("dropped %d dust polygons (< %g m² each)", int(dust.sum()), dust_m2)
    return merged[~dust], group_unit[~dust]


def _order(faces: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic block order: by unit, then north to south, west to east."""
    pts = shapely.point_on_surface(faces)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    order = np.lexsort((np.round(x, 1), -np.round(y, 1), units))
    return faces[order], units[order]


def _place_households(
    area: Area, buildings: gpd.GeoDataFrame, faces: np.ndarray, tree: shapely.STRtree
) -> gpd.GeoDataFrame:
    """Give each household feature a block; building-based counts follow their building."""
    src = area.households
    if src is None or src.empty:
        if col.HOUSEHOLDS not in buildings:
            hh = buildings.iloc[0:0][[col.BLOCK_ID, "geometry"]].copy()
            hh[col.HOUSEHOLDS] = pd.Series([], dtype="int64")
            return hh
        hh = buildings[[col.BUILDING_ID, col.BLOCK_ID, col.HOUSEHOLDS, "geometry"]].copy()
        hh[col.HOUSEHOLDS_ESTIMATED] = buildings.get(col.HOUSEHOLDS_ESTIMATED, False)
        return hh.reset_index(drop=True)
    hh = src.copy()
    geoms = hh.geometry.to_numpy()
    is_point = shapely.get_type_id(geoms) == 0
    block = np.full(len(hh), -1, dtype=np.int64)
    block[is_point] = assign_points(geoms[is_point], faces, tree=tree)
    block[~is_point], _ = assign_polygons(geoms[~is_point], faces, tree=tree)
    hh[col.BLOCK_ID] = block
    outside = block < 0
    if outside.any():
        log.warning(
            "%d household features (%d households) lie outside the boundary and are left out",
            int(outside.sum()),
            int(hh.loc[outside, col.HOUSEHOLDS].sum()),
        )
    return hh[~outside].reset_index(drop=True)


def _block_table(
    faces: np.ndarray,
    units: np.ndarray,
    unit_table: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame,
) -> gpd.GeoDataFrame:
    n = len(faces)
    hh = np.bincount(
        households[col.BLOCK_ID].to_numpy(dtype=np.int64),
        weights=households[col.HOUSEHOLDS].to_numpy(dtype=np.float64),
        minlength=n,
    )
    est_src = households.get(col.HOUSEHOLDS_ESTIMATED)
    estimated = np.zeros(n, dtype=bool)
    if est_src is not None and len(households):
        est_blocks = households[col.BLOCK_ID].to_numpy()[est_src.to_numpy(dtype=bool)]
        estimated[est_blocks] = True
    nb = np.bincount(buildings[col.BLOCK_ID].to_numpy(dtype=np.int64), minlength=n)
    return gpd.GeoDataFrame(
        {
            col.BLOCK_ID: np.arange(n, dtype=np.int64),
            col.UNIT_CODE: unit_table[col.UNIT_CODE].to_numpy()[units],
            col.UNIT_NAME: unit_table[col.UNIT_NAME].to_numpy()[units],
            col.HOUSEHOLDS: np.rint(hh).astype(np.int64),
            col.HOUSEHOLDS_ESTIMATED: estimated,
            "n_buildings": nb.astype(np.int64),
            col.AREA_M2: shapely.area(faces),
        },
        geometry=faces,
        crs=unit_table.crs,
    )
