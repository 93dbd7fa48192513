"""The public API is the whole planner: notebooks and the command line draw the same plan."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from typer.testing import CliRunner

import gis
from gis import columns as col
from gis.cli import app
from gis.datasets import grid_blockset
from gis.errors import CodeError, InputTypeError, OptionError
from gis.outputs.plan_file import read_band, read_plan_info

REPO = Path(__file__).resolve().parents[2]
SHANGHAI = REPO / "data" / "shanghai_bund.gpkg"


@pytest.fixture(scope="module")
def notebook_plan() -> gis.Plan:
    """The Shanghai sample partitioned as a notebook would."""
    area = gis.read_area(SHANGHAI)
    return gis.partition(area, band=gis.Band(300, 800, target=500), seed=1)


def test_cli_and_public_api_draw_the_same_plan(notebook_plan: gis.Plan, tmp_path: Path) -> None:
    cli_out = tmp_path / "cli.gpkg"
    result = CliRunner().invoke(
        app, ["partition", str(SHANGHAI), "--seed", "1", "--out", str(cli_out)]
    )
    assert result.exit_code == 0, result.output
    api_out = notebook_plan.to_file(tmp_path / "api.gpkg")
    cli = gpd.read_file(cli_out, layer="grids")
    api = gpd.read_file(api_out, layer="grids")
    assert len(cli) == len(api) == len(notebook_plan.grids)
    assert (cli[col.KIND] == col.DEDICATED).any(), "the sample has dedicated grids"
    for c in (col.GRID_ID, col.GRID_CODE, col.KIND, col.HOUSEHOLDS, col.PARENT_CODE):
        assert cli[c].tolist() == api[c].tolist(), c
    assert cli[col.GRID_CODE].tolist() == notebook_plan.grids[col.GRID_CODE].tolist()
    assert cli[col.HOUSEHOLDS].tolist() == notebook_plan.grids[col.HOUSEHOLDS].tolist()
    same = shapely.equals_exact(cli.geometry.to_numpy(), api.geometry.to_numpy(), tolerance=0)
    assert same.all()
    assert read_band(cli_out) == notebook_plan.band == gis.Band(300, 800, 500)


def test_every_grid_is_coded_by_default_and_publishes(
    notebook_plan: gis.Plan, tmp_path: Path
) -> None:
    grids = notebook_plan.grids
    assert notebook_plan.code_scheme == "stats12"  # 12-digit unit codes
    assert grids[col.GRID_CODE].notna().all()
    assert grids[col.GRID_CODE].is_unique
    plan_file = notebook_plan.to_file(tmp_path / "plan.gpkg")
    assert read_plan_info(plan_file)["code_scheme"] == "stats12"
    store = tmp_path / "store.gpkg"
    result = CliRunner().invoke(
        app, ["publish", str(plan_file), "--store", str(store), "--author", "test"]
    )
    assert result.exit_code == 0, result.output
    with gis.open_store(str(store)) as opened:
        assert len(opened.read_grids()) == len(grids)


def test_the_report_is_typed_and_proves_the_plan(notebook_plan: gis.Plan) -> None:
    report = notebook_plan.report
    assert isinstance(report, gis.PlanReport)
    assert report.ok
    assert notebook_plan.ok
    assert report.band == notebook_plan.band
    summary = report.summary()
    assert summary["n_grids"] == len(notebook_plan.grids)
    assert summary["households"] == int(notebook_plan.grids[col.HOUSEHOLDS].sum())
    ordinary = notebook_plan.grids[notebook_plan.grids[col.KIND] == col.ORDINARY]
    share = notebook_plan.band.share_in_band(ordinary[col.HOUSEHOLDS])
    assert report.share_in_band == share == summary["share_in_band"]
    assert {u.unit_code for u in report.units} == set(ordinary[col.PARENT_CODE])
    again = gis.validate(notebook_plan)
    assert again.ok
    assert again.metrics["gap_m2"] == report.metrics["gap_m2"]
    data = report.to_dict()
    assert data["band"] == {"min_households": 300, "max_households": 800, "target": 500}


def test_plan_shows_itself_in_a_notebook(notebook_plan: gis.Plan) -> None:
    html = notebook_plan._repr_html_()
    assert "网格" in html
    assert "户数" in html
    assert "300–800" in html
    assert "leaflet" in html.lower()  # the folium map beneath the table


def test_areas_without_statistical_codes_get_local_codes() -> None:
    plan = gis.partition(grid_blockset(4, 4, households=150), seed=0)
    assert plan.code_scheme == "local"
    assert plan.grids[col.GRID_CODE].str.match(r"^.+-\d{4}$").all()
    with pytest.raises(CodeError, match="does not fit scheme stats12"):
        gis.partition(grid_blockset(4, 4, households=150), seed=0, code_scheme="stats12")


def test_band_is_checked_at_the_door() -> None:
    assert gis.Band() == gis.Band(300, 800, 500)
    assert gis.Band(100, 200).target == 150
    with pytest.raises(OptionError, match="above max_households"):
        gis.Band(800, 300)
    with pytest.raises(OptionError, match="outside the band"):
        gis.Band(300, 800, target=900)
    with pytest.raises(InputTypeError, match="integer"):
        gis.Band(300.5, 800)  # type: ignore[arg-type]
    with pytest.raises(InputTypeError, match=r"gis\.Band"):
        gis.partition(grid_blockset(2, 2), band=(300, 800))  # type: ignore[arg-type]


def test_cli_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    copy = tmp_path / "area.gpkg"
    copy.write_bytes(SHANGHAI.read_bytes())
    before = copy.read_bytes()
    result = CliRunner().invoke(app, ["partition", str(copy), "--out", str(copy)])
    assert result.exit_code == 2
    assert "would destroy the input" in result.output
    assert copy.read_bytes() == before


def test_adjusting_a_plan_with_dedicated_grids_keeps_them_and_counts_as_validate(
    notebook_plan: gis.Plan,
) -> None:
    bs = notebook_plan.blockset
    assert bs is not None
    new = bs.households.copy()
    new[col.HOUSEHOLDS] = (new[col.HOUSEHOLDS] * 1.25).round().astype("int64")
    adj = gis.adjust(notebook_plan, new, seed=0)
    before = notebook_plan.grids[notebook_plan.grids[col.KIND] == col.DEDICATED]
    after = adj.plan.grids.set_index(col.GRID_ID)
    for gid, geom in zip(before[col.GRID_ID], before.geometry, strict=True):
        assert after.geometry.loc[gid].equals_exact(geom, 0.0)
    report = gis.validate(adj.plan, replace(bs, households=new))
    recount = report.checks.grids.set_index(col.GRID_ID)[col.HOUSEHOLDS]
    assert (after[col.HOUSEHOLDS].sort_index() == recount.sort_index()).all()
    assert report.metrics["overlap_m2"] < 1.0
    assert report.metrics["gap_m2"] < 1.0


def test_exceptions_keep_their_reason_through_edits() -> None:
    """A tower above the maximum stays reported as such while an edit changes other grids."""
    bs = grid_blockset(6, 4, households=100, towers={0: [900]})
    plan = gis.partition(bs, seed=0)
    (tower,) = [e for e in plan.report.exceptions if e.reason == "single_building_above_max"]
    atom, to_grid = next(
        (a, g)
        for a, g in gis.edit.border_atoms(plan)
        if tower.grid_id not in (g, int(plan.atoms.set_index("atom_id").loc[a, col.GRID_ID]))
    )
    edited = gis.edit.move_atoms(plan, [atom], to_grid)
    assert tower.grid_id not in edited.changed
    kept = {e.grid_id: e.reason for e in edited.plan.report.exceptions}
    assert kept[tower.grid_id] == "single_building_above_max"
    assert edited.plan.report.sections["edit"]["op"] == "move"


def test_edits_search_with_the_partition_edge_costs(notebook_plan: gis.Plan) -> None:
    """The plan's atom graph carries the search's costs: edges off streets cost more."""
    from gis.workbench.plan_graph import atom_neighbours  # noqa: PLC0415

    plan = notebook_plan
    nbrs = atom_neighbours(plan)
    pos = {int(a): i for i, a in enumerate(plan.atoms["atom_id"])}
    edges = plan.edges
    assert (edges["penalty"] > 0).any(), "some edges follow no street"
    for u, v, shared, penalty in edges[["u", "v", "shared_m", "penalty"]].itertuples(index=False):
        assert nbrs[pos[int(u)]][pos[int(v)]] == pytest.approx(shared * (1 + penalty))
