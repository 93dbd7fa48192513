"""Rules per unit: a SYNTHETIC town of one urban community and one village side by side, the
community in its own band, the village drawn by natural village; bad rules refused."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, box
from typer.testing import CliRunner

import gis
from gis import columns as col
from gis.cli import app
from gis.errors import InputFileError, ValidationErrors
from gis.options import Band
from gis.rules.unit_rules import UnitRule, read_rules, unit_band

CRS = "EPSG:32651"
X0, Y0, STEP = 355_000.0, 3_456_000.0, 100.0
COMMUNITY, VILLAGE = "310101002001", "310101002201"


def _town(path: Path, **boundary_columns: list[object]) -> Path:
    """Two units of 4×4 street blocks of 100 m (the community west, the village east), one
    household point per block: 120 in the community, 60 in the village; the village holds
    two natural villages of 2×4 blocks (480 households each)."""
    boundary = gpd.GeoDataFrame(
        {"code": [COMMUNITY, VILLAGE], "name": ["示例社区", "示例村"],
         "level": ["community", "village"], "parent_code": ["310101002"] * 2,
         **boundary_columns},
        geometry=[box(X0, Y0, X0 + 4 * STEP, Y0 + 4 * STEP),
                  box(X0 + 4 * STEP, Y0, X0 + 8 * STEP, Y0 + 4 * STEP)], crs=CRS,
    )  # fmt: skip
    lines = [LineString([(X0 + i * STEP, Y0), (X0 + i * STEP, Y0 + 4 * STEP)]) for i in range(9)]
    lines += [LineString([(X0, Y0 + j * STEP), (X0 + 8 * STEP, Y0 + j * STEP)]) for j in range(5)]
    roads = gpd.GeoDataFrame({"highway": ["residential"] * len(lines)}, geometry=lines, crs=CRS)
    points = [
        Point(X0 + (i + 0.5) * STEP, Y0 + (j + 0.5) * STEP) for j in range(4) for i in range(8)
    ]
    homes = gpd.GeoDataFrame(
        {"households": [120 if p.x < X0 + 4 * STEP else 60 for p in points]},
        geometry=points, crs=CRS,
    )  # fmt: skip
    villages = gpd.GeoDataFrame(
        {"name": ["东组", "西组"], "code": ["V1", "V2"]},
        geometry=[box(X0 + 4 * STEP, Y0, X0 + 6 * STEP, Y0 + 4 * STEP),
                  box(X0 + 6 * STEP, Y0, X0 + 8 * STEP, Y0 + 4 * STEP)], crs=CRS,
    )  # fmt: skip
    for name, layer in (("boundary", boundary), ("roads", roads), ("households", homes),
                        ("villages", villages)):  # fmt: skip
        layer.to_file(path, layer=name)
    return path


RULES = f"""
[default]
min = 300
max = 800

[units."{COMMUNITY}"]
band = [500, 800]
target = 640

[units."{VILLAGE}"]
mode = "natural_village"
grids = [2, 2]
"""


def _grids_of(plan: gis.Plan, unit: str) -> gpd.GeoDataFrame:
    grids = plan.grids
    return grids[(grids[col.PARENT_CODE] == unit) & (grids[col.KIND] == col.ORDINARY)]


def test_each_unit_is_held_to_its_own_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, "utf-8")
    plan = gis.partition(gis.read_area(_town(tmp_path / "town.gpkg")), seed=0, rules=rules)
    urban = _grids_of(plan, COMMUNITY)
    assert len(urban) >= 2
    assert urban[col.HOUSEHOLDS].between(500, 800).all(), urban[col.HOUSEHOLDS].tolist()
    rural = _grids_of(plan, VILLAGE)
    assert sorted(rural[col.HOUSEHOLDS]) == [480, 480]  # one grid per natural village, whole
    said = plan.report.sections["rules"]
    assert said[COMMUNITY]["source"] == "rules file"
    assert said[COMMUNITY]["band"] == {"min_households": 500, "max_households": 800, "target": 640}
    assert said[COMMUNITY]["exceptions"] == []
    assert said[VILLAGE]["mode_label"] == "按自然村"
    assert said[VILLAGE]["grids_made"] == 2
    assert said[VILLAGE]["exceptions"] == []


def test_rules_from_the_boundary_columns(tmp_path: Path) -> None:
    town = _town(tmp_path / "town.gpkg", band_min=[500, None], band_max=[800, None])
    plan = gis.partition(gis.read_area(town), seed=0)
    said = plan.report.sections["rules"]
    assert said[COMMUNITY]["source"] == "boundary"
    assert said[COMMUNITY]["band"]["min_households"] == 500
    assert said[VILLAGE]["source"] == "default"
    assert _grids_of(plan, COMMUNITY)[col.HOUSEHOLDS].min() >= 500


def test_a_grid_range_moves_the_target() -> None:
    band, note = unit_band(UnitRule(Band(300, 800), grids=(3, 7)), 2_000)
    assert (band.min_households, band.max_households) == (300, 800)
    assert band.target == 500  # 2,000 / 4 grids
    band, note = unit_band(UnitRule(Band(300, 800), grids=(1, 2)), 2_000)
    assert band.target == 667  # as few grids as the band allows: 3 of ≤ 800
    assert note is not None
    assert "cannot make 1–2 grids" in note


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        (f'[units."{COMMUNITY}"]\nmin = 900\nmax = 800\n', ValidationErrors, "above its max"),
        ('[units."999999999999"]\nmin = 300\n', ValidationErrors, "does not have"),
        (f'[units."{VILLAGE}"]\nmode = "by_vibes"\n', ValidationErrors, "mode must be one of"),
        (f'[units."{VILLAGE}"]\ngrids = [5, 2]\n', ValidationErrors, "fewest ≤ most"),
        ("[units\n", InputFileError, "cannot read the rules file"),
    ],
)
def test_bad_rules_are_refused(tmp_path: Path, text: str, error: type, words: str) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(text, "utf-8")
    area = gis.read_area(_town(tmp_path / "town.gpkg"))
    with pytest.raises(error, match=words):
        gis.partition(area, seed=0, rules=rules)


def test_yaml_rules_and_the_cli(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"units:\n  '{COMMUNITY}':\n    min: 500\n    max: 800\n", "utf-8")
    default, found = read_rules(rules, Band())
    assert found[COMMUNITY].band.min_households == 500
    assert default.source == "default"
    town = _town(tmp_path / "town.gpkg")
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[units."{COMMUNITY}"]\nmin = 900\nmax = 800\n', "utf-8")
    out = tmp_path / "plan.gpkg"
    refused = CliRunner().invoke(
        app, ["partition", str(town), "--out", str(out), "--rules", str(bad)]
    )
    assert refused.exit_code == 2
    assert "above its max" in refused.output
    assert not out.exists()
    done = CliRunner().invoke(
        app, ["partition", str(town), "--out", str(out), "--rules", str(rules)]
    )
    assert done.exit_code == 0, done.output
    store = tmp_path / "plans.gpkg"
    published = CliRunner().invoke(
        app, ["publish", str(out), "--store", str(store), "--author", "a"]
    )
    assert published.exit_code == 0, published.output
    info = gis.open_store(store).version()
    assert info.band == Band()  # the plan's band; the community keeps its own with the version
    assert info.band_of(COMMUNITY).min_households == 500
    assert info.band_of(VILLAGE) == Band()
