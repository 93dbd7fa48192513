"""The address registry in PostGIS: ``addresses`` and ``address_names`` (migration 0003) with
``pg_trgm`` GIN on the names, B-trees on the keys and GiST on the points; and ``staff``, whose
rows serve a grid, a unit cell or a unit and keep their history in ``valid_during``
(migration 0005; see :mod:`gis.store.staff_rows`).

Lookups reuse a few open connections (one per concurrent caller, kept in a small pool), so a
lookup costs its queries, not a new connection.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import pandas as pd
import psycopg
from psycopg.rows import dict_row

from gis.errors import StoreError
from gis.store.addresses import (
    ADDRESS_FIELDS,
    KEY_FIELDS,
    NAME_COLUMNS,
    NUMBER_COLUMNS,
    ROW_COLUMNS,
    Row,
    RowRequest,
    _rows,
    compute_keys,
    keyed_rows,
    name_table,
)
from gis.store.plan import utc
from gis.store.staff_rows import (
    STAFF_FIELDS,
    Post,
    StaffChange,
    history_frame,
    insert_values,
    plan_change,
)

POOL: Final = 4
ROW_FIELDS: Final = (
    "a.id, a.address, ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat, a.k_body AS body, "
    "a.k_admin AS admin, r.name AS road, a.k_door AS door, p.name AS place, "
    "a.k_building AS building, a.k_unit AS unit, a.k_floor AS floor, a.k_room AS room, "
    "a.k_extra AS extra"
)
ROW_NAMES: Final = (
    "LEFT JOIN address_names r ON r.id = a.k_road LEFT JOIN address_names p ON p.id = a.k_place "
)
ROW_SELECT: Final = f"SELECT {ROW_FIELDS} FROM addresses a {ROW_NAMES}"
INDEXES: Final = {
    "addresses_body": "addresses (k_body)",
    "addresses_road": "addresses (k_road, k_door, k_building, k_unit, k_room)",
    "addresses_place": "addresses (k_place, k_building, k_unit, k_room)",
    "addresses_geom_gist": "addresses USING gist (geom)",
    # built after the names are loaded: rows added to a live GIN index wait in its pending
    # list, which every search then reads in full (a scan of all names per query)
    "address_names_trgm": "address_names USING gin (name gin_trgm_ops)",
}
STAGING: Final = (
    "CREATE TEMP TABLE staging_addresses (address text, region text, street text, "
    "compound text, door_number text, building text, unit text, room text, building_id text, "
    "lon float8, lat float8, k_norm text, k_body text, k_admin text, k_road bigint, "
    "k_door text, k_place bigint, k_building text, k_unit text, k_floor text, k_room text, "
    "k_extra text) ON COMMIT DROP"
)


class PostgisRegistry:
    """Addresses and staff in the PostGIS store schema (migrated on opening)."""

    def __init__(self, url: str, *, schema: str = "public") -> None:
        from gis.store.postgis import PostgisStore  # noqa: PLC0415

        self._store = PostgisStore(url, schema=schema, migrate=True)
        self._pool: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue(POOL)

    @contextlib.contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._store.connect()
            conn.execute("SET pg_trgm.similarity_threshold = 0.2")
            # a batch's LATERAL joins look costly to the planner, and compiling them (JIT)
            # took half a second per query for index reads of a millisecond
            conn.execute("SET jit = off")
        try:
            yield conn
        except psycopg.OperationalError as exc:
            conn.close()
            raise StoreError(f"the address database is unreachable: {exc}".strip()) from exc
        if conn.closed or conn.broken:
            return
        try:
            self._pool.put_nowait(conn)
        except queue.Full:
            conn.close()

    def import_addresses(
        self, table: pd.DataFrame, keys: pd.DataFrame, *, replace: bool = False
    ) -> int:
        """Add rows (an address already there is replaced), or replace the whole table; one
        transaction (COPY into a staging table, then into ``addresses``)."""
        fields = (*ADDRESS_FIELDS, "lon", "lat", *KEY_FIELDS)
        with self._store.connect(autocommit=False) as conn, conn.cursor() as cur:
            cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
            known = {} if replace else dict(cur.execute("SELECT name, id FROM address_names"))
            names, fresh = name_table(keys, known)
            rows = keyed_rows(table, keys, names)
            cur.execute(STAGING)
            with cur.copy(f"COPY staging_addresses ({', '.join(fields)}) FROM STDIN") as copy:
                for row in _rows(rows, fields):
                    copy.write_row(row)
            if replace:
                cur.execute("TRUNCATE addresses, address_names")
                for index in INDEXES:
                    cur.execute(f"DROP INDEX IF EXISTS {index}")
            else:
                cur.execute(
                    "DELETE FROM addresses a USING staging_addresses s "
                    "WHERE a.k_body = s.k_body AND a.k_norm = s.k_norm"
                )
            with cur.copy("COPY address_names (id, name) FROM STDIN") as copy:
                for name in fresh:
                    copy.write_row((names[name], name))
            cur.execute(
                f"INSERT INTO addresses ({', '.join(ADDRESS_FIELDS)}, {', '.join(KEY_FIELDS)}, "
                f"geom) SELECT {', '.join(ADDRESS_FIELDS)}, {', '.join(KEY_FIELDS)}, "
                "ST_SetSRID(ST_MakePoint(lon, lat), 4326) FROM staging_addresses"
            )
            for index, target in INDEXES.items():
                cur.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {target}")
            # an added (not replaced) import leaves new names in the index's pending list
            cur.execute("SELECT gin_clean_pending_list('address_names_trgm'::regclass)")
            cur.execute("ANALYZE addresses")
            cur.execute("ANALYZE address_names")
            conn.commit()
        return len(table)

    def replace_addresses(self, table: pd.DataFrame) -> int:
        """Replace the whole address table in one transaction."""
        return self.import_addresses(table, compute_keys(table), replace=True)

    def read_addresses(self) -> pd.DataFrame:
        """Every address with lon, lat."""
        fields = ("id", *ADDRESS_FIELDS)
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(fields)}, ST_X(geom), ST_Y(geom) FROM addresses ORDER BY id"
            ).fetchall()
        return pd.DataFrame(rows, columns=[*fields, "lon", "lat"])

    def count_addresses(self) -> int:
        """How many standard addresses there are."""
        with self._conn() as conn:
            found = conn.execute("SELECT count(*) FROM addresses").fetchone()
        return int(found[0]) if found else 0

    def _select(self, where: str, params: Sequence[Any]) -> list[Row]:
        with self._conn() as conn, conn.cursor(row_factory=dict_row) as cur:
            return list(cur.execute(ROW_SELECT + where, list(params)))

    def rows_by_body(self, bodies: Sequence[str]) -> list[Row]:
        """Rows whose exact key is one of ``bodies`` (B-tree on ``k_body``)."""
        return self._select("WHERE a.k_body = ANY(%s)", [list(bodies)])

    def name_ids(self, names: Sequence[str]) -> dict[str, int]:
        """Ids of names spelled exactly so."""
        with self._conn() as conn:
            found = conn.execute(
                "SELECT name, id FROM address_names WHERE name = ANY(%s)", [list(names)]
            ).fetchall()
        return {str(n): int(i) for n, i in found}

    def similar_names(self, names: Sequence[str], limit: int) -> dict[str, list[tuple[int, str]]]:
        """Per name, names by trigram similarity (``pg_trgm`` GIN on ``name``; pg_trgm pads
        each word itself), all in one query."""
        if not names:
            return {}
        with self._conn() as conn:
            found = conn.execute(
                "SELECT q.name, n.id, n.name FROM unnest(%s::text[]) AS q(name) "
                "CROSS JOIN LATERAL (SELECT id, name FROM address_names WHERE name %% q.name "
                "ORDER BY similarity(name, q.name) DESC, id LIMIT %s) n",
                (list(names), limit),
            ).fetchall()
        out: dict[str, list[tuple[int, str]]] = {n: [] for n in names}
        for query, i, name in found:
            out[str(query)].append((int(i), str(name)))
        return out

    def rows_at(self, requests: Sequence[RowRequest], limit: int) -> list[list[Row]]:
        """Per request, the rows at its road/compound ids (and door) with its numbers: one
        query per shape of request (which parts it filters on), each a ``LATERAL`` join of the
        requests' values to the composite B-trees, so a batch costs a few round trips."""
        out: list[list[Row]] = [[] for _ in requests]
        shapes: dict[tuple[str, bool, tuple[str, ...]], list[int]] = {}
        for i, r in enumerate(requests):
            shapes.setdefault((r.column, r.door is not None, tuple(r.numbers)), []).append(i)
        with self._conn() as conn, conn.cursor(row_factory=dict_row) as cur:
            for shape, members in shapes.items():
                for row in cur.execute(*_shape_query(requests, shape, members, limit)):
                    out[row.pop("request")].append(row)
        return out

    def rows_in_box(self, box: tuple[float, float, float, float]) -> pd.DataFrame:
        """Rows whose point lies in the box (GiST on ``geom``)."""
        rows = self._select(
            "WHERE a.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)", [float(v) for v in box]
        )
        return pd.DataFrame(rows, columns=list(ROW_COLUMNS))

    def read_staff(self, *, as_of: datetime | None = None) -> pd.DataFrame:
        """The roster valid at ``as_of`` (default: now; a naive time is UTC), in the order
        the rows were opened."""
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(STAFF_FIELDS)}, lower(valid_during), upper(valid_during) "
                "FROM staff WHERE valid_during IS NULL "
                "OR valid_during @> coalesce(%s::timestamptz, now()) ORDER BY id",
                (utc(as_of),),
            ).fetchall()
        return history_frame(rows)

    def replace_staff(self, code: str, rows: list[dict[str, Any]], *, serves: str = "grid") -> int:
        """Set one post's staff: changed or departed rows closed, new ones opened."""
        self.set_staff({(f"{serves}_code", code): rows})
        return len(rows)

    def set_staff(self, rosters: Mapping[Post, list[dict[str, Any]]]) -> StaffChange:
        """Set the staff of every post of ``rosters`` in one transaction (rows locked)."""
        fields = ", ".join(STAFF_FIELDS)
        with self._store.connect() as conn, conn.transaction(), conn.cursor() as cur:
            current = []
            for target in sorted({t for t, _ in rosters}):
                codes = [c for t, c in rosters if t == target]
                found = cur.execute(
                    f"SELECT id, {fields} FROM staff WHERE {target} = ANY(%s) "
                    "AND upper_inf(valid_during) ORDER BY id FOR UPDATE",
                    (codes,),
                ).fetchall()
                current += [(int(r[0]), dict(zip(STAFF_FIELDS, r[1:], strict=True))) for r in found]
            close, insert, kept = plan_change(current, rosters)
            cur.execute(
                "UPDATE staff SET valid_during = tstzrange(lower(valid_during), now(), '[)') "
                "WHERE id = ANY(%s)",
                (close,),
            )
            if insert:
                cur.executemany(
                    f"INSERT INTO staff ({fields}, valid_during) VALUES "
                    f"({', '.join(['%s'] * len(STAFF_FIELDS))}, tstzrange(now(), NULL, '[)'))",
                    insert_values(insert),
                )
        return StaffChange(kept=kept, closed=len(close), added=len(insert))

    def close(self) -> None:
        """Close the pooled connections and the store's."""
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                break
        self._store.close()


def _shape_query(
    requests: Sequence[RowRequest],
    shape: tuple[str, bool, tuple[str, ...]],
    members: list[int],
    limit: int,
) -> tuple[str, list[Any]]:
    """One query for the ``members`` of ``requests`` sharing ``shape`` (name column, whether
    a door is given, the numbers given): their values unnested, each joined ``LATERAL`` to
    the composite B-tree, the names joined once outside."""
    column, has_door, parts = shape
    # each request's ids as one array literal (unnest cannot take ragged arrays)
    ids = ["{" + ",".join(map(str, requests[i].ids)) + "}" for i in members]
    values: list[list[Any]] = [members, ids]
    where = [f"a.{NAME_COLUMNS[column]} = ANY(q.ids::bigint[])"]
    if has_door:
        values.append([requests[i].door for i in members])
        where.append("a.k_door = q.door")
    for part in parts:
        values.append([requests[i].numbers[part] for i in members])
        where.append(f"a.{NUMBER_COLUMNS[part]} = q.{part}")
    names = ["i", "ids", *(["door"] if has_door else []), *parts]
    casts = ", ".join(["%s::int[]", *["%s::text[]"] * (len(names) - 1)])
    # the names are joined outside the LATERAL (once, not per request)
    sql = (
        f"SELECT q.i AS request, {ROW_FIELDS} "
        f"FROM unnest({casts}) AS q({', '.join(names)}) "
        f"CROSS JOIN LATERAL (SELECT * FROM addresses a WHERE {' AND '.join(where)} "
        f"LIMIT %s) a {ROW_NAMES}"
    )
    return sql, [*values, limit]
