"""Household estimates from buildings: residential only, floors from the best signal."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from gis import columns as col
from gis.inputs.households import estimate_households
from gis.inputs.prepare import settle_households
from gis.inputs.read import Area

CRS = "EPSG:32651"


def _buildings(rows: list[dict]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def test_floors_come_from_levels_then_height_then_type() -> None:
    b = _buildings(
        [
            {
                "building": "apartments",
                "building:levels": "10",
                "height": 60,
                "geometry": box(0, 0, 20, 30),
            },
            {"building": "apartments", "height": 33.0, "geometry": box(100, 0, 120, 30)},
            {"building": "apartments", "geometry": box(200, 0, 220, 30)},
            {"building": "house", "geometry": box(300, 0, 310, 10)},
        ]
    )
    out = estimate_households(b, dwelling_m2=90, net_to_gross=0.75)
    assert out["floors"].tolist() == [10, 11, 6, 2]
    # footprint 600 m² × 10 floors × 0.75 / 90 m²
    assert out[col.HOUSEHOLDS].iloc[0] == int(600 * 10 * 0.75 / 90)
    assert out[col.HOUSEHOLDS_ESTIMATED].all()
    assert out["residential"].all()


def test_only_residential_buildings_hold_households() -> None:
    b = _buildings(
        [
            {"building": "office", "geometry": box(0, 0, 40, 40)},
            {"building": "yes", "name": "花旗大厦", "geometry": box(100, 0, 140, 40)},
            {"building": "yes", "name": "梅园公寓", "geometry": box(200, 0, 240, 40)},
            {"building": "yes", "height": 300, "geometry": box(300, 0, 340, 40)},
            {"building": "yes", "geometry": box(400, 0, 500, 100)},  # 10,000 m² hall
            {"building": "yes", "geometry": box(600, 0, 620, 20)},  # lane house: default
            {"building": "yes", "geometry": box(700, 0, 720, 20)},  # hotel inside
            {"building": "yes", "geometry": box(800, 0, 820, 20)},  # in a school ground
        ]
    )
    pois = gpd.GeoDataFrame({"kind": ["hotel"]}, geometry=[Point(710, 10)], crs=CRS)
    landuse = gpd.GeoDataFrame({"kind": ["school"]}, geometry=[box(790, -10, 900, 50)], crs=CRS)
    out = estimate_households(b, pois=pois, landuse=landuse)
    assert out["residential"].tolist() == [False, False, True, False, False, True, False, False]
    assert (out.loc[~out["residential"], col.HOUSEHOLDS] == 0).all()
    assert (out.loc[out["residential"], col.HOUSEHOLDS] > 0).all()
    assert out["residential_reason"].tolist()[:4] == ["building type", "name", "name", "tall tower"]


def test_default_residential_can_be_turned_off() -> None:
    b = _buildings([{"building": "yes", "geometry": box(0, 0, 20, 20)}])
    assert estimate_households(b, default_residential=False)[col.HOUSEHOLDS].sum() == 0


@pytest.mark.parametrize(("dwelling", "ratio"), [(60.0, 0.8), (120.0, 0.7)])
def test_parameters_scale_the_estimate(dwelling: float, ratio: float) -> None:
    b = _buildings(
        [{"building": "residential", "building:levels": 6, "geometry": box(0, 0, 30, 30)}]
    )
    out = estimate_households(b, dwelling_m2=dwelling, net_to_gross=ratio)
    assert out[col.HOUSEHOLDS].iloc[0] == int(np.floor(900 * 6 * ratio / dwelling))


def test_settle_prefers_a_households_layer_and_estimates_only_without_counts() -> None:
    boundary = gpd.GeoDataFrame(
        {col.UNIT_CODE: ["U"], col.UNIT_NAME: ["u"]}, geometry=[box(-10, -10, 100, 100)], crs=CRS
    )
    buildings = _buildings([{"building": "apartments", "geometry": box(0, 0, 20, 20)}])
    layer = gpd.GeoDataFrame({col.HOUSEHOLDS: [42]}, geometry=[Point(10, 10)], crs=CRS)
    empty = layer.iloc[0:0]
    kw = {"boundary": boundary, "roads": empty, "buildings": buildings, "crs": boundary.crs}
    _, source, _ = settle_households(Area(households=layer, **kw))
    assert source == "households layer"
    area, source, summary = settle_households(Area(households=empty, **kw))
    assert source == "estimated"
    assert area.buildings[col.HOUSEHOLDS_ESTIMATED].all()
    assert summary["households"] == area.buildings[col.HOUSEHOLDS].sum()
    counted = buildings.assign(households=[5])
    area, source, _ = settle_households(Area(households=empty, **{**kw, "buildings": counted}))
    assert source == "building counts"
    assert area.buildings[col.HOUSEHOLDS].tolist() == [5]


def test_grids_say_whether_their_households_were_estimated() -> None:
    """A grid is flagged when any household it holds was estimated, by the ownership rule."""

    from gis.geometry.ownership import estimated_in  # noqa: PLC0415

    grids = [box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 0, 30, 10)]
    homes = gpd.GeoDataFrame(
        {col.HOUSEHOLDS: [5, 7, 3], col.HOUSEHOLDS_ESTIMATED: [True, False, None]},
        geometry=[Point(5, 5), Point(15, 5), Point(25, 5)],
        crs="EPSG:32651",
    )
    assert estimated_in(grids, homes).tolist() == [True, False, False]
    counted = homes.drop(columns=[col.HOUSEHOLDS_ESTIMATED])
    assert estimated_in(grids, counted).tolist() == [False, False, False]
    on_the_edge = homes.set_geometry([Point(10, 5), Point(15, 5), Point(25, 5)])
    assert estimated_in(grids, on_the_edge).sum() == 1  # one owner, never two
