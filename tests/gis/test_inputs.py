"""Reading an area (gis.inputs.read): conventional GeoPackage, separate files, bad input refused.

The fixture is a 500 m square community near Shanghai (121.5E 31.23N) cut into four quarters by
two crossing streets, with one household point and one building per quarter. It is built in
EPSG:32651 and written in whatever CRS and format a test needs.

Every bad-input case goes through both the library (the right :mod:`gis.errors` class, with a
message that names the problem and the fix) and the ``wangge blocks`` command (non-zero exit,
one line of error, no traceback, no output file).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box
from typer.testing import CliRunner

from gis import columns as col
from gis.cli import app
from gis.errors import CRSError, GeometryError, HouseholdError, InputFileError, WanggeError
from gis.inputs.read import Area, read_area

LON, LAT = 121.5, 31.23
UTM = "EPSG:32651"
HALF_M = 250.0
HOUSEHOLDS = [10, 20, 30, 40]


def _centre() -> tuple[float, float]:
    to_utm = pyproj.Transformer.from_crs(4326, UTM, always_xy=True)
    return to_utm.transform(LON, LAT)


def area_layers() -> dict[str, gpd.GeoDataFrame]:
    """The fixture area, in EPSG:32651: boundary, roads, households, buildings, sites."""
    x0, y0 = _centre()
    q = HALF_M / 2
    quarters = [(x0 - q, y0 - q), (x0 + q, y0 - q), (x0 - q, y0 + q), (x0 + q, y0 + q)]
    boundary = gpd.GeoDataFrame(
        {"code": ["310101001001"], "name": ["示范社区"]},
        geometry=[box(x0 - HALF_M, y0 - HALF_M, x0 + HALF_M, y0 + HALF_M)],
        crs=UTM,
    )
    reach = HALF_M + 50
    roads = gpd.GeoDataFrame(
        {"highway": ["residential", "tertiary"], "name": ["东西路", "南北路"]},
        geometry=[
            LineString([(x0 - reach, y0), (x0 + reach, y0)]),
            LineString([(x0, y0 - reach), (x0, y0 + reach)]),
        ],
        crs=UTM,
    )
    households = gpd.GeoDataFrame(
        {col.HOUSEHOLDS: HOUSEHOLDS, "address": ["1号", "2号", "3号", "4号"]},
        geometry=[Point(x, y) for x, y in quarters],
        crs=UTM,
    )
    buildings = gpd.GeoDataFrame(
        {"building": ["residential"] * 4},
        geometry=[box(x - 10, y - 10, x + 10, y + 10) for x, y in quarters],
        crs=UTM,
    )
    sites = gpd.GeoDataFrame(
        {"name": ["小学"]},
        geometry=[box(x0 + 150, y0 + 150, x0 + 200, y0 + 200)],
        crs=UTM,
    )
    return {
        "boundary": boundary,
        "roads": roads,
        "households": households,
        "buildings": buildings,
        "sites": sites,
    }


def write_gpkg(
    path: Path, layers: dict[str, gpd.GeoDataFrame], *, crs: str | int | None = 4326
) -> Path:
    """Write layers into one GeoPackage, reprojected to ``crs``."""
    for name, gdf in layers.items():
        out = gdf.to_crs(crs) if crs is not None and gdf.crs is not None else gdf
        out.to_file(path, layer=name, engine="pyogrio")
    return path


def assert_same_area(area: Area, expected: Area) -> None:
    """Two readings of the same place agree on every property that matters."""
    assert area.crs == expected.crs
    assert area.boundary.area.sum() == pytest.approx(expected.boundary.area.sum(), rel=1e-6)
    assert area.roads.length.sum() == pytest.approx(expected.roads.length.sum(), rel=1e-6)
    assert sorted(area.roads[col.HIGHWAY]) == sorted(expected.roads[col.HIGHWAY])
    assert area.households[col.HOUSEHOLDS].sum() == expected.households[col.HOUSEHOLDS].sum()
    assert area.buildings.area.sum() == pytest.approx(expected.buildings.area.sum(), rel=1e-6)
    assert len(area.sites) == len(expected.sites)
    assert list(area.boundary[col.UNIT_NAME]) == list(expected.boundary[col.UNIT_NAME])


# ---------------------------------------------------------------- good input


def test_conventional_geopackage_reads_every_layer(tmp_path: Path) -> None:
    gpkg = write_gpkg(tmp_path / "area.gpkg", area_layers())

    area = read_area(gpkg)

    assert area.crs.to_epsg() == 32651
    assert list(area.boundary[col.UNIT_CODE]) == ["310101001001"]
    assert list(area.boundary[col.UNIT_NAME]) == ["示范社区"]
    assert area.boundary.area.sum() == pytest.approx((2 * HALF_M) ** 2, rel=1e-4)
    assert len(area.roads) == 2
    assert set(area.roads[col.HIGHWAY]) == {"residential", "tertiary"}
    assert area.households[col.HOUSEHOLDS].dtype == np.int64
    assert area.households[col.HOUSEHOLDS].sum() == sum(HOUSEHOLDS)
    assert not area.households[col.HOUSEHOLDS_ESTIMATED].any()
    assert len(area.buildings) == 4
    assert area.buildings[col.BUILDING_ID].is_unique
    assert len(area.sites) == 1
    for layer in (area.boundary, area.roads, area.households, area.buildings, area.sites):
        assert layer.crs == area.crs


@pytest.mark.parametrize("roads", ["absent", "empty"])
def test_roads_layer_may_be_absent_or_empty(tmp_path: Path, roads: str) -> None:
    layers = area_layers()
    if roads == "absent":
        del layers["roads"]
    else:
        layers["roads"] = layers["roads"].iloc[0:0]
    gpkg = write_gpkg(tmp_path / "area.gpkg", layers)

    area = read_area(gpkg)

    assert area.roads.empty
    assert area.boundary.area.sum() == pytest.approx((2 * HALF_M) ** 2, rel=1e-4)
    assert area.households[col.HOUSEHOLDS].sum() == sum(HOUSEHOLDS)


def test_area_without_roads_is_one_block_through_the_cli(tmp_path: Path) -> None:
    layers = area_layers()
    del layers["roads"]
    gpkg = write_gpkg(tmp_path / "area.gpkg", layers)
    out = tmp_path / "out" / "out.gpkg"

    result = CliRunner().invoke(app, ["blocks", str(gpkg), "--out", str(out)])

    assert result.exit_code == 0, result.output
    blocks = gpd.read_file(out, layer="blocks", engine="pyogrio")
    assert len(blocks) == 1
    assert blocks[col.HOUSEHOLDS].sum() == sum(HOUSEHOLDS)


FORMATS = {"geojson": "GeoJSON", "shapefile": "ESRI Shapefile", "geoparquet": None}
SUFFIXES = {"geojson": ".geojson", "shapefile": ".shp", "geoparquet": ".parquet"}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_separate_files_read_like_the_geopackage(tmp_path: Path, fmt: str) -> None:
    layers = area_layers()
    expected = read_area(write_gpkg(tmp_path / "area.gpkg", layers))
    files: dict[str, Path] = {}
    for name, gdf in layers.items():
        path = tmp_path / f"{name}{SUFFIXES[fmt]}"
        wgs = gdf.to_crs(4326)
        if FORMATS[fmt] is None:
            wgs.to_parquet(path)
        else:
            wgs.to_file(path, driver=FORMATS[fmt], engine="pyogrio")
        files[name] = path

    area = read_area(**files)

    assert_same_area(area, expected)


def test_separate_file_replaces_the_geopackage_layer(tmp_path: Path) -> None:
    layers = area_layers()
    gpkg = write_gpkg(tmp_path / "area.gpkg", layers)
    doubled = layers["households"].assign(**{col.HOUSEHOLDS: [2 * h for h in HOUSEHOLDS]})
    doubled.to_crs(4326).to_file(tmp_path / "hh.geojson", driver="GeoJSON", engine="pyogrio")

    area = read_area(gpkg, households=tmp_path / "hh.geojson")

    assert area.households[col.HOUSEHOLDS].sum() == 2 * sum(HOUSEHOLDS)
    assert len(area.roads) == 2


def test_household_column_may_have_another_name(tmp_path: Path) -> None:
    layers = area_layers()
    layers["households"] = layers["households"].rename(columns={col.HOUSEHOLDS: "户数"})
    gpkg = write_gpkg(tmp_path / "area.gpkg", layers)

    area = read_area(gpkg, household_column="户数")

    assert area.households[col.HOUSEHOLDS].sum() == sum(HOUSEHOLDS)


# ---------------------------------------------------------------- bad input


def assert_refused(
    tmp_path: Path,
    error: type[WanggeError],
    words: tuple[str, ...],
    source: Path | None = None,
    **files: Path,
) -> None:
    """The library raises ``error`` naming ``words``; the CLI exits non-zero, writes nothing.

    ``words`` are lower-case fragments of the message: at least one naming the problem and
    one naming the fix.
    """
    with pytest.raises(error) as info:
        read_area(source, **files)  # type: ignore[arg-type]
    message = str(info.value).lower()
    for word in words:
        assert word in message, f"{word!r} not in message {info.value}"

    out_dir = tmp_path / "out"
    args = ["blocks"] + ([str(source)] if source is not None else [])
    for name, path in files.items():
        args += [f"--{name}", str(path)]
    args += ["--out", str(out_dir / "out.gpkg")]
    result = CliRunner().invoke(app, args)

    assert result.exit_code == error.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    for word in words:
        assert word in lines[0].lower()
    assert not (out_dir / "out.gpkg").exists()
    assert not (out_dir / "out.json").exists()
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_self_intersecting_boundary_is_refused(tmp_path: Path) -> None:
    layers = area_layers()
    x0, y0 = _centre()
    bow_tie = Polygon(
        [(x0 - HALF_M, y0 - HALF_M), (x0 + HALF_M, y0 + HALF_M),
         (x0 + HALF_M, y0 - HALF_M), (x0 - HALF_M, y0 + HALF_M)]
    )  # fmt: skip
    assert not bow_tie.is_valid
    layers["boundary"] = layers["boundary"].set_geometry([bow_tie], crs=UTM)
    gpkg = write_gpkg(tmp_path / "area.gpkg", layers)

    assert_refused(tmp_path, GeometryError, ("invalid", "self-intersection", "make"), gpkg)


def test_missing_household_column_is_refused(tmp_path: Path) -> None:
    layers = area_layers()
    layers["households"] = layers["households"].drop(columns=col.HOUSEHOLDS)
    gpkg = write_gpkg(tmp_path / "area.gpkg", layers)

    assert_refused(tmp_path, HouseholdError, ("no column 'households'", "--household-column"), gpkg)


def test_negative_household_count_is_refused(tmp_path: Path) -> None:
    layers = area_layers()
    layers["households"][col.HOUSEHOLDS] = [10, -3, 30, 40]
    gpkg = write_gpkg(tmp_path / "area.gpkg", layers)

    assert_refused(tmp_path, HouseholdError, ("negative", "-3", "0 or more"), gpkg)


def test_non_numeric_household_count_is_refused(tmp_path: Path) -> None:
    layers = area_layers()
    layers["households"][col.HOUSEHOLDS] = ["10", "abc", "30", "40"]
    gpkg = write_gpkg(tmp_path / "area.gpkg", layers)

    assert_refused(tmp_path, HouseholdError, ("non-numeric", "abc", "whole numbers"), gpkg)


def test_boundary_layer_without_features_is_refused(tmp_path: Path) -> None:
    layers = area_layers()
    layers["boundary"] = layers["boundary"].iloc[0:0]
    gpkg = write_gpkg(tmp_path / "area.gpkg", layers)

    assert_refused(tmp_path, GeometryError, ("no administrative boundary", "polygon"), gpkg)


def test_boundary_with_empty_geometry_is_refused(tmp_path: Path) -> None:
    layers = area_layers()
    layers["boundary"] = layers["boundary"].set_geometry([Polygon()], crs=UTM)
    gpkg = write_gpkg(tmp_path / "area.gpkg", layers)

    assert_refused(tmp_path, GeometryError, ("empty geometry", "redraw"), gpkg)


def test_roads_that_miss_the_boundary_are_refused(tmp_path: Path) -> None:
    layers = area_layers()
    layers["roads"] = layers["roads"].set_geometry(layers["roads"].translate(xoff=50_000))
    gpkg = write_gpkg(tmp_path / "area.gpkg", layers)

    assert_refused(tmp_path, GeometryError, ("no road touches the boundary", "same area"), gpkg)


@pytest.mark.parametrize("layer", ["households", "buildings"])
def test_households_or_buildings_that_miss_the_boundary_are_refused(
    tmp_path: Path, layer: str
) -> None:
    layers = area_layers()
    if layer not in layers:
        pytest.skip(f"fixture has no {layer} layer")
    layers[layer] = layers[layer].set_geometry(layers[layer].translate(xoff=50_000))
    gpkg = write_gpkg(tmp_path / "area.gpkg", layers)

    assert_refused(tmp_path, GeometryError, (f"no feature of the {layer}", "same area"), gpkg)


@pytest.mark.parametrize("kind", ["text named .gpkg", "random bytes", "random bytes .parquet"])
def test_file_that_is_not_a_vector_file_is_refused(tmp_path: Path, kind: str) -> None:
    if kind == "text named .gpkg":
        bad = tmp_path / "area.gpkg"
        bad.write_text("boundary,roads\nthis is not a GeoPackage\n", "utf-8")
    else:
        suffix = ".parquet" if kind.endswith(".parquet") else ".gpkg"
        bad = tmp_path / f"noise{suffix}"
        bad.write_bytes(np.random.default_rng(0).bytes(4096))
    if bad.suffix == ".parquet":
        words = ("not a geoparquet file", "to_parquet")
        assert_refused(tmp_path, InputFileError, words, boundary=bad)
    else:
        words = ("not a vector file", "give a geopackage")
        assert_refused(tmp_path, InputFileError, words, bad)


@pytest.mark.parametrize("how", ["source", "--boundary"])
def test_file_that_does_not_exist_is_refused(tmp_path: Path, how: str) -> None:
    missing = tmp_path / "nowhere" / "area.gpkg"
    words = ("does not exist", "check the path")

    if how == "source":
        assert_refused(tmp_path, InputFileError, words, missing)
    else:
        assert_refused(tmp_path, InputFileError, words, boundary=missing)


def _in_4326(layers: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    return {name: gdf.to_crs(4326) for name, gdf in layers.items()}


def test_degrees_declared_as_metres_are_refused(tmp_path: Path) -> None:
    mislabelled = {
        name: gdf.set_crs(UTM, allow_override=True) for name, gdf in _in_4326(area_layers()).items()
    }
    gpkg = write_gpkg(tmp_path / "area.gpkg", mislabelled, crs=None)

    assert_refused(
        tmp_path, CRSError, ("epsg:32651", "look like degrees", "declare its geographic crs"), gpkg
    )


def test_swapped_latitude_and_longitude_are_refused(tmp_path: Path) -> None:
    swapped = {
        name: gdf.set_geometry(shapely.transform(gdf.geometry.to_numpy(), lambda xy: xy[:, ::-1]))
        for name, gdf in _in_4326(area_layers()).items()
    }
    assert swapped["boundary"].total_bounds[0] == pytest.approx(LAT, abs=0.01)
    gpkg = write_gpkg(tmp_path / "area.gpkg", swapped, crs=None)

    assert_refused(tmp_path, CRSError, ("latitude and longitude swapped", "longitude as x"), gpkg)


def test_boundary_without_crs_is_refused(tmp_path: Path) -> None:
    layers = _in_4326(area_layers())
    layers["boundary"] = layers["boundary"].set_crs(None, allow_override=True)
    with pytest.warns(UserWarning, match="'crs' was not provided"):  # pyogrio, rightly
        gpkg = write_gpkg(tmp_path / "area.gpkg", layers, crs=None)

    assert_refused(
        tmp_path, CRSError, ("'boundary' has no coordinate reference system", "--input-crs"), gpkg
    )
    # the fix the message names works
    assert read_area(gpkg, input_crs="EPSG:4326").crs.to_epsg() == 32651
