"""``wangge assign``: stamp grid codes on a table of points.

Thin: parses options, opens the cluster (:func:`gis.parallel.connect`) and the store, calls
:func:`gis.assign_points` and prints what it wrote.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from gis.commands import common
from gis.commands.cluster import SchedulerOpt, WorkersOpt
from gis.commands.store import DEFAULT_STORE, SchemaOpt, StoreOpt, store_files
from gis.errors import OptionError
from gis.parallel import connect
from gis.serving.assign import assign_points
from gis.serving.points import ROWS_PER_PART
from gis.store import open_store


def assign_command(
    points: Annotated[
        Path,
        typer.Argument(help="GeoParquet, Parquet (lon/lat columns) or CSV file, or a folder"),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder of Parquet parts")],
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
    crs: Annotated[
        str | None,
        typer.Option(
            "--crs",
            help="wgs84, cgcs2000, gcj02, bd09 or EPSG:n (default: the file's, else wgs84)",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", help="Plan version (default: the live one)")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The version live at this ISO 8601 time")
    ] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    part_rows: Annotated[
        int, typer.Option("--part-rows", help="Rows per Parquet part (memory per task)")
    ] = ROWS_PER_PART,
    verbose: common.VerboseOpt = False,
) -> None:
    """Add grid_code and unit_code to every point, by the rule /lookup uses."""
    common.setup_logging(verbose)
    if version is not None and as_of is not None:
        msg = "give --version or --as-of, not both"
        raise OptionError(msg)
    moment = _moment(as_of)
    common.check_outputs([out], [points, *store_files(store)], folder=True)  # never an input
    with (
        connect(workers=workers, scheduler=scheduler) as client,
        open_store(store, schema=schema, create=False) as opened,
        common.progress_bar() as update,
    ):
        result = assign_points(
            points,
            store=opened,
            out=out,
            crs=crs,
            version=version,
            as_of=moment,
            client=client,
            rows_per_part=part_rows,
            progress=update,
        )
    common.console.print(
        f"{result.rows:,} points: {result.in_grids:,} in grids of version {result.version_id}, "
        f"{result.outside:,} outside every grid → {result.out} ({result.parts} parts, "
        f"{result.seconds:.1f} s, {result.points_per_s:,.0f} points/s)",
        highlight=False,
    )


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        msg = f"--as-of must be an ISO 8601 time such as 2025-03-01T00:00:00+08:00, not {value!r}"
        raise OptionError(msg) from None


def register(app: typer.Typer) -> None:
    """Add the ``assign`` command to ``app``."""
    app.command("assign")(common.handle_errors(assign_command))
