"""``wangge notice``: print public-notice maps (公示图), one PNG and PDF per grid.

``--date`` must be a real calendar date (``2024-05-01``; full-width digits are accepted);
``--out`` may not be an input; the sheets are rendered into a temporary folder and moved into
``--out`` only when every one is done, so a failure leaves none of them.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from gis import columns as col
from gis.commands import common
from gis.errors import OptionError
from gis.inputs.read import read_area
from gis.outputs.files import atomic_folder

ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def check_date(value: str | None) -> str | None:
    """A ``--date`` as ISO ``YYYY-MM-DD`` (None: today is printed), refusing impossible dates.

    Raises
    ------
    OptionError
        Not ``YYYY-MM-DD``, or no such day (``2024-02-30``, ``31/31/2024``).
    """
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    found = ISO_DATE.match(text)
    try:
        if found is None:
            raise ValueError("not YYYY-MM-DD")
        day = dt.date(*(int(part) for part in found.groups()))
    except ValueError as exc:
        msg = f"--date must be a real date written YYYY-MM-DD, such as 2024-05-01, not {value!r}"
        raise OptionError(msg) from exc
    return day.isoformat()


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
        printed = check_date(date)
        common.check_outputs([out], [plan_path, against, roster], folder=True)
        grids = common.read_grids(plan_path, layer=layer)
        from gis.outputs.notice import notice_context, render_notices  # noqa: PLC0415

        ctx = notice_context(
            grids,
            read_area(against),
            roster=roster,
            scheme=scheme,
            version=version or plan_path.stem,
            date=printed,
        )
        names = ctx.grids.get(col.PARENT_NAME, pd.Series(dtype=str)).dropna().astype(str)
        heading = title or "、".join(dict.fromkeys(names)) or plan_path.stem
        with atomic_folder(out) as staged:  # every sheet, or none
            written = render_notices(ctx, staged, title=heading, only=grid)
        common.console.print(f"wrote {len(written)} files to {out}")
