"""Dynamic adjustment: restore the band after households change, touching few grids."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

import gis
from gis import columns as col
from gis.blocks.build import BlockSet
from gis.cutting.atoms import ATOM_ID
from gis.datasets import grid_blockset
from gis.errors import HouseholdError
from gis.inputs.prepare import prepare_blocks
from gis.plan import Plan
from gis.workbench.adjust import (
    Adjustment,
    compare_with_repartition,
    count_households,
    households_moved,
    plan_from_grids,
)
from gis.workbench.plan_graph import out_of_band

REPO = Path(__file__).resolve().parents[2]
UNIT = "310101002001"
log = logging.getLogger(__name__)


def perturb(
    households: gpd.GeoDataFrame, *, share: float, change: float, seed: int
) -> gpd.GeoDataFrame:
    """Counts of ``share`` of the features times 1 ± ``change`` (seeded)."""
    rng = np.random.default_rng(seed)
    out = households.copy()
    pick = rng.choice(len(out), size=round(share * len(out)), replace=False)
    factor = rng.choice([1 - change, 1 + change], size=len(pick))
    values = out[col.HOUSEHOLDS].to_numpy().astype(float)
    values[pick] = np.round(values[pick] * factor)
    out[col.HOUSEHOLDS] = values.astype(np.int64)
    return out


def assert_minimal(adj: Adjustment, old: Plan, band_before: list[int]) -> None:
    """Changed grids ⊆ region; others keep geometry and code; band restored where possible."""
    region = set(adj.region)
    assert set(adj.changed) - region <= {
        g for g in adj.changed if g not in set(old.grids[col.GRID_ID])
    }
    old_g = old.grids.set_index(col.GRID_ID)
    new_g = adj.plan.grids.set_index(col.GRID_ID)
    for g in set(old_g.index) - set(adj.changed):
        assert new_g.geometry.loc[g].equals_exact(old_g.geometry.loc[g], 0.0)
        if col.GRID_CODE in old_g:
            assert new_g.loc[g, col.GRID_CODE] == old_g.loc[g, col.GRID_CODE]
    # every grid outside the band now either was already, or holds an atom above the max
    band = old.band
    atoms = adj.plan.atoms
    for g in set(out_of_band(adj.plan.grids, band)) - set(band_before):
        assert atoms.loc[atoms[col.GRID_ID] == g, col.HOUSEHOLDS].max() > band.max_households
    assert adj.plan.grids[col.HOUSEHOLDS].sum() == adj.households_total
    metrics = adj.plan.report.metrics
    assert metrics["gap_m2"] < 1.0
    assert metrics["overlap_m2"] < 1.0


@pytest.fixture(scope="module")
def synthetic() -> tuple[BlockSet, Plan]:
    units = np.full((4, 6), UNIT, dtype=object)
    bs = grid_blockset(6, 4, households=100, units=units)
    return bs, gis.partition(bs, seed=0)


def test_unchanged_households_change_nothing(synthetic: tuple[BlockSet, Plan]) -> None:
    bs, plan = synthetic
    adj = gis.adjust(plan, bs.households, blockset=bs, seed=0)
    assert adj.changed == ()
    assert adj.households_moved == 0
    assert adj.plan.grids[col.GRID_CODE].tolist() == plan.grids[col.GRID_CODE].tolist()
    assert households_moved(plan.grids, adj.plan.grids, bs.households) == 0


def test_a_grid_pushed_above_the_max_is_repaired_locally(
    synthetic: tuple[BlockSet, Plan],
) -> None:
    bs, plan = synthetic
    big = int(plan.grids.sort_values(col.HOUSEHOLDS).iloc[-1][col.GRID_ID])
    blocks = plan.atoms.loc[plan.atoms[col.GRID_ID] == big, col.BLOCK_ID].tolist()
    new = bs.households.copy()
    hit = new[col.BLOCK_ID].isin(blocks)
    new.loc[hit, col.HOUSEHOLDS] = -(-850 // len(blocks))  # the grid now holds > 850
    before = out_of_band(plan.grids, plan.band)
    adj = gis.adjust(plan, new, blockset=bs, seed=0)
    assert big in adj.out_of_band
    assert adj.changed
    assert not out_of_band(adj.plan.grids, plan.band)
    assert_minimal(adj, plan, before)
    assert adj.households_moved == households_moved(plan.grids, adj.plan.grids, new)
    assert adj.plan.report.sections["edit"]["op"] == "adjust"


def test_demolished_and_added_buildings_are_counted(synthetic: tuple[BlockSet, Plan]) -> None:
    bs, plan = synthetic
    new = bs.households.iloc[2:].copy()  # two buildings demolished
    first = bs.blocks.geometry.iloc[0].centroid
    added = gpd.GeoDataFrame(
        {col.HOUSEHOLDS: [40]}, geometry=[shapely.Point(first.x + 5, first.y + 5)], crs=bs.crs
    )
    new = gpd.GeoDataFrame(
        np.concatenate([new[[col.HOUSEHOLDS]].to_numpy(), [[40]]]).ravel(),
        columns=[col.HOUSEHOLDS],
        geometry=[*new.geometry, *added.geometry],
        crs=bs.crs,
    )
    counts = count_households(plan.atoms, new)
    assert counts.sum() == 2400 - 200 + 40
    adj = gis.adjust(plan, new, blockset=bs, seed=0)
    assert adj.plan.grids[col.HOUSEHOLDS].sum() == 2240
    with pytest.raises(HouseholdError, match="households"):
        count_households(plan.atoms, new.drop(columns=[col.HOUSEHOLDS]))


def test_plan_from_grids_recovers_the_atoms(synthetic: tuple[BlockSet, Plan]) -> None:
    bs, plan = synthetic
    rebuilt = plan_from_grids(plan.grids.to_crs(4326), bs)
    old = plan.atoms.set_index(ATOM_ID)[col.GRID_ID]
    new = rebuilt.atoms.set_index(ATOM_ID)[col.GRID_ID]
    assert (old.sort_index() == new.sort_index()).all()
    assert rebuilt.grids[col.HOUSEHOLDS].tolist() == plan.grids[col.HOUSEHOLDS].tolist()


@pytest.mark.parametrize("cuts", ["streets", "compact"])
def test_plan_from_grids_cuts_compounds_as_the_plan_was_cut(cuts: str) -> None:
    # a compound with a lane off its middle: the two ways of cutting give different atoms
    road = shapely.LineString([(0, 70), (200, 70)])
    bs = grid_blockset(
        3, 3, households=100, block_m=200, towers={4: [240] * 8}, inner_lines={4: [road]}
    )
    plan = gis.partition(bs, seed=0, cuts=cuts)  # type: ignore[arg-type]
    assert plan.report.sections["cuts"] == cuts
    rebuilt = plan_from_grids(plan.grids, bs, band=plan.band, cuts=plan.report.sections["cuts"])
    assert rebuilt.report.sections["cuts"] == cuts  # an adjusted plan still says how
    old = plan.atoms.set_index(ATOM_ID)[col.GRID_ID].sort_index()
    new = rebuilt.atoms.set_index(ATOM_ID)[col.GRID_ID].sort_index()
    assert old.index.equals(new.index)
    assert (old == new).all()


_PLANS: dict[tuple[int, int, int], Plan] = {}


@pytest.fixture(scope="module")
def shanghai() -> BlockSet:
    return prepare_blocks(REPO / "data" / "shanghai_bund.gpkg").blockset


@pytest.mark.parametrize(
    ("band", "seed"),
    [((300, 800, 500), 0), ((380, 620, 500), 0), ((380, 620, 500), 2)],
    ids=["default-band", "narrow-band-0", "narrow-band-2"],
)
def test_shanghai_adjustment_moves_a_quarter_of_a_full_repartition(
    shanghai: BlockSet, band: tuple[int, int, int], seed: int
) -> None:
    lo, hi, target = band
    if band not in _PLANS:  # one partition per band, shared by the seeds
        _PLANS[band] = gis.partition(shanghai, seed=0, band=gis.Band(lo, hi, target))
    plan = _PLANS[band]
    new = perturb(shanghai.households, share=0.05, change=0.2, seed=seed)
    before = out_of_band(plan.grids, plan.band)
    adj = gis.adjust(plan, new, blockset=shanghai, seed=0)
    assert_minimal(adj, plan, before)
    figures = compare_with_repartition(adj, plan, new, blockset=shanghai, seed=0)
    log.info("Shanghai %s seed %d: %s", band, seed, figures)
    assert figures["full_moved"] > 0
    assert figures["adjust_moved"] <= 0.25 * figures["full_moved"]


def test_adjusted_counts_are_what_validate_recounts(shanghai: BlockSet) -> None:
    """One ownership rule: the adjusted plan holds exactly what the checks recount."""
    plan = gis.partition(shanghai, seed=0)
    new = perturb(shanghai.households, share=0.05, change=0.2, seed=3)
    adj = gis.adjust(plan, new, seed=0)
    stored = adj.plan.grids.set_index(col.GRID_ID)[col.HOUSEHOLDS]
    area_after = replace(shanghai, households=new)
    report = gis.validate(adj.plan, area_after)
    recount = report.checks.grids.set_index(col.GRID_ID)[col.HOUSEHOLDS]
    assert (stored.sort_index() == recount.sort_index()).all()
    assert int(stored.sum()) == int(new[col.HOUSEHOLDS].sum())
    assert adj.plan.code_scheme == plan.code_scheme
    assert adj.plan.grids[col.GRID_CODE].notna().all()
