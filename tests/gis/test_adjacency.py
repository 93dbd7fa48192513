"""Adjacency means a shared edge of positive length: corners never join a grid.

The case of issue 12: on a jittered street lattice with street-less compounds, pieces cut
from one compound share tens of metres of edge only up to floating-point noise, and a grid
made of two of them came out as two polygons touching at a point.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

import gis
from gis import columns as col
from gis.checks.validate import validate_plan
from gis.cutting.atoms import atoms_from_blockset
from gis.datasets import lattice_city
from gis.geometry.tiling import join_parts, robust_outlines, shared_boundary_m
from gis.options import DEFAULT_TOLERANCES

LO, HI, TARGET = 300, 800, 500


@pytest.fixture(scope="module")
def city() -> gis.BlockSet:
    """SYNTHETIC: two communities of a jittered lattice, two street-less compounds each."""
    return lattice_city((2, 1), households=20_000, rng=0)


def test_the_lattice_city_has_street_less_compounds(city: gis.BlockSet) -> None:
    hh = city.blocks[col.HOUSEHOLDS].to_numpy()
    assert (hh > HI).sum() == 4
    assert hh.sum() == 20_000


def test_adjacent_atoms_share_an_edge_and_dissolve_into_one_polygon(city: gis.BlockSet) -> None:
    atoms = atoms_from_blockset(
        city, max_households=HI, target_households=TARGET, min_households=LO
    )
    geoms = atoms.frame.geometry.to_numpy()
    u = atoms.edges["u"].to_numpy().astype(np.int64)
    v = atoms.edges["v"].to_numpy().astype(np.int64)
    shared = shared_boundary_m(geoms[u], geoms[v])
    assert (shared >= DEFAULT_TOLERANCES.min_shared_m).all()
    # the outline step every dissolve goes through (partition, edits, adjustment)
    pairs = robust_outlines(shapely.union(geoms[u], geoms[v]), city.crs)
    assert (shapely.get_num_geometries(pairs) == 1).all()


def test_atoms_meeting_at_a_corner_are_not_adjacent(city: gis.BlockSet) -> None:
    atoms = atoms_from_blockset(
        city, max_households=HI, target_households=TARGET, min_households=LO
    )
    geoms = atoms.frame.geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="touches")
    keep = a < b
    a, b = a[keep], b[keep]
    point = shapely.get_type_id(shapely.intersection(geoms[a], geoms[b])) == 0
    # a point of contact, and no edge shared even up to noise: a corner
    corner = point & (shared_boundary_m(geoms[a], geoms[b]) == 0)
    assert corner.sum() > 10  # the lattice is jittered: many blocks meet at a corner only
    joined = join_parts(shapely.union(geoms[a[corner]], geoms[b[corner]]))
    assert (shapely.get_num_geometries(joined) == 2).all()
    edges = set(zip(atoms.edges["u"].astype(int), atoms.edges["v"].astype(int), strict=True))
    assert not {(int(x), int(y)) for x, y in zip(a[corner], b[corner], strict=True)} & edges


def test_corner_touching_parts_stay_apart_and_noisy_seams_join() -> None:
    square = shapely.box(0, 0, 10, 10)
    diagonal = shapely.box(10, 10, 20, 20)
    # a neighbour whose shared edge is tilted by half a nanometre over 10 m
    noisy = shapely.Polygon([(10 + 5e-10, 0), (20, 0), (20, 10), (10, 10)])
    out = join_parts(
        np.asarray([shapely.union(square, diagonal), shapely.MultiPolygon([square, noisy])])
    )
    assert shapely.get_num_geometries(out[0]) == 2
    assert shapely.get_num_geometries(out[1]) == 1
    assert abs(shapely.area(out[1]) - 200) < 1e-6


def test_no_grid_of_the_lattice_city_is_multipart(city: gis.BlockSet) -> None:
    plan = gis.partition(city, band=gis.Band(LO, HI, target=TARGET), seed=0)
    grids = plan.grids.geometry.to_numpy()
    assert (shapely.get_num_geometries(grids) == 1).all()
    report = validate_plan(
        plan.grids,
        buildings=city.buildings,
        streets=city.streets,
        units=city.units,
        households=city.households,
        band=gis.Band(LO, HI, target=TARGET),
    )
    assert report.metrics["multipart_grids"] == 0
    assert report.metrics["buildings_split"] == 0
