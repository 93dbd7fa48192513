"""Partitioning street blocks into grids: properties on hand-built street grids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
import typer
from typer.testing import CliRunner

import gis
from gis import columns as col
from gis.blocks.build import BlockSet
from gis.checks.validate import polsby_popper
from gis.commands import plan as plan_commands
from gis.cutting.atoms import COMPOUNDS_STEP
from gis.datasets import grid_blockset
from gis.errors import CRSError, InfeasibleBandError, InputTypeError, OptionError
from gis.options import check_band
from gis.plan import Plan
from gis.search.band import choose_k
from gis.search.local import SearchOptions, _Search, search_partition
from gis.search.tree_cut import best_tree_cut

REPO = Path(__file__).resolve().parents[2]
LO, HI = 300, 800


def assert_plan_sound(plan: Plan, bs: BlockSet) -> None:
    """Coverage exact, totals conserved, one polygon per grid, each atom in one grid."""
    grids = plan.grids.geometry.to_numpy()
    assert (shapely.get_num_geometries(grids) == 1).all()
    assert shapely.is_valid(grids).all()
    whole = shapely.union_all(bs.blocks.geometry.to_numpy())
    covered = shapely.union_all(grids)
    assert shapely.area(shapely.symmetric_difference(whole, covered)) < 1.0
    assert abs(shapely.area(grids).sum() - whole.area) < 1.0  # no overlap
    assert plan.grids[col.HOUSEHOLDS].sum() == bs.blocks[col.HOUSEHOLDS].sum()
    assert plan.atoms[col.GRID_ID].between(0, len(plan.grids) - 1).all()
    assert sorted(plan.grids[col.GRID_ID]) == list(range(len(plan.grids)))
    checks = plan.report.metrics
    assert checks["gap_m2"] < 1.0
    assert checks["overlap_m2"] < 1.0
    assert checks["multipart_grids"] == 0
    assert checks["buildings_split"] == 0
    # stored households agree with households recomputed from the geometry
    recomputed = {g["grid_id"]: g["households"] for g in plan.report.checks.to_dict()["grids"]}
    assert recomputed == dict(
        zip(plan.grids[col.GRID_ID].tolist(), plan.grids[col.HOUSEHOLDS].tolist(), strict=True)
    )


def in_band(plan: Plan) -> bool:
    return bool(plan.grids[col.HOUSEHOLDS].between(LO, HI).all())


def test_uniform_grid_meets_the_band_and_covers_everything() -> None:
    bs = grid_blockset(6, 6, households=130)
    plan = gis.partition(bs, seed=0)
    assert_plan_sound(plan, bs)
    assert in_band(plan)
    assert plan.ok
    # written in longitude/latitude (as the store keeps them) every grid is still valid
    assert shapely.is_valid(plan.grids.to_crs(4326).geometry.to_numpy()).all()
    assert plan.report.to_dict()["exceptions"] == []
    assert set(plan.grids[col.KIND]) == {"ordinary"}
    assert plan.report.metrics["polsby_popper_mean"] > 0.5
    assert plan.report.metrics["street_share"] == pytest.approx(1.0)
    # every block assigned exactly once (nothing was split)
    assert plan.assignment[col.BLOCK_ID].is_unique
    assert len(plan.assignment) == len(bs.blocks)


def test_lumpy_households_meet_the_band() -> None:
    gen = np.random.default_rng(3)
    hh = gen.integers(0, 260, size=(10, 10))
    bs = grid_blockset(10, 10, households=hh)
    plan = gis.partition(bs, seed=1)
    assert_plan_sound(plan, bs)
    assert in_band(plan)
    assert plan.ok


def test_grids_never_cross_a_unit() -> None:
    units = np.where(np.arange(36).reshape(6, 6) % 6 < 3, "WEST", "EAST")
    bs = grid_blockset(6, 6, households=120, units=units)
    plan = gis.partition(bs, seed=0)
    assert_plan_sound(plan, bs)
    per_grid = plan.atoms.groupby(col.GRID_ID)[col.UNIT_CODE].nunique()
    assert (per_grid == 1).all()
    parent = plan.atoms.groupby(col.GRID_ID)[col.UNIT_CODE].first()
    assert (plan.grids.set_index(col.GRID_ID)[col.PARENT_CODE] == parent).all()
    assert plan.report.metrics["crossing_m2"] < 1.0


def test_tower_block_above_max_is_split_between_its_buildings() -> None:
    bs = grid_blockset(3, 3, households=120, block_m=200, towers={4: [250] * 8})
    plan = gis.partition(bs, seed=0)
    assert_plan_sound(plan, bs)
    assert in_band(plan)
    assert plan.report.summary()["blocks_split"] == 1
    # the compound went to more than one grid, and every tower lies whole in one grid
    assert plan.assignment.loc[plan.assignment[col.BLOCK_ID] == 4, col.GRID_ID].nunique() > 1
    towers = bs.buildings.loc[bs.buildings[col.BLOCK_ID] == 4].geometry.to_numpy()
    grids = plan.grids.geometry.to_numpy()
    for tower in towers:
        inside = shapely.area(shapely.intersection(grids, tower)) > 0.5
        assert inside.sum() == 1


def test_cutting_a_compound_reports_progress_in_households() -> None:
    bs = grid_blockset(3, 3, households=120, block_m=200, towers={4: [250] * 8, 6: [200] * 6})
    calls: list[tuple[str, int, int]] = []
    gis.partition(bs, seed=0, progress=lambda step, done, total: calls.append((step, done, total)))
    cut = [(done, total) for step, done, total in calls if step == COMPOUNDS_STEP]
    # face after face inside each compound, then the compound done: never backwards, never
    # beyond the households of the two compounds, and the last call says all of them
    assert len(cut) > 2
    done = [d for d, _ in cut]
    assert done == sorted(done)
    assert {t for _, t in cut} == {8 * 250 + 6 * 200}
    assert done[-1] == 8 * 250 + 6 * 200
    assert any(0 < d < 8 * 250 for d in done)  # inside the first compound, not only after it


def test_compound_progress_runs_once_over_every_unit() -> None:
    # two units with a compound each, planned one after the other: one bar from 0 to the
    # households of both compounds, never back to 0 when the second unit starts
    units = np.where(np.arange(36).reshape(6, 6) % 6 < 3, "WEST", "EAST").ravel()
    bs = grid_blockset(
        6,
        6,
        households=120,
        block_m=200,
        units=units.reshape(6, 6),
        towers={7: [250] * 8, 10: [200] * 6},
    )
    calls: list[tuple[str, int, int]] = []
    gis.partition(bs, seed=0, progress=lambda step, done, total: calls.append((step, done, total)))
    cut = [(done, total) for step, done, total in calls if step == COMPOUNDS_STEP]
    done = [d for d, _ in cut]
    assert {t for _, t in cut} == {8 * 250 + 6 * 200}
    assert done == sorted(done)
    assert done[-1] == 8 * 250 + 6 * 200


def test_tower_block_prefers_the_service_road_as_cut() -> None:
    road = shapely.LineString([(0, 100), (200, 100)])  # splits the compound north/south
    bs = grid_blockset(
        3, 3, households=100, block_m=200, towers={4: [240] * 8}, inner_lines={4: [road]}
    )
    plan = gis.partition(bs, seed=0)
    assert_plan_sound(plan, bs)
    assert in_band(plan)
    pieces = plan.atoms.loc[plan.atoms[col.BLOCK_ID] == 4]
    line = bs.inner_lines.geometry.iloc[0]
    # no piece crosses the service road
    assert not shapely.crosses(pieces.geometry.to_numpy(), line).any()


def test_streets_first_grids_follow_a_lane_off_the_middle_of_a_compound() -> None:
    # the lane runs 70 m from the compound's south edge, where no compact cut would go
    road = shapely.LineString([(0, 70), (200, 70)])
    bs = grid_blockset(
        3, 3, households=100, block_m=200, towers={4: [240] * 8}, inner_lines={4: [road]}
    )
    line = bs.inner_lines.geometry.iloc[0]
    streets = gis.partition(bs, seed=0)  # cuts="streets" is the default
    compact = gis.partition(bs, seed=0, cuts="compact")
    for plan in (streets, compact):
        assert_plan_sound(plan, bs)
        assert in_band(plan)
    # streets first: no grid reaches across the lane; compact cuts do
    assert not shapely.crosses(streets.grids.geometry.to_numpy(), line).any()
    assert shapely.crosses(compact.grids.geometry.to_numpy(), line).any()


def test_an_unknown_way_of_cutting_is_refused() -> None:
    with pytest.raises(OptionError, match=r"cuts must be 'streets'.*got 'round'"):
        gis.partition(grid_blockset(2, 2), cuts="round")  # type: ignore[arg-type]


def test_single_building_above_max_is_reported_not_hidden() -> None:
    bs = grid_blockset(3, 3, households=120, towers={0: [900]})
    plan = gis.partition(bs, seed=0)
    assert_plan_sound(plan, bs)
    assert not plan.ok
    [exc] = plan.report.to_dict()["exceptions"]
    assert exc["reason"] == "single_building_above_max"
    assert exc[col.HOUSEHOLDS] == 900
    tower_grid = plan.grids.loc[plan.grids[col.GRID_ID] == exc[col.GRID_ID]]
    assert tower_grid[col.HOUSEHOLDS].item() == 900  # nothing else piled onto it
    others = plan.grids.loc[plan.grids[col.GRID_ID] != exc[col.GRID_ID], col.HOUSEHOLDS]
    assert others.between(LO, HI).all()


def test_island_below_min_is_reported() -> None:
    # one row: A(100) B(500) A(600): unit A's first block is cut off from the rest of A
    bs = grid_blockset(3, 1, households=[[100, 500, 600]], units=[["A", "B", "A"]])
    plan = gis.partition(bs, seed=0)
    assert_plan_sound(plan, bs)
    reasons = {e["reason"] for e in plan.report.to_dict()["exceptions"]}
    assert reasons == {"island_below_min_no_neighbour"}
    [exc] = plan.report.to_dict()["exceptions"]
    assert exc[col.HOUSEHOLDS] == 100
    assert not plan.ok


def test_unit_below_min_is_reported() -> None:
    bs = grid_blockset(2, 1, households=[[60, 90]])
    plan = gis.partition(bs, seed=0)
    assert_plan_sound(plan, bs)
    assert len(plan.grids) == 1
    assert plan.report.to_dict()["exceptions"][0]["reason"] == "unit_total_below_min"


def test_same_seed_gives_the_same_plan() -> None:
    gen = np.random.default_rng(11)
    bs = grid_blockset(9, 9, households=gen.integers(0, 200, size=(9, 9)))
    a = gis.partition(bs, seed=42)
    b = gis.partition(bs, seed=42)
    assert a.assignment.equals(b.assignment)
    assert a.grids.geometry.geom_equals_exact(b.grids.geometry, 0).all()
    assert a.grids.drop(columns="geometry").equals(b.grids.drop(columns="geometry"))


def test_report_is_json_serialisable() -> None:
    plan = gis.partition(grid_blockset(3, 3, households=120, towers={0: [900]}), seed=0)
    text = json.dumps(plan.report.to_dict())
    assert "single_building_above_max" in text


@pytest.mark.parametrize(
    ("lo", "hi", "target", "needle"),
    [
        (800, 300, 500, "800"),
        (300, 800, 900, "900"),
        (300, 800, 200, "200"),
        (-1, 800, 500, "-1"),
        (300, 800, -5, "-5"),
        (0, 0, 0, "max_households is 0"),
    ],
)
def test_bad_options_raise_clear_errors(lo: int, hi: int, target: int, needle: str) -> None:
    with pytest.raises(OptionError, match=needle):
        gis.partition(
            grid_blockset(2, 2), band=gis.Band(min_households=lo, max_households=hi, target=target)
        )


def test_non_integer_option_is_a_type_error() -> None:
    with pytest.raises(InputTypeError, match=r"2\.5"):
        check_band(300, 800, 2.5)  # type: ignore[arg-type]


def test_band_no_unit_can_meet_raises() -> None:
    bs = grid_blockset(2, 2, households=350)  # 1,400 households: no k fits 500–520
    with pytest.raises(InfeasibleBandError, match="too narrow"):
        gis.partition(bs, band=gis.Band(min_households=500, max_households=520, target=510))


def test_geographic_blocks_are_refused() -> None:
    bs = grid_blockset(2, 2)
    wgs = BlockSet(
        blocks=bs.blocks.to_crs(4326),
        buildings=bs.buildings.to_crs(4326),
        households=bs.households.to_crs(4326),
        graph=bs.graph,
        streets=bs.streets.to_crs(4326),
        inner_lines=bs.inner_lines,
        units=bs.units.to_crs(4326),
        crs=bs.blocks.to_crs(4326).crs,
    )
    with pytest.raises(CRSError, match="projected"):
        gis.partition(wgs)


def test_choose_k_respects_the_band() -> None:
    opts = SearchOptions(LO, HI, 500)
    assert choose_k(5000, [], opts) == (10, True)
    assert choose_k(850, [], opts) == (2, True)
    k, _ = choose_k(2000, [900], opts)
    assert k == 1 + 2  # the heavy atom alone, 1,100 others in two grids
    narrow = SearchOptions(500, 520, 510)
    assert choose_k(1400, [], narrow)[1] is False


def test_search_keeps_grids_connected_on_a_path() -> None:
    # a path of 12 atoms of 100 households: grids must be runs of consecutive atoms
    n = 12
    edges = (np.arange(n - 1), np.arange(1, n), np.full(n - 1, 10.0))
    res = search_partition(
        np.full(n, 100),
        np.full(n, 100.0),
        np.full(n, 40.0),
        edges,
        options=SearchOptions(LO, HI, 500),
        rng=np.random.default_rng(0),
    )
    labels = res.labels.tolist()
    for g in set(labels):
        where = [i for i, x in enumerate(labels) if x == g]
        assert where == list(range(where[0], where[-1] + 1))
        assert LO <= 100 * len(where) <= HI
    assert res.reasons == {}


def test_partition_command_writes_plan_and_exits_nonzero_on_exceptions(tmp_path: Path) -> None:
    app = typer.Typer()
    plan_commands.register(app)
    out = tmp_path / "plan.gpkg"
    html = tmp_path / "plan.html"
    sample = str(REPO / "data" / "nantong.gpkg")
    result = CliRunner().invoke(
        app, ["partition", sample, "--out", str(out), "--seed", "3", "--map", str(html)]
    )
    # the Nantong sample is one unit of 231 households: below the minimum, reported
    assert result.exit_code == plan_commands.EXIT_VIOLATIONS, result.output
    assert out.exists()
    report = json.loads(out.with_suffix(".json").read_text("utf-8"))
    assert report["exceptions"][0]["reason"] == "unit_total_below_min"
    assert report["seed"] == 3
    assert "OpenStreetMap contributors" in html.read_text("utf-8")


def test_partition_command_refuses_bad_band(tmp_path: Path) -> None:
    app = typer.Typer()
    plan_commands.register(app)
    result = CliRunner().invoke(app, ["partition", "x.gpkg", "--min", "900", "--max", "800"])
    assert result.exit_code == 2
    assert "900" in result.output


def test_empty_sliver_block_joins_the_grid_it_touches() -> None:
    import geopandas as gpd  # noqa: PLC0415

    from gis.datasets import ORIGIN, SYNTHETIC_CRS, blockset_from_blocks  # noqa: PLC0415

    x0, y0 = ORIGIN
    geoms = [
        shapely.box(x0, y0, x0 + 100, y0 + 100),
        shapely.box(x0 + 100, y0, x0 + 200, y0 + 100),
        shapely.box(x0 + 200, y0, x0 + 200 + 1e-6, y0 + 0.2),  # a degenerate sliver
    ]
    blocks = gpd.GeoDataFrame(
        {col.BLOCK_ID: [0, 1, 2], col.UNIT_CODE: "U", col.HOUSEHOLDS: [250, 250, 0]},
        geometry=geoms,
        crs=SYNTHETIC_CRS,
    )
    buildings = gpd.GeoDataFrame(
        {col.BLOCK_ID: [0, 1], col.HOUSEHOLDS: [250, 250]},
        geometry=[shapely.buffer(g, -20) for g in geoms[:2]],
        crs=SYNTHETIC_CRS,
    )
    bs = blockset_from_blocks(blocks, buildings)
    plan = gis.partition(bs, seed=0)
    assert len(plan.grids) == 1
    assert plan.report.to_dict()["exceptions"] == []
    assert plan.ok, plan.report.checks.violations


@pytest.mark.parametrize("sample", ["shanghai_bund", "beijing_bupt"])
def test_real_samples_meet_every_bar(sample: str, request: pytest.FixtureRequest) -> None:
    """The partition bar on the real samples: every grid in band, one polygon each, exact."""
    from gis.inputs.prepare import prepare_blocks  # noqa: PLC0415

    if sample == "shanghai_bund":
        bs = request.getfixturevalue("shanghai_prepared").blockset
    else:
        bs = prepare_blocks(REPO / "data" / f"{sample}.gpkg").blockset
    plan = gis.partition(bs, seed=0)
    assert_plan_sound(plan, bs)
    assert in_band(plan)
    assert plan.ok
    # written in longitude/latitude (as the store keeps them) every grid is still valid
    assert shapely.is_valid(plan.grids.to_crs(4326).geometry.to_numpy()).all()


def test_a_walled_compound_is_cut_into_grids_as_compact_as_itself() -> None:
    # one unit that is one 400 m square compound of 32 towers (1,920 households): what the
    # peers return whole (one grid 2.4 times the maximum) is cut into grids in band that are,
    # on average, as compact as the compound itself
    bs = grid_blockset(1, 1, households=0, block_m=400, towers={0: [60] * 32})
    plan = gis.partition(bs, seed=0)
    assert_plan_sound(plan, bs)
    assert in_band(plan)
    assert len(plan.grids) == 4
    whole = polsby_popper(bs.blocks.geometry)[0]
    assert polsby_popper(plan.grids.geometry).mean() >= whole - 0.01


def test_cut_rank_written_out_equals_viol_plus_rest() -> None:
    # the tree cuts rank pairs of grids by a written-out copy of viol and rest: every value
    # must be theirs exactly, at the band's edges and for an empty area too
    options = SearchOptions(LO, HI, 500)
    search = _Search(
        np.zeros(1, dtype=np.int64),
        np.zeros(1),
        np.zeros(1),
        [[]],
        [[]],
        options,
        np.random.default_rng(0),
    )
    rng = np.random.default_rng(1)
    cases = [(LO, 0.0, 0.0), (HI, 1.0, 4.0), (LO - 1, 50.0, 30.0), (HI + 1, 1e6, 4000.0)]
    cases += [
        (int(h), float(a), float(p))
        for h, a, p in zip(
            rng.integers(0, 2000, 200),
            rng.uniform(0, 1e6, 200),
            rng.uniform(1, 8000, 200),
            strict=True,
        )
    ]
    for (h1, a1, p1), (h2, a2, p2) in zip(cases, cases[::-1], strict=True):
        expected = (
            search.viol(h1) + search.viol(h2),
            search.rest(h1, a1, p1) + search.rest(h2, a2, p2),
        )
        assert search.cut_rank(h1, a1, p1, h2, a2, p2) == expected


def test_tree_cuts_skipping_hopeless_cuts_find_the_same_cut() -> None:
    # on a 6 x 6 lattice of atoms, the band lets the tree cut skip cuts already worse on
    # households outside the band than the best of their tree: the same cut must come out
    side = 6
    nbrs: list[list[int]] = [[] for _ in range(side * side)]
    nbw: list[list[float]] = [[] for _ in range(side * side)]
    for r in range(side):
        for c in range(side):
            a = r * side + c
            for b in ([a + 1] if c + 1 < side else []) + ([a + side] if r + 1 < side else []):
                nbrs[a].append(b)
                nbrs[b].append(a)
                nbw[a].append(10.0)
                nbw[b].append(10.0)
    rng = np.random.default_rng(3)
    hh = rng.integers(10, 60, side * side).tolist()
    values = (hh, [100.0] * len(hh), [40.0] * len(hh))
    search = _Search(
        np.asarray(hh),
        np.asarray(values[1]),
        np.asarray(values[2]),
        nbrs,
        nbw,
        SearchOptions(LO, HI, 500),
        None,
    )
    for seed in range(20):
        cuts = [
            best_tree_cut(
                list(range(len(hh))),
                nbrs,
                nbw,
                values,
                search.cut_rank,
                n_trees=3,
                rng=np.random.default_rng(seed),
                band=band,
            )
            for band in (None, (LO, HI))
        ]
        assert cuts[0] == cuts[1]
