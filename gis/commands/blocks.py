"""``wangge blocks``: cut an area into street blocks, write them, their graph and a map.

The outputs (blocks GeoPackage, JSON report, optional map) are checked before any work (none
may be an input, each folder must be writable) and written all or none: each is staged
under a temporary name and the three are renamed into place only when all are complete.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
import shapely
import typer
from rich.table import Table

from gis import columns as col
from gis.checks.coverage import buildings_not_whole, unit_summary
from gis.commands import common
from gis.geometry.crs import parse_crs
from gis.inputs.prepare import Prepared
from gis.outputs.files import atomic_paths, write_json, write_layers, write_text


def blocks_report(prepared: Prepared, *, seconds: float) -> dict[str, Any]:
    """Figures and checks for a block set, JSON-ready."""
    bs = prepared.blockset
    units = unit_summary(bs.blocks, bs.units)
    source_total = int(prepared.blockset.households[col.HOUSEHOLDS].sum())
    return {
        "source": prepared.area.source,
        "crs": bs.crs.to_string(),
        "household_source": prepared.household_source,
        "households_estimated": prepared.household_source == "estimated",
        "estimate": prepared.estimate,
        "blocks": len(bs.blocks),
        "households": int(bs.blocks[col.HOUSEHOLDS].sum()),
        "households_in_area": source_total,
        "buildings": len(bs.buildings),
        "buildings_split": buildings_not_whole(bs.buildings, bs.blocks, key=col.BLOCK_ID),
        "gap_m2": float(sum(u["gap_m2"] for u in units)),  # type: ignore[misc]
        "overlap_m2": float(sum(u["overlap_m2"] for u in units)),  # type: ignore[misc]
        "adjacent_pairs": bs.graph.number_of_edges(),
        "units": units,
        "seconds": round(seconds, 3),
    }


def adjacency_lines(prepared: Prepared) -> gpd.GeoDataFrame:
    """The block graph as lines between blocks' inner points, with shared length."""
    bs = prepared.blockset
    pts = shapely.point_on_surface(bs.blocks.geometry.to_numpy())
    edges = list(bs.graph.edges(data=True))
    a = np.asarray([u for u, _, _ in edges], dtype=np.int64)
    b = np.asarray([v for _, v, _ in edges], dtype=np.int64)
    lines = (
        shapely.linestrings(
            np.stack([shapely.get_coordinates(pts[a]), shapely.get_coordinates(pts[b])], axis=1)
        )
        if edges
        else np.asarray([], dtype=object)
    )
    return gpd.GeoDataFrame(
        {
            "block_a": a,
            "block_b": b,
            col.SHARED_M: [d[col.SHARED_M] for _, _, d in edges],
            "street": [d["street"] for _, _, d in edges],
        },
        geometry=lines,
        crs=bs.crs,
    )


def register(app: typer.Typer) -> None:
    """Add the ``blocks`` command to ``app``."""

    @app.command("blocks")
    @common.handle_errors
    def blocks(
        source: common.Source = None,
        out: Annotated[
            Path, typer.Option("--out", help="Output GeoPackage (blocks, buildings, adjacency)")
        ] = Path("blocks.gpkg"),
        map_path: Annotated[
            Path | None, typer.Option("--map", help="Write a folium HTML map here")
        ] = None,
        report: Annotated[
            Path | None, typer.Option("--report", help="JSON report (default: beside --out)")
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
        verbose: common.VerboseOpt = False,
    ) -> None:
        """Cut an area into street blocks with households, and write their adjacency graph."""
        common.setup_logging(verbose)
        target_crs = parse_crs(out_crs)
        report_path = report or out.with_suffix(".json")
        inputs = [source, boundary, roads, households, buildings, sites]
        common.check_outputs([out, report_path, map_path], inputs)
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
        seconds = time.perf_counter() - started
        summary = blocks_report(prepared, seconds=seconds)
        summary["output_crs"] = target_crs.to_string()
        _write_outputs(prepared, summary, (out, report_path, map_path), crs=target_crs)
        _print_summary(summary, out, map_path)


def _write_outputs(
    prepared: Prepared,
    summary: dict[str, Any],
    targets: tuple[Path, Path, Path | None],
    *,
    crs: Any,
) -> None:
    """Blocks, report and map, all or none (:func:`gis.outputs.files.atomic_paths`)."""
    bs = prepared.blockset
    html = None
    if targets[2] is not None:
        from gis.outputs.maps import blocks_map  # noqa: PLC0415  (folium only if asked)

        fmap = blocks_map(bs.blocks, streets=bs.streets, buildings=bs.buildings)
        html = fmap.get_root().render()
    with atomic_paths([t for t in targets if t is not None]) as staged:
        layers = {
            "blocks": bs.blocks,
            "buildings": bs.buildings,
            "adjacency": adjacency_lines(prepared),
            "units": bs.units,
        }
        write_layers(staged[0], layers, crs=crs)
        write_json(staged[1], summary)
        if html is not None:
            write_text(staged[2], html)


def _print_summary(summary: dict[str, Any], out: Path, map_path: Path | None) -> None:
    table = Table(title=f"Street blocks of {summary['source']}")
    for name in ("unit", "blocks", "households", "buildings", "gap m²", "overlap m²"):
        table.add_column(name, justify="right" if name != "unit" else "left")
    for u in summary["units"]:
        table.add_row(
            f"{u['unit_code']} {u['unit_name']}",
            str(u["blocks"]),
            str(u["households"]),
            str(u["buildings"]),
            f"{u['gap_m2']:.3f}",
            f"{u['overlap_m2']:.3f}",
        )
    common.console.print(table)
    est = " (estimated from buildings)" if summary["households_estimated"] else ""
    common.console.print(
        f"{summary['blocks']} blocks, {summary['households']} households{est}, "
        f"{summary['buildings']} buildings ({summary['buildings_split']} split) "
        f"in {summary['seconds']:.1f} s; work CRS {summary['crs']}, "
        f"output CRS {summary['output_crs']} → {out}" + (f", map {map_path}" if map_path else "")
    )
