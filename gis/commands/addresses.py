"""``wangge addresses import | lookup | list``: the standard-address table (标准地址).

``import`` adds rows from a CSV (an address already there is updated); ``--replace`` replaces
the whole table, and a header-only CSV is refused unless ``--allow-empty``. Coordinates out of
range for their CRS are refused; on any failure nothing stored changes.

``lookup IN.csv --out OUT.csv`` answers every row's ``address`` column (match, standard
address, point, grid code of the live version); ``list --grid CODE`` prints the doors and
buildings inside a grid with how many standard addresses each holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gis.commands import common
from gis.errors import AddressError, OptionError

if TYPE_CHECKING:
    from gis.serving.lookup import GridIndex
    from gis.store.addresses import Registry

DEFAULT_STORE = "wangge-plans.gpkg"
StoreOpt = Annotated[
    str,
    typer.Option(
        "--store",
        envvar="WANGGE_DATABASE_URL",
        help="postgresql:// URL or .gpkg file holding the plan versions",
    ),
]
SchemaOpt = Annotated[str, typer.Option("--schema", help="PostGIS schema of the store")]


def import_command(
    csv: Annotated[Path, typer.Argument(help="CSV: address, lon, lat, [region, street, …]")],
    crs: Annotated[str, typer.Option("--crs", help="wgs84, cgcs2000, gcj02, bd09, EPSG:n")] = (
        "wgs84"
    ),
    replace: Annotated[bool, typer.Option("--replace", help="Replace the whole table")] = False,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Accept a CSV without rows (with --replace)")
    ] = False,
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
) -> None:
    """Add the rows of a CSV file to the address table (or replace it with --replace)."""
    from gis.serving.addresses import address_keys, read_address_csv  # noqa: PLC0415
    from gis.store.addresses import check_import, open_registry  # noqa: PLC0415

    table = read_address_csv(csv, crs=crs, allow_empty=allow_empty)
    check_import(table, replace=replace, allow_empty=allow_empty)
    keys = address_keys(table)
    registry = open_registry(store, schema=schema)
    try:
        count = registry.import_addresses(table, keys, replace=replace)
        total = registry.count_addresses()
    finally:
        registry.close()
    verb = "replaced the table with" if replace else "imported"
    common.console.print(f"{verb} {count} addresses into {store} ({total} in the table)")


def lookup_command(
    csv: Annotated[Path, typer.Argument(help="CSV with an 'address' column")],
    out: Annotated[Path, typer.Option("--out", help="CSV to write: the input plus answers")],
    column: Annotated[str, typer.Option("--column", help="Column holding the addresses")] = (
        "address"
    ),
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
) -> None:
    """Answer every address of a CSV: match, standard address, point and grid code."""
    import pandas as pd  # noqa: PLC0415

    from gis.outputs.files import atomic_path  # noqa: PLC0415
    from gis.serving.addresses import AddressMatcher  # noqa: PLC0415
    from gis.serving.addresses.grid import lookup_table  # noqa: PLC0415

    common.refuse_overwrite([out], [csv])
    try:
        frame = pd.read_csv(csv, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise AddressError(f"cannot read address CSV {csv}: {exc}") from exc
    if column not in frame.columns:
        msg = f"{csv} has no column {column!r} (columns: {list(frame.columns)}); use --column"
        raise OptionError(msg)
    registry, index = _open(store, schema)
    try:
        answers = lookup_table(AddressMatcher(registry), frame[column].tolist(), index)
    finally:
        registry.close()
    result = pd.concat([frame, answers.set_axis(frame.index)], axis=1)
    with atomic_path(out) as tmp:
        result.to_csv(tmp, index=False, encoding="utf-8-sig")
    counts = ", ".join(f"{k} {v}" for k, v in answers["match"].value_counts().items())
    common.console.print(f"wrote {len(result)} answers to {out} ({counts})")


def list_command(
    grid: Annotated[str, typer.Option("--grid", help="Grid code of the live version")],
    out: Annotated[Path | None, typer.Option("--out", help="CSV of every address")] = None,
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
) -> None:
    """The doors and buildings inside a grid, with how many standard addresses each holds."""
    from rich.table import Table  # noqa: PLC0415

    from gis.outputs.files import atomic_path  # noqa: PLC0415
    from gis.serving.addresses.grid import doors_in_grid  # noqa: PLC0415

    registry, index = _open(store, schema)
    try:
        rows, doors = doors_in_grid(registry, index, grid)
    finally:
        registry.close()
    table = Table("road", "door", "compound", "building", "addresses", title=f"grid {grid}")
    for r in doors.itertuples(index=False):
        table.add_row(str(r.road), str(r.door), str(r.place), str(r.building), str(r.addresses))
    common.console.print(table)
    common.console.print(f"{len(rows)} standard addresses in {len(doors)} doors/buildings")
    if out is not None:
        with atomic_path(out) as tmp:
            rows.to_csv(tmp, index=False, encoding="utf-8-sig")


def _open(store: str, schema: str) -> tuple[Registry, GridIndex]:
    """The registry and the live version's grid index of a store."""
    from gis.serving.lookup import LiveIndex  # noqa: PLC0415
    from gis.store import open_store  # noqa: PLC0415
    from gis.store.addresses import open_registry  # noqa: PLC0415

    plans = open_store(store, schema=schema)
    live = LiveIndex(plans)
    try:
        live.refresh()
        index = live.index()
    finally:
        plans.close()
    return open_registry(store, schema=schema), index


def register(app: typer.Typer) -> None:
    """Add the ``addresses`` group (``import``, ``lookup``, ``list``) to ``app``."""
    group = typer.Typer(help="The standard-address table (标准地址): import, lookup, list.")
    app.add_typer(group, name="addresses")
    group.command("import")(common.handle_errors(import_command))
    group.command("lookup")(common.handle_errors(lookup_command))
    group.command("list")(common.handle_errors(list_command))
