"""Vector tiles: decoded with mapbox-vector-tile, they hold the grids the tile covers."""

from __future__ import annotations

import gzip
import json
import math
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import mapbox_vector_tile
import pytest
import shapely
from service_helpers import BAND_V1, Service

from api.main import create_app
from api.server import serve_in_thread
from gis.serving.features import tile_bounds
from gis.store import open_store

REPO = Path(__file__).resolve().parents[2]


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
                {
                    (f["properties"]["grid_code"], f["id"])
                    for f in layers.get("grids", {}).get("features", [])
                }
            )
        assert sets[0] == sets[1]  # the same grids, with the same feature ids


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


def _grid_tile(service: Service, z: int = 15) -> tuple[int, int]:
    c = service.store.read_grids().geometry.iloc[0].representative_point()
    return tile_of(c.x, c.y, z)


def test_tile_features_have_ids_ranked_by_code(service: Service) -> None:
    live = service.store.version()
    codes = sorted(service.store.read_grids(live.id)["grid_code"].astype(str))
    want = {code: i + 1 for i, code in enumerate(codes)}
    x, y = _grid_tile(service)
    with service.client() as client:
        layers = mapbox_vector_tile.decode(client.get(f"/tiles/{live.id}/15/{x}/{y}.mvt").content)
    grids = layers["grids"]["features"]
    assert grids
    got = {f["properties"]["grid_code"]: f["id"] for f in grids}
    assert all(isinstance(i, int) and i > 0 for i in got.values())
    assert got == {code: want[code] for code in got}
    for label in layers.get("grid_labels", {"features": []})["features"]:
        assert label["id"] == want[label["properties"]["grid_code"]]  # a label has its grid's id


def test_tiles_are_gzipped_when_the_client_accepts_it(gpkg_service: Service) -> None:
    x, y = _grid_tile(gpkg_service)
    with gpkg_service.client() as client:
        plain = client.get(f"/tiles/2/15/{x}/{y}.mvt", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        with client.stream(
            "GET", f"/tiles/2/15/{x}/{y}.mvt", headers={"Accept-Encoding": "gzip"}
        ) as r:
            raw = b"".join(r.iter_raw())
            assert r.headers["content-encoding"] == "gzip"
            assert "accept-encoding" in r.headers["vary"].lower()
        refused = client.get(f"/tiles/2/15/{x}/{y}.mvt", headers={"Accept-Encoding": "gzip;q=0"})
    assert raw[:2] == b"\x1f\x8b"
    assert len(raw) < len(plain.content)
    assert gzip.decompress(raw) == plain.content
    assert mapbox_vector_tile.decode(gzip.decompress(raw))["grids"]["features"]
    assert "content-encoding" not in refused.headers


def test_the_live_alias_follows_a_publish(gpkg_service: Service, tmp_path: Path) -> None:
    grids = gpkg_service.store.read_grids(1).drop(columns=["version_id", "area_m2"])
    path = tmp_path / "plans.gpkg"
    store = open_store(path)
    store.publish(grids, author="tests", note="first", band=BAND_V1)
    settings = gpkg_service.settings.model_copy(update={"store_path": path, "poll_interval_s": 0.2})
    server = serve_in_thread(create_app(settings))
    x, y = _grid_tile(gpkg_service)
    code = grids["grid_code"].iloc[0]

    def live_households(client: httpx.Client) -> tuple[str, int]:
        r = client.get(f"/tiles/live/15/{x}/{y}.mvt")
        assert r.status_code == 200
        assert r.headers["cache-control"] == "public, max-age=60"
        feats = mapbox_vector_tile.decode(r.content)["grids"]["features"]
        found = next(f for f in feats if f["properties"]["grid_code"] == code)
        return r.headers["content-location"], int(found["properties"]["households"])

    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            tj = client.get("/tiles/live.json").json()
            assert tj["tiles"] == [f"{server.url}/tiles/live/{{z}}/{{x}}/{{y}}.mvt"]
            style = client.get("/tiles/style.json").json()
            assert style["sources"]["plan"]["tiles"] == tj["tiles"]
            where, first = live_households(client)
            assert where == f"/tiles/1/15/{x}/{y}.mvt"
            second = grids.copy()
            second["households"] = second["households"] + 7
            store.publish(second, author="tests", note="second", band=BAND_V1)
            deadline = time.monotonic() + 15
            while where.startswith("/tiles/1/") and time.monotonic() < deadline:
                time.sleep(0.2)
                where, now = live_households(client)
            assert where == f"/tiles/2/15/{x}/{y}.mvt"
            assert now == first + 7
            assert client.get("/tiles/live.json").json()["tiles"] == tj["tiles"]  # unchanged
            assert client.get("/tiles/live.json").json()["plan_version"] == 2
    finally:
        server.stop()
        store.close()


def test_style_json_is_valid_and_attributes_each_source(gpkg_service: Service) -> None:
    with gpkg_service.client() as client:
        style_r = client.get("/tiles/style.json")
        assert style_r.headers["content-type"].startswith("application/vnd.mapbox.style+json")
        style = style_r.json()
        v1 = client.get("/tiles/1/style.json").json()
        landing = client.get("/").json()
        collections = client.get("/collections").json()["collections"]
        basemap = client.get("/basemap/tilejson.json").json()
        tj = client.get("/tiles/live.json").json()
    assert style["version"] == 8
    plan, base = style["sources"]["plan"], style["sources"]["basemap"]
    assert "wangge" in plan["attribution"]
    assert "OpenStreetMap" not in plan["attribution"]
    assert "OpenStreetMap" in base["attribution"]
    assert "ODbL" in base["attribution"]
    assert "OpenStreetMap" in basemap["attribution"]
    assert v1["sources"]["plan"]["tiles"][0].endswith("/tiles/1/{z}/{x}/{y}.mvt")
    assert "第 1 版" in v1["sources"]["plan"]["attribution"]
    tile_layers = {layer["id"] for layer in tj["vector_layers"]}
    for layer in style["layers"]:
        if layer["type"] != "background":
            assert layer["source"] in style["sources"]
        if layer.get("source") == "plan":
            assert layer["source-layer"] in tile_layers
    fills = [la for la in style["layers"] if la["type"] == "fill" and la["source"] == "plan"]
    assert {la["filter"][2] for la in fills} == {"under", "within", "over", "dedicated"}
    assert any(la["type"] == "symbol" for la in style["layers"])  # labels
    for links in [landing["links"], *[c["links"] for c in collections]]:
        rels = {link["rel"]: link["href"] for link in links}
        assert rels["tiles"].endswith("/tiles/live.json")
        assert rels["stylesheet"].endswith("/tiles/style.json")
    validator = REPO / "node_modules/@maplibre/maplibre-gl-style-spec/dist/gl-style-validate.mjs"
    if not validator.exists() or shutil.which("node") is None:
        pytest.fail("MapLibre's style validator is missing: run scripts/ensure-npm.sh")
    for doc in (style, v1):
        done = subprocess.run(
            ["node", str(validator)], input=json.dumps(doc), capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr


MAPLIBRE_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="{base}/static/maplibre-gl.css">
<script src="{base}/static/maplibre-gl.js"></script></head>
<body style="margin:0"><div id="map" style="width:800px;height:600px"></div><script>
window.done = false; window.errors = [];
const map = new maplibregl.Map({{container: "map", style: "{base}/tiles/style.json",
  center: [{lon}, {lat}], zoom: 15, fadeDuration: 0}});
map.on("error", e => window.errors.push(String((e.error && e.error.message) || e)));
map.on("idle", () => {{
  const ids = map.getStyle().layers.map(l => l.id);
  window.labels = map.queryRenderedFeatures({{layers: ["grid-labels"]}}).length;
  window.fills = map.queryRenderedFeatures(
    {{layers: ids.filter(i => i.startsWith("grids-") && i !== "grids-line")}}).length;
  window.done = true;
}});
</script></body></html>"""


def test_maplibre_draws_the_style_with_labels_from_the_served_glyphs(
    gpkg_service: Service,
) -> None:
    from playwright.sync_api import Route, sync_playwright  # noqa: PLC0415

    base = gpkg_service.url
    x0, y0, x1, y1 = gpkg_service.store.read_grids().total_bounds
    html = MAPLIBRE_PAGE.format(base=base, lon=(x0 + x1) / 2, lat=(y0 + y1) / 2)
    glyphs: list[tuple[str, int]] = []
    outside: list[str] = []

    def guard(route: Route) -> None:  # nothing may leave loopback (no font CDN)
        url = route.request.url
        if url == f"{base}/__style_check.html":
            route.fulfill(body=html, content_type="text/html")
        elif url.startswith((base, "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    args = ["--headless=new", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader", "--disable-background-networking"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 600})
            page.route("**/*", guard)
            page.on(
                "response", lambda r: glyphs.append((r.url, r.status)) if ".pbf" in r.url else None
            )
            page.goto(f"{base}/__style_check.html")
            page.wait_for_function("window.done", timeout=60_000)
            result = page.evaluate("({labels, fills, errors})")
        finally:
            browser.close()
    assert not outside
    assert result["errors"] == []
    assert result["fills"] > 0
    assert result["labels"] > 0  # symbols are placed only once their glyphs arrived
    assert glyphs
    assert all(status == 200 for _, status in glyphs)
    with gpkg_service.client() as client:
        assert client.get("/tiles/fonts/x/0-100.pbf").status_code == 422
        assert client.get("/tiles/fonts/x/70000-70255.pbf").status_code == 422
