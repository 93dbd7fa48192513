"""A whole plan the way street offices work: units, dedicated grids, natural villages.

:func:`plan_area` wraps :func:`gis.search.partition.run_partition`:

1. dedicated sites (:mod:`gis.rules.dedicated`) are carved out of the blocks and become grids of
   ``kind = dedicated``, exempt from the band;
2. natural villages (:mod:`gis.rules.villages`) become blocks that are never split;
3. every administrative unit is partitioned on its own (no grid crosses a unit boundary);
4. grids are numbered by unit, then north→south, west→east; each records its unit
   (``parent_code``, ``parent_name``) and the unit's street office or town
   (``unit_parent_code``);
5. the whole plan is checked from geometry (:func:`gis.checks.validate.validate_plan`) and the
   report gives per-unit figures.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import columns as col
from gis.search.band import REASON_TEXT, REASON_UNIT_BELOW_MIN
from gis.blocks.build import BlockSet
from gis.cutting.carve import MIN_SHARED_M, carve_regions
from gis.rules.dedicated import DEFAULT_SITE_KINDS, dedicated_grids, sites_from_area
from gis.search.partition import ORDINARY, Plan, run_partition
from gis.inputs.prepare import Prepared
from gis.geometry.tiling import robust_outlines
from gis.checks.validate import to_json_value, validate_against
from gis.rules.villages import village_blocks, village_report

log = logging.getLogger(__name__)

UNIT_PARENT_CODE = "unit_parent_code"
#: Exception reason of a natural village above the band, kept whole.
REASON_VILLAGE = "natural_village_whole"


def plan_area(
    prepared: Prepared,
    *,
    min_households: int = 300,
    max_households: int = 800,
    target: int = 500,
    rng: int | np.random.Generator | None = None,
    dedicated: bool = True,
    site_kinds: Collection[str] = DEFAULT_SITE_KINDS,
    min_site_area_m2: float = 2000.0,
    sites_outside: str = "error",
    max_site_households: int | None = None,
    villages: bool = True,
) -> Plan:
    """Partition an area into ordinary and dedicated grids, unit by unit.

    Parameters
    ----------
    prepared
        The area and its blocks (:func:`gis.inputs.prepare.prepare_blocks`), metric CRS.
    min_households, max_households, target
        The band of ordinary grids (dedicated grids are exempt).
    rng
        Seed or generator; the same seed gives the same plan.
    dedicated
        Carve dedicated grids out of the sites (or landuse kinds ``site_kinds``).
    site_kinds
        Landuse kinds that make dedicated sites when the area has no ``sites`` layer.
    min_site_area_m2
        Sites smaller than this stay in their ordinary grid and are reported.
    sites_outside
        ``error`` (default) refuses a ``sites`` feature outside every unit; ``drop`` leaves
        it out and reports it.
    max_site_households
        A site holding more households than this is residential in character: it stays in
        the ordinary grids and is reported (default: ``min_households``, enough for an
        ordinary grid of its own).
    villages
        Keep natural villages whole (from a ``villages`` layer or a ``village`` column).

    Returns
    -------
    Plan
        ``grids`` with ``kind`` ordinary or dedicated and ``unit_parent_code``; the report
        adds ``units`` (per-unit figures), ``dedicated`` and ``villages``.

    Raises
    ------
    WanggeError
        Bad options (:func:`gis.search.partition.check_band`), a site outside every unit.
    """
    area, original = prepared.area, prepared.blockset
    blockset = original
    extra: list[gpd.GeoDataFrame] = []
    site_report: dict[str, Any] = {"source": "off", "n_sites": 0}
    if dedicated:
        blockset, site_grids, site_report = _carve_sites(
            area,
            original,
            kinds=site_kinds,
            min_site_area_m2=min_site_area_m2,
            outside=sites_outside,
            max_site_households=min_households
            if max_site_households is None
            else max_site_households,
        )
        extra.append(site_grids)
    whole: list[int] = []
    vb = None
    if villages:
        vb = village_blocks(area, blockset)
        blockset, whole = vb.blockset, vb.whole_blocks
    plan = run_partition(
        blockset,
        min_households=min_households,
        max_households=max_households,
        target=target,
        rng=rng,
        validate=False,
        whole_blocks=whole,
    )
    ordinary_grids, absorbed = _absorb_empty_islands(plan, extra)
    grids, remap = _combine(ordinary_grids, extra, original, absorbed, n_old=len(plan.grids))
    if extra:
        geoms = robust_outlines(grids.geometry.to_numpy(), grids.crs)
        grids = grids.set_geometry(gpd.GeoSeries(geoms, crs=grids.crs))
    atoms = plan.atoms.assign(**{col.GRID_ID: remap[plan.atoms[col.GRID_ID].to_numpy()]})
    whole_set = set(whole)
    ordinary_total = (
        plan.grids.groupby(plan.grids[col.PARENT_CODE].astype(str))[col.HOUSEHOLDS].sum().to_dict()
    )
    exceptions = []
    for exc in plan.report["exceptions"]:
        if int(exc[col.GRID_ID]) in absorbed:
            continue
        gid = int(remap[int(exc[col.GRID_ID])])
        blocks = set(atoms.loc[atoms[col.GRID_ID] == gid, col.BLOCK_ID].tolist())
        reason = exc["reason"]
        detail = exc["detail"]
        unit_total = ordinary_total.get(str(exc[col.PARENT_CODE]), 0)
        if exc[col.HOUSEHOLDS] < min_households and unit_total < min_households:
            # sites split the unit, but its ordinary households could never fill one grid
            reason = REASON_UNIT_BELOW_MIN
            detail = (
                f"{REASON_TEXT[reason]}: {exc[col.HOUSEHOLDS]} households, below min "
                f"({min_households}–{max_households})"
            )
        elif exc[col.HOUSEHOLDS] > max_households and blocks & whole_set:
            reason = REASON_VILLAGE
            detail = (
                f"natural village kept whole (never split): {exc[col.HOUSEHOLDS]} households, "
                f"above max ({min_households}–{max_households})"
            )
        exceptions.append(exc | {col.GRID_ID: gid, "reason": reason, "detail": detail})
    report = dict(plan.report)
    report["exceptions"] = exceptions
    ordinary = grids[col.KIND] == ORDINARY
    summary = dict(report["summary"])
    summary["n_grids"] = len(grids)
    summary["n_ordinary"] = int(ordinary.sum())
    summary["n_dedicated"] = int((~ordinary).sum())
    summary["households"] = int(grids[col.HOUSEHOLDS].sum())
    summary["share_in_band"] = (
        float(grids.loc[ordinary, col.HOUSEHOLDS].between(min_households, max_households).mean())
        if ordinary.any()
        else 1.0
    )
    report["summary"] = summary
    report["dedicated"] = site_report
    report["dedicated"]["empty_islands_absorbed"] = len(absorbed)
    report["units"] = unit_figures(grids, original.units, min_households, max_households)
    report["villages"] = (
        village_report(vb.villages, atoms, max_households=max_households) | {"source": vb.source}
        if vb is not None
        else {"source": "off"}
    )
    checks = validate_against(
        grids, original, min_households=min_households, max_households=max_households
    )
    report["checks"] = checks.to_dict()
    report["ok"] = bool(checks.ok and not exceptions)
    log.info("%d grids (%d dedicated)", len(grids), summary["n_dedicated"])
    return Plan(grids=grids, atoms=atoms, report=report)


def unit_figures(
    grids: gpd.GeoDataFrame, units: gpd.GeoDataFrame, min_households: int, max_households: int
) -> list[dict[str, Any]]:
    """Per unit: code, name, parent, grid counts by kind, households and in-band share."""
    out = []
    for _, unit in units.iterrows():
        code = str(unit[col.UNIT_CODE])
        mine = grids[grids[col.PARENT_CODE].astype(str) == code]
        ordi = mine[mine[col.KIND] == ORDINARY]
        out.append(
            {
                col.UNIT_CODE: code,
                col.UNIT_NAME: str(unit[col.UNIT_NAME]),
                col.PARENT_CODE: to_json_value(unit.get(col.PARENT_CODE)),
                "n_grids": len(mine),
                "n_ordinary": len(ordi),
                "n_dedicated": len(mine) - len(ordi),
                col.HOUSEHOLDS: int(mine[col.HOUSEHOLDS].sum()),
                "share_in_band": float(
                    ordi[col.HOUSEHOLDS].between(min_households, max_households).mean()
                )
                if len(ordi)
                else 1.0,
            }
        )
    return out


def _combine(
    ordinary: gpd.GeoDataFrame,
    extra: list[gpd.GeoDataFrame],
    blockset_units: BlockSet,
    absorbed: dict[int, int],
    *,
    n_old: int,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Join ordinary and dedicated grids, renumber by unit, north→south, west→east.

    Returns the grids and the new id of every old ordinary grid id (absorbed empty islands
    map to the dedicated grid that took them).
    """
    old_ids = ordinary[col.GRID_ID].to_numpy()
    parts = [ordinary.drop(columns=col.GRID_ID), *extra]
    grids = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=ordinary.crs)
    pts = shapely.point_on_surface(grids.geometry.to_numpy())
    key = pd.DataFrame(
        {
            "unit": grids[col.PARENT_CODE].astype(str).to_numpy(),
            "north": -np.round(shapely.get_y(pts)),
            "east": np.round(shapely.get_x(pts)),
            "row": np.arange(len(grids)),
        }
    ).sort_values(["unit", "north", "east", "row"])
    order = key["row"].to_numpy()
    new_id = np.empty(len(grids), dtype=np.int64)
    new_id[order] = np.arange(len(grids))
    grids = grids.iloc[order].reset_index(drop=True)
    grids.insert(0, col.GRID_ID, np.arange(len(grids), dtype=np.int64))
    units = blockset_units.units
    parent = (
        dict(zip(units[col.UNIT_CODE].astype(str), units[col.PARENT_CODE], strict=True))
        if col.PARENT_CODE in units
        else {}
    )
    grids[UNIT_PARENT_CODE] = [
        None if pd.isna(parent.get(str(u))) else str(parent.get(str(u)))
        for u in grids[col.PARENT_CODE]
    ]
    for c in ("site_kind", "site_name"):
        if c not in grids:
            grids[c] = None
    remap = np.full(n_old, -1, dtype=np.int64)
    remap[old_ids] = new_id[: len(ordinary)]
    for gid, site_row in absorbed.items():
        remap[gid] = new_id[len(ordinary) + site_row]
    return grids, remap


def _carve_sites(
    area: Any,
    blockset: BlockSet,
    *,
    kinds: Collection[str],
    min_site_area_m2: float,
    outside: str,
    max_site_households: int,
) -> tuple[BlockSet, gpd.GeoDataFrame, dict[str, Any]]:
    """Carve dedicated sites out of the blocks; sites holding too many households stay."""
    sites = sites_from_area(
        area, blockset.units, kinds=kinds, min_site_area_m2=min_site_area_m2, outside=outside
    )
    report: dict[str, Any] = {
        "source": sites.source,
        "n_sites": 0,
        "too_small": sites.too_small,
        "outside": sites.outside,
        "residential": [],
    }
    table = sites.sites
    while len(table):
        carved = carve_regions(
            blockset,
            list(table.geometry.to_numpy()),
            list(table[col.UNIT_CODE].astype(str)),
        )
        heavy = carved.regions[col.HOUSEHOLDS].to_numpy() > max_site_households
        if not heavy.any():
            report["n_sites"] = len(carved.regions)
            return carved.blockset, dedicated_grids(carved.regions, table, blockset), report
        rows = carved.regions["region"].to_numpy()[heavy]
        for r, hh in zip(rows.tolist(), carved.regions.loc[heavy, col.HOUSEHOLDS], strict=True):
            rec = table.iloc[r]
            report["residential"].append(
                {
                    col.KIND: str(rec[col.KIND]),
                    "name": str(rec["name"]),
                    col.UNIT_CODE: str(rec[col.UNIT_CODE]),
                    col.HOUSEHOLDS: int(hh),
                    "reason": f"holds {int(hh)} households (> {max_site_households}): "
                    "left in the ordinary grids",
                }
            )
        table = table.drop(index=table.index[rows]).reset_index(drop=True)
    empty = dedicated_grids(
        gpd.GeoDataFrame(
            {"region": [], col.UNIT_CODE: [], col.HOUSEHOLDS: []},
            geometry=gpd.GeoSeries([], crs=blockset.crs),
            crs=blockset.crs,
        ),
        table,
        blockset,
    )
    return blockset, empty, report


def _absorb_empty_islands(
    plan: Plan, extra: list[gpd.GeoDataFrame]
) -> tuple[gpd.GeoDataFrame, dict[int, int]]:
    """Give ordinary grids without households, cut off by sites, to the site they touch most.

    Returns the ordinary grids with those removed and a map from their ids to the row of the
    dedicated grid that took them. ``extra`` (dedicated grids) is updated in place.
    """
    grids = plan.grids
    if not extra or not len(extra[0]):
        return grids, {}
    sites = extra[0]
    empty_islands = [
        int(e[col.GRID_ID]) for e in plan.report["exceptions"] if int(e[col.HOUSEHOLDS]) == 0
    ]
    absorbed: dict[int, int] = {}
    site_geoms = sites.geometry.to_numpy().copy()
    for gid in empty_islands:
        geom = grids.geometry.iloc[gid]
        unit = str(grids[col.PARENT_CODE].iloc[gid])
        same = np.flatnonzero(sites[col.PARENT_CODE].astype(str).to_numpy() == unit)
        shared = [
            shapely.length(
                shapely.intersection(shapely.boundary(geom), shapely.buffer(site_geoms[j], 1e-6))
            )
            for j in same
        ]
        if not shared or max(shared) < MIN_SHARED_M:
            continue
        j = int(same[int(np.argmax(shared))])
        joined = shapely.union(site_geoms[j], geom)
        if shapely.get_num_geometries(joined) > 1:
            continue
        site_geoms[j] = joined
        absorbed[gid] = j
    if not absorbed:
        return grids, absorbed
    extra[0] = sites.set_geometry(gpd.GeoSeries(site_geoms, crs=sites.crs))
    extra[0][col.AREA_M2] = shapely.area(site_geoms)
    keep = ~grids[col.GRID_ID].isin(list(absorbed))
    return grids[keep], absorbed
