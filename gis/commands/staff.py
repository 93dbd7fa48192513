"""``wangge staff import | report``: grid staff rosters (实名登记、备案) beside a plan store.

``import ROSTER.csv`` checks every row against the live version of the store, as the service
checks a record (a known grid, unit cell or unit; a known role that may serve it; a name, a
phone that can be dialled, a photo; an ID number, when the file has one, well formed and
naming one person) and prints one line per problem: any problem, and nothing is stored
(exit 2). Otherwise each post named in the file gets exactly the file's people, in one
transaction; people who left or whose details changed have their rows closed, not deleted,
so the roster can be read as of any past date. ``--replace`` also empties every post the
file does not name. The ID number is checked, then dropped: it is never stored.

``report`` lists the live version's grids without a 网格员 (dedicated grids included) and the
workers holding several grids with their total household load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from gis.commands import common
from gis.errors import RosterError, RosterProblems

if TYPE_CHECKING:
    from gis.rules.staff import Targets
    from gis.store import Store

DEFAULT_STORE = "wangge-plans.gpkg"
UNIT_FIELDS = ("unit_name", "level", "parent_code")
StoreOpt = Annotated[
    str,
    typer.Option(
        "--store",
        envvar="WANGGE_DATABASE_URL",
        help="postgresql:// URL or .gpkg file holding the plan versions",
    ),
]
SchemaOpt = Annotated[str, typer.Option("--schema", help="PostGIS schema of the store")]


def targets_of(store: Store) -> Targets:
    """The grids, unit cells and units (with their levels) of the store's live version; a
    unit is any unit of the version or above its grids, as a lookup names them
    (:func:`gis.rules.staff.unit_levels`)."""
    import pandas as pd  # noqa: PLC0415

    from gis.rules.staff import Targets, unit_levels  # noqa: PLC0415

    grids = store.read_grids()
    cells = store.read_cells()
    units = store.read_units()
    table = {
        str(r["unit_code"]): {k: None if pd.isna(r[k]) else r[k] for k in UNIT_FIELDS}
        for r in units.drop(columns=units.geometry.name).to_dict("records")
    }
    return Targets(
        grids=frozenset(grids["grid_code"].astype(str)),
        cells=frozenset(cells["cell_code"].astype(str)) if len(cells) else frozenset(),
        units=unit_levels(table, grids["parent_code"].astype(str)),
    )


def import_command(
    csv: Annotated[
        Path, typer.Argument(help="CSV: name, role, phone, grid_code|cell_code|unit_code, …")
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Also empty every post the file does not name")
    ] = False,
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
) -> None:
    """Import a staff roster: every row checked first, all rows or none stored."""
    from gis.rules.staff import read_roster  # noqa: PLC0415
    from gis.store import open_store  # noqa: PLC0415
    from gis.store.addresses import open_registry  # noqa: PLC0415
    from gis.store.staff_rows import post_of, rosters_from  # noqa: PLC0415

    with open_store(store, schema=schema, create=False) as plans:
        targets = targets_of(plans)
    try:
        roster = read_roster(csv, targets=targets)
    except RosterProblems as exc:
        for problem in exc.problems:
            common.err_console.print(
                f"[bold red]error:[/] {escape(' '.join(problem.split()))}",
                highlight=False,
                soft_wrap=True,
            )
        common.err_console.print(f"nothing was stored: {len(exc.problems)} problems in {csv}")
        raise typer.Exit(2) from None
    if not len(roster):
        raise RosterError(f"roster {csv} has no rows (a header only); nothing was changed")
    registry = open_registry(store, schema=schema)
    try:
        posts = [post_of(r) for r in registry.read_staff().to_dict("records")] if replace else []
        change = registry.set_staff(rosters_from(roster, posts=posts))
    finally:
        registry.close()
    common.console.print(
        f"imported {len(roster)} staff rows into {store}: {change.added} added, "
        f"{change.closed} closed (kept in the history), {change.kept} unchanged"
    )


def report_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
) -> None:
    """Grids without a 网格员 (dedicated included) and workers holding several grids."""
    from rich.table import Table  # noqa: PLC0415

    from gis.rules.staff_report import staff_report  # noqa: PLC0415
    from gis.store import open_store  # noqa: PLC0415
    from gis.store.addresses import open_registry  # noqa: PLC0415

    with open_store(store, schema=schema, create=False) as plans:
        grids = plans.read_grids()
    registry = open_registry(store, schema=schema)
    try:
        roster = registry.read_staff()
    finally:
        registry.close()
    report = staff_report(roster, grids)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    missing = Table("grid_code", "kind", "households", title="grids without a 网格员")
    for g in report.without_worker:
        missing.add_row(g["grid_code"], g["kind"], str(g["households"]))
    holders = Table("name", "phone", "grids", "households", title="网格员 holding several grids")
    for h in report.holders:
        holders.add_row(h.name, h.phone, ", ".join(h.grids), str(h.households))
    common.console.print(missing)
    common.console.print(holders)
    common.console.print(
        f"{len(report.without_worker)} of {report.grids} grids without a 网格员; "
        f"{len(report.holders)} workers hold several grids"
    )


def register(app: typer.Typer) -> None:
    """Add the ``staff`` group (``import``, ``report``) to ``app``."""
    group = typer.Typer(help="Grid staff rosters (实名登记): import, report.")
    app.add_typer(group, name="staff")
    group.command("import")(common.handle_errors(import_command))
    group.command("report")(common.handle_errors(report_command))
