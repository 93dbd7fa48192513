"""What the service publishes of a plan: GeoJSON features, vector tiles and the basemap.

Everything here is in EPSG:4326 in and out, except tile encoding, which works in Web
Mercator (EPSG:3857) as vector tiles must. GeoJSON follows RFC 7946: exterior rings
counter-clockwise, holes clockwise, coordinates in full double precision (no rounding, so a
client copying the features gets the stored geometries back exactly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import mapping

from gis import columns as col
from gis.options import Band

WEB_MERCATOR: Final = "EPSG:3857"
HALF_WORLD_M: Final = 20037508.342789244
TILE_EXTENT: Final = 4096
TILE_BUFFER: Final = 64
BASEMAP_LAYERS: Final = {"roads": ("highway", "name"), "buildings": ("building", "name")}


def load_class(households: int, kind: str, band: Band) -> str:
    """``dedicated``, ``under``, ``within`` or ``over`` the household band."""
    if kind == col.DEDICATED:
        return "dedicated"
    if households < band.min_households:
        return "under"
    return "over" if households > band.max_households else "within"


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def geometry_geojson(geom: shapely.Geometry) -> dict[str, Any]:
    """RFC 7946 geometry: right-hand-rule rings, full precision."""
    oriented: Any = shapely.orient_polygons(geom, exterior_cw=False)
    return dict(mapping(oriented))


def to_features(gdf: gpd.GeoDataFrame, *, id_field: str) -> list[dict[str, Any]]:
    """GeoJSON features (EPSG:4326) of ``gdf``, ``id`` taken from ``id_field``."""
    props = [c for c in gdf.columns if c != gdf.geometry.name]
    records = gdf[props].to_dict("records")
    return [
        {
            "type": "Feature",
            "id": str(rec[id_field]),
            "geometry": geometry_geojson(geom),
            "properties": {k: _plain(v) for k, v in rec.items()},
        }
        for rec, geom in zip(records, gdf.geometry.to_numpy(), strict=True)
    ]


def filter_bbox(
    gdf: gpd.GeoDataFrame, bbox: tuple[float, float, float, float] | None
) -> gpd.GeoDataFrame:
    """Rows whose geometry intersects ``bbox`` (lon/lat min, max), all when None."""
    if bbox is None or gdf.empty:
        return gdf
    hits = np.sort(gdf.sindex.query(shapely.box(*bbox), predicate="intersects"))
    return gdf.iloc[hits]


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Web Mercator bounds (minx, miny, maxx, maxy) of XYZ tile ``z/x/y``."""
    size = 2 * HALF_WORLD_M / 2**z
    minx = -HALF_WORLD_M + x * size
    maxy = HALF_WORLD_M - y * size
    return (minx, maxy - size, minx + size, maxy)


@dataclass
class TileSource:
    """Layers projected to Web Mercator once, encoded to Mapbox Vector Tiles on request.

    Parameters
    ----------
    layers
        Layer name → frame (any CRS) whose non-geometry columns become tile properties.
    """

    layers: dict[str, gpd.GeoDataFrame]

    def __post_init__(self) -> None:
        self._projected = {
            name: gdf.to_crs(WEB_MERCATOR) for name, gdf in self.layers.items() if not gdf.empty
        }

    def encode(self, z: int, x: int, y: int) -> bytes:
        """The tile ``z/x/y`` (extent 4096, buffer 64), empty layers left out."""
        bounds = tile_bounds(z, x, y)
        pad = (bounds[2] - bounds[0]) * TILE_BUFFER / TILE_EXTENT
        clip = (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
        origin = np.array([bounds[0], bounds[1]])
        scale = TILE_EXTENT / (bounds[2] - bounds[0])
        out = []
        for name, gdf in self._projected.items():
            hits = np.sort(gdf.sindex.query(shapely.box(*clip), predicate="intersects"))
            if len(hits) == 0:
                continue
            part = gdf.iloc[hits]
            clipped = shapely.clip_by_rect(part.geometry.to_numpy(), *clip)
            geoms = shapely.transform(
                shapely.simplify(clipped, 0.5 / scale, preserve_topology=True),
                lambda xy: (xy - origin) * scale,
            )  # tile coordinates, y up (the encoder flips them)
            props = part.drop(columns=part.geometry.name).to_dict("records")
            features = [
                {
                    "geometry": g,
                    "properties": {k: _plain(v) for k, v in p.items() if _plain(v) is not None},
                }
                for g, p in zip(geoms, props, strict=True)
                if not shapely.is_empty(g)
            ]
            if features:
                out.append({"name": name, "features": features})
        if not out:
            return b""
        import mapbox_vector_tile  # noqa: PLC0415 - an optional (api) dependency

        tile: bytes = mapbox_vector_tile.encode(out, default_options={"extents": TILE_EXTENT})
        return tile


def grid_labels(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One label point per grid (a point on its surface) with code and households."""
    keep = [c for c in (col.GRID_CODE, col.HOUSEHOLDS, col.KIND) if c in grids.columns]
    return gpd.GeoDataFrame(
        grids[keep].copy(),
        geometry=shapely.point_on_surface(grids.geometry.to_numpy()),
        crs=grids.crs,
    )


def read_basemap(path: str | Path) -> dict[str, gpd.GeoDataFrame]:
    """Roads and buildings layers of a GeoPackage (only those present), EPSG:4326."""
    present = {str(name) for name, _ in pyogrio.list_layers(path)}
    out = {}
    for layer, fields in BASEMAP_LAYERS.items():
        if layer not in present:
            continue
        gdf = pyogrio.read_dataframe(path, layer=layer)
        keep = [c for c in fields if c in gdf.columns]
        gdf = gpd.GeoDataFrame(gdf[keep], geometry=gdf.geometry, crs=gdf.crs).to_crs("EPSG:4326")
        out[layer] = gdf
    return out
