"""What editing and adjusting a plan share: the atom graph, grid rebuilding, the report.

A plan (:class:`gis.Plan`) is a set of atoms (whole blocks or pieces of split
blocks)
each carrying a ``grid_id``; a grid's polygon is the union of its atoms. Edits change atom
labels and rebuild only the grids whose atoms changed: every other grid keeps its row and its
geometry exactly.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.optimize import linear_sum_assignment

from gis import columns as col
from gis.blocks.build import BlockSet
from gis.checks.validate import validate_against
from gis.cutting.atoms import ATOM_ID
from gis.errors import EditError
from gis.geometry.tiling import robust_outlines
from gis.options import DEFAULT_TOLERANCES, Band, Tolerances
from gis.plan import Plan
from gis.report import build_report
from gis.search.local import SearchOptions

log = logging.getLogger(__name__)

#: Column of the grids table: True when re-balancing and adjustment must not touch the grid.
LOCKED = "locked"


def search_options(band: Band) -> SearchOptions:
    """The partition search's options for a plan's band (default search effort)."""
    return SearchOptions(band.min_households, band.max_households, band.target)


def atom_neighbours(plan: Plan) -> list[dict[int, float]]:
    """Neighbours of every atom (by row position of ``plan.atoms``) with the edge's cost.

    The neighbours are the plan's own atom graph (``plan.edges``): atoms of one unit sharing
    a boundary of positive length (at least ``Tolerances.min_shared_m``; a corner is not a
    border). The value is the cost the partition search gave the edge,
    ``shared_m * (1 + penalty)``, so edits and adjustments keep following streets.
    """
    atoms = plan.atoms
    pos = pd.Series(np.arange(len(atoms)), index=atoms[ATOM_ID].to_numpy())
    e = plan.edges
    e = e[e["u"].isin(pos.index) & e["v"].isin(pos.index)]
    left = pos.reindex(e["u"].to_numpy()).to_numpy()
    right = pos.reindex(e["v"].to_numpy()).to_numpy()
    cost = (e[col.SHARED_M] * (1.0 + e["penalty"])).to_numpy()
    nbrs: list[dict[int, float]] = [{} for _ in range(len(atoms))]
    for a, b, x in zip(left.tolist(), right.tolist(), cost.tolist(), strict=True):
        nbrs[a][b] = x
        nbrs[b][a] = x
    return nbrs


def is_connected(members: Iterable[int], nbrs: list[dict[int, float]]) -> bool:
    """True when the atoms ``members`` (row positions) form one connected piece."""
    todo = set(members)
    if not todo:
        return False
    start = next(iter(todo))
    seen = {start}
    queue = deque([start])
    while queue:
        x = queue.popleft()
        for j in nbrs[x]:
            if j in todo and j not in seen:
                seen.add(j)
                queue.append(j)
    return len(seen) == len(todo)


def components(members: Iterable[int], nbrs: list[dict[int, float]]) -> list[list[int]]:
    """Connected pieces of ``members``, each sorted, ordered by their lowest atom."""
    todo = set(members)
    out: list[list[int]] = []
    for start in sorted(todo):
        if start not in todo:
            continue
        todo.discard(start)
        piece = [start]
        queue = deque([start])
        while queue:
            x = queue.popleft()
            for j in nbrs[x]:
                if j in todo:
                    todo.discard(j)
                    piece.append(j)
                    queue.append(j)
        out.append(sorted(piece))
    return out


def match_labels(old: np.ndarray, new: np.ndarray, weight: np.ndarray) -> dict[int, int]:
    """Map each new label to the old label it shares most ``weight`` with, one to one.

    Unmatched new labels are absent from the result (they need fresh ids).
    """
    olds, old_i = np.unique(old, return_inverse=True)
    news, new_i = np.unique(new, return_inverse=True)
    table = np.zeros((len(news), len(olds)))
    np.add.at(table, (new_i, old_i), weight + 1e-6)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {int(news[r]): int(olds[c]) for r, c in zip(rows, cols, strict=True)}


def rebuild_grids(
    old_grids: gpd.GeoDataFrame,
    atoms: gpd.GeoDataFrame,
    changed: Iterable[int],
    *,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> gpd.GeoDataFrame:
    """The grids table of relabelled ``atoms``: grids in ``changed`` are dissolved again.

    Every other grid keeps its row and its geometry exactly; households and block counts
    are recomputed from the atoms for all grids made of atoms (dedicated grids, which are
    not, stay as they were). A grid in ``changed`` that lost its code
    keeps ``grid_code`` empty (re-code with :func:`gis.rules.codes.assign_codes`).
    """
    changed_set = {int(g) for g in changed}
    old = old_grids.set_index(col.GRID_ID, drop=False)
    hh = atoms.groupby(col.GRID_ID)[col.HOUSEHOLDS].sum()
    n_blocks = atoms.groupby(col.GRID_ID)[col.BLOCK_ID].nunique()
    groups = dict(list(atoms.groupby(col.GRID_ID, sort=True)))
    redrawn = [g for g in groups if not (int(g) in old.index and int(g) not in changed_set)]
    # dissolve the changed grids, then clean their outlines in one pass (one reprojection)
    outlines = robust_outlines(
        np.asarray(
            [shapely.union_all(groups[g].geometry.to_numpy()) for g in redrawn], dtype=object
        ),
        atoms.crs,
        tolerances=tolerances,
    )
    outline_of = dict(zip(redrawn, outlines, strict=True))
    rows: list[dict[str, Any]] = []
    for gid, group in groups.items():
        g = int(gid)
        if gid not in outline_of:
            row = old.loc[g].to_dict()
        else:
            geom = outline_of[gid]
            first = group.iloc[0]
            row = old.loc[g].to_dict() if g in old.index else {}
            row.update(
                {
                    col.GRID_ID: g,
                    col.KIND: row.get(col.KIND, col.ORDINARY),
                    col.PARENT_CODE: first[col.UNIT_CODE],
                    col.PARENT_NAME: first.get(col.UNIT_NAME, ""),
                    col.AREA_M2: float(shapely.area(geom)),
                    "geometry": geom,
                }
            )
            if col.GRID_CODE in old.columns:
                row[col.GRID_CODE] = None
            row.setdefault(LOCKED, False)
        row[col.HOUSEHOLDS] = int(hh.loc[gid])
        row["n_blocks"] = int(n_blocks.loc[gid])
        rows.append(row)
    # dedicated grids are not made of atoms: they stay exactly as they were
    kinds = old[col.KIND].astype(str) if col.KIND in old else pd.Series(col.ORDINARY, old.index)
    for g in old.index[(kinds != col.ORDINARY).to_numpy()]:
        if g not in groups:
            rows.append(old.loc[g].to_dict())
    rows.sort(key=lambda r: int(r[col.GRID_ID]))
    frame = pd.DataFrame(rows)
    if LOCKED not in frame:
        frame[LOCKED] = False
    frame[LOCKED] = frame[LOCKED].fillna(False).astype(bool)
    frame[col.GRID_ID] = frame[col.GRID_ID].astype(np.int64)
    frame[col.HOUSEHOLDS] = frame[col.HOUSEHOLDS].astype(np.int64)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=old_grids.crs).reset_index(drop=True)


def out_of_band(grids: gpd.GeoDataFrame, band: Band) -> list[int]:
    """Ids of ordinary grids whose households lie outside the band."""
    ordinary = grids[grids[col.KIND].astype(str) == col.ORDINARY]
    bad = ~band.contains(ordinary[col.HOUSEHOLDS].to_numpy())
    return sorted(int(g) for g in ordinary.loc[bad, col.GRID_ID])


def finish_plan(
    plan: Plan,
    grids: gpd.GeoDataFrame,
    atoms: gpd.GeoDataFrame,
    *,
    changed: Iterable[int],
    action: dict[str, Any],
    blockset: BlockSet | None = None,
    households: gpd.GeoDataFrame | None = None,
) -> Plan:
    """The edited plan: checked from geometry, its report built like the first partition's.

    Parameters
    ----------
    plan
        The plan before the edit (its band, atom graph, code scheme and reasons carry over).
    grids, atoms
        The new grids and atoms (metric CRS of the plan).
    changed
        Grids the edit redrew: they lose the reason they had; every other grid keeps its
        reason for lying outside the band (e.g. ``single_building_above_max``).
    action
        What was done, kept as ``report.sections["edit"]``.
    blockset
        Buildings, streets, units and households to check against (default: the plan's).
    households
        Household features to count instead of the blockset's (after a change).
    """
    blockset = blockset if blockset is not None else require_blockset(plan)
    band = plan.band
    if households is not None:
        blockset = replace(blockset, households=households.to_crs(blockset.crs))
    checks = validate_against(grids, blockset, band=band, tolerances=plan.tolerances)
    gone = {int(g) for g in changed}
    reasons = {g: r for g, r in plan.report.reasons().items() if g not in gone}
    report = build_report(
        grids,
        checks,
        band=band,
        atoms=atoms,
        units=blockset.units,
        reasons=reasons,
        n_blocks=len(blockset.blocks),
        sections={**plan.report.sections, "edit": action},
    )
    return plan.evolve(grids=grids, atoms=atoms, report=report, blockset=blockset)


def require_blockset(plan: Plan) -> BlockSet:
    """The blocks a plan was drawn from; refused when the plan does not carry them.

    Raises
    ------
    EditError
        A plan read back from a file or store without its blocks.
    """
    if plan.blockset is None:
        msg = (
            "this plan does not carry the blocks it was drawn from; give blockset= "
            "(gis.workbench.adjust.plan_from_grids rebuilds a stored plan with its blocks)"
        )
        raise EditError(msg)
    return plan.blockset
