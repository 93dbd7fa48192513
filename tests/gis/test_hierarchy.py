"""Units, parents, per-unit figures and codes in the plan; bad input refused, nothing written."""

from __future__ import annotations

import json
import re
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
from gis.errors import UnitOverlapError
from gis.inputs.prepare import Prepared
from gis.inputs.read import read_area
from gis.plan import Plan
from gis.rules.codes import assign_codes
from gis.rules.hierarchy import UNIT_PARENT_CODE

from .conftest import EAST, WEST, rural_layers, with_households_scaled, write_sample

LAYOUT = {
    "beijing15": re.compile(r"^\d{6}\d{3}\d{3}\d{3}$"),
    "village6": re.compile(r"^\d{3}[12]\d{2}$"),
    "stats12": re.compile(r"^\d{12}\d{4}$"),
}


def test_no_grid_crosses_a_unit_and_parents_are_recorded(shanghai_plan: Plan) -> None:
    grids = shanghai_plan.grids
    assert shanghai_plan.report.metrics["crossing_m2"] < 1.0
    assert set(grids[col.PARENT_CODE]) == {"310101002001", "310101002002", "310115005001"}
    for code, parent in zip(grids[col.PARENT_CODE], grids[UNIT_PARENT_CODE], strict=True):
        assert parent == code[:9]  # the street office above the community
    assert grids[col.GRID_ID].tolist() == list(range(len(grids)))


def test_report_gives_per_unit_figures(shanghai_plan: Plan) -> None:
    units = shanghai_plan.report.to_dict()["units"]
    grids = shanghai_plan.grids
    assert [u[col.UNIT_CODE] for u in units] == ["310101002001", "310101002002", "310115005001"]
    assert sum(u["n_grids"] for u in units) == len(grids)
    assert sum(u["n_dedicated"] for u in units) == int((grids[col.KIND] == "dedicated").sum())
    assert sum(u[col.HOUSEHOLDS] for u in units) == int(grids[col.HOUSEHOLDS].sum())
    assert all(u["share_in_band"] == 1.0 for u in units)


@pytest.mark.parametrize("scheme", sorted(LAYOUT))
def test_codes_follow_each_scheme(shanghai_plan: Plan, scheme: str) -> None:
    grids = shanghai_plan.grids
    codes = assign_codes(grids, scheme=scheme).codes
    assert codes.is_unique  # two units here share village6's last 3 digits "001"
    assert all(LAYOUT[scheme].match(c) for c in codes), codes.tolist()[:5]
    if scheme == "village6":
        kinds = grids[col.KIND].map({"ordinary": "1", "dedicated": "2"})
        assert (codes.str[3] == kinds).all()
    else:
        assert (codes.str[:12] == grids[col.PARENT_CODE]).all()


def test_codes_survive_a_five_percent_household_change(
    shanghai_prepared: Prepared, shanghai_plan: Plan
) -> None:
    old = shanghai_plan.grids.assign(
        **{col.GRID_CODE: assign_codes(shanghai_plan.grids, scheme="beijing15").codes.to_numpy()}
    )
    blocks = shanghai_prepared.blockset.blocks
    rng = np.random.default_rng(1)
    picked = rng.choice(blocks[col.BLOCK_ID].to_numpy(), size=len(blocks) // 5, replace=False)
    changed = with_households_scaled(shanghai_prepared, picked, 1.25)
    before = int(blocks[col.HOUSEHOLDS].sum())
    after = int(changed.blockset.blocks[col.HOUSEHOLDS].sum())
    assert 0.03 < (after - before) / before < 0.07  # about a 5% change
    plan = gis.partition(changed, seed=0, sites_outside="drop")
    result = assign_codes(plan.grids, scheme="beijing15", previous=old)
    assert result.codes.is_unique
    old_geoms = old.geometry.to_numpy()
    unchanged = kept = 0
    for geom, code in zip(plan.grids.geometry, result.codes, strict=True):
        inter = shapely.area(shapely.intersection(old_geoms, geom))
        j = int(np.argmax(inter))
        iou = inter[j] / (old_geoms[j].area + geom.area - inter[j])
        if iou > 0.99:
            unchanged += 1
            kept += code == old[col.GRID_CODE].iloc[j]
    assert unchanged >= 10
    assert kept >= 0.9 * unchanged
    # new grids never reuse a code of the previous plan that went away
    reused = set(result.codes) & (set(old[col.GRID_CODE]) - set(result.codes[:0]))
    gone = set(old[col.GRID_CODE]) - set(result.codes)
    assert not (gone & set(result.codes))
    assert reused <= set(old[col.GRID_CODE])


# --- the command line: codes, cells and bad input ------------------------------------------


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_cli_writes_codes_and_cells_and_keeps_codes(rural_gpkg: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.gpkg"
    code, out = run(
        "partition", rural_gpkg, "--code-scheme", "village6", "--cells", "30", "--out", first
    )
    assert code == 1, out  # the big village is an exception: exit code says so
    grids = gpd.read_file(first, layer="grids")
    cells = gpd.read_file(first, layer="cells")
    assert grids[col.GRID_CODE].is_unique
    assert all(LAYOUT["village6"].match(c) for c in grids[col.GRID_CODE])
    assert cells["cell_code"].is_unique
    assert all(c[:6] in set(grids[col.GRID_CODE]) for c in cells["cell_code"])
    second = tmp_path / "second.gpkg"
    code, out = run(
        "partition", rural_gpkg, "--code-scheme", "village6", "--previous", first, "--out", second
    )
    assert code == 1, out
    again = gpd.read_file(second, layer="grids")
    assert sorted(again[col.GRID_CODE]) == sorted(grids[col.GRID_CODE])
    report = json.loads(second.with_suffix(".json").read_text("utf-8"))
    assert report["codes"]["kept"] == len(grids)


def refused(args: list[str | Path], out: Path, message: str) -> None:
    code, text = run(*args, "--out", out)
    assert code == 2, text
    assert message in " ".join(text.split()), text
    assert not out.exists()
    assert not out.with_suffix(".json").exists()


def test_unit_code_of_wrong_length_is_refused(tmp_path: Path) -> None:
    layers = rural_layers()
    layers["boundary"]["code"] = ["3206231", EAST]
    src = write_sample(tmp_path / "in.gpkg", layers)
    refused(
        ["partition", src, "--code-scheme", "beijing15"],
        tmp_path / "o.gpkg",
        "does not fit scheme beijing15",
    )


def test_overlapping_units_are_refused(tmp_path: Path) -> None:
    layers = rural_layers()
    geoms = layers["boundary"].geometry.to_numpy()
    geoms[1] = shapely.affinity.translate(geoms[1], xoff=-200)
    layers["boundary"] = layers["boundary"].set_geometry(geoms)
    src = write_sample(tmp_path / "in.gpkg", layers)
    with pytest.raises(UnitOverlapError, match=f"{WEST} and {EAST}"):
        read_area(src)
    refused(["partition", src], tmp_path / "o.gpkg", f"{WEST} and {EAST}")


def test_site_outside_every_unit_is_refused(tmp_path: Path) -> None:
    layers = rural_layers()
    x0, y0, _, _ = layers["boundary"].total_bounds
    layers["sites"] = gpd.GeoDataFrame(
        {"kind": ["school"], "name": ["遠方小學"]},
        geometry=[shapely.box(x0 - 5000, y0, x0 - 4800, y0 + 200)],
        crs=layers["boundary"].crs,
    )
    src = write_sample(tmp_path / "in.gpkg", layers)
    refused(["partition", src], tmp_path / "o.gpkg", "outside every unit")


def test_roster_naming_a_missing_grid_is_refused(rural_gpkg: Path, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    pd.DataFrame(
        {"grid_code": ["201199"], "name": ["張三"], "role": ["網格員"], "phone": ["123"]}
    ).to_csv(roster, index=False)
    refused(
        ["partition", rural_gpkg, "--code-scheme", "village6", "--roster", roster],
        tmp_path / "o.gpkg",
        "grid '201199' does not exist in the plan",
    )


def test_duplicate_code_in_previous_plan_is_refused(rural_gpkg: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.gpkg"
    run("partition", rural_gpkg, "--code-scheme", "village6", "--out", first)
    grids = gpd.read_file(first, layer="grids")
    grids[col.GRID_CODE] = grids[col.GRID_CODE].iloc[0]
    bad = tmp_path / "bad.gpkg"
    grids.to_file(bad, layer="grids", driver="GPKG", engine="pyogrio")
    refused(
        ["partition", rural_gpkg, "--code-scheme", "village6", "--previous", bad],
        tmp_path / "o.gpkg",
        "repeats grid codes",
    )


def test_village6_codes_stay_unique_across_towns(tmp_path: Path) -> None:
    layers = rural_layers()
    layers["boundary"]["code"] = [WEST, "320623106201"]  # another town, same village digits
    layers["boundary"]["parent_code"] = ["320623105", "320623106"]
    src = write_sample(tmp_path / "in.gpkg", layers)
    out = tmp_path / "o.gpkg"
    code, text = run("partition", src, "--code-scheme", "village6", "--out", out)
    assert code == 1, text  # the big village is reported
    codes = gpd.read_file(out, layer="grids")[col.GRID_CODE]
    assert codes.is_unique
    assert all(c.startswith("201") for c in codes)
