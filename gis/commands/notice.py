"""``wangge notice``: print public-notice maps (公示圖), one PNG and PDF per grid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from gis import columns as col
from gis.commands import common
from gis.inputs.read import read_area


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
        grids = common.read_grids(plan_path, layer=layer)
        from gis.outputs.notice import notice_context, render_notices  # noqa: PLC0415

        ctx = notice_context(
            grids,
            read_area(against),
            roster=roster,
            scheme=scheme,
            version=version or plan_path.stem,
            date=date,
        )
        names = ctx.grids.get(col.PARENT_NAME, pd.Series(dtype=str)).dropna().astype(str)
        heading = title or "、".join(dict.fromkeys(names)) or plan_path.stem
        written = render_notices(ctx, out, title=heading, only=grid)
        common.console.print(f"wrote {len(written)} files to {out}")
