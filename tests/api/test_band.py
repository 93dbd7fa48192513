"""Every version is coloured and reported by its own band, on both stores and on every path:
tiles (memory and ``ST_AsMVT``), OGC features, lookups, batches, TileJSON, the version list.

The session's two versions hold the same grids, version 2 with 50 more households in each and
judged by a narrower band (400–600 instead of 300–800), so a global band could not give both.
"""

from __future__ import annotations

import json
import math

import geopandas as gpd
import httpx
import mapbox_vector_tile
import pytest
import shapely
from service_helpers import BAND_V1, BAND_V2, Service

from api.main import create_app
from api.server import serve_in_thread
from api.settings import Settings
from gis import columns as col
from gis.options import Band
from gis.store import open_store


def expected_load(households: int, kind: str, band: Band) -> str:
    if kind == "dedicated":
        return "dedicated"
    if households < band.min_households:
        return "under"
    return "over" if households > band.max_households else "within"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def _loads(service: Service, version: int) -> dict[str, str]:
    """Grid code → load as the grids collection gives it for one version."""
    with service.client() as client:
        body = client.get(
            "/collections/grids/items", params={"version": version, "limit": 10_000}
        ).json()
    return {f["id"]: f["properties"]["load"] for f in body["features"]}


def test_versions_carry_their_own_band(service: Service) -> None:
    v1, v2 = service.store.versions()[:2]
    assert (v1.band, v2.band) == (BAND_V1, BAND_V2)
    with service.client() as client:
        listed = client.get("/versions").json()
        assert [v["band"] for v in listed[:2]] == [BAND_V1.to_dict(), BAND_V2.to_dict()]
        for info in (v1, v2):
            tj = client.get(f"/tiles/{info.id}/tilejson.json").json()
            assert tj["band"] == info.band.to_dict()
            grids = client.get("/collections/grids", params={"version": info.id}).json()
            assert (grids["version"], grids["band"]) == (info.id, info.band.to_dict())


def test_features_are_judged_by_their_versions_band(service: Service) -> None:
    versions = service.store.versions()[:2]
    seen = {}
    for info in versions:
        grids = service.store.read_grids(info.id)
        want = {
            str(c): expected_load(int(h), str(k), info.band)
            for c, h, k in zip(
                grids[col.GRID_CODE], grids[col.HOUSEHOLDS], grids[col.KIND], strict=True
            )
        }
        seen[info.id] = _loads(service, info.id)
        assert seen[info.id] == want
    assert seen[versions[0].id] != seen[versions[1].id]  # a global band could not do this


def test_tiles_are_coloured_by_their_versions_band(service: Service) -> None:
    v1, v2 = service.store.versions()[:2]
    grids = service.store.read_grids(v2.id)
    with service.client() as client:
        for point in shapely.point_on_surface(grids.geometry.to_numpy())[:12]:
            x, y = tile_of(point.x, point.y, 15)
            for info in (v1, v2):
                data = client.get(f"/tiles/{info.id}/15/{x}/{y}.mvt").content
                for f in mapbox_vector_tile.decode(data)["grids"]["features"]:
                    p = f["properties"]
                    assert p["load"] == expected_load(p["households"], p["kind"], info.band)
        loads = [_loads(service, v.id) for v in (v1, v2)]
        differs = sum(loads[0][code] != loads[1][code] for code in loads[0])
    assert differs > 0


def test_lookups_report_the_band_of_the_version_they_answer_from(service: Service) -> None:
    v1, v2 = service.store.versions()[:2]
    grids = service.store.read_grids(v2.id).set_index(col.GRID_CODE)
    points = shapely.point_on_surface(grids.geometry.to_numpy())[:10]
    with service.client() as client:
        for code, point in zip(grids.index, points, strict=False):
            for info, as_of in ((v2, None), (v1, v1.valid_from.isoformat())):
                params = {"lon": point.x, "lat": point.y} | ({"as_of": as_of} if as_of else {})
                body = client.get("/lookup", params=params).json()
                assert body["grid"]["grid_code"] == code
                assert body["version"]["id"] == info.id
                assert body["version"]["band"] == info.band.to_dict()
                hh = body["grid"]["households"]
                assert body["grid"]["load"] == expected_load(hh, body["grid"]["kind"], info.band)
        batch = client.post("/lookup/batch", json={"points": [[p.x, p.y] for p in points]}).json()
    assert batch["version"]["band"] == v2.band.to_dict()
    for code, attrs in batch["grids"].items():
        want = expected_load(int(grids.loc[code, "households"]), grids.loc[code, "kind"], v2.band)
        assert attrs["load"] == want


@pytest.fixture
def small_plan(sample_plan: tuple) -> gpd.GeoDataFrame:
    """Ten grids of the sample plan, EPSG:4326."""
    return sample_plan[0].to_crs(4326).iloc[:10]


def test_a_band_published_through_the_api_colours_its_version(
    small_plan: gpd.GeoDataFrame, tmp_path
) -> None:
    path = tmp_path / "p.gpkg"
    with open_store(path) as store:
        store.publish(small_plan, author="t")  # no band: read as the default band
    settings = Settings(store_path=path, api_keys={"k": ["publisher"]}, poll_interval_s=0)
    server = serve_in_thread(create_app(settings))
    features = json.loads(small_plan[[col.GRID_CODE, col.KIND, col.HOUSEHOLDS, col.PARENT_CODE,
                                       col.PARENT_NAME, "geometry"]].to_json())  # fmt: skip
    tiny = {"min_households": 10, "max_households": 20}  # every ordinary grid lies above it
    p = shapely.point_on_surface(small_plan.geometry.iloc[0])
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            before = client.get("/lookup", params={"lon": p.x, "lat": p.y}).json()
            headers = {"X-API-Key": "k"}
            made = client.post("/versions", params={"author": "api"}, headers=headers,
                               json={"grids": features, "band": tiny})  # fmt: skip
            after = client.get("/lookup", params={"lon": p.x, "lat": p.y}).json()
            items = client.get("/collections/grids/items", params={"version": 2}).json()
            bad = client.post("/versions", params={"author": "api"}, headers=headers,
                              json={"grids": features, "band": {"min_households": 30,
                                                                "max_households": 20}})  # fmt: skip
            listed = client.get("/versions").json()
    finally:
        server.stop()
    assert before["version"]["band"] == Band().to_dict()
    assert made.status_code == 201, made.text
    assert made.json()["band"] == {**tiny, "target": 15}  # 500 is outside: the middle
    assert after["version"]["id"] == 2
    assert after["version"]["band"] == made.json()["band"]
    ordinary = [f for f in items["features"] if f["properties"]["kind"] == "ordinary"]
    assert ordinary
    assert {f["properties"]["load"] for f in ordinary} == {"over"}
    assert bad.status_code == 422
    assert "min_households" in bad.json()["detail"]
    assert len(listed) == 2  # the refused plan wrote nothing
