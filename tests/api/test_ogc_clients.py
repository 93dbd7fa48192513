"""Real clients against the served API: QGIS (Debian python3-qgis, offscreen) draws the OGC
collection and the live vector tiles with the served style; OWSLib lists, pages, reads
queryables and filters; GDAL's OAPIF driver copies the grids in CGCS2000 (EPSG:4490)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pyogrio
import pytest
import shapely
from service_helpers import Service

SYSTEM_PYTHON = "/usr/bin/python3"
QGIS_SCRIPT = r"""
import json, sys
from qgis.core import (Qgis, QgsApplication, QgsVectorLayer, QgsVectorTileLayer, QgsMapSettings,
    QgsMapRendererSequentialJob, QgsCoordinateReferenceSystem, QgsCoordinateTransform,
    QgsProject, QgsMapBoxGlStyleConverter, QgsMapBoxGlStyleConversionContext)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

def draw(base, style_path, out_dir):
    out = {"version": Qgis.QGIS_VERSION}
    oapif = QgsVectorLayer(f"url='{base}' typename='grids'", "grids", "OAPIF")
    out["oapif_valid"] = oapif.isValid()
    out["oapif_features"] = sum(1 for _ in oapif.getFeatures())
    tiles = QgsVectorTileLayer(
        f"type=xyz&url={base}/tiles/live/{{z}}/{{x}}/{{y}}.mvt&zmin=0&zmax=18", "live")
    out["tiles_valid"] = tiles.isValid()
    converter = QgsMapBoxGlStyleConverter()
    with open(style_path, encoding="utf-8") as f:
        converter.convert(json.load(f), QgsMapBoxGlStyleConversionContext())
    out["style_warnings"] = converter.warnings()
    tiles.setRenderer(converter.renderer())
    tiles.setLabeling(converter.labeling())
    merc = QgsCoordinateReferenceSystem("EPSG:3857")
    extent = QgsCoordinateTransform(oapif.crs(), merc, QgsProject.instance()
                                    ).transformBoundingBox(oapif.extent())
    for name, layer in (("oapif", oapif), ("tiles", tiles)):
        settings = QgsMapSettings()
        settings.setLayers([layer])
        settings.setDestinationCrs(merc)
        settings.setExtent(extent)
        settings.setOutputSize(QSize(300, 300))
        settings.setBackgroundColor(QColor(255, 255, 255))
        job = QgsMapRendererSequentialJob(settings)
        job.start()
        job.waitForFinished()
        image = job.renderedImage()
        image.save(f"{out_dir}/{name}.png")
        out[name] = [image.pixelColor(x, y).getRgb()[:3]
                     for y in range(0, image.height(), 2) for x in range(0, image.width(), 2)]
    return out


app = QgsApplication([], False)
app.initQgis()
print(json.dumps(draw(*sys.argv[1:4])), flush=True)
app.exitQgis()  # every layer is gone by now (QGIS crashes on exit otherwise)
"""


def _qgis_importable() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=60, check=False
    )
    return probe.returncode == 0


def _hex(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def _load_fills(style: dict) -> tuple[tuple[int, int, int], list[tuple[float, ...]]]:
    """The style's background and each load fill as drawn on it (colour × opacity)."""
    background = _hex(next(la for la in style["layers"] if la["type"] == "background")["paint"]
                      ["background-color"])  # fmt: skip
    fills = []
    for layer in style["layers"]:
        if layer["type"] == "fill" and layer.get("source-layer") == "grids":
            rgb, a = _hex(layer["paint"]["fill-color"]), layer["paint"]["fill-opacity"]
            fills.append(tuple(a * c + (1 - a) * b for c, b in zip(rgb, background, strict=True)))
    return background, fills


def test_qgis_draws_the_collection_and_the_live_tiles_with_the_served_style(
    gpkg_service: Service, tmp_path: Path
) -> None:
    if not _qgis_importable():
        message = (
            "!!! QGIS TEST NOT RUN: python3-qgis cannot be imported by /usr/bin/python3; "
            "run scripts/test-setup.sh (as root) to install it !!!"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with httpx.Client(base_url=gpkg_service.url) as client:
        style = client.get("/tiles/style.json").json()
    style_path = tmp_path / "style.json"
    style_path.write_text(json.dumps(style), "utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", QGIS_SCRIPT, gpkg_service.url, str(style_path), str(tmp_path)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["oapif_valid"]
    assert out["oapif_features"] == len(gpkg_service.store.read_grids())
    assert out["tiles_valid"]
    drawn = [p for p in out["oapif"] if tuple(p) != (255, 255, 255)]
    assert len(drawn) > 0.05 * len(out["oapif"]), "the OGC collection drew (almost) nothing"
    background, fills = _load_fills(style)
    most = Counter(tuple(p) for p in out["tiles"]).most_common(1)[0][0]
    assert most == background  # the style's background around the grids, not QGIS' default
    near = [
        p for p in out["tiles"]
        if any(max(abs(a - b) for a, b in zip(p, f, strict=True)) <= 6 for f in fills)
    ]  # fmt: skip
    assert len(near) > 0.05 * len(out["tiles"]), "no grid filled by its load colour"


def test_owslib_lists_pages_reads_queryables_and_filters(gpkg_service: Service) -> None:
    from owslib.ogcapi.features import Features  # noqa: PLC0415

    grids = gpkg_service.store.read_grids()
    api = Features(gpkg_service.url + "/")
    assert "grids" in api.feature_collections()
    assert "units" in api.feature_collections()
    seen: list[str] = []
    offset = 0
    while True:
        page = api.collection_items("grids", limit=7, offset=offset)
        seen += [f["id"] for f in page["features"]]
        offset += 7
        if not any(link["rel"] == "next" for link in page["links"]):
            break
    assert sorted(seen) == sorted(grids["grid_code"])
    assert len(seen) == len(set(seen))
    queryables = api.collection_queryables("grids")
    assert {"households", "kind", "grid_code", "parent_code"} <= set(queryables["properties"])
    found = api.collection_items(
        "grids", limit=1000, filter="households >= 600 AND kind = 'ordinary'",
        **{"filter-lang": "cql2-text"},
    )  # fmt: skip
    want = grids[(grids["households"] >= 600) & (grids["kind"] == "ordinary")]["grid_code"]
    assert sorted(f["id"] for f in found["features"]) == sorted(want)
    assert len(want) > 0


COPY_SCRIPT = """
import sys, pyogrio
source, out = sys.argv[1:3]
frame = pyogrio.read_dataframe(source, layer="grids", CRS="EPSG:4490")
pyogrio.write_dataframe(frame, out, layer="grids", driver="GPKG")
"""


def test_gdal_copies_the_grids_in_cgcs2000(gpkg_service: Service, tmp_path: Path) -> None:
    # The system ogr2ogr is GDAL 3.6, whose OAPIF driver has no CRS open option (added in
    # 3.7); pyogrio's GDAL (3.7 or later) is the same OAPIF driver with it. It runs in a
    # subprocess: in this process GDAL would wait for the server thread while holding the GIL.
    major, minor = pyogrio.__gdal_version__[:2]
    assert (major, minor) >= (3, 7), pyogrio.__gdal_version_string__
    out = tmp_path / "grids_cgcs2000.gpkg"
    done = subprocess.run(
        [sys.executable, "-c", COPY_SCRIPT, f"OAPIF:{gpkg_service.url}/", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    back = pyogrio.read_dataframe(out, layer="grids")
    assert back.crs.to_epsg() == 4490
    stored = gpkg_service.store.read_grids().set_index("grid_code").sort_index()
    back = back.set_index("grid_code").sort_index()
    assert list(back.index) == list(stored.index)
    for code in stored.index:  # x = lon, y = lat: GDAL read the latitude-first answer right
        a, b = shapely.normalize(back.geometry[code]), shapely.normalize(stored.geometry[code])
        assert shapely.equals_exact(a, b, 1e-9), code
