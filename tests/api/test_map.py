"""The web map and the API docs in a real headless browser (Debian chromium driven by
Playwright), with every request outside loopback refused and counted as a failure."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

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
from gis import columns as col
from gis.store import open_store

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader", "--disable-background-networking",
        "--disable-component-update"]  # fmt: skip
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Latin text a Chinese page may show: codes and numbers, coordinate systems, names, the switch.
ALLOWED_LATIN = re.compile(
    r"WGS84|GCJ-02|BD-09|CGCS2000|MapLibre|OpenStreetMap|English|EPSG:\d+"
    r"|\b[A-Za-z]*\d[\w.-]*\b|\b[\w.-]*\d[A-Za-z]*\b"
)
# Every text node shown, and every placeholder, title, aria-label and alt of the page.
PAGE_TEXTS = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (n.textContent.trim() && el && el.checkVisibility() && el.tagName !== 'SCRIPT') {
      out.push(n.textContent.trim());
    }
  }
  for (const el of document.querySelectorAll('[placeholder],[title],[aria-label],[alt]')) {
    for (const a of ['placeholder', 'title', 'aria-label', 'alt']) {
      if (el.getAttribute(a)) { out.push(el.getAttribute(a)); }
    }
  }
  return out;
}"""


@dataclass
class Watch:
    """What a page did that a test refuses: requests off loopback, console errors."""

    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def browser_page(watch: Watch) -> Iterator[playwright.Page]:
    """A headless Chromium page whose requests off loopback are aborted and recorded."""

    def guard(route: playwright.Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in LOOPBACK:
            route.continue_()
        else:
            watch.outside.append(url)
            route.abort()

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.route("**/*", guard)
        page.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: watch.errors.append(str(e)))
        try:
            yield page
        finally:
            browser.close()


def english_left(page: playwright.Page) -> list[str]:
    """Texts of the page with Latin words left once codes and allowed names are taken out."""
    texts: list[str] = page.evaluate(PAGE_TEXTS)
    return [s for s in texts if re.search(r"[A-Za-z]", ALLOWED_LATIN.sub("", s))]


def check_legend(page: playwright.Page, service: Service) -> None:
    """The legend shows the band of the version on the map, and follows the version picker."""
    live_band = service.store.version().band  # the live version: 2
    legend = [page.inner_text(f"#legend-{k}") for k in ("under", "within", "over")]
    assert legend == [
        f"低于 {live_band.min_households}",
        f"{live_band.min_households}–{live_band.max_households}",
        f"高于 {live_band.max_households}",
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
    """Searching an address (in Simplified, then Traditional script), then a coordinate,
    highlights the grid holding it."""
    table = pd.read_csv(address_csv, dtype=str)
    page.fill("#q", "九江路14号 三栋 三单元 302")
    page.click("#search button")
    page.wait_for_function(f"wangge.highlighted === '{table['expected_grid'][8]}'", timeout=10_000)
    page.wait_for_function("window.wangge.map.loaded()", timeout=30_000)
    page.wait_for_timeout(500)
    lit = page.evaluate("wangge.map.queryRenderedFeatures({layers: ['highlight']}).length")
    assert lit > 0
    assert page.inner_text("#panel-code") == table["expected_grid"][8]
    page.evaluate("wangge.highlighted = null")
    page.fill("#q", "九江路14號 三棟 三單元 302")  # Traditional: the server reads it too
    page.click("#search button")
    page.wait_for_function(f"wangge.highlighted === '{table['expected_grid'][8]}'", timeout=10_000)
    points, codes = inner_points(service)
    page.fill("#q", f"{points[2].x}，{points[2].y}")  # a full-width comma
    page.click("#search button")
    page.wait_for_function(f"wangge.highlighted === '{codes[2]}'", timeout=10_000)


def click_outside_every_grid(page: playwright.Page, service: Service) -> None:
    """A click where no grid is shows a Chinese message and no panel (the test fails on any
    console error: the map must not log the outside point as a failed request)."""
    candidates = page.evaluate(
        "() => { const out = []; for (let y = 260; y < 740; y += 40) {"
        " for (let x = 400; x < 1060; x += 40) { const p = wangge.map.unproject([x, y]);"
        " out.push([x, y, p.lng, p.lat]); } } return out; }"
    )
    with service.client() as client:
        for x, y, lng, lat in candidates:  # noqa: B007 - the point found is used below
            r = client.get("/lookup", params={"lon": lng, "lat": lat, "if_outside": "empty"})
            if r.status_code == 204:
                break
        else:
            pytest.fail("no point outside every grid in the view")
        assert client.get("/lookup", params={"lon": lng, "lat": lat}).status_code == 404
    page.mouse.click(x, y)
    page.wait_for_function("document.getElementById('message').textContent !== ''")
    assert page.inner_text("#message") == "该位置不在任何网格内"
    assert page.locator("#panel").is_hidden()


def check_view_tools(page: playwright.Page) -> None:
    """The scale bar shows metres in Chinese, the URL hash follows the view, and no grid
    label repeats (community-qualified labels, not bare sequence numbers)."""
    scale = page.inner_text(".maplibregl-ctrl-scale")
    assert re.fullmatch(r"\d+\s?(米|公里)", scale), scale
    before = page.evaluate("location.hash")
    assert re.fullmatch(r"#[\d.]+/[\d.]+/[\d.]+", before), before
    page.evaluate("wangge.map.panBy([120, 60], {duration: 0})")
    page.wait_for_function(f"location.hash !== '{before}'", timeout=5_000)
    zoom, lat, lng = map(float, page.evaluate("location.hash")[1:].split("/")[:3])
    center = page.evaluate("(() => { const c = wangge.map.getCenter(); return [c.lat, c.lng]; })()")
    assert (lat, lng) == pytest.approx(center, abs=1e-3)
    assert zoom == pytest.approx(page.evaluate("wangge.map.getZoom()"), abs=0.01)
    page.evaluate("wangge.map.panBy([-120, -60], {duration: 0})")
    page.wait_for_function("window.wangge.map.loaded()", timeout=30_000)
    labels = page.locator(".grid-label:not(.covered)").all_inner_texts()
    assert labels
    assert len(labels) == len(set(labels)), sorted(labels)
    assert not any(re.fullmatch(r"\d{1,4}", s) for s in labels), labels


def check_english(page: playwright.Page, service: Service) -> None:
    """The switch puts every string in English, is remembered, and ?lang= chooses too."""
    band = service.store.version().band
    keys = page.evaluate(
        "Object.fromEntries(Object.entries(wangge.strings).map(([lang, s]) =>"
        " [lang, Object.keys(s).concat(Object.keys(s.maplibre)).sort()]))"
    )
    assert keys["en"] == keys["zh"]  # one table: every string in both languages
    page.click("#lang button[data-lang='en']")
    assert page.inner_text("#legend-under") == f"under {band.min_households}"
    assert page.inner_text("#search button") == "Search"
    assert page.get_attribute(".maplibregl-ctrl-zoom-in", "title") == "Zoom in"
    assert re.fullmatch(r"\d+\s?(m|km)", page.inner_text(".maplibregl-ctrl-scale"))
    assert page.evaluate("document.documentElement.lang") == "en"
    chinese = [s for s in page.evaluate(PAGE_TEXTS) if re.search(r"[\u4e00-\u9fff]", s)]
    data = re.compile(r"中文|示例|演示|外滩|陆家嘴|上海市|九江路")  # the switch, names, addresses
    assert [s for s in chinese if not data.search(s)] == []
    page.reload()
    page.wait_for_function("window.wangge && window.wangge.ready === true", timeout=60_000)
    assert page.inner_text("#search button") == "Search"  # remembered
    page.goto(page.url.replace("/map", "/map?lang=zh", 1))  # the strings come before the map
    page.wait_for_function("document.querySelector('#search button').textContent === '搜索'")
    assert page.evaluate("localStorage.getItem('wangge.lang')") == "zh"


@pytest.fixture
def staffed_service(gpkg_service: Service, tmp_path: Path) -> Iterator[Service]:
    """The session's plans in a copied store with a sample roster (示例), on its own server."""
    store = tmp_path / "plans.gpkg"
    shutil.copy(gpkg_service.settings.store_path, store)
    settings = Settings(
        store_path=store, api_keys=gpkg_service.settings.api_keys, poll_interval_s=0,
        basemap_path=gpkg_service.settings.basemap_path,
    )  # fmt: skip
    server = serve_in_thread(create_app(settings))
    service = Service("geopackage", server.url, gpkg_service.store, settings, server)
    codes = sorted(gpkg_service.store.read_grids()["grid_code"])
    with service.client(headers={"X-API-Key": "staff-key"}) as client:
        for i, code in enumerate(codes, start=1):
            staff = [{"name": f"示例网格员{i:02d}", "role": "网格员", "phone": f"021-0000-{i:04d}"}]
            assert client.put(f"/grids/{code}/staff", json=staff).status_code == 200
    yield service
    server.stop()


def test_map_loads_clicks_and_searches(staffed_service: Service, address_csv: Path) -> None:
    service = staffed_service
    with service.client() as client:
        r = client.post(
            "/addresses",
            content=address_csv.read_bytes(),
            headers={"X-API-Key": "addr-key", "content-type": "text/csv"},
        )
        assert r.status_code == 200
    watch = Watch()
    tiles: list[tuple[str, int]] = []
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "map.png"
    with browser_page(watch) as page:
        page.on(
            "response",
            lambda r: tiles.append((r.url, r.status)) if r.url.endswith(".mvt") else None,
        )
        page.goto(f"{service.url}/map")
        page.wait_for_function("window.wangge && window.wangge.ready === true", timeout=60_000)
        assert english_left(page) == []
        page.screenshot(path=str(ARTIFACTS / "map-opening.png"))
        check_legend(page, service)
        click_a_grid(page, service)
        assert page.inner_text("#panel-staff").startswith("示例网格员")
        assert english_left(page) == []
        page.screenshot(path=str(ARTIFACTS / "map-panel.png"))
        click_outside_every_grid(page, service)
        assert english_left(page) == []
        search_an_address_and_a_coordinate(page, service, address_csv)
        check_view_tools(page)
        attribution = page.inner_text(".maplibregl-ctrl-attrib")
        page.screenshot(path=str(shot))
        check_english(page, service)
    assert watch.errors == []
    assert watch.outside == []  # no CDN, no external basemap
    assert tiles
    assert all(status == 200 for _, status in tiles), tiles
    assert "OpenStreetMap" in attribution
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.std() > 10  # not blank


def test_docs_pages_load_from_the_service_alone(gpkg_service: Service) -> None:
    """/docs (Swagger UI) and /redoc (ReDoc) render the API with no request off loopback."""
    watch = Watch()
    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(watch) as page:
        page.goto(f"{gpkg_service.url}/docs")
        page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
        title = page.inner_text(".swagger-ui .info .title")
        operations = page.locator(".swagger-ui .opblock").count()
        page.screenshot(path=str(ARTIFACTS / "docs.png"))
        page.goto(f"{gpkg_service.url}/redoc")
        page.wait_for_selector(".api-content h1", timeout=30_000)
        heading = page.inner_text(".api-content h1")
        sections = page.locator("[data-section-id^='tag/']").count()
        page.screenshot(path=str(ARTIFACTS / "redoc.png"))
    assert gpkg_service.settings.title in title
    assert operations > 10
    assert gpkg_service.settings.title in heading
    assert sections > 3
    assert watch.outside == []
    assert watch.errors == []
    with gpkg_service.client() as client:
        css = client.get("/static/docs/swagger-ui.css")
        redoc = client.get("/static/docs/redoc.standalone.js")
        assert client.get("/static/docs/package.json").status_code == 404  # only what pages load
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert redoc.status_code == 200
    assert b"cdn.redoc.ly" not in redoc.content  # its one outside image swapped for an inline one


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
    watch = Watch()
    tiles: list[int] = []
    try:
        with browser_page(watch) as page:
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
    finally:
        server.stop()
    assert "map-reader" not in kept  # the key is not kept, only the token
    assert "r1." in kept
    assert tiles
    assert all(status == 200 for status in tiles), tiles
    assert watch.outside == []
    unexpected = [e for e in watch.errors if "401" not in e]  # the first tries, before the key
    assert unexpected == []


def test_map_shows_a_plan_in_review_beside_the_live_one(
    gpkg_service: Service, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A reviewer's key (asked for when the open page may not read drafts) lists the plans in
    review; the chosen one is drawn over the live plan with its added and changed grids."""
    store_path = tmp_path_factory.mktemp("draft-map") / "plans.gpkg"
    shutil.copy(gpkg_service.settings.store_path, store_path)
    with open_store(store_path) as store:
        draft = store.read_grids().drop(columns=["version_id"])
        draft.loc[draft.index[:3], col.HOUSEHOLDS] += 100
        draft.loc[draft.index[3], col.GRID_CODE] = "NEW-0001"
        proposed = store.propose(draft, author="街道办王芳", note="调整意见")
    settings = Settings(
        store_path=store_path, api_keys={"reviewer-key": ["reviewer"]},
        basemap_path=gpkg_service.settings.basemap_path, poll_interval_s=0,
    )  # fmt: skip
    server = serve_in_thread(create_app(settings))
    watch = Watch()
    try:
        with browser_page(watch) as page:
            page.goto(f"{server.url}/map")
            page.wait_for_function("window.wangge && window.wangge.ready === true", timeout=60_000)
            page.click("#drafts-open")
            page.wait_for_selector("#keyform:not([hidden])", timeout=30_000)
            assert "审核" in page.inner_text("#keymessage")
            page.fill("#key", "reviewer-key")
            page.click("#keyform button")
            page.wait_for_selector("#drafts-pick:not([hidden])", timeout=30_000)
            options = page.eval_on_selector_all("#draft option", "os => os.map(o => o.textContent)")
            assert options == ["不显示", f"第 {proposed.id} 版（待审核）街道办王芳"]
            page.select_option("#draft", str(proposed.id))
            page.wait_for_function("window.wangge.draftShown !== undefined", timeout=30_000)
            shown = page.evaluate("window.wangge.draftShown")
            page.wait_for_function("window.wangge.map.loaded()", timeout=30_000)
            drawn = page.evaluate("window.wangge.map.querySourceFeatures('draft').length")
            assert "新增 1 个网格，调整 3 个" in page.inner_text("#message")
            assert page.is_visible("#draft-legend")
            assert english_left(page) == []
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "map-draft.png"))
    finally:
        server.stop()
    assert shown == {"id": proposed.id, "added": 1, "changed": 3}
    assert drawn > 0
    assert watch.outside == []
    assert [e for e in watch.errors if "403" not in e] == []  # the first try, before the key
