"""Roads and other barriers: normalising schemas and choosing the lines that bound blocks.

Road layers arrive with OpenStreetMap ``highway`` values, or in vector-tile schemas
(``kind``/``kind_detail``, ``is_tunnel``); :func:`normalise_roads` maps both onto ``highway``,
``railway``, ``tunnel`` and ``bridge``. :func:`bounding_lines` selects what may bound a grid
(configurable road classes, railways, rivers, water edges) and cleans it: exact and
near-duplicate pieces from tile seams merge, dangling ends that stop just short of another
line are extended onto it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import columns as col

log = logging.getLogger(__name__)

#: Road classes that bound blocks by default: streets a resident can see and name.
DEFAULT_BOUNDING_HIGHWAYS: frozenset[str] = frozenset(
    {
        "motorway",
        "trunk",
        "primary",
        "secondary",
        "tertiary",
        "unclassified",
        "residential",
        "living_street",
        "pedestrian",
        "motorway_link",
        "trunk_link",
        "primary_link",
        "secondary_link",
        "tertiary_link",
        "road",
    }
)

#: Roads that are paths one walks, not streets: they bound no block for the off-street figure
#: (:mod:`gis.checks.off_street`) and their dead ends are not carried on across a compound
#: (:mod:`gis.cutting.lines`).
PATH_HIGHWAYS: frozenset[str] = frozenset(
    {"footway", "path", "steps", "cycleway", "pedestrian", "corridor"}
)

#: Railway values that bound blocks (subways and funiculars run in tunnels or on viaducts).
BOUNDING_RAILWAYS: frozenset[str] = frozenset({"rail", "light_rail", "tram", "narrow_gauge"})

#: Waterway values whose lines bound blocks.
BOUNDING_WATERWAYS: frozenset[str] = frozenset({"river", "canal", "riverbank"})

# vector-tile (Tilezen/Protomaps-like) kinds that are not roads
_RAIL_DETAILS = {"rail", "subway", "light_rail", "tram", "funicular", "narrow_gauge", "monorail"}
_KIND_FALLBACK = {"major_road": "secondary", "minor_road": "residential", "path": "footway"}


def _truthy(series: pd.Series) -> pd.Series:
    """Interpret OSM-style yes/no, 1/0 and booleans as booleans (missing = False)."""
    text = series.astype("string").str.lower().fillna("")
    return text.isin(["1", "1.0", "yes", "true", "building_passage", "culvert", "covered"])


def _first(value: object) -> object:
    """osmnx gives lists where ways were merged: keep the first value."""
    if isinstance(value, list | tuple | np.ndarray):
        return value[0] if len(value) else None
    return value


def normalise_roads(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Map a road layer onto ``highway``, ``railway``, ``tunnel``, ``bridge`` and ``name``.

    Parameters
    ----------
    gdf
        Lines with OSM tags (``highway``) or vector-tile columns (``kind``, ``kind_detail``,
        ``is_tunnel``, ``is_bridge``).

    Returns
    -------
    geopandas.GeoDataFrame
        Line features only, same CRS; ``highway`` is ``None`` for railways and ferries.
    """
    lines = gdf[gdf.geom_type.isin(["LineString", "MultiLineString"])].copy()
    n = len(lines)
    if col.HIGHWAY in lines:
        highway = lines[col.HIGHWAY].map(_first).astype("object")
    elif "kind_detail" in lines or "kind" in lines:
        detail = lines["kind_detail"] if "kind_detail" in lines else pd.Series([None] * n)
        kind = lines["kind"] if "kind" in lines else pd.Series([None] * n, index=lines.index)
        highway = detail.where(detail.notna(), kind.map(_KIND_FALLBACK)).astype("object")
    else:
        highway = pd.Series(["road"] * n, index=lines.index, dtype="object")
    railway = (
        lines["railway"].map(_first).astype("object")
        if "railway" in lines
        else pd.Series([None] * n, index=lines.index, dtype="object")
    )
    if "kind" in lines:
        is_rail = lines["kind"].eq("rail") | highway.isin(_RAIL_DETAILS)
        railway = railway.where(~is_rail, highway)
        highway = highway.where(~is_rail, None)
        highway = highway.where(~lines["kind"].eq("ferry"), None)
    tunnel_src = lines["tunnel"] if "tunnel" in lines else lines.get("is_tunnel")
    bridge_src = lines["bridge"] if "bridge" in lines else lines.get("is_bridge")
    out = gpd.GeoDataFrame(
        {
            col.HIGHWAY: highway.to_numpy(),
            "railway": railway.to_numpy(),
            "name": lines["name"].map(_first).to_numpy() if "name" in lines else None,
            "tunnel": _truthy(tunnel_src).to_numpy() if tunnel_src is not None else False,
            "bridge": _truthy(bridge_src).to_numpy() if bridge_src is not None else False,
        },
        geometry=lines.geometry.to_numpy(),
        crs=gdf.crs,
    )
    return out.reset_index(drop=True)


def bounding_lines(
    roads: gpd.GeoDataFrame,
    *,
    railways: gpd.GeoDataFrame | None = None,
    water: gpd.GeoDataFrame | None = None,
    highways: Collection[str] = DEFAULT_BOUNDING_HIGHWAYS,
    tunnels_bound: bool = False,
    snap_tolerance_m: float = 3.0,
    precision_m: float = 0.01,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Split lines into those that bound blocks and those that stay inside them.

    Parameters
    ----------
    roads
        Output of :func:`normalise_roads`, in a metric CRS.
    railways, water
        Extra barriers: railway lines; water polygons or waterway lines (rivers bound).
    highways
        Road classes that bound blocks.
    tunnels_bound
        Whether tunnels bound blocks (they don't by default: nobody sees them).
    snap_tolerance_m
        Dangling ends closer than this to another line are extended onto it.
    precision_m
        Coordinates are snapped to this grid so that tile-seam duplicates coincide.

    Returns
    -------
    tuple of geopandas.GeoDataFrame
        ``(bounding, inner)``: bounding lines with a ``source`` column (highway value,
        ``railway`` or ``water``), cleaned; and the remaining road lines (service roads,
        footways, paths) as candidate inner cut lines.
    """
    crs = roads.crs
    is_road = roads[col.HIGHWAY].isin(list(highways))
    is_rail = roads["railway"].isin(list(BOUNDING_RAILWAYS))
    visible = tunnels_bound | ~roads["tunnel"].astype(bool)
    bound_mask = (is_road | is_rail) & visible
    parts = [
        gpd.GeoDataFrame(
            {"source": roads[col.HIGHWAY].where(is_road, "railway")[bound_mask].to_numpy()},
            geometry=roads.geometry[bound_mask].to_numpy(),
            crs=crs,
        )
    ]
    if railways is not None and not railways.empty:
        rl = railways[railways.geom_type.isin(["LineString", "MultiLineString"])]
        if "tunnel" in rl:
            rl = rl[~_truthy(rl["tunnel"])]
        rail_lines = rl.geometry.to_numpy()
        parts.append(
            gpd.GeoDataFrame(
                {"source": ["railway"] * len(rail_lines)}, geometry=rail_lines, crs=crs
            )
        )
    if water is not None and not water.empty:
        polys = water[water.geom_type.isin(["Polygon", "MultiPolygon"])]
        edges = polys.geometry.boundary
        lines = water[water.geom_type.isin(["LineString", "MultiLineString"])]
        if "waterway" in lines:
            lines = lines[lines["waterway"].isin(list(BOUNDING_WATERWAYS))]
        geoms = np.concatenate([edges.to_numpy(), lines.geometry.to_numpy()])
        parts.append(gpd.GeoDataFrame({"source": ["water"] * len(geoms)}, geometry=geoms, crs=crs))
    bounding = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)
    bounding = clean_lines(bounding, snap_tolerance_m=snap_tolerance_m, precision_m=precision_m)
    inner_mask = ~bound_mask & roads[col.HIGHWAY].notna()
    inner = roads[inner_mask].reset_index(drop=True)
    return bounding, inner


def clean_lines(
    lines: gpd.GeoDataFrame, *, snap_tolerance_m: float, precision_m: float
) -> gpd.GeoDataFrame:
    """Explode, snap to a precision grid, extend near-miss dangles and drop duplicates.

    Parameters
    ----------
    lines
        Lines in a metric CRS, with any attribute columns.
    snap_tolerance_m
        Maximum extension of a dangling end onto a nearby line (0 disables).
    precision_m
        Grid size for coordinates.

    Returns
    -------
    geopandas.GeoDataFrame
        Single-part lines; exact duplicates (in either direction) removed.
    """
    if lines.empty:
        return lines.reset_index(drop=True)
    out = lines.explode(index_parts=False).reset_index(drop=True)
    out = out[out.geom_type == "LineString"]
    geoms = shapely.set_precision(out.geometry.to_numpy(), precision_m)
    out = out.set_geometry(geoms)
    out = out[~out.geometry.is_empty & (out.geometry.length > 0)]
    normalized = shapely.normalize(out.geometry.to_numpy())
    keys = shapely.to_wkb(normalized)
    out = out[~pd.Series(keys).duplicated().to_numpy()].reset_index(drop=True)
    if snap_tolerance_m > 0 and len(out) > 1:
        import neatnet  # noqa: PLC0415 - pulls in libpysal (1.5 s): only when needed

        out = neatnet.extend_lines(out, snap_tolerance_m)
        out = out.set_geometry(shapely.set_precision(out.geometry.to_numpy(), precision_m))
    return out.reset_index(drop=True)
