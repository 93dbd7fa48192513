"""Dynamic adjustment (動態調整): restore the band after households change, changing little.

Months after a plan is published, households change: counts go up or down, buildings are added
or demolished. :func:`adjust_plan` re-counts the households of every atom from the new
household features and repairs only what must change:

1. ordinary unlocked grids pushed outside the band by the change (or further out than
   they already were: accepted exceptions that got no worse are left alone) are *out of
   band*;
2. the *region* is those grids and their unlocked ordinary neighbours in the same unit; no
   other grid is touched, so every other grid keeps its geometry and its code;
3. inside the region the cheapest repair is searched, ranked by households outside the band
   (beyond what each grid already had before the change), then households moved, then atoms
   moved: boundary moves first (one atom with households, with the empty atoms linking it to
   the border, checked to keep every grid connected), chains of them (A→B then B→C or back)
   by a beam search; then re-cuts of a grid with one neighbour that keep the most households
   in their old grid; then a fresh partition (:mod:`gis.search.local`) of only the grids
   still out of band and their neighbours; the whole region is partitioned afresh only when
   all of that fails, and the cheapest result is kept;
4. changed grids are dissolved again and codes are re-assigned with
   :func:`gis.rules.codes.assign_codes` (``previous=`` the old grids: unchanged grids keep theirs).

:func:`households_moved` measures how many households change grid between two plans (grids
matched one to one by shared households), the figure to compare with a full re-partition
(:func:`compare_with_repartition`).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, replace

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gis import columns as col
from gis.cutting.atoms import atoms_from_blockset
from gis.blocks.build import BlockSet
from gis.rules.codes import assign_codes
from gis.workbench.edit import locked_ids, search_region
from gis.errors import HouseholdError
from gis.search.partition import ORDINARY, Plan, run_partition
from gis.search.local import SearchOptions
from gis.workbench.plan_graph import (
    LOCKED,
    atom_neighbours,
    band_of,
    components,
    finish_plan,
    match_labels,
    out_of_band,
    rebuild_grids,
)
from gis.search.tree_cut import CutScore, best_tree_cut
from gis.checks.validate import Report

log = logging.getLogger(__name__)

#: Steps (single-atom moves) of the repair's beam search.
BEAM_DEPTH = 8
#: Plans kept at each step of the repair's beam search.
BEAM_WIDTH = 48
#: Most empty atoms moved along with one atom with households to reach a border.
MAX_CHAIN = 8
#: Random spanning trees drawn when re-cutting a pair of grids.
PAIR_TREES = 64


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
    atoms = atoms_from_blockset(
        blockset,
        max_households=max_households,
        target_households=target,
        min_households=min_households,
    ).frame
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
        before = plan.grids.set_index(col.GRID_ID)[col.HOUSEHOLDS]
        allow = {g: _viol(int(before.loc[g]), band) for g in region_grids}
        new_labels = _repair_region(atoms, labels, sorted(region_grids), nbrs, band, gen, allow)
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
    allow: dict[int, int],
) -> np.ndarray:
    """The cheapest repair found inside ``region``: minimal moves first, a fresh search last.

    Candidates are ranked by households still outside the band beyond what each grid was
    allowed (``allow``: its violation before the change), then households moved, then atoms
    moved. In order: boundary-atom moves and chains of them (a beam search), a re-cut of a
    pair of grids keeping most households in place followed by more moves, and only when
    the band is still not restored, a fresh partition of the region.
    """
    hh = atoms[col.HOUSEHOLDS].to_numpy().astype(np.int64)
    rset = set(region)
    repair = _Repair(labels, rset, nbrs, hh, band, allow)
    best = repair.beam(labels)
    for start in (labels, best):
        lab = start
        for _ in range(3):
            if repair.cost(lab)[0] == 0:
                break
            recut = repair.beam(_recut_pairs(lab, repair, rng))
            if repair.cost(recut) >= repair.cost(lab):
                break
            lab = recut
        if repair.cost(lab) < repair.cost(best):
            best = lab
    if repair.cost(best)[0] > 0:
        # a fresh partition of what is still out of band and its neighbours only
        local = _fresh(atoms, best, _still_bad(best, repair), repair, rng)
        if repair.cost(local) < repair.cost(best):
            best = local
    if repair.cost(best)[0] > 0:
        fresh = _fresh(atoms, labels, set(region), repair, rng)
        if repair.cost(fresh) < repair.cost(best):
            best = fresh
    log.info("repair: %s (excess, households moved, atoms moved)", repair.cost(best))
    return best


def _still_bad(lab: np.ndarray, repair: _Repair) -> set[int]:
    """Region grids of ``lab`` still in excess and their neighbours in the region."""
    total = repair.totals(lab)
    bad = {g for g, x in total.items() if repair.excess(g, x) > 0}
    out = set(bad)
    for a in np.flatnonzero(np.isin(lab, sorted(bad))).tolist():
        out |= {int(lab[b]) for b in repair.nbrs[a]} & repair.region
    return out


def _fresh(
    atoms: gpd.GeoDataFrame,
    lab: np.ndarray,
    grids: set[int],
    repair: _Repair,
    rng: np.random.Generator,
) -> np.ndarray:
    """``lab`` with the atoms of ``grids`` partitioned afresh, then polished by moves."""
    hh = repair.hh
    idx = np.flatnonzero(np.isin(lab, sorted(grids)))
    fresh = lab.copy()
    next_id = max(int(repair.orig.max()), int(lab.max())) + 1
    units = atoms[col.UNIT_CODE].astype(str).to_numpy()
    for unit in sorted(set(units[idx].tolist())):
        sub = idx[units[idx] == unit]
        local = search_region(atoms, sub, repair.nbrs, repair.band, rng)
        mapping = match_labels(lab[sub], local, hh[sub].astype(float))
        for x in sorted(set(local.tolist())):
            if x not in mapping:
                mapping[x] = next_id
                next_id += 1
        fresh[sub] = [mapping[int(x)] for x in local]
    return repair.beam(fresh)


class _Repair:
    """Costs and boundary moves of a region being repaired (labels are full-length arrays)."""

    def __init__(
        self,
        labels: np.ndarray,
        region: set[int],
        nbrs: list[dict[int, float]],
        hh: np.ndarray,
        band: SearchOptions,
        allow: dict[int, int],
    ) -> None:
        self.orig = labels
        self.region = region
        self.nbrs = nbrs
        self.hh = hh
        self.band = band
        self.allow = allow
        self.idx = np.flatnonzero(np.isin(labels, sorted(region)))

    def excess(self, g: int, total: int) -> int:
        """Households of grid ``g`` outside the band beyond what it was allowed."""
        return max(_viol(total, self.band) - self.allow.get(g, 0), 0)

    def totals(self, lab: np.ndarray) -> dict[int, int]:
        """Households of every grid holding region atoms under ``lab``."""
        grids, inverse = np.unique(lab[self.idx], return_inverse=True)
        sums = np.bincount(inverse, weights=self.hh[self.idx].astype(float))
        return {int(g): round(float(x)) for g, x in zip(grids, sums, strict=True)}

    def cost(self, lab: np.ndarray) -> tuple[int, int, int]:
        """(excess over the region, households moved, atoms moved) of ``lab``."""
        idx = self.idx
        moved = lab[idx] != self.orig[idx]
        return (
            sum(self.excess(g, x) for g, x in self.totals(lab).items()),
            int(self.hh[idx][moved].sum()),
            int(moved.sum()),
        )

    def beam(self, start: np.ndarray) -> np.ndarray:
        """Boundary moves from ``start`` (beam search), the cheapest plan reached.

        Each step moves one atom with households (with the empty atoms linking it to the
        border, if any) out of a grid above its allowance or into one below it, to a
        neighbouring region grid, keeping the source connected. Chains (A→B, then B→C or
        back B→A) arise when a move pushes the receiving grid out of band.
        """
        best_lab, best_cost = start, self.cost(start)
        beam: list[tuple[tuple[int, int, int], np.ndarray]] = [(best_cost, start)]
        seen = {start.tobytes()}
        for _ in range(BEAM_DEPTH):
            children: list[tuple[tuple[int, int, int], int, tuple[int, ...], int, np.ndarray]] = []
            for cost, lab in beam:
                if cost[0] == 0:
                    continue
                for piece, dst, child_cost in self._moves(lab, cost):
                    if best_cost[0] == 0 and child_cost[:2] >= best_cost[:2]:
                        continue
                    children.append((child_cost, len(children), piece, dst, lab))
            children.sort(key=lambda c: c[:2])
            beam = []
            for child_cost, _, piece, dst, lab in children:
                new = lab.copy()
                new[list(piece)] = dst
                key = new.tobytes()
                if key in seen:
                    continue
                seen.add(key)
                beam.append((child_cost, new))
                if child_cost < best_cost:
                    best_lab, best_cost = new, child_cost
                if len(beam) >= BEAM_WIDTH:
                    break
            if not beam:
                break
        return best_lab

    def _moves(
        self, lab: np.ndarray, cost: tuple[int, int, int]
    ) -> list[tuple[tuple[int, ...], int, tuple[int, int, int]]]:
        """Candidate moves (atoms, destination, cost after) out of or into grids in excess."""
        total = self.totals(lab)
        pairs: set[tuple[int, int]] = set()
        for g in sorted(total):
            if self.excess(g, total[g]) == 0:
                continue
            give = total[g] > self.band.max_households
            for a in np.flatnonzero(lab == g).tolist():
                for b in self.nbrs[a]:
                    other = int(lab[b])
                    if other != g and other in self.region:
                        pairs.add((g, other) if give else (other, g))
        out: list[tuple[tuple[int, ...], int, tuple[int, int, int]]] = []
        for src, dst in sorted(pairs):
            mine = set(np.flatnonzero(lab == src).tolist())
            for first in self._pieces(lab, src, dst):
                pieces = components(mine - set(first), self.nbrs)
                if not pieces:
                    continue
                # parts cut off from the bulk of the source go along with the piece
                keep = max(pieces, key=lambda c: (int(self.hh[c].sum()), len(c), -c[0]))
                piece = np.array(sorted(mine - set(keep)), dtype=np.int64)
                h = int(self.hh[piece].sum())
                dx = (
                    self.excess(src, total[src] - h)
                    + self.excess(dst, total[dst] + h)
                    - self.excess(src, total[src])
                    - self.excess(dst, total[dst])
                )
                was = self.orig[piece]
                w = self.hh[piece]
                dm = int(w[was != dst].sum()) - int(w[was != src].sum())
                dn = int((was != dst).sum()) - int((was != src).sum())
                cost_after = (cost[0] + dx, cost[1] + dm, cost[2] + dn)
                out.append((tuple(piece.tolist()), dst, cost_after))
        return out

    def _pieces(self, lab: np.ndarray, src: int, dst: int) -> list[tuple[int, ...]]:
        """Atoms of ``src`` that can pass to ``dst``: one with households, then empty ones.

        An atom with households on the border goes alone; one behind empty atoms goes with
        the shortest chain of them (at most :data:`MAX_CHAIN`) that reaches the border.
        """
        mine = set(np.flatnonzero(lab == src).tolist())
        border = sorted(a for a in mine if any(lab[b] == dst for b in self.nbrs[a]))
        chain: dict[int, tuple[int, ...]] = {a: (a,) for a in border if self.hh[a] == 0}
        queue = deque(sorted(chain))
        while queue:
            z = queue.popleft()
            if len(chain[z]) >= MAX_CHAIN:
                continue
            for b in sorted(self.nbrs[z]):
                if b in mine and b not in chain and self.hh[b] == 0:
                    chain[b] = (b, *chain[z])
                    queue.append(b)
        out: list[tuple[int, ...]] = []
        for t in sorted(mine):
            if self.hh[t] == 0:
                continue
            if t in border:
                out.append((t,))
                continue
            via = [chain[z] for z in sorted(self.nbrs[t]) if z in chain]
            if via:
                out.append((t, *min(via, key=len)))
        return out


def _pair_score(repair: _Repair, g: int, other: int) -> CutScore:
    """Rank of a cut of grids ``g`` and ``other``: (excess, households leaving their grid).

    The values of a side are its households, those that were in ``g`` and those that were
    in ``other``; the side keeping more of its households is given that grid's label.
    """

    def score(h1: int, g1: float, o1: float, h2: int, g2: float, o2: float) -> tuple[int, float]:
        if g1 + o2 >= g2 + o1:  # side 1 stays g
            return repair.excess(g, h1) + repair.excess(other, h2), float(h1 + h2 - g1 - o2)
        return repair.excess(other, h1) + repair.excess(g, h2), float(h1 + h2 - g2 - o1)

    return score


def _recut_pairs(labels: np.ndarray, repair: _Repair, rng: np.random.Generator) -> np.ndarray:
    """Re-cut each grid still in excess together with one neighbour (tree cuts).

    Cuts are ranked by the pair's excess, then households that leave their old grid: the
    cut keeping most households where they were wins.
    """
    lab = labels.copy()
    hh, nbrs, orig = repair.hh, repair.nbrs, repair.orig
    nb = [list(d) for d in nbrs]
    nw = [list(d.values()) for d in nbrs]
    for g in sorted(repair.region):
        mine = np.flatnonzero(lab == g)
        if len(mine) == 0 or repair.excess(g, int(hh[mine].sum())) == 0:
            continue
        others = sorted({int(lab[b]) for a in mine.tolist() for b in nbrs[a]} & repair.region - {g})
        best: tuple[tuple[int, float], set[int], int, bool] | None = None
        for other in others:
            pair = np.flatnonzero((lab == g) | (lab == other))
            in_g = np.where(orig == g, hh, 0)
            in_o = np.where(orig == other, hh, 0)
            values = (hh.tolist(), in_g.astype(float).tolist(), in_o.astype(float).tolist())
            now = repair.excess(g, int(hh[mine].sum())) + repair.excess(
                other, int(hh[lab == other].sum())
            )

            cut = best_tree_cut(
                pair.tolist(),
                nb,
                nw,
                values,
                _pair_score(repair, g, other),
                n_trees=PAIR_TREES,
                rng=rng,
            )
            if cut is None or cut[0][0] >= now:
                continue
            if best is None or cut[0] < best[0]:
                side = cut[1]
                g1 = float(hh[[a for a in side if orig[a] == g]].sum())
                o1 = float(hh[[a for a in side if orig[a] == other]].sum())
                rest = set(pair.tolist()) - side
                g2 = float(hh[[a for a in rest if orig[a] == g]].sum())
                o2 = float(hh[[a for a in rest if orig[a] == other]].sum())
                best = (cut[0], side, other, g1 + o2 >= g2 + o1)
        if best is None:
            continue
        _, side, other, side_is_g = best
        for a in np.flatnonzero((lab == g) | (lab == other)).tolist():
            in_side = a in side
            lab[a] = g if in_side == side_is_g else other
    return lab
