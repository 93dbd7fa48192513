"""Coordinate reference systems: checking what inputs claim and choosing a metric CRS.

Every area, length and compactness figure is computed in a local metric CRS: by default the
UTM zone (WGS 84) of the area's centroid. Geographic inputs may be WGS 84 (EPSG:4326) or
CGCS2000 (EPSG:4490). GDAL and pyproj are used in traditional GIS order (x = longitude)
throughout, so CGCS2000's latitude-first axis definition never swaps coordinates silently;
a file whose coordinates *are* written latitude-first is detected and refused.
"""

from __future__ import annotations

import geopandas as gpd
import pyproj
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from gis.errors import CRSError

#: Longitude and latitude ranges that cover mainland China, Hong Kong, Macao and Taiwan.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)


def parse_crs(value: str | int | pyproj.CRS) -> pyproj.CRS:
    """Parse a CRS given as ``EPSG:nnnn``, an integer code, WKT or a :class:`pyproj.CRS`.

    Raises
    ------
    CRSError
        When the value names no CRS pyproj knows.
    """
    if isinstance(value, pyproj.CRS):
        return value
    try:
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError as exc:
        msg = f"unknown CRS {value!r}: give an EPSG code such as 'EPSG:4326' or 'EPSG:32651'"
        raise CRSError(msg) from exc


def check_coordinates(gdf: gpd.GeoDataFrame, *, what: str) -> None:
    """Check that a layer's coordinates agree with the CRS it declares.

    Parameters
    ----------
    gdf
        The layer as read.
    what
        How to name the layer in messages (e.g. ``"layer 'roads' of area.gpkg"``).

    Raises
    ------
    CRSError
        The layer has no CRS; declares a geographic CRS but holds coordinates that are not
        degrees, or latitude written before longitude; or declares a projected (metre) CRS
        but holds coordinates that look like degrees.
    """
    if gdf.crs is None:
        msg = (
            f"{what} has no coordinate reference system; set it in the file "
            "(e.g. `ogr2ogr -a_srs EPSG:4326 fixed.gpkg input.gpkg`) or pass --input-crs EPSG:nnnn"
        )
        raise CRSError(msg)
    nonempty = gdf.geometry[~(gdf.geometry.is_empty | gdf.geometry.isna())]
    if nonempty.empty:
        return
    minx, miny, maxx, maxy = (float(v) for v in nonempty.total_bounds)
    crs = pyproj.CRS.from_user_input(gdf.crs)
    if crs.is_geographic:
        # before the range check: a Chinese longitude (> 90) written as y is out of range too
        looks_swapped = (
            CHINA_LAT[0] <= minx <= maxx <= CHINA_LAT[1]
            and CHINA_LON[0] <= miny <= maxy <= CHINA_LON[1]
        )
        if looks_swapped:
            msg = (
                f"{what} has latitude and longitude swapped: x runs {minx:.4f}–{maxx:.4f} and "
                f"y runs {miny:.4f}–{maxy:.4f}, i.e. latitude first; write longitude as x, "
                'e.g. `ogr2ogr -dialect SQLite -sql "SELECT ST_FlipCoordinates(geometry) AS '
                'geometry, * FROM layer" fixed.gpkg input.gpkg`'
            )
            raise CRSError(msg)
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            msg = (
                f"{what} declares geographic CRS {crs.to_string()} but its coordinates "
                f"({minx:.1f}, {miny:.1f}) – ({maxx:.1f}, {maxy:.1f}) are not degrees; "
                "it is probably in a projected CRS: declare the right one (e.g. EPSG:4547)"
            )
            raise CRSError(msg)
    elif crs.is_projected:
        span = max(maxx - minx, maxy - miny)
        if -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90 and span < 5:
            msg = (
                f"{what} declares projected CRS {crs.to_string()} (metres) but its coordinates "
                f"({minx:.5f}, {miny:.5f}) – ({maxx:.5f}, {maxy:.5f}) look like degrees; "
                "declare its geographic CRS instead (EPSG:4326 for WGS 84, EPSG:4490 for "
                "CGCS2000)"
            )
            raise CRSError(msg)


def local_metric_crs(gdf: gpd.GeoDataFrame) -> pyproj.CRS:
    """Choose the UTM zone (WGS 84) containing the centroid of a layer's bounds.

    Parameters
    ----------
    gdf
        Any layer with a CRS.

    Returns
    -------
    pyproj.CRS
        A projected CRS in metres.
    """
    minx, miny, maxx, maxy = gdf.to_crs(4326).total_bounds
    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(
            west_lon_degree=float(minx),
            south_lat_degree=float(miny),
            east_lon_degree=float(maxx),
            north_lat_degree=float(maxy),
        ),
    )
    if not infos:  # pragma: no cover - every point on earth has a UTM zone
        msg = f"no UTM zone found for bounds {minx, miny, maxx, maxy}; pass a metric CRS"
        raise CRSError(msg)
    lon = (minx + maxx) / 2
    zone = int((lon + 180) // 6) + 1
    wanted = f"{32600 + zone if (miny + maxy) / 2 >= 0 else 32700 + zone}"
    for info in infos:
        if info.code == wanted:
            return pyproj.CRS.from_epsg(int(info.code))
    return pyproj.CRS.from_epsg(int(infos[0].code))


def require_metric(crs: pyproj.CRS) -> pyproj.CRS:
    """Refuse a CRS whose unit is not the metre.

    Raises
    ------
    CRSError
        When ``crs`` is geographic or not in metres.
    """
    if not crs.is_projected or crs.axis_info[0].unit_name not in ("metre", "meter"):
        msg = (
            f"working CRS {crs.to_string()} is not in metres; areas and lengths need a "
            "projected metric CRS (e.g. EPSG:32651 or a CGCS2000 Gauss-Krüger zone EPSG:4547)"
        )
        raise CRSError(msg)
    return crs
