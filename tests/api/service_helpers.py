"""The running-service handle shared by the API tests."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import httpx
from shapely.geometry import box

from api.server import ServerThread
from api.settings import Settings
from gis import columns as col
from gis.options import Band
from gis.store import Store, VersionInfo

BAND_V1 = Band(300, 800, target=500)
BAND_V2 = Band(400, 600, target=450)
"""The bands of the session's two versions: version 2 is judged by a narrower band, so the
service must tell them apart."""


@dataclass
class Service:
    """A running service and the store behind it."""

    kind: str
    url: str
    store: Store
    settings: Settings
    server: ServerThread

    def client(self, **kwargs: object) -> httpx.Client:
        """An HTTP client for the service."""
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)  # type: ignore[arg-type]

    @property
    def versions(self) -> list[VersionInfo]:
        """The store's versions."""
        return self.store.versions()


def squares_plan(n: int = 6) -> gpd.GeoDataFrame:
    """A hand-built plan: n×n squares of 200 m in UTM 51N by the Bund (fallback sample)."""
    x0, y0, step = 355_400.0, 3_456_500.0, 200.0
    rows = [
        {col.GRID_CODE: f"31010100200100{r}{c}", col.KIND: "ordinary",
         col.HOUSEHOLDS: 300 + 37 * r * c,
         col.PARENT_CODE: "310101002001", col.PARENT_NAME: "外滩北演示社区(演示)",
         "geometry": box(x0 + c * step, y0 + r * step, x0 + (c + 1) * step, y0 + (r + 1) * step)}
        for r in range(n) for c in range(n)
    ]  # fmt: skip
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:32651")
