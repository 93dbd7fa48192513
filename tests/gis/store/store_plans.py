"""Tiny hand-built plans for the store tests (imported by conftest and the tests).

Plans are squares in UTM zone 51N (EPSG:32651) near 121.5°E 31.23°N (Shanghai): a 300 m
square community "U1" cut into 3×3 grids of 100 m or 2×2 grids of 150 m.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
from shapely.geometry import box

from gis import columns as col

CRS = "EPSG:32651"
X0, Y0 = 357_000.0, 3_456_500.0  # ≈ 121.5°E, 31.23°N
SIDE = 300.0
UNIT = "310101001001"

PlanFactory = Callable[..., gpd.GeoDataFrame]


def make_plan(
    n: int = 3, *, households: int = 100, prefix: str = "A", crs: str = CRS
) -> gpd.GeoDataFrame:
    """``n``×``n`` square grids tiling the unit; codes prefix + row + column (north first)."""
    step = SIDE / n
    rows = []
    for r in range(n):
        for c in range(n):
            y1 = Y0 + SIDE - r * step
            rows.append(
                {
                    col.GRID_CODE: f"{prefix}{r}{c}",
                    col.KIND: "dedicated" if (r, c) == (0, 0) else "ordinary",
                    col.HOUSEHOLDS: households + 10 * (r * n + c),
                    col.PARENT_CODE: UNIT,
                    col.PARENT_NAME: "外灘社區",
                    "geometry": box(X0 + c * step, y1 - step, X0 + (c + 1) * step, y1),
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS).to_crs(crs)


def make_units() -> gpd.GeoDataFrame:
    """The one community the plans tile."""
    return gpd.GeoDataFrame(
        {
            col.UNIT_CODE: [UNIT],
            col.UNIT_NAME: ["外灘社區"],
            "level": ["community"],
            col.PARENT_CODE: ["310101001"],
        },
        geometry=[box(X0, Y0, X0 + SIDE, Y0 + SIDE)],
        crs=CRS,
    )
