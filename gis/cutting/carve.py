"""Carving regions (dedicated sites, natural villages) out of street blocks, coverage kept exact.

A region is a polygon inside one administrative unit. Carving snaps it to buildings — a
building mostly inside the region goes with it whole, a building straddling its edge goes whole
to the side holding most of it — and cuts it out of the blocks. What is left of every block
becomes the new blocks; slivers of them (thinner than ``sliver_width_m`` or smaller than
``sliver_m2``) join the region they touch, so that regions and remaining blocks tile every
unit exactly.

Examples
--------
>>> from gis.datasets import grid_blockset
>>> import shapely
>>> bs = grid_blockset(2, 2, households=100)
>>> x0, y0, x1, y1 = bs.blocks.total_bounds
>>> site = shapely.box(x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
>>> out = carve_regions(bs, [site], [bs.blocks["unit_code"].iloc[0]])
>>> len(out.regions)
1
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import columns as col
from gis.geometry.ownership import assign_points, assign_polygons
from gis.blocks.build import BlockSet
from gis.blocks.graph import block_graph

log = logging.getLogger(__name__)

#: Share of a building's area that must lie in a region for the building to go with it.
MAJORITY_SHARE = 0.5
#: Block remainders smaller than this (m²) join the region they touch.
SLIVER_M2 = 20.0
#: Block remainders thinner than this (m, mean width 2·area/perimeter) join the region.
SLIVER_WIDTH_M = 2.0
#: Region vertices this close (m) to a block edge are snapped onto it.
SNAP_M = 0.05
#: A sliver joins a region only along a shared edge at least this long (m).
MIN_SHARED_M = 0.5
#: Overlay leftovers smaller than this (m²) are dropped as floating-point dust.
DUST_M2 = 1e-3
#: Regions must cover at least this much (m²) to be kept.
MIN_REGION_M2 = 1e-3


@dataclass(frozen=True)
class Carved:
    """Blocks with regions cut out, and the regions themselves.

    Attributes
    ----------
    blockset
        The remaining blocks (renumbered 0..n-1) with their buildings, households and graph;
        units, streets and inner lines unchanged.
    regions
        One polygon per region kept (``region`` = index in the input, ``unit_code``,
        ``households``, ``n_buildings``), snapped to buildings and clipped to its unit.
    region_buildings
        Buildings now inside a region, with ``region``.
    region_households
        Household features inside a region, with ``region``.
    """

    blockset: BlockSet
    regions: gpd.GeoDataFrame
    region_buildings: gpd.GeoDataFrame
    region_households: gpd.GeoDataFrame


def snap_regions(
    geoms: Sequence[shapely.Geometry],
    units_of: Sequence[str],
    *,
    blockset: BlockSet,
) -> np.ndarray:
    """Snap regions to whole buildings, clip them to their unit, and make them disjoint.

    Parameters
    ----------
    geoms
        Region polygons in the blockset CRS.
    units_of
        The unit code of each region.
    blockset
        Blocks, buildings and units (metric CRS).

    Returns
    -------
    numpy.ndarray
        One (possibly empty) polygon per region; earlier regions win where two overlap.
    """
    unit_geom = dict(
        zip(
            blockset.units[col.UNIT_CODE].astype(str),
            blockset.units.geometry.to_numpy(),
            strict=True,
        )
    )
    bld = blockset.buildings.geometry.to_numpy() if len(blockset.buildings) else np.empty(0)
    bld_area = shapely.area(bld) if len(bld) else np.empty(0)
    tree = shapely.STRtree(bld) if len(bld) else None
    out = np.empty(len(geoms), dtype=object)
    taken: list[shapely.Geometry] = []
    for i, (geom, unit) in enumerate(zip(geoms, units_of, strict=True)):
        region: Any = shapely.intersection(shapely.make_valid(geom), unit_geom[str(unit)])
        if tree is not None and not region.is_empty:
            hits = tree.query(region, predicate="intersects")
            if len(hits):
                share = shapely.area(shapely.intersection(bld[hits], region)) / np.maximum(
                    bld_area[hits], 1e-9
                )
                inside = hits[share > MAJORITY_SHARE]
                outside = hits[share <= MAJORITY_SHARE]
                if len(inside):
                    region = shapely.union(region, shapely.union_all(bld[inside]))
                if len(outside):
                    region = shapely.difference(region, shapely.union_all(bld[outside]))
            region = shapely.intersection(region, unit_geom[str(unit)])
        if taken:
            region = shapely.difference(region, shapely.union_all(taken))
        region = _polygonal(region)
        out[i] = region
        if not region.is_empty:
            taken.append(region)
    return out


def carve_regions(
    blockset: BlockSet,
    geoms: Sequence[shapely.Geometry],
    units_of: Sequence[str],
) -> Carved:
    """Cut regions out of the blocks (see the module docstring).

    Parameters
    ----------
    blockset
        Street blocks in a metric CRS.
    geoms
        Region polygons in the blockset CRS.
    units_of
        The unit code each region belongs to.

    Returns
    -------
    Carved
    """
    regions = list(snap_regions(geoms, units_of, blockset=blockset))
    unit_arr = np.asarray([str(u) for u in units_of], dtype=object)
    blocks = blockset.blocks
    bgeoms = blocks.geometry.to_numpy()
    bunits = blocks[col.UNIT_CODE].astype(str).to_numpy()
    regions = _snap_to_blocks(regions, bgeoms)
    live = [i for i, r in enumerate(regions) if not r.is_empty and r.area > MIN_REGION_M2]
    rtree = shapely.STRtree(np.asarray([regions[i] for i in live], dtype=object)) if live else None
    pieces: list[shapely.Geometry] = []
    piece_block: list[int] = []
    for b, geom in enumerate(bgeoms):
        rest = geom
        if rtree is not None:
            hits = [live[j] for j in rtree.query(geom, predicate="intersects")]
            hits = [h for h in hits if unit_arr[h] == bunits[b]]
            if hits:
                rest = shapely.difference(geom, shapely.union_all([regions[h] for h in hits]))
        for part in shapely.get_parts(_polygonal(rest)):
            if part.is_empty or part.area < DUST_M2:
                continue  # floating-point dust left by the overlay
            width = 2 * part.area / max(part.length, 1e-9)
            near = _touching(part, regions, live, unit_arr, bunits[b])
            if near is not None and (part.area < SLIVER_M2 or width < SLIVER_WIDTH_M):
                joined = shapely.union(regions[near], part)
                # a sliver apart by floating-point noise would make the region multipart
                if shapely.get_num_geometries(joined) <= shapely.get_num_geometries(regions[near]):
                    regions[near] = joined
                    continue
            pieces.append(part)
            piece_block.append(b)
    piece_arr = np.asarray(pieces, dtype=object)
    region_arr = np.asarray([regions[i] for i in live], dtype=object)
    faces = np.concatenate([piece_arr, region_arr]) if len(region_arr) else piece_arr
    n_pieces = len(piece_arr)

    bld = blockset.buildings.copy()
    where_b = _where(bld, faces)
    hhf = blockset.households.copy()
    where_h = _where(hhf, faces)

    src = blocks.iloc[piece_block]
    new_blocks = gpd.GeoDataFrame(
        {
            col.BLOCK_ID: np.arange(n_pieces, dtype=np.int64),
            col.UNIT_CODE: src[col.UNIT_CODE].to_numpy(),
            col.UNIT_NAME: src[col.UNIT_NAME].to_numpy(),
            col.HOUSEHOLDS: _sum_by(hhf, where_h, n_pieces),
            col.HOUSEHOLDS_ESTIMATED: src[col.HOUSEHOLDS_ESTIMATED].to_numpy()
            if col.HOUSEHOLDS_ESTIMATED in src
            else False,
            "n_buildings": np.bincount(
                where_b[(where_b >= 0) & (where_b < n_pieces)], minlength=n_pieces
            ).astype(np.int64),
            col.AREA_M2: shapely.area(piece_arr) if n_pieces else np.empty(0),
        },
        geometry=gpd.GeoSeries(piece_arr, crs=blockset.crs),
        crs=blockset.crs,
    )
    in_piece_b = (where_b >= 0) & (where_b < n_pieces)
    in_piece_h = (where_h >= 0) & (where_h < n_pieces)
    kept_b = bld[in_piece_b].assign(**{col.BLOCK_ID: where_b[in_piece_b]})
    kept_h = hhf[in_piece_h].assign(**{col.BLOCK_ID: where_h[in_piece_h]})
    live_arr = np.asarray(live, dtype=np.int64)
    reg_b = bld[where_b >= n_pieces].assign(
        region=live_arr[where_b[where_b >= n_pieces] - n_pieces]
    )
    reg_h = hhf[where_h >= n_pieces].assign(
        region=live_arr[where_h[where_h >= n_pieces] - n_pieces]
    )
    region_frame = gpd.GeoDataFrame(
        {
            "region": live_arr,
            col.UNIT_CODE: unit_arr[live_arr] if len(live_arr) else np.empty(0, dtype=object),
            col.HOUSEHOLDS: np.asarray(
                [int(reg_h.loc[reg_h["region"] == r, col.HOUSEHOLDS].sum()) for r in live],
                dtype=np.int64,
            ),
            "n_buildings": np.asarray(
                [int((reg_b["region"] == r).sum()) for r in live], dtype=np.int64
            ),
        },
        geometry=gpd.GeoSeries(region_arr, crs=blockset.crs),
        crs=blockset.crs,
    )
    carved = BlockSet(
        blocks=new_blocks,
        buildings=kept_b.reset_index(drop=True),
        households=kept_h.reset_index(drop=True),
        graph=block_graph(new_blocks, blockset.streets),
        streets=blockset.streets,
        inner_lines=blockset.inner_lines,
        units=blockset.units,
        crs=blockset.crs,
    )
    log.info("carved %d regions out of %d blocks → %d blocks", len(live), len(blocks), n_pieces)
    return Carved(
        blockset=carved,
        regions=region_frame,
        region_buildings=reg_b.reset_index(drop=True),
        region_households=reg_h.reset_index(drop=True),
    )


def _snap_to_blocks(regions: list[Any], blocks: np.ndarray) -> list[Any]:
    """Snap region outlines onto nearly coincident block edges (within :data:`SNAP_M`).

    A site drawn along a street almost, but not exactly, on the block edge would otherwise
    leave hair-thin slivers and spikes that turn invalid once the plan is reprojected.
    """
    tree = shapely.STRtree(blocks)
    out = []
    for region in regions:
        if region.is_empty:
            out.append(region)
            continue
        near = blocks[tree.query(region, predicate="dwithin", distance=SNAP_M)]
        ref = shapely.union_all(shapely.boundary(near)) if len(near) else None
        snapped = shapely.snap(region, ref, SNAP_M) if ref is not None else region
        if not shapely.is_valid(snapped):
            snapped = shapely.make_valid(snapped, method="structure", keep_collapsed=False)
        out.append(_polygonal(snapped))
    return out


def _polygonal(geom: Any) -> Any:
    """Keep only the polygon parts of a geometry (overlays can leave lines and points)."""
    if geom is None or shapely.is_empty(geom):
        return shapely.Polygon()
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    polys = [q for p in parts for q in shapely.get_parts(p) if q.area > 0]
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _touching(
    part: shapely.Geometry,
    regions: list[shapely.Geometry],
    live: list[int],
    unit_arr: np.ndarray,
    unit: str,
) -> int | None:
    """The region of ``unit`` sharing most boundary with ``part`` (None when none touches)."""
    best, best_len = None, MIN_SHARED_M
    for r in live:
        if unit_arr[r] != unit or not shapely.dwithin(part, regions[r], 1e-6):
            continue
        shared = shapely.length(
            shapely.intersection(shapely.boundary(part), shapely.buffer(regions[r], 1e-6))
        )
        if shared >= best_len:
            best, best_len = r, shared
    return best


def _where(features: gpd.GeoDataFrame, faces: np.ndarray) -> np.ndarray:
    """Index of the face each feature belongs to: points by the boundary rule, else overlap."""
    if len(features) == 0 or len(faces) == 0:
        return np.full(len(features), -1, dtype=np.int64)
    geoms = features.geometry.to_numpy()
    tree = shapely.STRtree(faces)
    is_point = shapely.get_type_id(geoms) == 0
    where = np.full(len(geoms), -1, dtype=np.int64)
    if is_point.any():
        where[is_point] = assign_points(geoms[is_point], faces, tree=tree)
    if (~is_point).any():
        where[~is_point], _ = assign_polygons(geoms[~is_point], faces, tree=tree)
    return where


def _sum_by(features: gpd.GeoDataFrame, where: np.ndarray, n: int) -> np.ndarray:
    """Households per face index (0..n-1)."""
    if len(features) == 0 or col.HOUSEHOLDS not in features:
        return np.zeros(n, dtype=np.int64)
    ok = (where >= 0) & (where < n)
    hh = pd.to_numeric(features[col.HOUSEHOLDS], errors="coerce").fillna(0).to_numpy()
    return np.rint(np.bincount(where[ok], weights=hh[ok], minlength=n)).astype(np.int64)
