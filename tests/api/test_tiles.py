"""Vector tiles: decoded with mapbox-vector-tile, they hold the grids the tile covers."""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
import shapely
from service_helpers import Service

from gis.serving.features import tile_bounds


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tiles_over(bounds: tuple[float, ...], z: int) -> list[tuple[int, int]]:
    x0, y1 = tile_of(bounds[0], bounds[1], z)
    x1, y0 = tile_of(bounds[2], bounds[3], z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


@pytest.mark.parametrize("z", [12, 14, 15])
def test_decoded_tiles_hold_the_expected_grids(service: Service, z: int) -> None:
    grids = service.store.read_grids().to_crs(3857)
    live = service.store.version().id
    with service.client() as client:
        for x, y in tiles_over(tuple(service.store.read_grids().total_bounds), z):
            r = client.get(f"/tiles/{live}/{z}/{x}/{y}.mvt")
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
            assert "immutable" in r.headers["cache-control"]
            layers = mapbox_vector_tile.decode(r.content) if r.content else {}
            got = {
                f["properties"]["grid_code"] for f in layers.get("grids", {}).get("features", [])
            }
            box = shapely.box(*tile_bounds(z, x, y))
            size = box.bounds[2] - box.bounds[0]
            inner = grids[grids.intersects(box.buffer(-size / 512))]["grid_code"]
            outer = grids[grids.intersects(box.buffer(size * 64 / 4096 + 1))]["grid_code"]
            assert set(inner) <= got <= set(outer), (z, x, y)
            for f in layers.get("grids", {}).get("features", []):
                assert f["properties"]["load"] in {"under", "within", "over", "dedicated"}
                assert f["geometry"]["type"] in {"Polygon", "MultiPolygon"}
            label_layer = layers.get("grid_labels", {"features": []})
            labels = {f["properties"]["grid_code"] for f in label_layer["features"]}
            assert labels <= got


def test_tile_of_an_old_version_has_its_households(service: Service) -> None:
    v1, v2 = service.store.versions()[:2]
    grids = service.store.read_grids()
    c = grids.geometry.iloc[0].representative_point()
    x, y = tile_of(c.x, c.y, 15)
    code = grids["grid_code"].iloc[0]

    def households(version: int) -> int:
        with service.client() as client:
            data = client.get(f"/tiles/{version}/15/{x}/{y}.mvt").content
        feats = mapbox_vector_tile.decode(data)["grids"]["features"]
        return next(
            int(f["properties"]["households"])
            for f in feats
            if f["properties"]["grid_code"] == code
        )

    assert households(v2.id) == households(v1.id) + 50


def test_postgis_and_memory_tiles_agree(gpkg_service: Service, pg_service: Service) -> None:
    bounds = tuple(gpkg_service.store.read_grids().total_bounds)
    for x, y in tiles_over(bounds, 14):
        sets = []
        for service in (gpkg_service, pg_service):
            with service.client() as client:
                data = client.get(f"/tiles/2/14/{x}/{y}.mvt").content
            layers = mapbox_vector_tile.decode(data) if data else {}
            sets.append(
                {f["properties"]["grid_code"] for f in layers.get("grids", {}).get("features", [])}
            )
        assert sets[0] == sets[1]


def test_tilejson_and_basemap(service: Service) -> None:
    with service.client() as client:
        tj = client.get("/tiles/live/tilejson.json")
        assert tj.status_code == 200
        body = tj.json()
        live = service.store.version().id
        assert body["tiles"][0].endswith(f"/tiles/{live}/{{z}}/{{x}}/{{y}}.mvt")
        assert "wangge" in body["attribution"]  # the plan is ours, not OpenStreetMap's
        assert "OpenStreetMap" not in body["attribution"]
        assert tj.headers["cache-control"] == "no-cache"
        x, y = tiles_over(tuple(body["bounds"]), 15)[0]
        base = client.get(f"/basemap/15/{x}/{y}.mvt")
        assert base.status_code == 200
        assert set(mapbox_vector_tile.decode(base.content)) & {"roads", "buildings"}
        assert client.get("/tiles/1/3/8/0.mvt").status_code == 422
        assert client.get("/tiles/1/23/0/0.mvt").status_code == 422
        assert client.get("/tiles/99/3/1/1.mvt").status_code == 404
