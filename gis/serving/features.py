"""What the service publishes of a plan: GeoJSON features, vector tiles and the basemap.

Everything here is in EPSG:4326 in and out, except tile encoding, which works in Web
Mercator (EPSG:3857) as vector tiles must, and features asked for in another CRS
(:class:`OutputCrs`: CRS84, EPSG:4326 or CGCS2000 EPSG:4490, the two EPSG ones with the
latitude first, as EPSG defines their axes). GeoJSON follows RFC 7946: exterior rings
counter-clockwise (judged in lon/lat), holes clockwise, coordinates in full double precision
(no rounding, so a client copying the features gets the stored geometries back exactly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import mapping

from gis import columns as col
from gis.errors import CRSError
from gis.options import Band

WEB_MERCATOR: Final = "EPSG:3857"
HALF_WORLD_M: Final = 20037508.342789244
TILE_EXTENT: Final = 4096
TILE_BUFFER: Final = 64
BASEMAP_LAYERS: Final = {"roads": ("highway", "name"), "buildings": ("building", "name")}
CRS84: Final = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI: Final = "http://www.opengis.net/def/crs/EPSG/0/"


@dataclass(frozen=True)
class OutputCrs:
    """A CRS features can be served in (OGC API Features Part 2).

    Attributes
    ----------
    uri
        Its OGC URI (what ``crs`` / ``bbox-crs`` name and ``Content-Crs`` says).
    epsg
        The EPSG code the coordinates are transformed to (CRS84 is EPSG:4326 in lon/lat).
    lat_first
        Whether coordinates are (lat, lon), as EPSG:4326 and EPSG:4490 define their axes.
    title
        What users read.
    """

    uri: str
    epsg: int
    lat_first: bool
    title: str


SERVED_CRS: Final = (
    OutputCrs(CRS84, 4326, False, "WGS 84（经度, 纬度）"),
    OutputCrs(f"{EPSG_URI}4490", 4490, True, "CGCS2000 国家大地坐标系（纬度, 经度）"),
    OutputCrs(f"{EPSG_URI}4326", 4326, True, "WGS 84（纬度, 经度）"),
)


def output_crs(name: str | None) -> OutputCrs:
    """The served CRS named by ``name``: an OGC URI, ``EPSG:4490`` or ``[EPSG:4490]``
    (default CRS84).

    Raises
    ------
    CRSError
        Not one of :data:`SERVED_CRS`.
    """
    if name is None:
        return SERVED_CRS[0]
    text = name.strip().strip("[]")
    upper = text.upper()
    for crs in SERVED_CRS:
        curie = "OGC:CRS84" if crs.uri == CRS84 else f"EPSG:{crs.epsg}"
        if text == crs.uri or upper == curie:
            return crs
    known = ", ".join(c.uri for c in SERVED_CRS)
    raise CRSError(f"crs {name[:120]!r} is not served; use one of {known}")


def to_output_crs(gdf: gpd.GeoDataFrame, crs: OutputCrs) -> gpd.GeoDataFrame:
    """``gdf`` (EPSG:4326) with its geometries in ``crs``, still in x = lon order (the axis
    swap for latitude-first CRSs happens when the features are written, see
    :func:`to_features`)."""
    return gdf if crs.epsg == 4326 else gdf.to_crs(epsg=crs.epsg)


def bbox_to_lonlat(
    bbox: tuple[float, float, float, float], crs: OutputCrs
) -> tuple[float, float, float, float]:
    """A bbox given in ``crs`` (its own axis order) as lon/lat on EPSG:4326."""
    x0, y0, x1, y1 = bbox
    if crs.lat_first:
        x0, y0, x1, y1 = y0, x0, y1, x1
    if crs.epsg == 4326:
        return (x0, y0, x1, y1)
    box = gpd.GeoSeries([shapely.box(x0, y0, x1, y1)], crs=crs.epsg).to_crs(4326)
    b = box.total_bounds
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def geometry_to_lonlat(geom: shapely.Geometry, crs: OutputCrs) -> shapely.Geometry:
    """A geometry given in ``crs`` (its own axis order), as lon/lat on EPSG:4326."""
    if crs.lat_first:
        geom = shapely.transform(geom, lambda xy: xy[:, ::-1])
    if crs.epsg == 4326:
        return geom
    return gpd.GeoSeries([geom], crs=crs.epsg).to_crs(4326).iloc[0]


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


def geometry_geojson(geom: shapely.Geometry, *, lat_first: bool = False) -> dict[str, Any]:
    """RFC 7946 geometry: right-hand-rule rings (in lon/lat), full precision; with
    ``lat_first`` the coordinates are then written (lat, lon)."""
    oriented: Any = shapely.orient_polygons(geom, exterior_cw=False)
    if lat_first:
        oriented = shapely.transform(oriented, lambda xy: xy[:, ::-1])
    return dict(mapping(oriented))


def to_features(
    gdf: gpd.GeoDataFrame, *, id_field: str, crs: OutputCrs | None = None
) -> list[dict[str, Any]]:
    """GeoJSON features of ``gdf`` (EPSG:4326), ``id`` taken from ``id_field``, geometries in
    ``crs`` (default CRS84) in that CRS's axis order."""
    crs = crs or SERVED_CRS[0]
    frame = to_output_crs(gdf, crs)
    props = [c for c in frame.columns if c != frame.geometry.name]
    records = frame[props].to_dict("records")
    return [
        {
            "type": "Feature",
            "id": str(rec[id_field]),
            "geometry": geometry_geojson(geom, lat_first=crs.lat_first),
            "properties": {k: _plain(v) for k, v in rec.items()},
        }
        for rec, geom in zip(records, frame.geometry.to_numpy(), strict=True)
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


def feature_ids(codes: pd.Series) -> npt.NDArray[np.int64]:
    """Tile feature ids: 1 + the rank of each code among the layer's codes in code-point order
    (what PostgreSQL's ``ORDER BY code COLLATE "C"`` gives, so PostGIS and memory tiles give a
    grid the same id)."""
    text = codes.astype(str).to_numpy()
    order = {code: i + 1 for i, code in enumerate(sorted(set(text)))}
    return np.array([order[c] for c in text], dtype=np.int64)


@dataclass
class TileSource:
    """Layers projected to Web Mercator once, encoded to Mapbox Vector Tiles on request.

    Parameters
    ----------
    layers
        Layer name → frame (any CRS) whose non-geometry columns become tile properties.
    id_fields
        Layer name → the code column its feature ids are ranked by (:func:`feature_ids`);
        a layer not named gets its row number (from 1) as id.
    """

    layers: dict[str, gpd.GeoDataFrame]
    id_fields: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._projected = {
            name: gdf.to_crs(WEB_MERCATOR) for name, gdf in self.layers.items() if not gdf.empty
        }
        self._ids = {
            name: feature_ids(gdf[self.id_fields[name]])
            if name in self.id_fields
            else np.arange(1, len(gdf) + 1, dtype=np.int64)
            for name, gdf in self._projected.items()
        }

    def encode(self, z: int, x: int, y: int) -> bytes:
        """The tile ``z/x/y`` (extent 4096, buffer 64), empty layers left out; every feature
        has its id."""
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
                    "id": int(fid),
                    "properties": {k: _plain(v) for k, v in p.items() if _plain(v) is not None},
                }
                for g, p, fid in zip(geoms, props, self._ids[name][hits], strict=True)
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
