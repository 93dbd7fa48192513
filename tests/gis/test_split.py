"""Splitting an oversized block between its buildings, never through one."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import LineString, Point, box

from gis.cutting.guillotine import Band
from gis.cutting.lines import carried_on
from gis.cutting.split import BlockPieces, inner_line_faces, split_block
from gis.cutting.voronoi import _merged, building_cells
from gis.geometry.tiling import shared_boundary_m
from gis.options import DEFAULT_TOLERANCES

BLOCK = box(0, 0, 200, 100)
# six 20 m towers in two rows
TOWERS = np.asarray([box(x, y, x + 20, y + 20) for y in (15, 65) for x in (20, 90, 160)])


def assert_tiles(pieces: list[shapely.Geometry] | np.ndarray, whole: shapely.Geometry) -> None:
    arr = np.asarray(pieces, dtype=object)
    assert shapely.is_valid(arr).all()
    assert abs(shapely.area(arr).sum() - whole.area) < 1e-6 * whole.area
    assert shapely.area(shapely.symmetric_difference(shapely.union_all(arr), whole)) < 1e-6
    assert (shapely.get_num_geometries(arr) == 1).all()


def test_building_cells_tile_the_face_and_hold_their_building_whole() -> None:
    cells = building_cells(BLOCK, TOWERS)
    assert len(cells) == len(TOWERS)
    assert_tiles(cells, BLOCK)
    for cell, tower in zip(cells, TOWERS, strict=True):
        assert shapely.covers(shapely.buffer(cell, 1e-6), tower)
    # no tower reaches into another tower's cell
    for i, cell in enumerate(cells):
        others = np.delete(TOWERS, i)
        assert shapely.area(shapely.intersection(others, cell)).max() < 1e-6


def test_close_buildings_are_never_cut() -> None:
    # two long buildings 1 m apart, one L-shaped hugging the other
    a = box(10, 10, 150, 30)
    b = shapely.union(box(10, 31, 190, 50), box(170, 10, 190, 31))
    cells = building_cells(BLOCK, np.asarray([a, b]))
    assert_tiles(cells, BLOCK)
    assert shapely.covers(shapely.buffer(cells[0], 1e-6), a)
    assert shapely.covers(shapely.buffer(cells[1], 1e-6), b)


def test_points_split_a_block_without_footprints() -> None:
    pts = np.asarray([Point(30, 50), Point(100, 50), Point(170, 50)])
    cells = building_cells(BLOCK, pts)
    assert_tiles(cells, BLOCK)
    for cell, pt in zip(cells, pts, strict=True):
        assert shapely.contains(cell, pt)


def test_inner_line_cuts_faces_but_not_through_a_building() -> None:
    road = np.asarray([LineString([(-10, 50), (210, 50)])])
    faces = inner_line_faces(BLOCK, road, TOWERS)
    assert len(faces) == 2
    assert_tiles(faces, BLOCK)
    # a building straddling the road merges the two faces again
    straddler = np.asarray([box(90, 40, 110, 60)])
    assert len(inner_line_faces(BLOCK, road, straddler)) == 1


def test_split_block_conserves_households_and_keeps_buildings_whole() -> None:
    hh = np.full(len(TOWERS), 200)
    points = shapely.centroid(TOWERS)
    pieces = split_block(
        BLOCK,
        footprints=TOWERS,
        building_households=hh,
        household_geoms=points,
        household_counts=hh,
        inner_lines=np.asarray([LineString([(-10, 50), (210, 50)])]),
        total_households=1200,
        max_households=500,
    )
    assert_tiles(pieces.geometry, BLOCK)
    assert pieces.households.sum() == 1200
    assert pieces.max_building_households.max() == 200
    assert set(pieces.face.tolist()) == {0, 1}
    for tower in TOWERS:
        overlaps = shapely.area(shapely.intersection(pieces.geometry, tower))
        assert (overlaps > 0.5).sum() == 1


def test_split_block_reconciles_households_that_disagree_with_the_total() -> None:
    hh = np.full(len(TOWERS), 100)
    pieces = split_block(
        BLOCK,
        footprints=TOWERS,
        building_households=hh,
        household_geoms=np.empty(0, dtype=object),
        household_counts=np.empty(0, dtype=np.int64),
        inner_lines=np.empty(0, dtype=object),
        total_households=1000,  # the block says 1,000; the buildings 600
        max_households=300,
    )
    assert pieces.households.sum() == 1000
    assert len(pieces.geometry) == len(TOWERS)


def test_one_building_is_not_split() -> None:
    tower = np.asarray([box(80, 30, 120, 70)])
    pieces = split_block(
        BLOCK,
        footprints=tower,
        building_households=np.asarray([1500]),
        household_geoms=shapely.centroid(tower),
        household_counts=np.asarray([1500]),
        inner_lines=np.empty(0, dtype=object),
        total_households=1500,
        max_households=800,
    )
    assert len(pieces.geometry) == 1
    assert pieces.max_building_households.tolist() == [1500]


def test_overlapping_footprints_stay_together() -> None:
    a = box(20, 20, 60, 60)
    b = box(50, 50, 90, 80)  # overlaps a by 100 m²
    c = box(150, 20, 180, 60)
    pieces = split_block(
        BLOCK,
        footprints=np.asarray([a, b, c]),
        building_households=np.asarray([300, 300, 300]),
        household_geoms=shapely.centroid(np.asarray([a, b, c])),
        household_counts=np.asarray([300, 300, 300]),
        inner_lines=np.empty(0, dtype=object),
        total_households=900,
        max_households=800,
    )
    assert_tiles(pieces.geometry, BLOCK)
    for fp in (a, b, c):
        assert (shapely.area(shapely.intersection(pieces.geometry, fp)) > 0.5).sum() == 1


def test_shared_boundary_ignores_corner_contacts() -> None:
    shared = shared_boundary_m(
        [box(0, 0, 1, 1), box(0, 0, 1, 1)], [box(1, 0, 2, 1), box(1, 1, 2, 2)]
    )
    assert shared[0] > 0.9
    assert shared[1] == 0.0


def test_pieces_side_by_side_with_a_sliver_between_share_nothing() -> None:
    # a and b run side by side 3 cm apart (inside the matching tolerance); the 3 cm sliver
    # between them belongs to neither, so grouping a and b would give two polygons
    a = box(0, 0, 10, 60)
    b = box(10.03, 0, 20, 60)
    assert shared_boundary_m([a], [b])[0] == 0.0
    # the same edge up to floating-point noise still counts
    c = box(10 + 1e-9, 0, 20, 60)
    assert shared_boundary_m([a], [c])[0] > 59.0


def test_shared_edge_tolerance_is_overridable_per_call() -> None:
    a = box(0, 0, 10, 60)
    b = box(10.03, 0, 20, 60)
    loose = DEFAULT_TOLERANCES.replace(shared_edge_m=0.05)
    assert shared_boundary_m([a], [b], tolerances=loose)[0] > 59.0


# -- streets first (issue 12) ----------------------------------------------------------------
# a compound of 400 x 200 m: a service lane runs north-south at x = 130 (well off the middle,
# where a compact cut would go), and 24 towers of 100 households stand on both sides
COMPOUND = box(0, 0, 400, 200)
LANE = np.asarray([LineString([(130, -5), (130, 205)])])
COMPOUND_TOWERS = np.asarray(
    [
        box(x, y, x + 16, y + 16)
        for y in (30, 90, 150)
        for x in (20, 60, 90, 170, 220, 270, 320, 360)
    ]
)
BAND = Band(300, 800, 500)


def split_compound(cuts: str, lines: np.ndarray, streets: np.ndarray | None = None) -> BlockPieces:
    hh = np.full(len(COMPOUND_TOWERS), 100)
    return split_block(
        COMPOUND,
        footprints=COMPOUND_TOWERS,
        building_households=hh,
        household_geoms=shapely.centroid(COMPOUND_TOWERS),
        household_counts=hh,
        inner_lines=lines,
        inner_streets=streets,
        total_households=int(hh.sum()),
        max_households=BAND.max_households,
        band=BAND,
        cuts=cuts,  # type: ignore[arg-type]
    )


def sides_of(pieces: BlockPieces, x: float) -> set[str]:
    """Which sides of the line x = const each piece reaches into (beyond 1 mm)."""
    xs = [shapely.get_coordinates(g)[:, 0] for g in pieces.geometry]
    return {("W" if c.min() < x - 1e-3 else "") + ("E" if c.max() > x + 1e-3 else "") for c in xs}


def test_streets_first_cuts_along_the_lane_and_never_across_it() -> None:
    pieces = split_compound("streets", LANE)
    assert_tiles(pieces.geometry, COMPOUND)
    assert pieces.households.sum() == 2400
    # no piece lies on both sides of the lane: the lane is a boundary of the cut
    assert sides_of(pieces, 130.0) == {"W", "E"}
    # the west face (900 households) is above the maximum and is cut straight; the east face
    # (1,500) too; every region is one grid's worth or less
    for r in np.unique(pieces.region):
        assert pieces.households[pieces.region == r].sum() <= BAND.max_households


def test_compact_cuts_may_cross_the_lane() -> None:
    pieces = split_compound("compact", LANE)
    assert_tiles(pieces.geometry, COMPOUND)
    # the compact regions are cut first, along the block's own axes, wherever the households
    # balance: some region reaches across the lane
    regions = [
        shapely.union_all(pieces.geometry[pieces.region == r]) for r in np.unique(pieces.region)
    ]
    xs = [shapely.get_coordinates(g)[:, 0] for g in regions]
    assert any(c.min() < 129 and c.max() > 131 for c in xs)


def test_a_dead_end_lane_is_carried_on_to_the_far_edge() -> None:
    # a lane from the south edge stopping at y = 120 in the open: carried on to the north edge
    lane = np.asarray([LineString([(200, 0), (200, 120)])])
    ext = carried_on(COMPOUND, lane, np.asarray([True]), np.empty(0, dtype=object))
    assert len(ext) == 1
    assert shapely.get_coordinates(ext[0]).tolist() == [[200.0, 120.0], [200.0, 200.0]]
    # a wall (not a street) or a lane whose extension would cross a building is not
    assert len(carried_on(COMPOUND, lane, np.asarray([False]), np.empty(0, dtype=object))) == 0
    blocker = np.asarray([box(190, 150, 210, 170)])
    assert len(carried_on(COMPOUND, lane, np.asarray([True]), blocker)) == 0
    # an end that meets another line is not a dead end
    cross = np.asarray([LineString([(200, 0), (200, 120)]), LineString([(0, 120), (400, 120)])])
    ext = carried_on(COMPOUND, cross, np.asarray([True, True]), np.empty(0, dtype=object))
    assert len(ext) == 0


def test_streets_first_cuts_along_a_carried_on_dead_end() -> None:
    lane = np.asarray([LineString([(130, -5), (130, 100)])])
    pieces = split_compound("streets", lane, streets=np.asarray([True]))
    assert_tiles(pieces.geometry, COMPOUND)
    assert sides_of(pieces, 130.0) == {"W", "E"}


def test_cells_not_noded_together_are_merged_by_overlay() -> None:
    # two squares sharing an edge, one with an extra vertex on it: GEOS refuses them as a
    # coverage ("incorrectly noded"); the cells are then merged by overlay
    left = box(0, 0, 1, 1)
    right = shapely.Polygon([(1, 0), (2, 0), (2, 1), (1, 1), (1, 0.5)])
    merged = _merged(np.asarray([left, right]), exact=False)
    assert shapely.get_type_id(merged) == 3
    assert abs(merged.area - 2.0) < 1e-12
