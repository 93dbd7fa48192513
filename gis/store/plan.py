"""A plan as the stores see it: checked, normalised to EPSG:4326, and its version record.

Both stores accept the same GeoDataFrames and refuse the same bad plans, with the offending
grid codes named. The PostGIS store repeats the overlap and coverage checks in SQL inside its
publishing transaction; the functions here are the embedded store's checks and the shared
door checks (columns, types, codes, geometry validity).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from datetime import UTC, datetime
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gis import columns as col
from gis.errors import (
    CRSError,
    DuplicateGridCodeError,
    InputTypeError,
    PlanGapError,
    PlanOverlapError,
    StoreError,
    ValidationErrors,
)
from gis.geometry.crs import local_metric_crs
from gis.geometry.ownership import INTERIORS_MEET, NUDGE_DEG, assign_points
from gis.options import Band

STORE_CRS: Final = "EPSG:4326"
"""The one CRS every store keeps geometries in."""

KINDS: Final = ("ordinary", "dedicated")
GRID_COLUMNS: Final = (
    col.GRID_CODE,
    col.KIND,
    col.HOUSEHOLDS,
    col.PARENT_CODE,
    col.PARENT_NAME,
    col.AREA_M2,
    "site_kind",
    "site_name",
    col.HOUSEHOLDS_ESTIMATED,
)
"""What a store keeps of each grid. The last three are optional at the door: which site a
dedicated grid serves (kind and name; None for ordinary grids) and whether its households were
estimated from buildings rather than counted (False when not said)."""
OPTIONAL_GRID_COLUMNS: Final = (col.AREA_M2, "site_kind", "site_name", col.HOUSEHOLDS_ESTIMATED)
CELL_CODE: Final = "cell_code"
CELL_COLUMNS: Final = (CELL_CODE, col.GRID_CODE, col.HOUSEHOLDS)
UNIT_COLUMNS: Final = (col.UNIT_CODE, col.UNIT_NAME, "level", col.PARENT_CODE)
VERSION_ID: Final = "version_id"

MAX_OVERLAP_M2: Final = 0.01
"""Largest shared interior area (m²) of two grids still taken as touching, not overlapping.

Grids whose interiors meet (DE-9IM ``2********``) are measured, and refused only from this
area up. Reprojecting a T-junction (a vertex of one grid lying on its neighbour's edge, which
that neighbour lacks) to EPSG:4326 bends the two edges differently and leaves interiors
sharing slivers of ~1e-6 m²; without this floor such plans could never be stored.
"""

MAX_GAP_M2: Final = 1.0
"""Largest uncovered area of a unit (m²) still accepted as full coverage (rounding slivers)."""

DENSIFY_M: Final = 10.0
"""Longest edge (m) of a projected input before it is reprojected to EPSG:4326.

A straight edge in a projected CRS is a curve in longitude/latitude; reprojecting only its
end points leaves a chord off by millimetres per kilometre, enough to open gaps of several m²
between a long unit edge and the many-vertex grid edges along it. Densifying first keeps the
stored geometries within nanometres of the input.
"""

GEOD: Final = pyproj.Geod(ellps="WGS84")

NUDGE: Final = NUDGE_DEG
"""Degrees a point on a shared boundary is nudged to pick exactly one grid (≈ 0.1 mm); the
lookup side of the one ownership rule (:mod:`gis.geometry.ownership`)."""


State = Literal["draft", "submitted", "approved", "rejected"]
STATES: Final[tuple[State, ...]] = ("draft", "submitted", "approved", "rejected")
"""Where a version is in review: stored, sent for approval, in force (now or once), refused."""


@dataclasses.dataclass(frozen=True)
class VersionInfo:
    """One stored plan version: in review, in force, or once in force.

    Attributes
    ----------
    id
        Version number, increasing in the order versions were stored (drafts included).
    created_at
        When it was stored (UTC); for a plain publish also the start of its valid time.
    author, note
        Who proposed it and why.
    valid_from, valid_to
        Half-open valid time ``[valid_from, valid_to)``; ``valid_to`` is None while live.
        Both None for a version that was never approved: it was never in force.
    grids
        How many grids the version holds.
    band
        The household band the plan was drawn for (the default :class:`~gis.options.Band`
        for a version published without one); the service colours and reports the version
        by it.
    state
        One of :data:`STATES`: ``draft``, ``submitted``, ``approved`` or ``rejected``.
    submitted_at, reviewer, reviewed_at, review_note
        When it was sent for approval; who approved or rejected it, when, and why (a
        rejection's reason).
    rollback_of
        For a rollback, the earlier version whose plan this one re-publishes.
    """

    id: int
    created_at: datetime
    author: str
    note: str
    parameters: dict[str, Any]
    report: dict[str, Any]
    valid_from: datetime | None
    valid_to: datetime | None
    grids: int
    band: Band = dataclasses.field(default_factory=Band)
    state: State = "approved"
    submitted_at: datetime | None = None
    reviewer: str | None = None
    reviewed_at: datetime | None = None
    review_note: str = ""
    rollback_of: int | None = None

    @functools.cached_property
    def unit_bands(self) -> dict[str, Band]:
        """Units partitioned with a band of their own (rules per unit,
        :mod:`gis.rules.unit_rules`), from the version's ``unit_bands`` parameter: their
        grids are judged by it, the others by :attr:`band`."""
        found = self.parameters.get("unit_bands")
        out: dict[str, Band] = {}
        for code, numbers in found.items() if isinstance(found, dict) else ():
            try:
                out[str(code)] = Band(*map(int, numbers))
            except (TypeError, ValueError):  # a hand-edited store: judged by the version's band
                continue
        return out

    def band_of(self, unit_code: object) -> Band:
        """The band a grid of ``unit_code`` is judged by."""
        return self.unit_bands.get(str(unit_code), self.band)

    @property
    def approved(self) -> bool:
        """Whether it was approved (it is, or once was, in force)."""
        return self.state == "approved"

    @property
    def live(self) -> bool:
        """Whether this is the version in force now."""
        return self.approved and self.valid_from is not None and self.valid_to is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (timestamps as ISO 8601)."""
        out = dataclasses.asdict(self)
        for key in ("created_at", "valid_from", "valid_to", "submitted_at", "reviewed_at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        out["live"] = self.live
        return out


def state_of(value: object, version_id: int) -> State:
    """A stored version's state, checked (a store edited by hand may hold anything).

    Raises
    ------
    StoreError
        When it is none of :data:`STATES`.
    """
    for state in STATES:
        if value == state:
            return state
    msg = f"plan version {version_id} stores an unknown state {value!r}; expected {STATES}"
    raise StoreError(msg)


BandRow = tuple[int | None, int | None, int | None]
"""A band as stored: ``(band_min, band_max, band_target)``, all None when none was given."""


def band_row(band: Band | None) -> BandRow:
    """The stored columns of a version's band (three NULLs for a version without one).

    Raises
    ------
    InputTypeError
        When ``band`` is not a :class:`~gis.options.Band`.
    """
    if band is None:
        return (None, None, None)
    if not isinstance(band, Band):
        msg = f"band must be a gis.Band (e.g. Band(300, 800, target=500)), not {band!r}"
        raise InputTypeError(msg)
    return (band.min_households, band.max_households, band.target)


def band_of(row: BandRow, version_id: int) -> Band:
    """The band of a stored version: its own, or the default band when none was stored.

    Raises
    ------
    StoreError
        When the stored numbers are not a valid band (a store edited by hand).
    """
    lo, hi, target = row
    if lo is None and hi is None and target is None:
        return Band()
    msg = f"plan version {version_id} stores an invalid band {row}"
    if lo is None or hi is None:
        raise StoreError(f"{msg}: the minimum or the maximum is missing")
    try:
        return Band(int(lo), int(hi)) if target is None else Band(int(lo), int(hi), int(target))
    except (TypeError, ValueError) as exc:  # InputTypeError, OptionError
        raise StoreError(f"{msg}: {exc}") from exc


def spheroid_area_m2(geom: shapely.Geometry) -> float:
    """Area (m²) of a lon/lat geometry on the WGS 84 spheroid, like PostGIS geography."""
    area, _ = GEOD.geometry_area_perimeter(geom)
    return abs(float(area))


def to_store_crs(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` in EPSG:4326; projected input is densified to :data:`DENSIFY_M` first."""
    crs = gdf.crs
    if crs is not None and crs.is_projected and crs.axis_info[0].unit_name in ("metre", "meter"):
        gdf = gdf.set_geometry(shapely.segmentize(gdf.geometry.to_numpy(), DENSIFY_M), crs=crs)
    return gdf.to_crs(STORE_CRS)


def _require_gdf(gdf: object, what: str) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"{what} must be a GeoDataFrame, not {type(gdf).__name__}"
        raise InputTypeError(msg)
    if gdf.crs is None:
        msg = f"{what} has no CRS; set one (e.g. gdf.set_crs('EPSG:4326'))"
        raise CRSError(msg)
    return gdf


def _check_polygons(gdf: gpd.GeoDataFrame, key: str, what: str) -> list[str]:
    geoms = gdf.geometry.to_numpy()
    kinds = shapely.get_type_id(geoms)
    bad_type = ~np.isin(kinds, (3, 6)) | shapely.is_empty(geoms)
    problems = []
    if bad_type.any():
        codes = ", ".join(map(str, gdf.loc[bad_type, key].tolist()[:20]))
        problems.append(f"{what}: not a non-empty Polygon/MultiPolygon: {codes}")
    invalid = ~bad_type & ~shapely.is_valid(geoms)
    if invalid.any():
        codes = ", ".join(map(str, gdf.loc[invalid, key].tolist()[:20]))
        problems.append(
            f"{what}: invalid geometry (self-intersection?) in {codes}; repair with "
            "shapely.make_valid before publishing"
        )
    return problems


def prepare_grids(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Check a plan's grids and return them in EPSG:4326 with the stored columns only.

    Parameters
    ----------
    grids
        One row per grid (any CRS): grid_code, kind ('ordinary' or 'dedicated'),
        households, parent_code, parent_name, Polygon geometry; optional area_m2, site_kind,
        site_name, households_estimated.

    Returns
    -------
    geopandas.GeoDataFrame
        The stored columns; ``area_m2`` computed in the local UTM zone when absent.

    Raises
    ------
    DuplicateGridCodeError
        When a code appears twice (the codes are named).
    ValidationErrors
        Missing columns, unknown kinds, negative households, bad geometries.
    """
    grids = _require_gdf(grids, "grids")
    missing = [c for c in GRID_COLUMNS if c not in grids.columns and c not in OPTIONAL_GRID_COLUMNS]
    if missing:
        msg = f"grids lack column(s) {missing}; expected {list(GRID_COLUMNS)} and geometry"
        raise ValidationErrors([msg])
    if grids.empty:
        raise ValidationErrors(["grids: the plan has no grids"])
    codes = grids[col.GRID_CODE].astype(str)
    dup = codes[codes.duplicated()].unique().tolist()
    if dup:
        msg = f"grid codes appear more than once in the plan: {', '.join(sorted(dup))}"
        raise DuplicateGridCodeError(msg, dup)
    out = grids.copy()
    out[col.GRID_CODE] = codes
    problems = _check_polygons(out, col.GRID_CODE, "grids")
    bad_kind = ~out[col.KIND].isin(KINDS)
    if bad_kind.any():
        seen = sorted(set(map(str, out.loc[bad_kind, col.KIND])))
        problems.append(f"grids: kind must be one of {list(KINDS)}, saw {seen}")
    hh = pd.to_numeric(out[col.HOUSEHOLDS], errors="coerce")
    if hh.isna().any() or (hh < 0).any():
        problems.append("grids: households must be non-negative integers")
    if problems:
        raise ValidationErrors(problems)
    out[col.HOUSEHOLDS] = hh.round().astype("int64")
    out[col.PARENT_CODE] = out[col.PARENT_CODE].astype(str)
    out[col.PARENT_NAME] = out[col.PARENT_NAME].fillna("").astype(str)
    out[col.KIND] = out[col.KIND].astype(str)
    for name in ("site_kind", "site_name"):
        values = out[name] if name in out.columns else pd.Series(None, index=out.index)
        texts = [None if v is None or pd.isna(v) or v == "" else str(v) for v in values]
        out[name] = pd.Series(texts, index=out.index, dtype=object)  # None, not NaN: NULL
    estimated = out.get(col.HOUSEHOLDS_ESTIMATED, pd.Series(False, index=out.index))
    out[col.HOUSEHOLDS_ESTIMATED] = estimated.fillna(False).astype(bool)
    if col.AREA_M2 not in out.columns or out[col.AREA_M2].isna().any():
        out[col.AREA_M2] = out.to_crs(local_metric_crs(out)).geometry.area
    out[col.AREA_M2] = out[col.AREA_M2].astype(float)
    out = to_store_crs(out)
    return gpd.GeoDataFrame(
        out[[*GRID_COLUMNS, "geometry"]].reset_index(drop=True), geometry="geometry"
    )


def prepare_units(units: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Check administrative units (unit_code, unit_name, level, parent_code) → EPSG:4326."""
    if units is None:
        return None
    units = _require_gdf(units, "units")
    if col.UNIT_CODE not in units.columns:
        raise ValidationErrors([f"units lack column {col.UNIT_CODE!r}"])
    out = units.copy()
    for name in UNIT_COLUMNS:
        if name not in out.columns:
            out[name] = None if name != col.UNIT_NAME else ""
    out[col.UNIT_CODE] = out[col.UNIT_CODE].astype(str)
    out[col.UNIT_NAME] = out[col.UNIT_NAME].fillna("").astype(str)
    for name in ("level", col.PARENT_CODE):
        out[name] = out[name].map(lambda v: None if v is None or pd.isna(v) else str(v))
    dup = out[col.UNIT_CODE][out[col.UNIT_CODE].duplicated()].tolist()
    problems = [f"units: codes appear twice: {sorted(set(dup))}"] if dup else []
    problems += _check_polygons(out, col.UNIT_CODE, "units")
    if problems:
        raise ValidationErrors(problems)
    out = to_store_crs(out)
    return gpd.GeoDataFrame(
        out[[*UNIT_COLUMNS, "geometry"]].reset_index(drop=True), geometry="geometry"
    )


def prepare_cells(cells: gpd.GeoDataFrame | None, grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Check unit cells (cell_code, grid_code, households) against the grids → EPSG:4326."""
    if cells is None or len(cells) == 0:
        return gpd.GeoDataFrame(
            {c: pd.Series(dtype="int64" if c == col.HOUSEHOLDS else object) for c in CELL_COLUMNS},
            geometry=gpd.GeoSeries([], crs=STORE_CRS),
        )
    cells = _require_gdf(cells, "cells")
    missing = [c for c in CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise ValidationErrors([f"cells lack column(s) {missing}"])
    out = cells.copy()
    out[CELL_CODE] = out[CELL_CODE].astype(str)
    out[col.GRID_CODE] = out[col.GRID_CODE].astype(str)
    problems = _check_polygons(out, CELL_CODE, "cells")
    if out[CELL_CODE].duplicated().any():
        problems.append("cells: cell codes appear twice")
    orphans = sorted(set(out[col.GRID_CODE]) - set(grids[col.GRID_CODE]))
    if orphans:
        problems.append(f"cells name grids not in the plan: {orphans[:20]}")
    if problems:
        raise ValidationErrors(problems)
    out[col.HOUSEHOLDS] = pd.to_numeric(out[col.HOUSEHOLDS]).round().astype("int64")
    out = to_store_crs(out)
    return gpd.GeoDataFrame(
        out[[*CELL_COLUMNS, "geometry"]].reset_index(drop=True), geometry="geometry"
    )


def overlap_error(pairs: list[tuple[str, str]]) -> PlanOverlapError:
    """The error for grids whose interiors meet, naming the pairs."""
    shown = ", ".join(f"{a}/{b}" for a, b in pairs[:20])
    more = f" and {len(pairs) - 20} more" if len(pairs) > 20 else ""
    msg = (
        f"plan refused: {len(pairs)} pair(s) of grids overlap (interiors share area): "
        f"{shown}{more}; make neighbouring grids share only their boundary"
    )
    return PlanOverlapError(msg, [c for pair in pairs for c in pair])


def gap_error(gaps: list[tuple[str, float, list[str]]]) -> PlanGapError:
    """The error for units the grids leave uncovered: (unit code, gap m², bordering grids)."""
    shown = "; ".join(
        f"unit {unit}: {area:.1f} m² uncovered next to grids {', '.join(codes) or '(none)'}"
        for unit, area, codes in gaps[:20]
    )
    msg = (
        f"plan refused: grids leave gaps larger than {MAX_GAP_M2:g} m² in {len(gaps)} unit(s): "
        f"{shown}; extend those grids to the unit boundary"
    )
    return PlanGapError(msg, [c for _, _, codes in gaps for c in codes])


def check_overlaps(grids: gpd.GeoDataFrame) -> None:
    """Refuse grids whose interiors share area (DE-9IM test, not bounding boxes).

    Pairs found by ``relate_pattern(a, b, '2********')`` (this catches nesting too) are
    refused when they share at least :data:`MAX_OVERLAP_M2` (measured on the WGS 84 spheroid).

    Raises
    ------
    PlanOverlapError
        Naming every overlapping pair.
    """
    geoms = grids.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    meet = shapely.relate_pattern(geoms[left], geoms[right], INTERIORS_MEET)
    if meet.any():
        shared = shapely.intersection(geoms[left[meet]], geoms[right[meet]])
        meet[meet] = np.asarray([spheroid_area_m2(g) for g in shared]) >= MAX_OVERLAP_M2
    codes = grids[col.GRID_CODE].to_numpy()
    pairs = sorted(
        tuple(sorted((str(codes[a]), str(codes[b]))))
        for a, b in zip(left[meet], right[meet], strict=True)
    )
    if pairs:
        raise overlap_error(pairs)  # type: ignore[arg-type]


def check_coverage(grids: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None) -> None:
    """Refuse a plan whose grids leave more than 1 m² of a unit uncovered.

    The difference is taken on the geometries as stored (EPSG:4326) and measured on the
    WGS 84 spheroid, exactly as the PostGIS store does (``ST_Area(geography)``). Measuring
    it back in a projected CRS would hide reprojection slivers (their vertices map back onto
    one straight line).

    Raises
    ------
    PlanGapError
        Naming each gapped unit and the grids bordering its gap.
    """
    if units is None or units.empty:
        return
    geoms = grids.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    codes = grids[col.GRID_CODE].to_numpy()
    gaps: list[tuple[str, float, list[str]]] = []
    for code, unit in zip(units[col.UNIT_CODE], units.geometry, strict=True):
        mine = tree.query(unit, predicate="intersects")
        covered = shapely.union_all(geoms[mine]) if len(mine) else shapely.Polygon()
        gap = shapely.difference(unit, covered)
        if gap.is_empty:
            continue
        gap_m2 = spheroid_area_m2(gap)
        if gap_m2 >= MAX_GAP_M2:
            near = tree.query(gap, predicate="intersects")
            gaps.append((str(code), gap_m2, sorted(str(c) for c in codes[near])))
    if gaps:
        raise gap_error(gaps)


def pick_grid(grids: gpd.GeoDataFrame, lon: float, lat: float) -> str | None:
    """The one grid holding a point (EPSG:4326), with a fixed rule for shared boundaries.

    The ownership rule of :mod:`gis.geometry.ownership` with grids ordered by code: among the
    grids that cover the point, the one whose interior contains the point nudged by
    :data:`NUDGE`; the lowest code if still tied. The PostGIS store applies the same rule in
    SQL.
    """
    if grids.empty:
        return None
    ordered = grids.sort_values(col.GRID_CODE, kind="stable")
    where = assign_points(
        shapely.points([lon], [lat]), ordered.geometry.to_numpy(), nudge=NUDGE_DEG
    )
    return None if where[0] < 0 else str(ordered[col.GRID_CODE].iloc[int(where[0])])


def jsonable(data: dict[str, Any] | None) -> dict[str, Any]:
    """A JSON round-trip of ``data`` (numpy scalars, paths and dates become JSON values)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = f"parameters and report must be dicts, not {type(data).__name__}"
        raise InputTypeError(msg)

    def default(value: object) -> object:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        return str(value)

    return dict(json.loads(json.dumps(data, default=default, ensure_ascii=False)))


def utc(moment: datetime | None) -> datetime | None:
    """``moment`` as an aware UTC datetime; a naive one is taken to be UTC already."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
