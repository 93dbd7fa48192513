"""The in-memory lookup index: the boundary rule on a hand-built plan, lattice = exact."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from gis.errors import CRSError, GeometryError, StoreError, VersionNotFoundError
from gis.serving.lookup import GridIndex, LiveIndex, locate_exact, parent_chain, points_to_wgs84
from gis.store import open_store
from gis.store.plan import NUDGE, pick_grid


def squares(
    n: int = 3,
    step: float = 0.001,
    x0: float = 121.5,
    y0: float = 31.2,
) -> gpd.GeoDataFrame:
    """n×n squares in EPSG:4326; code 'G<row><col>', row 0 at the bottom."""
    rows = [{"grid_code": f"G{r}{c}", "households": 100 * (r + 1) + c, "kind": "ordinary",
             "parent_code": "310101002001", "parent_name": "社区",
             "geometry": box(x0 + c * step, y0 + r * step, x0 + (c + 1) * step,
                             y0 + (r + 1) * step)}
            for r in range(n) for c in range(n)]  # fmt: skip
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def jagged() -> gpd.GeoDataFrame:
    """Three grids meeting at a vertex with slanted edges (nothing axis-aligned)."""
    c = (121.5005, 31.2005)
    a = Polygon([(121.5, 31.2), (121.5012, 31.2001), c, (121.4999, 31.2011)])
    b = Polygon([(121.5012, 31.2001), (121.5013, 31.2013), c])
    d = Polygon([c, (121.5013, 31.2013), (121.4999, 31.2011)])
    return gpd.GeoDataFrame({"grid_code": ["B", "A", "C"], "households": [1, 2, 3],
                             "kind": "ordinary", "parent_code": "x", "parent_name": "y"},
                            geometry=[a, b, d], crs="EPSG:4326")  # fmt: skip


@pytest.mark.parametrize("plan", [squares(), jagged()], ids=["squares", "jagged"])
def test_shared_vertices_and_midpoints_get_one_grid_by_the_rule(plan: gpd.GeoDataFrame) -> None:
    index = GridIndex(plan, lattice_cells=16)
    xy = shapely.get_coordinates(plan.geometry.to_numpy())
    rings = [shapely.get_coordinates(g.exterior) for g in plan.geometry]
    mids = np.vstack([(r[:-1] + r[1:]) / 2 for r in rings])
    pts = np.vstack([xy, mids])
    got = [index.code(p) for p in index.locate(pts[:, 0], pts[:, 1])]
    want = [pick_grid(plan, x, y) for x, y in pts]
    assert got == want
    for i, ((x, y), code) in enumerate(zip(pts, got, strict=True)):
        covering = plan[plan.covers(shapely.Point(x, y))]
        if i < len(xy):
            assert code is not None  # every vertex of the plan is covered
        if covering.empty:  # a slanted outer edge's midpoint, rounded just outside
            assert code is None
            continue
        nudged = shapely.Point(x + NUDGE[0], y + NUDGE[1])
        inside = covering[covering.contains(nudged)]["grid_code"]
        expected = min(inside) if len(inside) else min(covering["grid_code"])
        assert code == expected


def test_centre_vertex_of_four_squares_goes_north_east() -> None:
    index = GridIndex(squares(2))
    assert index.code(int(index.locate([121.501], [31.201])[0])) == "G11"
    # a point on the vertical edge between G00 and G01 goes east, to G01
    assert index.code(int(index.locate([121.501], [31.2005])[0])) == "G01"


def test_lattice_answers_equal_the_exact_rule_on_random_points() -> None:
    plan = jagged()
    fine = GridIndex(plan, lattice_cells=64)
    exact = GridIndex(plan, lattice_cells=0)
    rng = np.random.default_rng(5)
    x0, y0, x1, y1 = plan.total_bounds
    lon = rng.uniform(x0 - 1e-4, x1 + 1e-4, 50_000)
    lat = rng.uniform(y0 - 1e-4, y1 + 1e-4, 50_000)
    assert np.array_equal(fine.locate(lon, lat), exact.locate(lon, lat))
    sorted_plan = plan.sort_values("grid_code").reset_index(drop=True)
    geoms = sorted_plan.geometry.to_numpy()
    assert np.array_equal(
        exact.locate(lon, lat), locate_exact(shapely.STRtree(geoms), geoms, lon, lat)
    )


def test_points_are_checked_and_converted() -> None:
    x, _ = points_to_wgs84([121.5], [31.2], "gcj02")
    assert abs(x[0] - 121.5) > 1e-4  # moved by the GCJ-02 inverse
    with pytest.raises(CRSError, match="unknown crs 'wgs72x'"):
        points_to_wgs84([1], [2], "wgs72x")
    with pytest.raises(GeometryError, match=r"point 1 \(200, 1\)"):
        points_to_wgs84([1, 200], [1, 1], "wgs84")
    with pytest.raises(GeometryError):
        points_to_wgs84([float("nan")], [1], "wgs84")


def test_parent_chain_from_units_or_code_digits() -> None:
    units = {
        "310101002001": {"unit_name": "外滩社区", "level": "community", "parent_code": "310101002"},
        "310101002": {"unit_name": "外滩街道", "level": "street", "parent_code": "310101"},
    }
    chain = parent_chain("310101002001", "外滩社区", units)
    assert [p["code"] for p in chain] == ["310101002001", "310101002"]
    assert chain[-1]["name"] == "外滩街道"
    bare = parent_chain("310101002001", "外滩社区", {})
    assert bare == [
        {"code": "310101002001", "name": "外滩社区", "level": "community"},
        {"code": "310101002", "name": None, "level": "town"},
    ]


class FlakyStore:
    """A store whose reads fail on demand (stands in for a restarting database)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.down = False
        self.closed = 0

    def versions(self):
        if self.down:
            raise StoreError("cannot connect to the plan database")
        return self.inner.versions()

    def read_grids(self, version_id=None, *, as_of=None):
        if self.down:
            raise StoreError("cannot connect to the plan database")
        return self.inner.read_grids(version_id, as_of=as_of)

    def close(self) -> None:
        self.closed += 1


def test_live_index_follows_publishes_and_survives_a_down_store(tmp_path) -> None:
    store = open_store(tmp_path / "plans.gpkg")
    store.publish(squares(2), author="t")
    flaky = FlakyStore(store)
    live = LiveIndex(flaky)  # type: ignore[arg-type]
    assert live.refresh()
    first = live.index()
    assert first.version_id == 1
    store.publish(squares(3), author="t")
    flaky.down = True
    assert not live.refresh()
    assert live.last_error is not None
    assert flaky.closed == 1
    assert live.index().version_id == 1  # still answering from memory
    flaky.down = False
    assert live.refresh()
    assert live.index().version_id == 2
    assert len(live.index()) == 9
    assert live.index(as_of=store.versions()[0].valid_from).version_id == 1
    with pytest.raises(VersionNotFoundError):
        live.index(7)
