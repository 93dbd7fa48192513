"""Fixtures for the hierarchy tests: a hand-made rural sample and the Shanghai sample, prepared.

The rural sample is SYNTHETIC (made up here, not surveyed): two village units side by side,
the west one with eight natural villages (one straddling a road, one above the household band),
the east one with two; farmhouses (12 m squares) each holding one household point of 5
households tagged with its village, a few scattered farmhouses belonging to no village, and
two roads crossing the west unit.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import gis
from gis.inputs.prepare import Prepared, prepare_blocks
from gis.plan import Plan

REPO = Path(__file__).resolve().parents[2]
RURAL_CRS = "EPSG:32651"
X0, Y0 = 400_000.0, 3_540_000.0
WEST, EAST = "320623105201", "320623105202"
#: name → (centre x, centre y, half size m, farmhouses per side): SYNTHETIC villages
VILLAGES: dict[str, tuple[float, float, float, int]] = {
    "張家村": (375, 500, 150, 4),
    "李家村": (1125, 500, 150, 5),
    "王家村": (1500, 1500, 200, 6),  # straddles the north-south road
    "大莊": (2625, 500, 300, 14),  # 196 farmhouses × 5 = 980 households: above the band
    "趙家村": (375, 1500, 150, 5),
    "孫家灣": (1125, 1500, 120, 3),
    "周家橋": (2250, 1500, 150, 6),
    "吳家墩": (2700, 1650, 120, 5),
    "東頭村": (3700, 700, 200, 8),
    "西頭村": (3700, 1500, 150, 6),
}
HOUSEHOLDS_PER_FARM = 5


def rural_layers() -> dict[str, gpd.GeoDataFrame]:
    """The SYNTHETIC rural sample's layers, in a metric CRS."""
    units = gpd.GeoDataFrame(
        {
            "code": [WEST, EAST],
            "name": ["合成西村(SYNTHETIC)", "合成東村(SYNTHETIC)"],
            "level": ["village", "village"],
            "parent_code": ["320623105", "320623105"],
        },
        geometry=[
            shapely.box(X0, Y0, X0 + 3000, Y0 + 2000),
            shapely.box(X0 + 3000, Y0, X0 + 4500, Y0 + 2000),
        ],
        crs=RURAL_CRS,
    )
    roads = gpd.GeoDataFrame(
        {"highway": ["secondary", "tertiary", "tertiary"], "name": ["東西路", "南北路", "東村路"]},
        geometry=[
            shapely.LineString([(X0 - 50, Y0 + 1000), (X0 + 4550, Y0 + 1000)]),
            shapely.LineString([(X0 + 1500, Y0 - 50), (X0 + 1500, Y0 + 2050)]),
            shapely.LineString([(X0 + 3700, Y0 + 1000), (X0 + 3700, Y0 + 1200)]),
        ],
        crs=RURAL_CRS,
    )
    polys: list[shapely.Polygon] = []
    names: list[str] = []
    farms: list[tuple[float, float]] = []
    farm_village: list[str | None] = []
    for name, (cx, cy, half, n) in VILLAGES.items():
        polys.append(shapely.box(X0 + cx - half, Y0 + cy - half, X0 + cx + half, Y0 + cy + half))
        names.append(name)
        step = 2 * half / n
        for i in range(n):
            for j in range(n):
                x = X0 + cx - half + (i + 0.5) * step
                y = Y0 + cy - half + (j + 0.5) * step
                if abs(x - (X0 + 1500)) < 12 or abs(y - (Y0 + 1000)) < 12:
                    continue  # no farmhouse on a road
                farms.append((x, y))
                farm_village.append(name)
    for x, y in ((800, 1000 - 300), (2000, 300), (4200, 1800)):
        farms.append((X0 + x, Y0 + y))
        farm_village.append(None)
    pts = np.asarray(shapely.points(np.asarray(farms)), dtype=object)
    households = gpd.GeoDataFrame(
        {"households": HOUSEHOLDS_PER_FARM, "village": farm_village}, geometry=pts, crs=RURAL_CRS
    )
    buildings = gpd.GeoDataFrame(
        {"building": ["house"] * len(pts)},
        geometry=shapely.buffer(pts, 6, cap_style="square"),
        crs=RURAL_CRS,
    )
    villages = gpd.GeoDataFrame({"name": names}, geometry=polys, crs=RURAL_CRS)
    return {
        "boundary": units,
        "roads": roads,
        "households": households,
        "buildings": buildings,
        "villages": villages,
    }


def write_sample(path: Path, layers: dict[str, gpd.GeoDataFrame]) -> Path:
    """Write layers into one GeoPackage."""
    for name, gdf in layers.items():
        gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    return path


@pytest.fixture(scope="session")
def rural_gpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SYNTHETIC rural sample as a conventional GeoPackage."""
    return write_sample(tmp_path_factory.mktemp("rural") / "rural.gpkg", rural_layers())


@pytest.fixture(scope="session")
def rural_prepared(rural_gpkg: Path) -> Prepared:
    """The rural sample read and cut into blocks."""
    return prepare_blocks(rural_gpkg)


@pytest.fixture(scope="session")
def shanghai_prepared() -> Prepared:
    """The Shanghai sample read and cut into blocks (slow: once per session)."""
    return prepare_blocks(REPO / "data" / "shanghai_bund.gpkg")


@pytest.fixture(scope="session")
def shanghai_plan(shanghai_prepared: Prepared) -> Plan:
    """The Shanghai plan with dedicated grids (the one site outside every unit left out)."""
    return gis.partition(shanghai_prepared, seed=0, sites_outside="drop")


def with_households_scaled(prepared: Prepared, block_ids: Any, factor: float) -> Prepared:
    """A copy whose households in ``block_ids`` are multiplied by ``factor`` (blocks updated)."""
    bs = prepared.blockset
    hh = bs.households.copy()
    pick = hh["block_id"].isin(list(block_ids))
    hh.loc[pick, "households"] = np.rint(hh.loc[pick, "households"] * factor).astype(np.int64)
    per_block = hh.groupby("block_id")["households"].sum()
    blocks = bs.blocks.copy()
    blocks["households"] = (
        pd.Series(blocks["block_id"]).map(per_block).fillna(0).astype(np.int64).to_numpy()
    )
    buildings = bs.buildings.copy()
    if "building_id" in hh and "households" in buildings:
        counts = hh.set_index("building_id")["households"]
        buildings["households"] = (
            buildings["building_id"].map(counts).fillna(buildings["households"]).astype(np.int64)
        )
    return replace(
        prepared, blockset=replace(bs, blocks=blocks, households=hh, buildings=buildings)
    )
