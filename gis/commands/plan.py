"""``wangge partition`` and ``wangge validate``: draw grids, and check a plan from geometry.

Both are thin: they parse options, call the public API (:func:`gis.read_area`,
:func:`gis.partition`, :func:`gis.validate`) and print. ``partition`` writes exactly what a
notebook gets from ``gis.partition(...).to_file(...)``. Every check runs before the first byte
is written: a bad input leaves no output file, and an output that would replace an input is
refused.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import gis
from gis import columns as col
from gis.commands import common
from gis.commands.cluster import SchedulerOpt, WorkersOpt
from gis.errors import OptionError
from gis.geometry.crs import parse_crs
from gis.options import check_cuts
from gis.outputs.files import atomic_paths, write_json, write_text
from gis.outputs.plan_file import read_band
from gis.parallel import connect
from gis.report import PlanReport
from gis.rules.codes import AUTO_SCHEME
from gis.rules.dedicated import DEFAULT_SITE_KINDS

#: Exit code when a plan was produced or checked but breaks a rule (errors exit with 2).
EXIT_VIOLATIONS = 1

MinOpt = Annotated[int, typer.Option("--min", help="Fewest households per grid")]
MaxOpt = Annotated[int, typer.Option("--max", help="Most households per grid")]
OptMinOpt = Annotated[
    int | None, typer.Option("--min", help="Fewest households (default: the plan's own band)")
]
OptMaxOpt = Annotated[
    int | None, typer.Option("--max", help="Most households (default: the plan's own band)")
]


def partition_command(
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
        bool, typer.Option("--dedicated/--no-dedicated", help="Carve dedicated grids from sites")
    ] = True,
    min_site_area: Annotated[
        float, typer.Option("--min-site-area", help="Smallest dedicated site (m²)")
    ] = 2000.0,
    site_kinds: Annotated[
        str | None, typer.Option("--site-kinds", help="Comma-separated landuse kinds making sites")
    ] = None,
    sites_outside: Annotated[
        str, typer.Option("--sites-outside", help="A site outside every unit: error or drop")
    ] = "error",
    villages: Annotated[
        bool, typer.Option("--villages/--no-villages", help="Keep natural villages whole")
    ] = True,
    code_scheme: Annotated[
        str,
        typer.Option(
            "--code-scheme",
            help="Grid codes: auto (stats12 for 12-digit unit codes, else local), "
            "stats12, beijing15, village6 or local",
        ),
    ] = AUTO_SCHEME,
    previous: Annotated[
        Path | None,
        typer.Option("--previous", help="Previous plan: unchanged grids keep their codes"),
    ] = None,
    cells: Annotated[
        int | None, typer.Option("--cells", help="Also write unit cells of at most N households")
    ] = None,
    roster: Annotated[
        Path | None, typer.Option("--roster", help="Staff roster CSV to check")
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="Rules per unit (TOML/YAML: band, grids, mode, min_people); default: the "
            "boundary layer's rule columns, if any",
        ),
    ] = None,
    cuts: Annotated[
        str,
        typer.Option(
            "--cuts",
            help="A block above --max is cut along its inner streets, lanes, walls and water "
            "first (streets) or by straight compact cuts first (compact)",
        ),
    ] = "streets",
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    verbose: common.VerboseOpt = False,
) -> None:
    """Partition an area into grids of --min to --max households along streets."""
    common.setup_logging(verbose)
    band = gis.Band(min_households, max_households, target)  # before the slow reading
    cut_mode = check_cuts(cuts)
    if not math.isfinite(min_site_area) or min_site_area < 0:
        msg = f"--min-site-area must be a number of m², 0 or more, not {min_site_area}"
        raise OptionError(msg)
    target_crs = parse_crs(out_crs)
    inputs = [source, boundary, roads, households, buildings, sites, previous, roster, rules]
    report = report or out.with_suffix(".json")
    common.check_outputs([out, report, map_path], inputs)
    with (
        connect(workers=workers, scheduler=scheduler) as client,
        common.progress_bar() as update,
    ):
        update("reading inputs", 0, 1)
        area = common.read_area(
            source,
            boundary=boundary,
            roads=roads,
            households=households,
            buildings=buildings,
            sites=sites,
            household_column=household_column,
            crs=crs,
            input_crs=input_crs,
        )
        plan = gis.partition(
            area,
            band=band,
            seed=seed,
            estimate=common.check_estimate(estimate),
            dedicated=dedicated,
            site_kinds=_kinds(site_kinds),
            min_site_area_m2=min_site_area,
            sites_outside=sites_outside,
            villages=villages,
            code_scheme=code_scheme,
            previous=previous,
            cells=cells,
            roster=roster,
            progress=update,
            client=client,
            rules=rules,
            cuts=cut_mode,
        )
    html = plan.explore().get_root().render() if map_path is not None else None
    with atomic_paths([p for p in (out, report, map_path) if p is not None]) as staged:
        plan.to_file(staged[0], crs=target_crs, report=staged[1])  # all three, or none
        if html is not None:
            write_text(staged[2], html)
    _print_plan(plan.report, out)
    if not plan.ok:
        raise typer.Exit(EXIT_VIOLATIONS)


def validate_command(
    plan_path: Annotated[Path, typer.Argument(help="Plan GeoPackage (layer grids)")],
    against: Annotated[
        Path | None,
        typer.Option("--against", help="The inputs the plan was drawn from (as for blocks)"),
    ] = None,
    min_households: OptMinOpt = None,
    max_households: OptMaxOpt = None,
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
    own = read_band(plan_path) or gis.Band()
    lo = own.min_households if min_households is None else min_households
    hi = own.max_households if max_households is None else max_households
    band = gis.Band(lo, hi, own.target if lo <= own.target <= hi else None)  # type: ignore[arg-type]
    if report is not None:
        common.check_outputs([report], [plan_path, against, boundary, roads, households])
    grids = common.read_grids(plan_path, layer=layer)
    area = common.read_area(
        against,
        boundary=boundary,
        roads=roads,
        households=households,
        buildings=buildings,
        household_column=household_column,
        crs=crs,
        input_crs=input_crs,
    )
    result = gis.validate(grids, area, band=band, estimate=common.check_estimate(estimate))
    if report is not None:
        write_json(report, result.to_dict())
    _print_report(result, plan_path)
    if not result.ok:
        raise typer.Exit(EXIT_VIOLATIONS)


def register(app: typer.Typer) -> None:
    """Add the ``partition`` and ``validate`` commands to ``app``."""
    app.command("partition")(common.handle_errors(partition_command))
    app.command("validate")(common.handle_errors(validate_command))


def _kinds(value: str | None) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_SITE_KINDS
    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    if not kinds:
        msg = f"--site-kinds names no kind: {value!r}; give e.g. school,hospital"
        raise OptionError(msg)
    return kinds


def _print_plan(report: PlanReport, out: Path) -> None:
    summary = report.summary()
    common.console.print(
        f"{summary['n_grids']} grids from {summary['n_blocks']} blocks "
        f"({summary['blocks_split']} split between grids), "
        f"{summary['share_in_band']:.1%} in band {report.band} → {out}"
    )
    for unit in report.units:
        common.console.print(
            f"  {unit.unit_code} {unit.unit_name}: {unit.n_ordinary} ordinary, "
            f"{unit.n_dedicated} dedicated, {unit.households} households, "
            f"{unit.share_in_band:.0%} in band",
            highlight=False,
        )
    for exc in report.exceptions:
        common.console.print(f"  grid {exc.grid_id}: {exc.detail}", highlight=False)
    _print_metrics(report)


def _print_report(result: PlanReport, path: Path) -> None:
    common.console.print(f"{path}: {'valid' if result.ok else 'INVALID'} (band {result.band})")
    _print_metrics(result)
    for exc in result.exceptions:
        common.err_console.print(
            f"  grid {exc.grid_id}: {exc.detail}", highlight=False, soft_wrap=True
        )


def _print_metrics(report: PlanReport) -> None:
    metrics: dict[str, Any] = report.metrics
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
    violations = report.checks.violations
    for v in violations[:50]:
        common.err_console.print(f"  {v['check']}: {v['message']}", highlight=False, soft_wrap=True)
    if len(violations) > 50:
        common.err_console.print(f"  … and {len(violations) - 50} more")
