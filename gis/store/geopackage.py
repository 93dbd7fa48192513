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
The cost is one file copy per publish, fine for the few megabytes a town's history takes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import pandas as pd
import pyogrio

from gis import columns as col
from gis.errors import StoreError, VersionNotFoundError
from gis.outputs.files import atomic_path
from gis.store.base import BaseStore
from gis.store.plan import (
    CELL_COLUMNS,
    GRID_COLUMNS,
    NUDGE,
    STORE_CRS,
    UNIT_COLUMNS,
    VERSION_ID,
    VersionInfo,
    band_of,
    check_coverage,
    check_overlaps,
    pick_grid,
    utc,
)

TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%f+00:00"

VERSIONS_DDL: Final = """
CREATE TABLE IF NOT EXISTS plan_versions (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    author TEXT NOT NULL,
    note TEXT NOT NULL,
    parameters TEXT NOT NULL,
    report TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    grid_count INTEGER NOT NULL,
    band_min INTEGER,
    band_max INTEGER,
    band_target INTEGER
);
INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)
VALUES ('plan_versions', 'attributes', 'plan_versions', 'wangge plan versions');
"""


BAND_COLUMNS: Final = ("band_min", "band_max", "band_target")
"""Columns of ``plan_versions`` added when the band was first stored (absent in older files)."""

VERSION_COLUMNS: Final = (
    "id", "created_at", "author", "note", "parameters", "report", "valid_from", "valid_to",
    "grid_count",
)  # fmt: skip


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def _upgrade(conn: sqlite3.Connection) -> None:
    """Add the band columns to a ``plan_versions`` table written before they existed."""
    have = _columns(conn, "plan_versions")
    for name in BAND_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE plan_versions ADD COLUMN {name} INTEGER")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _version(r: tuple[Any, ...]) -> VersionInfo:
    created, valid_from = _parse(r[1]), _parse(r[6])
    assert created is not None
    assert valid_from is not None
    return VersionInfo(
        id=int(r[0]),
        created_at=created,
        author=r[2],
        note=r[3],
        parameters=json.loads(r[4]),
        report=json.loads(r[5]),
        valid_from=valid_from,
        valid_to=_parse(r[7]),
        grids=int(r[8]),
        band=band_of((r[9], r[10], r[11]), int(r[0])),
    )


class GeoPackageStore(BaseStore):
    """Plans in a GeoPackage file (created on the first publish).

    Parameters
    ----------
    path
        The ``.gpkg`` file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"GeoPackageStore({str(self.path)!r})"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _layers(self, path: Path) -> set[str]:
        if not path.exists():
            return set()
        return {str(name) for name, _ in pyogrio.list_layers(path)}

    # ---- publishing ------------------------------------------------------------------------
    def _publish(
        self,
        grids: gpd.GeoDataFrame,
        units: gpd.GeoDataFrame | None,
        cells: gpd.GeoDataFrame,
        meta: dict[str, Any],
    ) -> int:
        with self._locked():
            self._checkpoint("locked")
            check_overlaps(grids)
            check_coverage(grids, units)
            self._checkpoint("validated")
            previous = self.versions()
            moment = datetime.now(UTC)
            if previous and moment <= previous[-1].valid_from:
                moment = previous[-1].valid_from + timedelta(microseconds=1)
            version_id = previous[-1].id + 1 if previous else 1
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
        return version_id

    def _append(self, path: Path, layer: str, gdf: gpd.GeoDataFrame, version_id: int) -> None:
        if gdf.empty:
            return
        out = gdf.copy()
        out.insert(0, VERSION_ID, version_id)
        pyogrio.write_dataframe(
            out,
            path,
            layer=layer,
            driver="GPKG",
            append=layer in self._layers(path),
            geometry_type="Unknown",
            promote_to_multi=False,
        )

    def _write_version(
        self, path: Path, version_id: int, moment: datetime, meta: dict[str, Any], count: int
    ) -> None:
        stamp = _stamp(moment)
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.executescript(VERSIONS_DDL)
            _upgrade(conn)
            conn.execute("UPDATE plan_versions SET valid_to = ? WHERE valid_to IS NULL", (stamp,))
            conn.execute(
                "INSERT INTO plan_versions (id, created_at, author, note, parameters, report, "
                "valid_from, valid_to, grid_count, band_min, band_max, band_target) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
                (
                    version_id,
                    stamp,
                    meta["author"],
                    meta["note"],
                    json.dumps(meta["parameters"], ensure_ascii=False),
                    json.dumps(meta["report"], ensure_ascii=False),
                    stamp,
                    count,
                    *meta["band"],
                ),
            )

    # ---- reading ---------------------------------------------------------------------------
    def versions(self) -> list[VersionInfo]:
        """Every published version, oldest first (none while the file does not exist)."""
        if not self.path.exists():
            return []
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
                have = _columns(conn, "plan_versions")
                band = [c if c in have else "NULL" for c in BAND_COLUMNS]  # older files: none
                rows = conn.execute(
                    f"SELECT {', '.join([*VERSION_COLUMNS, *band])} FROM plan_versions ORDER BY id"
                ).fetchall()
        except sqlite3.DatabaseError as exc:
            msg = f"{self.path} is not a wangge plan store ({exc}); publish into a new .gpkg"
            raise StoreError(msg) from exc
        return [_version(r) for r in rows]

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
        known = [v.id for v in self.versions() if moment is None or v.valid_from <= moment]
        units = self._read("units", UNIT_COLUMNS)
        units = units[units[VERSION_ID].isin(known)].sort_values([VERSION_ID, col.UNIT_CODE])
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
