"""Partitioning street blocks into ordinary grids (网格) inside a household band.

:func:`partition_blocks` splits blocks above the maximum between their buildings
(:mod:`gis.cutting.atoms`), partitions every administrative unit separately
(:mod:`gis.search.local`) and dissolves each grid into one polygon. The rules of grid work
(dedicated grids, natural villages, codes, cells) and the checks are applied around it by
:func:`gis.partition`, the whole planner.

Examples
--------
>>> from gis.datasets import grid_blockset
>>> from gis.options import Band
>>> result = partition_blocks(grid_blockset(4, 4, households=150), band=Band(), rng=0)
>>> bool(result.grids["households"].between(300, 800).all())
True
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import columns as col
from gis.blocks.build import BlockSet
from gis.cutting.atoms import (
    ATOM_ID,
    MAX_BUILDING_HOUSEHOLDS,
    N_BUILDINGS,
    REGION,
    Atoms,
    atoms_from_blockset,
)
from gis.errors import CRSError, GeometryError, InfeasibleBandError
from gis.geometry.tiling import robust_outlines
from gis.options import DEFAULT_TOLERANCES, Band, Tolerances
from gis.search.band import REASON_SINGLE_BUILDING, REASON_UNSPLITTABLE, choose_k
from gis.search.local import SearchOptions, search_partition

log = logging.getLogger(__name__)

ORDINARY = col.ORDINARY


@dataclass(frozen=True)
class Partition:
    """The ordinary grids of a block set, before the rules of grid work are applied.

    Attributes
    ----------
    grids
        One polygon per grid: ``grid_id`` (0..k-1, by unit then north→south, west→east),
        ``households``, ``kind`` (``ordinary``), ``parent_code``, ``parent_name``,
        ``area_m2``, ``n_blocks``; in the blockset CRS.
    atoms
        The atoms grids are made of (whole blocks, or pieces of split blocks): ``atom_id``,
        ``block_id``, ``unit_code``, ``households``, ``split``, ``grid_id``; polygons.
    edges
        The atom graph the search ran on: ``u``, ``v``, ``shared_m``, ``penalty``.
    reasons
        Grid id → why the grid lies outside the band (codes of :mod:`gis.search.band`).
    seconds
        Time spent cutting atoms, searching and dissolving.
    """

    grids: gpd.GeoDataFrame
    atoms: gpd.GeoDataFrame
    edges: pd.DataFrame
    reasons: dict[int, str]
    seconds: dict[str, float]


def partition_blocks(
    blockset: BlockSet,
    *,
    band: Band,
    rng: int | np.random.Generator | None = None,
    whole_blocks: Collection[int] = (),
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> Partition:
    """Partition street blocks into contiguous grids inside ``band``, unit by unit.

    Parameters
    ----------
    blockset
        Street blocks and what lies in them, in a metric CRS
        (see :class:`gis.blocks.build.BlockSet`).
    band
        The household band every ordinary grid should meet, and the target.
    rng
        Seed or generator; the same seed gives the same partition.
    whole_blocks
        Ids of blocks never split even above the maximum (natural villages, see
        :mod:`gis.rules.villages`); such a block becomes a grid of its own.
    tolerances
        Geometric tolerances of the cuts and outlines (:class:`gis.Tolerances`).

    Returns
    -------
    Partition
        Always covers every block; grids that cannot meet the band have a reason.

    Raises
    ------
    InfeasibleBandError
        When the band is so narrow that no unit's households can be divided into it.
    CRSError
        When the blockset is not in a projected CRS.
    GeometryError
        When the blockset holds no blocks.
    """
    _check_blockset(blockset)
    gen = np.random.default_rng(rng)
    started = time.perf_counter()
    options = SearchOptions(band.min_households, band.max_households, band.target)
    atoms = atoms_from_blockset(
        blockset,
        max_households=band.max_households,
        target_households=band.target,
        min_households=band.min_households,
        whole_blocks=whole_blocks,
        tolerances=tolerances,
    )
    _refuse_narrow_band(atoms, options)
    t_atoms = time.perf_counter()
    frame = atoms.frame
    labels = np.full(len(frame), -1, dtype=np.int64)
    reasons: dict[int, str] = {}
    for unit in sorted(frame[col.UNIT_CODE].unique().tolist(), key=str):
        unit_rng = np.random.default_rng(int(gen.integers(2**63 - 1)))
        idx = np.flatnonzero((frame[col.UNIT_CODE] == unit).to_numpy())
        lab, why = _partition_unit(atoms, idx, options, unit_rng)
        offset = int(labels.max()) + 1
        labels[idx] = lab + offset
        reasons.update({g + offset: r for g, r in why.items()})
    t_search = time.perf_counter()
    grids, grid_of_label = _dissolve(frame, labels, blockset, tolerances)
    log.info("%d grids, %.1f s", len(grids), time.perf_counter() - started)
    return Partition(
        grids=grids,
        atoms=frame.assign(**{col.GRID_ID: grid_of_label[labels]}),
        edges=atoms.edges,
        reasons={int(grid_of_label[g]): r for g, r in reasons.items()},
        seconds={
            "atoms": t_atoms - started,
            "search": t_search - t_atoms,
            "dissolve": time.perf_counter() - t_search,
        },
    )


def _check_blockset(blockset: BlockSet) -> None:
    if blockset.crs is None or not blockset.crs.is_projected:
        msg = (
            f"blocks must be in a projected metric CRS, got {blockset.crs}; "
            "build them with a metric CRS"
        )
        raise CRSError(msg)
    if len(blockset.blocks) == 0:
        msg = "the blockset holds no blocks: nothing to partition; check the area's boundary"
        raise GeometryError(msg)


def search_costs(
    frame: gpd.GeoDataFrame, edges: pd.DataFrame, idx: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """What the search weighs for the atoms ``idx`` (row positions of ``frame``).

    Returns each atom's boundary cost (its perimeter plus the extra of its edges that follow
    no street) and the edges among them as local positions with their cost
    ``shared_m * (1 + penalty)``: the one definition used by the first partition, edits and
    adjustments alike.
    """
    sub = frame.iloc[idx]
    local = pd.Series(np.arange(len(idx)), index=sub[ATOM_ID].to_numpy())
    e = edges[edges["u"].isin(local.index) & edges["v"].isin(local.index)]
    u = local.reindex(e["u"].to_numpy()).to_numpy()
    v = local.reindex(e["v"].to_numpy()).to_numpy()
    shared = e[col.SHARED_M].to_numpy()
    penalty = e["penalty"].to_numpy()
    extra = np.zeros(len(idx))
    np.add.at(extra, u, shared * penalty)
    np.add.at(extra, v, shared * penalty)
    perimeter = shapely.length(sub.geometry.to_numpy())
    return perimeter + extra, (u, v, shared * (1.0 + penalty))


def _partition_unit(
    atoms: Atoms, idx: np.ndarray, options: SearchOptions, rng: np.random.Generator
) -> tuple[np.ndarray, dict[int, str]]:
    """Partition the atoms ``idx`` of one unit; labels local to the unit."""
    frame = atoms.frame.iloc[idx]
    cost, graph = search_costs(atoms.frame, atoms.edges, idx)
    hh = frame[col.HOUSEHOLDS].to_numpy()
    heavy: dict[int, str] = {}
    for i in np.flatnonzero(hh > options.max_households).tolist():
        single = (
            frame[MAX_BUILDING_HOUSEHOLDS].iloc[i] > options.max_households
            or frame[N_BUILDINGS].iloc[i] == 1
        )
        heavy[i] = REASON_SINGLE_BUILDING if single else REASON_UNSPLITTABLE
    result = search_partition(
        hh,
        shapely.area(frame.geometry.to_numpy()),
        cost,
        graph,
        options=options,
        heavy_reason=heavy,
        groups=frame[REGION].to_numpy(),
        rng=rng,
    )
    return result.labels, result.reasons


def _refuse_narrow_band(atoms: Atoms, options: SearchOptions) -> None:
    """Raise when no unit's households can be divided into the band at all."""
    frame = atoms.frame
    totals = frame.groupby(col.UNIT_CODE)[col.HOUSEHOLDS]
    feasible_any = False
    worst: tuple[Any, int] | None = None
    for unit, hh in totals:
        heavy = [int(x) for x in hh if x > options.max_households]
        total = int(hh.sum())
        if total < options.min_households:
            continue
        _, feasible = choose_k(total, heavy, options)
        feasible_any |= feasible
        if not feasible and worst is None:
            worst = (unit, total)
    if not feasible_any and worst is not None:
        msg = (
            f"the band {options.min_households}–{options.max_households} is too narrow: "
            f"no unit's households can be divided into it (e.g. unit {worst[0]} holds "
            f"{worst[1]}); widen the band"
        )
        raise InfeasibleBandError(msg)


def _dissolve(
    frame: gpd.GeoDataFrame, labels: np.ndarray, blockset: BlockSet, tolerances: Tolerances
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """One polygon per label; grid ids ordered by unit, then north→south, west→east."""
    geoms = frame.geometry.to_numpy()
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(labels.max() + 2))
    polys = []
    for g in range(labels.max() + 1):
        members = geoms[order[bounds[g] : bounds[g + 1]]]
        polys.append(members[0] if len(members) == 1 else shapely.union_all(members))
    poly_arr = robust_outlines(np.asarray(polys, dtype=object), blockset.crs, tolerances=tolerances)
    first = order[bounds[:-1]]
    units = frame[col.UNIT_CODE].to_numpy()[first]
    names = frame[col.UNIT_NAME].to_numpy()[first]
    hh = np.bincount(labels, weights=frame[col.HOUSEHOLDS].to_numpy()).astype(np.int64)
    n_blocks = frame.assign(_g=labels).groupby("_g")[col.BLOCK_ID].nunique().to_numpy()
    point = shapely.point_on_surface(poly_arr)
    key = pd.DataFrame(
        {
            "unit": [str(x) for x in units],
            "north": -np.round(shapely.get_y(point)),
            "east": np.round(shapely.get_x(point)),
            "label": np.arange(len(polys)),
        }
    ).sort_values(["unit", "north", "east", "label"])
    grid_of_label = np.empty(len(polys), dtype=np.int64)
    grid_of_label[key["label"].to_numpy()] = np.arange(len(polys))
    rank = key["label"].to_numpy()
    grids = gpd.GeoDataFrame(
        {
            col.GRID_ID: np.arange(len(polys), dtype=np.int64),
            col.HOUSEHOLDS: hh[rank],
            col.KIND: ORDINARY,
            col.PARENT_CODE: units[rank],
            col.PARENT_NAME: names[rank],
            col.AREA_M2: shapely.area(poly_arr[rank]),
            "n_blocks": n_blocks[rank],
        },
        geometry=gpd.GeoSeries(poly_arr[rank], crs=blockset.crs),
        crs=blockset.crs,
    )
    return grids, grid_of_label
