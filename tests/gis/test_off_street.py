"""The off-street boundary figure of issue 12: boundary that leaves the roads where it need not."""

from __future__ import annotations

import geopandas as gpd
import shapely

import gis
from gis import columns as col
from gis.checks.off_street import off_street_boundary
from gis.datasets import grid_blockset

BAND = gis.Band(300, 800, target=500)


def _grids(geoms: list[shapely.Geometry], crs: object) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({col.GRID_ID: range(len(geoms))}, geometry=geoms, crs=crs)


def test_grids_along_streets_have_no_off_street_boundary() -> None:
    bs = grid_blockset(2, 1, households=400)
    grids = _grids(list(bs.blocks.geometry), bs.crs)
    fig = off_street_boundary(
        grids, roads=bs.streets, units=bs.units, households=bs.households, band=BAND
    )
    assert fig["inner_boundary_m"] > 0
    assert fig["off_street_share"] == 0.0


def test_a_cut_through_a_small_block_is_off_street_but_not_in_an_oversized_one() -> None:
    small = grid_blockset(1, 1, households=400)
    big = grid_blockset(1, 1, households=1_200)
    for bs, expected in ((small, 1.0), (big, 0.0)):
        x0, y0, x1, y1 = bs.blocks.total_bounds
        mid = (x0 + x1) / 2
        grids = _grids([shapely.box(x0, y0, mid, y1), shapely.box(mid, y0, x1, y1)], bs.crs)
        fig = off_street_boundary(
            grids, roads=bs.streets, units=bs.units, households=bs.households, band=BAND
        )
        assert abs(fig["off_street_share"] - expected) < 0.1
