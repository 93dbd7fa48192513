"""The embedded store: every version of the plan in one GeoPackage file, no server needed.

Layout inside the file (all geometries EPSG:4326):

* ``plan_versions`` — a GeoPackage attributes table: id, created_at, author, note,
  parameters and report (JSON text), valid_from, valid_to (ISO 8601 UTC text; valid_to NULL
  while live), grid_count, and the version's household band band_min, band_max, band_target
  (NULL for a version published without one). Files written before the band was stored lack
  those three columns: they read as versions without a band, and the next publish adds the
  columns (in the copy it writes, so the upgrade is as atomic as the publish);
* ``grids``, ``cells``, ``units`` — geometry layers with a ``version_id`` column; rows are
  never updated, so a version's valid time lives in ``plan_versions`` only.

Publishing is atomic by copy-and-rename: under an exclusive lock on a side file
(``<name>.gpkg.lock``, ``fcntl.flock``, released by the OS if the process dies), the plan is
validated, the file is copied beside itself, the new rows are appended and the version table
updated in the copy, and the copy is moved onto the original with ``os.replace``. A crash at
any point leaves the original untouched (and at worst a stray ``.<name>.*.gpkg`` temp file).
The cost is one file copy per publish, fine for the few megabytes a town's history takes;
before copying, the publish checks that the disk holds the copy and the new rows, and any
write failure (no space left, permission denied) is one :class:`~gis.errors.StoreError` line
with the store unchanged.

A publish killed inside its write window (``kill -9``, a power cut) leaves its temporary
folder ``.<stem>.XXXXXXXX/`` beside the store, holding a copy the size of the store. Opening
the store removes such folders (:meth:`GeoPackageStore.clean_stale`), safely against a publish
still running in another process or thread: every publish holds the exclusive ``flock`` on the
lock file for the whole life of its folder, so the cleaner first takes that same lock without
waiting (``LOCK_EX | LOCK_NB``). If it gets it, no publish is running anywhere and every such
folder is stale; if it does not, a publish is running, its folder is live, and nothing is
removed (the next open cleans up). Only folders that look like a publish's are touched: a
dot-name ``.<stem>.`` plus eight characters, holding nothing but the store's copy
(``<name>``) and its SQLite side files.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import pandas as pd
import pyogrio

from gis import columns as col
from gis.errors import OutputError, StoreError, VersionNotFoundError
from gis.outputs.files import WRITE_ERRORS, atomic_path, cannot_write, reason
from gis.store.base import BaseStore, Guard
from gis.store.gpkg_tables import (
    ADDED_COLUMNS,
    VERSION_COLUMNS,
    VERSIONS_DDL,
    add_columns,
    table_columns,
    tables,
    time_text,
    upgrade,
    version_row,
    write_audit,
)
from gis.store.plan import (
    CELL_COLUMNS,
    GRID_COLUMNS,
    NUDGE,
    STORE_CRS,
    UNIT_COLUMNS,
    VERSION_ID,
    VersionInfo,
    check_coverage,
    check_overlaps,
    pick_grid,
    utc,
)
from gis.store.review import AuditEntry

logger = logging.getLogger(__name__)

SIDE_FILES: Final = ("", "-journal", "-wal", "-shm")
"""What a publish's temporary folder may hold: the store's copy and its SQLite side files."""

MARGIN_BYTES: Final = 2**20
"""Free space kept beyond the estimate of what a publish writes (1 MiB)."""


class GeoPackageStore(BaseStore):
    """Plans in a GeoPackage file (created on the first publish).

    Parameters
    ----------
    path
        The ``.gpkg`` file.
    create
        Whether the file may be missing (it is created by the first publish); when False, a
        missing, unreadable or foreign file is refused at once.

    Raises
    ------
    StoreError
        ``create`` is False and the file does not exist or is not a wangge plan store.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create:
            self._require_store()
        self.clean_stale()

    def _require_store(self) -> None:
        if not self.path.exists():
            msg = (
                f"plan store {self.path} does not exist; check the path, or publish a plan "
                f"into it first (wangge publish plan.gpkg --store {self.path} --author …)"
            )
            raise StoreError(msg)
        if self.path.is_dir() or not os.access(self.path, os.R_OK):
            what = "a folder" if self.path.is_dir() else "not readable (permission denied)"
            raise StoreError(f"plan store {self.path} is {what}; give a readable .gpkg file")
        self.versions()  # refuses a corrupt file or a GeoPackage that is no plan store

    def __repr__(self) -> str:
        return f"GeoPackageStore({str(self.path)!r})"

    @property
    def lock_path(self) -> Path:
        """The side file every publish holds an exclusive ``flock`` on."""
        return self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.lock_path.open("a")
        except OSError as exc:
            msg = (
                f"cannot publish into {self.path}: {reason(exc)} (its lock file "
                f"{self.lock_path} cannot be made); the store is unchanged"
            )
            raise StoreError(msg) from exc
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def stale_folders(self) -> list[Path]:
        """Temporary folders beside the store that look like a publish's (see the module)."""
        pattern = re.compile(rf"^\.{re.escape(self.path.stem)}\.[a-z0-9_]{{8}}$")
        allowed = {self.path.name + side for side in SIDE_FILES}
        try:
            entries = list(os.scandir(self.path.parent))
        except OSError:
            return []
        found = []
        for entry in entries:
            if not (pattern.match(entry.name) and entry.is_dir(follow_symlinks=False)):
                continue
            with contextlib.suppress(OSError):
                if set(os.listdir(entry.path)) <= allowed:
                    found.append(Path(entry.path))
        return sorted(found)

    def clean_stale(self) -> list[Path]:
        """Remove the temporary folders of killed publishes, unless a publish is running.

        Takes the publishers' lock without waiting; when another publish holds it, removes
        nothing (its folder is in use). Never raises: a folder that cannot be removed (a
        read-only disk) is logged and left.

        Returns
        -------
        list of pathlib.Path
            The folders removed.
        """
        candidates = self.stale_folders()
        if not candidates:
            return []
        removed: list[Path] = []
        try:
            with self.lock_path.open("a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    logger.info("a publish into %s is running; stale folders left", self.path)
                    return []
                try:
                    for folder in self.stale_folders():  # again, now that nobody can publish
                        size = sum(f.stat().st_size for f in folder.iterdir())
                        shutil.rmtree(folder)
                        removed.append(folder)
                        logger.warning(
                            "removed %s (%.1f MiB), left by a publish into %s that was killed",
                            folder, size / 2**20, self.path,
                        )  # fmt: skip
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        except OSError as exc:
            logger.warning("cannot clean stale folders beside %s: %s", self.path, exc)
        return removed

    def _layers(self, path: Path) -> set[str]:
        if not path.exists():
            return set()
        return {str(name) for name, _ in pyogrio.list_layers(path)}

    # ---- publishing ------------------------------------------------------------------------
    def _store(
        self,
        grids: gpd.GeoDataFrame,
        units: gpd.GeoDataFrame | None,
        cells: gpd.GeoDataFrame,
        meta: dict[str, Any],
        guard: Guard,
    ) -> int:
        if self.path.exists():
            self.versions()  # a file that is no plan store is refused before any lock file
        with self._locked():
            self._checkpoint("locked")
            check_overlaps(grids)
            check_coverage(grids, units)
            guard()
            self._checkpoint("validated")
            previous = self.versions()
            everything = self._all_versions()
            moment = self._next_moment()
            version_id = everything[-1].id + 1 if everything else 1
            self._check_space(grids, units, cells)
            try:
                with atomic_path(self.path) as tmp:
                    if self.path.exists():
                        shutil.copyfile(self.path, tmp)
                    self._append(tmp, "grids", grids, version_id)
                    self._append(tmp, "cells", cells, version_id)
                    if units is not None:
                        self._append(tmp, "units", units, version_id)
                    self._checkpoint("switched")
                    self._write_version(tmp, version_id, moment, meta, len(grids))
                    self._checkpoint("written")
            except (OutputError, *WRITE_ERRORS) as exc:
                raise self._not_published(exc, previous) from exc
        return version_id

    def _next_moment(self) -> datetime:
        """Now, or just after the live version's start when the clock says otherwise."""
        moment = datetime.now(UTC)
        starts = [v.valid_from for v in self.versions() if v.valid_from is not None]
        if starts and moment <= max(starts):
            moment = max(starts) + timedelta(microseconds=1)
        return moment

    def _not_published(self, exc: Exception, previous: list[VersionInfo]) -> StoreError:
        why = (exc if isinstance(exc, OutputError) else cannot_write(self.path, exc)).reason
        live = f"version {previous[-1].id} is still live" if previous else "it holds no version"
        return StoreError(
            f"cannot publish into {self.path}: {why}; the store is unchanged ({live})"
        )

    def _check_space(
        self, grids: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None, cells: gpd.GeoDataFrame
    ) -> None:
        """Refuse a publish the disk cannot hold: a copy of the store plus the new rows."""
        store_bytes = self.path.stat().st_size if self.path.exists() else 0
        rows = sum(
            int(gdf.geometry.to_wkb().map(len).sum()) + 200 * len(gdf)
            for gdf in (grids, units, cells)
            if gdf is not None and len(gdf)
        )
        needed = store_bytes + 3 * rows + MARGIN_BYTES  # rows, their R-tree and page slack
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            return
        if free < needed:
            error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            msg = (
                f"cannot publish into {self.path}: {reason(error)}; a publish writes a copy of "
                f"the store ({store_bytes / 2**20:.1f} MiB) with the new version (about "
                f"{3 * rows / 2**20:.1f} MiB), but only {free / 2**20:.1f} MiB are free; free "
                "some space and publish again (the store is unchanged)"
            )
            raise StoreError(msg)

    def _append(self, path: Path, layer: str, gdf: gpd.GeoDataFrame, version_id: int) -> None:
        if gdf.empty:
            return
        out = gdf.copy()
        out.insert(0, VERSION_ID, version_id)
        exists = layer in self._layers(path)
        if exists:
            add_columns(path, layer, out)
        pyogrio.write_dataframe(
            out,
            path,
            layer=layer,
            driver="GPKG",
            append=exists,
            geometry_type="Unknown",
            promote_to_multi=False,
        )

    def _write_version(
        self, path: Path, version_id: int, moment: datetime, meta: dict[str, Any], count: int
    ) -> None:
        """The version's row (and its audit entries); an approved one goes live at ``moment``,
        one in review gets the empty valid time ``[moment, moment)``: never in force."""
        stamp = time_text(moment)
        state = meta["state"]
        live = state == "approved"
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.executescript(VERSIONS_DDL)
            upgrade(conn)
            if live:
                conn.execute(
                    "UPDATE plan_versions SET valid_to = ? WHERE valid_to IS NULL", (stamp,)
                )
            conn.execute(
                "INSERT INTO plan_versions (id, created_at, author, note, parameters, report, "
                "valid_from, valid_to, grid_count, band_min, band_max, band_target, state, "
                "submitted_at, reviewer, reviewed_at, rollback_of) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    version_id,
                    stamp,
                    meta["author"],
                    meta["note"],
                    json.dumps(meta["parameters"], ensure_ascii=False),
                    json.dumps(meta["report"], ensure_ascii=False),
                    stamp,
                    None if live else stamp,
                    count,
                    *meta["band"],
                    state,
                    None if state == "draft" else stamp,
                    meta["author"] if live else None,
                    stamp if live else None,
                    meta["rollback_of"],
                ),
            )
            write_audit(conn, meta["audit"], version_id, stamp)

    def _review(
        self, version_id: int, change: dict[str, Any], guard: Callable[[VersionInfo], None]
    ) -> None:
        """One step of review, in place: a single SQLite transaction on ``plan_versions`` and
        ``audit_log`` (no layer is written, so no copy is needed), under the publishers'
        lock. An approval closes the live version and opens this one at the same instant."""
        with self._locked():
            guard(self.version(version_id, drafts=True))
            self._checkpoint("validated")
            stamp = time_text(self._next_moment())
            state = change["state"]
            try:
                with contextlib.closing(sqlite3.connect(self.path)) as conn, conn:
                    if state == "approved":
                        conn.execute(
                            "UPDATE plan_versions SET valid_to = ? "
                            "WHERE valid_to IS NULL AND state = 'approved'",
                            (stamp,),
                        )
                        conn.execute(
                            "UPDATE plan_versions SET valid_from = ?, valid_to = NULL WHERE id = ?",
                            (stamp, version_id),
                        )
                    if state == "submitted":
                        conn.execute(
                            "UPDATE plan_versions SET state = ?, submitted_at = ? WHERE id = ?",
                            (state, stamp, version_id),
                        )
                    else:
                        conn.execute(
                            "UPDATE plan_versions SET state = ?, reviewer = ?, reviewed_at = ?, "
                            "review_note = ? WHERE id = ?",
                            (state, change["reviewer"], stamp, change["review_note"], version_id),
                        )
                    self._checkpoint("switched")
                    write_audit(conn, change["audit"], version_id, stamp)
            except (sqlite3.Error, *WRITE_ERRORS) as exc:
                why = reason(exc) if isinstance(exc, OSError) else str(exc)
                msg = f"cannot change version {version_id} in {self.path}: {why}; nothing changed"
                raise StoreError(msg) from exc

    # ---- reading ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection; a file that is no plan store is one StoreError."""
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
                yield conn
        except sqlite3.DatabaseError as exc:
            msg = (
                f"{self.path} is not a wangge plan store ({exc}); give the store's path, or "
                "publish into a new .gpkg"
            )
            raise StoreError(msg) from exc

    def _all_versions(self) -> list[VersionInfo]:
        """Every stored version, oldest first (none while the file does not exist)."""
        if not self.path.exists():
            return []
        with self._reading() as conn:
            have = table_columns(conn, "plan_versions")
            added = [c if c in have else old for c, (_, old) in ADDED_COLUMNS.items()]
            rows = conn.execute(
                f"SELECT {', '.join([*VERSION_COLUMNS, *added])} FROM plan_versions ORDER BY id"
            ).fetchall()
        return [version_row(r) for r in rows]

    def audit(self, version_id: int | None = None) -> list[AuditEntry]:
        """The audit log (every step, or those on one version), oldest first."""
        if not self.path.exists():
            return []
        with self._reading() as conn:
            if "audit_log" not in tables(conn):
                return []
            where = "" if version_id is None else f" WHERE version_id = {int(version_id)}"
            rows = conn.execute(
                f"SELECT id, at, actor, action, version_id, detail FROM audit_log{where} "
                "ORDER BY id"
            ).fetchall()
        return [
            AuditEntry(int(r[0]), datetime.fromisoformat(r[1]), r[2], r[3], r[4], json.loads(r[5]))
            for r in rows
        ]

    def _codes_by_version(self) -> dict[int, set[str]]:
        approved = [v.id for v in self.versions()]
        if not approved or "grids" not in self._layers(self.path):
            return {}
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {VERSION_ID}, {col.GRID_CODE} FROM grids WHERE {VERSION_ID} IN "
                f"({', '.join(str(int(v)) for v in approved)})"
            ).fetchall()
        found: dict[int, set[str]] = {v: set() for v in approved}
        for version_id, code in rows:
            found[int(version_id)].add(str(code))
        return found

    def _read(
        self,
        layer: str,
        columns: tuple[str, ...],
        *,
        where: str | None = None,
        bbox: tuple[float, float, float, float] | None = None,
    ) -> gpd.GeoDataFrame:
        if layer not in self._layers(self.path):
            empty = pd.DataFrame({c: pd.Series(dtype=object) for c in (VERSION_ID, *columns)})
            return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=STORE_CRS))
        gdf = pyogrio.read_dataframe(self.path, layer=layer, where=where, bbox=bbox)
        gdf = gdf.rename_geometry("geometry") if gdf.geometry.name != "geometry" else gdf
        for name in set(columns) - set(gdf.columns):  # a layer written before the column
            gdf[name] = False if name == col.HOUSEHOLDS_ESTIMATED else None
        if col.HOUSEHOLDS_ESTIMATED in gdf:
            gdf[col.HOUSEHOLDS_ESTIMATED] = gdf[col.HOUSEHOLDS_ESTIMATED].fillna(False).astype(bool)
        gdf = gdf[[VERSION_ID, *columns, "geometry"]].set_crs(STORE_CRS, allow_override=True)
        return gpd.GeoDataFrame(gdf.reset_index(drop=True), geometry="geometry")

    def _read_layer(self, layer: str, version_id: int) -> gpd.GeoDataFrame:
        columns = GRID_COLUMNS if layer == "grids" else CELL_COLUMNS
        gdf = self._read(layer, columns, where=f"{VERSION_ID} = {int(version_id)}")
        keys = [col.GRID_CODE] if layer == "grids" else [col.GRID_CODE, "cell_code"]
        gdf = gdf.sort_values(keys).reset_index(drop=True)
        gdf[VERSION_ID] = gdf[VERSION_ID].astype("int64")
        gdf[col.HOUSEHOLDS] = gdf[col.HOUSEHOLDS].astype("int64")
        return gdf

    def read_units(self, *, as_of: datetime | None = None) -> gpd.GeoDataFrame:
        """Administrative units in force at ``as_of`` (default: now), EPSG:4326.

        For each unit code, the row from the latest version that carried units and was
        published at or before ``as_of``.
        """
        moment = utc(as_of)
        started = {
            v.id: v.valid_from
            for v in self.versions()
            if v.valid_from is not None and (moment is None or v.valid_from <= moment)
        }
        units = self._read("units", UNIT_COLUMNS)
        units = units[units[VERSION_ID].isin(list(started))]
        units = units.assign(_start=units[VERSION_ID].map(started))  # approval order, not id
        units = units.sort_values(["_start", col.UNIT_CODE], kind="stable")
        units = units.drop_duplicates(col.UNIT_CODE, keep="last").sort_values(col.UNIT_CODE)
        return gpd.GeoDataFrame(
            units[[*UNIT_COLUMNS, "geometry"]].reset_index(drop=True), geometry="geometry"
        )

    def grid_at(self, lon: float, lat: float, *, as_of: datetime | None = None) -> str | None:
        """Code of the grid holding a point (EPSG:4326) at ``as_of`` (default: now).

        Same boundary rule as the PostGIS store (:func:`gis.store.plan.pick_grid`).
        """
        try:
            info = self.version(as_of=as_of)
        except VersionNotFoundError:
            return None
        pad = 10 * max(NUDGE)
        grids = self._read(
            "grids",
            GRID_COLUMNS,
            where=f"{VERSION_ID} = {int(info.id)}",
            bbox=(lon - pad, lat - pad, lon + pad, lat + pad),
        )
        return pick_grid(grids, lon, lat)
