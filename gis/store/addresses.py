"""The standard-address table and the grid workers' public roster, beside the plan store.

PostGIS keeps them in the store schema's ``addresses`` and ``staff`` tables (see
:mod:`gis.store.models`); the embedded store keeps them in a SQLite file next to the
GeoPackage (``<name>.registry.sqlite``), so editing them never rewrites the plan file.
Only public-notice staff fields exist here (name, role, phone, photo): no resident data.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any, Final, Protocol

import pandas as pd

from gis.errors import StoreError
from gis.store import is_database_url

ADDRESS_FIELDS: Final = (
    "address", "region", "street", "compound", "door_number", "building", "unit", "room",
    "building_id",
)  # fmt: skip
STAFF_FIELDS: Final = ("grid_code", "name", "role", "phone", "photo_path")

SQLITE_DDL: Final = """
CREATE TABLE IF NOT EXISTS addresses (
    id INTEGER PRIMARY KEY, address TEXT NOT NULL, region TEXT, street TEXT, compound TEXT,
    door_number TEXT, building TEXT, unit TEXT, room TEXT, building_id TEXT,
    lon REAL NOT NULL, lat REAL NOT NULL);
CREATE TABLE IF NOT EXISTS staff (
    id INTEGER PRIMARY KEY, grid_code TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
    phone TEXT, photo_path TEXT);
"""


class Registry(Protocol):
    """Addresses and staff of one store."""

    def replace_addresses(self, table: pd.DataFrame) -> int:
        """Replace the whole address table (columns ADDRESS_FIELDS + lon, lat in WGS 84)."""
        ...

    def read_addresses(self) -> pd.DataFrame:
        """Every address with lon, lat (EPSG:4326)."""
        ...

    def read_staff(self) -> pd.DataFrame:
        """The current public roster (STAFF_FIELDS)."""
        ...

    def replace_staff(self, grid_code: str, rows: list[dict[str, Any]]) -> int:
        """Replace the staff of one grid."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _rows(table: pd.DataFrame, fields: tuple[str, ...]) -> list[tuple[Any, ...]]:
    frame = table.reindex(columns=list(fields)).astype(object)
    frame = frame.where(pd.notna(frame), None)
    return [tuple(r) for r in frame.itertuples(index=False, name=None)]


class SqliteRegistry:
    """Addresses and staff in a SQLite file beside the GeoPackage store."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.executescript(SQLITE_DDL)
        return conn

    def replace_addresses(self, table: pd.DataFrame) -> int:
        """Replace the whole address table in one transaction."""
        fields = (*ADDRESS_FIELDS, "lon", "lat")
        with contextlib.closing(self._connect()) as conn, conn:
            conn.execute("DELETE FROM addresses")
            conn.executemany(
                f"INSERT INTO addresses ({', '.join(fields)}) "
                f"VALUES ({', '.join('?' * len(fields))})",
                _rows(table, fields),
            )
        return len(table)

    def read_addresses(self) -> pd.DataFrame:
        """Every address with lon, lat."""
        fields = ("id", *ADDRESS_FIELDS, "lon", "lat")
        with contextlib.closing(self._connect()) as conn:
            rows = conn.execute(f"SELECT {', '.join(fields)} FROM addresses ORDER BY id").fetchall()
        return pd.DataFrame(rows, columns=list(fields))

    def read_staff(self) -> pd.DataFrame:
        """The roster."""
        with contextlib.closing(self._connect()) as conn:
            rows = conn.execute(
                f"SELECT {', '.join(STAFF_FIELDS)} FROM staff ORDER BY grid_code, id"
            ).fetchall()
        return pd.DataFrame(rows, columns=list(STAFF_FIELDS))

    def replace_staff(self, grid_code: str, rows: list[dict[str, Any]]) -> int:
        """Replace one grid's staff."""
        table = pd.DataFrame([{**r, "grid_code": grid_code} for r in rows])
        with contextlib.closing(self._connect()) as conn, conn:
            conn.execute("DELETE FROM staff WHERE grid_code = ?", (grid_code,))
            if rows:
                conn.executemany(
                    f"INSERT INTO staff ({', '.join(STAFF_FIELDS)}) VALUES (?, ?, ?, ?, ?)",
                    _rows(table, STAFF_FIELDS),
                )
        return len(rows)

    def close(self) -> None:
        """Nothing to release (one connection per call)."""


class PostgisRegistry:
    """Addresses and staff in the PostGIS store schema."""

    def __init__(self, url: str, *, schema: str = "public") -> None:
        from gis.store.postgis import PostgisStore  # noqa: PLC0415 - psycopg is optional

        self._store = PostgisStore(url, schema=schema, migrate=False)
        self._lock = threading.Lock()

    def replace_addresses(self, table: pd.DataFrame) -> int:
        """Replace the whole address table in one transaction (COPY)."""
        fields = (*ADDRESS_FIELDS, "lon", "lat")
        with self._store.connect() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE staging_addresses (address text, region text, "
                "street text, compound text, door_number text, building text, "
                "unit text, room text, building_id text, lon float8, lat float8) "
                "ON COMMIT DROP"
            )
            with cur.copy(f"COPY staging_addresses ({', '.join(fields)}) FROM STDIN") as copy:
                for row in _rows(table, fields):
                    copy.write_row(row)
            cur.execute("DELETE FROM addresses")
            cur.execute(
                f"INSERT INTO addresses ({', '.join(ADDRESS_FIELDS)}, geom) "
                f"SELECT {', '.join(ADDRESS_FIELDS)}, ST_SetSRID(ST_MakePoint(lon, lat), 4326) "
                "FROM staging_addresses"
            )
        return len(table)

    def read_addresses(self) -> pd.DataFrame:
        """Every address with lon, lat."""
        fields = ("id", *ADDRESS_FIELDS)
        with self._store.connect() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(fields)}, ST_X(geom), ST_Y(geom) FROM addresses ORDER BY id"
            ).fetchall()
        return pd.DataFrame(rows, columns=[*fields, "lon", "lat"])

    def read_staff(self) -> pd.DataFrame:
        """The live roster."""
        with self._store.connect() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(STAFF_FIELDS)} FROM staff "
                "WHERE valid_during IS NULL OR upper_inf(valid_during) ORDER BY grid_code, id"
            ).fetchall()
        return pd.DataFrame(rows, columns=list(STAFF_FIELDS))

    def replace_staff(self, grid_code: str, rows: list[dict[str, Any]]) -> int:
        """Close the grid's current staff rows and insert the new ones (history is kept)."""
        table = pd.DataFrame([{**r, "grid_code": grid_code} for r in rows])
        with self._store.connect() as conn, conn.transaction():
            conn.execute(
                "UPDATE staff SET valid_during = tstzrange(lower(valid_during), now(), '[)') "
                "WHERE grid_code = %s AND upper_inf(valid_during)",
                (grid_code,),
            )
            for row in _rows(table, STAFF_FIELDS) if rows else []:
                conn.execute(
                    f"INSERT INTO staff ({', '.join(STAFF_FIELDS)}, valid_during) "
                    "VALUES (%s, %s, %s, %s, %s, tstzrange(now(), NULL, '[)'))",
                    row,
                )
        return len(rows)

    def close(self) -> None:
        """Close the store's connection."""
        self._store.close()


def open_registry(url_or_path: str | Path, *, schema: str = "public") -> Registry:
    """The registry of a store: PostGIS tables, or a SQLite file beside the GeoPackage.

    Raises
    ------
    StoreError
        When the database cannot be reached.
    """
    if is_database_url(url_or_path):
        return PostgisRegistry(str(url_or_path), schema=schema)
    path = Path(url_or_path)
    if path.suffix.lower() != ".gpkg":
        msg = f"store {str(url_or_path)!r} is neither a postgresql:// URL nor a .gpkg file"
        raise StoreError(msg)
    return SqliteRegistry(path.with_name(path.stem + ".registry.sqlite"))
