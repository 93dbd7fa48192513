"""Natural villages (自然村) and villager groups as atoms that are never split.

Villages come from a ``villages`` polygon layer (name in ``name`` or ``village``), or, when
there is none, from household points carrying a ``village`` column: each village's territory
is the union of the Voronoi cells of its points inside the unit. Village polygons are carved
out of the street blocks (:func:`gis.cutting.carve.carve_regions`: buildings kept whole) and
put back
as single blocks that :func:`gis.search.partition.run_partition` never splits
(``whole_blocks``); the
partition then merges small neighbouring villages to reach the band where contiguity allows.
A village above the band stays whole as its own grid and is reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import columns as col
from gis.blocks.build import BlockSet
from gis.blocks.graph import block_graph
from gis.cutting.carve import carve_regions
from gis.errors import VillageError
from gis.inputs.read import Area
from gis.options import DEFAULT_TOLERANCES, Tolerances

log = logging.getLogger(__name__)

VILLAGE: str = "village"
NAME_COLUMNS = ("name", VILLAGE, "village_name")


@dataclass(frozen=True)
class VillageBlocks:
    """A blockset whose natural villages are single, unsplittable blocks.

    Attributes
    ----------
    blockset
        Street-block remainders plus one block per village (per unit).
    villages
        One row per village block: ``village``, ``unit_code``, ``block_id``, ``households``;
        polygons.
    source
        ``villages layer``, ``household village column`` or ``none``.
    """

    blockset: BlockSet
    villages: gpd.GeoDataFrame
    source: str

    @property
    def whole_blocks(self) -> list[int]:
        """Block ids that must never be split."""
        return [int(b) for b in self.villages[col.BLOCK_ID]]


def villages_from_area(area: Area, blockset: BlockSet) -> tuple[gpd.GeoDataFrame, str]:
    """Village polygons per unit: ``village``, ``unit_code``, polygons (blockset CRS).

    Raises
    ------
    VillageError
        A villages layer that is not polygons or has no name column.
    """
    units = blockset.units
    layer = area.villages
    if layer is not None and not layer.empty:
        poly = np.isin(shapely.get_type_id(layer.geometry.to_numpy()), (3, 6))
        if not poly.all():
            msg = (
                f"villages rows {np.flatnonzero(~poly)[:5].tolist()} are not polygons: give "
                "one polygon per natural village, or household points with a 'village' column"
            )
            raise VillageError(msg)
        name_col = next((c for c in NAME_COLUMNS if c in layer), None)
        if name_col is None:
            msg = "the villages layer has no 'name' or 'village' column: name every village"
            raise VillageError(msg)
        names = layer[name_col].astype(str).to_numpy()
        return _clip(layer.geometry.to_numpy(), names, units), "villages layer"
    hh = blockset.households
    if VILLAGE in hh and len(hh):
        pts = hh[hh.geom_type == "Point"]
        pts = pts[pts[VILLAGE].notna() & (pts[VILLAGE].astype(str) != "")]
        if len(pts):
            return _territories(pts, units), "household village column"
    empty = gpd.GeoDataFrame(
        {VILLAGE: [], col.UNIT_CODE: []}, geometry=gpd.GeoSeries([], crs=units.crs), crs=units.crs
    )
    return empty, "none"


def village_blocks(
    area: Area, blockset: BlockSet, *, tolerances: Tolerances = DEFAULT_TOLERANCES
) -> VillageBlocks:
    """Turn the area's natural villages into unsplittable blocks (see the module docstring)."""
    villages, source = villages_from_area(area, blockset)
    if villages.empty:
        table = villages.assign(**{col.BLOCK_ID: [], col.HOUSEHOLDS: []})
        return VillageBlocks(blockset=blockset, villages=table, source=source)
    carved = carve_regions(
        blockset,
        list(villages.geometry.to_numpy()),
        list(villages[col.UNIT_CODE].astype(str)),
        tolerances=tolerances,
    )
    rest = carved.blockset
    regions = carved.regions
    n0 = len(rest.blocks)
    ids = np.arange(n0, n0 + len(regions), dtype=np.int64)
    names = dict(
        zip(
            blockset.units[col.UNIT_CODE].astype(str),
            blockset.units[col.UNIT_NAME].astype(str),
            strict=True,
        )
    )
    vblocks = gpd.GeoDataFrame(
        {
            col.BLOCK_ID: ids,
            col.UNIT_CODE: regions[col.UNIT_CODE].to_numpy(),
            col.UNIT_NAME: [names.get(str(u), str(u)) for u in regions[col.UNIT_CODE]],
            col.HOUSEHOLDS: regions[col.HOUSEHOLDS].to_numpy(dtype=np.int64),
            col.HOUSEHOLDS_ESTIMATED: False,
            "n_buildings": regions["n_buildings"].to_numpy(dtype=np.int64),
            col.AREA_M2: shapely.area(regions.geometry.to_numpy()),
        },
        geometry=regions.geometry.to_numpy(),
        crs=blockset.crs,
    )
    blocks = gpd.GeoDataFrame(pd.concat([rest.blocks, vblocks], ignore_index=True), crs=rest.crs)
    region_block = dict(zip(regions["region"].tolist(), ids.tolist(), strict=True))
    rb = carved.region_buildings
    rh = carved.region_households
    buildings = pd.concat(
        [
            rest.buildings,
            rb.assign(**{col.BLOCK_ID: rb["region"].map(region_block)}).drop(columns="region"),
        ],
        ignore_index=True,
    )
    households = pd.concat(
        [
            rest.households,
            rh.assign(**{col.BLOCK_ID: rh["region"].map(region_block)}).drop(columns="region"),
        ],
        ignore_index=True,
    )
    out = BlockSet(
        blocks=blocks,
        buildings=gpd.GeoDataFrame(buildings, geometry="geometry", crs=rest.crs),
        households=gpd.GeoDataFrame(households, geometry="geometry", crs=rest.crs),
        graph=block_graph(blocks, rest.streets, tolerances=tolerances),
        streets=rest.streets,
        inner_lines=rest.inner_lines,
        units=rest.units,
        crs=rest.crs,
    )
    table = gpd.GeoDataFrame(
        {
            VILLAGE: villages[VILLAGE].to_numpy()[regions["region"].to_numpy()],
            col.UNIT_CODE: regions[col.UNIT_CODE].to_numpy(),
            col.BLOCK_ID: ids,
            col.HOUSEHOLDS: regions[col.HOUSEHOLDS].to_numpy(dtype=np.int64),
        },
        geometry=regions.geometry.to_numpy(),
        crs=blockset.crs,
    )
    log.info("%d natural villages from the %s", len(table), source)
    return VillageBlocks(blockset=out, villages=table, source=source)


def village_report(
    villages: gpd.GeoDataFrame, atoms: gpd.GeoDataFrame, *, max_households: int
) -> dict[str, Any]:
    """Which grid each village went to, villages above the band, and any split village."""
    grid_of = atoms.groupby(col.BLOCK_ID)[col.GRID_ID].agg(lambda s: sorted(set(s.tolist())))
    rows: list[dict[str, Any]] = []
    for v, unit, bid, hh in zip(
        villages[VILLAGE],
        villages[col.UNIT_CODE],
        villages[col.BLOCK_ID],
        villages[col.HOUSEHOLDS],
        strict=True,
    ):
        grids = [int(g) for g in grid_of.get(int(bid), [])]
        rows.append(
            {VILLAGE: str(v), col.UNIT_CODE: str(unit), col.HOUSEHOLDS: int(hh), "grid_ids": grids}
        )
    names = [r[VILLAGE] for r in rows]
    return {
        "n_villages": len(rows),
        "villages": rows,
        "above_band": [r for r in rows if r[col.HOUSEHOLDS] > max_households],
        "split": [r for r in rows if len(r["grid_ids"]) > 1],
        "across_units": sorted({n for n in names if names.count(n) > 1}),
    }


def _clip(geoms: np.ndarray, names: np.ndarray, units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Clip village polygons to each unit; dissolve parts of the same name per unit."""
    recs: dict[tuple[str, str], list[shapely.Geometry]] = {}
    ugeoms = units.geometry.to_numpy()
    ucodes = units[col.UNIT_CODE].astype(str).to_numpy()
    vi, ui = shapely.STRtree(ugeoms).query(shapely.make_valid(geoms), predicate="intersects")
    for v, u in zip(vi.tolist(), ui.tolist(), strict=True):
        part = shapely.intersection(shapely.make_valid(geoms[v]), ugeoms[u])
        if part.area > 0:
            recs.setdefault((str(names[v]), ucodes[u]), []).append(part)
    return gpd.GeoDataFrame(
        {VILLAGE: [k[0] for k in recs], col.UNIT_CODE: [k[1] for k in recs]},
        geometry=gpd.GeoSeries([shapely.union_all(v) for v in recs.values()], crs=units.crs),
        crs=units.crs,
    )


def _territories(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Voronoi territories of household points, dissolved by village, per unit."""
    geoms: list[shapely.Geometry] = []
    names: list[str] = []
    codes: list[str] = []
    pgeoms = points.geometry.to_numpy()
    village = points[VILLAGE].astype(str).to_numpy()
    for code, unit in zip(units[col.UNIT_CODE].astype(str), units.geometry.to_numpy(), strict=True):
        inside = shapely.intersects(unit, pgeoms)
        if not inside.any():
            continue
        pts, vil = pgeoms[inside], village[inside]
        xy = np.round(shapely.get_coordinates(pts), 3)
        _, first = np.unique(xy, axis=0, return_index=True)
        first = np.sort(first)
        pts, vil = pts[first], vil[first]
        if len(set(vil.tolist())) == 1:
            geoms.append(unit)
            names.append(str(vil[0]))
            codes.append(code)
            continue
        cells = shapely.get_parts(
            shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=unit, ordered=True)
        )
        for name in sorted(set(vil.tolist())):
            terr = shapely.intersection(shapely.union_all(cells[vil == name]), unit)
            if terr.area > 0:
                geoms.append(terr)
                names.append(name)
                codes.append(code)
    return gpd.GeoDataFrame(
        {VILLAGE: names, col.UNIT_CODE: codes},
        geometry=gpd.GeoSeries(geoms, crs=units.crs),
        crs=units.crs,
    )
