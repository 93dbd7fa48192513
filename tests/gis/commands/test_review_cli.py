"""``wangge submit | approve | reject | rollback | audit`` on both stores: the whole cycle, and
every refused step one line, exit 2, with nothing stored changed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cli_helpers import one_error_line, snapshot, wangge
from typer.testing import CliRunner

from gis.cli import app
from gis.outputs.files import write_layers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
from store_plans import make_plan

RUNNER = CliRunner()


def _plan_file(folder: Path, prefix: str) -> Path:
    path = folder / f"plan_{prefix}.gpkg"
    write_layers(path, {"grids": make_plan(3, prefix=prefix)})
    return path


def _run(*args: object) -> str:
    done = RUNNER.invoke(app, [str(a) for a in args])
    assert done.exit_code == 0, (args, done.output)
    return done.output


def _fails(*args: object) -> str:
    done = RUNNER.invoke(app, [str(a) for a in args])
    assert done.exit_code == 2, (args, done.output)
    return done.output


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """``--store`` (and ``--schema``) of an empty store of each kind."""
    if request.param == "postgis":
        pg = request.getfixturevalue("pg_schema")
        return ["--store", pg.url, "--schema", pg.schema]
    return ["--store", str(tmp_path / "plans.gpkg")]


def test_whole_cycle_through_the_cli(store: list[str], tmp_path: Path) -> None:
    plan_a, plan_b = _plan_file(tmp_path, "A"), _plan_file(tmp_path, "B")
    _run("publish", plan_a, "--author", "区网格中心", *store)
    said = _run("submit", plan_a, "--author", "街道办王芳", "--note", "调整意见", *store)
    assert "version 2 submitted for approval" in said
    listed = json.loads(_run("versions", "--json", *store))
    assert [(v["id"], v["state"], v["live"]) for v in listed] == [
        (1, "approved", True),
        (2, "submitted", False),
    ]
    assert "author and reviewer must differ" in _fails(
        "approve", 2, "--reviewer", "街道办王芳", *store
    )
    assert "live" in _run("approve", 2, "--reviewer", "区中心李强", *store)
    assert "already approved" in _fails("approve", 2, "--reviewer", "区中心李强", *store)
    _run("submit", plan_a, "--author", "街道办王芳", "--draft", *store)  # version 3, a draft
    assert "submitted" in _run("submit", "--version", 3, "--author", "街道办王芳", *store)
    _run("reject", 3, "--reviewer", "区中心李强", "--reason", "户数不实", *store)
    assert "rejected" in _fails("approve", 3, "--reviewer", "区中心赵", *store)
    _run("publish", plan_b, "--author", "区网格中心", *store)  # version 4 retires the A codes
    assert "retired" in _fails("submit", plan_a, "--author", "街道办王芳", *store)
    assert "re-publishes version 2" in _run("rollback", 2, "--author", "区中心李强", *store)
    versions = json.loads(_run("versions", "--json", *store))
    assert versions[-1]["rollback_of"] == 2
    assert versions[-1]["live"]
    log = json.loads(_run("audit", "--json", *store))
    assert [e["action"] for e in log] == [
        "publish", "submit", "approve", "draft", "submit", "reject", "publish", "rollback",
    ]  # fmt: skip
    assert log[5]["detail"]["reason"] == "户数不实"
    assert {e["label"] for e in log} >= {"提交审核", "审核通过", "退回", "回退"}


def test_refused_steps_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    """The real executable: an approval by the author, approving a rejected version, a
    rejection without a reason; exit 2, one line, the store's files byte for byte unchanged."""
    folder = tmp_path / "st"
    folder.mkdir()
    store = folder / "plans.gpkg"
    plan = _plan_file(tmp_path, "A")
    assert wangge("publish", plan, "--store", store, "--author", "甲").returncode == 0
    assert wangge("submit", plan, "--store", store, "--author", "甲").returncode == 0
    before = snapshot(folder)
    one_error_line(wangge("approve", 2, "--store", store, "--reviewer", "甲"), "must differ")
    one_error_line(wangge("reject", 2, "--store", store, "--reviewer", "乙", "--reason", " "))
    one_error_line(wangge("approve", 9, "--store", store, "--reviewer", "乙"), "no plan version 9")
    assert snapshot(folder) == before
    assert (
        wangge("reject", 2, "--store", store, "--reviewer", "乙", "--reason", "不行").returncode
        == 0
    )
    after = snapshot(folder)
    one_error_line(wangge("approve", 2, "--store", store, "--reviewer", "乙"), "rejected")
    assert snapshot(folder) == after


def _lattice_area(path: Path, households: dict[int, int]) -> Path:
    """A SYNTHETIC area: one 12-digit community of 6×4 street blocks of 100 m (UTM 51N) with
    one household point per block (100 households, or ``households[block]``)."""
    import geopandas as gpd  # noqa: PLC0415
    from shapely.geometry import LineString, Point, box  # noqa: PLC0415

    x0, y0, step, nx_, ny_ = 355_000.0, 3_456_000.0, 100.0, 6, 4
    crs = "EPSG:32651"
    boundary = gpd.GeoDataFrame(
        {"name": ["示例社区"], "code": ["310101002001"], "level": ["community"],
         "parent_code": ["310101002"]},
        geometry=[box(x0, y0, x0 + nx_ * step, y0 + ny_ * step)], crs=crs,
    )  # fmt: skip
    lines = [LineString([(x0 + i * step, y0), (x0 + i * step, y0 + ny_ * step)])
             for i in range(nx_ + 1)]  # fmt: skip
    lines += [LineString([(x0, y0 + j * step), (x0 + nx_ * step, y0 + j * step)])
              for j in range(ny_ + 1)]  # fmt: skip
    roads = gpd.GeoDataFrame({"highway": ["residential"] * len(lines)}, geometry=lines, crs=crs)
    points = [Point(x0 + (i + 0.5) * step, y0 + (j + 0.5) * step)
              for j in range(ny_) for i in range(nx_)]  # fmt: skip
    counts = [households.get(b, 100) for b in range(len(points))]
    homes = gpd.GeoDataFrame({"households": counts}, geometry=points, crs=crs)
    for name, layer in (("boundary", boundary), ("roads", roads), ("households", homes)):
        layer.to_file(path, layer=name)
    return path


def test_adjust_submits_a_minimal_change_for_approval(tmp_path: Path) -> None:
    """``wangge adjust`` on a SYNTHETIC lattice: one block grows so its grid passes the band's
    maximum; the result is submitted (not live), coded in the plan's scheme, live once
    approved, and every grid the change left in the band keeps its code."""
    import gis  # noqa: PLC0415
    from gis import columns as col  # noqa: PLC0415

    area = _lattice_area(tmp_path / "area.gpkg", {})
    plan = tmp_path / "plan.gpkg"
    _run("partition", area, "--out", plan, "--seed", "1")
    store = ["--store", str(tmp_path / "plans.gpkg")]
    _run("publish", plan, "--author", "区网格中心", *store)
    live = gis.open_store(tmp_path / "plans.gpkg").read_grids()
    grown = _lattice_area(tmp_path / "grown.gpkg", {0: 600})  # the south-west block
    said = _run("adjust", area, "--households", grown, "--author", "街道办王芳", *store)
    assert "submitted for approval" in said
    versions = json.loads(_run("versions", "--json", *store))
    assert [(v["state"], v["live"]) for v in versions] == [("approved", True), ("submitted", False)]
    assert versions[1]["band"] == versions[0]["band"]
    assert versions[1]["report"]["adjustment"]["changed"]
    _run("approve", 2, "--reviewer", "区中心李强", *store)
    adjusted = gis.open_store(tmp_path / "plans.gpkg").read_grids()
    assert adjusted[col.HOUSEHOLDS].sum() == 2_400 + 500
    assert adjusted[col.HOUSEHOLDS].max() <= 800
    kept = set(live[col.GRID_CODE]) & set(adjusted[col.GRID_CODE])
    assert kept, "grids the change left in the band keep their codes"
    new = set(adjusted[col.GRID_CODE]) - set(live[col.GRID_CODE])
    assert all(len(c) == 16 and c.startswith("310101002001") for c in new)  # stats12 kept
