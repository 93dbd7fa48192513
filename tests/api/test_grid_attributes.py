"""What a grid is, served (issue 16, item 3): the site a dedicated grid serves, whether its
households were estimated, the level names of its units, and the unit cell of a point, on
both stores through /lookup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx
import pytest
import shapely
from service_helpers import squares_plan
from shapely.geometry import box

from api.main import create_app
from api.server import serve_in_thread
from api.settings import Settings
from gis import columns as col
from gis.store import open_store

COMMUNITY, TOWN = "310101002001", "310101002"


def _plan() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """3×3 grids of 200 m: the first a dedicated school, the second with estimated households;
    the first ordinary grid cut into two unit cells; the community and its street office."""
    grids = squares_plan(3).sort_values(col.GRID_CODE).reset_index(drop=True)
    grids["site_kind"] = [None] * len(grids)
    grids["site_name"] = [None] * len(grids)
    grids[col.HOUSEHOLDS_ESTIMATED] = False
    grids.loc[0, [col.KIND, "site_kind", "site_name"]] = ["dedicated", "school", "示例小学"]
    grids.loc[1, col.HOUSEHOLDS_ESTIMATED] = True
    x0, y0, x1, y1 = grids.geometry.iloc[1].bounds
    mid = (x0 + x1) / 2
    code = str(grids[col.GRID_CODE].iloc[1])
    cells = gpd.GeoDataFrame(
        {"cell_code": [f"{code}01", f"{code}02"], col.GRID_CODE: [code, code],
         col.HOUSEHOLDS: [150, 150]},
        geometry=[box(x0, y0, mid, y1), box(mid, y0, x1, y1)], crs=grids.crs,
    )  # fmt: skip
    outline = shapely.union_all(grids.geometry.to_numpy())
    units = gpd.GeoDataFrame(
        {col.UNIT_CODE: [COMMUNITY, TOWN], col.UNIT_NAME: ["示例社区", "示例街道"],
         "level": ["community", "street"], col.PARENT_CODE: [TOWN, None]},
        geometry=[outline, outline], crs=grids.crs,
    )  # fmt: skip
    return grids, cells, units


def _wgs84(geom: shapely.Geometry, crs: object) -> tuple[float, float]:
    point = gpd.GeoSeries([geom], crs=crs).to_crs(4326).iloc[0]
    return point.x, point.y


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[httpx.Client]:
    if request.param == "postgis":
        pg = request.getfixturevalue("pg_schema")
        settings = Settings(database_url=pg.url, db_schema=pg.schema, poll_interval_s=0.2)
    else:
        settings = Settings(store_path=tmp_path / "plans.gpkg", poll_interval_s=0.2)
    grids, cells, units = _plan()
    with open_store(settings.store_url, schema=settings.db_schema) as store:
        store.publish(grids, author="tests", cells=cells, units=units)
        stored = store.read_grids().set_index(col.GRID_CODE)
        assert stored.loc[grids[col.GRID_CODE].iloc[0], "site_name"] == "示例小学"
        assert bool(stored.loc[grids[col.GRID_CODE].iloc[1], col.HOUSEHOLDS_ESTIMATED])
    server = serve_in_thread(create_app(settings))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
    server.stop()


def test_lookup_says_what_the_grid_is_and_the_cell(client: httpx.Client) -> None:
    grids, cells, _ = _plan()
    school = _wgs84(grids.geometry.iloc[0].centroid, grids.crs)
    found = client.get("/lookup", params={"lon": school[0], "lat": school[1]}).json()
    assert found["grid"]["kind"] == "dedicated"
    assert (found["grid"]["site_kind"], found["grid"]["site_name"]) == ("school", "示例小学")
    assert found["grid"]["households_estimated"] is False
    assert found["cell"] is None  # the school grid has no cells
    assert [(p["code"], p["level_label"]) for p in found["parents"]] == [
        (COMMUNITY, "社区"),
        (TOWN, "街道"),
    ]
    for k in range(2):
        inside = _wgs84(cells.geometry.iloc[k].centroid, cells.crs)
        answer = client.get("/lookup", params={"lon": inside[0], "lat": inside[1]}).json()
        assert answer["grid"]["grid_code"] == cells[col.GRID_CODE].iloc[k]
        assert answer["grid"]["households_estimated"] is True
        assert answer["grid"]["site_kind"] is None
        assert answer["cell"] == {"cell_code": cells["cell_code"].iloc[k], "households": 150}


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def own_band(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[httpx.Client]:
    """A version whose community was partitioned with its own band 500–800 (rules per unit):
    the plan's band is 300–800."""
    if request.param == "postgis":
        pg = request.getfixturevalue("pg_schema")
        settings = Settings(database_url=pg.url, db_schema=pg.schema, poll_interval_s=0.2)
    else:
        settings = Settings(store_path=tmp_path / "plans.gpkg", poll_interval_s=0.2)
    grids = squares_plan(3)
    with open_store(settings.store_url, schema=settings.db_schema) as store:
        store.publish(
            grids, author="tests", parameters={"unit_bands": {COMMUNITY: [500, 800, 650]}}
        )
    server = serve_in_thread(create_app(settings))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
    server.stop()


def test_a_unit_with_its_own_band_is_judged_by_it(own_band: httpx.Client) -> None:
    """Every grid of the community holds 300–448 households: within the plan's 300–800, but
    under the community's own 500–800; lookups, features and tiles all say so."""
    import math  # noqa: PLC0415

    import mapbox_vector_tile  # noqa: PLC0415

    grids = squares_plan(3)
    lon, lat = _wgs84(grids.geometry.iloc[4].centroid, grids.crs)
    assert (
        own_band.get("/lookup", params={"lon": lon, "lat": lat}).json()["grid"]["load"] == "under"
    )
    items = own_band.get("/collections/grids/items").json()["features"]
    assert {f["properties"]["load"] for f in items} == {"under"}
    z = 15
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    tile = own_band.get(f"/tiles/1/{z}/{x}/{y}.mvt")
    assert tile.status_code == 200
    feats = mapbox_vector_tile.decode(tile.content)["grids"]["features"]
    assert feats
    assert {f["properties"]["load"] for f in feats} == {"under"}
