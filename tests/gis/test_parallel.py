"""The planner on a real Dask ``LocalCluster`` of 2 worker processes gives the serial plan.

Also: tasks group small units, seeds are drawn up front in sorted unit order, a unit that fails
is named with its reason while the others finish, and a cluster that cannot be used is one
clear error.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

import gis
from gis import columns as col
from gis.blocks.build import BlockSet
from gis.checks import street_share
from gis.checks.validate import validate_against
from gis.cli import app
from gis.datasets import grid_blockset
from gis.errors import ClusterError, InputTypeError, OptionError, UnitsFailedError
from gis.inputs.prepare import Prepared
from gis.parallel import connect
from gis.parallel.run import TaskFailure, run_tasks
from gis.search.units import LayerColumns, UnitSplitter, group_units, unit_seeds


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """A LocalCluster of 2 worker processes (one thread each), for the whole module."""
    with connect(workers=2) as found:
        yield found


def assert_same_plan(a: gis.Plan, b: gis.Plan) -> None:
    """Same grids (geometry exactly), codes, atoms, edges and exceptions."""
    assert len(a.grids) == len(b.grids)
    assert a.grids.drop(columns="geometry").equals(b.grids.drop(columns="geometry"))
    assert shapely.equals_exact(
        a.grids.geometry.to_numpy(), b.grids.geometry.to_numpy(), tolerance=0
    ).all()
    assert a.atoms.drop(columns="geometry").equals(b.atoms.drop(columns="geometry"))
    assert a.edges.equals(b.edges)
    assert a.report.reasons() == b.report.reasons()
    assert a.report.metrics == b.report.metrics


def small_units_city() -> BlockSet:
    """SYNTHETIC: 16 units of 4 blocks (600 households each), two with tower compounds."""
    units = np.array([[f"U{(c // 2) + 4 * (r // 2):02d}" for c in range(8)] for r in range(8)])
    return grid_blockset(8, 8, households=150, units=units, towers={9: [210] * 5, 50: [180] * 6})


def test_parallel_plan_is_the_serial_plan(
    client: object, shanghai_prepared: Prepared, shanghai_plan: gis.Plan
) -> None:
    plan = gis.partition(shanghai_prepared, seed=0, sites_outside="drop", client=client)
    assert_same_plan(plan, shanghai_plan)
    assert plan.grids[col.GRID_CODE].is_unique
    assert plan.report.sections["parallel"]["workers"] == 2
    assert gis.validate(plan, shanghai_prepared).ok


def test_checks_on_the_cluster_are_the_checks_here(
    client: object,
    shanghai_prepared: Prepared,
    shanghai_plan: gis.Plan,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the sample's few grids would be measured here: send them to the workers all the same
    monkeypatch.setattr(street_share, "CLUSTER_MIN_GRIDS", 0)
    blocks = shanghai_prepared.blockset
    here = validate_against(shanghai_plan.grids, blocks, band=shanghai_plan.band)
    there = validate_against(shanghai_plan.grids, blocks, band=shanghai_plan.band, client=client)
    assert there.grids.equals(here.grids)  # street share per grid, exactly
    assert there.metrics == here.metrics
    assert there.grids["street_share"].between(0, 1).all()
    assert here.metrics["street_share"] > 0


def test_small_units_are_grouped_and_still_give_the_serial_plan(client: object) -> None:
    city = small_units_city()
    split = UnitSplitter(city)
    groups = group_units(split.households, threads=2)
    assert 1 < len(groups) < len(split.units)  # 16 units of 600 households → 8 tasks
    seen: list[tuple[str, int, int]] = []
    plan = gis.partition(city, seed=3, client=client, progress=lambda *a: seen.append(a))
    assert_same_plan(plan, gis.partition(city, seed=3))
    assert seen[-1] == ("partitioning units", 16, 16)
    assert [s[1] for s in seen] == sorted(s[1] for s in seen)


def test_each_unit_is_sent_only_its_own_data() -> None:
    city = small_units_city()
    work = UnitSplitter(city).work("U01", seed=5)
    bs = work.blockset
    assert set(bs.blocks[col.UNIT_CODE]) == {"U01"}
    assert set(bs.buildings[col.BLOCK_ID]) <= set(bs.blocks[col.BLOCK_ID])
    assert set(bs.households[col.BLOCK_ID]) <= set(bs.blocks[col.BLOCK_ID])
    assert set(bs.graph.nodes) == set(bs.blocks[col.BLOCK_ID])
    assert list(bs.units[col.UNIT_CODE]) == ["U01"]
    assert len(bs.streets) < len(city.streets)


@pytest.mark.parametrize(
    "layer", ["blocks", "buildings", "households", "streets", "inner_lines", "units"]
)
def test_a_unit_travels_as_columns_and_comes_back_the_same(layer: str) -> None:
    frame = getattr(small_units_city(), layer)
    rows = np.flatnonzero(np.arange(len(frame)) % 3 == 1)
    again = LayerColumns(frame).rows(rows).frame()
    expected = frame.iloc[rows]
    assert list(again.columns) == list(expected.columns)
    assert again.drop(columns="geometry").equals(expected.drop(columns="geometry"))
    assert again.index.equals(expected.index)
    assert again.crs == expected.crs
    assert shapely.equals_exact(
        again.geometry.to_numpy(), expected.geometry.to_numpy(), tolerance=0
    ).all()
    assert LayerColumns(frame).rows(np.empty(0, dtype=np.int64)).frame().empty


def test_seeds_are_drawn_up_front_in_sorted_unit_order() -> None:
    gen = np.random.default_rng(11)
    expected = [int(gen.integers(2**63 - 1)) for _ in range(3)]
    seeds = unit_seeds(["b", "c", "a"], 11)
    assert list(seeds) == ["a", "b", "c"]
    assert list(seeds.values()) == expected


def test_grouping_bounds_what_a_task_holds() -> None:
    households = {f"V{i:03d}": 900 for i in range(40)} | {"BIG": 20_000}
    groups = group_units(households, threads=2, min_households=5_000)
    assert sorted(u for g in groups for u in g) == sorted(households)
    assert groups[0] == ["BIG"]  # largest first
    sizes = [sum(households[u] for u in g) for g in groups]
    assert sizes == sorted(sizes, reverse=True)
    assert all(len(g) == 1 or s < 2 * 5_000 for g, s in zip(groups, sizes, strict=True))


def bowtie_city() -> tuple[BlockSet, str]:
    """SYNTHETIC: the tower compound of one unit is a self-crossing polygon (corrupt data)."""
    city = small_units_city()
    blocks = city.blocks.copy()
    x0, y0, x1, y1 = blocks.geometry.iloc[9].bounds
    blocks.loc[blocks.index[9], "geometry"] = shapely.Polygon(
        [(x0, y0), (x1, y1), (x1, y0), (x0, y1)]
    )
    return replace(city, blocks=blocks), str(blocks[col.UNIT_CODE].iloc[9])


@pytest.mark.parametrize("parallel", [False, True])
def test_a_failing_unit_is_named_with_its_reason_and_the_others_finish(
    client: object, parallel: bool
) -> None:
    city, bad = bowtie_city()
    seen: list[tuple[str, int, int]] = []
    with pytest.raises(UnitsFailedError) as caught:
        gis.partition(
            city, seed=1, client=client if parallel else None, progress=lambda *a: seen.append(a)
        )
    assert caught.value.failures.keys() == {bad}
    assert "TopologyException" in caught.value.failures[bad]
    assert "1 of 16 units could not be planned, so no plan was made (the other 15 finished)" in (
        str(caught.value)
    )
    assert seen[-1] == ("partitioning units", 16, 16)  # every other unit ran


def test_a_task_that_cannot_be_sent_fails_alone(client: object) -> None:
    seen: list[tuple[str, int, int]] = []
    payloads = [(1, 2), (lambda: 0, 3), (4, 5)]  # a lambda cannot be pickled
    out = run_tasks(
        len, payloads, client=client, step="s", progress=lambda *a: seen.append(a), total=3
    )
    assert out[0] == out[2] == 2
    assert isinstance(out[1], TaskFailure)
    assert out[1].reason.startswith("cannot send the task to a worker: ")
    assert "pickle" in out[1].reason
    assert seen[-1] == ("s", 3, 3)


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with (
        pytest.raises(ClusterError, match="cannot reach the Dask scheduler at"),
        connect(scheduler=address, timeout_s=2),
    ):
        pass
    out = tmp_path / "plan.gpkg"
    area = Path(__file__).resolve().parents[2] / "data" / "shanghai_bund.gpkg"
    result = CliRunner().invoke(
        app, ["partition", str(area), "--scheduler", address, "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert f"cannot reach the Dask scheduler at {address}" in result.output
    assert not out.exists()


def test_cluster_options_are_checked() -> None:
    with pytest.raises(OptionError, match="not both"), connect(workers=2, scheduler="tcp://x:1"):
        pass
    with pytest.raises(OptionError, match="at least 1"), connect(workers=0):
        pass
    with pytest.raises(InputTypeError, match=r"distributed\.Client"):
        gis.partition(small_units_city(), client="tcp://127.0.0.1:8786")


def test_partition_command_with_workers_writes_the_serial_plan(
    rural_gpkg: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plan.gpkg"
    result = CliRunner().invoke(
        app, ["partition", str(rural_gpkg), "--seed", "2", "--workers", "2", "--out", str(out)]
    )
    assert result.exit_code in (0, 1), result.output  # 1: the rural sample has exceptions
    written = gpd.read_file(out, layer="grids")
    serial = gis.partition(gis.read_area(rural_gpkg), seed=2).grids.to_crs(written.crs)
    assert written[col.GRID_CODE].tolist() == serial[col.GRID_CODE].tolist()
    assert written[col.HOUSEHOLDS].tolist() == serial[col.HOUSEHOLDS].tolist()
    assert shapely.equals_exact(
        written.geometry.to_numpy(), serial.geometry.to_numpy(), tolerance=1e-9
    ).all()
