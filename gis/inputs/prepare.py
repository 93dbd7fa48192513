"""From files to street blocks in one call: read, settle the household source, cut blocks.

This is the step every command and notebook starts with; it holds the rule for where
household counts come from:

1. a ``households`` layer (address points, building points or polygons) when present;
2. else a ``households`` column on the buildings;
3. else estimates from the buildings (:mod:`gis.inputs.households`), marked as estimated.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pyproj

from gis import columns as col
from gis.blocks.build import BlockSet, build_blocks
from gis.errors import HouseholdError
from gis.inputs.households import estimate_households, summarise_estimate
from gis.inputs.read import Area, check_households, read_area
from gis.options import DEFAULT_TOLERANCES, Progress, Tolerances

Estimate = Literal["auto", "always", "never"]


@dataclass(frozen=True)
class Prepared:
    """An area, its blocks, and how its households were obtained."""

    area: Area
    blockset: BlockSet
    household_source: str
    estimate: dict[str, Any] = field(default_factory=dict)


def settle_households(
    area: Area, *, estimate: Estimate = "auto", **estimate_options: Any
) -> tuple[Area, str, dict[str, Any]]:
    """Decide the household source of an area (see the module docstring).

    Returns
    -------
    tuple
        The area with households settled on its buildings or household layer, the name of
        the source (``households layer``, ``building counts`` or ``estimated``), and the
        estimate summary (empty unless estimated).

    Raises
    ------
    HouseholdError
        When ``estimate="never"`` and no counts exist, or there is nothing to count.
    """
    has_layer = not area.households.empty
    has_column = col.HOUSEHOLDS in area.buildings and not area.buildings.empty
    if estimate == "always" or (estimate == "auto" and not has_layer and not has_column):
        if area.buildings.empty:
            msg = (
                "no household counts and no buildings to estimate them from: add a "
                "'households' layer (points with a households column) or a 'buildings' layer"
            )
            raise HouseholdError(msg)
        estimated = estimate_households(
            area.buildings, landuse=area.landuse, pois=area.pois, **estimate_options
        )
        empty_src = area.households.iloc[0:0]
        return (
            replace(area, buildings=estimated, households=empty_src),
            "estimated",
            summarise_estimate(estimated),
        )
    if has_layer:
        return area, "households layer", {}
    if has_column:
        buildings = check_households(area.buildings)
        return replace(area, buildings=buildings), "building counts", {}
    msg = (
        "no household counts: add a 'households' layer or a 'households' column on buildings, "
        "or allow estimates from buildings (--estimate auto)"
    )
    raise HouseholdError(msg)


def prepare_blocks(
    source: str | Path | None = None,
    *,
    boundary: str | Path | None = None,
    roads: str | Path | None = None,
    households: str | Path | None = None,
    buildings: str | Path | None = None,
    sites: str | Path | None = None,
    household_column: str = col.HOUSEHOLDS,
    crs: str | int | pyproj.CRS | None = None,
    input_crs: str | int | pyproj.CRS | None = None,
    estimate: Estimate = "auto",
    estimate_options: dict[str, Any] | None = None,
    block_options: dict[str, Any] | None = None,
    progress: Progress | None = None,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> Prepared:
    """Read an area and cut it into street blocks with households placed.

    Parameters are those of :func:`gis.inputs.read.read_area`, plus ``estimate`` (see
    :func:`settle_households`), options passed to
    :func:`gis.inputs.households.estimate_households` and to :func:`gis.blocks.build.build_blocks`,
    and the ``tolerances`` of :func:`gis.blocks.build.build_blocks`.
    """
    area = read_area(
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
    area, origin, summary = settle_households(area, estimate=estimate, **(estimate_options or {}))
    options = {"tolerances": tolerances, **(block_options or {})}
    blockset = build_blocks(area, progress=progress, **options)
    return Prepared(area=area, blockset=blockset, household_source=origin, estimate=summary)
