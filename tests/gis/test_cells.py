"""Unit cells: nest exactly in their grid, at most N households or one building, never split."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

import gis
from gis import columns as col
from gis.errors import OptionError
from gis.inputs.prepare import Prepared
from gis.plan import Plan
from gis.rules.cells import count_households, unit_cells
from gis.rules.codes import assign_codes, cell_codes

N = 30


def check_cells(
    grids: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame
) -> None:
    ordinary = grids[grids[col.KIND] == "ordinary"]
    for _, grid in ordinary.iterrows():
        mine = cells[cells[col.GRID_ID] == grid[col.GRID_ID]]
        assert len(mine) >= 1
        union = shapely.union_all(mine.geometry.to_numpy())
        assert shapely.area(shapely.difference(grid.geometry, union)) < 0.01  # no gap
        assert shapely.area(shapely.difference(union, grid.geometry)) < 0.01  # inside
        assert mine.geometry.area.sum() - union.area < 0.01  # no overlap
    cg = cells.geometry.to_numpy()
    bi, ci = shapely.STRtree(cg).query(buildings.geometry.to_numpy(), predicate="intersects")
    inter = shapely.area(shapely.intersection(buildings.geometry.to_numpy()[bi], cg[ci]))
    real = inter > 0.01
    counts = np.bincount(bi[real], minlength=len(buildings))
    assert counts.max() <= 1, "a building is split between cells"


def test_cells_on_shanghai(shanghai_prepared: Prepared, shanghai_plan: Plan) -> None:
    bs = shanghai_prepared.blockset
    cells, report = unit_cells(shanghai_plan.grids, bs.buildings, bs.households, max_households=N)
    check_cells(shanghai_plan.grids, cells, bs.buildings)
    over = cells[cells[col.HOUSEHOLDS] > N]
    assert len(report["over_max"]) == len(over)
    single = over["n_buildings"] <= 1
    assert single.mean() > 0.95  # cells above N are single buildings (or reported otherwise)
    grids = shanghai_plan.grids
    per_grid = count_households(grids.geometry.to_numpy(), bs.households)
    ordinary = (grids[col.KIND] == "ordinary").to_numpy()
    assert cells[col.HOUSEHOLDS].sum() == per_grid[ordinary].sum()  # totals conserved


def test_cells_on_rural_sample_respect_n(rural_prepared: Prepared) -> None:

    plan = gis.partition(rural_prepared, seed=0)
    bs = rural_prepared.blockset
    grids = plan.grids.assign(
        **{col.GRID_CODE: assign_codes(plan.grids, scheme="village6").codes.to_numpy()}
    )
    cells, report = unit_cells(grids, bs.buildings, bs.households, max_households=N)
    check_cells(grids, cells, bs.buildings)
    assert (cells[col.HOUSEHOLDS] <= N).all()
    assert report["over_max"] == []
    codes = cell_codes(cells)
    assert codes.is_unique
    for code, grid_code in zip(codes, cells[col.GRID_CODE], strict=True):
        assert code.startswith(grid_code)
        assert len(code) == len(grid_code) + 2


def test_single_building_above_n_is_one_cell() -> None:
    grid = gpd.GeoDataFrame(
        {col.GRID_ID: [7], col.KIND: ["ordinary"]},
        geometry=[shapely.box(0, 0, 200, 100)],
        crs=32650,
    )
    blds = gpd.GeoDataFrame(
        {col.HOUSEHOLDS: [120, 10, 10, 10]},
        geometry=[shapely.box(10, 10, 60, 90)]
        + [shapely.box(x, 30, x + 15, 50) for x in (100, 130, 160)],
        crs=32650,
    )
    cells, report = unit_cells(grid, blds, blds.iloc[0:0], max_households=N)
    check_cells(grid, cells, blds)
    assert sorted(cells[col.HOUSEHOLDS].tolist()) == [30, 120]
    assert report["over_max"] == [
        {
            col.GRID_ID: 7,
            col.HOUSEHOLDS: 120,
            "n_buildings": 1,
            "reason": "single building above the cell maximum",
        }
    ]


def test_bad_n_is_refused() -> None:
    grid = gpd.GeoDataFrame({col.KIND: ["ordinary"]}, geometry=[shapely.box(0, 0, 1, 1)])
    with pytest.raises(OptionError, match="at least 1"):
        unit_cells(grid, grid.iloc[0:0], grid.iloc[0:0], max_households=0)
