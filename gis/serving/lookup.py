"""Which grid holds a point: an in-memory index of one plan version, and of the live one.

The boundary rule (the one rule every lookup path shares)
---------------------------------------------------------
A point ``(lon, lat)`` in EPSG:4326 belongs to

1. the grids that **cover** it (interior or boundary); none → outside every grid;
2. among those, the one whose **interior contains the point nudged** by
   :data:`gis.store.plan.NUDGE` (``(1e-9, 0.618e-9)`` degrees, ≈ 0.1 mm east-north-east);
3. if still tied (or the nudged point is in none of them), the **lowest grid code**.

So a point inside one grid gets that grid, a point on an edge shared by two grids gets the
grid lying east-north-east of it, and a vertex shared by three grids gets exactly one. The
same rule is written in SQL by :meth:`gis.store.postgis.PostgisStore.grid_at` (and by the
API's batch SQL), in Python by :func:`gis.store.plan.pick_grid` (one point) and
:meth:`GridIndex.locate` (vectorised).

:class:`GridIndex` answers from memory: a shapely ``STRtree`` for the exact rule, behind a
lattice of cells over the plan's extent. A cell whose box (grown by twice the nudge) lies in
the interior of one grid, or meets no grid at all, answers every point in it directly; only
points in cells crossed by a boundary go through the exact test. Both give the same answer.

:class:`LiveIndex` keeps the index of the version live now (and of a few past versions for
``as_of`` queries), refreshes it from the store when asked (:meth:`LiveIndex.refresh`; the
service polls it from its own thread, :mod:`api.live`), and keeps answering from memory while
the store is unreachable.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely

from gis import columns as col
from gis.arrays import ranges
from gis.errors import GeometryError, StoreError, VersionNotFoundError
from gis.geometry.coords import to_wgs84
from gis.geometry.ownership import pick_owners
from gis.store import Store
from gis.store.plan import NUDGE, STORE_CRS, VersionInfo, utc

logger = logging.getLogger(__name__)

OUTSIDE: Final = -1
"""Index returned for a point outside every grid."""

LATTICE_CELLS: Final = 512
"""Cells along the longer side of the plan's extent in the lookup lattice."""

_MIXED: Final = -2


def locate_exact(
    tree: shapely.STRtree,
    geoms: npt.NDArray[np.object_],
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]:
    """Index of the grid holding each point by the boundary rule, ``-1`` when outside.

    Parameters
    ----------
    tree
        ``STRtree(geoms)``.
    geoms
        Grid polygons in EPSG:4326, **sorted by grid code** (so the lowest index is the
        lowest code, step 3 of the rule).
    lon, lat
        Point coordinates in degrees (EPSG:4326).

    Returns
    -------
    numpy.ndarray
        One index into ``geoms`` per point.
    """
    result = np.full(len(lon), OUTSIDE, dtype=np.int64)
    if len(lon) == 0 or len(geoms) == 0:
        return result
    points = shapely.points(lon, lat)
    pi, gi = tree.query(points, predicate="intersects")  # point ∩ polygon ≠ ∅ ⇔ covers
    return _pick(result, pi, gi, geoms, lon, lat)


def _pick(
    result: npt.NDArray[np.int64],
    pi: npt.NDArray[np.int64],
    gi: npt.NDArray[np.int64],
    geoms: npt.NDArray[np.object_],
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]:
    """Steps 2–3 of the rule for (point, covering grid) pairs ``pi``, ``gi``; fills ``result``.

    The library's one implementation (:func:`gis.geometry.ownership.pick_owners`), with the
    nudge in degrees.
    """

    def inside(mp: npt.NDArray[np.int64], mg: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        return shapely.contains_xy(geoms[mg], lon[mp] + NUDGE[0], lat[mp] + NUDGE[1])

    return pick_owners(result, pi, gi, inside)


class GridIndex:
    """The grids of one plan version, ready to answer point lookups from memory.

    Parameters
    ----------
    grids
        The version's grids (any CRS; reprojected to EPSG:4326), with ``grid_code``.
    version
        The version they belong to (None for an ad-hoc plan).
    lattice_cells
        Cells along the longer side of the extent (0 disables the lattice).
    key
        The column of codes (``cell_code`` for an index of unit cells).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> g = gpd.GeoDataFrame({"grid_code": ["A", "B"]},
    ...                      geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4326")
    >>> index = GridIndex(g)
    >>> [index.code(i) for i in index.locate([0.5, 1.0, 3.0], [0.5, 0.5, 0.5])]
    ['A', 'B', None]
    """

    def __init__(
        self,
        grids: gpd.GeoDataFrame,
        *,
        version: VersionInfo | None = None,
        lattice_cells: int = LATTICE_CELLS,
        key: str = col.GRID_CODE,
    ) -> None:
        if grids.crs is not None and not grids.crs.equals(STORE_CRS):
            grids = grids.to_crs(STORE_CRS)
        self.grids = grids.sort_values(key).reset_index(drop=True)
        self.version = version
        self.codes: npt.NDArray[np.str_] = self.grids[key].astype(str).to_numpy()
        self._position = {code: i for i, code in enumerate(self.codes)}
        self.geoms: npt.NDArray[np.object_] = self.grids.geometry.to_numpy()
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        self.records: list[dict[str, Any]] = [
            {k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()}
            for rec in self.grids.drop(columns=self.grids.geometry.name).to_dict("records")
        ]
        self._lattice: npt.NDArray[np.int64] | None = None
        self._build_lattice(lattice_cells)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def version_id(self) -> int | None:
        """Id of the indexed version."""
        return None if self.version is None else self.version.id

    def _build_lattice(self, cells: int) -> None:
        if cells <= 0 or len(self.geoms) == 0:
            return
        x0, y0, x1, y1 = (float(v) for v in self.grids.total_bounds)
        span = max(x1 - x0, y1 - y0) or 1e-9
        step = span / cells
        nx, ny = max(1, int(np.ceil((x1 - x0) / step))), max(1, int(np.ceil((y1 - y0) / step)))
        ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
        pad = 2 * max(NUDGE)
        boxes = shapely.box(
            x0 + ix.ravel() * step - pad,
            y0 + iy.ravel() * step - pad,
            x0 + (ix.ravel() + 1) * step + pad,
            y0 + (iy.ravel() + 1) * step + pad,
        )
        lattice = np.full(len(boxes), OUTSIDE, dtype=np.int64)
        bi, gi = self.tree.query(boxes, predicate="intersects")
        counts = np.bincount(bi, minlength=len(boxes))
        lattice[counts > 1] = _MIXED
        one = counts[bi] == 1
        ob, og = bi[one], gi[one]
        proper = shapely.contains_properly(self.geoms[og], boxes[ob])
        lattice[ob] = np.where(proper, og, _MIXED)
        # boundary cells: -2 - m, with their candidate grids in CSR arrays (start, cand)
        mixed = np.flatnonzero(lattice == _MIXED)
        cell_to_m = np.full(len(boxes), -1, dtype=np.int64)
        cell_to_m[mixed] = np.arange(len(mixed))
        lattice[mixed] = _MIXED - np.arange(len(mixed))
        keep = cell_to_m[bi] >= 0
        mb, mg = cell_to_m[bi[keep]], gi[keep]
        order = np.lexsort((mg, mb))
        self._cand = mg[order]
        self._start = np.searchsorted(mb[order], np.arange(len(mixed) + 1))
        self._lattice = lattice.reshape(ny, nx)
        self._origin = (x0, y0)
        self._bounds = (x0, y0, x1, y1)
        self._step = step
        logger.debug("lookup lattice %d×%d, %d boundary cells", nx, ny, len(mixed))

    def locate(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Index of the grid holding each point (EPSG:4326), ``-1`` outside; see the module rule.

        Parameters
        ----------
        lon, lat
            Coordinates in degrees, same length.

        Returns
        -------
        numpy.ndarray
            Positions into :attr:`codes` / :attr:`grids`.
        """
        x = np.asarray(lon, dtype=np.float64).ravel()
        y = np.asarray(lat, dtype=np.float64).ravel()
        if self._lattice is None:
            return locate_exact(self.tree, self.geoms, x, y)
        ny, nx = self._lattice.shape
        with np.errstate(invalid="ignore"):
            cx = np.floor((x - self._origin[0]) / self._step)
            cy = np.floor((y - self._origin[1]) / self._step)
        inside = (cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny)
        result = np.full(len(x), OUTSIDE, dtype=np.int64)
        result[inside] = self._lattice[cy[inside].astype(np.int64), cx[inside].astype(np.int64)]
        # points in boundary cells, or on the extent's edge beyond the last cell: exact rule
        x0, y0, x1, y1 = self._bounds
        edge = ~inside & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        exact = np.flatnonzero(edge)
        if len(exact):
            result[exact] = locate_exact(self.tree, self.geoms, x[exact], y[exact])
        mixed = np.flatnonzero(result <= _MIXED)
        if len(mixed):
            result[mixed] = self._locate_candidates(x[mixed], y[mixed], _MIXED - result[mixed])
        return result

    def _locate_candidates(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], m: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """The rule for points in boundary cells ``m``, testing only each cell's candidates."""
        counts = self._start[m + 1] - self._start[m]
        pi = np.repeat(np.arange(len(x)), counts)
        gi = self._cand[ranges(self._start[m], counts)]
        covers = shapely.intersects_xy(self.geoms[gi], x[pi], y[pi])
        result = np.full(len(x), OUTSIDE, dtype=np.int64)
        return _pick(result, pi[covers], gi[covers], self.geoms, x, y)

    def code(self, position: int) -> str | None:
        """Grid code at a position returned by :meth:`locate` (None for ``-1``)."""
        return None if position < 0 else str(self.codes[position])

    def position(self, code: str) -> int | None:
        """Position of a grid code, None when the version has no such grid."""
        return self._position.get(code)

    def record(self, position: int) -> dict[str, Any]:
        """The attributes (no geometry) of the grid at ``position``."""
        return dict(self.records[position])


@dataclass
class LiveIndex:
    """The index of the live version (plus a few past ones), refreshed from a store.

    Lookups never touch the store: the version list and the indexes are cached, and a store
    that cannot be reached (a restarting database) leaves the last good state in place. Nothing
    here runs in the background: call :meth:`refresh` to pick up a new version (safe from any
    thread).

    Parameters
    ----------
    store
        The plan store.
    keep
        How many past versions' indexes to keep for ``as_of`` lookups.
    lattice_cells
        See :class:`GridIndex`.
    """

    store: Store
    keep: int = 4
    lattice_cells: int = LATTICE_CELLS
    versions: list[VersionInfo] = field(default_factory=list)
    last_error: str | None = None
    _indexes: OrderedDict[int, GridIndex] = field(default_factory=OrderedDict)
    _drafts: OrderedDict[int, GridIndex] = field(default_factory=OrderedDict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def refresh(self) -> bool:
        """Re-read the version list; build the live index if a new version went live.

        Returns
        -------
        bool
            Whether the store answered (False: the cached state is kept).
        """
        try:
            versions = self.store.versions()
            live = next((v for v in versions if v.live), None)
            if live is not None and live.id not in self._indexes:
                self._add(
                    GridIndex(
                        self.store.read_grids(live.id),
                        version=live,
                        lattice_cells=self.lattice_cells,
                    )
                )
        except (StoreError, OSError) as exc:
            self.last_error = str(exc)
            self.store.close()
            logger.warning("plan store unreachable, answering from memory: %s", exc)
            return False
        except Exception as exc:  # psycopg errors during a restart, sqlite busy…
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.store.close()  # reconnect on the next poll
            logger.warning("plan store refresh failed, answering from memory: %s", exc)
            return False
        with self._lock:
            self.versions = versions
            if live is not None:  # refresh the cached VersionInfo (valid_to changes)
                for vid, index in self._indexes.items():
                    index.version = next((v for v in versions if v.id == vid), index.version)
        self.last_error = None
        return True

    def _add(self, index: GridIndex) -> None:
        assert index.version is not None
        with self._lock:
            self._indexes[index.version.id] = index
            self._indexes.move_to_end(index.version.id)
            live = [i for i, x in self._indexes.items() if x.version and x.version.live]
            while len(self._indexes) > self.keep + 1:
                oldest = next(i for i in self._indexes if i not in live[-1:])
                del self._indexes[oldest]

    def resolve(self, version_id: int | None = None, *, as_of: datetime | None = None) -> int:
        """Id of version ``version_id``, of the one live at ``as_of``, or of the live one.

        Raises
        ------
        VersionNotFoundError
            No such version in the cached list.
        """
        with self._lock:
            versions = list(self.versions)
        if version_id is not None:
            if any(v.id == version_id for v in versions):
                return version_id
            known = ", ".join(str(v.id) for v in versions) or "none yet"
            msg = f"no plan version {version_id}; versions: {known}"
            raise VersionNotFoundError(msg)
        moment = utc(as_of)
        if moment is None:
            live = [v for v in versions if v.live]
            if live:
                return live[-1].id
        else:
            # in order of going live (a draft approved late goes live after later ids)
            started = [(v.valid_from, v) for v in versions if v.valid_from is not None]
            started.sort(key=lambda pair: pair[0])
            ordered = [v for _, v in started]
            starts = [start for start, _ in started]
            i = bisect.bisect_right(starts, moment) - 1
            end = ordered[i].valid_to if i >= 0 else None
            if i >= 0 and (end is None or moment < end):
                return ordered[i].id
        when = f"at {moment.isoformat()}" if moment is not None else "now"
        msg = f"no plan version was live {when}; publish one first"
        raise VersionNotFoundError(msg)

    def version(
        self, version_id: int | None = None, *, as_of: datetime | None = None
    ) -> VersionInfo:
        """The cached record of a version (see :meth:`resolve`): its valid time, band, ….

        Raises
        ------
        VersionNotFoundError
            No such version in the cached list.
        """
        vid = self.resolve(version_id, as_of=as_of)
        with self._lock:
            return next(v for v in self.versions if v.id == vid)

    def cached(
        self, version_id: int | None = None, *, as_of: datetime | None = None
    ) -> GridIndex | None:
        """The index of a version if it is in memory (None: :meth:`index` must build it)."""
        vid = self.resolve(version_id, as_of=as_of)
        return self._indexes.get(vid)

    def index(self, version_id: int | None = None, *, as_of: datetime | None = None) -> GridIndex:
        """The index of a version (see :meth:`resolve`), built from the store on first use."""
        vid = self.resolve(version_id, as_of=as_of)
        with self._lock:
            found = self._indexes.get(vid)
            if found is not None:
                self._indexes.move_to_end(vid)
                return found
            info = next(v for v in self.versions if v.id == vid)
        try:
            grids = self.store.read_grids(vid)
        except StoreError:
            raise
        except Exception as exc:  # a driver error while the database restarts
            self.store.close()
            msg = f"cannot read version {vid} from the plan store: {exc}"
            raise StoreError(msg) from exc
        built = GridIndex(grids, version=info, lattice_cells=self.lattice_cells)
        self._add(built)
        return built

    def draft_index(self, version_id: int) -> GridIndex:
        """The index of a version in review (or rejected), asked for by id: the caller has
        checked that it may read drafts. An approved version's is :meth:`index`'s.

        Raises
        ------
        VersionNotFoundError
            No version of that id at all.
        """
        info = self.store.version(version_id, drafts=True)
        if info.approved:
            return self.index(version_id)
        with self._lock:
            found = self._drafts.get(version_id)
            if found is not None and found.version == info:
                return found
        built = GridIndex(
            self.store.read_grids(version_id, drafts=True),
            version=info,
            lattice_cells=self.lattice_cells,
        )
        with self._lock:
            self._drafts[version_id] = built
            while len(self._drafts) > 2:  # drafts are looked at one or two at a time
                self._drafts.popitem(last=False)
        return built


def points_to_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, crs: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Points in ``crs`` (wgs84, cgcs2000, gcj02, bd09, EPSG:nnnn) as WGS 84 lon/lat, checked.

    Raises
    ------
    CRSError
        Unknown ``crs``.
    GeometryError
        A coordinate is not finite or falls outside lon [-180, 180], lat [-90, 90] once
        converted (the message names the first offending point and its index).
    """
    x, y = to_wgs84(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), crs)
    x, y = np.atleast_1d(x), np.atleast_1d(y)
    bad = ~(np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        lon_in, lat_in = np.atleast_1d(lon)[i], np.atleast_1d(lat)[i]
        msg = (
            f"point {i} ({lon_in}, {lat_in}) in crs {crs!r} is not a valid position "
            f"({int(bad.sum())} bad of {len(x)}): give lon, lat in degrees for wgs84/gcj02/bd09, "
            "x, y in the CRS's units for EPSG:nnnn"
        )
        raise GeometryError(msg)
    return x, y


TOWN_LEVELS: Final = ("town", "street", "township", "subdistrict")


def parent_chain(
    parent_code: str, parent_name: str | None, units: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The administrative units above a grid, nearest first, up to the town / street office.

    Parameters
    ----------
    parent_code, parent_name
        The grid's community or village.
    units
        Unit code → ``{"unit_name", "level", "parent_code"}`` (may be empty).

    Returns
    -------
    list of dict
        ``{"code", "name", "level"}`` entries. Without a unit record, the 12-digit statistics
        code is read by its digits (9-digit town prefix), names left None.
    """
    chain: list[dict[str, Any]] = []
    code: str | None = parent_code
    seen: set[str] = set()
    while code and code not in seen and len(chain) < 6:
        seen.add(code)
        unit = units.get(code)
        if unit is not None:
            level = unit.get("level")
            chain.append({"code": code, "name": unit.get("unit_name"), "level": level})
            if level in TOWN_LEVELS:
                break
            code = unit.get("parent_code")
            continue
        if not chain:
            chain.append({"code": code, "name": parent_name, "level": "community"})
        elif len(code) == 9:
            chain.append({"code": code, "name": None, "level": "town"})
            break
        code = code[:9] if len(code) == 12 else None
    return chain


BATCH_SQL: Final = """
SELECT (SELECT g.grid_code FROM grids g
        WHERE g.version_id = %(v)s
          AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326))
        ORDER BY ST_Contains(g.geom, ST_SetSRID(ST_MakePoint(p.x + %(dx)s, p.y + %(dy)s), 4326))
                 DESC, g.grid_code
        LIMIT 1)
FROM unnest(%(xs)s::float8[], %(ys)s::float8[]) WITH ORDINALITY AS p(x, y, i)
ORDER BY p.i
"""
"""The boundary rule in SQL for a batch of points (same rule as ``PostgisStore.grid_at``)."""


def locate_sql(
    conn: Any, version_id: int, lon: npt.ArrayLike, lat: npt.ArrayLike
) -> list[str | None]:
    """Grid code per point by the boundary rule, computed by PostGIS (an ``unnest`` join).

    Parameters
    ----------
    conn
        A psycopg connection whose ``search_path`` holds the store's tables.
    version_id
        The plan version.
    lon, lat
        Points in EPSG:4326.
    """
    params = {
        "v": version_id, "dx": NUDGE[0], "dy": NUDGE[1],
        "xs": np.asarray(lon, dtype=float).tolist(), "ys": np.asarray(lat, dtype=float).tolist(),
    }  # fmt: skip
    return [None if r[0] is None else str(r[0]) for r in conn.execute(BATCH_SQL, params)]
