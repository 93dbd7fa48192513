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
from gis.blocks.build import BlockSet
from gis.blocks.graph import block_graph
from gis.geometry.ownership import assign_points, assign_polygons
from gis.options import DEFAULT_TOLERANCES, Tolerances

log = logging.getLogger(__name__)

#: Share of a building's area that must lie in a region for the building to go with it.
MAJORITY_SHARE = 0.5
#: Block remainders smaller than this (m²) join the region they touch.
SLIVER_M2 = 20.0
#: Block remainders thinner than this (m, mean width 2·area/perimeter) join the region.
SLIVER_WIDTH_M = 2.0


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
    *,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
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
    tolerances
        ``region_snap_m``: region outlines are snapped onto block edges within it;
        ``dust_m2``: smaller leftovers (and regions) are dropped; ``min_shared_m``: a sliver
        joins a region only along at least this much edge; ``street_edge_m``: the new block
        graph (:func:`gis.blocks.graph.block_graph`).

    Returns
    -------
    Carved
    """
    regions = list(snap_regions(geoms, units_of, blockset=blockset))
    unit_arr = np.asarray([str(u) for u in units_of], dtype=object)
    blocks = blockset.blocks
    regions = _snap_to_blocks(regions, blocks.geometry.to_numpy(), tolerances.region_snap_m)
    live = [i for i, r in enumerate(regions) if not r.is_empty and r.area > tolerances.dust_m2]
    piece_arr, piece_block = _cut_blocks(blocks, regions, live, unit_arr, tolerances)
    region_arr = np.asarray([regions[i] for i in live], dtype=object)
    faces = np.concatenate([piece_arr, region_arr]) if len(region_arr) else piece_arr
    n_pieces = len(piece_arr)
    where_b = _where(blockset.buildings, faces)
    where_h = _where(blockset.households, faces)
    new_blocks = _block_frame(blockset, piece_arr, piece_block, where_b, where_h)
    kept_b, reg_b = _split_features(blockset.buildings.copy(), where_b, n_pieces, live)
    kept_h, reg_h = _split_features(blockset.households.copy(), where_h, n_pieces, live)
    live_arr = np.asarray(live, dtype=np.int64)
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
        graph=block_graph(new_blocks, blockset.streets, tolerances=tolerances),
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


def _cut_blocks(
    blocks: gpd.GeoDataFrame,
    regions: list[Any],
    live: list[int],
    unit_arr: np.ndarray,
    tolerances: Tolerances,
) -> tuple[np.ndarray, list[int]]:
    """What is left of every block once the regions are cut out, and the block of each piece.

    Slivers of what is left join the region they touch (``regions`` is updated in place);
    floating-point dust is dropped.
    """
    bgeoms = blocks.geometry.to_numpy()
    bunits = blocks[col.UNIT_CODE].astype(str).to_numpy()
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
            if part.is_empty or part.area < tolerances.dust_m2:
                continue  # floating-point dust left by the overlay
            if _join_sliver(part, regions, live, unit_arr, bunits[b], tolerances):
                continue
            pieces.append(part)
            piece_block.append(b)
    return np.asarray(pieces, dtype=object), piece_block


def _join_sliver(
    part: Any,
    regions: list[Any],
    live: list[int],
    unit_arr: np.ndarray,
    unit: str,
    tolerances: Tolerances,
) -> bool:
    """Join ``part`` to the region it touches when it is a sliver; whether it was joined."""
    width = 2 * part.area / max(part.length, 1e-9)
    if part.area >= SLIVER_M2 and width >= SLIVER_WIDTH_M:
        return False
    near = _touching(part, regions, live, unit_arr, unit, tolerances.min_shared_m)
    if near is None:
        return False
    joined = shapely.union(regions[near], part)
    # a sliver apart by floating-point noise would make the region multipart
    if shapely.get_num_geometries(joined) > shapely.get_num_geometries(regions[near]):
        return False
    regions[near] = joined
    return True


def _block_frame(
    blockset: BlockSet,
    piece_arr: np.ndarray,
    piece_block: list[int],
    where_b: np.ndarray,
    where_h: np.ndarray,
) -> gpd.GeoDataFrame:
    """The remaining blocks, renumbered, with their households and buildings."""
    n_pieces = len(piece_arr)
    src = blockset.blocks.iloc[piece_block]
    return gpd.GeoDataFrame(
        {
            col.BLOCK_ID: np.arange(n_pieces, dtype=np.int64),
            col.UNIT_CODE: src[col.UNIT_CODE].to_numpy(),
            col.UNIT_NAME: src[col.UNIT_NAME].to_numpy(),
            col.HOUSEHOLDS: _sum_by(blockset.households, where_h, n_pieces),
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


def _split_features(
    features: gpd.GeoDataFrame, where: np.ndarray, n_pieces: int, live: list[int]
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Features in a remaining block (with its new ``block_id``) and in a region (``region``)."""
    in_piece = (where >= 0) & (where < n_pieces)
    kept = features[in_piece].assign(**{col.BLOCK_ID: where[in_piece]})
    live_arr = np.asarray(live, dtype=np.int64)
    in_region = features[where >= n_pieces].assign(
        region=live_arr[where[where >= n_pieces] - n_pieces]
    )
    return kept, in_region


def _snap_to_blocks(regions: list[Any], blocks: np.ndarray, snap_m: float) -> list[Any]:
    """Snap region outlines onto nearly coincident block edges (within ``snap_m``).

    A site drawn along a street almost, but not exactly, on the block edge would otherwise
    leave hair-thin slivers and spikes that turn invalid once the plan is reprojected.
    """
    tree = shapely.STRtree(blocks)
    out = []
    for region in regions:
        if region.is_empty:
            out.append(region)
            continue
        near = blocks[tree.query(region, predicate="dwithin", distance=snap_m)]
        ref = shapely.union_all(shapely.boundary(near)) if len(near) else None
        snapped = shapely.snap(region, ref, snap_m) if ref is not None else region
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
    min_shared_m: float,
) -> int | None:
    """The region of ``unit`` sharing most boundary (at least ``min_shared_m``) with ``part``."""
    best, best_len = None, min_shared_m
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
