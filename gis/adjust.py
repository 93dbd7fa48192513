"""Dynamic adjustment (動態調整): restore the band after households change, changing little.

Months after a plan is published, households change: counts go up or down, buildings are added
or demolished. :func:`adjust_plan` re-counts the households of every atom from the new
household features and repairs only what must change:

1. ordinary unlocked grids pushed outside the band by the change (or further out than
   they already were: accepted exceptions that got no worse are left alone) are *out of
   band*;
2. the *region* is those grids and their unlocked ordinary neighbours in the same unit; no
   other grid is touched, so every other grid keeps its geometry and its code;
3. inside the region, boundary atoms are moved one at a time between neighbouring grids,
   each time the move that lowers the households outside the band most while moving the
   fewest households, keeping every grid connected; when that gets stuck, the region is
   partitioned afresh (:mod:`gis.partition_search`) and the result with less violation
   (then fewer households moved) is kept;
4. changed grids are dissolved again and codes are re-assigned with
   :func:`gis.codes.assign_codes` (``previous=`` the old grids: unchanged grids keep theirs).

:func:`households_moved` measures how many households change grid between two plans (grids
matched one to one by shared households), the figure to compare with a full re-partition
(:func:`compare_with_repartition`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gis import columns as col
from gis.atoms import atoms_from_blockset
from gis.blocks import BlockSet
from gis.codes import assign_codes
from gis.edit import locked_ids, search_region
from gis.errors import HouseholdError
from gis.partition import ORDINARY, Plan, run_partition
from gis.partition_search import SearchOptions
from gis.plan_graph import (
    LOCKED,
    atom_neighbours,
    band_of,
    finish_plan,
    is_connected,
    match_labels,
    out_of_band,
    rebuild_grids,
)
from gis.tree_cut import best_tree_cut
from gis.validate import Report

log = logging.getLogger(__name__)

#: Upper bound on single-atom repair moves (a safeguard; each move lowers the violation).
MAX_MOVES = 10_000
#: Random spanning trees drawn when re-cutting a pair of grids.
PAIR_TREES = 16


@dataclass(frozen=True)
class Adjustment:
    """The outcome of :func:`adjust_plan`.

    Attributes
    ----------
    plan
        The adjusted plan.
    report
        Its validation report.
    out_of_band
        Grids pushed outside the band (or further out) by the household change.
    region
        Grids the adjustment was allowed to change: ``out_of_band`` and their neighbours.
    changed
        Grids whose atoms changed (old ids that changed or disappeared, and new ids).
    households_moved
        Households whose grid changed.
    households_total
        All households of the new data.
    """

    plan: Plan
    report: Report
    out_of_band: tuple[int, ...]
    region: tuple[int, ...]
    changed: tuple[int, ...]
    households_moved: int
    households_total: int


def count_households(atoms: gpd.GeoDataFrame, households: gpd.GeoDataFrame) -> np.ndarray:
    """Households per atom (row order) from features placed by their point on surface.

    Raises
    ------
    HouseholdError
        When ``households`` has no ``households`` column or holds negative counts.
    """
    if col.HOUSEHOLDS not in households:
        msg = "the new household data has no 'households' column; add one with counts"
        raise HouseholdError(msg)
    counts = pd.to_numeric(households[col.HOUSEHOLDS], errors="coerce")
    if counts.isna().any() or (counts < 0).any():
        msg = "household counts must be whole numbers ≥ 0; fix the 'households' column"
        raise HouseholdError(msg)
    points = shapely.point_on_surface(households.to_crs(atoms.crs).geometry.to_numpy())
    tree = shapely.STRtree(atoms.geometry.to_numpy())
    feat, atom = tree.query(points, predicate="intersects")
    first = pd.Series(atom, index=feat).groupby(level=0).min()
    out = np.zeros(len(atoms), dtype=np.int64)
    np.add.at(out, first.to_numpy(), counts.to_numpy()[first.index.to_numpy()].astype(np.int64))
    lost = int(counts.sum()) - int(out.sum())
    if lost:
        log.warning("%d households lie outside every atom and were not counted", lost)
    return out


def households_moved(
    old_grids: gpd.GeoDataFrame, new_grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame
) -> int:
    """Households whose grid changes from ``old_grids`` to ``new_grids``.

    Each household feature is placed by its point on surface in both plans; grids are matched
    one to one by shared households, and households outside their grid's match count as moved.
    """
    pts = shapely.point_on_surface(households.to_crs(old_grids.crs).geometry.to_numpy())
    hh = households[col.HOUSEHOLDS].to_numpy().astype(np.int64)
    old = _locate(pts, old_grids)
    new = _locate(pts, new_grids.to_crs(old_grids.crs))
    ok = (old >= 0) & (new >= 0)
    mapping = match_labels(old[ok], new[ok], hh[ok].astype(float))  # new grid -> old grid
    mapped = np.array([mapping.get(int(x), -1) for x in new[ok]], dtype=np.int64)
    return int(hh[ok][mapped != old[ok]].sum())


def blockset_with_households(blockset: BlockSet, households: gpd.GeoDataFrame) -> BlockSet:
    """The blockset with a new household layer: blocks (and buildings) re-counted.

    Buildings get the counts of features with the same ``building_id`` when the features
    carry one; blocks get the features placed by their point on surface.
    """
    feats = households.to_crs(blockset.crs).reset_index(drop=True)
    blocks = blockset.blocks.reset_index(drop=True)
    per_block = count_households(blocks, feats)
    tree = shapely.STRtree(blocks.geometry.to_numpy())
    feat, blk = tree.query(
        shapely.point_on_surface(feats.geometry.to_numpy()), predicate="intersects"
    )
    block_of = pd.Series(blk, index=feat).groupby(level=0).min()
    feats[col.BLOCK_ID] = blocks[col.BLOCK_ID].to_numpy()[
        block_of.reindex(feats.index, fill_value=0)
    ]
    blocks = blocks.assign(**{col.HOUSEHOLDS: per_block})
    buildings = blockset.buildings
    if "building_id" in feats and "building_id" in buildings:
        by_id = feats.groupby("building_id")[col.HOUSEHOLDS].sum()
        buildings = buildings.assign(
            **{col.HOUSEHOLDS: buildings["building_id"].map(by_id).fillna(0).astype(np.int64)}
        )
    graph = nx.Graph(blockset.graph)
    nx.set_node_attributes(
        graph,
        dict(zip(blocks[col.BLOCK_ID].tolist(), per_block.tolist(), strict=True)),
        col.HOUSEHOLDS,
    )
    return replace(blockset, blocks=blocks, buildings=buildings, households=feats, graph=graph)


def plan_from_grids(
    grids: gpd.GeoDataFrame,
    blockset: BlockSet,
    *,
    min_households: int = 300,
    max_households: int = 800,
    target: int = 500,
) -> Plan:
    """Rebuild a plan's atoms from its grid polygons (e.g. a version read from a store).

    Atoms are cut from ``blockset`` as the partition cuts them; each goes to the grid holding
    its point on surface. Grids keep their columns (``grid_code``, ``kind``…) and get
    ``grid_id`` 0..k-1 if they have none.

    Raises
    ------
    HouseholdError
        When an atom lies in no grid (the grids do not cover the blockset).
    """
    grids = grids.to_crs(blockset.crs).reset_index(drop=True)
    if col.GRID_ID not in grids:
        grids[col.GRID_ID] = np.arange(len(grids), dtype=np.int64)
    atoms = atoms_from_blockset(blockset, max_households=max_households).frame
    where = _locate(shapely.point_on_surface(atoms.geometry.to_numpy()), grids)
    if (where < 0).any():
        msg = (
            f"{int((where < 0).sum())} atoms lie outside every grid; the grids must cover the area"
        )
        raise HouseholdError(msg)
    atoms = atoms.assign(**{col.GRID_ID: grids[col.GRID_ID].to_numpy()[where]})
    if LOCKED not in grids:
        grids[LOCKED] = False
    grids[col.HOUSEHOLDS] = (
        (atoms.groupby(col.GRID_ID)[col.HOUSEHOLDS].sum().reindex(grids[col.GRID_ID]).fillna(0))
        .to_numpy()
        .astype(np.int64)
    )
    report = {
        "ok": True,
        "options": {
            "min_households": min_households,
            "max_households": max_households,
            "target": target,
        },
    }
    return Plan(grids=grids, atoms=atoms, report=report)


def adjust_plan(
    plan: Plan,
    households: gpd.GeoDataFrame,
    *,
    blockset: BlockSet,
    rng: int | np.random.Generator | None = None,
    scheme: str = "beijing15",
) -> Adjustment:
    """Restore the band after households changed, touching as few grids as possible.

    Parameters
    ----------
    plan
        The live plan (grids and atoms; see :func:`plan_from_grids` for a stored version).
    households
        The new household features (points or polygons, any CRS) with ``households``.
    blockset
        What the plan was drawn from (streets, buildings and units for validation).
    rng
        Seed or generator for the fallback search.
    scheme
        Code scheme used to re-code when the grids carry ``grid_code``.

    Returns
    -------
    Adjustment
    """
    band = band_of(plan)
    gen = np.random.default_rng(rng)
    atoms = plan.atoms.reset_index(drop=True)
    hh = count_households(atoms, households)
    atoms = atoms.assign(**{col.HOUSEHOLDS: hh})
    labels = atoms[col.GRID_ID].to_numpy().astype(np.int64)
    recounted = rebuild_grids(plan.grids, atoms, ())
    bad = _newly_out_of_band(plan.grids, recounted, band)
    free = _free(plan)
    nbrs = atom_neighbours(atoms)
    region_grids = set(bad) & free
    for a in np.flatnonzero(np.isin(labels, sorted(region_grids))).tolist():
        region_grids |= {int(labels[b]) for b in nbrs[a]} & free
    new_labels = labels.copy()
    if region_grids & set(bad):
        new_labels = _repair_region(atoms, labels, sorted(region_grids), nbrs, band, gen)
    changed = sorted(
        int(g) for g in set(labels[labels != new_labels]) | set(new_labels[labels != new_labels])
    )
    atoms = atoms.assign(**{col.GRID_ID: new_labels})
    grids = rebuild_grids(recounted, atoms, changed)
    if col.GRID_CODE in plan.grids:
        codes = assign_codes(grids, scheme=scheme, previous=plan.grids)
        grids[col.GRID_CODE] = codes.codes.to_numpy()
    bs = blockset_with_households(blockset, households)
    moved = int(hh[labels != new_labels].sum())
    action = {
        "op": "adjust",
        "out_of_band": bad,
        "region": sorted(region_grids),
        "changed": changed,
        "households_moved": moved,
    }
    new, report = finish_plan(grids, atoms, blockset=bs, band=band, action=action)
    log.info(
        "adjusted: %d grids out of band, %d changed, %d households moved",
        len(bad),
        len(changed),
        moved,
    )
    return Adjustment(
        plan=new,
        report=report,
        out_of_band=tuple(bad),
        region=tuple(sorted(region_grids)),
        changed=tuple(changed),
        households_moved=moved,
        households_total=int(pd.to_numeric(households[col.HOUSEHOLDS]).sum()),
    )


def compare_with_repartition(
    adjustment: Adjustment,
    old: Plan,
    households: gpd.GeoDataFrame,
    *,
    blockset: BlockSet,
    rng: int | np.random.Generator | None = None,
) -> dict[str, float]:
    """Households moved by the adjustment and by a full re-partition of the new data.

    Returns
    -------
    dict
        ``adjust_moved``, ``full_moved`` (households), their shares of all households and
        ``ratio`` (adjust / full; 0 when the full re-partition moves nobody).
    """
    band = band_of(old)
    full = run_partition(
        blockset_with_households(blockset, households),
        min_households=band.min_households,
        max_households=band.max_households,
        target=band.target,
        rng=rng,
        validate=False,
    )
    total = max(adjustment.households_total, 1)
    adj = households_moved(old.grids, adjustment.plan.grids, households)
    fm = households_moved(old.grids, full.grids, households)
    return {
        "adjust_moved": adj,
        "full_moved": fm,
        "adjust_share": adj / total,
        "full_share": fm / total,
        "ratio": adj / fm if fm else 0.0,
        "full_grids_in_band": float(full.report["summary"]["share_in_band"]),
    }


# -- helpers -----------------------------------------------------------------------------------
def _free(plan: Plan) -> set[int]:
    grids = plan.grids
    ordinary = grids[grids[col.KIND].astype(str) == ORDINARY]
    return {int(g) for g in ordinary[col.GRID_ID]} - locked_ids(plan)


def _locate(points: np.ndarray, grids: gpd.GeoDataFrame) -> np.ndarray:
    """Row position of the grid holding each point (-1 for none; lowest row on a border)."""
    tree = shapely.STRtree(grids.geometry.to_numpy())
    pt, grid = tree.query(points, predicate="intersects")
    out = np.full(len(points), -1, dtype=np.int64)
    first = pd.Series(grid, index=pt).groupby(level=0).min()
    out[first.index.to_numpy()] = first.to_numpy()
    return out


def _newly_out_of_band(
    before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, band: SearchOptions
) -> list[int]:
    """Grids out of band after the change and not before, or further out than before.

    Grids already outside the band (reported exceptions, e.g. one tower above the maximum)
    that got no worse are left as they were.
    """
    old = before.set_index(col.GRID_ID)[col.HOUSEHOLDS]
    new = after.set_index(col.GRID_ID)[col.HOUSEHOLDS]
    return [
        g
        for g in out_of_band(after, band)
        if _viol(int(new.loc[g]), band) > _viol(int(old.loc[g]), band)
    ]


def _viol(h: int, band: SearchOptions) -> int:
    return max(band.min_households - h, 0, h - band.max_households)


def _repair_region(
    atoms: gpd.GeoDataFrame,
    labels: np.ndarray,
    region: list[int],
    nbrs: list[dict[int, float]],
    band: SearchOptions,
    rng: np.random.Generator,
) -> np.ndarray:
    """Greedy single-atom moves inside ``region``; a fresh search there if they get stuck."""
    hh = atoms[col.HOUSEHOLDS].to_numpy().astype(np.int64)
    greedy = _greedy_moves(labels, set(region), nbrs, hh, band)
    for _ in range(3):
        recombined = _recombine_pairs(greedy, set(region), nbrs, hh, band, rng)
        if np.array_equal(recombined, greedy):
            break
        greedy = _greedy_moves(recombined, set(region), nbrs, hh, band)
    idx = np.flatnonzero(np.isin(labels, region))

    def cost(lab: np.ndarray) -> tuple[int, int]:
        sums = pd.Series(hh[idx]).groupby(lab[idx]).sum()
        return sum(_viol(int(x), band) for x in sums), int(hh[idx][lab[idx] != labels[idx]].sum())

    best = greedy
    if cost(greedy)[0] > 0:
        fresh = labels.copy()
        next_id = int(labels.max()) + 1
        units = atoms[col.UNIT_CODE].astype(str).to_numpy()
        for unit in sorted(set(units[idx].tolist())):
            sub = idx[units[idx] == unit]
            local = search_region(atoms, sub, nbrs, band, rng)
            mapping = match_labels(labels[sub], local, hh[sub].astype(float))
            for lab in sorted(set(local.tolist())):
                if lab not in mapping:
                    mapping[lab] = next_id
                    next_id += 1
            fresh[sub] = [mapping[int(x)] for x in local]
        if cost(fresh) < cost(greedy):
            best = fresh
    return best


def _greedy_moves(
    labels: np.ndarray,
    region: set[int],
    nbrs: list[dict[int, float]],
    hh: np.ndarray,
    band: SearchOptions,
) -> np.ndarray:
    lab = labels.copy()
    members: dict[int, set[int]] = {g: set(np.flatnonzero(lab == g).tolist()) for g in region}
    total = {g: int(hh[list(m)].sum()) for g, m in members.items()}
    for _ in range(MAX_MOVES):
        best: tuple[int, int, int, int, int] | None = None  # (dv, moved, atom, from, to)
        for g in sorted(region):
            if _viol(total[g], band) == 0:
                continue
            for a in sorted(members[g]):
                for b in nbrs[a]:
                    other = int(lab[b])
                    if other == g or other not in region:
                        continue
                    # too many households: give a; too few: take b
                    atom, src, dst = (
                        (a, g, other) if total[g] > band.max_households else (b, other, g)
                    )
                    h = int(hh[atom])
                    dv = (
                        _viol(total[src] - h, band)
                        + _viol(total[dst] + h, band)
                        - _viol(total[src], band)
                        - _viol(total[dst], band)
                    )
                    back = labels[atom] == dst
                    key = (dv, -h if back else h, atom, src, dst)
                    if (
                        dv < 0
                        and (best is None or key < best)
                        and len(members[src]) > 1
                        and is_connected(members[src] - {atom}, nbrs)
                    ):
                        best = key
        if best is None:
            break
        _, _, atom, src, dst = best
        lab[atom] = dst
        members[src].discard(atom)
        members[dst].add(atom)
        total[src] -= int(hh[atom])
        total[dst] += int(hh[atom])
    return lab


def _recombine_pairs(
    labels: np.ndarray,
    region: set[int],
    nbrs: list[dict[int, float]],
    hh: np.ndarray,
    band: SearchOptions,
    rng: np.random.Generator,
) -> np.ndarray:
    """Re-cut each grid still outside the band together with one neighbour (tree cuts)."""
    lab = labels.copy()
    nb = [list(d) for d in nbrs]
    nw = [list(d.values()) for d in nbrs]
    zeros = [0.0] * len(hh)
    values = (hh.tolist(), zeros, zeros)

    def score(h1: int, a1: float, p1: float, h2: int, a2: float, p2: float) -> tuple[int, float]:
        dev = ((h1 - band.target) ** 2 + (h2 - band.target) ** 2) / max(band.target, 1) ** 2
        return _viol(h1, band) + _viol(h2, band), dev

    for g in sorted(region):
        mine = np.flatnonzero(lab == g)
        if len(mine) == 0 or _viol(int(hh[mine].sum()), band) == 0:
            continue
        others = sorted({int(lab[b]) for a in mine.tolist() for b in nbrs[a]} & region - {g})
        best: tuple[tuple[int, float], set[int], int] | None = None
        for other in others:
            pair = np.flatnonzero((lab == g) | (lab == other))
            now = _viol(int(hh[mine].sum()), band) + _viol(int(hh[lab == other].sum()), band)
            cut = best_tree_cut(pair.tolist(), nb, nw, values, score, n_trees=PAIR_TREES, rng=rng)
            if cut is not None and cut[0][0] < now and (best is None or cut[0] < best[0]):
                best = (cut[0], cut[1], other)
        if best is None:
            continue
        side, other = best[1], best[2]
        pair = np.flatnonzero((lab == g) | (lab == other))
        keep_g = len(side & set(mine.tolist())) >= len(
            set(pair.tolist()) - side & set(mine.tolist())
        )
        for a in pair.tolist():
            lab[a] = (g if keep_g else other) if a in side else (other if keep_g else g)
    return lab
