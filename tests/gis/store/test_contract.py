"""The contract every plan store keeps, run against GeoPackage and PostGIS alike."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box
from store_plans import CRS, SIDE, UNIT, X0, Y0, PlanFactory

from gis import columns as col
from gis.errors import (
    CRSError,
    DuplicateGridCodeError,
    InputTypeError,
    PlanGapError,
    PlanOverlapError,
    ValidationErrors,
    VersionNotFoundError,
)
from gis.store import Store
from gis.store.base import as_of_note


def lonlat(x: float, y: float) -> tuple[float, float]:
    """A UTM 51N point in longitude, latitude."""
    p = gpd.GeoSeries([shapely.Point(x, y)], crs=CRS).to_crs(4326).iloc[0]
    return p.x, p.y


def same_geometries(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, tol_m2: float = 0.01) -> bool:
    """Whether two frames (sorted alike) hold the same polygons, within ``tol_m2``."""
    ga = a.to_crs(CRS).geometry.to_numpy()
    gb = b.to_crs(CRS).geometry.to_numpy()
    return bool((shapely.area(shapely.symmetric_difference(ga, gb)) < tol_m2).all())


def snapshot(store: Store) -> tuple[list, list]:
    """Everything a reader can see: version records and live grid rows."""
    versions = store.versions()
    live = store.read_grids() if versions else gpd.GeoDataFrame()
    rows = live.drop(columns="geometry").to_dict(orient="records") if len(live) else []
    return versions, rows


def test_empty_store(store: Store) -> None:
    assert store.versions() == []
    with pytest.raises(VersionNotFoundError, match="publish one first"):
        store.read_grids()
    assert store.grid_at(*lonlat(X0 + 50, Y0 + 50)) is None


def test_publish_and_read_back(store: Store, plan: PlanFactory, units: gpd.GeoDataFrame) -> None:
    grids = plan(3)
    info = store.publish(
        grids,
        author="planner",
        note="first plan",
        parameters={"band": [300, 800], "seed": np.int64(7)},
        report={"in_band": 0.97},
        units=units,
    )
    assert info.id == 1
    assert info.live
    assert info.grids == 9
    assert (info.author, info.note) == ("planner", "first plan")
    assert info.parameters == {"band": [300, 800], "seed": 7}
    assert info.report == {"in_band": 0.97}
    back = store.read_grids()
    assert back.crs.to_epsg() == 4326
    assert back[col.GRID_CODE].tolist() == sorted(grids[col.GRID_CODE])
    assert set(back["version_id"]) == {1}
    want = grids.sort_values(col.GRID_CODE).reset_index(drop=True)
    assert back[col.HOUSEHOLDS].tolist() == want[col.HOUSEHOLDS].tolist()
    assert back[col.KIND].tolist() == want[col.KIND].tolist()
    assert back[col.PARENT_NAME].tolist() == ["外灘社區"] * 9
    assert np.allclose(back[col.AREA_M2], 10_000, rtol=1e-3)
    assert same_geometries(back, want)
    assert store.version() == store.version(1) == info


def test_any_input_crs(store: Store, plan: PlanFactory) -> None:
    store.publish(plan(3, crs="EPSG:4490"), author="a")
    back = store.read_grids()
    assert same_geometries(back, plan(3).sort_values(col.GRID_CODE).reset_index(drop=True))


def test_versions_abut_and_only_last_is_live(store: Store, plan: PlanFactory) -> None:
    for prefix in "ABC":
        store.publish(plan(3, prefix=prefix), author="a")
    versions = store.versions()
    assert [v.id for v in versions] == [1, 2, 3]
    assert [v.live for v in versions] == [False, False, True]
    for older, newer in itertools.pairwise(versions):
        assert older.valid_to == newer.valid_from
        assert older.valid_from < newer.valid_from
    assert len(store.read_grids(1)) == 9
    assert set(store.read_grids(1)[col.GRID_CODE].str[0]) == {"A"}
    with pytest.raises(VersionNotFoundError, match="no plan version 9"):
        store.read_grids(9)


def test_as_of_across_three_versions(store: Store, plan: PlanFactory) -> None:
    plans = [plan(3, prefix="A"), plan(2, prefix="B"), plan(3, prefix="C", households=300)]
    infos = [store.publish(p, author="a", note=f"v{i}") for i, p in enumerate(plans, 1)]
    infos = store.versions()
    point = lonlat(X0 + 40, Y0 + SIDE - 40)  # north-west corner: row 0, column 0
    for info, prefix in zip(infos, "ABC", strict=True):
        end = info.valid_to or info.valid_from + timedelta(days=1)
        for moment in (info.valid_from, info.valid_from + (end - info.valid_from) / 2):
            assert store.version(as_of=moment).id == info.id
            assert set(store.read_grids(as_of=moment)[col.GRID_CODE].str[0]) == {prefix}
            assert store.grid_at(*point, as_of=moment) == f"{prefix}00"
        if info.valid_to is not None:
            just_before = info.valid_to - timedelta(microseconds=1)
            assert store.grid_at(*point, as_of=just_before) == f"{prefix}00"
    before = infos[0].valid_from - timedelta(seconds=1)
    assert store.grid_at(*point, as_of=before) is None
    with pytest.raises(VersionNotFoundError):
        store.read_grids(as_of=before)
    assert store.grid_at(*point) == "C00"


def test_point_on_shared_boundary_gets_one_grid(store: Store, plan: PlanFactory) -> None:
    store.publish(plan(3), author="a")
    # A point on the edge x = X0 + 100 between A10 (west) and A11 (east): nudged east.
    assert store.grid_at(*lonlat(X0 + 100, Y0 + 150)) == "A11"
    # The corner shared by A00, A01, A10, A11: nudged north-east into A01.
    assert store.grid_at(*lonlat(X0 + 100, Y0 + 200)) == "A01"
    assert store.grid_at(*lonlat(X0 - 10, Y0 + 10)) is None


def test_overlap_refused_with_codes(store: Store, plan: PlanFactory) -> None:
    grids = plan(3)
    grids.loc[grids[col.GRID_CODE] == "A22", "geometry"] = box(
        X0 + 190, Y0, X0 + 300, Y0 + 95
    )  # 10 m into A21 (kept off A11's edge: only A21 is overlapped)
    with pytest.raises(PlanOverlapError, match="A21/A22") as caught:
        store.publish(grids, author="a")
    assert caught.value.grid_codes == ["A21", "A22"]
    assert isinstance(caught.value, ValueError)
    assert store.versions() == []


def test_nested_grid_refused(store: Store, plan: PlanFactory) -> None:
    grids = plan(3)
    inner = gpd.GeoDataFrame(
        {
            col.GRID_CODE: ["X1"],
            col.KIND: ["dedicated"],
            col.HOUSEHOLDS: [0],
            col.PARENT_CODE: [UNIT],
            col.PARENT_NAME: [""],
        },
        geometry=[box(X0 + 120, Y0 + 120, X0 + 180, Y0 + 180)],
        crs=CRS,
    )
    with pytest.raises(PlanOverlapError) as caught:
        store.publish(gpd.pd.concat([grids, inner]), author="a")
    assert caught.value.grid_codes == ["A11", "X1"]


def test_gap_refused_with_codes(store: Store, plan: PlanFactory, units: gpd.GeoDataFrame) -> None:
    grids = plan(3)
    holed = grids[grids[col.GRID_CODE] != "A11"]
    with pytest.raises(PlanGapError, match=UNIT) as caught:
        store.publish(holed, author="a", units=units)
    assert {"A01", "A10", "A12", "A21"} <= set(caught.value.grid_codes)
    assert "A11" not in caught.value.grid_codes
    assert store.versions() == []


def test_sliver_below_one_square_metre_accepted(
    store: Store, plan: PlanFactory, units: gpd.GeoDataFrame
) -> None:
    grids = plan(3)
    grids.loc[grids[col.GRID_CODE] == "A22", "geometry"] = box(
        X0 + 200.002, Y0, X0 + 300, Y0 + 100
    )  # 0.2 m² gap
    assert store.publish(grids, author="a", units=units).id == 1


def test_duplicate_codes_refused(store: Store, plan: PlanFactory) -> None:
    grids = plan(3)
    grids.loc[grids[col.GRID_CODE] == "A12", col.GRID_CODE] = "A11"
    with pytest.raises(DuplicateGridCodeError, match="A11") as caught:
        store.publish(grids, author="a")
    assert caught.value.grid_codes == ["A11"]


def test_bad_inputs_said_at_the_door(store: Store, plan: PlanFactory) -> None:
    with pytest.raises(ValidationErrors, match="households"):
        store.publish(plan(3).drop(columns=col.HOUSEHOLDS), author="a")
    with pytest.raises(CRSError):
        store.publish(plan(3).set_crs(None, allow_override=True), author="a")
    with pytest.raises(InputTypeError):
        store.publish(plan(3).drop(columns="geometry").to_dict(), author="a")  # type: ignore[arg-type]
    grids = plan(3)
    grids.loc[0, col.KIND] = "special"
    with pytest.raises(ValidationErrors, match="kind"):
        store.publish(grids, author="a")


def test_rejected_publish_changes_nothing(
    store: Store, plan: PlanFactory, units: gpd.GeoDataFrame
) -> None:
    store.publish(plan(3), author="a", units=units)
    before = snapshot(store)
    bad = plan(2, prefix="B")
    bad = bad[bad[col.GRID_CODE] != "B11"]
    with pytest.raises(PlanGapError):
        store.publish(bad, author="b", units=units)
    overlapping = plan(2, prefix="B")
    overlapping.loc[0, "geometry"] = box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    with pytest.raises(PlanOverlapError):
        store.publish(overlapping, author="b")
    assert snapshot(store) == before
    assert store.read_units()[col.UNIT_CODE].tolist() == [UNIT]


def shifted(plan: PlanFactory) -> gpd.GeoDataFrame:
    """Plan A with A11 +50 households and the A21|A22 boundary moved 20 m east."""
    grids = plan(3)
    grids.loc[grids[col.GRID_CODE] == "A11", col.HOUSEHOLDS] += 50
    grids.loc[grids[col.GRID_CODE] == "A21", "geometry"] = box(X0 + 100, Y0, X0 + 220, Y0 + 100)
    grids.loc[grids[col.GRID_CODE] == "A22", "geometry"] = box(X0 + 220, Y0, X0 + 300, Y0 + 100)
    return grids


def test_diff_changed_and_moved(store: Store, plan: PlanFactory, units: gpd.GeoDataFrame) -> None:
    store.publish(plan(3), author="a", units=units)
    store.publish(shifted(plan), author="a", units=units)
    diff = store.diff(1, 2)
    assert diff.added == [] and diff.removed == []  # noqa: PT018
    assert diff.method == "area"
    changed = diff.changed.set_index(col.GRID_CODE)
    assert sorted(changed.index) == ["A11", "A21", "A22"]
    assert not changed.loc["A11", "geometry_changed"]
    assert changed.loc["A11", "households_new"] - changed.loc["A11", "households_old"] == 50
    assert changed.loc["A22", "geometry_changed"]
    assert changed.loc["A22", "changed_area_m2"] == pytest.approx(2000, rel=1e-3)
    assert diff.unchanged == 6
    # A22 held 180 households on 100 × 100 m; 20 × 100 m of it went to A21.
    assert diff.moved.to_dict(orient="records") == [
        {"from_code": "A22", "to_code": "A21", "households": 36}
    ]


def test_diff_all_new_codes_conserves_households(store: Store, plan: PlanFactory) -> None:
    old = plan(3)
    store.publish(old, author="a")
    store.publish(plan(2, prefix="B"), author="a")
    diff = store.diff(1, 2)
    assert diff.added == ["B00", "B01", "B10", "B11"]
    assert len(diff.removed) == 9
    assert diff.households_moved == int(old[col.HOUSEHOLDS].sum())
    assert diff.moved["to_code"].notna().all()
    per_old = diff.moved.groupby("from_code")[col.HOUSEHOLDS].sum()
    assert per_old.to_dict() == dict(zip(old[col.GRID_CODE], old[col.HOUSEHOLDS], strict=True))


def cells_of(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Four unit cells per grid (quadrants), households split 1:1:1:rest."""
    rows = []
    for code, hh, geom in zip(
        grids[col.GRID_CODE], grids[col.HOUSEHOLDS], grids.geometry, strict=True
    ):
        x0, y0, x1, y1 = geom.bounds
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        quads = [box(x0, ym, xm, y1), box(xm, ym, x1, y1), box(x0, y0, xm, ym), box(xm, y0, x1, ym)]
        share = hh // 4
        for i, q in enumerate(quads):
            rows.append(
                {
                    "cell_code": f"{code}-{i}",
                    col.GRID_CODE: code,
                    col.HOUSEHOLDS: share if i < 3 else hh - 3 * share,
                    "geometry": q,
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=grids.crs)


def test_cells_stored_and_used_by_diff(store: Store, plan: PlanFactory) -> None:
    grids = plan(3)
    store.publish(grids, author="a", cells=cells_of(grids))
    cells = store.read_cells()
    assert len(cells) == 36
    assert cells.groupby(col.GRID_CODE)[col.HOUSEHOLDS].sum().to_dict() == dict(
        zip(grids[col.GRID_CODE], grids[col.HOUSEHOLDS], strict=True)
    )
    # Move the A21|A22 boundary 60 m east: the two western quadrants of A22 change grid.
    store.publish(
        shifted(plan).assign(
            geometry=lambda g: g.geometry.where(
                g[col.GRID_CODE] != "A21", box(X0 + 100, Y0, X0 + 260, Y0 + 100)
            ).where(g[col.GRID_CODE] != "A22", box(X0 + 260, Y0, X0 + 300, Y0 + 100))
        ),
        author="a",
    )
    diff = store.diff(1, 2)
    assert diff.method == "cells"
    assert diff.moved.to_dict(orient="records") == [
        {"from_code": "A22", "to_code": "A21", "households": 90}
    ]
    assert store.read_cells(2).empty


def test_units_are_valid_time_ranged(
    store: Store, plan: PlanFactory, units: gpd.GeoDataFrame
) -> None:
    first = store.publish(plan(3), author="a", units=units)
    renamed = units.assign(**{col.UNIT_NAME: "外灘街道第一社區"})
    store.publish(plan(3), author="a", units=renamed)
    assert store.read_units(as_of=first.valid_from)[col.UNIT_NAME].tolist() == ["外灘社區"]
    assert store.read_units()[col.UNIT_NAME].tolist() == ["外灘街道第一社區"]
    assert store.read_units().crs.to_epsg() == 4326


def test_long_unit_edge_is_not_a_gap(store: Store) -> None:
    """A 3 km straight unit edge against 30 grid edges: reprojection must not open gaps.

    Reprojecting only the end points of the unit's long north-south edge would leave it a
    chord of the curve the grids' 31 vertices follow: a sliver of several m².
    """
    unit = gpd.GeoDataFrame(
        {col.UNIT_CODE: ["U2"], col.UNIT_NAME: ["strip"]},
        geometry=[box(X0, Y0, X0 + 100, Y0 + 3000)],
        crs=CRS,
    )
    grids = gpd.GeoDataFrame(
        {
            col.GRID_CODE: [f"S{i:02d}" for i in range(30)],
            col.KIND: "ordinary",
            col.HOUSEHOLDS: 400,
            col.PARENT_CODE: "U2",
            col.PARENT_NAME: "strip",
        },
        geometry=[box(X0, Y0 + 100 * i, X0 + 100, Y0 + 100 * (i + 1)) for i in range(30)],
        crs=CRS,
    )
    assert store.publish(grids, author="a", units=unit).grids == 30


@pytest.mark.parametrize("author", ["", "   ", None, "a\nb", "x" * 201])
def test_a_publish_without_a_usable_author_changes_nothing(
    store: Store, plan: PlanFactory, author: object
) -> None:
    store.publish(plan(3), author="first")
    with pytest.raises(ValidationErrors, match="author"):
        store.publish(plan(2, prefix="B"), author=author)  # type: ignore[arg-type]
    assert [v.id for v in store.versions()] == [1]
    assert set(store.read_grids()[col.GRID_CODE].str[0]) == {"A"}


def test_as_of_beyond_the_last_version_is_answered_by_the_live_one_and_said(
    store: Store, plan: PlanFactory
) -> None:
    live = store.publish(plan(3), author="a")
    later = datetime(2999, 1, 1, tzinfo=UTC)
    assert store.version(as_of=later).id == live.id
    note = as_of_note(store.version(as_of=later), later)
    assert note is not None
    assert "after the last published version (version 1" in note
    assert as_of_note(live, live.valid_from) is None
