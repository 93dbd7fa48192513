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
  ``street_buffer_m`` of a street line or a unit boundary;
* **compactness** (figure) — Polsby–Popper ``4 pi A / P²`` per grid and its mean.
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
from gis.errors import CRSError
from gis.geometry.ownership import assign_features, assign_polygons

if TYPE_CHECKING:
    from gis.blocks.build import BlockSet

log = logging.getLogger(__name__)

#: Boundary pieces (m) the street-share check measures at a time.
SEGMENT_M = 5.0


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
    min_households: int,
    max_households: int,
    street_buffer_m: float = 3.0,
    tolerance_m2: float = 1.0,
    building_overlap_m2: float = 0.5,
    inner_lines: gpd.GeoDataFrame | None = None,
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
    min_households, max_households
        The band.
    street_buffer_m
        Distance (m) within which grid boundary counts as lying on a street or unit boundary.
    tolerance_m2
        Gap, overlap and crossing areas up to this (m²) are accepted.
    building_overlap_m2
        A building overlapping two grids by more than this (m²) each is split.
    inner_lines
        Service roads, footways and walls inside blocks: boundary along them counts in the
        ``visible_share`` figure (boundary on any line one can see on the ground).

    Returns
    -------
    Report

    Raises
    ------
    CRSError
        When the grids are not in a projected CRS or a layer is in another CRS.
    """
    _check_crs(grids, buildings=buildings, streets=streets, units=units, households=households)
    geoms = grids.geometry.to_numpy()
    ids = grids[col.GRID_ID].to_numpy() if col.GRID_ID in grids.columns else np.arange(len(grids))
    ordinary = (
        (grids[col.KIND].astype(str) == "ordinary").to_numpy()
        if col.KIND in grids.columns
        else np.ones(len(grids), dtype=bool)
    )
    violations: list[dict[str, Any]] = []
    unit_geoms = units.geometry.to_numpy() if len(units) else np.empty(0, dtype=object)
    unit_codes = units[col.UNIT_CODE].to_numpy() if len(units) else np.empty(0, dtype=object)

    invalid = ~shapely.is_valid(geoms)
    if invalid.any():  # e.g. a ring collapsed by reprojection: repair, flag real damage only
        geoms = geoms.copy()
        repaired = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        change = np.abs(shapely.area(repaired) - shapely.area(geoms[invalid]))
        for i, delta in zip(np.flatnonzero(invalid), change, strict=True):
            if delta > tolerance_m2:
                violations.append(
                    _v(
                        "geometry",
                        ids[i],
                        shapely.is_valid_reason(geoms[i]),
                        f"grid {ids[i]} is not a valid polygon ({delta:.1f} m² in question)",
                    )
                )
        geoms[invalid] = repaired

    parts = shapely.get_num_geometries(geoms)
    for i in np.flatnonzero(parts != 1):
        violations.append(
            _v(
                "contiguity",
                ids[i],
                int(parts[i]),
                f"grid {ids[i]} has {parts[i]} parts (must be one polygon)",
            )
        )

    grid_unit, overlap_m2, gap_m2, crossing_m2 = _coverage(
        geoms, ids, unit_geoms, unit_codes, tolerance_m2, violations
    )
    hh, outside_hh = _households(geoms, households)
    if outside_hh > 0:
        violations.append(
            _v("households", None, outside_hh, f"{outside_hh} households lie outside every grid")
        )
    in_band = (hh >= min_households) & (hh <= max_households)
    for i in np.flatnonzero(ordinary & ~in_band):
        violations.append(
            _v(
                "band",
                ids[i],
                int(hh[i]),
                f"grid {ids[i]} holds {hh[i]} households, outside "
                f"{min_households}–{max_households}",
            )
        )
    split = _split_buildings(geoms, buildings, building_overlap_m2)
    for b, gs in split:
        violations.append(
            _v(
                "buildings",
                [ids[g] for g in gs],
                b,
                f"building #{b} is split between grids {[ids[g] for g in gs]}",
            )
        )

    pp = polsby_popper(geoms)
    refs = [streets.geometry.to_numpy()] if len(streets) else []
    if len(unit_geoms):
        refs.append(shapely.boundary(unit_geoms))
    street_len, total_len = _near_lengths(geoms, refs, street_buffer_m)
    if inner_lines is not None and len(inner_lines):
        refs.append(inner_lines.geometry.to_numpy())
        visible_len, _ = _near_lengths(geoms, refs, street_buffer_m)
    else:
        visible_len = street_len
    street_share = np.where(total_len > 0, street_len / np.where(total_len > 0, total_len, 1), 0)

    per_grid = pd.DataFrame(
        {
            col.GRID_ID: ids,
            col.UNIT_CODE: grid_unit,
            col.HOUSEHOLDS: hh,
            "parts": parts,
            "polsby_popper": pp,
            "street_share": street_share,
            "in_band": in_band,
            "ordinary": ordinary,
        }
    )
    n_ord = int(ordinary.sum())
    metrics: dict[str, Any] = {
        "n_grids": len(grids),
        "n_ordinary": n_ord,
        "share_in_band": float(in_band[ordinary].mean()) if n_ord else 1.0,
        "min_households": int(hh[ordinary].min()) if n_ord else None,
        "max_households": int(hh[ordinary].max()) if n_ord else None,
        "households_total": int(hh.sum()) + outside_hh,
        "households_outside": outside_hh,
        "gap_m2": gap_m2,
        "overlap_m2": overlap_m2,
        "crossing_m2": crossing_m2,
        "multipart_grids": int((parts > 1).sum()),
        "invalid_repaired": int(invalid.sum()),
        "buildings_split": len(split),
        "polsby_popper_mean": float(pp.mean()) if len(pp) else None,
        "street_share": float(street_len.sum() / total_len.sum()) if total_len.sum() else None,
        "street_share_mean": float(street_share.mean()) if len(street_share) else None,
        "visible_share": float(visible_len.sum() / total_len.sum()) if total_len.sum() else None,
        "band": [int(min_households), int(max_households)],
    }
    return Report(ok=not violations, violations=violations, metrics=metrics, grids=per_grid)


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
        inter = shapely.area(shapely.intersection(geoms[a], geoms[b]))
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
    inside[ok] = shapely.area(shapely.intersection(geoms[ok], unit_geoms[where[ok]]))
    outside = shapely.area(geoms) - inside
    crossing = float(outside.sum())
    for i in np.flatnonzero(outside > tolerance_m2):
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


def _near_lengths(
    geoms: npt.NDArray[np.object_],
    refs: list[npt.NDArray[np.object_]],
    buffer_m: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Boundary length per grid within ``buffer_m`` of any line in ``refs``, and in total."""
    rings, ring_grid = shapely.get_rings(geoms, return_index=True)
    dense = shapely.segmentize(rings, SEGMENT_M)
    coords, ring_of = shapely.get_coordinates(dense, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    start, end = coords[:-1][same], coords[1:][same]
    seg_grid = ring_grid[ring_of[:-1][same]]
    length = np.hypot(*(end - start).T)
    total = np.bincount(seg_grid, weights=length, minlength=len(geoms))
    if not refs:
        return np.zeros(len(geoms)), total.astype(np.float64)
    ref = np.concatenate(refs)
    ref = ref[~shapely.is_empty(ref)]
    mids = shapely.points((start + end) / 2.0)
    near_idx, _ = shapely.STRtree(ref).query(mids, predicate="dwithin", distance=buffer_m)
    near = np.zeros(len(mids), dtype=bool)
    near[near_idx] = True
    street = np.bincount(seg_grid[near], weights=length[near], minlength=len(geoms))
    return street.astype(np.float64), total.astype(np.float64)


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


def validate_against(
    grids: gpd.GeoDataFrame,
    blockset: BlockSet,
    *,
    min_households: int,
    max_households: int,
    households: gpd.GeoDataFrame | None = None,
) -> Report:
    """:func:`validate_plan` against the inputs a block set was cut from.

    Parameters
    ----------
    grids
        The plan's grids, in ``blockset.crs``.
    blockset
        Buildings, streets, units, households and inner lines to check against.
    min_households, max_households
        The household band.
    households
        Household features to count instead of ``blockset.households`` (after a change).
    """
    return validate_plan(
        grids,
        buildings=blockset.buildings,
        streets=blockset.streets,
        units=blockset.units,
        households=blockset.households if households is None else households,
        min_households=min_households,
        max_households=max_households,
        inner_lines=blockset.inner_lines,
    )
