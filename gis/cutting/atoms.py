"""Atoms of a partition: street blocks, with oversized blocks replaced by their pieces.

An atom is what the partition search moves between grids. Most atoms are whole street blocks;
a block holding more households than the grid maximum is replaced by the pieces
:func:`gis.cutting.split.split_block` cuts it into. Each adjacency between atoms carries the shared
boundary length and a *penalty* saying how visible a grid boundary there would be: 0 along a
street (or river, railway, unit boundary), :data:`INNER_LINE_PENALTY` along a service road,
footway or wall inside a block, :data:`GAP_PENALTY` along a gap between buildings, and
:data:`NON_STREET_PENALTY` between blocks whose shared edge follows no bounding line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gis import columns as col
from gis.blocks.build import BlockSet
from gis.blocks.roads import PATH_HIGHWAYS
from gis.cutting.guillotine import Band
from gis.cutting.split import split_block
from gis.geometry.tiling import node_together, shared_boundary_m, snap_to_pieces
from gis.options import DEFAULT_TOLERANCES, Cuts, Progress, Tolerances

log = logging.getLogger(__name__)

ATOM_ID = "atom_id"
N_BUILDINGS = "n_buildings"
MAX_BUILDING_HOUSEHOLDS = "max_building_households"
SPLIT = "split"
REGION = "region"
#: The progress step of cutting blocks above the maximum (:func:`atoms_from_blockset`).
COMPOUNDS_STEP = "cutting compounds"

#: Atoms smaller than this (m²) with no households and no neighbour are slivers.
SLIVER_M2 = 1.0
#: Extra cost factor of a grid boundary along a compact cut of a split block
#: (:mod:`gis.cutting.guillotine`): none, the cut was drawn to be a grid boundary.
COMPACT_CUT_PENALTY = 0.0
#: Extra cost factor of a grid boundary along an inner line (service road, path, wall).
INNER_LINE_PENALTY = 0.5
#: Extra cost factor of a grid boundary along a gap between buildings.
GAP_PENALTY = 2.0
#: Extra cost factor of a grid boundary between blocks that follows no bounding line.
NON_STREET_PENALTY = 1.0


@dataclass(frozen=True)
class Atoms:
    """The atoms of an area and their adjacency.

    Attributes
    ----------
    frame
        One row per atom: ``atom_id`` (0..n-1), ``block_id``, ``unit_code``, ``unit_name``,
        ``households``, ``n_buildings``, ``max_building_households``, ``split`` (the atom is
        a piece of a split block), ``region`` (the compact region of a split block the piece
        lies in, -1 for whole blocks); polygons in the blockset CRS.
    edges
        ``u`` < ``v`` atom ids of the same unit, ``shared_m`` (m) and ``penalty``.
    """

    frame: gpd.GeoDataFrame
    edges: pd.DataFrame


def atoms_from_blockset(
    blockset: BlockSet,
    *,
    max_households: int,
    target_households: int | None = None,
    min_households: int | None = None,
    whole_blocks: Collection[int] = (),
    cuts: Cuts = "streets",
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    progress: Progress | None = None,
) -> Atoms:
    """Build the partition atoms of ``blockset``, splitting blocks above ``max_households``.

    Parameters
    ----------
    blockset
        Street blocks, buildings, household features and adjacency in a metric CRS.
    max_households
        The grid maximum: blocks holding more are split between their buildings.
    target_households
        The preferred grid size (default 5/8 of the maximum).
    min_households
        The grid minimum. With it, a block above the maximum is first cut by straight
        compact cuts into one piece per grid it should hold (:mod:`gis.cutting.guillotine`), and
        only a piece still above the maximum is cut further along inner lines and between
        buildings; without it, the block is cut into inner-line faces (split between their
        buildings when above the maximum) and the search groups them.
    whole_blocks
        Ids of blocks never split, whatever they hold (natural villages).
    cuts
        ``streets`` or ``compact``: what a block above the maximum is cut along first
        (:func:`gis.cutting.split.split_block`).
    tolerances
        ``snap_m``: pieces of split blocks and their neighbours are snapped together;
        ``min_shared_m``: atoms sharing less boundary are not adjacent; ``shared_edge_m``:
        how shared boundary is measured; and those of :func:`gis.cutting.split.split_block`.
    progress
        Called as ``progress("cutting compounds", done, total)`` while blocks above the
        maximum are cut, in households: those of the blocks cut so far out of those of every
        block above the maximum.

    Returns
    -------
    Atoms
    """
    blocks = blockset.blocks.sort_values(col.BLOCK_ID).reset_index(drop=True)
    bid = blocks[col.BLOCK_ID].to_numpy().astype(np.int64)
    hh = blocks[col.HOUSEHOLDS].to_numpy().astype(np.int64)
    # a fixed precision model (left by set_precision) would make every overlay snap-round
    geoms = shapely.from_wkb(shapely.to_wkb(blocks.geometry.to_numpy()))
    stats = _building_stats(blockset, bid)

    oversized = np.flatnonzero(to_split(hh, bid, max_households, whole_blocks))
    pieces_of: dict[int, dict[str, Any]] = {}
    if len(oversized):
        target = target_households or max(1, max_households * 5 // 8)
        band = Band(min_households, max_households, target) if min_households is not None else None
        pieces_of = _split_oversized(
            blockset,
            blocks,
            oversized,
            max_households,
            band,
            cuts=cuts,
            tolerances=tolerances,
            progress=progress,
        )
    rows, atoms_of_block, internal = _atom_rows(bid, hh, geoms, stats, pieces_of, tolerances)
    split_ids = [int(bid[i]) for i, p in pieces_of.items() if len(p["geometry"]) > 1]
    rows["geom"] = _node_pieces(
        rows["geom"], atoms_of_block, split_ids, blockset, tolerances=tolerances
    )
    frame = _atom_frame(rows, blocks, atoms_of_block, blockset.crs)
    index_of_block = {int(b): i for i, b in enumerate(bid)}
    units = blocks[col.UNIT_CODE].to_numpy()
    edges = _atom_edges(
        blockset, frame, atoms_of_block, index_of_block, units, internal, tolerances=tolerances
    )
    edges = _attach_slivers(frame, edges, tolerances=tolerances)
    log.info(
        "%d atoms from %d blocks (%d split), %d adjacencies",
        len(frame),
        len(blocks),
        len(split_ids),
        len(edges),
    )
    return Atoms(frame=frame, edges=edges)


def to_split(
    households: npt.ArrayLike,
    block_ids: npt.ArrayLike,
    max_households: npt.ArrayLike,
    whole_blocks: Collection[int],
) -> npt.NDArray[np.bool_]:
    """Which blocks are split between their buildings: above the maximum, not kept whole."""
    return np.asarray(
        (np.asarray(households) > np.asarray(max_households))
        & ~np.isin(np.asarray(block_ids), list(whole_blocks)),
        dtype=bool,
    )


def _atom_rows(
    bid: np.ndarray,
    hh: np.ndarray,
    geoms: np.ndarray,
    stats: tuple[np.ndarray, np.ndarray],
    pieces_of: dict[int, dict[str, Any]],
    tolerances: Tolerances,
) -> tuple[dict[str, list[object]], dict[int, list[int]], list[tuple[int, int, float, float]]]:
    """Atom columns block by block (a whole block, or the pieces of a split one).

    Returns the columns, the atoms of each block id, and the adjacencies among the pieces of
    each split block (atom ids).
    """
    b_count, b_max = stats
    rows: dict[str, list[object]] = {
        k: [] for k in ("block", "hh", "nb", "mb", "split", "region", "geom")
    }
    next_region = 0
    atoms_of_block: dict[int, list[int]] = {}
    internal: list[tuple[int, int, float, float]] = []
    for i in range(len(bid)):
        start = len(rows["geom"])
        parts = pieces_of.get(i)
        if parts is None or len(parts["geometry"]) == 1:
            for key, value in (
                ("block", bid[i]),
                ("hh", hh[i]),
                ("nb", b_count[i]),
                ("mb", b_max[i]),
                ("split", False),
                ("region", -1),
                ("geom", geoms[i]),
            ):
                rows[key].append(value)
        else:
            n = len(parts["geometry"])
            rows["block"].extend([bid[i]] * n)
            rows["hh"].extend(parts["households"].tolist())
            rows["nb"].extend(parts["n_buildings"].tolist())
            rows["mb"].extend(parts["max_building_households"].tolist())
            rows["split"].extend([True] * n)
            rows["region"].extend((parts["region"] + next_region).tolist())
            next_region += int(parts["region"].max()) + 1
            rows["geom"].extend(parts["geometry"].tolist())
            internal.extend(
                (start + a, start + b, m, p) for a, b, m, p in _piece_edges(parts, tolerances)
            )
        atoms_of_block[int(bid[i])] = list(range(start, len(rows["geom"])))
    return rows, atoms_of_block, internal


def _atom_frame(
    rows: dict[str, list[object]],
    blocks: gpd.GeoDataFrame,
    atoms_of_block: dict[int, list[int]],
    crs: Any,
) -> gpd.GeoDataFrame:
    """The atoms table (see :class:`Atoms`); units and unit names follow each atom's block."""
    bid = blocks[col.BLOCK_ID].to_numpy().astype(np.int64)
    units = blocks[col.UNIT_CODE].to_numpy()
    unit_names = (
        blocks[col.UNIT_NAME].to_numpy()
        if col.UNIT_NAME in blocks.columns
        else np.full(len(blocks), "", dtype=object)
    )
    count = [len(atoms_of_block[int(b)]) for b in bid]
    atom_unit = np.concatenate([np.full(n, units[i], dtype=object) for i, n in enumerate(count)])
    atom_unit_name = np.concatenate(
        [np.full(n, unit_names[i], dtype=object) for i, n in enumerate(count)]
    )
    return gpd.GeoDataFrame(
        {
            ATOM_ID: np.arange(len(rows["geom"]), dtype=np.int64),
            col.BLOCK_ID: np.asarray(rows["block"], dtype=np.int64),
            col.UNIT_CODE: atom_unit,
            col.UNIT_NAME: atom_unit_name,
            col.HOUSEHOLDS: np.asarray(rows["hh"], dtype=np.int64),
            N_BUILDINGS: np.asarray(rows["nb"], dtype=np.int64),
            MAX_BUILDING_HOUSEHOLDS: np.asarray(rows["mb"], dtype=np.int64),
            SPLIT: np.asarray(rows["split"], dtype=bool),
            REGION: np.asarray(rows["region"], dtype=np.int64),
        },
        geometry=gpd.GeoSeries(rows["geom"], crs=crs),
        crs=crs,
    )


def _node_pieces(
    geoms: list[object],
    atoms_of_block: dict[int, list[int]],
    split_ids: list[int],
    blockset: BlockSet,
    *,
    tolerances: Tolerances,
) -> list[object]:
    """Make pieces and their neighbours share vertices exactly where they share edges.

    Cutting a block puts new vertices on its outline that lie on the neighbouring block's
    edges only up to floating-point noise; snapping the neighbourhood to those vertices
    (within ``snap_m``) lets grids dissolve into single polygons without slivers.
    """
    out: list[Any] = list(geoms)
    for b in split_ids:
        own = list(atoms_of_block[b])
        local = list(own)
        for nb in blockset.graph.neighbors(b) if b in blockset.graph else ():
            local.extend(atoms_of_block.get(int(nb), []))
        snapped = snap_to_pieces(
            np.asarray([out[a] for a in local], dtype=object), len(own), tolerances.snap_m
        )
        # snapping matches vertices; noding makes every shared edge exact, so that a grid
        # holding two pieces that share an edge dissolves into one polygon
        noded = node_together(snapped, tolerances=tolerances)
        for a, geom in zip(local, noded, strict=True):
            out[a] = geom
    return out


def _attach_slivers(
    frame: gpd.GeoDataFrame, edges: pd.DataFrame, *, tolerances: Tolerances
) -> pd.DataFrame:
    """Join empty slivers (< :data:`SLIVER_M2`, no households, no neighbour) to what they touch.

    "Touch" is within ``tolerances.snap_m``; the edge gets ``tolerances.min_shared_m``. A
    degenerate block would otherwise stand alone as a grid of 0 households; the grid it joins
    drops it again when dissolved (see :func:`gis.geometry.tiling.drop_pinholes`).
    """
    linked = np.zeros(len(frame), dtype=bool)
    linked[edges["u"].to_numpy().astype(np.int64)] = True
    linked[edges["v"].to_numpy().astype(np.int64)] = True
    geoms = frame.geometry.to_numpy()
    lonely = np.flatnonzero(
        ~linked & (shapely.area(geoms) < SLIVER_M2) & (frame[col.HOUSEHOLDS].to_numpy() == 0)
    )
    if len(lonely) == 0:
        return edges
    units = frame[col.UNIT_CODE].to_numpy()
    tree = shapely.STRtree(geoms)
    extra = []
    for a in lonely.tolist():
        hits = tree.query(geoms[a], predicate="dwithin", distance=tolerances.snap_m)
        near = [int(j) for j in hits if j != a and units[j] == units[a]]
        if near:
            j = max(near, key=lambda x: (shapely.area(geoms[x]), -x))
            extra.append(
                {
                    "u": min(a, j),
                    "v": max(a, j),
                    col.SHARED_M: tolerances.min_shared_m,
                    "penalty": 0.0,
                }
            )
    if not extra:
        return edges
    return pd.concat([edges, pd.DataFrame(extra)], ignore_index=True)


def _building_stats(blockset: BlockSet, bid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number of buildings and households of the largest building, per block (in ``bid`` order)."""
    count = np.zeros(len(bid), dtype=np.int64)
    largest = np.zeros(len(bid), dtype=np.int64)
    b = blockset.buildings
    if len(b) == 0 or col.BLOCK_ID not in b.columns:
        return count, largest
    pos = pd.Series(np.arange(len(bid)), index=bid)
    where = pos.reindex(b[col.BLOCK_ID].to_numpy()).to_numpy()
    ok = ~np.isnan(where)
    idx = where[ok].astype(np.int64)
    np.add.at(count, idx, 1)
    if col.HOUSEHOLDS in b.columns:
        np.maximum.at(largest, idx, b[col.HOUSEHOLDS].to_numpy()[ok].astype(np.int64))
    return count, largest


@dataclass(frozen=True)
class _Contents:
    """What lies in the blocks, grouped by block, for splitting them."""

    lines: np.ndarray | None
    line_streets: np.ndarray
    line_tree: shapely.STRtree | None
    bld_groups: dict[Any, np.ndarray]
    hh_groups: dict[Any, np.ndarray]
    bld_geom: np.ndarray
    bld_hh: np.ndarray
    hh_geom: np.ndarray
    hh_cnt: np.ndarray

    @classmethod
    def of(cls, blockset: BlockSet) -> _Contents:
        bld = blockset.buildings
        hhf = blockset.households
        inner = blockset.inner_lines
        lines = inner.geometry.to_numpy() if len(inner) else None
        kinds = inner[col.HIGHWAY] if col.HIGHWAY in inner else gpd.pd.Series(index=inner.index)
        return cls(
            lines=lines,
            line_streets=(kinds.notna() & ~kinds.isin(list(PATH_HIGHWAYS))).to_numpy(),
            line_tree=shapely.STRtree(lines) if lines is not None else None,
            bld_groups=bld.groupby(col.BLOCK_ID).indices if len(bld) else {},
            hh_groups=(
                hhf.groupby(col.BLOCK_ID).indices
                if len(hhf) and col.BLOCK_ID in hhf.columns
                else {}
            ),
            bld_geom=bld.geometry.to_numpy() if len(bld) else np.empty(0, dtype=object),
            bld_hh=(
                bld[col.HOUSEHOLDS].to_numpy().astype(np.int64)
                if len(bld) and col.HOUSEHOLDS in bld.columns
                else np.zeros(len(bld), dtype=np.int64)
            ),
            hh_geom=hhf.geometry.to_numpy() if len(hhf) else np.empty(0, dtype=object),
            hh_cnt=(
                hhf[col.HOUSEHOLDS].to_numpy().astype(np.int64)
                if len(hhf)
                else np.zeros(0, dtype=np.int64)
            ),
        )

    def lines_near(self, geom: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
        """Inner lines meeting ``geom``, and which of them are streets (not paths or walls)."""
        if self.line_tree is None or self.lines is None:
            return np.empty(0, dtype=object), np.empty(0, dtype=bool)
        near = self.line_tree.query(geom, predicate="intersects")
        return self.lines[near], self.line_streets[near]


def _split_oversized(
    blockset: BlockSet,
    blocks: gpd.GeoDataFrame,
    oversized: np.ndarray,
    max_households: int,
    band: Band | None,
    *,
    cuts: Cuts,
    tolerances: Tolerances,
    progress: Progress | None = None,
) -> dict[int, dict[str, Any]]:
    """Split every oversized block; returns the pieces per block row."""
    contents = _Contents.of(blockset)
    out: dict[int, dict[str, Any]] = {}
    unit_of = dict(zip(blocks[col.BLOCK_ID].astype(int), blocks[col.UNIT_CODE], strict=True))
    held = blocks[col.HOUSEHOLDS].to_numpy().astype(np.int64)
    total, before = int(held[oversized].sum()), 0
    for i in oversized.tolist():
        row = blocks.iloc[i]
        block_id = int(row[col.BLOCK_ID])
        report = _reporter(progress, before, int(held[i]), total)
        # a compound with neighbours in its unit may leave a region below the minimum: the
        # search joins it to a neighbouring grid (a block just above the maximum then gives up
        # a compact corner instead of being halved into a long strip and a rest)
        block_band = band
        if band is not None and any(
            unit_of.get(int(n)) == row[col.UNIT_CODE]
            for n in (blockset.graph.neighbors(block_id) if block_id in blockset.graph else ())
        ):
            block_band = Band(0, band.max_households, band.target)
        b_idx = np.asarray(contents.bld_groups.get(block_id, []), dtype=np.int64)
        h_idx = np.asarray(contents.hh_groups.get(block_id, []), dtype=np.int64)
        lines, streets = contents.lines_near(row.geometry)
        pieces = split_block(
            row.geometry,
            footprints=contents.bld_geom[b_idx],
            building_households=contents.bld_hh[b_idx],
            household_geoms=contents.hh_geom[h_idx],
            household_counts=contents.hh_cnt[h_idx],
            inner_lines=lines,
            inner_streets=streets,
            total_households=int(row[col.HOUSEHOLDS]),
            max_households=max_households,
            band=block_band,
            cuts=cuts,
            tolerances=tolerances,
            progress=report,
        )
        before += int(held[i])
        if progress is not None:
            progress(COMPOUNDS_STEP, before, total)
        out[i] = {
            "geometry": pieces.geometry,
            "households": pieces.households,
            "n_buildings": pieces.n_buildings,
            "max_building_households": pieces.max_building_households,
            "face": pieces.face,
            "region": pieces.region,
            "faces_first": pieces.faces_first,
        }
        log.debug(
            "block %d (%d households) split into %d pieces",
            block_id,
            int(row[col.HOUSEHOLDS]),
            len(pieces.geometry),
        )
    return out


def _reporter(
    progress: Progress | None, before: int, block: int, total: int
) -> Callable[[int], None] | None:
    """Households cut in one block reported as progress over every block above the maximum."""
    if progress is None:
        return None
    return lambda done: progress(COMPOUNDS_STEP, before + min(done, block), total)


def _piece_edges(
    parts: dict[str, Any], tolerances: Tolerances
) -> list[tuple[int, int, float, float]]:
    """Adjacency among the pieces of one block (local indices)."""
    geoms = parts["geometry"]
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shared_boundary_m(geoms[a], geoms[b], tolerances=tolerances)
    face, region = parts["face"], parts["region"]
    # what separates two pieces: the cut made first (faces or regions), else the other, else
    # a gap between buildings
    first, then = (face, region) if parts["faces_first"] else (region, face)
    pen_first, pen_then = (
        (INNER_LINE_PENALTY, COMPACT_CUT_PENALTY)
        if parts["faces_first"]
        else (COMPACT_CUT_PENALTY, INNER_LINE_PENALTY)
    )
    out = []
    for i, j, m in zip(a.tolist(), b.tolist(), shared.tolist(), strict=True):
        if m >= tolerances.min_shared_m:
            if first[i] != first[j]:
                pen = pen_first
            else:
                pen = pen_then if then[i] != then[j] else GAP_PENALTY
            out.append((i, j, m, pen))
    return out


def _atom_edges(
    blockset: BlockSet,
    frame: gpd.GeoDataFrame,
    atoms_of_block: dict[int, list[int]],
    index_of_block: dict[int, int],
    units: np.ndarray,
    internal: list[tuple[int, int, float, float]],
    *,
    tolerances: Tolerances,
) -> pd.DataFrame:
    """Adjacency of atoms of the same unit, from the block graph and the split pieces."""
    whole, pairs = _block_edges(
        blockset, atoms_of_block, index_of_block, units, tolerances.min_shared_m
    )
    found = whole + _measured_edges(frame.geometry.to_numpy(), pairs, tolerances) + internal
    edges = pd.DataFrame(
        {
            "u": np.asarray([e[0] for e in found], dtype=np.int64),
            "v": np.asarray([e[1] for e in found], dtype=np.int64),
            col.SHARED_M: np.asarray([e[2] for e in found], dtype=np.float64),
            "penalty": np.asarray([e[3] for e in found], dtype=np.float64),
        }
    )
    edges = edges.groupby(["u", "v"], as_index=False, sort=True).agg(
        {col.SHARED_M: "max", "penalty": "max"}
    )
    return edges


def _block_edges(
    blockset: BlockSet,
    atoms_of_block: dict[int, list[int]],
    index_of_block: dict[int, int],
    units: np.ndarray,
    min_shared_m: float,
) -> tuple[list[tuple[int, int, float, float]], list[tuple[int, int, float]]]:
    """Edges of the block graph within a unit, as ``(u, v, shared_m, penalty)`` of atoms.

    Two whole blocks keep the graph's shared length; for a split block, every pair of its
    pieces and the neighbour's atoms is returned as ``(x, y, penalty)`` to be measured.
    """
    whole: list[tuple[int, int, float, float]] = []
    pairs: list[tuple[int, int, float]] = []
    for u, v, data in blockset.graph.edges(data=True):
        iu, iv = index_of_block.get(int(u)), index_of_block.get(int(v))
        if iu is None or iv is None or units[iu] != units[iv]:
            continue
        pen = 0.0 if data.get("street", True) else NON_STREET_PENALTY
        au, av = atoms_of_block[int(u)], atoms_of_block[int(v)]
        if len(au) == 1 and len(av) == 1:
            shared = float(data.get(col.SHARED_M, 1.0))
            if shared >= min_shared_m:
                whole.append((min(au[0], av[0]), max(au[0], av[0]), shared, pen))
            continue
        pairs.extend((x, y, pen) for x in au for y in av)
    return whole, pairs


def _measured_edges(
    geoms: np.ndarray, pairs: list[tuple[int, int, float]], tolerances: Tolerances
) -> list[tuple[int, int, float, float]]:
    """The pairs ``(x, y, penalty)`` that share at least ``min_shared_m``, with the length."""
    if not pairs:
        return []
    pa = np.asarray([p[0] for p in pairs])
    pb = np.asarray([p[1] for p in pairs])
    touch = shapely.intersects(geoms[pa], geoms[pb])
    pa, pb = pa[touch], pb[touch]
    pen_arr = np.asarray([p[2] for p in pairs])[touch]
    lengths = shared_boundary_m(geoms[pa], geoms[pb], tolerances=tolerances)
    return [
        (min(x, y), max(x, y), m, p)
        for x, y, m, p in zip(
            pa.tolist(), pb.tolist(), lengths.tolist(), pen_arr.tolist(), strict=True
        )
        if m >= tolerances.min_shared_m
    ]
