"""OpenStreetMap input (gis.inputs.osm), offline: XML through osmnx, PBF through pyrosm.

Sources: the Nantong XML extract in ``data/raw`` and pyrosm's bundled test PBF (Helsinki).
OSM has no community boundaries, so each test writes one: the convex hull of the buildings.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyrosm
import pytest
import shapely
from typer.testing import CliRunner

from gis import columns as col
from gis.checks.coverage import buildings_not_whole, gap_and_overlap_m2
from gis.cli import app
from gis.errors import InputFileError
from gis.inputs.osm import layers_from_osm
from gis.inputs.prepare import Prepared, prepare_blocks
from gis.inputs.read import read_area

REPO = Path(__file__).resolve().parents[2]
SOURCES = {
    "nantong.osm": REPO / "data" / "raw" / "nantong_jiangsu_dispatchflow.osm",
    "test.osm.pbf": Path(pyrosm.get_data("test_pbf")),
}


@pytest.fixture(scope="module", params=list(SOURCES))
def osm(request: pytest.FixtureRequest) -> tuple[Path, dict[str, gpd.GeoDataFrame]]:
    """An OSM file and the layers read from it."""
    path = SOURCES[request.param]
    return path, layers_from_osm(path)


def write_hull_boundary(buildings: gpd.GeoDataFrame, path: Path) -> Path:
    """A boundary file: the convex hull of every building vertex (EPSG:4326)."""
    points = shapely.multipoints(shapely.get_coordinates(buildings.geometry.to_numpy()))
    hull = gpd.GeoDataFrame(
        {"code": ["D001"], "name": ["演示边界"]}, geometry=[shapely.convex_hull(points)], crs=4326
    )
    hull.to_crs(buildings.crs).to_file(path, layer="boundary", engine="pyogrio")
    return path


@pytest.fixture(scope="module")
def prepared(
    osm: tuple[Path, dict[str, gpd.GeoDataFrame]], tmp_path_factory: pytest.TempPathFactory
) -> Prepared:
    path, layers = osm
    boundary = write_hull_boundary(layers["buildings"], tmp_path_factory.mktemp("osm") / "b.gpkg")
    return prepare_blocks(path, boundary=boundary)


def test_roads_have_highway_tags(osm: tuple[Path, dict[str, gpd.GeoDataFrame]]) -> None:
    _, layers = osm
    roads = layers["roads"]

    assert len(roads) > 10
    assert roads.crs.to_epsg() == 4326
    assert roads[col.HIGHWAY].notna().all()
    assert set(roads.geom_type) <= {"LineString", "MultiLineString"}
    assert {"residential", "service"} & set(roads[col.HIGHWAY].astype(str))
    assert {"name", "tunnel", "bridge"} <= set(roads.columns)


def test_buildings_are_footprints(osm: tuple[Path, dict[str, gpd.GeoDataFrame]]) -> None:
    _, layers = osm
    buildings = layers["buildings"]

    assert len(buildings) > 10
    assert buildings.crs.to_epsg() == 4326
    assert set(buildings.geom_type) <= {"Polygon", "MultiPolygon"}
    assert (buildings["building"].astype(str) != "").all()


def test_blocks_tile_the_boundary(prepared: Prepared) -> None:
    bs = prepared.blockset
    whole = shapely.union_all(bs.units.geometry.to_numpy())

    gap, overlap = gap_and_overlap_m2(bs.blocks.geometry.to_numpy(), whole)

    assert len(bs.blocks) > 1
    assert gap < 1.0
    assert overlap < 1.0
    assert bs.blocks[col.BLOCK_ID].tolist() == list(range(len(bs.blocks)))


def test_every_building_lies_whole_in_exactly_one_block(prepared: Prepared) -> None:
    bs = prepared.blockset
    read = prepared.area.buildings

    assert len(bs.buildings) == len(read)  # the hull holds every building
    assert bs.buildings[col.BUILDING_ID].is_unique
    assert set(bs.buildings[col.BUILDING_ID]) == set(read[col.BUILDING_ID])
    assert bs.buildings[col.BLOCK_ID].isin(bs.blocks[col.BLOCK_ID]).all()
    assert buildings_not_whole(bs.buildings, bs.blocks, key=col.BLOCK_ID) == 0
    counted = bs.buildings.groupby(col.BLOCK_ID).size().reindex(bs.blocks[col.BLOCK_ID])
    assert (counted.fillna(0).to_numpy() == bs.blocks["n_buildings"].to_numpy()).all()


def test_only_degenerate_osm_buildings_are_dropped(
    osm: tuple[Path, dict[str, gpd.GeoDataFrame]], prepared: Prepared
) -> None:
    _, layers = osm
    raw = layers["buildings"].to_crs(prepared.area.crs)
    with_area = int((raw.area > 0.01).sum())

    assert with_area <= len(prepared.area.buildings) <= len(raw)


def test_households_are_estimated_and_conserved(prepared: Prepared) -> None:
    bs = prepared.blockset

    assert prepared.household_source == "estimated"
    assert bs.blocks[col.HOUSEHOLDS].sum() == bs.buildings[col.HOUSEHOLDS].sum() > 0
    assert bs.buildings[col.HOUSEHOLDS_ESTIMATED].all()
    assert (bs.blocks[col.HOUSEHOLDS].to_numpy() >= 0).all()
    assert np.issubdtype(bs.blocks[col.HOUSEHOLDS].dtype, np.integer)


@pytest.mark.parametrize("kind", ["invalid XML", "random bytes PBF"])
def test_broken_osm_file_is_refused(tmp_path: Path, kind: str) -> None:
    if kind == "invalid XML":
        broken = tmp_path / "broken.osm"
        broken.write_text(
            '<?xml version="1.0"?>\n<osm version="0.6">\n<node id="1" lat="32.0" lon="120.9"\n',
            "utf-8",
        )
        words = ("not an openstreetmap xml file", "export it again")
    else:
        broken = tmp_path / "broken.osm.pbf"
        broken.write_bytes(np.random.default_rng(0).bytes(5000))
        words = ("not an openstreetmap pbf file", "download the extract again")
    boundary = tmp_path / "boundary.gpkg"
    gpd.GeoDataFrame(
        {"name": ["演示"]}, geometry=[shapely.box(120.8, 31.9, 121.0, 32.1)], crs=4326
    ).to_file(boundary, layer="boundary", engine="pyogrio")

    with pytest.raises(InputFileError) as info:
        layers_from_osm(broken)
    assert all(word in str(info.value).lower() for word in words)
    with pytest.raises(InputFileError):
        read_area(broken, boundary=boundary)

    out = tmp_path / "out" / "out.gpkg"
    result = CliRunner().invoke(
        app, ["blocks", str(broken), "--boundary", str(boundary), "--out", str(out)]
    )

    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error:")
    assert all(word in lines[0].lower() for word in words)
    assert not out.exists()
    assert not out.with_suffix(".json").exists()
