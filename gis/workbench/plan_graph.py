"""What editing and adjusting a plan share: the atom graph, grid rebuilding, the report.

A plan (:class:`gis.search.partition.Plan`) is a set of atoms (whole blocks or pieces of split blocks)
each carrying a ``grid_id``; a grid's polygon is the union of its atoms. Edits change atom
labels and rebuild only the grids whose atoms changed: every other grid keeps its row and its
geometry exactly.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.optimize import linear_sum_assignment

from gis import columns as col
from gis.search.band import REASON_NOT_REACHED
from gis.blocks.build import BlockSet
from gis.search.partition import ORDINARY, Plan
from gis.search.local import SearchOptions
from gis.geometry.tiling import SHARED_TOLERANCE_M, robust_outlines, shared_boundary_m
from gis.checks.validate import Report, to_json_value, validate_against

log = logging.getLogger(__name__)

#: Column of the grids table: True when re-balancing and adjustment must not touch the grid.
LOCKED = "locked"
#: Atoms sharing less boundary than this (m) are not neighbours (a corner is not a border).
MIN_SHARED_M = 0.5


def band_of(plan: Plan) -> SearchOptions:
    """The household band a plan was drawn for (``report["options"]``; else 300–800, 500)."""
    opts = plan.report.get("options", {})
    return SearchOptions(
        int(opts.get("min_households", 300)),
        int(opts.get("max_households", 800)),
        int(opts.get("target", 500)),
    )


def atom_neighbours(atoms: gpd.GeoDataFrame) -> list[dict[int, float]]:
    """Neighbours of every atom (by row position) with the shared boundary length (m).

    Two atoms are neighbours when they belong to the same unit and share at least
    :data:`MIN_SHARED_M` of boundary (:func:`gis.geometry.tiling.shared_boundary_m`, the rule the
    partition's own adjacency follows).
    """
    geoms = atoms.geometry.to_numpy()
    units = atoms[col.UNIT_CODE].astype(str).to_numpy()
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=SHARED_TOLERANCE_M)
    keep = (left < right) & (units[left] == units[right])
    left, right = left[keep], right[keep]
    shared = shared_boundary_m(geoms[left], geoms[right])
    nbrs: list[dict[int, float]] = [{} for _ in range(len(geoms))]
    for a, b, x in zip(left.tolist(), right.tolist(), shared.tolist(), strict=True):
        if x >= MIN_SHARED_M:
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
    old_grids: gpd.GeoDataFrame, atoms: gpd.GeoDataFrame, changed: Iterable[int]
) -> gpd.GeoDataFrame:
    """The grids table of relabelled ``atoms``: grids in ``changed`` are dissolved again.

    Every other grid keeps its row and its geometry exactly; households and block counts
    are recomputed from the atoms for all grids. A grid in ``changed`` that lost its code
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
                    col.KIND: row.get(col.KIND, ORDINARY),
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
    frame = pd.DataFrame(rows)
    if LOCKED not in frame:
        frame[LOCKED] = False
    frame[LOCKED] = frame[LOCKED].fillna(False).astype(bool)
    frame[col.GRID_ID] = frame[col.GRID_ID].astype(np.int64)
    frame[col.HOUSEHOLDS] = frame[col.HOUSEHOLDS].astype(np.int64)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=old_grids.crs).reset_index(drop=True)


def out_of_band(grids: gpd.GeoDataFrame, band: SearchOptions) -> list[int]:
    """Ids of ordinary grids whose households lie outside the band."""
    ordinary = grids[grids[col.KIND].astype(str) == ORDINARY]
    bad = ~ordinary[col.HOUSEHOLDS].between(band.min_households, band.max_households)
    return sorted(int(g) for g in ordinary.loc[bad, col.GRID_ID])


def finish_plan(
    grids: gpd.GeoDataFrame,
    atoms: gpd.GeoDataFrame,
    *,
    blockset: BlockSet,
    band: SearchOptions,
    action: dict[str, Any],
    households: gpd.GeoDataFrame | None = None,
) -> tuple[Plan, Report]:
    """Validate a relabelled plan and wrap it with a report like :func:`run_partition`'s.

    Parameters
    ----------
    grids, atoms
        The new plan (metric CRS of ``blockset``).
    blockset
        Buildings, streets, units and households to validate against.
    band
        The household band.
    action
        What was done, kept as ``report["edit"]``.
    households
        Household features to check counts against (default: the blockset's).
    """
    checks = validate_against(
        grids,
        blockset,
        min_households=band.min_households,
        max_households=band.max_households,
        households=households,
    )
    exceptions = []
    by_id = grids.set_index(col.GRID_ID)
    for gid in out_of_band(grids, band):
        hh = int(by_id.loc[gid, col.HOUSEHOLDS])
        side = "above max" if hh > band.max_households else "below min"
        exceptions.append(
            {
                col.GRID_ID: gid,
                col.PARENT_CODE: to_json_value(by_id.loc[gid, col.PARENT_CODE]),
                col.HOUSEHOLDS: hh,
                "reason": REASON_NOT_REACHED,
                "detail": f"{hh} households, {side} ({band.min_households}–{band.max_households})",
            }
        )
    report: dict[str, Any] = {
        "options": {
            "min_households": band.min_households,
            "max_households": band.max_households,
            "target": band.target,
        },
        "summary": {
            "n_grids": len(grids),
            "n_atoms": len(atoms),
            "households": int(atoms[col.HOUSEHOLDS].sum()),
            "share_in_band": 1.0 - len(exceptions) / max(len(grids), 1),
        },
        "exceptions": exceptions,
        "checks": checks.to_dict(),
        "edit": action,
        "ok": checks.ok and not exceptions,
    }
    return Plan(grids=grids, atoms=atoms, report=report), checks
