"""Grid codes: layouts per scheme, reading order, uniqueness and stability."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest
from shapely.geometry import box

from gis import columns as col
from gis.errors import CodeError
from gis.rules.codes import assign_codes, cell_codes

CRS = "EPSG:32651"
UNIT = "310101002001"


def grid_plan(n: int = 3, *, unit: str = UNIT, size: float = 300.0) -> gpd.GeoDataFrame:
    rows = [
        {
            col.PARENT_CODE: unit,
            col.KIND: "dedicated" if (r, c) == (1, 1) else "ordinary",
            "row": r,
            "colnum": c,
            "geometry": box(c * size, -(r + 1) * size, (c + 1) * size, -r * size),
        }
        for r in range(n)
        for c in range(n)
    ]
    return gpd.GeoDataFrame(rows, crs=CRS).sample(frac=1, random_state=1)  # any input order


LAYOUTS = {
    "village6": r"^001[12]\d{2}$",
    "beijing15": rf"^{UNIT}\d{{3}}$",
    "stats12": rf"^{UNIT}\d{{4}}$",
}


@pytest.mark.parametrize("scheme", list(LAYOUTS))
def test_codes_match_the_scheme_layout_and_are_unique(scheme: str) -> None:
    plan = grid_plan()
    codes = assign_codes(plan, scheme=scheme).codes
    assert codes.is_unique
    assert all(re.match(LAYOUTS[scheme], c) for c in codes)


def test_beijing15_numbers_west_to_east_then_north_to_south() -> None:
    plan = grid_plan()
    plan[col.GRID_CODE] = assign_codes(plan, scheme="beijing15", row_height_m=300).codes
    ordered = plan.sort_values(col.GRID_CODE)
    assert list(zip(ordered["row"], ordered["colnum"], strict=True)) == [
        (r, c) for r in range(3) for c in range(3)
    ]
    assert ordered[col.GRID_CODE].iloc[0] == f"{UNIT}001"


def test_village6_numbers_each_kind_separately() -> None:
    codes = assign_codes(grid_plan(), scheme="village6").codes
    assert sorted(c for c in codes if c[3] == "2") == ["001201"]
    assert sorted(c for c in codes if c[3] == "1") == [f"0011{i:02d}" for i in range(1, 9)]


def test_codes_are_deterministic() -> None:
    plan = grid_plan()
    first = assign_codes(plan, scheme="beijing15").codes
    again = assign_codes(plan.sample(frac=1, random_state=7), scheme="beijing15").codes
    assert first.sort_index().tolist() == again.sort_index().tolist()


def test_unchanged_grids_keep_codes_and_new_ones_take_fresh_numbers() -> None:
    old = grid_plan()
    old[col.GRID_CODE] = assign_codes(old, scheme="beijing15").codes
    new = old.drop(columns=col.GRID_CODE).copy()
    # nudge one grid a little (still "nearly unchanged"), split another in two
    moved = new.index[new["row"].eq(0) & new["colnum"].eq(0)][0]
    new.loc[moved, "geometry"] = new.loc[moved, "geometry"].buffer(5, join_style="mitre")
    split = new.index[new["row"].eq(2) & new["colnum"].eq(2)][0]
    x0, y0, x1, y1 = new.loc[split, "geometry"].bounds
    halves = gpd.GeoDataFrame(
        [
            {
                **new.loc[split].drop("geometry").to_dict(),
                "geometry": box(x0, y0, (x0 + x1) / 2, y1),
            },
            {
                **new.loc[split].drop("geometry").to_dict(),
                "geometry": box((x0 + x1) / 2, y0, x1, y1),
            },
        ],
        crs=CRS,
    )
    new = gpd.GeoDataFrame(pd_concat([new.drop(index=split), halves]), crs=CRS).reset_index(
        drop=True
    )
    result = assign_codes(new, scheme="beijing15", previous=old)
    assert result.kept == 8
    assert result.codes.is_unique
    old_split_code = old.loc[split, col.GRID_CODE]
    assert old_split_code not in set(result.codes)
    assert old_split_code in result.retired
    fresh = sorted(set(result.codes) - set(old[col.GRID_CODE]))
    assert fresh == [f"{UNIT}010", f"{UNIT}011"]


def test_retired_codes_are_never_reused() -> None:
    old = grid_plan()
    old[col.GRID_CODE] = assign_codes(old, scheme="beijing15").codes
    retired = {f"{UNIT}020"}
    plan = grid_plan()
    fresh = plan.set_geometry(plan.translate(5000))  # nothing matches: all new
    result = assign_codes(fresh, scheme="beijing15", previous=old, retired=retired)
    assert result.kept == 0
    assert min(result.codes) == f"{UNIT}021"
    assert set(old[col.GRID_CODE]) <= result.retired


def test_cells_extend_their_grid_code() -> None:
    cells = gpd.GeoDataFrame(
        {col.GRID_CODE: ["A", "A", "B"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 5, 1, 6)],
        crs=CRS,
    )
    assert cell_codes(cells).tolist() == ["A01", "A02", "B01"]


@pytest.mark.parametrize(
    ("scheme", "unit"),
    [("beijing15", "3101010020"), ("stats12", "31010100200A"), ("village6", "12")],
)
def test_a_unit_code_of_the_wrong_length_is_refused(scheme: str, unit: str) -> None:
    with pytest.raises(CodeError, match="does not fit scheme"):
        assign_codes(grid_plan(unit=unit), scheme=scheme)


def test_a_duplicate_code_in_the_previous_plan_is_refused() -> None:
    old = grid_plan()
    old[col.GRID_CODE] = f"{UNIT}001"
    with pytest.raises(CodeError, match="repeats grid codes"):
        assign_codes(grid_plan(), scheme="beijing15", previous=old)


def test_too_many_grids_for_the_scheme_are_refused() -> None:
    with pytest.raises(CodeError, match="more than scheme village6 can hold"):
        assign_codes(grid_plan(11), scheme="village6")


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(CodeError, match="unknown code scheme"):
        assign_codes(grid_plan(), scheme="morse")


def pd_concat(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    import pandas as pd  # noqa: PLC0415

    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=False), crs=CRS)
