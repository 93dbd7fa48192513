"""Pieces that tile a region: snapping to each other, noding together, dust slivers."""

from __future__ import annotations

import numpy as np
import shapely

from gis.geometry.tiling import _most_shared, node_together, snap_to_pieces
from gis.options import DEFAULT_TOLERANCES

SNAP_M = DEFAULT_TOLERANCES.snap_m


def _cut_block(rng: np.random.Generator, n: int = 6) -> np.ndarray:
    """A 100 m square cut into n × n jittered quads whose shared corners carry 1e-7 m noise,
    beside a neighbouring block that has none of the cut's vertices."""
    xs = np.linspace(0, 100, n + 1)
    corners = np.stack(np.meshgrid(xs, xs, indexing="ij"), -1)
    corners[1:-1, 1:-1] += rng.uniform(-5, 5, (n - 1, n - 1, 2))
    quads = []
    for i in range(n):
        for j in range(n):
            ring = [corners[i, j], corners[i + 1, j], corners[i + 1, j + 1], corners[i, j + 1]]
            quads.append(shapely.Polygon(np.asarray(ring) + rng.normal(0, 1e-7, (4, 2))))
    return np.asarray([*quads, shapely.box(100, 0, 150, 100)], dtype=object)


def _snapped_one_by_one(local: np.ndarray, n_pieces: int) -> list[shapely.Geometry]:
    tree = shapely.STRtree(local[:n_pieces])
    out = []
    for i, geom in enumerate(local):
        near = tree.query(geom, predicate="dwithin", distance=SNAP_M)
        near = near[near != i]
        if len(near) == 0:
            out.append(geom)
            continue
        ref = shapely.multipoints(shapely.get_coordinates(local[near]))
        out.append(shapely.snap(geom, ref, SNAP_M))
    return out


def test_snapping_all_at_once_equals_snapping_each_to_its_neighbours() -> None:
    local = _cut_block(np.random.default_rng(1))
    together = snap_to_pieces(local, len(local) - 1, SNAP_M)
    alone = _snapped_one_by_one(local, len(local) - 1)
    assert all(shapely.equals_exact(a, b, 0) for a, b in zip(together, alone, strict=True))
    assert bool(shapely.is_valid(together).all())
    # the neighbouring block gains the vertices the cut put on its edge
    assert len(shapely.get_coordinates(together[-1])) > len(shapely.get_coordinates(local[-1]))


def test_a_piece_alone_is_left_as_it_is() -> None:
    lone = np.asarray([shapely.box(0, 0, 1, 1), shapely.box(5, 5, 6, 6)], dtype=object)
    out = snap_to_pieces(lone, 2, SNAP_M)
    assert all(shapely.equals_exact(a, b, 0) for a, b in zip(out, lone, strict=True))


def test_noded_pieces_keep_their_areas_and_stay_valid() -> None:
    local = _cut_block(np.random.default_rng(2))
    noded = node_together(snap_to_pieces(local, len(local) - 1, SNAP_M))
    assert np.allclose(shapely.area(noded), shapely.area(local), atol=1e-4)
    assert bool(shapely.is_valid(noded).all())
    assert abs(shapely.area(shapely.union_all(noded)) - 150 * 100) < DEFAULT_TOLERANCES.dust_m2


def test_a_sliver_goes_to_the_polygon_it_shares_most_boundary_with() -> None:
    long_side = shapely.box(0, 0, 10, 10)
    short_side = shapely.box(10, 9, 20, 10.0001)
    far = shapely.box(50, 50, 60, 60)
    sliver = shapely.box(10, 0, 10.0001, 9)  # shares 9 m with the first, 1e-4 m with the second
    polygons = np.asarray([far, short_side, long_side], dtype=object)
    best = _most_shared(
        np.asarray([sliver, shapely.box(80, 80, 81, 81)]), polygons, DEFAULT_TOLERANCES
    )
    assert best.tolist() == [2, -1]
