"""Natural villages are atoms: never split, merged to reach the band, reported when too big.

Uses the SYNTHETIC rural sample of ``conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

import gis
from gis import columns as col
from gis.errors import VillageError
from gis.inputs.prepare import Prepared, prepare_blocks
from gis.search.band import REASON_VILLAGE

from .conftest import VILLAGES, rural_layers, write_sample


def households_by_grid(plan_grids: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> np.ndarray:
    """Index of the grid holding each point (by covering polygon)."""
    gi = np.full(len(points), -1)
    pi, gj = shapely.STRtree(plan_grids.geometry.to_numpy()).query(
        points.geometry.to_numpy(), predicate="within"
    )
    gi[pi] = gj
    return gi


def check_no_village_split(plan_grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame) -> None:
    pts = households.to_crs(plan_grids.crs)
    grid_of = households_by_grid(plan_grids, pts)
    assert (grid_of >= 0).all()
    named = pts["village"].notna().to_numpy()
    for name in VILLAGES:
        grids = set(grid_of[named & (pts["village"] == name).to_numpy()].tolist())
        assert len(grids) == 1, f"village {name} split over grids {grids}"


def test_villages_from_polygons_are_never_split(rural_prepared: Prepared) -> None:
    plan = gis.partition(rural_prepared, seed=0)
    check_no_village_split(plan.grids, rural_layers()["households"])
    villages = plan.report.sections["villages"]
    assert villages["source"] == "villages layer"
    assert villages["n_villages"] == len(VILLAGES)
    assert villages["split"] == []


def test_big_village_stays_whole_and_is_reported(rural_prepared: Prepared) -> None:
    plan = gis.partition(rural_prepared, seed=0)
    above = plan.report.sections["villages"]["above_band"]
    assert [v["village"] for v in above] == ["大莊"]
    reasons = {e["reason"] for e in plan.report.to_dict()["exceptions"]}
    assert reasons == {REASON_VILLAGE}
    (exc,) = plan.report.to_dict()["exceptions"]
    assert exc[col.HOUSEHOLDS] > 800


def test_small_villages_merge_to_reach_the_band(rural_prepared: Prepared) -> None:
    plan = gis.partition(rural_prepared, seed=0)
    ordinary = plan.grids[plan.grids[col.KIND] == "ordinary"]
    assert len(ordinary) < len(VILLAGES)  # small villages were merged
    small = ordinary[ordinary[col.HOUSEHOLDS] <= 800]
    assert small[col.HOUSEHOLDS].between(300, 800).all()


def test_rural_plan_keeps_units_and_coverage(rural_prepared: Prepared) -> None:
    plan = gis.partition(rural_prepared, seed=0)
    metrics = plan.report.metrics
    assert metrics["gap_m2"] < 1.0
    assert metrics["overlap_m2"] < 1.0
    assert metrics["crossing_m2"] < 1.0
    assert metrics["buildings_split"] == 0
    assert metrics["multipart_grids"] == 0
    units = rural_prepared.blockset.units.set_index(col.UNIT_CODE)
    for _, grid in plan.grids.iterrows():
        unit = units.geometry.loc[grid[col.PARENT_CODE]]
        assert shapely.area(shapely.difference(grid.geometry, unit)) < 1.0


def test_villages_from_household_column(tmp_path: Path) -> None:
    layers = rural_layers()
    del layers["villages"]
    prepared = prepare_blocks(write_sample(tmp_path / "points.gpkg", layers))
    plan = gis.partition(prepared, seed=0)
    assert plan.report.sections["villages"]["source"] == "household village column"
    check_no_village_split(plan.grids, layers["households"])
    assert plan.report.metrics["gap_m2"] < 1.0


def test_villages_layer_without_names_is_refused(tmp_path: Path) -> None:
    layers = rural_layers()
    layers["villages"] = layers["villages"].drop(columns="name").assign(kind="village")
    prepared = prepare_blocks(write_sample(tmp_path / "noname.gpkg", layers))
    with pytest.raises(VillageError, match="name"):
        gis.partition(prepared, seed=0)
