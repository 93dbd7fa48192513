"""``wangge notice``: print public-notice maps (公示圖), one PNG and PDF per grid."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import pandas as pd
import typer

from gis import columns as col
from gis.rules.codes import assign_codes
from gis.commands import common
from gis.commands.plan import read_grids
from gis.inputs.read import read_area
from gis.outputs.notice import NoticeContext, render_notices
from gis.rules.staff import public_roster, read_roster


def read_plan_grids(path: Path, *, layer: str = "grids") -> gpd.GeoDataFrame:
    """Read a plan's grids layer, refusing files that hold none.

    Raises
    ------
    InputFileError
        When the file does not exist or has no such layer.
    """
    return read_grids(path, layer=layer)


def notice_context(
    grids: gpd.GeoDataFrame,
    against: Path,
    *,
    roster: Path | None = None,
    scheme: str = "beijing15",
    version: str = "",
    date: str | None = None,
) -> NoticeContext:
    """Everything the sheets of one plan share, with grids in the area's metric CRS.

    Grids without ``grid_code`` are coded with :func:`gis.rules.codes.assign_codes` (``scheme``).
    """
    area = read_area(against)
    grids = grids.to_crs(area.crs).reset_index(drop=True)
    if col.GRID_CODE not in grids or grids[col.GRID_CODE].isna().any():
        grids[col.GRID_CODE] = assign_codes(grids, scheme=scheme).codes.to_numpy()
    grids[col.GRID_CODE] = grids[col.GRID_CODE].astype(str)
    if col.KIND not in grids:
        grids[col.KIND] = "ordinary"
    staff = (
        public_roster(read_roster(roster, grid_codes=set(grids[col.GRID_CODE])))
        if roster is not None
        else pd.DataFrame(columns=[col.GRID_CODE, "name", "role_label", "phone"])
    )
    return NoticeContext(
        grids=grids,
        streets=area.roads,
        buildings=area.buildings,
        roster=staff,
        version=version,
        date=date or dt.date.today().isoformat(),
    )


def register(app: typer.Typer) -> None:
    """Add the ``notice`` command to ``app``."""

    @app.command("notice")
    @common.handle_errors
    def notice(
        plan_path: Annotated[Path, typer.Argument(help="Plan GeoPackage (layer grids)")],
        against: Annotated[
            Path,
            typer.Option("--against", help="The area GeoPackage (streets, buildings, units)"),
        ],
        out: Annotated[Path, typer.Option("--out", help="Output directory")] = Path("notices"),
        roster: Annotated[
            Path | None, typer.Option("--roster", help="Staff roster CSV (public fields only)")
        ] = None,
        layer: Annotated[str, typer.Option("--layer", help="Layer of the plan")] = "grids",
        scheme: Annotated[
            str, typer.Option("--scheme", help="Code scheme for grids without grid_code")
        ] = "beijing15",
        version: Annotated[
            str, typer.Option("--version-label", help="Plan version printed on the sheets")
        ] = "",
        date: Annotated[
            str | None, typer.Option("--date", help="Date printed (ISO; default today)")
        ] = None,
        title: Annotated[
            str | None, typer.Option("--title", help="Community title (default: unit names)")
        ] = None,
        grid: Annotated[
            list[str] | None, typer.Option("--grid", help="Only these grid codes (repeatable)")
        ] = None,
        verbose: common.VerboseOpt = False,
    ) -> None:
        """Render one public-notice PNG and PDF per grid, and one for the community."""
        common.setup_logging(verbose)
        grids = read_plan_grids(plan_path, layer=layer)
        ctx = notice_context(
            grids,
            against,
            roster=roster,
            scheme=scheme,
            version=version or plan_path.stem,
            date=date,
        )
        names = ctx.grids.get(col.PARENT_NAME, pd.Series(dtype=str)).dropna().astype(str)
        heading = title or "、".join(dict.fromkeys(names)) or plan_path.stem
        written = render_notices(ctx, out, title=heading, only=grid)
        common.console.print(f"wrote {len(written)} files to {out}")
