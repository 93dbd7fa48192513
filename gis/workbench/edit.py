"""Editing a plan by hand: move atoms, merge, split, lock, re-balance.

A planner knows what the search cannot (a lane unsafe at night, two compounds sharing a gate).
Every operation here takes a :class:`gis.Plan` and returns an :class:`Edit`: the new plan, its
report rebuilt from geometry (:func:`gis.report.build_report`), and the grids it changed. The
plan carries the blocks it was drawn from and its atom graph with the search's edge costs, so
re-searching a region after an edit follows the streets as the first partition did. Grid ids
are stable: grids that an edit does not touch keep their id, row, geometry, code and the reason
they lie outside the band; merged grids keep the lower id and new grids take ids above the
highest in use; redrawn grids are re-coded in the plan's own scheme. No operation breaks
coverage silently: a move that would leave a grid in pieces, empty it, or join atoms to a grid
they do not border is refused with a :class:`gis.errors.EditError`, and locked grids are never
changed.

Examples
--------
>>> import gis
>>> from gis.datasets import grid_blockset
>>> plan = gis.partition(grid_blockset(4, 4, households=150), seed=0)
>>> merged = merge_grids(plan, 0, 1)
>>> int(merged.plan.grids["households"].sum())
2400
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops

from gis import columns as col
from gis.blocks.build import BlockSet
from gis.cutting.atoms import ATOM_ID
from gis.errors import (
    DisconnectedGridError,
    EditError,
    GridLockedError,
    NotAdjacentError,
    OptionError,
)
from gis.geometry.ownership import assign_polygons
from gis.plan import Plan
from gis.report import PlanReport
from gis.rules.codes import assign_codes
from gis.search.local import SearchOptions, search_partition
from gis.search.partition import search_costs
from gis.search.tree_cut import best_tree_cut
from gis.workbench.plan_graph import (
    LOCKED,
    atom_neighbours,
    components,
    finish_plan,
    is_connected,
    match_labels,
    rebuild_grids,
    require_blockset,
    search_options,
)

log = logging.getLogger(__name__)

#: Random spanning trees drawn per cut when splitting a grid into balanced parts.
SPLIT_TREES = 24


@dataclass(frozen=True)
class Edit:
    """The outcome of an edit.

    Attributes
    ----------
    plan
        The new plan; ``plan.report.sections["edit"]`` says what was done.
    changed
        Ids of the grids whose atoms changed (including grids removed or created).
    """

    plan: Plan
    changed: tuple[int, ...]

    @property
    def report(self) -> PlanReport:
        """The new plan's report, recomputed from geometry."""
        return self.plan.report


def locked_ids(plan: Plan) -> set[int]:
    """Ids of the locked grids (none when the grids have no ``locked`` column)."""
    grids = plan.grids
    if LOCKED not in grids:
        return set()
    return {int(g) for g in grids.loc[grids[LOCKED].fillna(False).astype(bool), col.GRID_ID]}


def lock_grids(
    plan: Plan, grid_ids: Iterable[int], *, blockset: BlockSet | None = None, locked: bool = True
) -> Edit:
    """Lock (or with ``locked=False`` unlock) grids: re-balancing never touches locked grids.

    Raises
    ------
    EditError
        When a grid id is not in the plan.
    """
    ids = _known_grids(plan, grid_ids)
    grids = plan.grids.copy()
    if LOCKED not in grids:
        grids[LOCKED] = False
    grids[LOCKED] = grids[LOCKED].fillna(False).astype(bool)
    grids.loc[grids[col.GRID_ID].isin(ids), LOCKED] = locked
    action = {"op": "lock" if locked else "unlock", "grids": sorted(ids)}
    new = finish_plan(plan, grids, plan.atoms, changed=(), action=action, blockset=blockset)
    return Edit(new, ())


def move_atoms(
    plan: Plan, atom_ids: Iterable[int], to_grid: int, *, blockset: BlockSet | None = None
) -> Edit:
    """Move atoms (whole blocks or pieces of split blocks) to a neighbouring grid.

    Parameters
    ----------
    plan
        The plan to edit.
    atom_ids
        ``atom_id`` values of the atoms to move.
    to_grid
        The grid that receives them.
    blockset
        What the plan was drawn from (for validation).

    Raises
    ------
    EditError
        Unknown atoms or grid, atoms already in ``to_grid``, atoms of another unit, or a move
        that would empty a grid (merge it instead).
    GridLockedError
        When the receiving grid or a giving grid is locked.
    NotAdjacentError
        When the atoms do not border ``to_grid``.
    DisconnectedGridError
        When a giving grid would be left in pieces.
    """
    atoms = plan.atoms
    wanted = sorted({int(a) for a in atom_ids})
    pos_of = {int(a): i for i, a in enumerate(atoms[ATOM_ID])}
    unknown = [a for a in wanted if a not in pos_of]
    if unknown:
        msg = f"atoms {unknown} are not in the plan; give atom_id values of plan.atoms"
        raise EditError(msg)
    (to_grid,) = _known_grids(plan, [to_grid])
    labels = atoms[col.GRID_ID].to_numpy().astype(np.int64).copy()
    sel = [pos_of[a] for a in wanted if labels[pos_of[a]] != to_grid]
    if not sel:
        msg = f"every atom given is already in grid {to_grid}: nothing to move"
        raise EditError(msg)
    sources = sorted({int(labels[i]) for i in sel})
    _refuse_locked(plan, [*sources, to_grid])
    unit = _unit_of(plan, to_grid)
    foreign = [
        int(atoms[ATOM_ID].iloc[i]) for i in sel if str(atoms[col.UNIT_CODE].iloc[i]) != unit
    ]
    if foreign:
        msg = (
            f"atoms {foreign} lie in another unit than grid {to_grid} ({unit}); a grid never "
            "crosses an administrative boundary"
        )
        raise EditError(msg)
    nbrs = atom_neighbours(plan)
    labels[sel] = to_grid
    for g in sources:
        left = np.flatnonzero(labels == g).tolist()
        if not left:
            msg = f"moving these atoms would empty grid {g}; use merge_grids({g}, {to_grid})"
            raise EditError(msg)
        if not is_connected(left, nbrs):
            msg = (
                f"moving atoms {wanted} would leave grid {g} in "
                f"{len(components(left, nbrs))} pieces; move the atoms between them too"
            )
            raise DisconnectedGridError(msg)
    if not is_connected(np.flatnonzero(labels == to_grid).tolist(), nbrs):
        msg = (
            f"atoms {wanted} do not border grid {to_grid}; move them to a neighbouring grid, "
            "or move the atoms between them too"
        )
        raise NotAdjacentError(msg)
    action = {"op": "move", "atoms": wanted, "to_grid": to_grid, "from_grids": sources}
    return _relabel(plan, labels, [*sources, to_grid], blockset, action)


def move_blocks(
    plan: Plan, block_ids: Iterable[int], to_grid: int, *, blockset: BlockSet | None = None
) -> Edit:
    """Move whole blocks (every atom of each ``block_id``) to a neighbouring grid.

    Raises
    ------
    EditError, GridLockedError, NotAdjacentError, DisconnectedGridError
        As :func:`move_atoms`; also when a block id is not in the plan.
    """
    ids = {int(b) for b in block_ids}
    atoms = plan.atoms
    missing = sorted(ids - set(atoms[col.BLOCK_ID].astype(int)))
    if missing:
        msg = f"blocks {missing} are not in the plan; give block_id values of plan.atoms"
        raise EditError(msg)
    chosen = atoms.loc[atoms[col.BLOCK_ID].isin(ids), ATOM_ID]
    return move_atoms(plan, chosen.astype(int).tolist(), to_grid, blockset=blockset)


def border_atoms(plan: Plan) -> list[tuple[int, int]]:
    """Atoms that can move to a neighbouring grid: ``(atom_id, to_grid)`` pairs.

    An atom with households on a grid border whose grid stays in one piece without it (what
    :func:`move_atoms` accepts), in atom order.
    """
    nbrs = atom_neighbours(plan)
    labels = plan.atoms[col.GRID_ID].to_numpy()
    hh = plan.atoms[col.HOUSEHOLDS].to_numpy()
    ids = plan.atoms[ATOM_ID].to_numpy()
    locked = locked_ids(plan)
    members = {int(g): set(np.flatnonzero(labels == g).tolist()) for g in set(labels.tolist())}
    out: list[tuple[int, int]] = []
    for a in range(len(labels)):
        grid = int(labels[a])
        others = sorted({int(labels[b]) for b in nbrs[a]} - {grid} - locked)
        if hh[a] <= 0 or not others or grid in locked or len(members[grid]) < 2:
            continue
        if is_connected(members[grid] - {a}, nbrs):
            out.append((int(ids[a]), others[0]))
    return out


def atom_of_building(plan: Plan, building_id: object, *, blockset: BlockSet | None = None) -> int:
    """The ``atom_id`` of the atom holding a building (the atom it overlaps most).

    Raises
    ------
    EditError
        When no building has that id or it lies in no atom.
    """
    b = (blockset if blockset is not None else require_blockset(plan)).buildings
    hit = b[b["building_id"].astype(str) == str(building_id)]
    if hit.empty:
        msg = f"no building has building_id {building_id!r}; see blockset.buildings"
        raise EditError(msg)
    where, _ = assign_polygons(hit.geometry.to_numpy()[:1], plan.atoms.geometry.to_numpy())
    if where[0] < 0:
        msg = f"building {building_id!r} lies in no atom of the plan"
        raise EditError(msg)
    return int(plan.atoms[ATOM_ID].iloc[int(where[0])])


def move_building(
    plan: Plan, building_id: object, to_grid: int, *, blockset: BlockSet | None = None
) -> Edit:
    """Move the atom holding a building to a neighbouring grid (buildings are never split).

    Raises
    ------
    EditError, GridLockedError, NotAdjacentError, DisconnectedGridError
        As :func:`move_atoms` and :func:`atom_of_building`.
    """
    atom = atom_of_building(plan, building_id, blockset=blockset)
    return move_atoms(plan, [atom], to_grid, blockset=blockset)


def merge_grids(plan: Plan, grid_a: int, grid_b: int, *, blockset: BlockSet | None = None) -> Edit:
    """Merge two neighbouring grids of one unit; the merged grid keeps the lower id.

    Raises
    ------
    EditError
        Unknown or equal grids, grids of different units or kinds.
    GridLockedError
        When either grid is locked.
    NotAdjacentError
        When the grids do not share a border.
    """
    a, b = _known_grids(plan, [grid_a, grid_b])
    if a == b:
        msg = f"cannot merge grid {a} with itself; give two different grids"
        raise EditError(msg)
    _refuse_locked(plan, [a, b])
    if _unit_of(plan, a) != _unit_of(plan, b):
        msg = f"grids {a} and {b} lie in different units; a grid never crosses a unit boundary"
        raise EditError(msg)
    grids = plan.grids.set_index(col.GRID_ID)
    if grids.loc[a, col.KIND] != grids.loc[b, col.KIND]:
        msg = f"grids {a} and {b} are of different kinds; merge grids of one kind"
        raise EditError(msg)
    labels = plan.atoms[col.GRID_ID].to_numpy().astype(np.int64).copy()
    nbrs = atom_neighbours(plan)
    members = np.flatnonzero((labels == a) | (labels == b)).tolist()
    if not is_connected(members, nbrs):
        msg = f"grids {a} and {b} do not share a border; merge neighbouring grids"
        raise NotAdjacentError(msg)
    keep, gone = min(a, b), max(a, b)
    labels[labels == gone] = keep
    action = {"op": "merge", "grids": [a, b], "into": keep}
    return _relabel(plan, labels, [keep, gone], blockset, action)


def split_grid(
    plan: Plan,
    grid_id: int,
    *,
    blockset: BlockSet | None = None,
    line: shapely.Geometry | None = None,
    parts: int | None = None,
    rng: int | np.random.Generator | None = None,
) -> Edit:
    """Split a grid along a line, or into ``parts`` connected grids of balanced households.

    Atoms are never cut: along a ``line`` each atom goes to the side holding most of its
    area, and each connected group of atoms on one side becomes a grid. The first group
    (lowest atom) keeps ``grid_id``; the others take new ids.

    Parameters
    ----------
    plan, grid_id
        The plan and the grid to split.
    blockset
        What the plan was drawn from (for validation).
    line
        A line in the plan's metric CRS crossing the grid.
    parts
        Number of balanced parts (≥ 2), drawn by cutting random spanning trees.
    rng
        Seed or generator for ``parts``.

    Raises
    ------
    OptionError
        When neither or both of ``line`` and ``parts`` are given, or ``parts`` < 2.
    EditError
        When the line separates no atoms, or the grid has fewer atoms than ``parts``.
    GridLockedError
        When the grid is locked.
    """
    if (line is None) == (parts is None):
        msg = "give either a split line or a number of parts, not both and not neither"
        raise OptionError(msg)
    (gid,) = _known_grids(plan, [grid_id])
    _refuse_locked(plan, [gid])
    atoms = plan.atoms
    labels = atoms[col.GRID_ID].to_numpy().astype(np.int64).copy()
    members = np.flatnonzero(labels == gid).tolist()
    nbrs = atom_neighbours(plan)
    if line is not None:
        groups = _groups_along_line(plan, gid, members, line, nbrs)
    else:
        assert parts is not None
        if parts < 2:
            msg = f"parts must be at least 2, got {parts}"
            raise OptionError(msg)
        if parts > len(members):
            msg = f"grid {gid} holds {len(members)} atoms, too few for {parts} parts"
            raise EditError(msg)
        gen = np.random.default_rng(rng)
        hh = atoms[col.HOUSEHOLDS].to_numpy().astype(np.int64)
        groups = _balanced_groups(atoms, members, parts, hh, nbrs, gen)
    next_id = int(plan.grids[col.GRID_ID].max()) + 1
    new_ids = []
    for group in groups[1:]:
        labels[group] = next_id
        new_ids.append(next_id)
        next_id += 1
    action = {"op": "split", "grid": gid, "new_grids": new_ids, "by": "line" if line else "parts"}
    return _relabel(plan, labels, [gid, *new_ids], blockset, action)


def rebalance(
    plan: Plan,
    *,
    blockset: BlockSet | None = None,
    rng: int | np.random.Generator | None = None,
    options: SearchOptions | None = None,
) -> Edit:
    """Re-draw every unlocked ordinary grid with the partition search; locked grids stay.

    The atoms of unlocked ordinary grids are partitioned again, unit by unit
    (:func:`gis.search.local.search_partition`); new grids are matched to the old ids
    they share most households with, so ids carry over where grids are recognisably the same.

    Parameters
    ----------
    plan
        The plan to re-balance.
    blockset
        What the plan was drawn from (for validation).
    rng
        Seed or generator; the same seed gives the same plan.
    options
        Search effort (default: the plan's band and default effort).
    """
    band = options or search_options(plan.band)
    gen = np.random.default_rng(rng)
    atoms = plan.atoms
    labels = atoms[col.GRID_ID].to_numpy().astype(np.int64)
    free_grids = _free_grids(plan)
    free = np.isin(labels, sorted(free_grids))
    new_labels = labels.copy()
    next_id = max(int(labels.max()), int(plan.grids[col.GRID_ID].max())) + 1  # ids never reused
    units = atoms[col.UNIT_CODE].astype(str).to_numpy()
    hh = atoms[col.HOUSEHOLDS].to_numpy().astype(np.int64)
    for unit in sorted(set(units[free].tolist())):
        idx = np.flatnonzero(free & (units == unit))
        local = search_region(atoms, plan.edges, idx, band, gen)
        mapping = match_labels(labels[idx], local, hh[idx])
        for lab in sorted(set(local.tolist())):
            if lab not in mapping:
                mapping[lab] = next_id
                next_id += 1
        new_labels[idx] = [mapping[int(x)] for x in local]
    changed = _changed_grids(labels, new_labels)
    action = {"op": "rebalance", "locked": sorted(locked_ids(plan)), "changed": changed}
    return _relabel(plan, new_labels, changed, blockset, action)


def search_region(
    atoms: gpd.GeoDataFrame,
    edges: pd.DataFrame,
    idx: np.ndarray,
    options: SearchOptions,
    rng: np.random.Generator,
) -> np.ndarray:
    """Partition the atoms at positions ``idx`` (one unit) afresh; labels local to them.

    The search weighs atoms and edges exactly as the first partition did
    (:func:`gis.search.partition.search_costs`: edges off the streets cost more).
    """
    cost, graph = search_costs(atoms, edges, idx)
    result = search_partition(
        atoms[col.HOUSEHOLDS].to_numpy()[idx],
        shapely.area(atoms.geometry.to_numpy()[idx]),
        cost,
        graph,
        options=options,
        rng=rng,
    )
    return result.labels


# -- helpers -----------------------------------------------------------------------------------
def _known_grids(plan: Plan, grid_ids: Iterable[int]) -> list[int]:
    known = {int(g) for g in plan.grids[col.GRID_ID]}
    ids = [int(g) for g in grid_ids]
    unknown = [g for g in ids if g not in known]
    if unknown:
        msg = f"grids {unknown} are not in the plan; known grid ids are {sorted(known)}"
        raise EditError(msg)
    return ids


def _refuse_locked(plan: Plan, grid_ids: Sequence[int]) -> None:
    hit = sorted(set(grid_ids) & locked_ids(plan))
    if hit:
        msg = f"grids {hit} are locked; unlock them first (lock_grids(..., locked=False))"
        raise GridLockedError(msg)


def _unit_of(plan: Plan, grid_id: int) -> str:
    grids = plan.grids
    return str(grids.loc[grids[col.GRID_ID] == grid_id, col.PARENT_CODE].iloc[0])


def _free_grids(plan: Plan) -> set[int]:
    """Unlocked ordinary grids: what re-balancing and adjustment may change."""
    grids = plan.grids
    ordinary = grids[grids[col.KIND].astype(str) == col.ORDINARY]
    return {int(g) for g in ordinary[col.GRID_ID]} - locked_ids(plan)


def _changed_grids(old: np.ndarray, new: np.ndarray) -> list[int]:
    changed = set(old[old != new].tolist()) | set(new[old != new].tolist())
    return sorted(int(g) for g in changed)


def _relabel(
    plan: Plan,
    labels: np.ndarray,
    changed: Iterable[int],
    blockset: BlockSet | None,
    action: Mapping[str, object],
) -> Edit:
    atoms = plan.atoms.assign(**{col.GRID_ID: labels})
    changed_ids = tuple(sorted({int(g) for g in changed}))
    grids = rebuild_grids(plan.grids, atoms, changed_ids, tolerances=plan.tolerances)
    grids = recode(plan, grids)
    new = finish_plan(
        plan, grids, atoms, changed=changed_ids, action=dict(action), blockset=blockset
    )
    log.info("%s: %d grids changed, ok=%s", action.get("op"), len(changed_ids), new.ok)
    return Edit(new, changed_ids)


def recode(plan: Plan, grids: gpd.GeoDataFrame, *, retired: Iterable[str] = ()) -> gpd.GeoDataFrame:
    """Codes for redrawn grids in the plan's own scheme; unchanged grids keep theirs; no
    ``retired`` code (e.g. a store's :meth:`~gis.store.Store.retired_codes`) is given out."""
    if plan.code_scheme is None or col.GRID_CODE not in plan.grids:
        return grids
    codes = assign_codes(grids, scheme=plan.code_scheme, previous=plan.grids, retired=retired)
    return grids.assign(**{col.GRID_CODE: codes.codes.to_numpy()})


def _groups_along_line(
    plan: Plan,
    gid: int,
    members: list[int],
    line: shapely.Geometry,
    nbrs: list[dict[int, float]],
) -> list[list[int]]:
    grid = plan.grids.loc[plan.grids[col.GRID_ID] == gid].geometry.iloc[0]
    pieces = list(shapely.get_parts(shapely.ops.split(grid, line)))
    if len(pieces) < 2:
        msg = f"the line does not cross grid {gid}; draw it from one side of the grid to another"
        raise EditError(msg)
    geoms = plan.atoms.geometry.to_numpy()
    side = {
        a: int(np.argmax(shapely.area(shapely.intersection(geoms[a], np.asarray(pieces)))))
        for a in members
    }
    restricted = [
        {b: x for b, x in nbrs[a].items() if side.get(b) == side.get(a)} if a in side else {}
        for a in range(len(nbrs))
    ]
    groups = components(members, restricted)
    if len(groups) < 2:
        msg = (
            f"the line separates no atoms of grid {gid}: atoms (blocks and building groups) are "
            "never cut; draw the line along a street or between buildings"
        )
        raise EditError(msg)
    return groups


def _balanced_groups(
    atoms: gpd.GeoDataFrame,
    members: list[int],
    parts: int,
    hh: np.ndarray,
    nbrs: list[dict[int, float]],
    rng: np.random.Generator,
) -> list[list[int]]:
    """Recursive spanning-tree bisection into ``parts`` connected groups of equal households."""
    geoms = atoms.geometry.to_numpy()
    nb = [list(d) for d in nbrs]
    nw = [list(d.values()) for d in nbrs]
    values = (hh.tolist(), shapely.area(geoms).tolist(), shapely.length(geoms).tolist())
    todo: list[tuple[list[int], int]] = [(sorted(members), parts)]
    done: list[list[int]] = []
    while todo:
        group, m = todo.pop()
        if m == 1:
            done.append(group)
            continue
        m1 = m // 2
        total = float(hh[group].sum())
        want = total * m1 / m

        def score(
            h1: int, a1: float, p1: float, h2: int, a2: float, p2: float, want: float = want
        ) -> tuple[int, float]:
            return 0, min(abs(h1 - want), abs(h2 - want))

        cut = best_tree_cut(group, nb, nw, values, score, n_trees=SPLIT_TREES, rng=rng)
        if cut is None:
            msg = "the grid's atoms are not connected; it cannot be split into parts"
            raise DisconnectedGridError(msg)
        side = sorted(cut[1])
        rest = sorted(set(group) - set(side))
        h_side = float(hh[side].sum())
        if abs(h_side - want) > abs(total - h_side - want):
            side, rest = rest, side
        if len(side) < m1 or len(rest) < m - m1:
            msg = f"cannot split {len(group)} atoms into {m} connected parts"
            raise EditError(msg)
        todo.extend([(side, m1), (rest, m - m1)])
    return sorted(done, key=lambda g: g[0])
