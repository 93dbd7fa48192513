"""The rules that turn ordinary grids into a plan: dedicated sites, empty islands, numbering.

Used by :func:`gis.partition`:

1. :func:`carve_sites` carves dedicated sites (:mod:`gis.rules.dedicated`) out of the blocks;
   each becomes a grid of ``kind = dedicated``, exempt from the band;
2. after the partition, :func:`absorb_empty_islands` gives ordinary grids without households
   that sites cut off to the site they touch most;
3. :func:`combine_grids` joins ordinary and dedicated grids and numbers them by unit, then
   north→south, west→east; each records its unit (``parent_code``, ``parent_name``) and the
   unit's street office or town (``unit_parent_code``).
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
from gis.blocks.build import BlockSet
from gis.cutting.carve import carve_regions
from gis.geometry import ownership
from gis.options import DEFAULT_TOLERANCES, Tolerances
from gis.rules.dedicated import dedicated_grids, sites_from_area

log = logging.getLogger(__name__)

UNIT_PARENT_CODE = "unit_parent_code"


def combine_grids(
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
    grids[col.HOUSEHOLDS_ESTIMATED] = ownership.estimated_in(
        grids.geometry.to_numpy(), blockset_units.households
    )
    remap = np.full(n_old, -1, dtype=np.int64)
    remap[old_ids] = new_id[: len(ordinary)]
    for gid, site_row in absorbed.items():
        remap[gid] = new_id[len(ordinary) + site_row]
    return grids, remap


def carve_sites(
    area: Any,
    blockset: BlockSet,
    *,
    kinds: Collection[str],
    min_site_area_m2: float,
    outside: str,
    max_site_households: int,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
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
            tolerances=tolerances,
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


def absorb_empty_islands(
    grids: gpd.GeoDataFrame,
    extra: list[gpd.GeoDataFrame],
    *,
    min_households: int,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> tuple[gpd.GeoDataFrame, dict[int, int]]:
    """Give ordinary grids without households, cut off by sites, to the site they touch most.

    Returns the ordinary grids with those removed and a map from their ids to the row of the
    dedicated grid that took them. ``extra`` (dedicated grids) is updated in place.
    """
    if not extra or not len(extra[0]) or min_households <= 0:
        return grids, {}
    sites = extra[0]
    empty_islands = [int(g) for g in grids.loc[grids[col.HOUSEHOLDS] == 0, col.GRID_ID]]
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
        if not shared or max(shared) < tolerances.min_shared_m:
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
