"""Checking a plan from its geometry alone.

:func:`validate_plan` never trusts numbers stored with the grids: households are re-assigned
from the household features, coverage is measured against the administrative units, and
every shape figure is recomputed. Checks:

* **coverage** — area of each unit not covered by any grid (gap), area covered twice
  (overlap), area of a grid outside the unit it mostly lies in (crossing);
* **band** — households per ordinary grid within ``[min_households, max_households]``;
  household points go to one grid by the boundary rule of :mod:`gis.geometry.ownership`, household
  polygons to the grid they overlap most; households outside every grid are a violation;
* **contiguity** — a grid made of more than one polygon;
* **buildings** — a footprint overlapping more than one grid by more than
  ``building_overlap_m2`` each;
* **streets** (figure, not a violation) — share of grid boundary length within
  ``Tolerances.on_street_m`` of a street line or a unit boundary;
* **compactness** (figure) — Polsby–Popper ``4 pi A / P²`` per grid and its mean;
* **empty** — a plan with no grid at all; **outside** — a grid no unit of the area holds any
  of; **no households** — an ordinary grid that holds no household once recounted.

:func:`check_plan_table` adds what a plan *file* must hold before anyone may use it (the
``grid_code`` and ``households`` columns, unique non-empty codes, counts that are numbers);
:func:`gis.validate` runs both, so a plan is never called good on an assumption.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gis import columns as col
from gis.checks.street_share import lines_of, near_lengths, near_lengths_on
from gis.errors import CRSError
from gis.geometry.ownership import INTERIORS_MEET, assign_features, assign_polygons
from gis.options import DEFAULT_TOLERANCES, Band, Tolerances

if TYPE_CHECKING:
    from distributed import Client

    from gis.blocks.build import BlockSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Report:
    """Outcome of :func:`validate_plan`.

    Attributes
    ----------
    ok
        True when no check found a violation.
    violations
        One record per violation: ``check``, ``grid_id`` (or ``unit_code``), ``value`` and a
        readable ``message``.
    metrics
        Plan-wide figures (shares in 0–1, areas in m², lengths in m).
    grids
        Per-grid figures recomputed from geometry: ``grid_id``, ``unit_code``,
        ``households``, ``parts``, ``polsby_popper``, ``street_share``, ``in_band``.
    """

    ok: bool
    violations: list[dict[str, Any]]
    metrics: dict[str, Any]
    grids: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (plain Python numbers and strings)."""
        records = [
            {k: to_json_value(v) for k, v in row.items()} for row in self.grids.to_dict("records")
        ]
        return {
            "ok": self.ok,
            "metrics": {k: to_json_value(v) for k, v in self.metrics.items()},
            "violations": [{k: to_json_value(v) for k, v in d.items()} for d in self.violations],
            "grids": records,
        }


def validate_plan(
    grids: gpd.GeoDataFrame,
    *,
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame,
    band: Band,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    inner_lines: gpd.GeoDataFrame | None = None,
    client: Client | None = None,
) -> Report:
    """Recompute every check of a plan from geometry.

    Parameters
    ----------
    grids
        The plan: polygons in a metric CRS; ``grid_id`` (else the row position) and
        optionally ``kind`` (only ``ordinary`` grids are held to the band). Other columns are
        ignored.
    buildings
        Building footprints (polygons) in the same CRS.
    streets
        Street lines in the same CRS.
    units
        Administrative units (``unit_code``, polygons) the grids must tile.
    households
        Household features (points or polygons) with a ``households`` count.
    band
        The household band of ordinary grids.
    tolerances
        ``gap_m2`` (gap, overlap and crossing accepted), ``building_overlap_m2`` (a building
        overlapping two grids by more than this each is split), ``on_street_m`` (boundary
        within this of a street or unit boundary lies on it).
    inner_lines
        Service roads, footways and walls inside blocks: boundary along them counts in the
        ``visible_share`` figure (boundary on any line one can see on the ground).
    client
        A :class:`distributed.Client`: the street-share figures of a plan of at least
        :data:`gis.checks.street_share.CLUSTER_MIN_GRIDS` grids are measured on its workers,
        a run of grids per task with the lines near them (the same figures as here).

    Returns
    -------
    Report

    Raises
    ------
    CRSError
        When the grids are not in a projected CRS or a layer is in another CRS.
    """
    _check_crs(grids, buildings=buildings, streets=streets, units=units, households=households)
    ids = grids[col.GRID_ID].to_numpy() if col.GRID_ID in grids.columns else np.arange(len(grids))
    ordinary = (
        (grids[col.KIND].astype(str) == col.ORDINARY).to_numpy()
        if col.KIND in grids.columns
        else np.ones(len(grids), dtype=bool)
    )
    violations: list[dict[str, Any]] = []
    if len(grids) == 0:
        violations.append(_v("empty", None, 0, "the plan holds no grids"))
    unit_geoms = units.geometry.to_numpy() if len(units) else np.empty(0, dtype=object)
    unit_codes = units[col.UNIT_CODE].to_numpy() if len(units) else np.empty(0, dtype=object)
    geoms, n_repaired = _repair_invalid(grids.geometry.to_numpy(), ids, tolerances, violations)
    parts = _contiguity(geoms, ids, violations)
    grid_unit, overlap_m2, gap_m2, crossing_m2 = _coverage(
        geoms, ids, unit_geoms, unit_codes, tolerances.gap_m2, violations
    )
    hh, outside_hh = _households(geoms, households)
    if outside_hh > 0:
        violations.append(
            _v("households", None, outside_hh, f"{outside_hh} households lie outside every grid")
        )
    in_band = band.contains(hh)
    for i in np.flatnonzero(ordinary & (hh == 0)):
        msg = f"grid {ids[i]} holds no households: an ordinary grid must serve someone"
        violations.append(_v("no_households", ids[i], 0, msg))
    for i in np.flatnonzero(ordinary & ~in_band):
        msg = f"grid {ids[i]} holds {hh[i]} households, outside {band}"
        violations.append(_v("band", ids[i], int(hh[i]), msg))
    split = _split_buildings(geoms, buildings, tolerances.building_overlap_m2)
    for b, gs in split:
        where = [ids[g] for g in gs]
        violations.append(
            _v("buildings", where, b, f"building #{b} is split between grids {where}")
        )
    shape = _shape_figures(
        geoms, streets, unit_geoms, inner_lines, tolerances.on_street_m, client=client
    )
    per_grid = pd.DataFrame(
        {
            col.GRID_ID: ids,
            col.UNIT_CODE: grid_unit,
            col.HOUSEHOLDS: hh,
            "parts": parts,
            "polsby_popper": shape["pp"],
            "street_share": shape["street_share"],
            "in_band": in_band,
            "ordinary": ordinary,
        }
    )
    metrics: dict[str, Any] = {
        "n_grids": len(grids),
        "n_ordinary": int(ordinary.sum()),
        "share_in_band": band.share_in_band(hh[ordinary]),
        "min_households": int(hh[ordinary].min()) if ordinary.any() else None,
        "max_households": int(hh[ordinary].max()) if ordinary.any() else None,
        "households_total": int(hh.sum()) + outside_hh,
        "households_outside": outside_hh,
        "gap_m2": gap_m2,
        "overlap_m2": overlap_m2,
        "crossing_m2": crossing_m2,
        "multipart_grids": int((parts > 1).sum()),
        "invalid_repaired": n_repaired,
        "buildings_split": len(split),
        **shape["metrics"],
        "band": [band.min_households, band.max_households],
    }
    return Report(ok=not violations, violations=violations, metrics=metrics, grids=per_grid)


def _repair_invalid(
    geoms: npt.NDArray[np.object_],
    ids: npt.NDArray[Any],
    tolerances: Tolerances,
    violations: list[dict[str, Any]],
) -> tuple[npt.NDArray[np.object_], int]:
    """Repair invalid outlines (e.g. a ring collapsed by reprojection); flag real damage only."""
    invalid = ~shapely.is_valid(geoms)
    if not invalid.any():
        return geoms, 0
    geoms = geoms.copy()
    repaired = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
    change = np.abs(shapely.area(repaired) - shapely.area(geoms[invalid]))
    for i, delta in zip(np.flatnonzero(invalid), change, strict=True):
        if delta > tolerances.gap_m2:
            msg = f"grid {ids[i]} is not a valid polygon ({delta:.1f} m² in question)"
            violations.append(_v("geometry", ids[i], shapely.is_valid_reason(geoms[i]), msg))
    geoms[invalid] = repaired
    return geoms, int(invalid.sum())


def _contiguity(
    geoms: npt.NDArray[np.object_], ids: npt.NDArray[Any], violations: list[dict[str, Any]]
) -> npt.NDArray[np.int64]:
    """Parts per grid; a grid of more than one polygon is a violation."""
    parts = shapely.get_num_geometries(geoms)
    for i in np.flatnonzero(parts != 1):
        msg = f"grid {ids[i]} has {parts[i]} parts (must be one polygon)"
        violations.append(_v("contiguity", ids[i], int(parts[i]), msg))
    return np.asarray(parts, dtype=np.int64)


def _shape_figures(
    geoms: npt.NDArray[np.object_],
    streets: gpd.GeoDataFrame,
    unit_geoms: npt.NDArray[np.object_],
    inner_lines: gpd.GeoDataFrame | None,
    on_street_m: float,
    client: Client | None = None,
) -> dict[str, Any]:
    """Compactness and street-following per grid and for the plan (figures, not checks)."""
    pp = polsby_popper(geoms)
    refs = [streets.geometry.to_numpy()] if len(streets) else []
    if len(unit_geoms):
        refs.append(shapely.boundary(unit_geoms))
    inner = [inner_lines.geometry.to_numpy()] if inner_lines is not None else []
    groups = [lines_of(refs), lines_of(inner)]
    if client is None or len(geoms) == 0:
        (street_len, visible_len), total_len = near_lengths(geoms, groups, on_street_m)
    else:
        (street_len, visible_len), total_len = near_lengths_on(client, geoms, groups, on_street_m)
    street_share = np.where(total_len > 0, street_len / np.where(total_len > 0, total_len, 1), 0)
    total = float(total_len.sum())
    return {
        "pp": pp,
        "street_share": street_share,
        "metrics": {
            "polsby_popper_mean": float(pp.mean()) if len(pp) else None,
            "street_share": float(street_len.sum()) / total if total else None,
            "street_share_mean": float(street_share.mean()) if len(street_share) else None,
            "visible_share": float(visible_len.sum()) / total if total else None,
        },
    }


def polsby_popper(geoms: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Polsby–Popper compactness ``4 pi A / P²`` of each polygon (1 for a disc, 0 if empty).

    The one definition of compactness in the library: metric CRS, area in m², perimeter in m.
    """
    arr = np.asarray(geoms.to_numpy() if isinstance(geoms, gpd.GeoSeries) else geoms)
    area = shapely.area(arr)
    perim = shapely.length(arr)
    return np.where(perim > 0, 4 * math.pi * area / np.where(perim > 0, perim, 1) ** 2, 0.0)


def _check_crs(grids: gpd.GeoDataFrame, **layers: gpd.GeoDataFrame) -> None:
    """Every layer in the grids' projected CRS."""
    if grids.crs is None or not grids.crs.is_projected:
        msg = (
            f"grids must be in a projected metric CRS, got {grids.crs}; reproject them "
            "(e.g. grids.to_crs(blockset.crs))"
        )
        raise CRSError(msg)
    for name, layer in layers.items():
        if len(layer) and layer.crs is not None and layer.crs != grids.crs:
            msg = (
                f"{name} are in {layer.crs.to_string()} but the grids in "
                f"{grids.crs.to_string()}; reproject {name} to the grids' CRS"
            )
            raise CRSError(msg)


def _coverage(
    geoms: npt.NDArray[np.object_],
    ids: npt.NDArray[Any],
    unit_geoms: npt.NDArray[np.object_],
    unit_codes: npt.NDArray[Any],
    tolerance_m2: float,
    violations: list[dict[str, Any]],
) -> tuple[npt.NDArray[np.object_], float, float, float]:
    """Unit of each grid, and total overlap, gap and crossing areas (m²)."""
    grid_unit = np.full(len(geoms), None, dtype=object)
    overlap = 0.0
    if len(geoms) > 1:
        a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        keep = a < b
        a, b = a[keep], b[keep]
        # most neighbours only touch: only pairs whose interiors meet are intersected
        inter = np.zeros(len(a))
        meet = shapely.relate_pattern(geoms[a], geoms[b], INTERIORS_MEET)
        inter[meet] = shapely.area(shapely.intersection(geoms[a[meet]], geoms[b[meet]]))
        overlap = float(inter.sum())
        for i, j, x in zip(
            a[inter > tolerance_m2],
            b[inter > tolerance_m2],
            inter[inter > tolerance_m2],
            strict=True,
        ):
            violations.append(
                _v(
                    "overlap",
                    [ids[i], ids[j]],
                    float(x),
                    f"grids {ids[i]} and {ids[j]} overlap by {x:.1f} m²",
                )
            )
    gap = crossing = 0.0
    if len(unit_geoms) == 0 or len(geoms) == 0:
        return grid_unit, overlap, gap, crossing
    where, _ = assign_polygons(geoms, unit_geoms)
    ok = where >= 0
    grid_unit[ok] = unit_codes[where[ok]]
    inside = np.zeros(len(geoms))
    inside[ok] = shapely.area(geoms[ok])  # a grid within its unit: no overlay needed
    cut = np.flatnonzero(ok)[~shapely.within(geoms[ok], unit_geoms[where[ok]])]
    inside[cut] = shapely.area(shapely.intersection(geoms[cut], unit_geoms[where[cut]]))
    outside = shapely.area(geoms) - inside
    crossing = float(outside.sum())
    for i in np.flatnonzero(~ok):
        msg = f"grid {ids[i]} lies outside the area: no unit of it holds any part of the grid"
        violations.append(_v("outside", ids[i], float(outside[i]), msg))
    for i in np.flatnonzero(ok & (outside > tolerance_m2)):
        violations.append(
            _v(
                "crossing",
                ids[i],
                float(outside[i]),
                f"grid {ids[i]} has {outside[i]:.1f} m² outside its unit {grid_unit[i]}",
            )
        )
    for u, ugeom in enumerate(unit_geoms):
        members = geoms[where == u]
        covered = shapely.union_all(members) if len(members) else shapely.Polygon()
        missing = float(shapely.area(shapely.difference(ugeom, covered)))
        gap += missing
        if missing > tolerance_m2:
            violations.append(
                _v(
                    "gap",
                    None,
                    missing,
                    f"{missing:.1f} m² of unit {unit_codes[u]} is in no grid",
                    unit_code=unit_codes[u],
                )
            )
    return grid_unit, overlap, gap, crossing


def _households(
    geoms: npt.NDArray[np.object_], households: gpd.GeoDataFrame
) -> tuple[npt.NDArray[np.int64], int]:
    """Households per grid re-assigned from features, and those outside every grid."""
    hh = np.zeros(len(geoms), dtype=np.int64)
    if len(households) == 0 or len(geoms) == 0:
        return hh, 0
    counts = households[col.HOUSEHOLDS].to_numpy().astype(np.int64)
    where = assign_features(households.geometry.to_numpy(), geoms)
    ok = where >= 0
    np.add.at(hh, where[ok], counts[ok])
    return hh, int(counts[~ok].sum())


def _split_buildings(
    geoms: npt.NDArray[np.object_], buildings: gpd.GeoDataFrame, overlap_m2: float
) -> list[tuple[int, list[int]]]:
    """Buildings (row position) overlapping more than one grid by more than ``overlap_m2``."""
    if len(buildings) == 0 or len(geoms) == 0:
        return []
    fps = buildings.geometry.to_numpy()
    bi, gi = shapely.STRtree(geoms).query(fps, predicate="intersects")
    counts = np.bincount(bi, minlength=len(fps))
    multi = counts[bi] > 1
    bi, gi = bi[multi], gi[multi]
    if len(bi) == 0:
        return []
    area = shapely.area(shapely.intersection(fps[bi], geoms[gi]))
    big = area > overlap_m2
    bi, gi = bi[big], gi[big]
    out: list[tuple[int, list[int]]] = []
    for b in np.unique(bi).tolist():
        gs = gi[bi == b].tolist()
        if len(gs) > 1:
            out.append((int(b), sorted(gs)))
    return out


def _v(check: str, grid_id: Any, value: Any, message: str, **extra: Any) -> dict[str, Any]:
    """One violation record."""
    return {"check": check, "grid_id": grid_id, "value": value, "message": message, **extra}


def to_json_value(value: Any) -> Any:
    """Numpy scalars and arrays to plain Python for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


PLAN_COLUMNS = (col.GRID_CODE, col.HOUSEHOLDS)
"""Columns a plan file must hold: every consumer (store, service, notice) reads them."""


def check_plan_table(grids: pd.DataFrame) -> list[dict[str, Any]]:
    """What a plan's attribute table must hold before its grids can be used.

    The ``grid_code`` and ``households`` columns must exist; every code must be present,
    non-empty and unique; every stored count a finite number of 0 or more. (The counts
    themselves are not trusted: :func:`validate_plan` recounts them from geometry.)

    Parameters
    ----------
    grids
        The plan's grids as read from its file.

    Returns
    -------
    list of dict
        Violation records (``check`` ``columns``, ``codes`` or ``households``), empty when the
        table is sound.
    """
    missing = [c for c in PLAN_COLUMNS if c not in grids.columns]
    found = []
    if missing:
        msg = (
            f"the plan has no {' or '.join(missing)} column (it has "
            f"{[c for c in grids.columns if c != 'geometry']}); a plan must say each grid's "
            "code and households"
        )
        found.append(_v("columns", None, missing, msg))
    if col.GRID_CODE in grids.columns:
        codes = grids[col.GRID_CODE]
        blank = codes.isna() | (codes.astype(str).str.strip() == "")
        if blank.any():
            rows = np.flatnonzero(blank.to_numpy())[:10].tolist()
            found.append(_v("codes", None, rows, f"grids at rows {rows} have no grid_code"))
        dup = sorted(set(codes[~blank & codes.duplicated(keep=False)].astype(str)))
        if dup:
            found.append(_v("codes", None, dup, f"grid codes appear more than once: {dup[:10]}"))
    if col.HOUSEHOLDS in grids.columns:
        values = pd.to_numeric(grids[col.HOUSEHOLDS], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            rows = np.flatnonzero(bad)[:10].tolist()
            msg = f"grids at rows {rows} have no valid households count (a number, 0 or more)"
            found.append(_v("households", None, rows, msg))
    return found


def with_violations(report: Report, violations: list[dict[str, Any]]) -> Report:
    """``report`` with more violations (so no longer ok when there are any)."""
    if not violations:
        return report
    return Report(
        ok=False,
        violations=[*violations, *report.violations],
        metrics=report.metrics,
        grids=report.grids,
    )


def table_for_report(grids: gpd.GeoDataFrame, checks: Report) -> gpd.GeoDataFrame:
    """``grids`` with what :func:`gis.report.build_report` reads filled in from the checks
    where the plan lacks it: ``grid_id`` (row order), recounted ``households`` and the
    ``parent_code`` of the unit each grid lies in."""
    out = grids.copy()
    if col.GRID_ID not in out.columns:
        out[col.GRID_ID] = np.arange(len(out), dtype=np.int64)
    recount = checks.grids.set_index(col.GRID_ID)
    if col.HOUSEHOLDS not in out.columns or not pd.api.types.is_numeric_dtype(out[col.HOUSEHOLDS]):
        out[col.HOUSEHOLDS] = out[col.GRID_ID].map(recount[col.HOUSEHOLDS]).fillna(0)
    out[col.HOUSEHOLDS] = pd.to_numeric(out[col.HOUSEHOLDS], errors="coerce")
    out[col.HOUSEHOLDS] = out[col.HOUSEHOLDS].where(np.isfinite(out[col.HOUSEHOLDS]), 0)
    if col.PARENT_CODE not in out.columns:
        out[col.PARENT_CODE] = out[col.GRID_ID].map(recount[col.UNIT_CODE])
    return out


def validate_against(
    grids: gpd.GeoDataFrame,
    blockset: BlockSet,
    *,
    band: Band,
    households: gpd.GeoDataFrame | None = None,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    client: Client | None = None,
) -> Report:
    """:func:`validate_plan` against the inputs a block set was cut from.

    Parameters
    ----------
    grids
        The plan's grids, in ``blockset.crs``.
    blockset
        Buildings, streets, units, households and inner lines to check against.
    band
        The household band.
    households
        Household features to count instead of ``blockset.households`` (after a change).
    tolerances, client
        See :func:`validate_plan`.
    """
    return validate_plan(
        grids,
        buildings=blockset.buildings,
        streets=blockset.streets,
        units=blockset.units,
        households=blockset.households if households is None else households,
        band=band,
        tolerances=tolerances,
        inner_lines=blockset.inner_lines,
        client=client,
    )
