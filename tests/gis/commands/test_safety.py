"""No command destroys its input or the store, leaves litter, or takes bad input at the door.

Every test runs the real ``wangge`` executable and asserts the exit code, the one-line
message, that no file was left or changed, and that the store's versions did not move.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from cli_helpers import one_error_line, snapshot, wangge
from shapely import affinity

from gis.store import open_store


def versions(store: Path) -> list[int]:
    """The version ids a GeoPackage store holds."""
    with open_store(store, create=False) as opened:
        return [v.id for v in opened.versions()]


@pytest.mark.parametrize("target", ["st.gpkg", "st.gpkg.lock", "st.registry.sqlite"])
def test_export_onto_the_store_is_refused(work: Path, target: str) -> None:
    (work / "st.registry.sqlite").write_bytes(b"")  # as a store with addresses has one
    before = snapshot(work)
    done = wangge("export", work / target, "--store", work / "st.gpkg")
    one_error_line(done, "is the plan store", "would destroy")
    assert snapshot(work) == before
    assert versions(work / "st.gpkg") == [1]


def test_export_through_another_name_of_the_store_is_refused(work: Path) -> None:
    (work / "alias.gpkg").symlink_to(work / "st.gpkg")
    before = snapshot(work)
    one_error_line(wangge("export", work / "alias.gpkg", "--store", work / "st.gpkg"), "store")
    assert snapshot(work) == before


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--out", "in.gpkg"], ["is the input", "in.gpkg"]),
        (["--out", "out.gpkg", "--report", "in.gpkg"], ["is the input"]),
        (["--out", "out.gpkg", "--map", "in.gpkg"], ["is the input"]),
        (["--out", "out.gpkg", "--report", "out.gpkg"], ["two outputs are the same file"]),
        (["--out", "st.gpkg"], ["is a wangge plan store holding 1 version"]),
    ],
)
def test_partition_never_writes_over_an_input_or_a_store(
    work: Path, flags: list[str], words: list[str]
) -> None:
    before = snapshot(work)
    done = wangge("partition", "in.gpkg", *flags, cwd=work)
    one_error_line(done, *words)
    assert snapshot(work) == before  # the 9-layer input and the store are untouched
    assert len(pyogrio.list_layers(work / "in.gpkg")) > 1
    assert versions(work / "st.gpkg") == [1]


def test_blocks_and_assign_refuse_an_output_over_their_input(work: Path) -> None:
    before = snapshot(work)
    one_error_line(wangge("blocks", "in.gpkg", "--out", "in.gpkg", cwd=work), "is the input")
    done = wangge("assign", "plan.json", "--out", "plan.json", "--store", "st.gpkg", cwd=work)
    one_error_line(done, "is the input")
    assert snapshot(work) == before


def test_blocks_with_a_map_it_cannot_write_leaves_nothing(work: Path) -> None:
    before = snapshot(work)
    done = wangge(
        "blocks", "in.gpkg", "--out", "b/blocks.gpkg", "--map", "/proc/nope/m.html", cwd=work
    )
    one_error_line(done, "cannot write /proc/nope/m.html")
    assert snapshot(work) == before  # no blocks.gpkg, no blocks.json, no b/
    assert not (work / "b").exists()


def test_publish_into_its_own_plan_file_is_refused(work: Path) -> None:
    before = snapshot(work)
    done = wangge("publish", "plan.gpkg", "--store", "plan.gpkg", "--author", "a", cwd=work)
    one_error_line(done, "the store plan.gpkg is the input plan.gpkg")
    assert snapshot(work) == before


@pytest.mark.parametrize("author", ["", "   "])
def test_publish_without_an_author_is_refused(work: Path, author: str) -> None:
    before = snapshot(work)
    done = wangge("publish", "plan.gpkg", "--store", "st.gpkg", "--author", author, cwd=work)
    one_error_line(done, "author must name who publishes")
    assert snapshot(work) == before
    assert versions(work / "st.gpkg") == [1]


def test_reading_commands_refuse_a_missing_store(work: Path) -> None:
    before = snapshot(work)
    for args in (
        ["versions"],
        ["export", "out.gpkg"],
        ["diff", "1", "2"],
        ["serve", "--port", "1"],
        ["assign", "plan.json", "--out", "parts"],
    ):
        done = wangge(*args, "--store", "missing.gpkg", cwd=work)
        one_error_line(done, "plan store missing.gpkg does not exist")
    assert snapshot(work) == before  # missing.gpkg was not created, out.gpkg not written


def test_reading_commands_refuse_a_corrupt_or_foreign_gpkg(work: Path) -> None:
    rng = np.random.default_rng(0)
    (work / "bad.gpkg").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    before = snapshot(work)
    for store in ("bad.gpkg", "in.gpkg"):  # random bytes; a GeoPackage that is no store
        for args in (["versions"], ["export", "out.gpkg"], ["serve", "--port", "1"]):
            done = wangge(*args, "--store", store, cwd=work)
            one_error_line(done, f"{store} is not a wangge plan store")
    done = wangge("publish", "plan.gpkg", "--store", "in.gpkg", "--author", "a", cwd=work)
    one_error_line(done, "in.gpkg is not a wangge plan store")
    assert snapshot(work) == before


@pytest.mark.parametrize("date", ["31/31/2024", "2024-02-30", "2024-13-01", "yesterday"])
def test_notice_refuses_a_date_that_is_not_real(work: Path, date: str) -> None:
    before = snapshot(work)
    done = wangge(
        "notice", "plan.gpkg", "--against", "in.gpkg", "--out", "sheets", "--date", date,
        cwd=work,
    )  # fmt: skip
    one_error_line(done, "--date must be a real date written YYYY-MM-DD")
    assert snapshot(work) == before


def test_notice_refuses_an_output_folder_that_is_a_file(work: Path) -> None:
    before = snapshot(work)
    done = wangge("notice", "plan.gpkg", "--against", "in.gpkg", "--out", "plan.json", cwd=work)
    one_error_line(done, "plan.json")
    assert snapshot(work) == before


def test_partition_refuses_non_finite_households(work: Path) -> None:
    path = work / "in.gpkg"
    buildings = pyogrio.read_dataframe(path, layer="buildings")
    buildings["households"] = 5.0
    buildings.loc[3, "households"] = np.inf
    pyogrio.write_dataframe(buildings, path, layer="buildings")
    before = snapshot(work)
    done = wangge("partition", "in.gpkg", "--out", "out.gpkg", cwd=work)
    one_error_line(done, "non-finite values [inf] at rows 3")
    assert snapshot(work) == before


def test_validate_exits_1_with_the_reason_for_a_plan_that_proves_nothing(work: Path) -> None:
    grids = gpd.read_file(work / "plan.gpkg", layer="grids")
    cases = {
        "empty.gpkg": (grids.iloc[:0], "empty: the plan holds no grids"),
        "nocols.gpkg": (
            grids.drop(columns=["grid_code", "households"]),
            "columns: the plan has no grid_code or households column",
        ),
        "away.gpkg": (_with_a_grid_far_away(grids), "lies outside the area"),
    }
    for name, (gdf, reason) in cases.items():
        gdf.to_file(work / name, layer="grids")
        before = snapshot(work)
        done = wangge("validate", name, "--against", "in.gpkg", "--min", "100", cwd=work)
        assert done.returncode == 1, (name, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert "INVALID" in done.stdout, done.stdout
        assert reason in done.stderr, (name, done.stderr)
        assert snapshot(work) == before
    sound = wangge("validate", "plan.gpkg", "--against", "in.gpkg", "--min", "100", cwd=work)
    assert sound.returncode == 0, sound.stderr


def _with_a_grid_far_away(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    away = grids.iloc[[0]].copy()
    away["grid_code"] = "FAR-0001"
    away["grid_id"] = int(grids["grid_id"].max()) + 1
    away["geometry"] = [affinity.translate(away.geometry.iloc[0], xoff=0.5)]  # ~50 km east
    return gpd.GeoDataFrame(
        gpd.pd.concat([grids, away], ignore_index=True), geometry="geometry", crs=grids.crs
    )


def test_no_traceback_unless_verbose(work: Path) -> None:
    quiet = wangge("versions", "--store", "missing.gpkg", cwd=work)
    one_error_line(quiet, "does not exist")
    loud = wangge("versions", "--store", "missing.gpkg", "-v", cwd=work)
    assert loud.returncode == 2
    assert "Traceback" in loud.stderr
    assert loud.stderr.strip().splitlines()[-1].startswith("error: plan store missing.gpkg")


def test_export_as_of_beyond_the_last_version_says_so(work: Path) -> None:
    done = wangge(
        "export", "out.gpkg", "--store", "st.gpkg", "--as-of", "2999-01-01T00:00:00+08:00",
        cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "is after the last published version (version 1" in done.stderr
    assert "version 1" in done.stdout
    assert (work / "out.gpkg").is_file()
    on_time = wangge("export", "now.gpkg", "--store", "st.gpkg", cwd=work)
    assert on_time.returncode == 0
    assert "after the last published version" not in on_time.stderr


def test_outputs_are_renamed_into_place_complete(work: Path) -> None:
    done = wangge("blocks", "in.gpkg", "--out", "deep/er/b.gpkg", "--map", "deep/m.html", cwd=work)
    assert done.returncode == 0, done.stderr
    names = sorted(os.listdir(work / "deep"))
    assert names == ["er", "m.html"]  # no temporary folder left beside the outputs
    assert sorted(os.listdir(work / "deep" / "er")) == ["b.gpkg", "b.json"]
    shutil.rmtree(work / "deep")


@pytest.mark.parametrize("value", ["nan", "inf", "-5"])
def test_partition_refuses_a_site_area_that_is_no_number_of_square_metres(
    work: Path, value: str
) -> None:
    before = snapshot(work)
    done = wangge("partition", "in.gpkg", "--out", "o.gpkg", "--min-site-area", value, cwd=work)
    one_error_line(done, "--min-site-area must be a number of m²")
    assert snapshot(work) == before


def test_partition_refuses_an_unknown_way_of_cutting_blocks(work: Path) -> None:
    before = snapshot(work)
    done = wangge("partition", "in.gpkg", "--out", "o.gpkg", "--cuts", "round", cwd=work)
    one_error_line(done, "cuts must be 'streets'", "'compact'", "got 'round'")
    assert snapshot(work) == before


@pytest.mark.postgis
def test_postgis_store_refuses_an_empty_author_and_keeps_its_versions(
    work: Path, pg_schema: Any
) -> None:
    store = ["--store", pg_schema.url, "--schema", pg_schema.schema]
    first = wangge("publish", "plan.gpkg", "--author", "tests", *store, cwd=work)
    assert first.returncode == 0, first.stderr
    before = snapshot(work)
    for author in ("", "  "):
        done = wangge("publish", "plan.gpkg", "--author", author, *store, cwd=work)
        one_error_line(done, "author must name who publishes")
    assert snapshot(work) == before
    with open_store(pg_schema.url, schema=pg_schema.schema) as opened:
        assert [v.id for v in opened.versions()] == [1]
    later = wangge("export", "x.gpkg", "--as-of", "2999-01-01T00:00:00Z", *store, cwd=work)
    assert later.returncode == 0, later.stderr
    assert "after the last published version (version 1" in later.stderr
