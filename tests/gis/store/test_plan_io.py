"""Export a version to every format and CRS, read it back, and the store commands."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import typer
from store_plans import CRS, PlanFactory
from typer.testing import CliRunner

from gis import columns as col
from gis.commands import store as store_commands
from gis.errors import CRSError
from gis.store import Store, open_store
from gis.store.plan_io import export_version, read_plan


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp", ".parquet"])
def test_export_and_read_back(
    store: Store,
    plan: PlanFactory,
    units: gpd.GeoDataFrame,
    tmp_out: Path,
    suffix: str,
) -> None:
    store.publish(plan(3), author="a", units=units)
    want = store.read_grids()
    for epsg in (4326, 4490):
        target = export_version(store, tmp_out / f"plan{epsg}{suffix}", crs=f"EPSG:{epsg}")
        back = read_plan(target).sort_values(col.GRID_CODE).reset_index(drop=True)
        assert back.crs.to_epsg() == epsg
        for name in (col.GRID_CODE, col.HOUSEHOLDS, col.PARENT_CODE, col.PARENT_NAME, col.KIND):
            assert back[name].tolist() == want[name].tolist()
        shift = back.to_crs(CRS).geometry.symmetric_difference(want.to_crs(CRS).geometry).area
        assert (shift < 0.01).all()
    if suffix == ".gpkg":
        assert {name for name, _ in pyogrio.list_layers(target)} == {"grids", "units"}
    # Re-publishing an exported plan changes nothing.
    again = store.publish(back, author="b")
    diff = store.diff(1, again.id)
    assert (diff.added, diff.removed, len(diff.changed), diff.households_moved) == ([], [], 0, 0)


def test_export_refuses_other_crs(store: Store, plan: PlanFactory, tmp_out: Path) -> None:
    store.publish(plan(3), author="a")
    with pytest.raises(CRSError, match="EPSG:4490"):
        export_version(store, tmp_out / "x.gpkg", crs="EPSG:32651")


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test app."""

    store_commands.register(app)
    return app


def test_commands_publish_versions_export_diff(
    plan: PlanFactory,
    units: gpd.GeoDataFrame,
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    app = _app()
    db = str(tmp_path / "plans.gpkg")
    plan_a, plan_b, unit_file = tmp_path / "a.gpkg", tmp_path / "b.geojson", tmp_path / "u.gpkg"
    plan(3).to_file(plan_a, layer="grids")
    plan(2, prefix="B").to_file(plan_b)
    units.to_file(unit_file)
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"band": [300, 800]}))
    for source in (plan_a, plan_b):
        result = runner.invoke(
            app,
            [
                "publish",
                str(source),
                "--author",
                "tester",
                "--units",
                str(unit_file),
                "--parameters",
                str(params),
                "--store",
                db,
            ],
        )
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["versions", "--store", db, "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [(v["id"], v["live"], v["grids"]) for v in listed] == [(1, False, 9), (2, True, 4)]
    assert listed[0]["parameters"] == {"band": [300, 800]}
    assert runner.invoke(app, ["versions", "--store", db]).exit_code == 0
    out = tmp_path / "v1.shp"
    result = runner.invoke(
        app, ["export", str(out), "--version", "1", "--crs", "EPSG:4490", "--store", db]
    )
    assert result.exit_code == 0, result.output
    assert len(read_plan(out)) == 9
    diff_json = tmp_path / "diff.json"
    result = runner.invoke(app, ["diff", "1", "2", "--store", db, "--out", str(diff_json)])
    assert result.exit_code == 0, result.output
    assert "4 added, 9 removed" in result.output
    assert json.loads(diff_json.read_text())["added"] == ["B00", "B01", "B10", "B11"]
    # A gapped plan is refused with the codes named, and a non-zero exit.
    holed = tmp_path / "holed.gpkg"
    plan(3).query("grid_code != 'A11'").to_file(holed, layer="grids")
    result = runner.invoke(
        app, ["publish", str(holed), "--author", "t", "--units", str(unit_file), "--store", db]
    )
    assert result.exit_code == 2
    assert "A01" in result.output
    assert [v.id for v in open_store(db).versions()] == [1, 2]
