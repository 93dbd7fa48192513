"""What the running service holds: the store, the live index, its poller and typed caches.

Every cache is a named field of :class:`AppState` with its own lock, read and written only
through its methods; no string-keyed bag. Which module uses which:

========================  ==============================  ==================================
field                     holds                           used by
========================  ==============================  ==================================
``layers``                cells and units per version      :meth:`AppState.layer` (here)
``units``                 unit tables (parent chains)      :mod:`api.present`
``lookups``               lookup answers, staff roster     :mod:`api.routes.lookup`,
                                                           :mod:`api.present`
``tiles``                 encoded tiles, tile sources      :mod:`api.routes.tiles`
``tile_db``               the PostGIS tile connection      :mod:`api.routes.tiles`
``addresses``             the address matcher              :mod:`api.routes.addresses`
``basemap``               roads and buildings              :meth:`AppState.basemap` (here)
``batches``               the batch worker process         :mod:`api.routes.lookup`
========================  ==============================  ==================================

A version's data never changes once published, so per-version caches are keyed by version
id and kept; what *can* change is dropped by :meth:`AppState.invalidate_version` (after a
publish), :meth:`AppState.invalidate_staff` (after a roster edit) and
:meth:`AppState.invalidate_addresses` (after an address import).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import geopandas as gpd

from api.batch import BatchPool
from api.errors import UnavailableError
from api.live import LivePoller
from api.schemas import StaffOut
from api.settings import Settings
from gis.options import Band
from gis.serving.addresses import AddressMatcher
from gis.serving.features import TileSource
from gis.serving.lookup import GridIndex, LiveIndex
from gis.store import Store, open_store
from gis.store.addresses import Registry, open_registry

logger = logging.getLogger(__name__)

LAYERS = ("grids", "cells", "units")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

UnitTable = dict[str, dict[str, Any]]
"""Unit code → ``{"unit_name", "level", "parent_code"}`` of one version."""
Roster = dict[tuple[str, str], list[StaffOut]]
"""(grid_code | cell_code | unit_code, code) → the public staff of that post."""
FragmentKey = tuple[int, bool, int]
"""(version id, whether it was live, grid position) of a cached lookup answer."""
TileKey = tuple[int, int, int, int]
"""(version id, z, x, y)."""


@dataclass
class Memo(Generic[K, V]):
    """A thread-safe map of values built once per key, the least recently used dropped first
    beyond ``max_size`` (0: unbounded). Values are built outside the lock."""

    max_size: int = 0
    _values: OrderedDict[K, V] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: K) -> V | None:
        """The value for ``key``, None when not cached."""
        with self._lock:
            found = self._values.get(key)
            if found is not None and self.max_size:
                self._values.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> V:
        """Keep ``value`` for ``key`` (dropping the oldest beyond ``max_size``); return it."""
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while self.max_size and len(self._values) > self.max_size:
                self._values.popitem(last=False)
        return value

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        """The cached value, or ``build()`` kept for next time."""
        found = self.get(key)
        return found if found is not None else self.put(key, build())

    def clear(self) -> None:
        """Drop every value."""
        with self._lock:
            self._values.clear()


@dataclass
class Lazy(Generic[V]):
    """One value built on first use (outside the lock) and kept until :meth:`clear`."""

    _value: V | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get_or_build(self, build: Callable[[], V]) -> V:
        """The value, built by ``build()`` when there is none."""
        with self._lock:
            found = self._value
        if found is None:
            found = build()
            with self._lock:
                self._value = found
        return found

    def clear(self) -> None:
        """Forget the value; the next use builds it again."""
        with self._lock:
            self._value = None


@dataclass
class LookupCache:
    """Ready-made lookup answers (all but the point) per grid, and the staff roster in them.

    Both expire every ``ttl_s`` seconds so that staff edited in another process show up.
    """

    ttl_s: float = 30.0
    fragments: Memo[FragmentKey, bytes] = field(default_factory=Memo)
    staff: Lazy[Roster] = field(default_factory=Lazy)
    _epoch: int | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def expire(self, now: float) -> bool:
        """Start a new epoch when ``ttl_s`` has passed (``now``: monotonic seconds).

        Returns
        -------
        bool
            Whether it did (the answers and the roster were dropped).
        """
        epoch = int(now // self.ttl_s)
        with self._lock:
            if epoch == self._epoch:
                return False
            self._epoch = epoch
        self.invalidate_staff()
        return True

    def invalidate_staff(self) -> None:
        """A roster changed: drop the roster and every answer showing it."""
        self.staff.clear()
        self.fragments.clear()

    def invalidate_version(self) -> None:
        """A version was published: drop the answers (their version record changed)."""
        self.fragments.clear()


@dataclass
class TileCache:
    """Encoded tiles (the most recent ``max_tiles``) and the in-memory sources they are cut
    from, per version; the basemap's source."""

    tiles: Memo[TileKey, bytes] = field(default_factory=lambda: Memo(max_size=4096))
    sources: Memo[int, TileSource] = field(default_factory=Memo)
    basemap: Lazy[TileSource] = field(default_factory=Lazy)


@dataclass
class TileConnection:
    """The one PostGIS connection tile queries take turns on, opened on first use and closed
    after any failure (the next query reconnects)."""

    connect: Callable[[], Any]
    _conn: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fetchone(self, query: str, params: dict[str, Any]) -> Any:
        """The first row of ``query``; the connection is dropped if anything fails."""
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self.connect()
                return self._conn.execute(query, params).fetchone()
            except BaseException:
                self._close()
                raise

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception as exc:  # an already broken connection
                logger.debug("closing the tile connection: %s", exc)
            self._conn = None

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._close()


@dataclass
class AppState:
    """Everything a request may need, built once by ``create_app``."""

    settings: Settings
    store: Store
    live: LiveIndex
    registry: Registry
    poller: LivePoller
    layers: Memo[tuple[int, str], gpd.GeoDataFrame] = field(default_factory=Memo)
    cell_indexes: Memo[int, GridIndex] = field(default_factory=lambda: Memo(max_size=8))
    units: Memo[int, UnitTable] = field(default_factory=Memo)
    lookups: LookupCache = field(default_factory=LookupCache)
    tiles: TileCache = field(default_factory=TileCache)
    tile_db: TileConnection | None = None
    addresses: Lazy[AddressMatcher] = field(default_factory=Lazy)
    batches: BatchPool = field(default_factory=BatchPool)
    _basemap: Lazy[dict[str, gpd.GeoDataFrame]] = field(default_factory=Lazy, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> AppState:
        """Open the store and registry named by ``settings`` and load the live version."""
        store = open_store(settings.store_url, schema=settings.db_schema)
        registry = open_registry(settings.store_url, schema=settings.db_schema)
        live = LiveIndex(store, lattice_cells=settings.lattice_cells)
        live.refresh()
        if not live.versions:  # served on purpose (the first publish may come through the API)
            logger.warning(
                "%s holds no approved plan version: lookups answer 404 and /ready 503 until "
                "one is published", settings.store_url if not settings.database_url else
                "the PostGIS store",
            )  # fmt: skip
        connect = getattr(store, "connect", None) if settings.database_url else None
        return cls(
            settings=settings,
            store=store,
            live=live,
            registry=registry,
            poller=LivePoller(live, settings.poll_interval_s),
            tile_db=TileConnection(connect) if connect is not None else None,
        )

    @property
    def on_postgis(self) -> bool:
        """Whether the plans live in PostGIS."""
        return self.settings.database_url is not None

    def band(self, version_id: int) -> Band:
        """The household band version ``version_id`` was drawn for (from the cached list)."""
        return self.live.version(version_id).band

    def layer(self, version_id: int, name: str) -> gpd.GeoDataFrame:
        """A layer (grids, cells, units) of one version, EPSG:4326, cached in memory.

        Raises
        ------
        UnavailableError
            The store is unreachable and the layer was never loaded.
        """
        if name == "grids":
            return self.live.index(version_id).grids
        return self.layers.get_or_build((version_id, name), lambda: self._read(version_id, name))

    def cell_index(self, version_id: int) -> GridIndex:
        """The unit cells of a version as a point index (empty when it has none), cached.

        Raises
        ------
        UnavailableError
            The store is unreachable and the cells were never loaded.
        """

        def build() -> GridIndex:
            cells = self.layer(version_id, "cells")
            return GridIndex(cells, key="cell_code", lattice_cells=0 if cells.empty else 256)

        return self.cell_indexes.get_or_build(version_id, build)

    def _read(self, version_id: int, name: str) -> gpd.GeoDataFrame:
        try:
            # ids reach here from the live index, or from a draft read by a key that may
            if name == "cells":
                return self.store.read_cells(version_id, drafts=True)
            info = self.store.version(version_id, drafts=True)
            return self.store.read_units(as_of=info.valid_from)  # a draft: the units now
        except Exception as exc:  # StoreError, or a psycopg error while the server restarts
            self.store.close()  # reconnect next time
            raise UnavailableError(f"the plan store is unreachable: {exc}") from exc

    def basemap(self) -> dict[str, gpd.GeoDataFrame]:
        """Roads and buildings from ``settings.basemap_path`` (empty when not configured)."""

        def read() -> dict[str, gpd.GeoDataFrame]:
            from gis.serving.features import read_basemap  # noqa: PLC0415

            path = self.settings.basemap_path
            return read_basemap(path) if path is not None else {}

        return self._basemap.get_or_build(read)

    def invalidate_version(self) -> None:
        """A version was published here: re-read the version list, drop what it changes."""
        self.poller.refresh()  # its on_reload hooks hear of the new version
        self.units.clear()
        self.lookups.invalidate_version()

    def invalidate_staff(self) -> None:
        """A roster was edited here: drop the cached roster and the answers showing it."""
        self.lookups.invalidate_staff()

    def invalidate_addresses(self) -> None:
        """The address table was replaced: rebuild the matcher on next use."""
        self.addresses.clear()

    def close(self) -> None:
        """Stop polling and the batch worker, close connections."""
        self.poller.stop()
        self.batches.close()
        self.store.close()
        self.registry.close()
        if self.tile_db is not None:
            self.tile_db.close()
