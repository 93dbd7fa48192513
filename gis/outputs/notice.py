"""Public-notice maps (公示图): one PNG and one PDF per grid, and one for the community.

Each sheet shows the grid's boundary and code, the streets (with names) and buildings around
it, the neighbouring grids' codes, the grid worker's public details, household count, a scale
bar, a north arrow, the date and plan version, and the OpenStreetMap attribution. Chinese text
needs a CJK font: the Noto Sans CJK fonts (Debian ``fonts-noto-cjk``) are found through
fontconfig's files; without one a clear error says what to install.
"""

from __future__ import annotations

import datetime as dt
import logging
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shapely
from matplotlib import font_manager
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from gis.plan import Plan

from gis import columns as col
from gis.errors import NoticeError
from gis.inputs.read import Area
from gis.outputs.files import atomic_path
from gis.rules.codes import assign_codes
from gis.rules.staff import public_roster, read_roster

log = logging.getLogger(__name__)

CJK_FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
#: The family of the Simplified Chinese face in the Noto Sans CJK collection.
SC_FAMILY = "Noto Sans CJK SC"
ATTRIBUTION = "底图数据 © OpenStreetMap contributors (ODbL)"
A4_INCHES = (8.27, 11.69)
#: Neighbouring grids are labelled on the map by this many last digits of their code.
SHORT_CODE = 3
#: Most building names printed on one sheet.
MAX_BUILDING_LABELS = 12


@dataclass(frozen=True)
class NoticeContext:
    """What every sheet of one plan shares.

    Attributes
    ----------
    grids
        All grids (``grid_code``, ``kind``, ``households``, ``parent_name``) in a metric CRS.
    streets
        Street lines with an optional ``name`` (same CRS).
    buildings
        Building footprints (same CRS).
    roster
        Public roster (:func:`gis.rules.staff.public_roster`), may be empty.
    version
        Plan version label printed on the sheet.
    date
        Date printed on the sheet (ISO).
    """

    grids: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    roster: pd.DataFrame
    version: str
    date: str


def notice_context(
    grids: gpd.GeoDataFrame,
    area: Area,
    *,
    roster: Path | None = None,
    scheme: str = "beijing15",
    version: str = "",
    date: str | None = None,
) -> NoticeContext:
    """Everything the sheets of one plan share, with grids in the area's metric CRS.

    ``area`` (:func:`gis.read_area`) gives the streets and buildings drawn beneath.

    Grids without ``grid_code`` are coded with :func:`gis.rules.codes.assign_codes` (``scheme``).
    """
    grids = grids.to_crs(area.crs).reset_index(drop=True)
    if col.GRID_CODE not in grids or grids[col.GRID_CODE].isna().any():
        grids[col.GRID_CODE] = assign_codes(grids, scheme=scheme).codes.to_numpy()
    grids[col.GRID_CODE] = grids[col.GRID_CODE].astype(str)
    if col.KIND not in grids:
        grids[col.KIND] = col.ORDINARY
    staff = _roster(roster, grids)
    return NoticeContext(
        grids=grids,
        streets=area.roads,
        buildings=area.buildings,
        roster=staff,
        version=version,
        date=date or dt.date.today().isoformat(),
    )


def _roster(roster: str | Path | None, grids: gpd.GeoDataFrame) -> pd.DataFrame:
    if roster is None:
        return pd.DataFrame(columns=[col.GRID_CODE, "name", "role_label", "phone"])
    return public_roster(
        read_roster(Path(roster), grid_codes=set(grids[col.GRID_CODE].astype(str)))
    )


def cjk_font() -> font_manager.FontProperties:
    """A font that renders Simplified Chinese: the SC face of Noto Sans CJK when installed.

    Debian's ``fonts-noto-cjk`` ships one collection (``.ttc``) whose first face is the
    Japanese one; matplotlib registers every face of a collection, so the SC face is picked
    by its family name (a JP face draws some characters with Japanese glyph shapes).

    Raises
    ------
    NoticeError
        When no CJK font is installed.
    """
    found = [path for path in CJK_FONT_FILES if Path(path).exists()]
    for path in found:
        font_manager.fontManager.addfont(path)
    families = {f.name for f in font_manager.fontManager.ttflist}
    if SC_FAMILY in families:
        return font_manager.FontProperties(family=SC_FAMILY)
    if found:
        return font_manager.FontProperties(fname=found[0])
    msg = "no Chinese (CJK) font found: install one, e.g. `apt-get install fonts-noto-cjk`"
    raise NoticeError(msg)


def render_grid_sheet(ctx: NoticeContext, grid_code: str) -> Figure:
    """Draw the notice sheet of one grid."""
    font = cjk_font()
    grids = ctx.grids
    me = grids[grids[col.GRID_CODE] == grid_code]
    if me.empty:
        msg = f"grid {grid_code!r} is not in the plan; give one of its grid codes"
        raise NoticeError(msg)
    geom = me.geometry.iloc[0]
    fig = plt.figure(figsize=A4_INCHES)
    ax = fig.add_axes((0.06, 0.26, 0.88, 0.62))
    minx, miny, maxx, maxy = geom.buffer(max(geom.length * 0.04, 40)).bounds
    me.plot(ax=ax, color="#c00000", alpha=0.08, linewidth=0)
    _draw_context(ax, ctx, (minx, miny, maxx, maxy), focus=geom.buffer(30.0))
    neighbours = grids[grids.touches(geom) | grids.intersects(geom.buffer(1.0))]
    neighbours = neighbours[neighbours[col.GRID_CODE] != grid_code]
    neighbours.boundary.plot(ax=ax, color="#777777", linewidth=1.0, linestyle="--")
    for code, pt in zip(neighbours[col.GRID_CODE], neighbours.geometry, strict=True):
        inner = pt.intersection(ax_box(minx, miny, maxx, maxy))
        if not inner.is_empty:
            p = inner.representative_point()
            ax.text(
                p.x,
                p.y,
                str(code)[-SHORT_CODE:],
                fontproperties=font,
                fontsize=8,
                color="#444444",
                ha="center",
                va="center",
                bbox={"facecolor": "#f2f2f2", "alpha": 0.8, "linewidth": 0},
            )
    me.boundary.plot(ax=ax, color="#c00000", linewidth=2.5)
    p = geom.representative_point()
    ax.text(p.x, p.y, grid_code, fontproperties=font, fontsize=14, color="#c00000",
            ha="center", va="center", weight="bold")  # fmt: skip
    _finish_axes(ax, (minx, miny, maxx, maxy), font)
    row = me.iloc[0]
    parent = str(row.get(col.PARENT_NAME, "") or "")
    fig.text(0.5, 0.95, f"网格公示图  {grid_code}", fontproperties=font, fontsize=20,
             ha="center", weight="bold")  # fmt: skip
    fig.text(0.5, 0.915, parent, fontproperties=font, fontsize=12, ha="center")
    staff = ctx.roster[ctx.roster[col.GRID_CODE] == grid_code] if len(ctx.roster) else ctx.roster
    lines = [
        f"网格类型: {'专属网格' if row.get(col.KIND) == 'dedicated' else '普通网格'}",
        f"户数: {int(row.get(col.HOUSEHOLDS, 0))} 户",
        *textwrap.wrap(
            _neighbour_line(list(map(str, neighbours[col.GRID_CODE]))),
            width=64,
            subsequent_indent="    ",
        ),
    ]
    if len(staff):
        for _, person in staff.iterrows():
            lines.append(f"{person['role_label']}: {person['name']}  电话 {person['phone']}")
    else:
        lines.append("网格员: (未配备)")
    lines.append(f"版本: {ctx.version}    日期: {ctx.date}")
    fig.text(0.08, 0.22, "\n".join(lines), fontproperties=font, fontsize=11, va="top",
             linespacing=1.6)  # fmt: skip
    fig.text(0.5, 0.02, ATTRIBUTION, fontproperties=font, fontsize=8, ha="center", color="#444")
    return fig


def _neighbour_line(codes: list[str]) -> str:
    """Neighbouring codes in full, or by their last digits (as on the map) when many."""
    if not codes:
        return "相邻网格: 无"
    if len(codes) <= 4:
        return f"相邻网格: {', '.join(codes)}"
    short = ", ".join(c[-SHORT_CODE:] for c in codes)
    return f"相邻网格 {len(codes)} 个 (编号末{SHORT_CODE}位): {short}"


def render_overview(ctx: NoticeContext, title: str) -> Figure:
    """Draw the community sheet: every grid with its code."""
    font = cjk_font()
    fig = plt.figure(figsize=A4_INCHES)
    ax = fig.add_axes((0.06, 0.12, 0.88, 0.76))
    minx, miny, maxx, maxy = ctx.grids.total_bounds
    pad = max(maxx - minx, maxy - miny) * 0.03
    bounds = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    _draw_context(ax, ctx, bounds, names=False)
    ctx.grids.boundary.plot(ax=ax, color="#c00000", linewidth=1.2)
    for code, g in zip(ctx.grids[col.GRID_CODE], ctx.grids.geometry, strict=True):
        p = g.representative_point()
        ax.text(p.x, p.y, str(code)[-4:], fontproperties=font, fontsize=7, ha="center",
                va="center", color="#c00000")  # fmt: skip
    _finish_axes(ax, bounds, font)
    fig.text(0.5, 0.95, f"{title} 网格划分公示图", fontproperties=font, fontsize=20,
             ha="center", weight="bold")  # fmt: skip
    fig.text(0.5, 0.915, f"共 {len(ctx.grids)} 个网格  版本 {ctx.version}  日期 {ctx.date}",
             fontproperties=font, fontsize=11, ha="center")  # fmt: skip
    fig.text(0.5, 0.02, ATTRIBUTION, fontproperties=font, fontsize=8, ha="center", color="#444")
    return fig


def save_sheet(fig: Figure, stem: Path, *, dpi: int = 150) -> tuple[Path, Path]:
    """Write a sheet as ``stem.png`` and ``stem.pdf`` (each atomically) and close it."""
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    try:
        with atomic_path(png) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
        with atomic_path(pdf) as tmp:
            fig.savefig(tmp, format="pdf")
    finally:
        plt.close(fig)
    return png, pdf


def render_notices(
    ctx: NoticeContext,
    out_dir: str | Path,
    *,
    title: str,
    only: Sequence[str] | None = None,
    dpi: int = 150,
) -> list[Path]:
    """Render every grid's sheet and the community overview into ``out_dir``.

    Parameters
    ----------
    ctx
        What the sheets share.
    out_dir
        Directory to write into (created if missing): ``community.png/pdf`` and
        ``grid_<code>.png/pdf``.
    title
        The community's name, printed on the overview.
    only
        Render only these grid codes (default: every grid).
    dpi
        Resolution of the PNGs (A4 at 150 dpi is about 1240 × 1754 px).

    Returns
    -------
    list of pathlib.Path
        The PNG and PDF files written.

    Raises
    ------
    NoticeError
        When a code in ``only`` is not in the plan, or no CJK font is installed.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    codes = sorted(ctx.grids[col.GRID_CODE].astype(str))
    if only:
        unknown = sorted(set(only) - set(codes))
        if unknown:
            msg = f"grid codes {unknown} are not in the plan; give codes of its grids"
            raise NoticeError(msg)
        codes = sorted(set(only))
    written = list(save_sheet(render_overview(ctx, title), out / "community", dpi=dpi))
    for code in codes:
        written.extend(save_sheet(render_grid_sheet(ctx, code), out / f"grid_{code}", dpi=dpi))
    return written


def ax_box(minx: float, miny: float, maxx: float, maxy: float) -> shapely.Polygon:
    """The map frame as a polygon."""
    return shapely.box(minx, miny, maxx, maxy)


def _draw_context(
    ax: plt.Axes,
    ctx: NoticeContext,
    bounds: tuple[float, float, float, float],
    *,
    names: bool = True,
    focus: shapely.Geometry | None = None,
) -> None:
    """Buildings and streets in the frame; names of those meeting ``focus`` (default: all)."""
    frame = ax_box(*bounds) if focus is None else ax_box(*bounds).intersection(focus)
    box = ax_box(*bounds)
    if len(ctx.buildings):
        near = ctx.buildings[ctx.buildings.intersects(box)]
        if len(near):
            near.plot(ax=ax, color="#d9d9d9", edgecolor="#9e9e9e", linewidth=0.3)
    if len(ctx.streets):
        near = ctx.streets[ctx.streets.intersects(box)]
        if len(near):
            near.plot(ax=ax, color="#555555", linewidth=0.8)
            if names and "name" in near:
                _street_names(ax, near[near.intersects(frame)], frame)
    if names and len(ctx.buildings) and "name" in ctx.buildings:
        _building_names(ax, ctx.buildings, frame)


def _street_names(ax: plt.Axes, streets: gpd.GeoDataFrame, frame: object) -> None:
    font = cjk_font()
    named = streets[streets["name"].notna() & (streets["name"].astype(str) != "")]
    for name, group in named.groupby("name"):
        clipped = group.geometry.intersection(frame)
        longest = clipped[clipped.length == clipped.length.max()].iloc[0]
        if longest.length < 60:
            continue
        p = longest.interpolate(0.5, normalized=True)
        ax.text(p.x, p.y, str(name), fontproperties=font, fontsize=7, color="#1f3b73",
                ha="center", va="center",
                bbox={"facecolor": "white", "alpha": 0.6, "linewidth": 0, "pad": 0.5})  # fmt: skip


def _building_names(ax: plt.Axes, buildings: gpd.GeoDataFrame, frame: Any) -> None:
    """Label the largest named buildings inside the frame (at most :data:`MAX_BUILDING_LABELS`)."""
    font = cjk_font()
    named = buildings[buildings["name"].notna() & (buildings["name"].astype(str) != "")]
    named = named[named.intersects(frame)]
    if named.empty:
        return
    named = named.assign(_a=named.area).sort_values("_a", ascending=False)
    named = named.drop_duplicates("name").head(MAX_BUILDING_LABELS)
    for name, geom in zip(named["name"], named.geometry, strict=True):
        p = geom.intersection(frame).representative_point()
        ax.text(p.x, p.y, str(name), fontproperties=font, fontsize=6, color="#333333",
                ha="center", va="center")  # fmt: skip


def _finish_axes(
    ax: plt.Axes, bounds: tuple[float, float, float, float], font: font_manager.FontProperties
) -> None:
    minx, miny, maxx, maxy = bounds
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal")
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_xticks([])
    ax.set_yticks([])
    _scale_bar(ax, bounds, font)
    _north_arrow(ax, bounds, font)


def _scale_bar(
    ax: plt.Axes, bounds: tuple[float, float, float, float], font: font_manager.FontProperties
) -> None:
    """A scale bar of a round length about a fifth of the map width (metric CRS)."""
    minx, miny, maxx, maxy = bounds
    width = maxx - minx
    nice = np.array([10, 20, 50, 100, 200, 500, 1000, 2000, 5000])
    length = float(nice[np.searchsorted(nice, width / 5) - 1]) if width > 50 else 10.0
    x0, y0 = minx + width * 0.05, miny + (maxy - miny) * 0.05
    ax.plot([x0, x0 + length], [y0, y0], color="black", linewidth=3)
    label = f"{int(length)} 米" if length < 1000 else f"{length / 1000:g} 公里"
    ax.text(x0 + length / 2, y0 + (maxy - miny) * 0.015, label, fontproperties=font,
            fontsize=9, ha="center")  # fmt: skip


def _north_arrow(
    ax: plt.Axes, bounds: tuple[float, float, float, float], font: font_manager.FontProperties
) -> None:
    minx, miny, maxx, maxy = bounds
    x, y = maxx - (maxx - minx) * 0.06, maxy - (maxy - miny) * 0.12
    ax.annotate("", xy=(x, y + (maxy - miny) * 0.06), xytext=(x, y),
                arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 2})  # fmt: skip
    ax.text(x, y + (maxy - miny) * 0.075, "北 N", fontproperties=font, fontsize=10,
            ha="center")  # fmt: skip


def write_notices(
    plan: Plan,
    folder: str | Path,
    *,
    roster: str | Path | None = None,
    title: str | None = None,
    version: str = "",
    date: str | None = None,
    only: Sequence[str] | None = None,
) -> list[Path]:
    """Public-notice sheets (公示图) of a plan: one PNG and PDF per grid and one overview.

    Parameters
    ----------
    plan
        A plan from :func:`gis.partition` (it carries the streets and buildings drawn beneath).
    folder
        Where the sheets go.
    roster
        A staff roster CSV: the public fields of each grid's worker are printed.
    title
        The community title (default: the units' names).
    version, date
        Printed on every sheet (date ISO, default today).
    only
        Only these grid codes.
    """
    if plan.blockset is None:
        msg = "the plan carries no streets and buildings to draw; use a plan from gis.partition"
        raise NoticeError(msg)
    ctx = NoticeContext(
        grids=plan.grids.assign(**{col.GRID_CODE: plan.grids[col.GRID_CODE].astype(str)}),
        streets=plan.blockset.streets,
        buildings=plan.blockset.buildings,
        roster=_roster(roster, plan.grids),
        version=version,
        date=date or dt.date.today().isoformat(),
    )
    names = plan.grids[col.PARENT_NAME].dropna().astype(str)
    heading = title or "、".join(dict.fromkeys(names)) or "网格公示图"
    return render_notices(ctx, Path(folder), title=heading, only=only)
