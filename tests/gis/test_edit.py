"""Editing a plan: move, merge, split, lock, re-balance — coverage, totals and locks hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

import gis
from gis import columns as col
from gis.blocks.build import BlockSet
from gis.datasets import ORIGIN, grid_blockset
from gis.errors import (
    DisconnectedGridError,
    EditError,
    GridLockedError,
    NotAdjacentError,
    OptionError,
)
from gis.plan import Plan
from gis.workbench.edit import (
    Edit,
    atom_of_building,
    lock_grids,
    merge_grids,
    move_atoms,
    move_blocks,
    move_building,
    rebalance,
    split_grid,
)
from gis.workbench.plan_graph import LOCKED, atom_neighbours, is_connected

REPO = Path(__file__).resolve().parents[2]


def assert_sound(plan: Plan, bs: BlockSet) -> None:
    """Coverage exact, no overlap, totals conserved, every grid one connected piece."""
    grids = plan.grids.geometry.to_numpy()
    assert shapely.is_valid(grids).all()
    assert (shapely.get_num_geometries(grids) == 1).all()
    whole = shapely.union_all(bs.blocks.geometry.to_numpy())
    assert shapely.area(shapely.symmetric_difference(whole, shapely.union_all(grids))) < 1.0
    assert abs(shapely.area(grids).sum() - whole.area) < 1.0
    assert plan.grids[col.HOUSEHOLDS].sum() == bs.blocks[col.HOUSEHOLDS].sum()
    assert plan.atoms[col.HOUSEHOLDS].sum() == bs.blocks[col.HOUSEHOLDS].sum()
    assert set(plan.atoms[col.GRID_ID]) == set(plan.grids[col.GRID_ID])
    assert plan.grids[col.GRID_ID].is_unique
    nbrs = atom_neighbours(plan)
    labels = plan.atoms[col.GRID_ID].to_numpy()
    for g in np.unique(labels):
        assert is_connected(np.flatnonzero(labels == g).tolist(), nbrs)
    metrics = plan.report.metrics
    assert metrics["gap_m2"] < 1.0
    assert metrics["overlap_m2"] < 1.0
    assert metrics["buildings_split"] == 0


def untouched_identical(before: Plan, edit: Edit) -> None:
    """Grids the edit did not change keep their geometry exactly."""
    old = before.grids.set_index(col.GRID_ID)
    new = edit.plan.grids.set_index(col.GRID_ID)
    for g in set(old.index) - set(edit.changed):
        assert new.geometry.loc[g].equals_exact(old.geometry.loc[g], 0.0)


@pytest.fixture(scope="module")
def bs() -> BlockSet:
    """6 × 4 blocks of 100 households: 2,400 households."""
    return grid_blockset(6, 4, households=100)


@pytest.fixture(scope="module")
def plan(bs: BlockSet) -> Plan:
    return gis.partition(bs, seed=0)


def atoms_of(plan: Plan, grid: int) -> list[int]:
    return plan.atoms.loc[plan.atoms[col.GRID_ID] == grid, "atom_id"].astype(int).tolist()


def border_atom(plan: Plan, src: int, dst: int) -> int:
    """An atom of ``src`` bordering ``dst`` whose removal keeps ``src`` connected."""
    nbrs = atom_neighbours(plan)
    labels = plan.atoms[col.GRID_ID].to_numpy()
    mine = set(np.flatnonzero(labels == src).tolist())
    for a in sorted(mine):
        if any(labels[b] == dst for b in nbrs[a]) and is_connected(mine - {a}, nbrs):
            return int(plan.atoms["atom_id"].iloc[a])
    raise AssertionError("no border atom")


def neighbour_pairs(plan: Plan) -> list[tuple[int, int]]:
    nbrs = atom_neighbours(plan)
    labels = plan.atoms[col.GRID_ID].to_numpy()
    pairs = {
        (int(min(labels[a], labels[b])), int(max(labels[a], labels[b])))
        for a in range(len(nbrs))
        for b in nbrs[a]
        if labels[a] != labels[b]
    }
    return sorted(pairs)


def test_the_fixture_plan_is_sound(plan: Plan, bs: BlockSet) -> None:
    assert_sound(plan, bs)
    assert len(plan.grids) >= 3


def test_move_atom_to_a_neighbour_changes_only_two_grids(plan: Plan, bs: BlockSet) -> None:
    a, b = neighbour_pairs(plan)[0]
    atom = border_atom(plan, a, b)
    edit = move_atoms(plan, [atom], b, blockset=bs)
    assert edit.changed == (a, b)
    assert_sound(edit.plan, bs)
    untouched_identical(plan, edit)
    new = edit.plan.grids.set_index(col.GRID_ID)[col.HOUSEHOLDS]
    old = plan.grids.set_index(col.GRID_ID)[col.HOUSEHOLDS]
    assert new[a] == old[a] - 100
    assert new[b] == old[b] + 100
    assert edit.plan.report.sections["edit"]["op"] == "move"


def test_move_to_a_grid_that_is_not_adjacent_is_refused(plan: Plan, bs: BlockSet) -> None:
    pairs = set(neighbour_pairs(plan))
    ids = sorted(plan.grids[col.GRID_ID])
    far = next((a, b) for a in ids for b in ids if a < b and (a, b) not in pairs)
    with pytest.raises(NotAdjacentError, match="do not border"):
        move_atoms(plan, [atoms_of(plan, far[0])[0]], far[1], blockset=bs)


def test_move_that_disconnects_the_giver_is_refused() -> None:
    bs = grid_blockset(3, 2, households=100)
    plan = gis.partition(
        bs, seed=0, band=gis.Band(min_households=100, max_households=800, target=600)
    )
    assert len(plan.grids) == 1
    x0, y0 = ORIGIN
    line = shapely.LineString([(x0 - 10, y0 + 100), (x0 + 310, y0 + 100)])
    rows = split_grid(plan, 0, line=line, blockset=bs)  # south row 0, north row 1
    south = int(rows.plan.atoms.loc[rows.plan.atoms[col.BLOCK_ID] == 0, col.GRID_ID].iloc[0])
    north = 1 - south
    with pytest.raises(DisconnectedGridError, match="pieces"):
        move_blocks(rows.plan, [1], north, blockset=bs)  # the middle of the south row


def test_move_that_empties_a_grid_is_refused(plan: Plan, bs: BlockSet) -> None:
    a, b = neighbour_pairs(plan)[0]
    with pytest.raises(EditError, match="merge_grids"):
        move_atoms(plan, atoms_of(plan, a), b, blockset=bs)


def test_unknown_atoms_and_grids_are_refused(plan: Plan, bs: BlockSet) -> None:
    with pytest.raises(EditError, match="not in the plan"):
        move_atoms(plan, [10_000], 0, blockset=bs)
    with pytest.raises(EditError, match="not in the plan"):
        move_atoms(plan, [0], 99, blockset=bs)
    with pytest.raises(EditError, match="nothing to move"):
        move_atoms(plan, atoms_of(plan, 0)[:1], 0, blockset=bs)


def test_move_blocks_and_buildings(plan: Plan, bs: BlockSet) -> None:
    a, b = neighbour_pairs(plan)[0]
    atom = border_atom(plan, a, b)
    block = int(plan.atoms.loc[plan.atoms["atom_id"] == atom, col.BLOCK_ID].iloc[0])
    by_block = move_blocks(plan, [block], b, blockset=bs)
    building = bs.buildings.loc[bs.buildings[col.BLOCK_ID] == block, "building_id"].iloc[0]
    assert atom_of_building(plan, building, blockset=bs) == atom
    by_building = move_building(plan, building, b, blockset=bs)
    assert by_block.plan.grids[col.HOUSEHOLDS].tolist() == (
        by_building.plan.grids[col.HOUSEHOLDS].tolist()
    )
    assert_sound(by_building.plan, bs)
    with pytest.raises(EditError, match="no building"):
        move_building(plan, "nope", b, blockset=bs)


def test_merge_keeps_the_lower_id_and_sums_households(plan: Plan, bs: BlockSet) -> None:
    a, b = neighbour_pairs(plan)[-1]
    edit = merge_grids(plan, b, a, blockset=bs)
    grids = edit.plan.grids.set_index(col.GRID_ID)
    old = plan.grids.set_index(col.GRID_ID)
    assert b not in grids.index
    assert grids.loc[a, col.HOUSEHOLDS] == old.loc[a, col.HOUSEHOLDS] + old.loc[b, col.HOUSEHOLDS]
    assert_sound(edit.plan, bs)
    untouched_identical(plan, edit)
    with pytest.raises(EditError, match="itself"):
        merge_grids(plan, a, a, blockset=bs)


@pytest.mark.parametrize("parts", [2, 3])
def test_split_into_balanced_parts(plan: Plan, bs: BlockSet, parts: int) -> None:
    big = int(plan.grids.sort_values(col.HOUSEHOLDS).iloc[-1][col.GRID_ID])
    total = int(plan.grids.set_index(col.GRID_ID).loc[big, col.HOUSEHOLDS])
    edit = split_grid(plan, big, parts=parts, blockset=bs, rng=0)
    assert_sound(edit.plan, bs)
    untouched_identical(plan, edit)
    new = edit.plan.grids.set_index(col.GRID_ID).loc[list(edit.changed), col.HOUSEHOLDS]
    assert len(new) == parts
    assert new.sum() == total
    assert new.max() - new.min() <= 100  # within one block of households
    with pytest.raises(OptionError):
        split_grid(plan, big, blockset=bs)
    with pytest.raises(OptionError):
        split_grid(plan, big, parts=1, blockset=bs)


def test_split_along_a_line() -> None:
    bs = grid_blockset(4, 2, households=100)
    plan = gis.partition(
        bs, seed=0, band=gis.Band(min_households=100, max_households=800, target=800)
    )
    assert len(plan.grids) == 1
    x0, y0 = ORIGIN
    line = shapely.LineString([(x0 + 200, y0 - 10), (x0 + 200, y0 + 210)])
    edit = split_grid(plan, 0, line=line, blockset=bs)
    assert_sound(edit.plan, bs)
    assert sorted(edit.plan.grids[col.HOUSEHOLDS]) == [400, 400]
    west = edit.plan.grids.set_index(col.GRID_ID).geometry.loc[0]
    assert west.centroid.x < x0 + 200
    outside = shapely.LineString([(x0 - 50, y0), (x0 - 50, y0 + 200)])
    with pytest.raises(EditError, match="does not cross"):
        split_grid(plan, 0, line=outside, blockset=bs)


def test_locked_grids_refuse_edits_and_survive_rebalance(plan: Plan, bs: BlockSet) -> None:
    a, b = neighbour_pairs(plan)[0]
    locked = lock_grids(plan, [a], blockset=bs)
    assert bool(locked.plan.grids.set_index(col.GRID_ID).loc[a, LOCKED])
    with pytest.raises(GridLockedError, match="locked"):
        move_atoms(locked.plan, [border_atom(plan, b, a)], a, blockset=bs)
    with pytest.raises(GridLockedError):
        merge_grids(locked.plan, a, b, blockset=bs)
    with pytest.raises(GridLockedError):
        split_grid(locked.plan, a, parts=2, blockset=bs)
    # unbalance the rest, then re-balance: the locked grid stays exactly as it was
    c, d = next(p for p in neighbour_pairs(plan) if a not in p)
    worse = merge_grids(locked.plan, c, d, blockset=bs).plan
    again = rebalance(worse, blockset=bs, rng=0)
    assert a not in again.changed
    before = worse.grids.set_index(col.GRID_ID).geometry.loc[a]
    assert again.plan.grids.set_index(col.GRID_ID).geometry.loc[a].equals_exact(before, 0.0)
    assert again.plan.grids[col.HOUSEHOLDS].between(300, 800).all()
    assert_sound(again.plan, bs)
    unlocked = lock_grids(again.plan, [a], blockset=bs, locked=False)
    assert not unlocked.plan.grids[LOCKED].any()


def test_grids_of_two_units_never_merge() -> None:
    units = np.array([["A", "A", "B", "B"]] * 2, dtype=object)
    bs = grid_blockset(4, 2, households=100, units=units)
    plan = gis.partition(
        bs, seed=0, band=gis.Band(min_households=100, max_households=800, target=400)
    )
    assert len(plan.grids) == 2
    with pytest.raises(EditError, match="different units"):
        merge_grids(plan, 0, 1, blockset=bs)
    unit_b = plan.atoms.loc[plan.atoms[col.UNIT_CODE] == "B", "atom_id"].iloc[0]
    grid_a = int(plan.grids.loc[plan.grids[col.PARENT_CODE] == "A", col.GRID_ID].iloc[0])
    with pytest.raises(EditError, match="another unit"):
        move_atoms(plan, [int(unit_b)], grid_a, blockset=bs)


def test_editing_a_sample_plan(tmp_path: Path) -> None:
    from gis.inputs.prepare import prepare_blocks  # noqa: PLC0415

    bs = prepare_blocks(REPO / "data" / "beijing_bupt.gpkg").blockset
    plan = gis.partition(bs, seed=0)
    a, b = neighbour_pairs(plan)[0]
    moved = move_atoms(plan, [border_atom(plan, a, b)], b, blockset=bs)
    assert_sound(moved.plan, bs)
    merged = merge_grids(moved.plan, a, b, blockset=bs)
    assert_sound(merged.plan, bs)
    keep = min(a, b)
    split = split_grid(merged.plan, keep, parts=2, blockset=bs, rng=0)
    assert_sound(split.plan, bs)
    locked = lock_grids(split.plan, [keep], blockset=bs)
    final = rebalance(locked.plan, blockset=bs, rng=0)
    assert keep not in final.changed
    assert_sound(final.plan, bs)
    assert final.plan.grids[col.HOUSEHOLDS].sum() == plan.grids[col.HOUSEHOLDS].sum()
