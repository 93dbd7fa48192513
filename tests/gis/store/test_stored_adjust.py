"""Adjusting a stored plan (``gis.workbench.stored``): proposed for approval, coded in the
version's own scheme, never reusing a code retired by any earlier version; on both stores."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest

import gis
from gis import columns as col
from gis.blocks.build import BlockSet
from gis.datasets import grid_blockset
from gis.errors import CodeError
from gis.rules.codes import scheme_of
from gis.store import Store
from gis.workbench.stored import adjust_version, stored_scheme

UNIT = "310101002001"


@pytest.fixture(scope="module")
def drawn() -> tuple[BlockSet, gpd.GeoDataFrame]:
    """A 6×4 lattice of 100-household blocks, one community, partitioned (stats12 codes)."""
    bs = grid_blockset(6, 4, households=100, units=np.full((4, 6), UNIT, dtype=object))
    return bs, gis.partition(bs, seed=0).grids


def _grow(bs: BlockSet, grids: gpd.GeoDataFrame, code: str, total: int) -> gpd.GeoDataFrame:
    """The households with the blocks of grid ``code`` now holding ``total`` in all."""
    inside = gpd.sjoin(bs.households, grids.loc[grids[col.GRID_CODE] == code, ["geometry"]],
                       predicate="within")  # fmt: skip
    new = bs.households.copy()
    new.loc[inside.index, col.HOUSEHOLDS] = -(-total // len(inside))
    return new


def test_codes_follow_a_scheme_read_back() -> None:
    assert scheme_of(["3101010020010001", "3101010020010002"], [UNIT, UNIT]) == "stats12"
    assert scheme_of(["310101002001001"], [UNIT]) == "beijing15"
    assert scheme_of(["U001-0003"], ["U001"]) == "local"
    assert scheme_of(["001101"], [UNIT]) == "village6"
    assert scheme_of(["3101010020010001", "U001-0003"], [UNIT, "U001"]) is None


def test_adjustment_is_proposed_and_never_reuses_a_retired_code(
    store: Store,
    drawn: tuple[BlockSet, gpd.GeoDataFrame],
) -> None:
    bs, grids = drawn
    first = store.publish(grids, author="区中心", band=gis.Band())
    codes_v1 = set(grids[col.GRID_CODE])
    assert stored_scheme(first, store.read_grids()) == "stats12"
    biggest = str(grids.sort_values(col.HOUSEHOLDS)[col.GRID_CODE].iloc[-1])
    grown = _grow(bs, grids, biggest, 1_500)
    result, proposed = adjust_version(store, bs, grown, author="街道办", seed=0)
    assert proposed.state == "submitted"
    assert store.version().id == first.id  # not live until approved
    assert result.changed
    store.approve(proposed.id, reviewer="区中心")
    second = store.read_grids()
    codes_v2 = set(second[col.GRID_CODE])
    retired = codes_v1 - codes_v2
    assert retired, "the adjustment redrew grids, so some codes retired"
    assert store.retired_codes() == retired
    assert scheme_of(second[col.GRID_CODE], second[col.PARENT_CODE]) == "stats12"
    unchanged = codes_v1 & codes_v2
    assert unchanged, "grids the change left alone keep their codes"

    # a third version: shrink the grown grid's blocks again; codes stay fresh
    shrunk = _grow(bs, grids, biggest, 100)
    _, third = adjust_version(store, bs, shrunk, author="街道办", seed=0)
    store.approve(third.id, reviewer="区中心")
    codes_v3 = set(store.read_grids()[col.GRID_CODE])
    assert not codes_v3 & retired  # a code retired two versions ago is not given out again
    assert store.retired_codes() >= retired


def test_a_plan_without_one_scheme_is_refused(
    store: Store,
    drawn: tuple[BlockSet, gpd.GeoDataFrame],
) -> None:
    bs, grids = drawn
    mixed = grids.copy()
    mixed.loc[mixed.index[0], col.GRID_CODE] = "X-1"
    store.publish(mixed, author="区中心")
    with pytest.raises(CodeError, match="no one code scheme"):
        adjust_version(store, bs, bs.households, author="街道办")
    assert [v.id for v in store.versions(drafts=True)] == [1]
