"""Dedicated grids: sites carved out whole, parts merged, small sites reported, coverage exact."""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import gis
from gis import columns as col
from gis.cutting.carve import carve_regions
from gis.datasets import grid_blockset
from gis.errors import SiteError
from gis.inputs.prepare import Prepared
from gis.inputs.read import Area
from gis.options import DEFAULT_TOLERANCES, Tolerances
from gis.plan import Plan
from gis.rules.dedicated import DEDICATED, sites_from_area


def test_every_site_above_min_area_is_its_own_grid(
    shanghai_prepared: Prepared, shanghai_plan: Plan
) -> None:
    sites = sites_from_area(
        shanghai_prepared.area, shanghai_prepared.blockset.units, outside="drop"
    ).sites
    dedicated = shanghai_plan.grids[shanghai_plan.grids[col.KIND] == DEDICATED]
    assert len(dedicated) == len(sites) == shanghai_plan.report.sections["dedicated"]["n_sites"]
    geoms = dedicated.geometry.to_numpy()
    for _, site in sites.iterrows():
        inter = shapely.area(shapely.intersection(geoms, site.geometry))
        best = int(np.argmax(inter))
        # the site's grid is the site, snapped to whole buildings
        assert inter[best] > 0.9 * site.geometry.area
        assert dedicated[col.PARENT_CODE].iloc[best] == site[col.UNIT_CODE]


def test_shanghai_plan_is_valid_with_dedicated_grids(shanghai_plan: Plan) -> None:
    checks = shanghai_plan.report.checks.to_dict()
    assert checks["ok"], checks["violations"]
    metrics = checks["metrics"]
    assert metrics["gap_m2"] < 1.0
    assert metrics["overlap_m2"] < 1.0
    assert metrics["crossing_m2"] < 1.0
    assert metrics["buildings_split"] == 0
    ordinary = shanghai_plan.grids[shanghai_plan.grids[col.KIND] == "ordinary"]
    assert ordinary[col.HOUSEHOLDS].between(300, 800).all()


def test_small_sites_are_reported(shanghai_plan: Plan) -> None:
    report = shanghai_plan.report.sections["dedicated"]
    assert report["source"] == "sites layer"
    assert report["too_small"], "the sample has sites below 2000 m²"
    assert all(s["area_m2"] < 2000 for s in report["too_small"])
    assert report["outside"] == []  # the sample's sites all lie in a unit


def _with_far_site(prepared: Prepared) -> Area:
    """The sample area plus one school 50 km east of every unit."""
    area = prepared.area
    centre = area.boundary.union_all().centroid
    far = gpd.GeoDataFrame(
        {col.KIND: ["school"], "name": ["far away school"]},
        geometry=[shapely.Point(centre.x + 50_000, centre.y).buffer(100)],
        crs=area.crs,
    )
    sites = gpd.GeoDataFrame(pd.concat([area.sites, far], ignore_index=True), crs=area.crs)
    return replace(area, sites=sites)


def test_site_outside_every_unit_is_refused_or_dropped(shanghai_prepared: Prepared) -> None:
    area = _with_far_site(shanghai_prepared)
    units = shanghai_prepared.blockset.units
    with pytest.raises(SiteError, match="outside every unit"):
        sites_from_area(area, units)
    dropped = sites_from_area(area, units, outside="drop")
    assert [s["row"] for s in dropped.outside] == [len(area.sites) - 1]


def _area_with_sites(bs: object, sites: gpd.GeoDataFrame) -> Area:
    units = bs.units  # type: ignore[attr-defined]
    empty = units.iloc[0:0]
    return Area(
        boundary=units,
        roads=empty,
        households=empty,
        buildings=empty,
        crs=units.crs,
        sites=sites,
    )


def test_parts_of_one_institution_merge_and_small_ones_stay() -> None:
    bs = grid_blockset(3, 3, households=150)
    x0, y0, _, _ = bs.units.total_bounds
    sites = gpd.GeoDataFrame(
        {col.KIND: ["school", "school", "hospital"], "name": [None, None, None]},
        geometry=[
            shapely.box(x0 + 10, y0 + 10, x0 + 60, y0 + 60),
            shapely.box(x0 + 60, y0 + 10, x0 + 110, y0 + 60),  # touches the first
            shapely.box(x0 + 200, y0 + 200, x0 + 210, y0 + 210),  # 100 m²: too small
        ],
        crs=bs.crs,
    )
    found = sites_from_area(_area_with_sites(bs, sites), bs.units, min_site_area_m2=500)
    assert len(found.sites) == 1
    assert found.sites[col.KIND].iloc[0] == "school"
    assert found.sites.geometry.iloc[0].area == pytest.approx(5000)
    assert [s[col.KIND] for s in found.too_small] == ["hospital"]


def test_carving_keeps_buildings_whole_and_coverage_exact() -> None:
    bs = grid_blockset(2, 2, households=100)
    b0 = bs.buildings.geometry.iloc[0]
    bx0, by0, bx1, by1 = b0.bounds
    # a site over 3/4 of the first building and 1/4 of nothing else
    site = shapely.box(bx0 - 30, by0 - 30, bx0 + 0.75 * (bx1 - bx0), by1 + 30)
    unit = str(bs.blocks[col.UNIT_CODE].iloc[0])
    carved = carve_regions(bs, [site], [unit])
    region = carved.regions.geometry.iloc[0]
    # the building mostly inside went with the site, whole
    assert shapely.area(shapely.difference(b0, region)) < 1e-6
    for geom in carved.blockset.buildings.geometry:
        assert shapely.area(shapely.intersection(geom, region)) < 1e-6
    total = shapely.union_all([*carved.blockset.blocks.geometry, region])
    units = shapely.union_all(bs.units.geometry.to_numpy())
    assert shapely.area(shapely.symmetric_difference(total, units)) < 0.01
    parts = [*carved.blockset.blocks.geometry, region]
    assert sum(p.area for p in parts) == pytest.approx(units.area, abs=0.01)
    hh = carved.regions[col.HOUSEHOLDS].sum() + carved.blockset.blocks[col.HOUSEHOLDS].sum()
    assert hh == bs.blocks[col.HOUSEHOLDS].sum()


def test_residential_site_stays_ordinary() -> None:
    """A site holding an ordinary grid's worth of households is not carved out."""
    bs = grid_blockset(3, 3, households=150)
    block = bs.blocks.geometry.iloc[4]  # the middle block, 150 households
    sites = gpd.GeoDataFrame(
        {col.KIND: ["school"], "name": ["boarding school"]}, geometry=[block], crs=bs.crs
    )
    area = _area_with_sites(bs, sites)
    prepared = Prepared(area=area, blockset=bs, household_source="households layer")
    plan = gis.partition(prepared, seed=0, min_site_area_m2=100, max_site_households=100)
    residential = plan.report.sections["dedicated"]["residential"]
    assert [r[col.HOUSEHOLDS] for r in residential] == [150]
    assert (plan.grids[col.KIND] != DEDICATED).all()


def test_a_site_corner_drawn_a_few_centimetres_off_a_street_crossing_is_snapped_onto_it() -> None:
    bs = grid_blockset(2, 2, households=100)
    x0, y0, _, _ = bs.blocks.total_bounds
    # the south-west block's site, its north-east corner 2 cm off the crossing
    site = shapely.box(x0 + 10, y0 + 10, x0 + 100.02, y0 + 100.02)
    unit = str(bs.blocks[col.UNIT_CODE].iloc[0])
    crossing = shapely.Point(x0 + 100, y0 + 100)

    def nearest_corner_m(tolerances: Tolerances = DEFAULT_TOLERANCES) -> float:
        region = carve_regions(bs, [site], [unit], tolerances=tolerances).regions.geometry
        corners = shapely.points(shapely.get_coordinates(region.iloc[0]))
        return float(shapely.distance(corners, crossing).min())

    assert nearest_corner_m() < 1e-9  # within region_snap_m (5 cm)
    # snapped only within 1 mm, the corner stays where it was drawn
    tight = DEFAULT_TOLERANCES.replace(region_snap_m=1e-3)
    assert nearest_corner_m(tight) == pytest.approx(0.02 * np.sqrt(2), abs=1e-6)
