"""``gis.assign_points`` / ``wangge assign``: grid codes for a table of points, in-process.

Every format (GeoParquet, Parquet lon/lat, CSV, a folder of parts), every coordinate system,
versions, the lookups' boundary rule on shared edges and vertices, and bad input that leaves
nothing behind. The same on a real Dask cluster is in ``test_dask_cluster.py``.
"""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

import gis
from gis import columns as col
from gis.cli import app
from gis.errors import AssignError, CRSError, OptionError, PointsError, VersionNotFoundError
from gis.geometry.coords import wgs84_to_bd09, wgs84_to_gcj02
from gis.serving.lookup import GridIndex
from gis.store.plan import pick_grid


def shared_points(grids: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Vertices on two or more grids and midpoints of edges two grids share (EPSG:4326)."""
    owners: dict[tuple[float, float], set[int]] = {}
    edges: Counter[tuple[tuple[float, float], tuple[float, float]]] = Counter()
    for i, geom in enumerate(grids.geometry):
        for ring in shapely.get_rings(geom):
            xy = [tuple(p) for p in shapely.get_coordinates(ring)]
            for p in xy[:-1]:
                owners.setdefault(p, set()).add(i)
            for a, b in itertools.pairwise(xy):
                edges[(min(a, b), max(a, b))] += 1
    points = [p for p, who in owners.items() if len(who) >= 2]
    points += [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for (a, b), n in edges.items() if n >= 2]
    arr = np.asarray(points, dtype=float)
    return arr[:, 0], arr[:, 1]


@pytest.fixture(scope="module")
def store_path(shanghai_plan: gis.Plan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Shanghai plan published twice: version 2 has other codes (suffix ``-2``)."""
    path = tmp_path_factory.mktemp("assign") / "plans.gpkg"
    with gis.open_store(path) as store:
        store.publish(shanghai_plan.grids, author="tests", band=shanghai_plan.band)
        second = shanghai_plan.grids.copy()
        second[col.GRID_CODE] = second[col.GRID_CODE] + "-2"
        store.publish(second, author="tests", note="recoded", band=shanghai_plan.band)
    return path


@pytest.fixture(scope="module")
def points(store_path: Path) -> pd.DataFrame:
    """4,000 random points around the plan (some outside) and every shared vertex/midpoint."""
    with gis.open_store(store_path) as store:
        grids = store.read_grids(1)
    x0, y0, x1, y1 = grids.total_bounds
    rng = np.random.default_rng(5)
    lon, lat = shared_points(grids)
    lon = np.concatenate([rng.uniform(x0 - 0.002, x1 + 0.002, 4000), lon])
    lat = np.concatenate([rng.uniform(y0 - 0.002, y1 + 0.002, 4000), lat])
    index = GridIndex(grids)
    where = index.locate(lon, lat)
    return pd.DataFrame(
        {
            "id": np.arange(len(lon)),
            "label": [f"{i:07d}" for i in range(len(lon))],  # leading zeros survive CSV
            "lon": lon,
            "lat": lat,
            "expected": [index.code(int(w)) for w in where],
        }
    )


def written(out: Path) -> pd.DataFrame:
    files = sorted(out.glob("part-*.parquet"))
    assert files, f"no parts in {out}"
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in files]  # nothing else
    return pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)


def codes(frame: pd.DataFrame, column: str = col.GRID_CODE) -> list[str | None]:
    return [None if pd.isna(c) else str(c) for c in frame[column]]


@pytest.mark.parametrize("kind", ["parquet", "geoparquet", "csv", "folder"])
def test_every_format_gets_the_lookup_codes(
    kind: str, points: pd.DataFrame, store_path: Path, tmp_path: Path
) -> None:
    src = tmp_path / "points"
    table = points.drop(columns="expected")
    if kind == "parquet":
        src = src.with_suffix(".parquet")
        table.to_parquet(src, row_group_size=500)
    elif kind == "geoparquet":
        src = src.with_suffix(".parquet")
        geo = gpd.GeoDataFrame(
            table.drop(columns=["lon", "lat"]),
            geometry=gpd.points_from_xy(table.lon, table.lat),
            crs=4326,
        )
        geo.to_parquet(src, row_group_size=700)
    elif kind == "csv":
        src = src.with_suffix(".csv")
        table.to_csv(src, index=False)
    else:
        src.mkdir()
        for i, chunk in enumerate(np.array_split(np.arange(len(table)), 3)):
            table.iloc[chunk].to_parquet(src / f"chunk-{i}.parquet")
    out = tmp_path / "out"
    result = gis.assign_points(
        src, store=store_path, out=out, version=1, rows_per_part=1000, csv_part_bytes=40_000
    )
    got = written(out)
    assert result.parts >= 3
    assert result.rows == len(points) == len(got)
    assert got["id"].astype(int).tolist() == points["id"].tolist()  # input order kept
    assert codes(got) == codes(points, "expected")
    assert result.in_grids == points["expected"].notna().sum() < len(points)
    assert got["label"].tolist() == points["label"].tolist()
    if kind == "geoparquet":
        assert gpd.read_parquet(out / "part-00000.parquet").crs.to_epsg() == 4326


def test_unit_codes_and_the_boundary_rule(
    points: pd.DataFrame, store_path: Path, tmp_path: Path
) -> None:
    src = tmp_path / "p.parquet"
    points.drop(columns="expected").to_parquet(src)
    gis.assign_points(src, store=store_path, out=tmp_path / "out", version=1)
    got = written(tmp_path / "out")
    with gis.open_store(store_path) as store:
        grids = store.read_grids(1)
    unit_of = dict(zip(grids[col.GRID_CODE], grids[col.PARENT_CODE], strict=True))
    inside = got[col.GRID_CODE].notna()
    assert (got.loc[inside, col.UNIT_CODE] == got.loc[inside, col.GRID_CODE].map(unit_of)).all()
    assert got.loc[~inside, col.UNIT_CODE].isna().all()
    shared = points.index[4000:4300]  # vertices and midpoints: the nudge decides
    assert [got[col.GRID_CODE][i] for i in shared] == [
        pick_grid(grids, points.lon[i], points.lat[i]) for i in shared
    ]


@pytest.mark.parametrize("crs", ["gcj02", "bd09", "cgcs2000", "EPSG:32651"])
def test_coordinates_in_other_systems_get_the_same_codes(
    crs: str, points: pd.DataFrame, store_path: Path, tmp_path: Path
) -> None:
    sample = points.iloc[:1500]  # random points: the offset systems round-trip to < 1 mm
    lon, lat = sample.lon.to_numpy(), sample.lat.to_numpy()
    if crs == "gcj02":
        lon, lat = wgs84_to_gcj02(lon, lat)
    elif crs == "bd09":
        lon, lat = wgs84_to_bd09(lon, lat)
    elif crs.startswith("EPSG"):
        xy = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(crs)
        lon, lat = xy.x.to_numpy(), xy.y.to_numpy()
    src = tmp_path / "p.csv"
    pd.DataFrame({"x": lon, "y": lat}).to_csv(src, index=False)
    gis.assign_points(src, store=store_path, out=tmp_path / "out", crs=crs, version=1)
    assert codes(written(tmp_path / "out")) == codes(sample, "expected")


def test_versions_and_as_of(points: pd.DataFrame, store_path: Path, tmp_path: Path) -> None:
    src = tmp_path / "p.parquet"
    points.drop(columns="expected").iloc[:500].to_parquet(src)
    expected = codes(points.iloc[:500], "expected")
    gis.assign_points(src, store=store_path, out=tmp_path / "live")  # version 2 is live
    assert codes(written(tmp_path / "live")) == [None if c is None else c + "-2" for c in expected]
    with gis.open_store(store_path) as store:
        first = store.version(1)
    gis.assign_points(src, store=store_path, out=tmp_path / "then", as_of=first.valid_from)
    assert codes(written(tmp_path / "then")) == expected
    with pytest.raises(VersionNotFoundError, match="no plan version 9"):
        gis.assign_points(src, store=store_path, out=tmp_path / "none", version=9)
    assert not (tmp_path / "none").exists()


def test_points_without_coordinates_are_one_clear_error(store_path: Path, tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    pd.DataFrame({"id": [1, 2], "address": ["a", "b"]}).to_csv(src, index=False)
    out = tmp_path / "out"
    with pytest.raises(PointsError, match=r"has no coordinates: .*columns: \['id', 'address'\]"):
        gis.assign_points(src, store=store_path, out=out)
    result = CliRunner().invoke(
        app, ["assign", str(src), "--store", str(store_path), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "has no coordinates" in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temporary folder left either


def test_a_bad_row_fails_the_run_and_nothing_is_written(
    points: pd.DataFrame, store_path: Path, tmp_path: Path
) -> None:
    table = points.drop(columns="expected").astype({"lat": str})
    table.loc[3500, "lat"] = "north"
    src = tmp_path / "p.csv"
    table.to_csv(src, index=False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.parquet").write_bytes(b"an earlier run")
    with pytest.raises(AssignError, match=r"1 of \d+ parts .* nothing was written: .*'north'"):
        gis.assign_points(src, store=store_path, out=out, csv_part_bytes=30_000)
    assert [p.name for p in out.iterdir()] == ["old.parquet"]  # the earlier output is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "p.csv"]


def test_outputs_that_would_destroy_inputs_are_refused(store_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pts"
    folder.mkdir()
    pd.DataFrame({"lon": [121.49], "lat": [31.24]}).to_parquet(folder / "a.parquet")
    with pytest.raises(OptionError, match="inside the points"):
        gis.assign_points(folder, store=store_path, out=folder / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OptionError, match="is a file"):
        gis.assign_points(folder, store=store_path, out=tmp_path / "file")
    with pytest.raises(CRSError, match="unknown crs"):
        gis.assign_points(folder, store=store_path, out=tmp_path / "o", crs="mars2000")
    pd.DataFrame({"lon": [1.0], "lat": [2.0], "grid_code": ["x"]}).to_parquet(tmp_path / "g.pq")
    with pytest.raises(PointsError, match="already has a 'grid_code' column"):
        gis.assign_points(tmp_path / "g.pq", store=store_path, out=tmp_path / "o")


def test_assign_command(points: pd.DataFrame, store_path: Path, tmp_path: Path) -> None:
    src = tmp_path / "p.parquet"
    points.drop(columns="expected").to_parquet(src)
    out = tmp_path / "out"
    args = ["assign", str(src), "--store", str(store_path), "--out", str(out), "--version", "1"]
    result = CliRunner().invoke(app, [*args, "--part-rows", "2000"])
    assert result.exit_code == 0, result.output
    assert f"{len(points):,} points" in result.output
    assert codes(written(out)) == codes(points, "expected")
    both = CliRunner().invoke(app, [*args, "--as-of", "2020-01-01T00:00:00+00:00"])
    assert both.exit_code == 2
    assert "not both" in both.output
