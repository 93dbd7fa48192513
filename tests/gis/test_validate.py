"""Checking a plan from geometry alone: each check catches what it should."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import typer
from shapely.geometry import Point, box
from typer.testing import CliRunner

from gis import columns as col
from gis.blocks.build import BlockSet
from gis.checks.validate import Report, validate_plan
from gis.commands import plan as plan_commands
from gis.datasets import ORIGIN, grid_blockset
from gis.errors import CRSError
from gis.options import Band

REPO = Path(__file__).resolve().parents[2]
X0, Y0 = ORIGIN


@pytest.fixture(scope="module")
def area() -> BlockSet:
    """4×4 blocks of 100 m with 100 households each (one building per block)."""
    return grid_blockset(4, 4, households=100)


def quadrant_grids(bs: BlockSet) -> gpd.GeoDataFrame:
    """Four 200 m grids of 2×2 blocks: 400 households each, all edges on streets."""
    polys = [box(X0 + x, Y0 + y, X0 + x + 200, Y0 + y + 200) for y in (0, 200) for x in (0, 200)]
    return gpd.GeoDataFrame(
        {col.GRID_ID: [0, 1, 2, 3], col.HOUSEHOLDS: [0, 0, 0, 0]}, geometry=polys, crs=bs.crs
    )


def check(bs: BlockSet, grids: gpd.GeoDataFrame, **kwargs: int) -> Report:
    return validate_plan(
        grids,
        buildings=bs.buildings,
        streets=bs.streets,
        units=bs.units,
        households=bs.households,
        band=Band(kwargs.get("min_households", 300), kwargs.get("max_households", 800)),
    )


def checks_of(report: Report) -> set[str]:
    return {v["check"] for v in report.violations}


def test_sound_plan_passes_and_ignores_stored_numbers(area: BlockSet) -> None:
    report = check(area, quadrant_grids(area))  # the stored households (0) are wrong
    assert report.ok, report.violations
    assert report.grids[col.HOUSEHOLDS].tolist() == [400, 400, 400, 400]
    m = report.metrics
    assert m["share_in_band"] == 1.0
    assert m["gap_m2"] < 1e-6
    assert m["overlap_m2"] < 1e-6
    assert m["street_share"] == pytest.approx(1.0)
    assert m["polsby_popper_mean"] == pytest.approx(np.pi / 4)
    json.dumps(report.to_dict())


def test_band_violation(area: BlockSet) -> None:
    report = check(area, quadrant_grids(area), min_households=450)
    assert checks_of(report) == {"band"}
    assert report.metrics["share_in_band"] == 0.0


def test_dedicated_grids_are_exempt_from_the_band(area: BlockSet) -> None:
    grids = quadrant_grids(area).assign(kind=["ordinary", "dedicated", "ordinary", "ordinary"])
    report = check(area, grids, min_households=450)
    assert {v["grid_id"] for v in report.violations} == {0, 2, 3}


def test_gap_and_households_outside(area: BlockSet) -> None:
    grids = quadrant_grids(area).iloc[:3]
    report = check(area, grids)
    assert {"gap", "households"} <= checks_of(report)
    assert report.metrics["gap_m2"] == pytest.approx(40_000, rel=1e-6)
    assert report.metrics["households_outside"] == 400


def test_overlap(area: BlockSet) -> None:
    grids = quadrant_grids(area)
    grids.loc[0, "geometry"] = box(X0, Y0, X0 + 210, Y0 + 200)  # 10 m into grid 1
    report = check(area, grids)
    assert "overlap" in checks_of(report)
    assert report.metrics["overlap_m2"] == pytest.approx(2000, rel=1e-6)


def test_multipart_grid(area: BlockSet) -> None:
    grids = quadrant_grids(area)
    # swap the two western halves of the north grids' bottom-left blocks: grid 0 gets a far part
    g0 = shapely.union(grids.geometry[0], box(X0 + 300, Y0 + 300, X0 + 400, Y0 + 400))
    g3 = shapely.difference(grids.geometry[3], box(X0 + 300, Y0 + 300, X0 + 400, Y0 + 400))
    grids.loc[0, "geometry"] = g0
    grids.loc[3, "geometry"] = g3
    report = check(area, grids)
    assert "contiguity" in checks_of(report)
    assert report.metrics["multipart_grids"] == 1


def test_split_building(area: BlockSet) -> None:
    # move the line between grids 0 and 1 to x = 150, through the middle of block (1, 0)'s building
    grids = quadrant_grids(area)
    grids.loc[0, "geometry"] = box(X0, Y0, X0 + 150, Y0 + 200)
    grids.loc[1, "geometry"] = box(X0 + 150, Y0, X0 + 400, Y0 + 200)
    report = check(area, grids)
    assert "buildings" in checks_of(report)
    assert report.metrics["buildings_split"] == 2  # the buildings of blocks (1,0) and (1,1)
    assert report.metrics["street_share"] < 1.0


def test_household_on_a_shared_edge_counts_once(area: BlockSet) -> None:
    extra = gpd.GeoDataFrame(
        {col.HOUSEHOLDS: [7]}, geometry=[Point(X0 + 200, Y0 + 100)], crs=area.crs
    )
    households = gpd.GeoDataFrame(
        gpd.pd.concat([area.households, extra], ignore_index=True), crs=area.crs
    )
    report = validate_plan(
        quadrant_grids(area),
        buildings=area.buildings,
        streets=area.streets,
        units=area.units,
        households=households,
        band=Band(300, 800),
    )
    assert report.grids[col.HOUSEHOLDS].sum() == 1607
    assert report.metrics["households_outside"] == 0


def test_layers_in_another_crs_are_refused(area: BlockSet) -> None:
    with pytest.raises(CRSError, match="reproject"):
        validate_plan(
            quadrant_grids(area),
            buildings=area.buildings.to_crs(4326),
            streets=area.streets,
            units=area.units,
            households=area.households,
            band=Band(300, 800),
        )
    with pytest.raises(CRSError, match="projected"):
        check(area, quadrant_grids(area).to_crs(4326))


def test_validate_command_recomputes_from_the_inputs(tmp_path: Path) -> None:
    app = typer.Typer()
    plan_commands.register(app)
    sample = REPO / "data" / "nantong.gpkg"
    out = tmp_path / "plan.gpkg"
    runner = CliRunner()
    runner.invoke(app, ["partition", str(sample), "--out", str(out)])
    report = tmp_path / "check.json"
    result = runner.invoke(
        app, ["validate", str(out), "--against", str(sample), "--report", str(report)]
    )
    # one grid of 231 households: below the band, so the check fails with exit code 1
    assert result.exit_code == plan_commands.EXIT_VIOLATIONS, result.output
    data = json.loads(report.read_text("utf-8"))
    assert [v["check"] for v in data["checks"]["violations"]] == ["band"]
    assert [e["reason"] for e in data["exceptions"]] == ["unit_total_below_min"]
    assert data["checks"]["metrics"]["gap_m2"] < 1.0
    # with a band the sample can meet, the same plan passes
    ok = runner.invoke(
        app, ["validate", str(out), "--against", str(sample), "--min", "100", "--max", "800"]
    )
    assert ok.exit_code == 0, ok.output


def test_validate_command_refuses_a_missing_plan(tmp_path: Path) -> None:
    app = typer.Typer()
    plan_commands.register(app)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "none.gpkg")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_invalid_grid_is_repaired_for_measuring_and_flagged_when_it_matters(
    area: BlockSet,
) -> None:
    grids = quadrant_grids(area)
    x, y = X0 + 200, Y0 + 200
    # grid 3 drawn as a bow-tie: its two triangles are what it covers
    grids.loc[3, "geometry"] = shapely.Polygon(
        [(x, y), (x + 200, y + 200), (x + 200, y), (x, y + 200)]
    )
    report = check(area, grids)
    assert "geometry" in checks_of(report)
    assert report.metrics["invalid_repaired"] == 1


def test_a_grid_outside_the_area_is_a_violation_not_a_crossing(area: BlockSet) -> None:
    grids = quadrant_grids(area)
    far = gpd.GeoDataFrame(
        {col.GRID_ID: [4], col.HOUSEHOLDS: [0]},
        geometry=[box(X0 + 5000, Y0, X0 + 5200, Y0 + 200)],
        crs=area.crs,
    )
    report = check(area, gpd.GeoDataFrame(gpd.pd.concat([grids, far]), crs=area.crs))
    outside = [v for v in report.violations if v["check"] == "outside"]
    assert [v["grid_id"] for v in outside] == [4]
    assert "lies outside the area" in outside[0]["message"]
    assert "crossing" not in checks_of(report)


def test_an_ordinary_grid_without_households_is_a_violation_whatever_the_band(
    area: BlockSet,
) -> None:
    grids = quadrant_grids(area)
    no_one = area.households[area.households.geometry.x > X0 + 200]  # the west half is empty
    report = validate_plan(
        grids, buildings=area.buildings, streets=area.streets, units=area.units,
        households=no_one, band=Band(0, 800),
    )  # fmt: skip
    assert {v["grid_id"] for v in report.violations if v["check"] == "no_households"} == {0, 2}
    dedicated = grids.assign(kind=["dedicated", "ordinary", "dedicated", "ordinary"])
    report = validate_plan(
        dedicated, buildings=area.buildings, streets=area.streets, units=area.units,
        households=no_one, band=Band(0, 800),
    )  # fmt: skip
    assert report.ok, report.violations  # a school may hold no households


def test_gis_validate_never_assumes_what_a_plan_file_does_not_say(area: BlockSet) -> None:
    import gis  # noqa: PLC0415

    sound = quadrant_grids(area).assign(grid_code=["A", "B", "C", "D"])
    assert gis.validate(sound, area).ok
    cases = {
        "empty": sound.iloc[:0],
        "columns": sound.drop(columns=["grid_code", col.HOUSEHOLDS]),
        "codes": sound.assign(grid_code=["A", "A", None, "D"]),
        "households": sound.assign(households=[1, -5, float("inf"), None]),
    }
    for check_name, grids in cases.items():
        report = gis.validate(grids, area)
        assert not report.ok, check_name
        assert check_name in {v["check"] for v in report.checks.violations}, check_name
    untyped = sound.set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match="no CRS"):
        gis.validate(untyped, area)
