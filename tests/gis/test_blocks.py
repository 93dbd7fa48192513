"""Street blocks: a hand-built 3×3 street grid with known answers, and the real samples."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from gis import columns as col
from gis.blocks.build import BlockSet, build_blocks
from gis.blocks.graph import block_graph
from gis.blocks.roads import normalise_roads
from gis.checks.coverage import buildings_not_whole, gap_and_overlap_m2
from gis.inputs.prepare import prepare_blocks
from gis.inputs.read import Area, empty_layer
from gis.options import DEFAULT_TOLERANCES

CRS = "EPSG:32651"
X0, Y0 = 355_000.0, 3_456_000.0


def _gdf(rows: list[dict], crs: str = CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def street_grid(*, median: bool = False, straddler: bool = True) -> Area:
    """A 300 m square unit cut by two streets each way into 3×3 blocks of 100 m.

    Block (row r from the north, column c from the west) holds one household point with
    10·(3r + c + 1) households and one 20 m building. One more point lies exactly on the
    street x = 100 (a shared edge). With ``straddler``, a building spans the street
    x = 200 (10 m west of it, 15 m east). With ``median``, the street y = 200 is a dual
    carriageway 6 m apart.
    """
    boundary = _gdf([{"code": "U1", "name": "grid", "geometry": box(X0, Y0, X0 + 300, Y0 + 300)}])
    lines = []
    for t in (100, 200):
        lines.append(LineString([(X0 + t, Y0 - 20), (X0 + t, Y0 + 320)]))
        lines.append(LineString([(X0 - 20, Y0 + t), (X0 + 320, Y0 + t)]))
    if median:
        lines.append(LineString([(X0 - 20, Y0 + 206), (X0 + 320, Y0 + 206)]))
    roads = normalise_roads(_gdf([{"highway": "residential", "geometry": g} for g in lines]))
    points, buildings = [], []
    for r in range(3):
        for c in range(3):
            cx, cy = X0 + 50 + 100 * c, Y0 + 250 - 100 * r
            points.append({col.HOUSEHOLDS: 10 * (3 * r + c + 1), "geometry": Point(cx, cy)})
            buildings.append({"geometry": box(cx - 10, cy - 30, cx + 10, cy - 10)})
    points.append({col.HOUSEHOLDS: 7, "geometry": Point(X0 + 100, Y0 + 50)})
    if straddler:
        buildings.append({"geometry": box(X0 + 190, Y0 + 40, X0 + 215, Y0 + 60)})
    hh = _gdf(points)
    hh[col.HOUSEHOLDS_ESTIMATED] = False
    bld = _gdf(buildings)
    bld[col.BUILDING_ID] = np.arange(len(bld))
    return Area(
        boundary=boundary.rename(columns={"code": col.UNIT_CODE, "name": col.UNIT_NAME}),
        roads=roads,
        households=hh,
        buildings=bld,
        crs=gpd.GeoSeries([], crs=CRS).crs,
    )


def block_at(bs: BlockSet, x: float, y: float) -> pd.Series:
    hit = bs.blocks[bs.blocks.contains(Point(X0 + x, Y0 + y))]
    assert len(hit) == 1
    return hit.iloc[0]


def test_street_grid_gives_nine_blocks_that_tile_the_unit() -> None:
    bs = build_blocks(street_grid())
    assert len(bs.blocks) == 9
    gap, overlap = gap_and_overlap_m2(bs.blocks.geometry.to_numpy(), bs.units.geometry.iloc[0])
    assert gap < 1e-6
    assert overlap < 1e-6
    assert bs.blocks[col.BLOCK_ID].tolist() == list(range(9))


def test_households_are_counted_once_and_the_shared_edge_point_goes_east() -> None:
    area = street_grid()
    bs = build_blocks(area)
    assert bs.blocks[col.HOUSEHOLDS].sum() == area.households[col.HOUSEHOLDS].sum()
    # the point on x = 100 joins the block east of the street (nudge rule)
    assert block_at(bs, 150, 50)[col.HOUSEHOLDS] == 80 + 7
    assert block_at(bs, 50, 50)[col.HOUSEHOLDS] == 70
    assert block_at(bs, 50, 250)[col.HOUSEHOLDS] == 10


def test_a_building_across_a_street_moves_whole_into_its_majority_block() -> None:
    bs = build_blocks(street_grid())
    assert buildings_not_whole(bs.buildings, bs.blocks, key=col.BLOCK_ID) == 0
    straddler = bs.buildings.iloc[-1]
    east = block_at(bs, 250, 50)
    assert straddler[col.BLOCK_ID] == east[col.BLOCK_ID]
    assert east.geometry.covers(straddler.geometry)
    west = block_at(bs, 150, 50)
    assert west.geometry.area == pytest.approx(100 * 100 - 10 * 20, abs=1e-6)
    assert bs.blocks.geometry.area.sum() == pytest.approx(300 * 300, abs=1e-6)
    assert (bs.blocks["n_buildings"].sum(), len(bs.buildings)) == (10, 10)


def test_block_graph_has_the_grid_adjacency_with_shared_lengths() -> None:
    bs = build_blocks(street_grid(straddler=False))
    graph = bs.graph
    assert graph.number_of_nodes() == 9
    assert graph.number_of_edges() == 12  # rook adjacency of a 3×3 grid
    lengths = sorted(d[col.SHARED_M] for _, _, d in graph.edges(data=True))
    assert lengths == pytest.approx([100.0] * 12)
    assert all(d["street"] for _, _, d in graph.edges(data=True))


def test_a_dual_carriageway_median_is_absorbed() -> None:
    bs = build_blocks(street_grid(median=True))
    assert len(bs.blocks) == 9
    gap, overlap = gap_and_overlap_m2(bs.blocks.geometry.to_numpy(), bs.units.geometry.iloc[0])
    assert gap < 1e-6
    assert overlap < 1e-6


def test_no_roads_gives_one_block_per_unit() -> None:
    area = street_grid(straddler=False)
    empty = area.roads.iloc[0:0]
    bs = build_blocks(Area(**{**area.__dict__, "roads": empty}))
    assert len(bs.blocks) == 1
    assert bs.blocks[col.HOUSEHOLDS].iloc[0] == area.households[col.HOUSEHOLDS].sum()


def test_two_units_never_share_a_block() -> None:
    area = street_grid(straddler=False)
    west = box(X0, Y0, X0 + 150, Y0 + 300)
    east = box(X0 + 150, Y0, X0 + 300, Y0 + 300)
    units = _gdf(
        [
            {col.UNIT_CODE: "W", col.UNIT_NAME: "west", "geometry": west},
            {col.UNIT_CODE: "E", col.UNIT_NAME: "east", "geometry": east},
        ]
    )
    bs = build_blocks(Area(**{**area.__dict__, "boundary": units}))
    for code, unit in (("W", west), ("E", east)):
        mine = bs.blocks[bs.blocks[col.UNIT_CODE] == code]
        assert all(unit.buffer(1e-6).covers(g) for g in mine.geometry)
        gap, overlap = gap_and_overlap_m2(mine.geometry.to_numpy(), unit)
        assert gap < 1e-6
        assert overlap < 1e-6
    assert len(bs.blocks) == 12
    assert bs.blocks[col.HOUSEHOLDS].sum() == area.households[col.HOUSEHOLDS].sum()


SAMPLES = ["shanghai_bund.gpkg", "beijing_bupt.gpkg", "nantong.gpkg"]


@pytest.fixture(scope="module", params=SAMPLES)
def sample(request: pytest.FixtureRequest) -> tuple[str, object]:
    path = Path(__file__).parents[2] / "data" / request.param
    return request.param, prepare_blocks(path)


def test_sample_blocks_tile_every_unit(sample: tuple[str, object]) -> None:
    _, prepared = sample
    bs = prepared.blockset  # type: ignore[attr-defined]
    for code, unit in zip(bs.units[col.UNIT_CODE], bs.units.geometry, strict=True):
        mine = bs.blocks[bs.blocks[col.UNIT_CODE] == code]
        gap, overlap = gap_and_overlap_m2(mine.geometry.to_numpy(), unit)
        assert gap < 1.0, f"{code}: gap {gap} m²"
        assert overlap < 1.0, f"{code}: overlap {overlap} m²"
    assert bs.blocks.is_valid.all()
    assert (bs.blocks.geom_type == "Polygon").all()
    # no floating-point dust left as a block
    assert (bs.blocks.area >= DEFAULT_TOLERANCES.dust_m2).all()


def test_sample_buildings_and_households_counted_exactly_once(sample: tuple[str, object]) -> None:
    _, prepared = sample
    bs = prepared.blockset  # type: ignore[attr-defined]
    area = prepared.area  # type: ignore[attr-defined]
    # every building in the area belongs to exactly one block, whole
    assert bs.buildings[col.BUILDING_ID].is_unique
    assert bs.buildings[col.BLOCK_ID].between(0, len(bs.blocks) - 1).all()
    assert buildings_not_whole(bs.buildings, bs.blocks, key=col.BLOCK_ID) == 0
    assert bs.blocks["n_buildings"].sum() == len(bs.buildings)
    # buildings left out lie outside the boundary (most of their area)
    outside = area.buildings[~area.buildings[col.BUILDING_ID].isin(bs.buildings[col.BUILDING_ID])]
    area_union = shapely.union_all(bs.units.geometry.to_numpy())
    inside_share = outside.geometry.intersection(area_union).area / outside.geometry.area
    assert (inside_share <= 0.5 + 1e-9).all()
    # totals conserved: blocks hold exactly the households of the buildings they hold
    assert bs.blocks[col.HOUSEHOLDS].sum() == bs.buildings[col.HOUSEHOLDS].sum()
    assert bs.blocks[col.HOUSEHOLDS].sum() == bs.households[col.HOUSEHOLDS].sum()
    assert bs.blocks[col.HOUSEHOLDS_ESTIMATED].any()


def test_sample_graph_is_consistent(sample: tuple[str, object]) -> None:
    _, prepared = sample
    bs = prepared.blockset  # type: ignore[attr-defined]
    assert set(bs.graph.nodes) == set(bs.blocks[col.BLOCK_ID])
    for u, v, data in bs.graph.edges(data=True):
        assert data[col.SHARED_M] > 0
        a, b = bs.blocks.geometry.iloc[u], bs.blocks.geometry.iloc[v]
        assert a.boundary.intersection(b.boundary).length == pytest.approx(data[col.SHARED_M])


def test_empty_layer_has_geometry() -> None:
    assert empty_layer(CRS).geometry.name == "geometry"


def test_street_edges_follow_the_street_edge_tolerance() -> None:
    """An edge 2 m off its bounding line follows it at ``street_edge_m = 3`` but not at 1 m."""
    bs = build_blocks(street_grid(straddler=False))
    off = bs.streets.set_geometry(bs.streets.geometry.translate(2.0, 2.0))
    default = block_graph(bs.blocks, off)
    assert not any(d["street"] for _, _, d in default.edges(data=True))
    loose = block_graph(bs.blocks, off, tolerances=DEFAULT_TOLERANCES.replace(street_edge_m=3.0))
    assert all(d["street"] for _, _, d in loose.edges(data=True))
