"""Public-notice maps: files exist, are A4 at 150 dpi, are not blank; the CLI writes them all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

import gis
from gis import columns as col
from gis.commands import notice as notice_commands
from gis.commands.common import read_grids as read_plan_grids
from gis.errors import InputFileError, NoticeError
from gis.inputs.prepare import prepare_blocks
from gis.inputs.read import read_area
from gis.outputs.files import write_layers
from gis.outputs.notice import notice_context, render_notices

REPO = Path(__file__).resolve().parents[2]
BUPT = REPO / "data" / "beijing_bupt.gpkg"
SHANGHAI = REPO / "data" / "shanghai_bund.gpkg"
#: A4 (8.27 × 11.69 in) at 150 dpi.
A4_PX = (1240, 1754)


def assert_sheet(png: Path) -> None:
    """An A4 page at 150 dpi (± 2 px) that is not blank, with its PDF beside it."""
    assert png.exists()
    pdf = png.with_suffix(".pdf")
    assert pdf.exists()
    assert pdf.read_bytes().startswith(b"%PDF")
    with Image.open(png) as img:
        w, h = img.size
        pixels = np.asarray(img.convert("L"), dtype=float)
    assert abs(w - A4_PX[0]) <= 2
    assert abs(h - A4_PX[1]) <= 2
    assert pixels.std() > 5.0  # not a blank page
    assert (pixels < 128).mean() > 0.001  # some ink


def write_plan(source: Path, out: Path) -> Path:
    """A plan GeoPackage as ``wangge partition --out`` writes it (EPSG:4326, no codes)."""
    plan = gis.partition(prepare_blocks(source).blockset, seed=0)
    write_layers(out, {"grids": plan.grids}, crs=pyproj.CRS.from_epsg(4326))
    return out


@pytest.fixture(scope="module")
def bupt_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_plan(BUPT, tmp_path_factory.mktemp("plan") / "plan.gpkg")


def test_cli_writes_one_sheet_per_grid_and_one_for_the_community(
    bupt_plan: Path, tmp_path: Path
) -> None:
    grids = read_plan_grids(bupt_plan)
    ctx = notice_context(grids, read_area(BUPT))
    codes = sorted(ctx.grids[col.GRID_CODE])
    roster = tmp_path / "roster.csv"
    roster.write_text(
        f"grid_code,name,role,phone\n{codes[0]},张三,网格员,13800000000\n", encoding="utf-8"
    )
    app = typer.Typer()
    notice_commands.register(app)
    app.command("noop")(lambda: None)  # keep typer in multi-command mode
    out = tmp_path / "notices"
    result = CliRunner().invoke(
        app,
        ["notice", str(bupt_plan), "--against", str(BUPT), "--out", str(out),
         "--roster", str(roster), "--version-label", "v1", "--date", "2026-01-01"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert_sheet(out / "community.png")
    for code in codes:
        assert_sheet(out / f"grid_{code}.png")
    assert len(list(out.glob("*.png"))) == len(codes) + 1
    assert len(list(out.glob("*.pdf"))) == len(codes) + 1


def test_cli_refuses_missing_plan_and_unknown_grid(bupt_plan: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    notice_commands.register(app)
    app.command("noop")(lambda: None)
    missing = CliRunner().invoke(
        app, ["notice", str(tmp_path / "nope.gpkg"), "--against", str(BUPT)]
    )
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    with pytest.raises(InputFileError):
        read_plan_grids(tmp_path / "nope.gpkg")
    ctx = notice_context(read_plan_grids(bupt_plan), read_area(BUPT))
    with pytest.raises(NoticeError, match="not in the plan"):
        render_notices(ctx, tmp_path, title="x", only=["999"])


def test_shanghai_grid_sheet(tmp_path: Path) -> None:
    plan = write_plan(SHANGHAI, tmp_path / "plan.gpkg")
    ctx = notice_context(
        read_plan_grids(plan), read_area(SHANGHAI), version="v1", date="2026-01-01"
    )
    code = str(ctx.grids[col.GRID_CODE].iloc[5])
    written = render_notices(ctx, tmp_path / "out", title="外滩北演示社区", only=[code])
    assert [p.name for p in written] == [
        "community.png", "community.pdf", f"grid_{code}.png", f"grid_{code}.pdf"
    ]  # fmt: skip
    assert_sheet(tmp_path / "out" / f"grid_{code}.png")
    assert_sheet(tmp_path / "out" / "community.png")


def test_sheets_use_the_simplified_chinese_face() -> None:
    from gis.outputs.notice import SC_FAMILY, cjk_font  # noqa: PLC0415

    if not Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc").exists():
        pytest.skip("fonts-noto-cjk is not installed")
    assert cjk_font().get_family() == [SC_FAMILY]
