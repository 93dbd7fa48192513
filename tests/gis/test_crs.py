"""Coordinate reference systems (gis.geometry.crs): what inputs claim, and the metric CRS work
happens in.

The same 500 m square near Shanghai (121.5E 31.23N) is written in WGS 84, CGCS2000 (EPSG:4490,
whose official axis order is latitude first), UTM 51N and a CGCS2000 Gauss-Krüger zone; each
must read as the same place with the same area. Bad CRS input through the command line is
tested with the other bad input in ``test_inputs.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyogrio
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, Point, box
from typer.testing import CliRunner

from gis import columns as col
from gis.cli import app
from gis.errors import CRSError
from gis.geometry.crs import check_coordinates, local_metric_crs, parse_crs, require_metric
from gis.inputs.read import read_area

LON, LAT = 121.5, 31.23
SIDE_M = 500.0


def square_area(crs: str | int) -> dict[str, gpd.GeoDataFrame]:
    """Boundary, two crossing roads, four household points: built in UTM 51N, given in crs."""
    x0, y0 = pyproj.Transformer.from_crs(4326, 32651, always_xy=True).transform(LON, LAT)
    h = SIDE_M / 2
    layers = {
        "boundary": gpd.GeoDataFrame(
            {"name": ["示范社区"]}, geometry=[box(x0 - h, y0 - h, x0 + h, y0 + h)], crs=32651
        ),
        "roads": gpd.GeoDataFrame(
            {"highway": ["residential", "residential"]},
            geometry=[
                LineString([(x0 - h - 20, y0), (x0 + h + 20, y0)]),
                LineString([(x0, y0 - h - 20), (x0, y0 + h + 20)]),
            ],
            crs=32651,
        ),
        "households": gpd.GeoDataFrame(
            {col.HOUSEHOLDS: [5, 6, 7, 8]},
            geometry=[Point(x0 + dx, y0 + dy) for dx in (-h / 2, h / 2) for dy in (-h / 2, h / 2)],
            crs=32651,
        ),
    }
    return {name: gdf.to_crs(crs) for name, gdf in layers.items()}


def write_gpkg(path: Path, layers: dict[str, gpd.GeoDataFrame]) -> Path:
    for name, gdf in layers.items():
        gdf.to_file(path, layer=name, engine="pyogrio")
    return path


@pytest.fixture(scope="module")
def wgs84_area_m2(tmp_path_factory: pytest.TempPathFactory) -> float:
    path = tmp_path_factory.mktemp("wgs84") / "area.gpkg"
    return float(read_area(write_gpkg(path, square_area(4326))).boundary.area.sum())


# ---------------------------------------------------------------- reading in any CRS


@pytest.mark.parametrize("epsg", [4326, 4490, 32651, 4549])
def test_every_input_crs_gives_the_same_area(
    tmp_path: Path, epsg: int, wgs84_area_m2: float
) -> None:
    gpkg = write_gpkg(tmp_path / "area.gpkg", square_area(epsg))
    assert pyogrio.read_info(gpkg, layer="boundary")["crs"] == f"EPSG:{epsg}"

    area = read_area(gpkg)

    assert area.crs.to_epsg() == 32651
    assert area.boundary.area.sum() == pytest.approx(SIDE_M**2, rel=1e-3)
    assert area.boundary.area.sum() == pytest.approx(wgs84_area_m2, rel=0.005)
    assert area.roads.length.sum() == pytest.approx(2 * (SIDE_M + 40), rel=1e-3)
    assert area.households[col.HOUSEHOLDS].sum() == 26
    lon, lat = area.boundary.to_crs(4326).geometry.iloc[0].centroid.coords[0]
    assert lon == pytest.approx(LON, abs=1e-4)
    assert lat == pytest.approx(LAT, abs=1e-4)


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_cgcs2000_is_read_longitude_first(tmp_path: Path, suffix: str) -> None:
    layers = square_area(4490)
    paths = {}
    for name, gdf in layers.items():
        paths[name] = tmp_path / f"{name}{suffix}"
        gdf.to_file(paths[name], engine="pyogrio")

    # on disk and as GDAL reads it back: x is longitude, y latitude
    raw = pyogrio.read_dataframe(paths["boundary"])
    assert pyproj.CRS(raw.crs).to_epsg() == 4490
    minx, miny, maxx, maxy = raw.total_bounds
    assert 121 < minx < maxx < 122
    assert 31 < miny < maxy < 32

    area = read_area(**paths)

    minx, miny, maxx, maxy = area.boundary.to_crs(4326).total_bounds
    assert (minx + maxx) / 2 == pytest.approx(LON, abs=1e-4)
    assert (miny + maxy) / 2 == pytest.approx(LAT, abs=1e-4)
    assert area.boundary.area.sum() == pytest.approx(SIDE_M**2, rel=0.005)


def test_work_crs_is_metric_and_every_layer_is_in_it(tmp_path: Path) -> None:
    area = read_area(write_gpkg(tmp_path / "area.gpkg", square_area(4326)))

    assert area.crs.is_projected
    assert area.crs.axis_info[0].unit_name == "metre"
    for layer in (area.boundary, area.roads, area.households):
        assert layer.crs == area.crs


def test_work_crs_can_be_given(tmp_path: Path) -> None:
    gpkg = write_gpkg(tmp_path / "area.gpkg", square_area(4326))

    area = read_area(gpkg, crs="EPSG:4549")

    assert area.crs.to_epsg() == 4549
    assert area.boundary.crs == area.crs
    assert area.boundary.area.sum() == pytest.approx(SIDE_M**2, rel=1e-3)


def test_geographic_work_crs_is_refused(tmp_path: Path) -> None:
    gpkg = write_gpkg(tmp_path / "area.gpkg", square_area(4326))

    with pytest.raises(CRSError, match="not in metres"):
        read_area(gpkg, crs="EPSG:4490")


def test_cli_states_work_and_output_crs(tmp_path: Path) -> None:
    gpkg = write_gpkg(tmp_path / "area.gpkg", square_area(4490))
    out = tmp_path / "out.gpkg"

    result = CliRunner().invoke(app, ["blocks", str(gpkg), "--out", str(out)])

    assert result.exit_code == 0, result.output
    report = json.loads(out.with_suffix(".json").read_text("utf-8"))
    assert report["crs"] == "EPSG:32651"
    assert report["output_crs"] == "EPSG:4326"
    assert pyogrio.read_info(out, layer="blocks")["crs"] == "EPSG:4326"
    assert report["households"] == 26


# ---------------------------------------------------------------- gis.geometry.crs functions


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [(121.5, 31.23, 32651), (116.35, 39.96, 32650), (120.86, 32.01, 32651), (-0.1, 51.5, 32630)],
)
def test_local_metric_crs_is_the_utm_zone(lon: float, lat: float, epsg: int) -> None:
    here = gpd.GeoDataFrame(geometry=[Point(lon, lat).buffer(0.002)], crs=4326)

    assert local_metric_crs(here).to_epsg() == epsg
    assert local_metric_crs(here.to_crs(4549)).to_epsg() == epsg


@pytest.mark.parametrize("value", ["EPSG:4326", 4490, "epsg:32651", pyproj.CRS(4549)])
def test_parse_crs_accepts_codes_and_objects(value: str | int | pyproj.CRS) -> None:
    assert isinstance(parse_crs(value), pyproj.CRS)


def test_parse_crs_refuses_unknown_codes() -> None:
    with pytest.raises(CRSError, match=r"unknown CRS 'EPSG:999999'.*EPSG:4326"):
        parse_crs("EPSG:999999")


@pytest.mark.parametrize("value", ["EPSG:4326", "EPSG:4490", "EPSG:2249"])
def test_require_metric_refuses_degrees_and_feet(value: str) -> None:
    with pytest.raises(CRSError, match="not in metres"):
        require_metric(parse_crs(value))


def test_check_coordinates_accepts_honest_layers() -> None:
    for crs in (4326, 4490, 32651, 4549):
        check_coordinates(square_area(crs)["boundary"], what="boundary")


def test_check_coordinates_refuses_metres_declared_as_degrees() -> None:
    metres = square_area(32651)["boundary"].set_crs(4326, allow_override=True)

    with pytest.raises(CRSError, match=r"are not degrees.*declare the right one"):
        check_coordinates(metres, what="boundary")


def test_check_coordinates_refuses_degrees_declared_as_metres() -> None:
    degrees = square_area(4326)["boundary"].set_crs(32651, allow_override=True)

    with pytest.raises(CRSError, match=r"look like degrees.*EPSG:4490"):
        check_coordinates(degrees, what="boundary")


@pytest.mark.parametrize("epsg", [4326, 4490])
def test_check_coordinates_refuses_latitude_first(epsg: int) -> None:
    wgs = square_area(epsg)["boundary"]
    swapped = wgs.set_geometry(shapely.transform(wgs.geometry.to_numpy(), lambda xy: xy[:, ::-1]))

    with pytest.raises(CRSError, match="latitude and longitude swapped"):
        check_coordinates(swapped, what="boundary")


def test_check_coordinates_refuses_a_missing_crs() -> None:
    bare = square_area(4326)["boundary"].set_crs(None, allow_override=True)

    with pytest.raises(CRSError, match=r"no coordinate reference system.*--input-crs"):
        check_coordinates(bare, what="boundary")
