"""Partitioning street blocks into ordinary grids (网格) inside a household band.

:func:`partition_blocks` plans every administrative unit on its own with :func:`plan_unit`:
from the unit's data alone (:mod:`gis.search.units`) it splits blocks above the maximum
between their buildings (:mod:`gis.cutting.atoms`) and searches the unit's grids
(:mod:`gis.search.local`), in this process or as tasks on a Dask cluster
(:mod:`gis.parallel`); the units' grids are then numbered and dissolved once for the whole
area, so where the units ran changes nothing. The rules of grid work (dedicated grids,
natural villages, codes, cells) and the checks are applied around it by :func:`gis.partition`,
the whole planner.

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
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import columns as col
from gis.blocks.build import BlockSet
from gis.cutting.atoms import (
    ATOM_ID,
    COMPOUNDS_STEP,
    MAX_BUILDING_HOUSEHOLDS,
    N_BUILDINGS,
    REGION,
    Atoms,
    atoms_from_blockset,
    to_split,
)
from gis.errors import CRSError, GeometryError, InfeasibleBandError, UnitsFailedError
from gis.geometry.tiling import robust_outlines
from gis.options import DEFAULT_TOLERANCES, Band, Cuts, Progress, Tolerances, check_cuts
from gis.parallel.cluster import worker_threads
from gis.parallel.run import TaskFailure, run_tasks
from gis.search.band import REASON_SINGLE_BUILDING, REASON_UNSPLITTABLE, choose_k
from gis.search.local import SearchOptions, search_partition
from gis.search.units import UnitSplitter, UnitWork, group_units, unit_seeds

if TYPE_CHECKING:
    from distributed import Client

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
    client: Client | None = None,
    progress: Progress | None = None,
    bands: Mapping[Any, Band] | None = None,
    cuts: Cuts = "streets",
) -> Partition:
    """Partition street blocks into contiguous grids inside ``band``, unit by unit.

    Every unit is planned by :func:`plan_unit` from its own data alone
    (:class:`gis.search.units.UnitSplitter`) with its own seed, drawn up front in sorted unit
    order (:func:`gis.search.units.unit_seeds`): here one unit after the other, or on a Dask
    cluster (``client``) one task per unit or group of small units. The grids are then
    numbered once for the whole area, so both give the same partition.

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
    client
        A :class:`distributed.Client` to plan the units on (see :mod:`gis.parallel`); None
        plans them in this process.
    progress
        Callback ``(step, done, total)``, called as units finish and, when the units are
        planned here, as each unit's blocks above the maximum are cut.
    bands
        Unit code → the unit's own band (rules per unit, :mod:`gis.rules.unit_rules`);
        units not named use ``band``.
    cuts
        What a block above the maximum is cut along first: ``streets`` (its inner streets,
        lanes, walls and water; straight cuts only where a face still holds too many) or
        ``compact`` (straight compact cuts first), see :func:`gis.cutting.split.split_block`.

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
    UnitsFailedError
        When some units could not be planned (each with its reason; the others were).
    """
    _check_blockset(blockset)
    cuts = check_cuts(cuts)
    started = time.perf_counter()
    split = UnitSplitter(blockset, whole_blocks)
    seeds = unit_seeds(split.units, rng)
    here = None
    if client is None and progress is not None:
        here = _CompoundsOfAllUnits(
            progress, _compound_households(blockset, band, bands, whole_blocks)
        )
    if client is None:
        groups = [[unit] for unit in split.units]
    else:
        groups = group_units(split.households, threads=worker_threads(client))
    outcomes = run_tasks(
        plan_units,
        (
            [split.work(unit, seeds[unit], (bands or {}).get(unit)) for unit in group]
            for group in groups
        ),
        client=client,
        # a callback cannot travel to a worker: there only the finished units are reported
        args=(band, tolerances, cuts, here),
        weight=len,
        total=len(split.units),
        step="partitioning units",
        progress=progress,
        name="wangge-units",
    )
    results = _unit_results(groups, outcomes, len(split.units))
    t_units = time.perf_counter()
    frame, edges, labels, reasons = _assemble([results[u] for u in split.units])
    _refuse_narrow_band(
        Atoms(frame=frame, edges=edges),
        SearchOptions(band.min_households, band.max_households, band.target),
    )
    outlines = np.concatenate([results[u].outlines for u in split.units])
    grids, grid_of_label = _dissolve(frame, labels, outlines, blockset.crs)
    log.info("%d grids, %.1f s", len(grids), time.perf_counter() - started)
    return Partition(
        grids=grids,
        atoms=frame.assign(**{col.GRID_ID: grid_of_label[labels]}),
        edges=edges,
        reasons={int(grid_of_label[g]): r for g, r in reasons.items()},
        seconds={
            "atoms": sum(r.seconds["atoms"] for r in results.values()),
            "search": sum(r.seconds["search"] for r in results.values()),
            "outlines": sum(r.seconds["outlines"] for r in results.values()),
            "units": t_units - started,
            "dissolve": time.perf_counter() - t_units,
        },
    )


@dataclass(frozen=True)
class UnitResult:
    """The partition of one unit, in its own numbering.

    Attributes
    ----------
    unit_code
        The unit.
    atoms, edges
        Its atoms (``atom_id`` 0..n-1) and their adjacency
        (:func:`gis.cutting.atoms.atoms_from_blockset` on the unit's blocks).
    labels
        Grid label (0..k-1) per atom.
    outlines
        The outline of each grid (label order), dissolved from its atoms: grids never cross
        a unit, so each unit dissolves its own (on a worker, when the units run on a cluster).
    reasons
        Label → why that grid lies outside the band.
    seconds
        Time spent cutting atoms and searching.
    """

    unit_code: Any
    atoms: gpd.GeoDataFrame
    edges: pd.DataFrame
    labels: np.ndarray
    outlines: np.ndarray
    reasons: dict[int, str]
    seconds: dict[str, float]


def plan_unit(
    work: UnitWork,
    band: Band,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    cuts: Cuts = "streets",
    progress: Progress | None = None,
) -> UnitResult:
    """Partition one unit from its own data: cut its atoms, then search its grids.

    The one function both the serial and the parallel planner run for every unit;
    ``progress`` is passed to :func:`gis.cutting.atoms.atoms_from_blockset`.
    """
    started = time.perf_counter()
    options = SearchOptions(band.min_households, band.max_households, band.target)
    atoms = atoms_from_blockset(
        work.blockset,
        max_households=band.max_households,
        target_households=band.target,
        min_households=band.min_households,
        whole_blocks=work.whole_blocks,
        cuts=cuts,
        tolerances=tolerances,
        progress=progress,
    )
    t_atoms = time.perf_counter()
    idx = np.arange(len(atoms.frame))
    labels, reasons = _partition_unit(atoms, idx, options, np.random.default_rng(work.seed))
    t_search = time.perf_counter()
    outlines = grid_outlines(atoms.frame.geometry.to_numpy(), labels, atoms.frame.crs, tolerances)
    return UnitResult(
        unit_code=work.unit_code,
        atoms=atoms.frame,
        edges=atoms.edges,
        labels=labels,
        outlines=outlines,
        reasons=reasons,
        seconds={
            "atoms": t_atoms - started,
            "search": t_search - t_atoms,
            "outlines": time.perf_counter() - t_search,
        },
    )


def plan_units(
    works: list[UnitWork],
    band: Band,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    cuts: Cuts = "streets",
    progress: Progress | None = None,
) -> list[UnitResult | TaskFailure]:
    """One task: :func:`plan_unit` for each of a few units; a unit that fails says why."""
    out: list[UnitResult | TaskFailure] = []
    for work in works:
        try:
            out.append(plan_unit(work, work.band or band, tolerances, cuts, progress))
        except Exception as exc:  # reported with the unit; the other units go on
            log.debug("unit %s failed", work.unit_code, exc_info=exc)
            out.append(TaskFailure(f"{type(exc).__name__}: {' '.join(str(exc).split())}"))
    return out


class _CompoundsOfAllUnits:
    """A unit's "cutting compounds" progress as progress over the compounds of every unit.

    Each unit counts the households of its own blocks above the maximum from 0; units planned
    one after the other here add up, so the bar runs once from 0 to the whole area's total.
    """

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress, self.total, self.before = progress, total, 0

    def __call__(self, step: str, done: int, total: int) -> None:
        if step != COMPOUNDS_STEP:
            self.progress(step, done, total)
            return
        self.progress(step, min(self.before + done, self.total), self.total)
        if done >= total:  # the unit's last block is cut
            self.before += total


def _compound_households(
    blockset: BlockSet,
    band: Band,
    bands: Mapping[Any, Band] | None,
    whole_blocks: Collection[int],
) -> int:
    """Households of the blocks above their unit's maximum that will be split (not whole)."""
    blocks = blockset.blocks
    cap = blocks[col.UNIT_CODE].map(lambda u: (bands or {}).get(u, band).max_households)
    hh = blocks[col.HOUSEHOLDS].to_numpy()
    return int(
        hh[to_split(hh, blocks[col.BLOCK_ID].to_numpy(), cap.to_numpy(), whole_blocks)].sum()
    )


def _unit_results(
    groups: list[list[Any]],
    outcomes: list[list[UnitResult | TaskFailure] | TaskFailure],
    n_units: int,
) -> dict[Any, UnitResult]:
    """Each unit's result, or :class:`UnitsFailedError` naming every unit that failed."""
    results: dict[Any, UnitResult] = {}
    failures: dict[str, str] = {}
    for group, outcome in zip(groups, outcomes, strict=True):
        per_unit = outcome if isinstance(outcome, list) else [outcome] * len(group)
        for unit, found in zip(group, per_unit, strict=True):
            if isinstance(found, TaskFailure):
                failures[str(unit)] = found.reason
                log.warning("unit %s could not be planned: %s", unit, found.reason)
            else:
                results[unit] = found
    if failures:
        raise UnitsFailedError(dict(sorted(failures.items())), n_units)
    return results


def _assemble(
    results: list[UnitResult],
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, np.ndarray, dict[int, str]]:
    """The units' atoms, edges and labels in the numbering of the whole area.

    Atoms are ordered by block id (their order when cut for the whole area at once), grid
    labels numbered unit after unit in sorted unit order, regions of split blocks renumbered
    in atom order; edges keep their unit's order, renumbered.
    """
    frames, unit_labels, reasons, offsets = [], [], {}, [0]
    offset = 0
    for r in results:
        frames.append(r.atoms)
        unit_labels.append(r.labels + offset)
        reasons.update({int(g) + offset: why for g, why in r.reasons.items()})
        offset = int(unit_labels[-1].max()) + 1 if len(r.labels) else offset
        offsets.append(offsets[-1] + len(r.atoms))
    stacked = pd.concat(frames, ignore_index=True)
    order = np.argsort(stacked[col.BLOCK_ID].to_numpy(), kind="stable")
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    frame = gpd.GeoDataFrame(stacked.iloc[order].reset_index(drop=True), crs=frames[0].crs)
    frame[ATOM_ID] = np.arange(len(frame), dtype=np.int64)
    region = frame[REGION].to_numpy()
    split = region >= 0
    if split.any():
        keys = pd.MultiIndex.from_arrays([frame[col.BLOCK_ID].to_numpy()[split], region[split]])
        region = region.copy()
        region[split] = pd.factorize(keys, sort=False)[0]
        frame[REGION] = region
    edges = pd.concat(
        [
            r.edges.assign(
                u=position[r.edges["u"].to_numpy() + start],
                v=position[r.edges["v"].to_numpy() + start],
            )
            for r, start in zip(results, offsets, strict=False)
        ],
        ignore_index=True,
    )
    edges = edges.sort_values(["u", "v"], kind="stable").reset_index(drop=True)
    labels = np.concatenate(unit_labels)[order]
    return frame, edges, labels, reasons


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


def grid_outlines(
    geoms: np.ndarray, labels: np.ndarray, crs: Any, tolerances: Tolerances
) -> np.ndarray:
    """One outline per label (0..k-1): the union of its atoms, made robust
    (:func:`gis.geometry.tiling.robust_outlines`)."""
    if len(labels) == 0:
        return np.empty(0, dtype=object)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(labels.max() + 2))
    polys = []
    for g in range(labels.max() + 1):
        members = geoms[order[bounds[g] : bounds[g + 1]]]
        polys.append(members[0] if len(members) == 1 else shapely.union_all(members))
    return robust_outlines(np.asarray(polys, dtype=object), crs, tolerances=tolerances)


def _dissolve(
    frame: gpd.GeoDataFrame, labels: np.ndarray, outlines: np.ndarray, crs: Any
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The grids of their outlines (label order); grid ids ordered by unit, then
    north→south, west→east."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(labels.max() + 2))
    first = order[bounds[:-1]]
    units = frame[col.UNIT_CODE].to_numpy()[first]
    names = frame[col.UNIT_NAME].to_numpy()[first]
    hh = np.bincount(labels, weights=frame[col.HOUSEHOLDS].to_numpy()).astype(np.int64)
    n_blocks = frame.assign(_g=labels).groupby("_g")[col.BLOCK_ID].nunique().to_numpy()
    point = shapely.point_on_surface(outlines)
    key = pd.DataFrame(
        {
            "unit": [str(x) for x in units],
            "north": -np.round(shapely.get_y(point)),
            "east": np.round(shapely.get_x(point)),
            "label": np.arange(len(outlines)),
        }
    ).sort_values(["unit", "north", "east", "label"])
    grid_of_label = np.empty(len(outlines), dtype=np.int64)
    grid_of_label[key["label"].to_numpy()] = np.arange(len(outlines))
    rank = key["label"].to_numpy()
    grids = gpd.GeoDataFrame(
        {
            col.GRID_ID: np.arange(len(outlines), dtype=np.int64),
            col.HOUSEHOLDS: hh[rank],
            col.KIND: ORDINARY,
            col.PARENT_CODE: units[rank],
            col.PARENT_NAME: names[rank],
            col.AREA_M2: shapely.area(outlines[rank]),
            "n_blocks": n_blocks[rank],
        },
        geometry=gpd.GeoSeries(outlines[rank], crs=crs),
        crs=crs,
    )
    return grids, grid_of_label
