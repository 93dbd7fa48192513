"""The ``wangge`` command line: help texts and ``wangge blocks`` on the small Nantong sample."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import pyogrio
import pytest
from typer.testing import CliRunner

from gis import columns as col
from gis.cli import app

OUTPUT_LAYERS = {"blocks", "buildings", "adjacency", "units"}


class Run(NamedTuple):
    """One ``wangge blocks`` run: its outputs and report."""

    out: Path
    map_path: Path
    report: dict[str, Any]
    stdout: str


@pytest.fixture(scope="module")
def nantong_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``wangge blocks data/nantong.gpkg --out tmp/out.gpkg --map tmp/map.html``, run once."""
    data = Path(__file__).resolve().parents[1] / "data" / "nantong.gpkg"
    tmp = tmp_path_factory.mktemp("cli")
    out, map_path = tmp / "out.gpkg", tmp / "map.html"
    result = CliRunner().invoke(
        app, ["blocks", str(data), "--out", str(out), "--map", str(map_path)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.with_suffix(".json").read_text("utf-8"))
    return Run(out, map_path, report, result.stdout)


def test_console_script_help() -> None:
    wangge = Path(sys.executable).with_name("wangge")

    done = subprocess.run(
        [str(wangge), "--help"], capture_output=True, text=True, check=False, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert "blocks" in done.stdout


def test_blocks_help() -> None:
    result = CliRunner().invoke(app, ["blocks", "--help"])

    assert result.exit_code == 0, result.output
    for option in ("--out", "--map", "--boundary", "--roads", "--households", "--crs"):
        assert option in result.output


def test_blocks_writes_every_layer_in_wgs84(nantong_run: Run) -> None:
    layers = {str(name) for name in pyogrio.list_layers(nantong_run.out)[:, 0]}

    assert layers >= OUTPUT_LAYERS
    for layer in OUTPUT_LAYERS:
        assert pyogrio.read_info(nantong_run.out, layer=layer)["crs"] == "EPSG:4326"
    assert nantong_run.report["output_crs"] == "EPSG:4326"
    assert nantong_run.report["crs"] == "EPSG:32651"


def test_report_agrees_with_the_blocks_layer(nantong_run: Run) -> None:
    blocks = gpd.read_file(nantong_run.out, layer="blocks", engine="pyogrio")
    buildings = gpd.read_file(nantong_run.out, layer="buildings", engine="pyogrio")
    report = nantong_run.report

    assert report["blocks"] == len(blocks) > 1
    assert report["households"] == int(blocks[col.HOUSEHOLDS].sum()) > 0
    assert report["households"] == report["households_in_area"]
    assert report["buildings"] == len(buildings) == int(blocks["n_buildings"].sum())
    assert report["buildings_split"] == 0
    assert report["gap_m2"] < 1.0
    assert report["overlap_m2"] < 1.0
    assert blocks[col.BLOCK_ID].is_unique
    assert buildings[col.BLOCK_ID].isin(blocks[col.BLOCK_ID]).all()


def test_map_credits_openstreetmap(nantong_run: Run) -> None:
    html = nantong_run.map_path.read_text("utf-8")

    assert "OpenStreetMap contributors" in html
    assert "<html" in html.lower()


def test_summary_names_the_outputs(nantong_run: Run) -> None:
    assert str(nantong_run.out.name) in nantong_run.stdout.replace("\n", "")
    assert "blocks" in nantong_run.stdout
