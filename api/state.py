"""What the running service holds: the store, the live index and per-version layer caches."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd

from api.errors import UnavailableError
from api.settings import Settings
from gis.lookup import LiveIndex
from gis.store import Store, open_store
from gis.store.addresses import Registry, open_registry

logger = logging.getLogger(__name__)

LAYERS = ("grids", "cells", "units")


@dataclass
class AppState:
    """Everything a request may need, built once by ``create_app``."""

    settings: Settings
    store: Store
    live: LiveIndex
    registry: Registry
    _layers: dict[tuple[int, str], gpd.GeoDataFrame] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _basemap: dict[str, gpd.GeoDataFrame] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> AppState:
        """Open the store and registry named by ``settings`` and load the live version."""
        store = open_store(settings.store_url, schema=settings.db_schema)
        registry = open_registry(settings.store_url, schema=settings.db_schema)
        live = LiveIndex(store, lattice_cells=settings.lattice_cells)
        live.refresh()
        return cls(settings=settings, store=store, live=live, registry=registry)

    @property
    def on_postgis(self) -> bool:
        """Whether the plans live in PostGIS."""
        return self.settings.database_url is not None

    def layer(self, version_id: int, name: str) -> gpd.GeoDataFrame:
        """A layer (grids, cells, units) of one version, EPSG:4326, cached in memory.

        Raises
        ------
        UnavailableError
            The store is unreachable and the layer was never loaded.
        """
        if name == "grids":
            return self.live.index(version_id).grids
        key = (version_id, name)
        with self._lock:
            cached = self._layers.get(key)
        if cached is not None:
            return cached
        try:
            if name == "cells":
                frame = self.store.read_cells(version_id)
            else:
                info = self.store.version(version_id)
                frame = self.store.read_units(as_of=info.valid_from)
        except Exception as exc:  # StoreError, or a psycopg error while the server restarts
            self.store.close()  # reconnect next time
            raise UnavailableError(f"the plan store is unreachable: {exc}") from exc
        with self._lock:
            self._layers[key] = frame
        return frame

    def basemap(self) -> dict[str, gpd.GeoDataFrame]:
        """Roads and buildings from ``settings.basemap_path`` (empty when not configured)."""
        if self._basemap is None:
            from gis.features import read_basemap  # noqa: PLC0415

            path = self.settings.basemap_path
            self._basemap = read_basemap(path) if path is not None else {}
        return self._basemap

    def close(self) -> None:
        """Stop polling, close connections."""
        self.live.stop()
        self.store.close()
        self.registry.close()
        conn = self.extras.pop("tile_conn", None)
        if conn is not None:
            conn.close()
