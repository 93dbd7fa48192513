"""The web map in a real headless browser (Debian chromium driven by Playwright)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image
from playwright import sync_api as playwright
from service_helpers import Service

from api.main import create_app
from api.server import serve_in_thread
from api.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader", "--disable-background-networking",
        "--disable-component-update"]  # fmt: skip


def check_legend(page: playwright.Page, service: Service) -> None:
    """The legend shows the band of the version on the map, and follows the version picker."""
    live_band = service.store.version().band  # the live version: 2
    legend = [page.inner_text(f"#legend-{k}") for k in ("under", "within", "over")]
    assert legend == [
        f"under {live_band.min_households}",
        f"{live_band.min_households}–{live_band.max_households}",
        f"over {live_band.max_households}",
    ]
    page.select_option("#version", "1")
    first = service.store.version(1).band
    assert page.inner_text("#legend-within") == f"{first.min_households}–{first.max_households}"
    page.wait_for_function("window.wangge.ready === true", timeout=60_000)
    page.select_option("#version", str(service.store.version().id))
    page.wait_for_function("window.wangge.ready === true", timeout=60_000)


def inner_points(service: Service) -> tuple[list, list[str]]:
    """A point well inside each grid (25 m from its edges), and the grid codes."""
    grids = service.store.read_grids()
    inner = grids.geometry.to_crs(32651).buffer(-25).to_crs(4326)
    keep = ~inner.is_empty
    points = list(shapely.point_on_surface(inner[keep].to_numpy()))
    return points, grids["grid_code"][keep].tolist()


def click_a_grid(
    page: playwright.Page, service: Service, headers: dict[str, str] | None = None
) -> None:
    """Clicking inside a grid shows the grid the lookup API gives for that point (asked with
    ``headers``: a key when reads need one)."""
    points, _ = inner_points(service)
    screen = page.evaluate(
        "(pts) => pts.map(([x, y]) => {"
        " const p = wangge.map.project([x, y]); return [p.x, p.y]; })",
        [[q.x, q.y] for q in points],
    )
    # a grid in the middle of the view: not under the search box or the panel
    xy = next(s for s in screen if 420 < s[0] < 780 and 250 < s[1] < 700)
    page.mouse.click(xy[0], xy[1])
    page.wait_for_selector("#panel-code", timeout=10_000)
    shown = page.inner_text("#panel-code")
    lng, lat = page.evaluate("wangge.lastClick")
    with service.client(headers=headers or {}) as client:
        expected = client.get("/lookup", params={"lon": lng, "lat": lat}).json()
    assert shown == expected["grid"]["grid_code"]
    assert page.evaluate("wangge.highlighted") == shown


def search_an_address_and_a_coordinate(
    page: playwright.Page, service: Service, address_csv: Path
) -> None:
    """Searching an address, then a coordinate, highlights the grid holding it."""
    table = pd.read_csv(address_csv, dtype=str)
    page.fill("#q", "九江路14号 三栋 三单元 302")
    page.click("#search button")
    page.wait_for_function(f"wangge.highlighted === '{table['expected_grid'][8]}'", timeout=10_000)
    page.wait_for_function("window.wangge.map.loaded()", timeout=30_000)
    page.wait_for_timeout(500)
    lit = page.evaluate("wangge.map.queryRenderedFeatures({layers: ['highlight']}).length")
    assert lit > 0
    assert page.inner_text("#panel-code") == table["expected_grid"][8]
    points, codes = inner_points(service)
    page.fill("#q", f"{points[2].x},{points[2].y}")
    page.click("#search button")
    page.wait_for_function(f"wangge.highlighted === '{codes[2]}'", timeout=10_000)


def test_map_loads_clicks_and_searches(gpkg_service: Service, address_csv: Path) -> None:
    service = gpkg_service
    with service.client() as client:
        r = client.post(
            "/addresses",
            content=address_csv.read_bytes(),
            headers={"X-API-Key": "addr-key", "content-type": "text/csv"},
        )
        assert r.status_code == 200
    errors: list[str] = []
    tiles: list[tuple[str, int]] = []
    outside: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        def seen(response) -> None:
            url = response.url
            if not url.startswith((service.url, "blob:", "data:")):
                outside.append(url)
            if "/tiles/" in url and url.endswith(".mvt"):
                tiles.append((url, response.status))

        page.on("response", seen)
        page.goto(f"{service.url}/map")
        page.wait_for_function("window.wangge && window.wangge.ready === true", timeout=60_000)
        check_legend(page, service)

        click_a_grid(page, service)
        search_an_address_and_a_coordinate(page, service, address_csv)
        labels = page.locator(".grid-label").count()
        attribution = page.inner_text(".maplibregl-ctrl-attrib")
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "map.png"
        page.screenshot(path=str(shot))
        browser.close()
    assert errors == []
    assert tiles
    assert all(status == 200 for _, status in tiles), tiles
    assert outside == []  # no CDN, no external basemap
    assert labels > 0
    assert "OpenStreetMap contributors" in attribution
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.std() > 10  # not blank


def test_map_works_when_reads_need_a_key(
    gpkg_service: Service, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The page asks for a key once, trades it for a read token, and then loads, tiles and
    clicks as in open mode; only the token is kept in the page, never the key."""
    store = tmp_path_factory.mktemp("keyed-map") / "plans.gpkg"
    shutil.copy(gpkg_service.settings.store_path, store)
    settings = Settings(
        store_path=store, api_keys={"map-reader": ["reader"]}, read_requires_key=True,
        basemap_path=gpkg_service.settings.basemap_path, poll_interval_s=0,
    )  # fmt: skip
    server = serve_in_thread(create_app(settings))
    service = Service("geopackage", server.url, gpkg_service.store, settings, server)
    errors: list[str] = []
    tiles: list[int] = []
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "response",
                lambda r: tiles.append(r.status) if r.url.endswith(".mvt") else None,
            )
            page.goto(f"{server.url}/map")
            page.wait_for_selector("#keyform:not([hidden])", timeout=30_000)
            page.fill("#key", "wrong")
            page.click("#keyform button")
            page.wait_for_function("document.getElementById('keymessage').textContent !== ''")
            assert page.inner_text("#keymessage") == "密钥无效，请重新输入"
            page.fill("#key", "map-reader")
            page.click("#keyform button")
            page.wait_for_function("window.wangge && window.wangge.ready === true", timeout=60_000)
            kept = page.evaluate("JSON.stringify(sessionStorage)")
            click_a_grid(page, service, {"X-API-Key": "map-reader"})
            browser.close()
    finally:
        server.stop()
    assert "map-reader" not in kept  # the key is not kept, only the token
    assert "r1." in kept
    assert tiles
    assert all(status == 200 for status in tiles), tiles
    unexpected = [e for e in errors if "401" not in e]  # the first tries, before the key
    assert unexpected == []
