"""Dynamic adjustment (动态调整): restore the band after households change, changing little.

Months after a plan is published, households change: counts go up or down, buildings are added
or demolished. :func:`adjust` re-counts the households of every atom from the new
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
   all of that fails, and the cheapest result is kept (:mod:`gis.workbench.repair`);
4. changed grids are dissolved again and re-coded in the plan's own scheme
   (:func:`gis.rules.codes.assign_codes` with ``previous=`` the old grids: unchanged grids keep
   theirs).

Households are counted into atoms by the library's one ownership rule
(:func:`gis.geometry.ownership.count_households`), the same rule the checks use, so every grid
of the adjusted plan holds exactly what :func:`gis.validate` recounts.

:func:`households_moved` measures how many households change grid between two plans (grids
matched one to one by shared households), the figure to compare with a full re-partition
(:func:`compare_with_repartition`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from gis import columns as col
from gis.blocks.build import BlockSet
from gis.checks.validate import validate_against
from gis.cutting.atoms import atoms_from_blockset
from gis.cutting.carve import carve_regions
from gis.errors import HouseholdError
from gis.geometry import ownership
from gis.options import DEFAULT_TOLERANCES, Band, Cuts, Tolerances, check_cuts
from gis.plan import Plan
from gis.report import build_report
from gis.search.partition import partition_blocks
from gis.workbench.edit import locked_ids, recode
from gis.workbench.plan_graph import (
    LOCKED,
    atom_neighbours,
    finish_plan,
    match_labels,
    out_of_band,
    rebuild_grids,
    require_blockset,
    search_options,
)
from gis.workbench.repair import repair_region

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Adjustment:
    """The outcome of :func:`adjust`.

    Attributes
    ----------
    plan
        The adjusted plan (its report: ``plan.report``; what was done:
        ``plan.report.sections["edit"]``).
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
    out_of_band: tuple[int, ...]
    region: tuple[int, ...]
    changed: tuple[int, ...]
    households_moved: int
    households_total: int


def count_households(atoms: gpd.GeoDataFrame, households: gpd.GeoDataFrame) -> np.ndarray:
    """Households per atom (row order) from new household features, by the ownership rule.

    Raises
    ------
    HouseholdError
        When ``households`` has no ``households`` column or holds negative or non-finite
        counts.
    """
    if col.HOUSEHOLDS not in households:
        msg = "the new household data has no 'households' column; add one with counts"
        raise HouseholdError(msg)
    counts = pd.to_numeric(households[col.HOUSEHOLDS], errors="coerce")
    if counts.isna().any() or (counts < 0).any() or not np.isfinite(counts).all():
        msg = "household counts must be whole numbers ≥ 0; fix the 'households' column"
        raise HouseholdError(msg)
    feats = households.to_crs(atoms.crs)
    out = ownership.count_households(atoms.geometry.to_numpy(), feats)
    lost = int(counts.sum()) - int(out.sum())
    if lost:
        log.warning("%d households lie outside every atom and were not counted", lost)
    return out


def households_moved(
    old_grids: gpd.GeoDataFrame, new_grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame
) -> int:
    """Households whose grid changes from ``old_grids`` to ``new_grids``.

    Each household feature is placed by the ownership rule in both plans; grids are matched
    one to one by shared households, and households outside their grid's match count as moved.
    """
    feats = households.to_crs(old_grids.crs).geometry.to_numpy()
    hh = households[col.HOUSEHOLDS].to_numpy().astype(np.int64)
    old = ownership.assign_features(feats, old_grids.geometry.to_numpy())
    new = ownership.assign_features(feats, new_grids.to_crs(old_grids.crs).geometry.to_numpy())
    ok = (old >= 0) & (new >= 0)
    mapping = match_labels(old[ok], new[ok], hh[ok].astype(float))  # new grid -> old grid
    mapped = np.array([mapping.get(int(x), -1) for x in new[ok]], dtype=np.int64)
    return int(hh[ok][mapped != old[ok]].sum())


def blockset_with_households(blockset: BlockSet, households: gpd.GeoDataFrame) -> BlockSet:
    """The blockset with a new household layer: blocks (and buildings) re-counted.

    Buildings get the counts of features with the same ``building_id`` when the features
    carry one; blocks get the features by the ownership rule.
    """
    feats = households.to_crs(blockset.crs).reset_index(drop=True)
    blocks = blockset.blocks.reset_index(drop=True)
    geoms = blocks.geometry.to_numpy()
    where = ownership.assign_features(feats.geometry.to_numpy(), geoms)
    per_block = ownership.count_households(geoms, feats)
    feats[col.BLOCK_ID] = np.where(where >= 0, blocks[col.BLOCK_ID].to_numpy()[where], -1)
    blocks = blocks.assign(**{col.HOUSEHOLDS: per_block})
    buildings = blockset.buildings
    if col.BUILDING_ID in feats and col.BUILDING_ID in buildings:
        by_id = feats.groupby(col.BUILDING_ID)[col.HOUSEHOLDS].sum()
        buildings = buildings.assign(
            **{col.HOUSEHOLDS: buildings[col.BUILDING_ID].map(by_id).fillna(0).astype(np.int64)}
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
    band: Band | None = None,
    code_scheme: str | None = None,
    cuts: Cuts = "streets",
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> Plan:
    """Rebuild a plan's atoms and atom graph from its grid polygons (e.g. a stored version).

    Dedicated grids are carved out of ``blockset`` first, as the partition carves sites;
    atoms are then cut as the partition cuts them (``cuts``: as the plan was drawn, see
    :func:`gis.partition`; its report says which) and each goes to the ordinary grid it
    overlaps most. Grids keep their columns (``grid_code``, ``kind``…) and get ``grid_id``
    0..k-1 if they have none; their households are recounted.

    Raises
    ------
    HouseholdError
        When an atom lies in no grid (the grids do not cover the blockset).
    """
    band = band or Band()
    grids = grids.to_crs(blockset.crs).reset_index(drop=True)
    if col.GRID_ID not in grids:
        grids[col.GRID_ID] = np.arange(len(grids), dtype=np.int64)
    ordinary = (grids[col.KIND] == col.ORDINARY).to_numpy() if col.KIND in grids else None
    carved = blockset
    if ordinary is not None and not ordinary.all():
        dedicated = grids[~ordinary]
        carved = carve_regions(
            blockset,
            list(dedicated.geometry.to_numpy()),
            list(dedicated[col.PARENT_CODE].astype(str)),
            tolerances=tolerances,
        ).blockset
    owners = grids if ordinary is None else grids[ordinary]
    found = atoms_from_blockset(
        carved,
        max_households=band.max_households,
        target_households=band.target,
        min_households=band.min_households,
        cuts=check_cuts(cuts),
        tolerances=tolerances,
    )
    atoms = found.frame
    where = ownership.assign_polygons(atoms.geometry.to_numpy(), owners.geometry.to_numpy())[0]
    if (where < 0).any():
        n_out = int((where < 0).sum())
        msg = f"{n_out} atoms lie outside every grid; the grids must cover the area"
        raise HouseholdError(msg)
    atoms = atoms.assign(**{col.GRID_ID: owners[col.GRID_ID].to_numpy()[where]})
    if LOCKED not in grids:
        grids[LOCKED] = False
    grids[col.HOUSEHOLDS] = ownership.count_households(
        grids.geometry.to_numpy(), blockset.households
    )
    checks = validate_against(grids, blockset, band=band, tolerances=tolerances)
    report = build_report(
        grids,
        checks,
        band=band,
        atoms=atoms,
        units=blockset.units,
        n_blocks=len(blockset.blocks),
        sections={"cuts": cuts},
    )
    return Plan(
        grids=grids,
        atoms=atoms,
        edges=found.edges,
        band=band,
        report=report,
        blockset=blockset,
        code_scheme=code_scheme,
        tolerances=tolerances,
    )


def adjust(
    plan: Plan,
    households: gpd.GeoDataFrame,
    *,
    seed: int | np.random.Generator | None = None,
    blockset: BlockSet | None = None,
    retired: Iterable[str] = (),
) -> Adjustment:
    """Restore the band after households changed, touching as few grids as possible.

    Parameters
    ----------
    plan
        The live plan (see :func:`plan_from_grids` for a stored version).
    households
        The new household features (points or polygons, any CRS) with ``households``.
    seed
        Seed or generator for the repair's searches.
    blockset
        What the plan was drawn from (default: the plan's own blocks).
    retired
        Codes retired by earlier versions (a store's
        :meth:`~gis.store.Store.retired_codes`): redrawn grids never get one of them.

    Returns
    -------
    Adjustment
    """
    blockset = blockset if blockset is not None else require_blockset(plan)
    band = plan.band
    options = search_options(band)
    gen = np.random.default_rng(seed)
    atoms = plan.atoms.reset_index(drop=True)
    hh = count_households(atoms, households)
    atoms = atoms.assign(**{col.HOUSEHOLDS: hh})
    labels = atoms[col.GRID_ID].to_numpy().astype(np.int64)
    recounted = rebuild_grids(plan.grids, atoms, (), tolerances=plan.tolerances)
    bad = _newly_out_of_band(plan.grids, recounted, band)
    free = _free(plan)
    nbrs = atom_neighbours(plan)
    region_grids = set(bad) & free
    for a in np.flatnonzero(np.isin(labels, sorted(region_grids))).tolist():
        region_grids |= {int(labels[b]) for b in nbrs[a]} & free
    new_labels = labels.copy()
    if region_grids & set(bad):
        before = plan.grids.set_index(col.GRID_ID)[col.HOUSEHOLDS]
        allow = {g: int(band.excess(int(before.loc[g]))) for g in region_grids}
        new_labels = repair_region(
            atoms,
            plan.edges,
            labels,
            sorted(region_grids),
            nbrs,
            options,
            gen,
            allow,
            first_free=int(plan.grids[col.GRID_ID].max()) + 1,
        )
    moved_mask = labels != new_labels
    changed = sorted(int(g) for g in set(labels[moved_mask]) | set(new_labels[moved_mask]))
    atoms = atoms.assign(**{col.GRID_ID: new_labels})
    rebuilt = rebuild_grids(recounted, atoms, changed, tolerances=plan.tolerances)
    grids = recode(plan, rebuilt, retired=retired)
    # every grid (dedicated ones too) holds what the ownership rule counts in it
    feats = households.to_crs(grids.crs)
    grids[col.HOUSEHOLDS] = ownership.count_households(grids.geometry.to_numpy(), feats)
    moved = int(hh[moved_mask].sum())
    action = {
        "op": "adjust",
        "out_of_band": bad,
        "region": sorted(region_grids),
        "changed": changed,
        "households_moved": moved,
    }
    new = finish_plan(
        plan,
        grids,
        atoms,
        changed=changed,
        action=action,
        blockset=blockset_with_households(blockset, households),
    )
    log.info("adjusted: %d out of band, %d changed, %d moved", len(bad), len(changed), moved)
    return Adjustment(
        plan=new,
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
    blockset: BlockSet | None = None,
    seed: int | np.random.Generator | None = None,
) -> dict[str, float]:
    """Households moved by the adjustment and by a full re-partition of the new data.

    Returns
    -------
    dict
        ``adjust_moved``, ``full_moved`` (households), their shares of all households and
        ``ratio`` (adjust / full; 0 when the full re-partition moves nobody).
    """
    blockset = blockset if blockset is not None else require_blockset(old)
    full = partition_blocks(blockset_with_households(blockset, households), band=old.band, rng=seed)
    total = max(adjustment.households_total, 1)
    adj = households_moved(old.grids, adjustment.plan.grids, households)
    fm = households_moved(old.grids, full.grids, households)
    return {
        "adjust_moved": adj,
        "full_moved": fm,
        "adjust_share": adj / total,
        "full_share": fm / total,
        "ratio": adj / fm if fm else 0.0,
        "full_grids_in_band": old.band.share_in_band(full.grids[col.HOUSEHOLDS].to_numpy()),
    }


def _free(plan: Plan) -> set[int]:
    grids = plan.grids
    ordinary = grids[grids[col.KIND].astype(str) == col.ORDINARY]
    return {int(g) for g in ordinary[col.GRID_ID]} - locked_ids(plan)


def _newly_out_of_band(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, band: Band) -> list[int]:
    """Grids out of band after the change and not before, or further out than before.

    Grids already outside the band (reported exceptions, e.g. one tower above the maximum)
    that got no worse are left as they were.
    """
    old = before.set_index(col.GRID_ID)[col.HOUSEHOLDS]
    new = after.set_index(col.GRID_ID)[col.HOUSEHOLDS]
    return [
        g
        for g in out_of_band(after, band)
        if int(band.excess(int(new.loc[g]))) > int(band.excess(int(old.loc[g])))
    ]
