"""``wangge publish | versions | export | diff``: versioned plans in PostGIS or a GeoPackage.

The store is ``--store`` (or the ``WANGGE_DATABASE_URL`` environment variable): a
``postgresql://`` URL, or a ``.gpkg`` file, ``wangge-plans.gpkg`` when neither is given.
``publish`` keeps the household band the plan was drawn for (the plan file's ``plan`` table,
see :mod:`gis.outputs.plan_file`) with the version, so the service colours it by that band.

Nothing here can destroy a store or an input: ``versions``, ``export`` and ``diff`` refuse a
store that does not exist (or is no plan store) instead of reading it as empty; ``export``
and ``diff --out`` refuse an output that is the store (or its lock or registry file) or
cannot be written; ``publish`` refuses a store that is one of its input files and an empty
``--author``. An ``--as-of`` beyond the last version says so.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gis import columns as col
from gis.commands import common
from gis.errors import InputFileError, OptionError
from gis.inputs.read import check_boundary
from gis.outputs.files import write_json
from gis.outputs.plan_file import read_band, read_plan_info
from gis.store import Store, is_database_url, open_store
from gis.store.base import as_of_note
from gis.store.diff import PlanDiff
from gis.store.plan_io import export_version, read_plan
from gis.store.review import check_person

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


def _open(store: str, schema: str, *, create: bool = False) -> Store:
    return open_store(store, schema=schema, create=create)


def store_files(store: str) -> list[Path]:
    """The files a GeoPackage store consists of (none for PostGIS): the store, its lock and
    its registry of addresses and staff."""
    if is_database_url(store):
        return []
    path = Path(store)
    return [
        path,
        path.with_name(path.name + ".lock"),
        path.with_name(path.stem + ".registry.sqlite"),
    ]


def _json_file(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        msg = f"cannot read {what} JSON from {path}: {exc}"
        raise InputFileError(msg) from exc
    if not isinstance(data, dict):
        msg = f"{what} file {path} must hold a JSON object, not {type(data).__name__}"
        raise InputFileError(msg)
    return data


def _as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        msg = f"--as-of must be an ISO 8601 time such as 2025-03-01T00:00:00+08:00, not {value!r}"
        raise OptionError(msg) from exc


PlanArg = Annotated[Path, typer.Argument(help="Plan file (GeoPackage layer 'grids', …)")]
NoteOpt = Annotated[str, typer.Option("--note", help="Why: the change note")]
LayerOpt = Annotated[str | None, typer.Option("--layer", help="Grids layer (default 'grids')")]
UnitsOpt = Annotated[
    Path | None,
    typer.Option("--units", help="Units file: grids must cover each unit (gap < 1 m²)"),
]
UnitsLayerOpt = Annotated[str | None, typer.Option("--units-layer")]
CellsLayerOpt = Annotated[
    str | None, typer.Option("--cells-layer", help="Unit cells layer in the plan file")
]
ParametersOpt = Annotated[
    Path | None, typer.Option("--parameters", help="JSON file of partition parameters")
]
ReportOpt = Annotated[
    Path | None, typer.Option("--report", help="JSON report to keep with the version")
]


def publish_command(
    plan: PlanArg,
    author: Annotated[str, typer.Option("--author", help="Who publishes")],
    note: NoteOpt = "",
    layer: LayerOpt = None,
    units: UnitsOpt = None,
    units_layer: UnitsLayerOpt = None,
    cells_layer: CellsLayerOpt = None,
    parameters: ParametersOpt = None,
    report: ReportOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
    verbose: common.VerboseOpt = False,
) -> None:
    """Publish a plan as the new live version (validated, all or nothing).

    For one user who both authors and approves; where a reviewer approves, use submit.
    """
    common.setup_logging(verbose)
    author = check_person(author, "author", "--author")
    inputs = plan_inputs(plan, store, layer, units, units_layer, cells_layer, parameters, report)
    started = time.perf_counter()
    with _open(store, schema, create=True) as opened:
        info = opened.publish(author=author, note=note, **inputs)
    assert info.valid_from is not None
    common.console.print(
        f"published version {info.id}: {info.grids} grids, band {info.band}, live from "
        f"{info.valid_from.isoformat()} ({time.perf_counter() - started:.2f} s) → {store}"
    )


def plan_inputs(
    plan: Path,
    store: str,
    layer: str | None,
    units: Path | None,
    units_layer: str | None,
    cells_layer: str | None,
    parameters: Path | None,
    report: Path | None,
) -> dict[str, Any]:
    """What a publish or a submit stores, read from the plan file and its side files (grids,
    band, units, cells, parameters, report); a store that is one of them is refused."""
    common.refuse_overwrite(store_files(store), [plan, units, parameters, report], output="store")
    grids = read_plan(plan, layer=layer)
    band = read_band(plan)
    if band is None:
        common.err_console.print(
            f"[yellow]{plan} does not say which household band it was drawn for (no "
            "'plan' table); the version is stored without one and read as the default "
            "band[/yellow]"
        )
    unit_gdf = None
    if units is not None:  # a conventional boundary layer (code, name) or stored units
        unit_gdf = read_plan(units, layer=units_layer)
        if col.UNIT_CODE not in unit_gdf:
            unit_gdf = check_boundary(unit_gdf)
    cells = read_plan(plan, layer=cells_layer) if cells_layer is not None else None
    kept = _json_file(parameters, "parameters") or {}
    said = read_plan_info(plan) or {}
    scheme = said.get("code_scheme")
    if isinstance(scheme, str) and scheme:  # so adjust codes new grids the plan's own way
        kept.setdefault("code_scheme", scheme)
    own = said.get("unit_bands")
    if isinstance(own, str) and own:  # units with a band of their own (rules per unit)
        kept.setdefault("unit_bands", json.loads(own))
    return {
        "grids": grids,
        "parameters": kept or None,
        "report": _json_file(report, "report"),
        "units": unit_gdf,
        "cells": cells,
        "band": band,
    }


def versions_command(
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead")] = False,
    verbose: common.VerboseOpt = False,
) -> None:
    """List the plan versions, oldest first, drafts included; the live one is marked."""
    common.setup_logging(verbose)
    with _open(store, schema) as opened:
        infos = opened.versions(drafts=True)
    if as_json:
        common.console.print_json(data=[v.to_dict() for v in infos])
        return
    table = Table(title=f"Plan versions in {store}")
    columns = ("id", "live", "state", "valid from", "valid to", "grids", "band", "author")
    for name in (*columns, "reviewer", "note"):
        table.add_column(
            name, justify="right" if name in ("id", "grids") else "left", no_wrap=name == "band"
        )
    for v in infos:
        table.add_row(
            str(v.id),
            "●" if v.live else "",
            v.state,
            v.valid_from.isoformat(timespec="seconds") if v.valid_from else "",
            v.valid_to.isoformat(timespec="seconds") if v.valid_to else "",
            str(v.grids),
            str(v.band),
            v.author,
            v.reviewer or "",
            v.review_note if v.state == "rejected" else v.note,
        )
    common.console.print(table)


def export_command(
    out: Annotated[Path, typer.Argument(help="Output .gpkg, .geojson, .shp or .parquet")],
    version: Annotated[
        int | None, typer.Option("--version", help="Version id (default: live)")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Version live at this ISO 8601 time")
    ] = None,
    crs: Annotated[str, typer.Option("--crs", help="EPSG:4326 or EPSG:4490")] = "EPSG:4326",
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
    verbose: common.VerboseOpt = False,
) -> None:
    """Write one version of the plan to a file."""
    common.setup_logging(verbose)
    moment = _as_of(as_of)
    common.check_outputs([out], store_files(store), what="plan store")
    with _open(store, schema) as opened:
        info = opened.version(version, as_of=moment)
        written = export_version(opened, out, version_id=info.id, crs=crs)
    note = as_of_note(info, moment) if version is None else None
    if note is not None:
        common.err_console.print(f"[yellow]note: {note}[/yellow]", highlight=False, soft_wrap=True)
    common.console.print(f"version {info.id} ({info.grids} grids, {crs}) → {written}")


def diff_command(
    old: Annotated[int, typer.Argument(help="Old version id")],
    new: Annotated[int, typer.Argument(help="New version id")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the diff as JSON")] = None,
    store: StoreOpt = DEFAULT_STORE,
    schema: SchemaOpt = "public",
    verbose: common.VerboseOpt = False,
) -> None:
    """Show grids added, removed, changed, and households moved between two versions."""
    common.setup_logging(verbose)
    common.check_outputs([out], store_files(store), what="plan store")
    with _open(store, schema) as opened:
        result = opened.diff(old, new)
    if out is not None:
        write_json(out, result.to_dict())
    _print_diff(result, out)


def register(app: typer.Typer) -> None:
    """Add the ``publish``, ``versions``, ``export`` and ``diff`` commands to ``app``."""
    app.command("publish")(common.handle_errors(publish_command))
    app.command("versions")(common.handle_errors(versions_command))
    app.command("export")(common.handle_errors(export_command))
    app.command("diff")(common.handle_errors(diff_command))


def _print_diff(result: PlanDiff, out: Path | None) -> None:
    common.console.print(
        f"version {result.old_version} → {result.new_version}: "
        f"{len(result.added)} added, {len(result.removed)} removed, "
        f"{len(result.changed)} changed, {result.unchanged} unchanged; "
        f"≈{result.households_moved} households change grid (by {result.method})"
    )
    if result.added:
        common.console.print("added: " + ", ".join(result.added), highlight=False)
    if result.removed:
        common.console.print("removed: " + ", ".join(result.removed), highlight=False)
    if len(result.changed):
        table = Table(title="Changed grids")
        for name in ("grid", "geometry", "households", "changed m²"):
            table.add_column(name, justify="left" if name == "grid" else "right")
        for row in result.changed.itertuples(index=False):
            table.add_row(
                str(row.grid_code),
                "changed" if row.geometry_changed else "",
                f"{row.households_old} → {row.households_new}",
                f"{row.changed_area_m2:.1f}",
            )
        common.console.print(table)
    if len(result.moved):
        table = Table(title="Households moved (estimate)")
        for name in ("from", "to", "households"):
            table.add_column(name, justify="right" if name == "households" else "left")
        for row in (
            result.moved.sort_values("households", ascending=False).head(30).itertuples(index=False)
        ):
            table.add_row(
                str(row.from_code), str(row.to_code or "(uncovered)"), str(row.households)
            )
        common.console.print(table)
    if out is not None:
        common.console.print(f"diff → {out}")
