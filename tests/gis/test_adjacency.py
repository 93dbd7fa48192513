"""Adjacency means a shared edge of positive length: corners never join a grid.

The case of issue 12: on a jittered street lattice with street-less compounds, pieces cut
from one compound share tens of metres of edge only up to floating-point noise, and a grid
made of two of them came out as two polygons touching at a point.
"""

from __future__ import annotations

import geopandas as gpd
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


def test_an_outline_with_a_zero_area_spike_comes_out_valid() -> None:
    # a square whose ring runs out to a spike and back along itself: invalid in the working
    # CRS (what a cut through a compound left in a 1,000,000-household city); a store refuses it
    spiked = shapely.Polygon([(0, 0), (10, 0), (10, 5), (15, 5), (10, 5), (10, 10), (0, 10)])
    assert not shapely.is_valid(spiked)
    out = robust_outlines(np.asarray([spiked, shapely.box(10, 0, 20, 10)]), "EPSG:32651")
    assert shapely.is_valid(out).all()
    assert (shapely.get_type_id(out) == 3).all()
    assert abs(shapely.area(out[0]) - 100) < 1e-9


#: A grid of the SYNTHETIC 1,000,000-household city of bench/scale.py (seed 1, U000-0017) as
#: dissolved: valid, but three vertices a nanometre apart where a cut met the block's edge.
PINCHED = (
    "POLYGON (("
    "506120.754 3509122.818, "
    "506112.617 3509111.239, "
    "506087.8449461356 3509112.9979900746, "
    "506069.6451296304 3509114.2903050664, "
    "506047.26503926713 3509115.879448907, "
    "506050.1305186002 3509156.234314623, "
    "506050.13051859906 3509156.2343146224, "
    "506050.13051859906 3509156.234314623, "
    "506063.6748235187 3509158.9177678046, "
    "506063.8758100814 3509158.903496345, "
    "506063.9372923044 3509158.8991306745, "
    "506063.9372923055 3509158.8991306745, "
    "506065.4086462122 3509158.7946541975, "
    "506069.6421770656 3509157.075751623, "
    "506072.44127401797 3509155.9392593848, "
    "506085.04127401795 3509155.9392593848, "
    "506087.8409899364 3509156.313807709, "
    "506087.84107236686 3509156.3138187365, "
    "506089.2534080147 3509156.5027621742, "
    "506090.641274018 3509155.9392593848, "
    "506106.42830827995 3509155.881969647, "
    "506117.12963310815 3509155.122100308, "
    "506120.754 3509122.818"
    "))"
)


def test_merging_noise_vertices_never_leaves_a_self_intersection() -> None:
    pinched = shapely.from_wkt(PINCHED)
    assert shapely.is_valid(pinched)
    # merging the vertices alone pinches the ring into one that crosses itself
    assert not shapely.is_valid(shapely.remove_repeated_points(pinched, 1e-9))
    out = robust_outlines(np.asarray([pinched]), "EPSG:32650")
    assert shapely.is_valid(out).all()
    assert shapely.get_type_id(out[0]) == 3
    assert abs(shapely.area(out[0]) - pinched.area) < 1e-6


#: A grid of the SYNTHETIC 1,000,000-household city of bench/scale.py (seed 1, U027-0010) as
#: dissolved: valid in metres, self-intersecting once written in degrees (EPSG:4326).
DEGREE_FRAGILE = (
    "POLYGON (("
    "511023.31448587147 3502581.573504829, "
    "511023.25688992854 3502581.198692755, "
    "511020.41057987016 3502581.1982185156, "
    "511020.3691149189 3502581.198211607, "
    "511020.3670401378 3502581.198600001, "
    "511019.31479162746 3502581.198298152, "
    "511019.3142373034 3502581.198194115, "
    "511018.26429430186 3502581.1981475637, "
    "511018.2635024653 3502581.1982959867, "
    "511017.2193913704 3502581.1981867896, "
    "511017.2169104292 3502581.1977215996, "
    "511016.16278080427 3502581.1979398183, "
    "511016.16249155573 3502581.197994075, "
    "511015.11841522134 3502581.1978508653, "
    "511015.1175757424 3502581.1980081764, "
    "511014.0634290181 3502581.198149339, "
    "511014.06289717555 3502581.198049697, "
    "511013.01562934514 3502581.1980465823, "
    "511013.0147883676 3502581.198204348, "
    "511011.9666427917 3502581.1982404105, "
    "511011.96556667594 3502581.1980387927, "
    "511010.9188654492 3502581.198145612, "
    "511010.9182458439 3502581.198029368, "
    "511009.86351026135 3502581.198000855, "
    "511009.8606441657 3502581.198538423, "
    "511008.8181258541 3502581.1985820313, "
    "511008.81574314064 3502581.1981358114, "
    "510965.3289762173 3502581.2105199657, "
    "510963.025 3502584.467, "
    "510967.9719797158 3502599.397632912, "
    "510979.13 3502633.074, "
    "510957.234 3502674.573, "
    "510991.992 3502731.141, "
    "511084.356 3502722.862, "
    "511107.816 3502674.108, "
    "511089.017 3502622.364, "
    "511085.642 3502619.957, "
    "511078.21583375335 3502599.3993343753, "
    "511070.7664862977 3502578.7774968036, "
    "511063.8360996464 3502581.280994865, "
    "511061.25755516853 3502582.2124553197, "
    "511067.4582513529 3502579.972546977, "
    "511044.6903152728 3502583.9979421017, "
    "511033.54688957374 3502592.2225169637, "
    "511037.430685018 3502590.819554207, "
    "511032.1732254558 3502592.7187324897, "
    "511025.4495673752 3502595.147552961, "
    "511025.36392778077 3502594.910478478, "
    "511023.31448587147 3502581.573504829"
    "))"
)


def test_an_outline_invalid_only_in_degrees_comes_out_valid_there() -> None:
    fragile_grid = shapely.from_wkt(DEGREE_FRAGILE)
    assert shapely.is_valid(fragile_grid)
    in_degrees = gpd.GeoSeries([fragile_grid], crs="EPSG:32650").to_crs(4326)
    assert not shapely.is_valid(in_degrees.iloc[0])
    out = robust_outlines(np.asarray([fragile_grid]), "EPSG:32650")
    assert shapely.is_valid(gpd.GeoSeries(out, crs="EPSG:32650").to_crs(4326).to_numpy()).all()
    assert abs(shapely.area(out[0]) - fragile_grid.area) < 1e-6
