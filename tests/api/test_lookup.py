"""``/lookup`` and ``/lookup/batch`` against the library and the SQL path, on both stores."""

from __future__ import annotations

import io
import itertools
import math
from collections import Counter

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pandas as pd
import psycopg
import pyproj
import pytest
import shapely
from service_helpers import Service

from gis.geometry.coords import wgs84_to_bd09, wgs84_to_gcj02
from gis.serving.lookup import locate_exact, locate_sql
from gis.store.plan import pick_grid

GEOD = pyproj.Geod(ellps="WGS84")
# eviltransform's published pairs (WGS lat, lon → GCJ lat, lon), as in tests/gis/test_coords.py
GCJ_VECTORS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]
BD_EXAMPLE_BD09 = (116.41036949371029, 39.92133699351021)  # BD-09 of GCJ (116.404, 39.915)


def batch(service: Service, lon: np.ndarray, lat: np.ndarray, crs: str = "wgs84") -> list:
    with service.client() as client:
        r = client.post(
            "/lookup/batch", json={"crs": crs, "points": np.column_stack([lon, lat]).tolist()}
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(lon)
    return body["results"]


def shared_points(grids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices on ≥ 2 grids and midpoints of edges shared by 2 grids (lon, lat, is_vertex)."""
    coords = []
    owners: dict[tuple[float, float], set[int]] = {}
    edges: Counter[tuple[tuple[float, float], tuple[float, float]]] = Counter()
    for i, geom in enumerate(grids.geometry):
        for ring in shapely.get_rings(geom):
            xy = [tuple(p) for p in shapely.get_coordinates(ring)]
            for p in xy[:-1]:
                owners.setdefault(p, set()).add(i)
            for a, b in itertools.pairwise(xy):
                edges[(min(a, b), max(a, b))] += 1
    vertices = [p for p, who in owners.items() if len(who) >= 2]
    mids = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for (a, b), n in edges.items() if n >= 2]
    coords = vertices + mids
    flags = np.array([True] * len(vertices) + [False] * len(mids))
    arr = np.asarray(coords, dtype=float)
    return arr[:, 0], arr[:, 1], flags


def library(grids, lon: np.ndarray, lat: np.ndarray) -> list:
    g = grids.sort_values("grid_code").reset_index(drop=True)
    geoms = g.geometry.to_numpy()
    pos = locate_exact(shapely.STRtree(geoms), geoms, lon, lat)
    codes = g["grid_code"].to_numpy()
    return [None if p < 0 else str(codes[p]) for p in pos]


def sql_path(service: Service, version: int, lon: np.ndarray, lat: np.ndarray) -> list:
    options = f"-c search_path={service.settings.db_schema},public"
    with psycopg.connect(service.settings.database_url, options=options) as conn:
        return locate_sql(conn, version, lon, lat)


def test_10000_random_points_agree_with_library_and_sql(service: Service) -> None:
    grids = service.store.read_grids()
    x0, y0, x1, y1 = grids.total_bounds
    rng = np.random.default_rng(7)
    lon = rng.uniform(x0 - 0.002, x1 + 0.002, 10_000)
    lat = rng.uniform(y0 - 0.002, y1 + 0.002, 10_000)
    got = batch(service, lon, lat)
    assert got == library(grids, lon, lat)
    assert 0 < sum(c is not None for c in got) < len(got)  # inside and outside both tested
    sub = slice(0, 300)
    assert got[sub] == [pick_grid(grids, a, b) for a, b in zip(lon[sub], lat[sub], strict=True)]
    if service.kind == "postgis":
        assert got == sql_path(service, service.store.version().id, lon, lat)


def test_every_shared_vertex_and_edge_midpoint_gets_one_agreed_grid(service: Service) -> None:
    grids = service.store.read_grids()
    lon, lat, is_vertex = shared_points(grids)
    assert is_vertex.sum() > 20
    assert (~is_vertex).sum() > 20
    got = batch(service, lon, lat)
    assert all(code is not None for code in got)  # shared ⇒ inside the plan ⇒ one grid
    assert got == library(grids, lon, lat)
    assert got == [pick_grid(grids, a, b) for a, b in zip(lon, lat, strict=True)]
    if service.kind == "postgis":
        assert got == sql_path(service, service.store.version().id, lon, lat)
        some = range(0, len(lon), max(1, len(lon) // 60))
        assert [got[i] for i in some] == [service.store.grid_at(lon[i], lat[i]) for i in some]


def test_single_lookup_matches_batch_and_reports_the_chain(service: Service) -> None:
    grids = service.store.read_grids()
    points = shapely.point_on_surface(grids.geometry.to_numpy())
    with service.client() as client:
        for code, p in zip(grids["grid_code"], points[:15], strict=False):
            r = client.get("/lookup", params={"lon": p.x, "lat": p.y})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["grid"]["grid_code"] == code
            assert body["version"]["live"] is True
            assert body["version"]["id"] == service.store.version().id
            chain = body["parents"]
            assert chain[0]["code"] == body["grid"]["parent_code"]
            assert chain[-1]["level"] == "town"
            assert len(chain[-1]["code"]) == 9
            assert body["grid"]["load"] in {"under", "within", "over", "dedicated"}


def test_gcj02_and_bd09_reference_points_convert_within_half_a_metre(service: Service) -> None:
    with service.client() as client:
        for w_lat, w_lon, g_lat, g_lon in GCJ_VECTORS:
            r = client.get("/lookup", params={"lon": g_lon, "lat": g_lat, "crs": "gcj02"})
            assert r.status_code == 404  # outside the Bund plan, but the 404 says where
            body = r.json()
            assert GEOD.inv(body["lon"], body["lat"], w_lon, w_lat)[2] < 0.5
        r = client.get(
            "/lookup", params={"lon": BD_EXAMPLE_BD09[0], "lat": BD_EXAMPLE_BD09[1], "crs": "bd09"}
        )
        body = r.json()
        gcj = wgs84_to_gcj02(body["lon"], body["lat"])  # round trip back to the GCJ input
        assert GEOD.inv(float(gcj[0]), float(gcj[1]), 116.404, 39.915)[2] < 0.5


def test_offset_coordinates_find_the_same_grid(service: Service) -> None:
    grids = service.store.read_grids()
    inner = grids.geometry.to_crs(32651).buffer(-5).to_crs(4326)  # ≥ 5 m from every edge
    points = shapely.point_on_surface(inner[~inner.is_empty].to_numpy())
    lon, lat = shapely.get_x(points), shapely.get_y(points)
    want = batch(service, lon, lat)
    for crs, forward in (("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)):
        x, y = forward(lon, lat)
        assert batch(service, x, y, crs) == want
    x, y = pyproj.Transformer.from_crs(4326, 32651, always_xy=True).transform(lon, lat)
    assert batch(service, np.asarray(x), np.asarray(y), "EPSG:32651") == want


def test_as_of_picks_the_version_live_then(service: Service) -> None:
    v1, v2 = service.store.versions()[:2]
    grids = service.store.read_grids(v1.id)
    p = shapely.point_on_surface(grids.geometry.iloc[0])
    with service.client() as client:
        old = client.get(
            "/lookup", params={"lon": p.x, "lat": p.y, "as_of": v1.valid_from.isoformat()}
        ).json()
        new = client.get("/lookup", params={"lon": p.x, "lat": p.y}).json()
        early = client.get(
            "/lookup", params={"lon": p.x, "lat": p.y, "as_of": "2000-01-01T00:00:00Z"}
        )
        r = client.post(
            "/lookup/batch",
            params={"as_of": v1.valid_from.isoformat()},
            json={"points": [[p.x, p.y]]},
        )
    assert old["version"]["id"] == v1.id
    assert new["version"]["id"] == v2.id
    assert new["grid"]["households"] == old["grid"]["households"] + 50
    assert early.status_code == 404
    assert "no plan version" in early.json()["detail"]
    assert r.json()["version"]["id"] == v1.id


def test_csv_and_parquet_uploads_keep_order(service: Service) -> None:
    grids = service.store.read_grids()
    x0, y0, x1, y1 = grids.total_bounds
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"lng": rng.uniform(x0, x1, 500), "lat": rng.uniform(y0, y1, 500)})
    want = library(grids, frame["lng"].to_numpy(), frame["lat"].to_numpy())
    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    with service.client() as client:
        r1 = client.post("/lookup/batch", files={"file": ("pts.csv", frame.to_csv(index=False))})
        r2 = client.post(
            "/lookup/batch",
            files={"file": ("pts.parquet", parquet.getvalue())},
            data={"crs": "wgs84"},
        )
        r3 = client.post(
            "/lookup/batch",
            content=frame.to_csv(index=False),
            headers={"content-type": "text/csv"},
            params={"format": "parquet"},
        )
    assert r1.json()["results"] == want
    assert r2.json()["results"] == want
    out = pd.read_parquet(io.BytesIO(r3.content))
    assert [None if pd.isna(c) else c for c in out["grid_code"]] == want


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"lon": "abc", "lat": 31.2}, "query.lon"),
        ({"lat": 31.2}, "query.lon: Field required"),
        ({"lon": "nan", "lat": 31.2}, "query.lon"),
        ({"lon": 121.5, "lat": 31.2, "crs": "mars"}, "unknown crs 'mars'"),
        ({"lon": 400, "lat": 31.2}, "not a valid position"),
        ({"lon": 121.5, "lat": 31.2, "as_of": "yesterday"}, "query.as_of"),
        ({"lon": 121.5, "lat": 31.2, "crs": "EPSG:999999"}, "unknown crs"),
    ],
)
def test_bad_parameters_are_422_with_a_precise_message(
    gpkg_service: Service, params: dict, needle: str
) -> None:
    with gpkg_service.client() as client:
        r = client.get("/lookup", params=params)
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"points": [[1, 2, 3]]}', "shape"),
        (b'{"points": [["a", 2]]}', "number pairs"),
        (b'{"points": 5}', "list of [lon, lat]"),
        (b'{"crs": 4326, "points": []}', "crs must be a string"),
        (b"[1, 2]", "JSON body must be"),
    ],
)
def test_bad_batches_are_422(gpkg_service: Service, body: bytes, needle: str) -> None:
    with gpkg_service.client() as client:
        r = client.post("/lookup/batch", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


def test_oversized_batches_are_413(
    sample_plan: object, tmp_path_factory: pytest.TempPathFactory, gpkg_service: Service
) -> None:
    from api.main import create_app  # noqa: PLC0415
    from api.server import serve_in_thread  # noqa: PLC0415

    settings = gpkg_service.settings.model_copy(
        update={"max_batch_points": 10, "max_upload_bytes": 2000}
    )
    server = serve_in_thread(create_app(settings))
    try:
        import httpx  # noqa: PLC0415

        with httpx.Client(base_url=server.url) as client:
            r1 = client.post("/lookup/batch", json={"points": [[121.5, 31.2]] * 11})
            r2 = client.post("/lookup/batch", json={"points": [[121.5, 31.2]] * 400})
            r3 = client.post(
                "/lookup/batch", files={"file": ("a.csv", "lon,lat\n" + "1,2\n" * 900)}
            )
            ok = client.post("/lookup/batch", json={"points": [[121.5, 31.2]] * 10})
    finally:
        server.stop()
    assert r1.status_code == 413
    assert "exceeds the limit of 10" in r1.json()["detail"]
    assert r2.status_code == 413
    assert "bytes" in r2.json()["detail"]
    assert r3.status_code == 413
    assert ok.status_code == 200


def test_writes_need_a_key_with_the_right_role(service: Service) -> None:
    grids = service.store.read_grids()
    code = str(grids["grid_code"].iloc[0])
    staff = [{"name": "王芳", "role": "網格員", "phone": "021-12345678"}]
    with service.client() as client:
        assert client.put(f"/grids/{code}/staff", json=staff).status_code == 401
        bad = client.put(f"/grids/{code}/staff", json=staff, headers={"X-API-Key": "pub-key"})
        assert bad.status_code == 403
        assert (
            client.post("/versions", params={"author": "x"}, json={"grids": {}}).status_code == 401
        )
        ok = client.put(f"/grids/{code}/staff", json=staff, headers={"X-API-Key": "staff-key"})
        assert ok.status_code == 200, ok.text
        p = shapely.point_on_surface(grids.geometry.iloc[0])
        body = client.get("/lookup", params={"lon": p.x, "lat": p.y}).json()
        missing = client.get("/grids/nope/staff")
    assert body["staff"] == [  # canonical role, Simplified label, never a file path
        {"name": "王芳", "role": "worker", "role_label": "网格员", "duty": None,
         "phone": "021-12345678", "photo_url": None}
    ]  # fmt: skip
    assert missing.status_code == 404


def two_cells(grid: pd.Series) -> gpd.GeoDataFrame:
    """A grid (EPSG:4326) cut into a west and an east unit cell."""
    x0, y0, x1, y1 = grid.geometry.bounds
    mid = (x0 + x1) / 2
    halves = [grid.geometry.intersection(shapely.box(x0, y0, mid, y1)),
              grid.geometry.intersection(shapely.box(mid, y0, x1, y1))]  # fmt: skip
    return gpd.GeoDataFrame(
        {"cell_code": [f"{grid['grid_code']}01", f"{grid['grid_code']}02"],
         "grid_code": [grid["grid_code"]] * 2, "households": [10, 20]},
        geometry=halves, crs="EPSG:4326",
    )  # fmt: skip


def test_publishing_through_the_api_refreshes_the_index(
    sample_plan: tuple, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import json  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    from api.main import create_app  # noqa: PLC0415
    from api.server import serve_in_thread  # noqa: PLC0415
    from api.settings import Settings  # noqa: PLC0415
    from gis.store import open_store  # noqa: PLC0415

    grids = sample_plan[0].to_crs(4326)
    path = tmp_path_factory.mktemp("publish") / "p.gpkg"
    with open_store(path) as store:
        store.publish(grids.iloc[:10], author="t")
    settings = Settings(store_path=path, api_keys={"k": ["publisher"]}, poll_interval_s=0)
    server = serve_in_thread(create_app(settings))
    p = shapely.point_on_surface(grids.geometry.iloc[20])
    payload = {
        "grids": json.loads(grids.drop(columns=["grid_id", "n_blocks"], errors="ignore").to_json()),
        "cells": json.loads(two_cells(grids.iloc[0]).to_json()),
    }
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            before = client.get("/lookup", params={"lon": p.x, "lat": p.y})
            r = client.post(
                "/versions",
                params={"author": "api", "note": "all"},
                json=payload,
                headers={"X-API-Key": "k"},
            )
            after = client.get("/lookup", params={"lon": p.x, "lat": p.y})
            ids = [c["id"] for c in client.get("/collections").json()["collections"]]
            cells = client.get("/collections/cells/items").json()
            c = grids.geometry.iloc[0].representative_point()
            z = 16
            tx = int((c.x + 180) / 360 * 2**z)
            ty = int((1 - math.asinh(math.tan(math.radians(c.y))) / math.pi) / 2 * 2**z)
            tile_layers = mapbox_vector_tile.decode(
                client.get(f"/tiles/2/{z}/{tx}/{ty}.mvt").content
            )
            bad = client.post(
                "/versions",
                params={"author": "api"},
                headers={"X-API-Key": "k"},
                json={
                    "grids": {
                        "type": "FeatureCollection",
                        "features": [
                            payload["grids"]["features"][0],
                            payload["grids"]["features"][0],
                        ],
                    }
                },
            )
    finally:
        server.stop()
    assert before.status_code == 404
    assert r.status_code == 201, r.text
    assert after.status_code == 200
    assert after.json()["version"]["id"] == 2
    assert bad.status_code == 422
    assert bad.json()["grid_codes"]
    assert "cells" in ids
    assert cells["numberMatched"] == 2
    assert {"cells", "grids"} <= set(tile_layers)
