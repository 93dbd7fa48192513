"""OGC API – Features: structure, links, paging, GeoJSON, and GDAL's OAPIF driver as client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pyogrio
import pytest
import shapely
from service_helpers import Service

CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"


def _check_feature(feature: dict) -> None:
    assert feature["type"] == "Feature"
    assert isinstance(feature["id"], str)
    geom = shapely.geometry.shape(feature["geometry"])
    assert geom.is_valid
    assert feature["geometry"]["type"] in {"Polygon", "MultiPolygon"}
    polys = getattr(geom, "geoms", [geom])
    for poly in polys:  # RFC 7946 §3.1.6: exterior counter-clockwise, holes clockwise
        assert poly.exterior.is_ccw
        assert all(not ring.is_ccw for ring in poly.interiors)
    x, y = shapely.get_coordinates(geom).T
    assert (np.abs(x) <= 180).all()
    assert (np.abs(y) <= 90).all()


def test_landing_conformance_and_collections(service: Service) -> None:
    with service.client() as client:
        landing = client.get("/").json()
        rels = {link["rel"]: link["href"] for link in landing["links"]}
        assert {"self", "service-desc", "conformance", "data"} <= rels.keys()
        assert client.get(rels["service-desc"]).status_code == 200
        assert CORE in client.get("/conformance").json()["conformsTo"]
        collections = client.get("/collections").json()
        ids = [c["id"] for c in collections["collections"]]
        assert "grids" in ids
        assert "units" in ids  # the sample plan is published with its communities
        for c in collections["collections"]:
            assert {link["rel"] for link in c["links"]} >= {"self", "items"}
            assert len(c["extent"]["spatial"]["bbox"][0]) == 4
            one = client.get(f"/collections/{c['id']}").json()
            assert one["id"] == c["id"]
        assert client.get("/collections/nope").status_code == 404


def test_items_page_through_every_grid(service: Service) -> None:
    grids = service.store.read_grids()
    seen: list[str] = []
    with service.client() as client:
        url: str | None = "/collections/grids/items?limit=10"
        while url:
            r = client.get(url)
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("application/geo+json")
            body = r.json()
            assert body["type"] == "FeatureCollection"
            assert body["numberMatched"] == len(grids)
            assert body["numberReturned"] == len(body["features"]) <= 10
            for f in body["features"]:
                _check_feature(f)
            seen += [f["id"] for f in body["features"]]
            nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
            url = nxt[0] if nxt else None
    assert seen == sorted(grids["grid_code"])


def test_items_geometries_equal_the_stored_ones_exactly(service: Service) -> None:
    grids = service.store.read_grids().set_index("grid_code")
    with service.client() as client:
        body = client.get("/collections/grids/items", params={"limit": 1000}).json()
    for f in body["features"]:
        got = shapely.geometry.shape(f["geometry"])
        want = grids.geometry[f["id"]]
        assert shapely.equals_exact(shapely.normalize(got), shapely.normalize(want), 0)
        assert f["properties"]["households"] == int(grids.loc[f["id"], "households"])


def test_bbox_item_and_bad_parameters(service: Service) -> None:
    grids = service.store.read_grids()
    first = grids.iloc[0]
    x0, y0, x1, y1 = first.geometry.bounds
    with service.client() as client:
        sub = client.get("/collections/grids/items", params={"bbox": f"{x0},{y0},{x1},{y1}"}).json()
        want = grids[grids.intersects(shapely.box(x0, y0, x1, y1))]["grid_code"]
        assert sorted(f["id"] for f in sub["features"]) == sorted(want)
        item = client.get(f"/collections/grids/items/{first['grid_code']}")
        assert item.status_code == 200
        _check_feature(item.json())
        assert client.get("/collections/grids/items/nope").status_code == 404
        for bad in ("1,2,3", "a,b,c,d", "0,0,200,1", "10,0,5,1", "nan,0,1,1"):
            r = client.get("/collections/grids/items", params={"bbox": bad})
            assert r.status_code == 400, bad  # OGC API Features: 400, not 422
            assert r.json()["code"] == "InvalidParameterValue"
            assert "bbox" in r.json()["description"]
        for params in ({"limit": 0}, {"offset": -1}, {"limit": "abc"}):
            r = client.get("/collections/grids/items", params=params)
            assert r.status_code == 400, params
            assert set(r.json()) >= {"code", "description"}
        v1 = client.get("/collections/grids/items", params={"version": 1, "limit": 1}).json()
        assert v1["features"][0]["properties"]["version_id"] == 1
        assert client.get("/collections/grids/items", params={"version": 99}).status_code == 404


def _ogr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_gdal_lists_collections_and_copies_every_grid(service: Service, tmp_path: Path) -> None:
    info = _ogr("ogrinfo", "-ro", "-so", f"OAPIF:{service.url}/")
    assert info.returncode == 0, info.stderr
    assert "grids" in info.stdout
    out = tmp_path / "copy.gpkg"
    copy = _ogr("ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{service.url}/", "grids")
    assert copy.returncode == 0, copy.stderr
    copied = pyogrio.read_dataframe(out, layer="grids")
    stored = service.store.read_grids()
    assert len(copied) == len(stored)
    code_field = "grid_code" if "grid_code" in copied.columns else "id"
    copied = copied.set_index(code_field).sort_index()
    stored = stored.set_index("grid_code").sort_index()
    assert list(copied.index) == list(stored.index)
    for code in stored.index:
        a = shapely.normalize(copied.geometry[code])
        b = shapely.normalize(stored.geometry[code])
        assert shapely.equals_exact(a, b, 0), code


def test_feature_json_is_standard_geojson(gpkg_service: Service, tmp_path: Path) -> None:
    with gpkg_service.client() as client:
        body = client.get("/collections/grids/items", params={"limit": 1000}).json()
    path = tmp_path / "items.geojson"
    path.write_text(json.dumps(body))
    frame = gpd.read_file(path)
    assert len(frame) == body["numberReturned"]
    assert frame.crs.to_epsg() == 4326


@pytest.mark.parametrize(
    "path",
    [
        "/collections/grids/items?limit=abc",
        "/tiles/1/3/9/0.mvt",
        "/tiles/x/1/1/1.mvt",
        "/lookup/batch?format=xml",
    ],
)
def test_bad_paths_never_500(gpkg_service: Service, path: str) -> None:
    with gpkg_service.client() as client:
        r = client.request("POST" if "batch" in path else "GET", path, json={"points": []})
    assert 400 <= r.status_code < 500, r.text


def test_docs_and_openapi(gpkg_service: Service) -> None:
    with gpkg_service.client() as client:
        assert client.get("/docs").status_code == 200
        spec = client.get("/openapi.json").json()
    for path in (
        "/lookup",
        "/lookup/batch",
        "/lookup/address",
        "/collections/{collection_id}/items",
        "/tiles/{version}/{z}/{x}/{y}.mvt",
        "/versions",
    ):
        assert path in spec["paths"], path


def test_importing_the_app_reads_no_environment() -> None:
    env = {"PATH": "/usr/bin:/bin", "WANGGE_MAX_ITEMS": "not-a-number"}
    done = subprocess.run(
        [sys.executable, "-c", "import api.main, api.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_reads_can_require_a_key(gpkg_service: Service) -> None:
    from api.main import create_app  # noqa: PLC0415
    from api.server import serve_in_thread  # noqa: PLC0415

    settings = gpkg_service.settings.model_copy(update={"read_requires_key": True})
    server = serve_in_thread(create_app(settings))
    try:
        with httpx.Client(base_url=server.url) as client:
            open_ = client.get("/collections")
            keyed = client.get("/collections", headers={"X-API-Key": "reader-key"})
            wrong = client.get(
                "/lookup", params={"lon": 121.49, "lat": 31.24}, headers={"X-API-Key": "nope"}
            )
    finally:
        server.stop()
    assert open_.status_code == 401
    assert keyed.status_code == 200
    assert wrong.status_code == 401
