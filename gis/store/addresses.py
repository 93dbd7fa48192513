"""The standard-address table and the grid workers' public roster, beside the plan store.

PostGIS keeps them in the store schema's ``addresses``, ``address_names`` and ``staff`` tables
(:mod:`gis.store.addresses_pg`, migration 0003); the embedded store keeps them in a SQLite file
next to the GeoPackage (``<name>.registry.sqlite``), so editing them never rewrites the plan
file. Only public-notice staff fields exist here (name, role, duty, phone, photo): no resident
data. Staff rows serve a grid, a unit cell or a unit and keep their history (valid from/to,
:mod:`gis.store.staff_rows`): a roster change closes rows, never deletes them.

Each address row carries its index keys (see :mod:`gis.serving.addresses.table`): the
normalised address, the exact key below the administrative prefix (``k_body``), the prefix
(``k_admin``), the road and compound name ids (``k_road``, ``k_place`` into
``address_names``) and the door, building, unit, floor and room. Indexes, so that no lookup
scans the table:

* B-tree on ``k_body`` (exact key), on ``(k_road, k_door, k_building, k_unit, k_room)`` and
  ``(k_place, k_building, k_unit, k_room)`` (the rows at a road's door or in a compound);
* the names' trigrams: ``pg_trgm`` GIN in PostGIS (pg_trgm pads each word, so a typo in
  the middle of a short name still shares trigrams), FTS5 with the ``trigram`` tokenizer here
  (SQLite ≥ 3.34) on names padded the same way (``^^name$``);
* points: a B-tree on a 0.005° cell number here, GiST on ``geom`` in PostGIS.

An import is one transaction: on any failure nothing stored changes. Without ``replace`` the
rows are added, and a row whose normalised address is already there replaces it; ``replace``
swaps the whole table.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NamedTuple, Protocol

import numpy as np
import pandas as pd

from gis.errors import AddressError, StoreError
from gis.store import is_database_url
from gis.store.staff_rows import (
    HISTORY_FIELDS,
    STAFF_FIELDS,
    TARGETS,
    Post,
    StaffChange,
    history_frame,
    insert_values,
    plan_change,
)

ADDRESS_FIELDS: Final = (
    "address", "region", "street", "compound", "door_number", "building", "unit", "room",
    "building_id",
)  # fmt: skip
KEY_FIELDS: Final = (
    "k_norm", "k_body", "k_admin", "k_road", "k_door", "k_place", "k_building", "k_unit",
    "k_floor", "k_room", "k_extra",
)  # fmt: skip
CELL: Final = 0.005
"""Side of the point cells of the embedded store, in degrees."""
ROW_SELECT: Final = (
    "SELECT a.id, a.address, a.lon, a.lat, a.k_body AS body, a.k_admin AS admin, "
    "r.name AS road, a.k_door AS door, p.name AS place, a.k_building AS building, "
    "a.k_unit AS unit, a.k_floor AS floor, a.k_room AS room, a.k_extra AS extra "
    "FROM addresses a LEFT JOIN address_names r ON r.id = a.k_road "
    "LEFT JOIN address_names p ON p.id = a.k_place "
)
ROW_COLUMNS: Final = ("id", "address", "lon", "lat", "body", "admin", "road", "door", "place",
                      "building", "unit", "floor", "room", "extra")  # fmt: skip
NUMBER_COLUMNS: Final = {"building": "k_building", "unit": "k_unit", "room": "k_room"}
NAME_COLUMNS: Final = {"road": "k_road", "place": "k_place"}

SQLITE_DDL: Final = """
CREATE TABLE IF NOT EXISTS addresses (
    id INTEGER PRIMARY KEY, address TEXT NOT NULL, region TEXT, street TEXT, compound TEXT,
    door_number TEXT, building TEXT, unit TEXT, room TEXT, building_id TEXT,
    lon REAL NOT NULL, lat REAL NOT NULL);
CREATE TABLE IF NOT EXISTS address_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE VIRTUAL TABLE IF NOT EXISTS address_names_fts USING fts5(padded, tokenize='trigram');
CREATE TABLE IF NOT EXISTS staff (
    id INTEGER PRIMARY KEY, grid_code TEXT, cell_code TEXT, unit_code TEXT,
    name TEXT NOT NULL, role TEXT NOT NULL, duty TEXT, phone TEXT, photo_path TEXT,
    valid_from TEXT, valid_to TEXT,
    CHECK ((grid_code IS NOT NULL) + (cell_code IS NOT NULL) + (unit_code IS NOT NULL) = 1));
"""
STAFF_UPGRADE: Final = """
ALTER TABLE staff RENAME TO staff_before_history;
CREATE TABLE staff (
    id INTEGER PRIMARY KEY, grid_code TEXT, cell_code TEXT, unit_code TEXT,
    name TEXT NOT NULL, role TEXT NOT NULL, duty TEXT, phone TEXT, photo_path TEXT,
    valid_from TEXT, valid_to TEXT,
    CHECK ((grid_code IS NOT NULL) + (cell_code IS NOT NULL) + (unit_code IS NOT NULL) = 1));
INSERT INTO staff (id, grid_code, name, role, phone, photo_path)
    SELECT id, grid_code, name, role, phone, photo_path FROM staff_before_history;
DROP TABLE staff_before_history;
"""
"""A roster file made before history: its rows become valid since ever (valid_from NULL)."""
STAFF_INDEXES: Final = {f"staff_{t}": f"staff ({t}) WHERE valid_to IS NULL" for t in TARGETS}
TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
"""Staff valid times in the SQLite file: UTC, fixed width, so text order is time order."""
SQLITE_KEYS: Final = {"k_norm": "TEXT", "k_body": "TEXT", "k_admin": "TEXT",
                      "k_road": "INTEGER", "k_door": "TEXT", "k_place": "INTEGER",
                      "k_building": "TEXT", "k_unit": "TEXT", "k_floor": "TEXT",
                      "k_room": "TEXT", "k_extra": "TEXT", "k_cell": "INTEGER"}  # fmt: skip
SQLITE_INDEXES: Final = {
    "addresses_body": "addresses (k_body)",
    "addresses_road": "addresses (k_road, k_door, k_building, k_unit, k_room)",
    "addresses_place": "addresses (k_place, k_building, k_unit, k_room)",
    "addresses_cell": "addresses (k_cell)",
}
Row = dict[str, Any]


class RowRequest(NamedTuple):
    """One indexed read of the rows at a road's door or in a compound.

    Attributes
    ----------
    column
        ``"road"`` or ``"place"``: which name the ``ids`` are.
    ids
        Ids of the road or compound names (spelled exactly so, or like the query's).
    door
        The door number at the road, or None for any.
    numbers
        Building, unit, room → the value required ('' means the row has none).
    """

    column: str
    ids: tuple[int, ...]
    door: str | None
    numbers: Mapping[str, str]

    def where(self) -> tuple[str, list[Any]]:
        """The SQLite ``WHERE`` clause (below :data:`ROW_SELECT`) and its parameters; the ids
        are one ``IN`` list. (PostGIS reads many requests at once, :mod:`addresses_pg`.)"""
        where = [f"a.{NAME_COLUMNS[self.column]} IN ({', '.join('?' * len(self.ids))})"]
        params: list[Any] = [int(i) for i in self.ids]
        if self.door is not None:
            where.append("a.k_door = ?")
            params.append(self.door)
        for part, value in self.numbers.items():
            where.append(f"a.{NUMBER_COLUMNS[part]} = ?")
            params.append(value)
        return f"WHERE {' AND '.join(where)}", params


class Registry(Protocol):
    """Addresses and staff of one store, with the indexed reads the matcher needs."""

    def import_addresses(
        self, table: pd.DataFrame, keys: pd.DataFrame, *, replace: bool = False
    ) -> int:
        """Add (or, with ``replace``, replace the table with) rows and their index keys."""
        ...

    def replace_addresses(self, table: pd.DataFrame) -> int:
        """Replace the whole address table (keys computed here)."""
        ...

    def read_addresses(self) -> pd.DataFrame:
        """Every address with lon, lat (EPSG:4326)."""
        ...

    def count_addresses(self) -> int:
        """How many standard addresses there are."""
        ...

    def rows_by_body(self, bodies: Sequence[str]) -> list[Row]:
        """Rows whose exact key is one of ``bodies``."""
        ...

    def name_ids(self, names: Sequence[str]) -> dict[str, int]:
        """Ids of names spelled exactly so."""
        ...

    def similar_names(self, names: Sequence[str], limit: int) -> dict[str, list[tuple[int, str]]]:
        """Per name, up to ``limit`` names sharing padded trigrams with it (trigram index,
        best first)."""
        ...

    def rows_at(self, requests: Sequence[RowRequest], limit: int) -> list[list[Row]]:
        """Per request, up to ``limit`` rows it asks for (one round trip for them all)."""
        ...

    def rows_in_box(self, box: tuple[float, float, float, float]) -> pd.DataFrame:
        """Rows whose point lies in ``(minlon, minlat, maxlon, maxlat)``."""
        ...

    def read_staff(self, *, as_of: datetime | None = None) -> pd.DataFrame:
        """The public roster valid at ``as_of`` (default: now): HISTORY_FIELDS."""
        ...

    def replace_staff(self, code: str, rows: list[dict[str, Any]], *, serves: str = "grid") -> int:
        """Set the staff of one grid, cell or unit (old rows closed, not deleted)."""
        ...

    def set_staff(self, rosters: Mapping[Post, list[dict[str, Any]]]) -> StaffChange:
        """Set the staff of several posts in one transaction (old rows closed)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _rows(table: pd.DataFrame, fields: Sequence[str]) -> list[tuple[Any, ...]]:
    frame = table.reindex(columns=list(fields)).astype(object)
    frame = frame.where(pd.notna(frame), None)
    return [tuple(r) for r in frame.itertuples(index=False, name=None)]


def padded(name: str) -> str:
    """A name as its trigrams are indexed (pg_trgm's padding: two before, one after)."""
    return f"^^{name}$"


def fts_query(name: str) -> str:
    """An FTS5 query: any of the padded trigrams of ``name``."""
    text = padded(name).replace('"', "").replace("\x00", "")
    return " OR ".join(f'"{text[i : i + 3]}"' for i in range(len(text) - 2))


def cell_of(lon: Any, lat: Any) -> Any:
    """The cell number of points (vectorised)."""
    row = np.floor((np.asarray(lat, dtype=float) + 90.0) / CELL).astype(np.int64)
    col = np.floor((np.asarray(lon, dtype=float) + 180.0) / CELL).astype(np.int64)
    return row * 100_000 + col


def cells_in_box(box: tuple[float, float, float, float]) -> list[int]:
    """Every cell number meeting a box."""
    minlon, minlat, maxlon, maxlat = box
    r0, r1 = (math.floor((v + 90.0) / CELL) for v in (minlat, maxlat))
    c0, c1 = (math.floor((v + 180.0) / CELL) for v in (minlon, maxlon))
    return [r * 100_000 + c for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]


def name_table(keys: pd.DataFrame, known: dict[str, int]) -> tuple[dict[str, int], list[str]]:
    """Ids of every road and compound name of ``keys`` (``known`` ones kept), and the new
    names in the order their ids were given."""
    names = dict(known)
    start = max(names.values(), default=0) + 1
    fresh = sorted((set(keys["road"]) | set(keys["place"])) - set(names) - {""})
    names.update((n, start + i) for i, n in enumerate(fresh))
    return names, fresh


def keyed_rows(table: pd.DataFrame, keys: pd.DataFrame, names: dict[str, int]) -> pd.DataFrame:
    """The rows to store: fields, points, keys with name ids and point cells."""
    out = table.reindex(columns=[*ADDRESS_FIELDS, "lon", "lat"]).copy()
    for column in KEY_FIELDS:
        if column in ("k_road", "k_place"):
            source = keys["road" if column == "k_road" else "place"]
            out[column] = source.map(lambda n: names.get(n, 0)).astype(np.int64).to_numpy()
        else:
            out[column] = keys[column].to_numpy()
    out["k_cell"] = cell_of(out["lon"].to_numpy(), out["lat"].to_numpy())
    return out


def compute_keys(table: pd.DataFrame) -> pd.DataFrame:
    """The index keys of a table (:func:`gis.serving.addresses.table.address_keys`)."""
    from gis.serving.addresses.table import address_keys  # noqa: PLC0415 - layering

    return address_keys(table)


class SqliteRegistry:
    """Addresses and staff in a SQLite file beside the GeoPackage store."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._ready = False
        self._lock = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        with self._lock:
            if not self._ready:
                conn.executescript(SQLITE_DDL)
                self._upgrade(conn)
                self._ready = True
        return conn

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        """Add the key columns and indexes to a file made before them; key its rows."""
        have = {r[1] for r in conn.execute("PRAGMA table_info(addresses)")}
        with conn:
            for column, kind in SQLITE_KEYS.items():
                if column not in have:
                    conn.execute(f"ALTER TABLE addresses ADD COLUMN {column} {kind}")
            for name, target in SQLITE_INDEXES.items():
                conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
        if "valid_from" not in {r[1] for r in conn.execute("PRAGMA table_info(staff)")}:
            conn.executescript(f"BEGIN IMMEDIATE; {STAFF_UPGRADE} COMMIT;")
        with conn:
            for name, target in STAFF_INDEXES.items():
                conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
        if conn.execute("SELECT 1 FROM addresses WHERE k_body IS NULL LIMIT 1").fetchone():
            table = self._read(conn)
            self._write(conn, table, compute_keys(table), replace=True)

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        yield conn

    def import_addresses(
        self, table: pd.DataFrame, keys: pd.DataFrame, *, replace: bool = False
    ) -> int:
        """Add rows (an address already there is replaced), or replace the whole table."""
        with self._conn() as conn:
            self._write(conn, table, keys, replace=replace)
        return len(table)

    def replace_addresses(self, table: pd.DataFrame) -> int:
        """Replace the whole address table in one transaction."""
        return self.import_addresses(table, compute_keys(table), replace=True)

    def _write(
        self, conn: sqlite3.Connection, table: pd.DataFrame, keys: pd.DataFrame, *, replace: bool
    ) -> None:
        fields = (*ADDRESS_FIELDS, "lon", "lat", *KEY_FIELDS, "k_cell")
        conn.execute("PRAGMA cache_size = -262144")
        try:
            conn.execute("BEGIN IMMEDIATE")
            known = {} if replace else dict(conn.execute("SELECT name, id FROM address_names"))
            names, fresh = name_table(keys, known)
            rows = keyed_rows(table, keys, names)
            if replace:
                for statement in ("DELETE FROM addresses", "DELETE FROM address_names",
                                  "DELETE FROM address_names_fts"):  # fmt: skip
                    conn.execute(statement)
                for index in SQLITE_INDEXES:
                    conn.execute(f"DROP INDEX IF EXISTS {index}")
            else:
                conn.executemany(
                    "DELETE FROM addresses WHERE k_body = ? AND k_norm = ?",
                    zip(rows["k_body"], rows["k_norm"], strict=True),
                )
            conn.executemany(
                "INSERT INTO address_names (id, name) VALUES (?, ?)",
                ((names[n], n) for n in fresh),
            )
            conn.executemany(
                "INSERT INTO address_names_fts (rowid, padded) VALUES (?, ?)",
                ((names[n], padded(n)) for n in fresh),
            )
            conn.executemany(
                f"INSERT INTO addresses ({', '.join(fields)}) "
                f"VALUES ({', '.join('?' * len(fields))})",
                _rows(rows, fields),
            )
            for index, target in SQLITE_INDEXES.items():
                conn.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _read(self, conn: sqlite3.Connection) -> pd.DataFrame:
        fields = ("id", *ADDRESS_FIELDS, "lon", "lat")
        rows = conn.execute(f"SELECT {', '.join(fields)} FROM addresses ORDER BY id").fetchall()
        return pd.DataFrame([tuple(r) for r in rows], columns=list(fields))

    def read_addresses(self) -> pd.DataFrame:
        """Every address with lon, lat."""
        with self._conn() as conn:
            return self._read(conn)

    def count_addresses(self) -> int:
        """How many standard addresses there are."""
        with self._conn() as conn:
            return int(conn.execute("SELECT count(*) FROM addresses").fetchone()[0])

    def _select(self, where: str, params: Sequence[Any]) -> list[Row]:
        with self._conn() as conn:
            return [dict(r) for r in conn.execute(ROW_SELECT + where, list(params))]

    def rows_by_body(self, bodies: Sequence[str]) -> list[Row]:
        """Rows whose exact key is one of ``bodies`` (B-tree on ``k_body``)."""
        out: list[Row] = []
        for i in range(0, len(bodies), 500):
            chunk = list(bodies[i : i + 500])
            out += self._select(f"WHERE a.k_body IN ({', '.join('?' * len(chunk))})", chunk)
        return out

    def name_ids(self, names: Sequence[str]) -> dict[str, int]:
        """Ids of names spelled exactly so."""
        marks = ", ".join("?" * len(names))
        with self._conn() as conn:
            sql = f"SELECT name, id FROM address_names WHERE name IN ({marks})"
            return {str(n): int(i) for n, i in conn.execute(sql, list(names))}

    def similar_names(self, names: Sequence[str], limit: int) -> dict[str, list[tuple[int, str]]]:
        """Per name, names sharing padded trigrams with it (FTS5 trigram index, by bm25)."""
        sql = (
            "SELECT f.rowid, n.name FROM address_names_fts f "
            "JOIN address_names n ON n.id = f.rowid "
            "WHERE address_names_fts MATCH ? ORDER BY f.rank LIMIT ?"
        )
        with self._conn() as conn:
            return {
                name: [(int(i), str(n)) for i, n in conn.execute(sql, (fts_query(name), limit))]
                for name in names
            }

    def rows_at(self, requests: Sequence[RowRequest], limit: int) -> list[list[Row]]:
        """Per request, the rows at its road/compound ids (and door) with its numbers (the
        composite B-trees; a local file, so one query per request)."""
        out: list[list[Row]] = []
        for request in requests:
            where, params = request.where()
            out.append(self._select(f"{where} LIMIT ?", [*params, limit]))
        return out

    def rows_in_box(self, box: tuple[float, float, float, float]) -> pd.DataFrame:
        """Rows whose point lies in the box (cells, then the exact box)."""
        cells = cells_in_box(box)
        out: list[Row] = []
        for i in range(0, len(cells), 500):
            chunk = cells[i : i + 500]
            out += self._select(
                f"WHERE a.k_cell IN ({', '.join('?' * len(chunk))}) "
                "AND a.lon BETWEEN ? AND ? AND a.lat BETWEEN ? AND ?",
                [*chunk, box[0], box[2], box[1], box[3]],
            )
        return pd.DataFrame(out, columns=list(ROW_COLUMNS))

    def read_staff(self, *, as_of: datetime | None = None) -> pd.DataFrame:
        """The roster valid at ``as_of`` (default: now; a naive time is UTC), in the order
        the rows were opened."""
        moment = stamp(as_of)
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(HISTORY_FIELDS)} FROM staff "
                "WHERE (valid_from IS NULL OR valid_from <= ?) "
                "AND (valid_to IS NULL OR valid_to > ?) ORDER BY id",
                (moment, moment),
            ).fetchall()
        return history_frame(rows)

    def replace_staff(self, code: str, rows: list[dict[str, Any]], *, serves: str = "grid") -> int:
        """Set one post's staff: changed or departed rows closed, new ones opened."""
        self.set_staff({(f"{serves}_code", code): rows})
        return len(rows)

    def set_staff(self, rosters: Mapping[Post, list[dict[str, Any]]]) -> StaffChange:
        """Set the staff of every post of ``rosters`` in one transaction."""
        now = stamp(None)
        with self._conn() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                current = [
                    (int(r["id"]), dict(r))
                    for r in conn.execute(
                        f"SELECT id, {', '.join(STAFF_FIELDS)} FROM staff WHERE valid_to IS NULL"
                    )
                ]
                wanted = set(rosters)
                mine = [(i, r) for i, r in current if _post(r) in wanted]
                close, insert, kept = plan_change(mine, rosters)
                conn.executemany(
                    "UPDATE staff SET valid_to = ? WHERE id = ?", [(now, i) for i in close]
                )
                conn.executemany(
                    f"INSERT INTO staff ({', '.join(STAFF_FIELDS)}, valid_from) "
                    f"VALUES ({', '.join('?' * len(STAFF_FIELDS))}, ?)",
                    [(*v, now) for v in insert_values(insert)],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return StaffChange(kept=kept, closed=len(close), added=len(insert))

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _post(row: Mapping[str, Any]) -> Post | None:
    return next(((t, str(row[t])) for t in TARGETS if row.get(t)), None)


def stamp(moment: datetime | None) -> str:
    """A time (default: now; naive is UTC) as the SQLite file stores it."""
    when = datetime.now(UTC) if moment is None else moment
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.strftime(TIME_FORMAT)


def open_registry(url_or_path: str | Path, *, schema: str = "public") -> Registry:
    """The registry of a store: PostGIS tables, or a SQLite file beside the GeoPackage.

    Raises
    ------
    StoreError
        When the database cannot be reached, or the path is no store.
    """
    if is_database_url(url_or_path):
        from gis.store.addresses_pg import PostgisRegistry  # noqa: PLC0415 - psycopg optional

        return PostgisRegistry(str(url_or_path), schema=schema)
    path = Path(url_or_path)
    if path.suffix.lower() != ".gpkg":
        msg = f"store {str(url_or_path)!r} is neither a postgresql:// URL nor a .gpkg file"
        raise StoreError(msg)
    return SqliteRegistry(path.with_name(path.stem + ".registry.sqlite"))


def check_import(table: pd.DataFrame, *, replace: bool, allow_empty: bool) -> None:
    """Refuse an import that would only empty the table by accident.

    Raises
    ------
    AddressError
        No rows without ``allow_empty``, or no rows and no ``replace`` (nothing to add).
    """
    if len(table):
        return
    if not allow_empty:
        raise AddressError("address table has no rows (a header only); nothing was changed")
    if not replace:
        raise AddressError("an empty address table adds nothing; use replace to empty the table")
