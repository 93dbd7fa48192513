"""Straight compact cuts of a compound above the maximum (hand-built cases)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, box

from gis.cutting.guillotine import (
    Band,
    _halfplane,
    axis,
    cut_across,
    guillotine_split,
    straight_halves,
)
from gis.cutting.split import block_angle

BAND = Band(300, 800, 500)
# a 400 m × 200 m compound with a 8 × 4 lattice of 20 m towers, 60 households each (1,920)
COMPOUND = box(0, 0, 400, 200)
TOWERS = np.asarray(
    [box(x, y, x + 20, y + 20) for y in range(15, 200, 50) for x in range(15, 400, 50)],
    dtype=object,
)


def polsby_popper(geoms: list[shapely.Geometry]) -> np.ndarray:
    arr = np.asarray(geoms, dtype=object)
    return 4 * np.pi * shapely.area(arr) / shapely.length(arr) ** 2


def split(
    towers: np.ndarray = TOWERS,
    households: np.ndarray | None = None,
    lines: np.ndarray | None = None,
    parts: int = 4,
) -> list[shapely.Geometry]:
    hh = np.full(len(towers), 60) if households is None else households
    return guillotine_split(
        COMPOUND,
        anchors=shapely.get_coordinates(shapely.centroid(towers)),
        anchor_households=hh,
        footprints=towers,
        inner_lines=np.empty(0, dtype=object) if lines is None else lines,
        parts=parts,
        band=BAND,
        angle=block_angle(COMPOUND),
    )


def households_of(pieces: list[shapely.Geometry], towers: np.ndarray, hh: np.ndarray) -> list[int]:
    inside = [shapely.covers(shapely.buffer(p, 1e-6), towers) for p in pieces]
    return [int(hh[m].sum()) for m in inside]


def assert_tiles(pieces: list[shapely.Geometry], whole: shapely.Geometry) -> None:
    arr = np.asarray(pieces, dtype=object)
    assert shapely.is_valid(arr).all()
    assert (shapely.get_num_geometries(arr) == 1).all()
    assert abs(shapely.area(arr).sum() - whole.area) < 1e-6 * whole.area
    assert shapely.area(shapely.symmetric_difference(shapely.union_all(arr), whole)) < 1e-6


def test_compound_is_cut_into_compact_pieces_in_band() -> None:
    pieces = split()
    assert len(pieces) == 4
    assert_tiles(pieces, COMPOUND)
    hh = households_of(pieces, TOWERS, np.full(len(TOWERS), 60))
    assert sum(hh) == 1920
    assert all(300 <= h <= 800 for h in hh)
    # four 100 × 200 or 200 × 100 strips would score 0.70; quarter squares score 0.785
    pp = polsby_popper(pieces)
    assert pp.mean() > polsby_popper([COMPOUND])[0]
    assert pp.min() > 0.7


def test_every_tower_lies_whole_in_one_piece() -> None:
    # towers shifted so that no straight line along the axes misses all of them
    towers = np.asarray(
        [box(x, y, x + 45, y + 30) for y in range(5, 200, 40) for x in range(5, 400, 40)],
        dtype=object,
    )
    towers = towers[shapely.covered_by(towers, COMPOUND)]
    towers = np.asarray([t for i, t in enumerate(towers) if i % 2 == 0], dtype=object)
    hh = np.full(len(towers), 1920 // len(towers))
    pieces = split(towers, hh)
    assert_tiles(pieces, COMPOUND)
    for tower in towers:
        overlaps = shapely.area(shapely.intersection(np.asarray(pieces, dtype=object), tower))
        assert (overlaps > 1e-6).sum() == 1


def test_cut_follows_an_inner_path_through_a_gap() -> None:
    # 1,280 households in two grids: the middle gap (x = 200) balances them best, but an
    # inner road runs along the gap at x = 150 (480 / 800 households, still in band)
    road = np.asarray([LineString([(150, 0), (150, 200)])], dtype=object)
    hh = np.full(len(TOWERS), 40)
    pieces = split(households=hh, lines=road, parts=2)
    assert len(pieces) == 2
    assert sorted(households_of(pieces, TOWERS, hh)) == [480, 800]
    shared = shapely.intersection(pieces[0].boundary, shapely.buffer(pieces[1].boundary, 0.01))
    shared = shapely.difference(shared, shapely.buffer(COMPOUND.boundary, 0.01))
    assert shapely.hausdorff_distance(shared, road[0]) < 6.0


def test_same_input_same_pieces() -> None:
    a, b = split(), split()
    assert all(shapely.equals_exact(x, y, 0) for x, y in zip(a, b, strict=True))


def test_one_part_returns_the_polygon() -> None:
    assert split(parts=1) == [COMPOUND]


def test_a_crossed_building_goes_whole_to_one_side_in_a_tent() -> None:
    # the cut x = 100 crosses a 30 m building 10 m deep into the left side: the building goes
    # right (its centroid's side) with a tent of open ground, not in a notch hugging it
    block = box(0, 0, 200, 100)
    building = box(90, 40, 120, 60)
    left, right = cut_across(block, np.asarray([building], dtype=object), 0.0, 100.0)
    assert_tiles([left, right], block)
    assert shapely.covers(shapely.buffer(right, 1e-6), building)
    notch = 2 * 10.0  # the extra length of a boundary hugging the building's left part
    extra = left.length - box(0, 0, 100, 100).length
    assert 0 < extra < 0.5 * notch


@pytest.mark.parametrize("seed", range(6))
def test_straight_halves_measure_what_an_overlay_would(seed: int) -> None:
    """Cuts are ranked from projections: the halves' areas and perimeters, no intersection."""
    gen = np.random.default_rng(seed)
    poly = shapely.buffer(shapely.MultiPoint(gen.uniform(0, 100, (8, 2))).convex_hull, 5.0)
    poly = shapely.union(poly, shapely.box(-30, 20, 10, 25))  # not convex
    poly = shapely.difference(poly, shapely.box(40, 40, 50, 55))  # a courtyard
    theta = float(gen.uniform(0, 180))
    s = shapely.get_coordinates(poly) @ axis(theta)
    cand = np.linspace(s.min() + 1, s.max() - 1, 25)
    area_l, perim_l, area_r, perim_r = straight_halves(poly, theta, cand)
    halves = np.asarray([_halfplane(poly, theta, float(t)) for t in cand], dtype=object)
    left, right = shapely.intersection(poly, halves), shapely.difference(poly, halves)
    np.testing.assert_allclose(area_l, shapely.area(left), atol=1e-6)
    np.testing.assert_allclose(perim_l, shapely.length(left), atol=1e-6)
    np.testing.assert_allclose(area_r, shapely.area(right), atol=1e-6)
    np.testing.assert_allclose(perim_r, shapely.length(right), atol=1e-6)
