"""Dedicated grids (专属网格): schools, hospitals, markets and similar sites as their own grids.

Sites come from the ``sites`` layer (column ``kind``, optional ``name``) or, when the area has
none, from ``landuse`` polygons whose ``kind`` is in ``kinds``. Parts of one institution are
merged: same kind and touching (within ``merge_distance_m``), or the same non-empty name. A site
is clipped to each unit it lies in; a site (part) below ``min_site_area_m2`` stays in its
ordinary grid and is reported. The kept sites are carved out of the blocks
(:func:`gis.cutting.carve.carve_regions`), so dedicated and ordinary grids tile the area exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gis import columns as col
from gis.blocks.build import BlockSet
from gis.errors import OptionError, SiteError
from gis.inputs.read import Area

log = logging.getLogger(__name__)

DEDICATED = "dedicated"
#: Kinds of land use that become dedicated grids by default (OSM ``landuse``/``amenity``).
DEFAULT_SITE_KINDS: tuple[str, ...] = (
    "school",
    "university",
    "college",
    "kindergarten",
    "hospital",
    "clinic",
    "market",
    "marketplace",
    "retail",
    "commercial",
    "industrial",
    "government",
    "military",
    "construction",
    "religious",
    "place_of_worship",
)
SITE_ID = "site_id"


@dataclass(frozen=True)
class Sites:
    """Sites chosen for dedicated grids, and those left out.

    Attributes
    ----------
    sites
        One row per dedicated site and unit: ``site_id``, ``kind``, ``name``, ``unit_code``,
        ``area_m2``; polygons in the area CRS.
    too_small
        Records of site parts below the minimum area (kept in their ordinary grid).
    source
        ``sites layer``, ``landuse`` or ``none``.
    outside
        Records of sites-layer features outside every unit, left out (``outside="drop"``).
    """

    sites: gpd.GeoDataFrame
    too_small: list[dict[str, Any]]
    source: str
    outside: list[dict[str, Any]] = field(default_factory=list)


def sites_from_area(
    area: Area,
    units: gpd.GeoDataFrame,
    *,
    kinds: Collection[str] = DEFAULT_SITE_KINDS,
    min_site_area_m2: float = 2000.0,
    merge_distance_m: float = 1.0,
    outside: str = "error",
) -> Sites:
    """Pick, merge and clip the sites of an area (see the module docstring).

    Parameters
    ----------
    area
        The area (metric CRS) with its ``sites`` or ``landuse`` layer.
    units
        Administrative units: ``unit_code``, polygons, in the area CRS.
    kinds
        Landuse kinds that make a site when the area has no ``sites`` layer.
    min_site_area_m2
        Sites (per unit) smaller than this stay in their ordinary grid and are reported.
    merge_distance_m
        Parts of the same kind closer than this belong to one institution.
    outside
        What to do with a ``sites`` feature outside every unit: ``error`` (refuse the input)
        or ``drop`` (leave it out and report it). Landuse outside the units is always left
        out: it is context, not a list of sites.

    Returns
    -------
    Sites

    Raises
    ------
    SiteError
        When a feature of the ``sites`` layer lies outside every unit (``outside="error"``)
        or is not a polygon.
    OptionError
        When ``outside`` is neither ``error`` nor ``drop``.
    """
    if outside not in ("error", "drop"):
        msg = f"outside must be 'error' or 'drop', not {outside!r}"
        raise OptionError(msg)
    raw, source, strict = _raw_sites(area, kinds)
    empty = gpd.GeoDataFrame(
        {SITE_ID: [], col.KIND: [], "name": [], col.UNIT_CODE: [], col.AREA_M2: []},
        geometry=gpd.GeoSeries([], crs=units.crs),
        crs=units.crs,
    )
    if raw.empty:
        return Sites(sites=empty, too_small=[], source=source)
    raw, geoms = _polygons(raw.reset_index(drop=True), strict=strict)
    unit_geoms = units.geometry.to_numpy()
    ui, si = shapely.STRtree(geoms).query(unit_geoms, predicate="intersects")
    inter = shapely.intersection(geoms[si], unit_geoms[ui]) if len(si) else np.empty(0)
    real = shapely.area(inter) > 0 if len(si) else np.empty(0, dtype=bool)
    inside = np.zeros(len(raw), dtype=bool)
    inside[si[real]] = True
    dropped = _outside_units(raw, inside, outside) if strict and not inside.all() else []
    groups = _institutions(raw, geoms, merge_distance_m)
    kinds_arr = raw[col.KIND].astype(str).to_numpy() if col.KIND in raw else np.full(len(raw), "")
    names = _names(raw)
    codes = units[col.UNIT_CODE].astype(str).to_numpy()
    records: list[dict[str, Any]] = []
    for g in np.unique(groups).tolist():
        members = np.flatnonzero(groups == g)
        for u in range(len(units)):
            pick = real & (ui == u) & np.isin(si, members)
            if not pick.any():
                continue
            whole = _close_gaps(shapely.union_all(inter[pick]), unit_geoms[u], merge_distance_m)
            kind = _most_common(kinds_arr[si[pick]])
            name = next((names[i] for i in si[pick] if names[i]), "")
            # parts still apart after closing small gaps are separate grids
            records.extend(
                {
                    col.KIND: kind,
                    "name": name,
                    col.UNIT_CODE: codes[u],
                    "geometry": geom,
                    col.AREA_M2: float(geom.area),
                }
                for geom in shapely.get_parts(whole)
            )
    too_small = [
        {k: v for k, v in rec.items() if k != "geometry"}
        | {"reason": f"below {min_site_area_m2:g} m²"}
        for rec in records
        if rec[col.AREA_M2] < min_site_area_m2
    ]
    records = [rec for rec in records if rec[col.AREA_M2] >= min_site_area_m2]
    if not records:
        return Sites(sites=empty, too_small=too_small, source=source, outside=dropped)
    frame = gpd.GeoDataFrame(records, geometry="geometry", crs=units.crs)
    frame.insert(0, SITE_ID, np.arange(len(frame), dtype=np.int64))
    log.info("%d dedicated sites from %s, %d too small", len(frame), source, len(too_small))
    return Sites(sites=frame, too_small=too_small, source=source, outside=dropped)


def _raw_sites(area: Area, kinds: Collection[str]) -> tuple[gpd.GeoDataFrame, str, bool]:
    """The candidate sites, their source, and whether they are an explicit ``sites`` layer."""
    if area.sites is not None and not area.sites.empty:
        return area.sites, "sites layer", True
    if area.landuse is not None and not area.landuse.empty and "kind" in area.landuse:
        return area.landuse[area.landuse["kind"].astype(str).isin(set(kinds))], "landuse", False
    return area.landuse.iloc[0:0], "none", False


def _polygons(raw: gpd.GeoDataFrame, *, strict: bool) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The polygon sites (made valid); a ``sites`` layer must hold nothing else.

    Raises
    ------
    SiteError
        When ``strict`` and a feature is not a polygon.
    """
    geoms = raw.geometry.to_numpy()
    poly = np.isin(shapely.get_type_id(geoms), (3, 6))
    if strict and not poly.all():
        rows = np.flatnonzero(~poly)[:5].tolist()
        msg = f"sites rows {rows} are not polygons: a dedicated site needs its outline"
        raise SiteError(msg)
    return raw[poly].reset_index(drop=True), shapely.make_valid(geoms[poly])


def _outside_units(raw: gpd.GeoDataFrame, inside: np.ndarray, outside: str) -> list[dict[str, Any]]:
    """Records of the sites outside every unit (``outside="drop"``), or refuse them.

    Raises
    ------
    SiteError
        When ``outside="error"``.
    """
    rows = np.flatnonzero(~inside)
    named = [f"{r} ({_label(raw, r)})" for r in rows[:5].tolist()]
    if outside == "error":
        msg = (
            f"sites {', '.join(named)} lie outside every unit of the boundary: "
            "remove them from the sites layer, check its CRS, or leave them out "
            "explicitly (outside='drop', CLI --sites-outside drop)"
        )
        raise SiteError(msg)
    log.warning("left out %d sites outside every unit: %s", len(rows), ", ".join(named))
    return [{"row": int(r), "site": _label(raw, int(r))} for r in rows.tolist()]


def dedicated_grids(
    regions: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, blockset: BlockSet
) -> gpd.GeoDataFrame:
    """Grid rows for carved sites: ``kind = dedicated``, households and parent unit.

    Parameters
    ----------
    regions
        :attr:`gis.cutting.carve.Carved.regions` (``region`` = row of ``sites``).
    sites
        :attr:`Sites.sites`.
    blockset
        The blockset before carving (for unit names).
    """
    names = dict(
        zip(
            blockset.units[col.UNIT_CODE].astype(str),
            blockset.units[col.UNIT_NAME].astype(str),
            strict=True,
        )
    )
    src = sites.iloc[regions["region"].to_numpy()]
    units = regions[col.UNIT_CODE].astype(str).to_numpy()
    return gpd.GeoDataFrame(
        {
            col.HOUSEHOLDS: regions[col.HOUSEHOLDS].to_numpy(dtype=np.int64),
            col.KIND: DEDICATED,
            col.PARENT_CODE: units,
            col.PARENT_NAME: [names.get(u, u) for u in units],
            col.AREA_M2: shapely.area(regions.geometry.to_numpy()),
            "n_blocks": 0,
            "site_kind": src[col.KIND].to_numpy(),
            "site_name": src["name"].to_numpy(),
        },
        geometry=regions.geometry.to_numpy(),
        crs=regions.crs,
    )


def _institutions(raw: gpd.GeoDataFrame, geoms: np.ndarray, distance_m: float) -> np.ndarray:
    """Group parts of one institution: same kind and touching, or the same name."""
    n = len(geoms)
    a, b = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=distance_m)
    kinds = raw[col.KIND].astype(str).to_numpy() if col.KIND in raw else np.full(n, "")
    keep = (a < b) & (kinds[a] == kinds[b])
    pairs_a, pairs_b = list(a[keep]), list(b[keep])
    names = _names(raw)
    by_name: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if name:
            by_name.setdefault(name, []).append(i)
    for members in by_name.values():
        pairs_a.extend(members[:-1])
        pairs_b.extend(members[1:])
    adj = coo_matrix((np.ones(len(pairs_a)), (pairs_a, pairs_b)), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    return np.asarray(labels, dtype=np.int64)


def _close_gaps(
    geom: shapely.Geometry, unit: shapely.Geometry, distance_m: float
) -> shapely.Geometry:
    """Bridge gaps narrower than ``distance_m`` between parts of one site, inside its unit."""
    if shapely.get_num_geometries(geom) > 1 and distance_m > 0:
        half = distance_m / 2 + 1e-3
        closed = shapely.buffer(
            shapely.buffer(geom, half, join_style="mitre"), -half, join_style="mitre"
        )
        geom = shapely.intersection(shapely.union(closed, geom), unit)
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == 3 and p.area > 0]
    return shapely.MultiPolygon(parts) if len(parts) > 1 else (parts[0] if parts else geom)


def _names(raw: pd.DataFrame) -> list[str]:
    if "name" not in raw:
        return [""] * len(raw)
    return ["" if pd.isna(v) else str(v).strip() for v in raw["name"]]


def _label(raw: pd.DataFrame, row: int) -> str:
    kind = str(raw[col.KIND].iloc[row]) if col.KIND in raw else "site"
    name = _names(raw)[row]
    return f"{kind} {name}".strip()


def _most_common(values: np.ndarray) -> str:
    uniq, counts = np.unique(values.astype(str), return_counts=True)
    return str(uniq[np.argmax(counts)]) if len(uniq) else ""
