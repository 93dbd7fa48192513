"""``wangge partition`` and ``wangge validate``: draw grids, and check a plan from geometry.

``partition`` runs :func:`gis.rules.hierarchy.plan_area` (units, dedicated grids, natural villages),
then optionally codes the grids (``--code-scheme``, kept stable with ``--previous``), cuts unit
cells (``--cells N``) and checks a staff roster (``--roster``). Every check runs before the
first byte is written: a bad input leaves no output file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import folium
import geopandas as gpd
import typer
from rich.table import Table

from gis import columns as col
from gis.blocks.build import BlockSet
from gis.rules.cells import CELL_CODE, unit_cells
from gis.rules.codes import assign_codes, cell_codes
from gis.commands import common
from gis.geometry.crs import parse_crs
from gis.rules.dedicated import DEFAULT_SITE_KINDS
from gis.errors import CodeError, OptionError
from gis.rules.hierarchy import plan_area
from gis.inputs.read import read_layer
from gis.outputs.files import write_json, write_layers, write_text
from gis.outputs.maps import add_context, base_map, polygons_layer
from gis.search.partition import Plan, check_band
from gis.rules.staff import grids_without_worker, read_roster
from gis.checks.validate import Report, validate_against

#: Exit code when a plan was produced or checked but breaks a rule (errors exit with 2).
EXIT_VIOLATIONS = 1

MinOpt = Annotated[int, typer.Option("--min", help="Fewest households per grid")]
MaxOpt = Annotated[int, typer.Option("--max", help="Most households per grid")]


def plan_map(
    plan: Plan, *, streets: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, low: int, high: int
) -> folium.Map:
    """Grids coloured by household load against the band, ids as labels, context beneath."""
    fmap = base_map(plan.grids)
    add_context(fmap, streets=streets, buildings=buildings)
    frame = plan.grids.copy()
    frame[col.AREA_M2] = frame[col.AREA_M2].round(0)
    polygons_layer(
        fmap,
        frame,
        name="grids",
        fields=[col.GRID_ID, col.KIND, col.PARENT_NAME, col.HOUSEHOLDS, col.AREA_M2],
        low=low,
        high=high,
        label=col.GRID_ID,
    )
    folium.LayerControl().add_to(fmap)
    return fmap


def register(app: typer.Typer) -> None:
    """Add the ``partition`` and ``validate`` commands to ``app``."""

    @app.command("partition")
    @common.handle_errors
    def partition(
        source: common.Source = None,
        min_households: MinOpt = 300,
        max_households: MaxOpt = 800,
        target: Annotated[int, typer.Option("--target", help="Preferred households")] = 500,
        seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same plan)")] = 0,
        out: Annotated[Path, typer.Option("--out", help="Output GeoPackage (layer grids)")] = Path(
            "plan.gpkg"
        ),
        report: Annotated[
            Path | None, typer.Option("--report", help="JSON report (default: beside --out)")
        ] = None,
        map_path: Annotated[
            Path | None, typer.Option("--map", help="Write a folium HTML map here")
        ] = None,
        out_crs: Annotated[str, typer.Option("--out-crs", help="CRS of outputs")] = "EPSG:4326",
        boundary: common.BoundaryOpt = None,
        roads: common.RoadsOpt = None,
        households: common.HouseholdsOpt = None,
        buildings: common.BuildingsOpt = None,
        sites: common.SitesOpt = None,
        household_column: common.HouseholdColumnOpt = col.HOUSEHOLDS,
        crs: common.CrsOpt = None,
        input_crs: common.InputCrsOpt = None,
        estimate: common.EstimateOpt = "auto",
        dedicated: Annotated[
            bool,
            typer.Option("--dedicated/--no-dedicated", help="Carve dedicated grids from sites"),
        ] = True,
        min_site_area: Annotated[
            float, typer.Option("--min-site-area", help="Smallest dedicated site (m²)")
        ] = 2000.0,
        site_kinds: Annotated[
            str | None,
            typer.Option("--site-kinds", help="Comma-separated landuse kinds making sites"),
        ] = None,
        sites_outside: Annotated[
            str,
            typer.Option("--sites-outside", help="A site outside every unit: error or drop"),
        ] = "error",
        villages: Annotated[
            bool,
            typer.Option("--villages/--no-villages", help="Keep natural villages whole"),
        ] = True,
        code_scheme: Annotated[
            str | None,
            typer.Option("--code-scheme", help="Grid codes: beijing15, village6 or stats12"),
        ] = None,
        previous: Annotated[
            Path | None,
            typer.Option("--previous", help="Previous plan: unchanged grids keep their codes"),
        ] = None,
        cells: Annotated[
            int | None,
            typer.Option("--cells", help="Also write unit cells of at most N households"),
        ] = None,
        roster: Annotated[
            Path | None, typer.Option("--roster", help="Staff roster CSV to check")
        ] = None,
        verbose: common.VerboseOpt = False,
    ) -> None:
        """Partition an area into grids of --min to --max households along streets."""
        common.setup_logging(verbose)
        check_band(min_households, max_households, target)  # before the slow reading
        target_crs = parse_crs(out_crs)
        started = time.perf_counter()
        prepared = common.load(
            source,
            boundary=boundary,
            roads=roads,
            households=households,
            buildings=buildings,
            sites=sites,
            household_column=household_column,
            crs=crs,
            input_crs=input_crs,
            estimate=estimate,
        )
        bs = prepared.blockset
        plan = plan_area(
            prepared,
            min_households=min_households,
            max_households=max_households,
            target=target,
            rng=seed,
            dedicated=dedicated,
            site_kinds=_kinds(site_kinds),
            min_site_area_m2=min_site_area,
            sites_outside=sites_outside,
            villages=villages,
        )
        layers = code_layers(plan, bs, scheme=code_scheme, previous=previous, cells=cells)
        plan.report["codes"] = layers.pop("_report")
        if roster is not None:
            plan.report["staff"] = check_staff(roster, layers["grids"])
        plan.report["source"] = prepared.area.source
        plan.report["household_source"] = prepared.household_source
        plan.report["seed"] = seed
        plan.report["seconds_total"] = round(time.perf_counter() - started, 3)
        write_layers(out, layers, crs=target_crs)
        write_json(report or out.with_suffix(".json"), plan.report)
        if map_path is not None:
            fmap = plan_map(
                plan,
                streets=bs.streets,
                buildings=bs.buildings,
                low=min_households,
                high=max_households,
            )
            write_text(map_path, fmap.get_root().render())
        _print_plan(plan, out)
        if not plan.ok:
            raise typer.Exit(EXIT_VIOLATIONS)

    @app.command("validate")
    @common.handle_errors
    def validate(
        plan_path: Annotated[Path, typer.Argument(help="Plan GeoPackage (layer grids)")],
        against: Annotated[
            Path | None,
            typer.Option("--against", help="The inputs the plan was drawn from (as for blocks)"),
        ] = None,
        min_households: MinOpt = 300,
        max_households: MaxOpt = 800,
        layer: Annotated[str, typer.Option("--layer", help="Layer of the plan")] = "grids",
        report: Annotated[Path | None, typer.Option("--report", help="Write JSON here")] = None,
        boundary: common.BoundaryOpt = None,
        roads: common.RoadsOpt = None,
        households: common.HouseholdsOpt = None,
        buildings: common.BuildingsOpt = None,
        household_column: common.HouseholdColumnOpt = col.HOUSEHOLDS,
        crs: common.CrsOpt = None,
        input_crs: common.InputCrsOpt = None,
        estimate: common.EstimateOpt = "auto",
        verbose: common.VerboseOpt = False,
    ) -> None:
        """Check a plan from its geometry alone; exit 1 on any violation."""
        common.setup_logging(verbose)
        check_band(min_households, max_households, min_households)
        grids = read_grids(plan_path, layer=layer)
        prepared = common.load(
            against,
            boundary=boundary,
            roads=roads,
            households=households,
            buildings=buildings,
            sites=None,
            household_column=household_column,
            crs=crs,
            input_crs=input_crs,
            estimate=estimate,
        )
        bs = prepared.blockset
        result = validate_against(
            grids.to_crs(bs.crs),
            bs,
            min_households=min_households,
            max_households=max_households,
        )
        if report is not None:
            write_json(report, result.to_dict())
        _print_report(result, plan_path)
        if not result.ok:
            raise typer.Exit(EXIT_VIOLATIONS)


def code_layers(
    plan: Plan,
    blockset: BlockSet,
    *,
    scheme: str | None,
    previous: Path | None,
    cells: int | None,
) -> dict[str, Any]:
    """The layers to write: grids with ``grid_code`` (when a scheme is given) and cells.

    The key ``_report`` holds what was done (scheme, codes kept, cells over the maximum).

    Raises
    ------
    OptionError
        ``--previous`` without ``--code-scheme``.
    CodeError
        A unit code that does not fit the scheme, duplicate codes in the previous plan.
    """
    grids = plan.grids
    info: dict[str, Any] = {"scheme": scheme}
    if previous is not None and scheme is None:
        msg = "--previous needs --code-scheme: codes can only be kept within one scheme"
        raise OptionError(msg)
    if scheme is not None:
        old = read_grids(previous) if previous is not None else None
        result = assign_codes(grids, scheme=scheme, previous=old)
        _refuse_repeated_codes(result.codes, grids)
        grids = grids.assign(**{col.GRID_CODE: result.codes.to_numpy()})
        info |= {"kept": result.kept, "retired": sorted(result.retired)}
    layers: dict[str, Any] = {"grids": grids}
    if cells is not None:
        cell_frame, cell_report = unit_cells(
            grids, blockset.buildings, blockset.households, max_households=cells
        )
        if col.GRID_CODE in cell_frame and len(cell_frame):
            cell_frame[CELL_CODE] = cell_codes(cell_frame).to_numpy()
        layers["cells"] = cell_frame
        info["cells"] = cell_report
    layers["_report"] = info
    return layers


def check_staff(path: Path, grids: gpd.GeoDataFrame) -> dict[str, Any]:
    """Check a roster against the plan's codes; report grids without a worker.

    Raises
    ------
    OptionError
        When the plan has no codes (no ``--code-scheme``).
    RosterError
        A malformed roster or one naming a grid that does not exist.
    """
    if col.GRID_CODE not in grids:
        msg = "--roster needs --code-scheme: a roster names grids by their codes"
        raise OptionError(msg)
    staff = read_roster(path, grid_codes=set(grids[col.GRID_CODE].astype(str)))
    return {"people": len(staff), "grids_without_worker": grids_without_worker(staff, grids)}


def _refuse_repeated_codes(codes: Any, grids: gpd.GeoDataFrame) -> None:
    """Codes are unique within their parent; a published plan needs them unique overall."""
    dup = codes[codes.duplicated(keep=False)]
    if len(dup):
        units = sorted(set(grids.loc[dup.index, col.PARENT_CODE].astype(str)))
        msg = (
            f"grid codes {sorted(set(dup))[:5]} are not unique in the plan: units {units} "
            "share the digits the scheme keeps (village6 keeps only the last 3 of the unit "
            "code); partition one town at a time or use --code-scheme beijing15 or stats12"
        )
        raise CodeError(msg)


def _kinds(value: str | None) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_SITE_KINDS
    return tuple(k.strip() for k in value.split(",") if k.strip())


def read_grids(path: Path, *, layer: str = "grids") -> gpd.GeoDataFrame:
    """Read a plan's grids layer, refusing files that hold none (see :func:`read_layer`)."""
    return read_layer(path, layer)


def _print_plan(plan: Plan, out: Path) -> None:
    summary = plan.report["summary"]
    common.console.print(
        f"{summary['n_grids']} grids from {summary['n_blocks']} blocks "
        f"({summary['blocks_split']} split between buildings), "
        f"{summary['share_in_band']:.1%} in band → {out}"
    )
    for unit in plan.report.get("units", []):
        common.console.print(
            f"  {unit[col.UNIT_CODE]} {unit[col.UNIT_NAME]}: {unit['n_ordinary']} ordinary, "
            f"{unit['n_dedicated']} dedicated, {unit[col.HOUSEHOLDS]} households, "
            f"{unit['share_in_band']:.0%} in band",
            highlight=False,
        )
    for exc in plan.report["exceptions"]:
        common.console.print(f"  grid {exc[col.GRID_ID]}: {exc['detail']}", highlight=False)
    if "checks" in plan.report:
        _print_metrics(plan.report["checks"]["metrics"], plan.report["checks"]["violations"])


def _print_report(result: Report, path: Path) -> None:
    common.console.print(f"{path}: {'valid' if result.ok else 'INVALID'}")
    _print_metrics(result.metrics, result.violations)


def _print_metrics(metrics: dict[str, Any], violations: list[dict[str, Any]]) -> None:
    table = Table(show_header=False)
    table.add_column("check")
    table.add_column("value", justify="right")
    for key in (
        "n_grids",
        "share_in_band",
        "min_households",
        "max_households",
        "gap_m2",
        "overlap_m2",
        "crossing_m2",
        "multipart_grids",
        "buildings_split",
        "polsby_popper_mean",
        "street_share",
        "visible_share",
    ):
        value = metrics.get(key)
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    common.console.print(table)
    for v in violations[:50]:
        common.err_console.print(f"  {v['check']}: {v['message']}", highlight=False)
    if len(violations) > 50:
        common.err_console.print(f"  … and {len(violations) - 50} more")
