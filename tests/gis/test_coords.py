"""GCJ-02 and BD-09 against the eviltransform project's published reference points."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest

from gis.errors import CRSError
from gis.geometry.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# (wgs lat, wgs lon, gcj lat, gcj lon): Shanghai, Shenzhen, Beijing
GCJ_VECTORS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]
# the widely published BD-09 examples at (116.404, 39.915): forward GCJ-02 → BD-09 (closed
# form, exact), and BD-09 → GCJ-02 / WGS 84 by the usual one-step approximations (within 0.5 m
# of the exact inverse). (Baidu's own API results are not reproducible by the public formula.)
BD_FORWARD = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))
BD_APPROX_INVERSE = [
    ("gcj02", (116.39762729119315, 39.90865673957631)),
    ("wgs84", (116.3913836995125, 39.907253214522164)),
]
GEOD = pyproj.Geod(ellps="WGS84")


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.mark.parametrize(("w_lat", "w_lon", "g_lat", "g_lon"), GCJ_VECTORS)
def test_wgs84_to_gcj02_matches_reference(
    w_lat: float, w_lon: float, g_lat: float, g_lon: float
) -> None:
    lon, lat = wgs84_to_gcj02(w_lon, w_lat)
    assert float(lon) == pytest.approx(g_lon, abs=1e-9)
    assert float(lat) == pytest.approx(g_lat, abs=1e-9)


@pytest.mark.parametrize(("w_lat", "w_lon", "g_lat", "g_lon"), GCJ_VECTORS)
def test_gcj02_inverse_is_exact_to_a_millimetre(
    w_lat: float, w_lon: float, g_lat: float, g_lon: float
) -> None:
    lon, lat = gcj02_to_wgs84(g_lon, g_lat)
    assert metres(float(lon), float(lat), w_lon, w_lat) < 0.001


def test_gcj02_to_bd09_matches_reference() -> None:
    (g_lon, g_lat), (b_lon, b_lat) = BD_FORWARD
    lon, lat = gcj02_to_bd09(g_lon, g_lat)
    assert (float(lon), float(lat)) == pytest.approx((b_lon, b_lat), abs=1e-9)
    back = bd09_to_gcj02(b_lon, b_lat)
    assert metres(float(back[0]), float(back[1]), g_lon, g_lat) < 0.001


@pytest.mark.parametrize(("target", "expected"), BD_APPROX_INVERSE)
def test_bd09_inverse_agrees_with_published_values_within_half_a_metre(
    target: str, expected: tuple[float, float]
) -> None:
    convert = bd09_to_gcj02 if target == "gcj02" else bd09_to_wgs84
    lon, lat = convert(116.404, 39.915)
    assert metres(float(lon), float(lat), *expected) < 0.5


def test_round_trips_over_china_are_below_a_millimetre() -> None:
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(75, 134, 2000), rng.uniform(18, 53, 2000)
    for forward, inverse in ((wgs84_to_gcj02, gcj02_to_wgs84), (wgs84_to_bd09, bd09_to_wgs84)):
        back_lon, back_lat = inverse(*forward(lon, lat))
        dist = GEOD.inv(lon, lat, back_lon, back_lat)[2]
        assert np.max(dist) < 0.001


def test_outside_china_gcj02_is_wgs84() -> None:
    lon, lat = wgs84_to_gcj02(-104.9903, 39.7392)  # Denver
    assert (float(lon), float(lat)) == (-104.9903, 39.7392)


def test_to_wgs84_accepts_named_systems_and_epsg_codes() -> None:
    lon, lat = to_wgs84([121.531541859215], [31.17530398364597], "GCJ02")
    assert metres(lon[0], lat[0], 121.5272106, 31.1774276) < 0.001
    x, y = pyproj.Transformer.from_crs(4326, 32651, always_xy=True).transform(121.5, 31.2)
    lon, lat = to_wgs84([x], [y], "EPSG:32651")
    assert metres(lon[0], lat[0], 121.5, 31.2) < 0.001
    with pytest.raises(CRSError, match="unknown crs"):
        to_wgs84([0], [0], "mars")
    with pytest.raises(CRSError, match="unknown crs"):
        to_wgs84([0], [0], "EPSG:999999")
