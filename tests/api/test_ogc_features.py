"""OGC API Features Parts 1–3 over HTTP: 400s with OGC exception bodies, limit clamped,
datetime → the version valid then, crs / bbox-crs with CGCS2000 latitude first, queryables,
CQL2 text filters, and cells listed only when a version has them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from service_helpers import BAND_V1, Service
from shapely.geometry import box

from api.main import create_app
from api.server import serve_in_thread
from gis import columns as col
from gis.store import open_store

EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
ITEMS = "/collections/grids/items"


def _iso(moment: object) -> str:
    return moment.isoformat().replace("+00:00", "Z")  # type: ignore[attr-defined]


def small_plan() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """3×3 squares of 200 m by the Bund, each cut into 4 cells."""
    x0, y0, step = 355_400.0, 3_456_500.0, 200.0
    grids, cells = [], []
    for r in range(3):
        for c in range(3):
            code = f"310101002001-{r}{c}"
            sq = box(x0 + c * step, y0 + r * step, x0 + (c + 1) * step, y0 + (r + 1) * step)
            grids.append({col.GRID_CODE: code, col.KIND: "ordinary", col.HOUSEHOLDS: 400 + r,
                          col.PARENT_CODE: "310101002001", col.PARENT_NAME: "演示社区",
                          "geometry": sq})  # fmt: skip
            a, b, h = *sq.bounds[:2], step / 2
            for k, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
                quarter = box(a + i * h, b + j * h, a + (i + 1) * h, b + (j + 1) * h)
                cells.append({"cell_code": f"{code}-{k}", col.GRID_CODE: code,
                              col.HOUSEHOLDS: 100, "geometry": quarter})  # fmt: skip
    return (
        gpd.GeoDataFrame(grids, geometry="geometry", crs="EPSG:32651"),
        gpd.GeoDataFrame(cells, geometry="geometry", crs="EPSG:32651"),
    )


@pytest.fixture(scope="module")
def cells_service(
    gpkg_service: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """A service whose one version has cells, and a page maximum of 4 items."""
    path: Path = tmp_path_factory.mktemp("cells") / "plans.gpkg"
    grids, cells = small_plan()
    store = open_store(path)
    store.publish(grids, author="tests", note="with cells", cells=cells, band=BAND_V1)
    settings = gpkg_service.settings.model_copy(update={"store_path": path, "max_items": 4})
    server = serve_in_thread(create_app(settings))
    yield Service("geopackage", server.url, store, settings, server)
    server.stop()
    store.close()


def test_bad_and_unknown_parameters_are_400_with_an_ogc_exception(gpkg_service: Service) -> None:
    code = gpkg_service.store.read_grids()["grid_code"].iloc[0]
    cases = [
        (ITEMS, {"kind": "dedicated"}), (ITEMS, {"grid_code": code}), (ITEMS, {"foo": "1"}),
        (ITEMS, {"limit": "abc"}), (ITEMS, {"limit": 0}), (ITEMS, {"bbox": "1,2,3"}),
        (ITEMS, {"datetime": "yesterday"}), (ITEMS, {"datetime": "../.."}),
        (ITEMS, {"crs": "EPSG:3857"}), (ITEMS, {"bbox-crs": "EPSG:2000", "bbox": "0,0,1,1"}),
        (ITEMS, {"filter": "households >"}), (ITEMS, {"filter": "nope = 1"}),
        (ITEMS, {"filter": "households = 'many'"}), (ITEMS, {"filter-lang": "cql2-json"}),
        (ITEMS, {"version": 1, "datetime": "2020-01-01T00:00:00Z"}),
        (ITEMS, {"datetime": "0001-01-01T00:00:00+01:00"}),
        (ITEMS, {"filter": "households > 0 AND " * 600 + "households > 0"}),
        (ITEMS, {"filter": "S_INTERSECTS(geometry, households)"}),
        (f"{ITEMS}/{code}", {"foo": "1"}), (f"{ITEMS}/{code}", {"crs": "EPSG:900913"}),
        (ITEMS, {"f": "html"}),
    ]  # fmt: skip
    with gpkg_service.client() as client:
        for path, params in cases:
            r = client.get(path, params=params)
            assert r.status_code == 400, (path, params, r.text)
            body = r.json()
            assert body["code"] == "InvalidParameterValue", body
            assert body["description"], body
        assert "kind" in client.get(ITEMS, params={"kind": "x"}).json()["description"]
        assert client.get(ITEMS, params={"f": "json", "limit": 1}).status_code == 200
        missing = client.get("/collections/nope/items")
        assert missing.status_code == 404
        assert missing.json()["code"] == "NotFound"
        spec = client.get("/openapi.json").json()
    op = spec["paths"]["/collections/{collection_id}/items"]["get"]
    assert "422" not in op["responses"]
    assert op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "OgcException"
    )
    assert {"code", "description"} <= set(
        spec["components"]["schemas"]["OgcException"]["properties"]
    )
    assert spec["openapi"].startswith("3.1")


def test_an_over_maximum_limit_is_clamped(cells_service: Service) -> None:
    with cells_service.client() as client:
        r = client.get(ITEMS, params={"limit": 1_000_000})
        assert r.status_code == 200
        body = r.json()
        assert body["numberMatched"] == 9
        assert body["numberReturned"] == 4  # the service's maximum, not a 422
        nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
        assert "limit=4" in nxt


def test_datetime_selects_the_version_valid_then(gpkg_service: Service) -> None:
    v1, v2 = gpkg_service.store.versions()[:2]
    between = v1.valid_from + (v2.valid_from - v1.valid_from) / 2
    before = v1.valid_from - timedelta(days=1)
    cases = {
        _iso(between): 1, _iso(v2.valid_from + timedelta(seconds=1)): 2,
        f"../{_iso(between)}": 1, f"{_iso(before)}/{_iso(between)}": 1,
        f"{_iso(between)}/..": 2, "2999-01-01T00:00:00Z": 2,
    }  # fmt: skip
    with gpkg_service.client() as client:
        for when, want in cases.items():
            body = client.get(ITEMS, params={"datetime": when, "limit": 1000}).json()
            got = {f["properties"]["version_id"] for f in body["features"]}
            assert got == {want}, when
            assert body["numberMatched"] == len(gpkg_service.store.read_grids(want))
            nxt = [link["href"] for link in body["links"] if link["rel"] == "self"]
            assert f"version={want}" in nxt[0]
            assert "datetime" not in nxt[0]
        empty = client.get(ITEMS, params={"datetime": _iso(before)}).json()
        assert empty["features"] == []
        assert empty["numberMatched"] == 0
        grids = client.get("/collections/grids").json()
    interval = grids["extent"]["temporal"]["interval"]
    assert interval[0][0].startswith(v1.valid_from.strftime("%Y-%m-%dT%H:%M:%S"))
    assert interval[0][1] is None


def test_crs_4490_is_latitude_first_and_bbox_crs_is_honoured(gpkg_service: Service) -> None:
    stored = gpkg_service.store.read_grids().set_index("grid_code")
    code = stored.index[0]
    x0, y0, x1, y1 = stored.geometry[code].bounds
    with gpkg_service.client() as client:
        r = client.get(f"{ITEMS}/{code}", params={"crs": EPSG4490})
        assert r.status_code == 200
        assert r.headers["content-crs"] == f"<{EPSG4490}>"
        lat_lon = shapely.geometry.shape(r.json()["geometry"])
        lon_lat = shapely.transform(lat_lon, lambda xy: xy[:, ::-1])
        assert shapely.equals_exact(
            shapely.normalize(lon_lat), shapely.normalize(stored.geometry[code]), 1e-9
        )
        plain = client.get(f"{ITEMS}/{code}")
        assert plain.headers["content-crs"] == f"<{CRS84}>"
        by_lonlat = client.get(ITEMS, params={"bbox": f"{x0},{y0},{x1},{y1}"}).json()
        by_latlon = client.get(
            ITEMS, params={"bbox": f"{y0},{x0},{y1},{x1}", "bbox-crs": EPSG4490, "crs": EPSG4490}
        ).json()
        assert {f["id"] for f in by_latlon["features"]} == {f["id"] for f in by_lonlat["features"]}
        assert code in {f["id"] for f in by_latlon["features"]}
        collection = client.get("/collections/grids").json()
        conformance = client.get("/conformance").json()["conformsTo"]
        landing = client.get("/").json()
    assert {CRS84, EPSG4490} <= set(collection["crs"])
    assert collection["storageCrs"] == CRS84
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conformance
    assert not [c for c in conformance if c.endswith("/oas30")]  # FastAPI serves OpenAPI 3.1
    desc = next(link for link in landing["links"] if link["rel"] == "service-desc")
    assert desc["type"] == "application/vnd.oai.openapi+json;version=3.1"


def test_queryables_and_cql2_filters(gpkg_service: Service) -> None:
    grids = gpkg_service.store.read_grids()
    parent = grids["parent_code"].iloc[0]
    some = sorted(grids["grid_code"])[:3]
    cases = {
        "households > 600": grids["households"] > 600,
        "kind = 'dedicated'": grids["kind"] == "dedicated",
        "households BETWEEN 400 AND 700 AND NOT kind = 'dedicated'":
            grids["households"].between(400, 700) & (grids["kind"] != "dedicated"),
        f"parent_code LIKE '{parent[:6]}%'": grids["parent_code"].str.startswith(parent[:6]),
        f"grid_code IN ('{some[0]}', '{some[1]}', '{some[2]}')": grids["grid_code"].isin(some),
        "kind = 'dedicated' OR households < 300":
            (grids["kind"] == "dedicated") | (grids["households"] < 300),
    }  # fmt: skip
    with gpkg_service.client() as client:
        schema = client.get("/collections/grids/queryables")
        assert schema.status_code == 200
        assert schema.headers["content-type"].startswith("application/schema+json")
        props = schema.json()["properties"]
        assert {"grid_code", "kind", "households", "parent_code", "parent_name"} <= set(props)
        assert props["households"]["type"] == "integer"
        for text, want in cases.items():
            body = client.get(
                ITEMS, params={"filter": text, "filter-lang": "cql2-text", "limit": 1000}
            ).json()
            assert sorted(f["id"] for f in body["features"]) == sorted(grids["grid_code"][want])
            assert body["numberMatched"] == int(want.sum()), text
        assert client.get("/collections/nope/queryables").status_code == 404
        conformance = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in conformance
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in conformance


def test_cells_are_listed_only_with_features_and_a_real_extent(
    gpkg_service: Service, cells_service: Service
) -> None:
    with gpkg_service.client() as client:  # the session plan was published without cells
        ids = [c["id"] for c in client.get("/collections").json()["collections"]]
        assert "cells" not in ids
        assert client.get("/collections/cells").status_code == 404
        assert client.get("/collections/cells/items").status_code == 404
    cells = cells_service.store.read_cells()
    with cells_service.client() as client:
        listed = {c["id"]: c for c in client.get("/collections").json()["collections"]}
        assert "cells" in listed
        bbox = listed["cells"]["extent"]["spatial"]["bbox"][0]
        assert bbox == pytest.approx(list(cells.total_bounds), abs=1e-12)
        items = client.get("/collections/cells/items", params={"filter": "households = 100"})
        assert items.json()["numberMatched"] == len(cells) == 36
