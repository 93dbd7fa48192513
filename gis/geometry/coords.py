"""Consumer map coordinates: GCJ-02 (Amap, Tencent, WeChat) and BD-09 (Baidu).

PROJ does not know these obfuscated systems, so they are converted here: the forward
transforms are the published closed forms; the inverses are solved iteratively (Newton-like
fixed point on the forward transform) to better than 1e-9 degrees (about 0.1 mm), far inside
the 0.5 m the service promises. Outside mainland China (the usual rectangle test) GCJ-02
equals WGS 84. All functions take and return ``(lon, lat)`` arrays in degrees.

Written here because no maintained Python package on PyPI provides a vectorised, exact
inverse; the reference points in the tests are the eviltransform project's public vectors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from gis.errors import CRSError

Array = npt.NDArray[np.float64]

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-10
_MAX_ITER = 30


def out_of_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Whether points lie outside the rectangle where GCJ-02 applies."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon: Array, lat: Array) -> tuple[Array, Array]:
    x, y = lon - 105.0, lat - 35.0
    d_lat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )  # fmt: skip
    d_lon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )  # fmt: skip
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return d_lon, d_lat


def _invert(
    forward: Callable[[Array, Array], tuple[Array, Array]],
    lon: Array,
    lat: Array,
    start_lon: Array,
    start_lat: Array,
) -> tuple[Array, Array]:
    """Solve ``forward(x) = (lon, lat)`` by fixed-point iteration from a starting guess."""
    x_lon, x_lat = start_lon, start_lat
    for _ in range(_MAX_ITER):
        f_lon, f_lat = forward(x_lon, x_lat)
        e_lon, e_lat = f_lon - lon, f_lat - lat
        x_lon, x_lat = x_lon - e_lon, x_lat - e_lat
        if np.all(np.abs(e_lon) < _TOLERANCE_DEG) and np.all(np.abs(e_lat) < _TOLERANCE_DEG):
            break
    return x_lon, x_lat


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """WGS 84 → GCJ-02 (closed form)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    d_lon, d_lat = _delta(lon, lat)
    outside = out_of_china(lon, lat)
    return np.where(outside, lon, lon + d_lon), np.where(outside, lat, lat + d_lat)


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 → WGS 84, solved iteratively to 1e-10 degrees."""
    g_lon, g_lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return _invert(wgs84_to_gcj02, g_lon, g_lat, g_lon.copy(), g_lat.copy())


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 → BD-09 (closed form)."""
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """BD-09 → GCJ-02, the closed-form estimate refined iteratively to 1e-10 degrees."""
    b_lon, b_lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x, y = b_lon - 0.0065, b_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _invert(gcj02_to_bd09, b_lon, b_lat, z * np.cos(theta), z * np.sin(theta))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """BD-09 → WGS 84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[Array, Array]:
    """WGS 84 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


#: Names accepted for the consumer systems (case-insensitive).
OFFSET_SYSTEMS = {"gcj02": gcj02_to_wgs84, "gcj-02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}


def to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, system: str) -> tuple[Array, Array]:
    """Convert coordinates from ``system`` (wgs84, cgcs2000, gcj02, bd09, EPSG:nnnn) to WGS 84.

    Raises
    ------
    CRSError
        When ``system`` is unknown.
    """
    key = system.strip().lower()
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if key in ("wgs84", "wgs-84", "epsg:4326", "cgcs2000", "epsg:4490"):
        return lon, lat  # CGCS2000 and WGS 84 agree to a few centimetres
    if key in OFFSET_SYSTEMS:
        return OFFSET_SYSTEMS[key](lon, lat)
    if key.startswith("epsg:"):
        import pyproj  # noqa: PLC0415

        try:
            transformer = pyproj.Transformer.from_crs(key.upper(), "EPSG:4326", always_xy=True)
        except pyproj.exceptions.CRSError as exc:
            msg = f"unknown crs {system!r}: use wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn"
            raise CRSError(msg) from exc
        x, y = transformer.transform(lon, lat)
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    msg = f"unknown crs {system!r}: use wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn"
    raise CRSError(msg)
