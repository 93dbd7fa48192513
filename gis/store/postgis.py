"""The system of record: versioned plans in PostGIS, published in one transaction.

Publishing (:meth:`PostgisStore.publish`) runs in a single transaction:

1. take a transaction-level advisory lock (``pg_advisory_xact_lock``) so publishers of the
   same schema queue up one behind the other; the lock goes with the transaction, so a killed
   client or a lost connection releases it;
2. COPY the plan into temporary staging tables and validate it there: no two grids whose
   interiors meet (``ST_Relate(a, b, '2********')`` — exact, unlike a ``&&`` exclusion, which
   would refuse grids that merely touch; pairs sharing under 0.01 m², reprojection slivers,
   are let through), and, when units are given, every unit covered with
   gaps under 1 m² (area on the spheroid);
3. read one timestamp, *after* the lock (``clock_timestamp()``, never before the previous
   version's start), close every live row's ``valid_during`` at it and open the new rows at
   the same instant, so the half-open ranges abut exactly;
4. commit. Until then readers see the old plan; afterwards the new one, never a mix.

An error, a killed process or a dropped connection anywhere before the commit rolls all of
it back: the previous version stays live. A database that cannot be reached, or that refuses
the login or an operation (permission denied, read-only), is one
:class:`~gis.errors.StoreUnavailableError` line naming the database (never its password),
whatever the driver raised. ``transaction now()`` is not used for the switch
because it is the transaction's *start*: a publisher that waited on the lock would otherwise
close the previous version before it began.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Final

import geopandas as gpd
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from gis import columns as col
from gis.errors import StoreError, StoreUnavailableError
from gis.geometry.ownership import INTERIORS_MEET
from gis.store.base import BaseStore, Guard
from gis.store.plan import (
    CELL_COLUMNS,
    GRID_COLUMNS,
    MAX_GAP_M2,
    MAX_OVERLAP_M2,
    NUDGE,
    STORE_CRS,
    UNIT_COLUMNS,
    VERSION_ID,
    VersionInfo,
    band_of,
    gap_error,
    overlap_error,
    state_of,
    utc,
)
from gis.store.review import AuditEntry

logger = logging.getLogger(__name__)

SCHEMA_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
LOCK_NAMESPACE: Final = "wangge.publish"
CONNECT_TIMEOUT_S: Final = 10
"""Seconds to wait for the database server before saying it is unreachable."""

STAGING_DDL: Final = """
CREATE TEMP TABLE staging_grids (
    grid_code text, kind text, households integer, parent_code text, parent_name text,
    area_m2 double precision, site_kind text, site_name text, households_estimated boolean,
    geom geometry) ON COMMIT DROP;
CREATE TEMP TABLE staging_units (
    unit_code text, unit_name text, level text, parent_code text, geom geometry) ON COMMIT DROP;
CREATE TEMP TABLE staging_cells (
    cell_code text, grid_code text, households integer, geom geometry) ON COMMIT DROP;
"""

OVERLAPS: Final = """
SELECT a.grid_code, b.grid_code
FROM staging_grids a JOIN staging_grids b
  ON a.grid_code < b.grid_code AND a.geom && b.geom AND ST_Relate(a.geom, b.geom, %(pattern)s)
WHERE ST_Area(ST_Intersection(a.geom, b.geom)::geography) >= %(max_overlap)s
ORDER BY 1, 2
"""

GAPS: Final = """
WITH gaps AS (
    SELECT u.unit_code,
           ST_CollectionExtract(ST_Difference(u.geom, coalesce(
               (SELECT ST_Union(g.geom) FROM staging_grids g WHERE ST_Intersects(g.geom, u.geom)),
               ST_SetSRID('POLYGON EMPTY'::geometry, 4326))), 3) AS gap
    FROM staging_units u
)
SELECT unit_code, ST_Area(gap::geography) AS gap_m2,
       ARRAY(SELECT g.grid_code FROM staging_grids g
             WHERE ST_Intersects(g.geom, gaps.gap) ORDER BY 1) AS near
FROM gaps
WHERE NOT ST_IsEmpty(gap) AND ST_Area(gap::geography) >= %(max_gap)s
ORDER BY unit_code
"""

SWITCH: Final = tuple(
    f"UPDATE {table} SET valid_during = tstzrange(lower(valid_during), %(ts)s, '[)') "
    "WHERE upper_inf(valid_during)"
    for table in ("plan_versions", "grids", "cells")
)

UNITS_SWITCH: Final = (
    """
UPDATE units u SET valid_during = tstzrange(lower(u.valid_during), %(ts)s, '[)')
FROM staging_units s
WHERE u.unit_code = s.unit_code AND upper_inf(u.valid_during)
  AND NOT (u.unit_name = s.unit_name AND u.level IS NOT DISTINCT FROM s.level
           AND u.parent_code IS NOT DISTINCT FROM s.parent_code AND ST_Equals(u.geom, s.geom))
""",
    """
INSERT INTO units (unit_code, unit_name, level, parent_code, geom, valid_during)
SELECT s.unit_code, s.unit_name, s.level, s.parent_code, ST_SetSRID(s.geom, 4326),
       tstzrange(%(ts)s, NULL, '[)')
FROM staging_units s
WHERE NOT EXISTS (SELECT 1 FROM units u
                  WHERE u.unit_code = s.unit_code AND upper_inf(u.valid_during))
""",
)

VERSIONS: Final = """
SELECT v.id, v.created_at, v.author, v.note, v.parameters, v.report,
       lower(v.valid_during), upper(v.valid_during),
       (SELECT count(*) FROM grids g WHERE g.version_id = v.id),
       v.band_min, v.band_max, v.band_target,
       v.state, v.submitted_at, v.reviewer, v.reviewed_at, v.review_note, v.rollback_of
FROM plan_versions v ORDER BY v.id
"""

PENDING_UNITS: Final = """
INSERT INTO pending_units (version_id, unit_code, unit_name, level, parent_code, geom)
SELECT %(v)s, unit_code, unit_name, level, parent_code, ST_SetSRID(geom, 4326) FROM staging_units
"""

UNITS_OF_DRAFT: Final = """
CREATE TEMP TABLE staging_units ON COMMIT DROP AS
SELECT unit_code, unit_name, level, parent_code, geom FROM pending_units
WHERE version_id = %(v)s
"""

GO_LIVE: Final = tuple(
    f"UPDATE {table} SET valid_during = tstzrange(%(ts)s, NULL, '[)') WHERE {key} = %(v)s"
    for table, key in (("grids", "version_id"), ("cells", "version_id"))
)
"""An approved draft's rows, in force from the approval on (they were stored never in force;
its ``plan_versions`` row changes state and valid time in one statement, which the CHECK
tying the two needs)."""

AUDIT: Final = """
INSERT INTO audit_log (at, actor, action, version_id, detail)
VALUES (coalesce(%(ts)s, clock_timestamp()), %(actor)s, %(action)s, %(v)s, %(detail)s)
"""


def psycopg_url(url: str) -> str:
    """A libpq URL from a SQLAlchemy-style one (``postgresql+psycopg://`` → ``postgresql://``)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def describe_database(url: str) -> str:
    """``user@host:port/dbname`` of a URL, for messages (never the password)."""
    try:
        info = conninfo_to_dict(psycopg_url(url))
    except psycopg.Error:
        return "the plan database"
    host = info.get("host") or "localhost"
    port = f":{info['port']}" if info.get("port") else ""
    user = f"{info['user']}@" if info.get("user") else ""
    return f"the plan database {user}{host}{port}/{info.get('dbname') or ''}"


def database_error(exc: BaseException, url: str, doing: str) -> StoreUnavailableError:
    """One line for a database failure while ``doing`` something (``list the versions``).

    SQLAlchemy's wrappers are unwrapped to the driver's error; a refused login, a missing
    permission and an unreachable server each say so.
    """
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split()) or type(orig).__name__
    where = describe_database(url)
    if isinstance(orig, psycopg.errors.InsufficientPrivilege):
        why = f"{where} refuses it (permission denied): {text}"
    elif isinstance(orig, psycopg.errors.ReadOnlySqlTransaction):
        why = f"{where} is read-only: {text}"
    elif isinstance(orig, psycopg.OperationalError):
        why = f"{where} is unreachable or refuses the connection: {text}"
    else:
        why = f"{where} refused it: {text}"
    return StoreUnavailableError(f"cannot {doing}: {why}")


def check_schema(schema: str) -> str:
    """Refuse schema names that would need quoting."""
    if not SCHEMA_NAME.match(schema):
        msg = f"schema name {schema!r} must be lower-case letters, digits and _ (≤ 63)"
        raise StoreError(msg)
    return schema


def _ewkb_hex(geoms: Any) -> list[str]:
    return list(shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True))


class PostgisStore(BaseStore):
    """Plans in a PostGIS schema (created and migrated with Alembic on first use).

    Parameters
    ----------
    url
        ``postgresql://user@host:port/db`` (``postgresql+psycopg://`` is accepted too).
    schema
        Schema holding the tables; ``public`` must hold the postgis and btree_gist
        extensions, or the role must be allowed to create them.
    migrate
        Bring the schema to the latest revision on opening.
    """

    def __init__(self, url: str, *, schema: str = "public", migrate: bool = True) -> None:
        self.url = psycopg_url(url)
        self.schema = check_schema(schema)
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        if migrate:
            from gis.store.migrate import upgrade  # noqa: PLC0415 - alembic only when needed

            upgrade(self.url, schema=self.schema)

    def __repr__(self) -> str:
        return f"PostgisStore(schema={self.schema!r})"

    def connect(self, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        """A new connection whose ``search_path`` is the store's schema, then ``public``."""
        try:
            return psycopg.connect(
                self.url,
                autocommit=autocommit,
                connect_timeout=CONNECT_TIMEOUT_S,
                options=f"-c search_path={self.schema},public -c timezone=UTC",
            )
        except psycopg.Error as exc:
            raise database_error(exc, self.url, "connect") from exc

    @contextlib.contextmanager
    def _database(self, doing: str) -> Iterator[None]:
        """Turn any driver error while ``doing`` into one :class:`StoreUnavailableError`; a
        broken reading connection is dropped (the next read reconnects). Callers hold
        ``self._lock`` when they use the reading connection."""
        try:
            yield
        except StoreError:
            raise
        except psycopg.Error as exc:
            if self._conn is not None and isinstance(exc, psycopg.OperationalError):
                with contextlib.suppress(psycopg.Error):
                    self._conn.close()
                self._conn = None
            raise database_error(exc, self.url, doing) from exc

    def _reader(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
        return self._conn

    def close(self) -> None:
        """Close the reading connection."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(psycopg.Error):
                    self._conn.close()
                self._conn = None

    # ---- publishing ------------------------------------------------------------------------
    def _store(
        self,
        grids: gpd.GeoDataFrame,
        units: gpd.GeoDataFrame | None,
        cells: gpd.GeoDataFrame,
        meta: dict[str, Any],
        guard: Guard,
    ) -> int:
        live = meta["state"] == "approved"
        with self._database("publish"), self.connect() as conn, conn.transaction():
            self._lock_publishers(conn)
            self._stage(conn, grids, units, cells)
            self._validate(conn, units is not None and not units.empty)
            guard()
            self._checkpoint("validated")
            ts = self._next_moment(conn)
            if live:
                for statement in SWITCH:
                    conn.execute(statement, {"ts": ts})
            version_id = self._insert_version(conn, meta, ts)
            self._checkpoint("switched")
            params = {"v": version_id, "ts": ts if live else None}
            during = "tstzrange(%(ts)s, NULL, '[)')" if live else "'empty'::tstzrange"
            conn.execute(
                "INSERT INTO grids (version_id, grid_code, kind, households, parent_code, "
                "parent_name, area_m2, site_kind, site_name, households_estimated, geom, "
                "valid_during) SELECT %(v)s, grid_code, kind, households, parent_code, "
                "parent_name, area_m2, site_kind, site_name, households_estimated, "
                f"ST_SetSRID(geom, 4326), {during} FROM staging_grids",
                params,
            )
            self._checkpoint("grids written")
            conn.execute(
                "INSERT INTO cells (version_id, cell_code, grid_code, households, geom, "
                "valid_during) SELECT %(v)s, cell_code, grid_code, households, "
                f"ST_SetSRID(geom, 4326), {during} FROM staging_cells",
                params,
            )
            if units is not None and not units.empty:
                for statement in UNITS_SWITCH if live else (PENDING_UNITS,):
                    conn.execute(statement, {"ts": ts, "v": version_id})
            self._audit(conn, meta["audit"], version_id, ts)
            self._checkpoint("written")
        return version_id

    def _lock_publishers(self, conn: psycopg.Connection[Any]) -> None:
        """Queue behind any other publisher or reviewer of this schema (until commit)."""
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))",
            (LOCK_NAMESPACE, self.schema),
        )
        self._checkpoint("locked")

    def _next_moment(self, conn: psycopg.Connection[Any]) -> datetime:
        """Now, read after the lock, never before the live version's start."""
        row = conn.execute(
            "SELECT greatest(clock_timestamp(), (SELECT lower(valid_during) "
            "+ interval '1 microsecond' FROM plan_versions WHERE upper_inf(valid_during)))"
        ).fetchone()
        assert row is not None
        return row[0]

    def _insert_version(
        self, conn: psycopg.Connection[Any], meta: dict[str, Any], ts: datetime
    ) -> int:
        state = meta["state"]
        live = state == "approved"
        band_min, band_max, band_target = meta["band"]
        new = conn.execute(
            "INSERT INTO plan_versions (created_at, author, note, parameters, report, "
            "band_min, band_max, band_target, state, submitted_at, reviewer, reviewed_at, "
            "rollback_of, valid_during) VALUES (%(ts)s, %(author)s, %(note)s, %(parameters)s, "
            "%(report)s, %(band_min)s, %(band_max)s, %(band_target)s, %(state)s, "
            "%(submitted)s, %(reviewer)s, %(reviewed)s, %(rollback_of)s, "
            + ("tstzrange(%(ts)s, NULL, '[)')" if live else "'empty'::tstzrange")
            + ") RETURNING id",
            {
                "ts": ts,
                "author": meta["author"],
                "note": meta["note"],
                "parameters": Jsonb(meta["parameters"]),
                "report": Jsonb(meta["report"]),
                "band_min": band_min,
                "band_max": band_max,
                "band_target": band_target,
                "state": state,
                "submitted": None if state == "draft" else ts,
                "reviewer": meta["author"] if live else None,
                "reviewed": ts if live else None,
                "rollback_of": meta["rollback_of"],
            },
        ).fetchone()
        assert new is not None
        return int(new[0])

    def _audit(
        self,
        conn: psycopg.Connection[Any],
        entries: list[dict[str, Any]],
        version_id: int,
        ts: datetime | None,
    ) -> None:
        for entry in entries:
            conn.execute(
                AUDIT,
                {
                    "ts": ts,
                    "actor": entry["actor"],
                    "action": entry["action"],
                    "v": version_id,
                    "detail": Jsonb(entry["detail"]),
                },
            )

    def _review(
        self, version_id: int, change: dict[str, Any], guard: Callable[[VersionInfo], None]
    ) -> None:
        """One step of review in one transaction, under the publishers' lock; an approval
        closes the live version and opens this one (rows and units) at the same instant."""
        state = change["state"]
        with self._database("review a version"), self.connect() as conn, conn.transaction():
            self._lock_publishers(conn)
            guard(self.version(version_id, drafts=True))
            self._checkpoint("validated")
            ts = self._next_moment(conn)
            params = {"v": version_id, "ts": ts, "state": state}
            if state == "approved":
                for statement in SWITCH:
                    conn.execute(statement, {"ts": ts})
                for statement in GO_LIVE:
                    conn.execute(statement, params)
                conn.execute(UNITS_OF_DRAFT, params)
                for statement in UNITS_SWITCH:
                    conn.execute(statement, params)
            if state == "submitted":
                conn.execute(
                    "UPDATE plan_versions SET state = %(state)s, submitted_at = %(ts)s "
                    "WHERE id = %(v)s",
                    params,
                )
            else:
                conn.execute(
                    "UPDATE plan_versions SET state = %(state)s, reviewer = %(reviewer)s, "
                    "reviewed_at = %(ts)s, review_note = %(note)s, valid_during = CASE "
                    "WHEN %(state)s = 'approved' THEN tstzrange(%(ts)s, NULL, '[)') "
                    "ELSE valid_during END WHERE id = %(v)s",
                    {**params, "reviewer": change["reviewer"], "note": change["review_note"]},
                )
            self._checkpoint("switched")
            self._audit(conn, change["audit"], version_id, ts)

    def _stage(
        self,
        conn: psycopg.Connection[Any],
        grids: gpd.GeoDataFrame,
        units: gpd.GeoDataFrame | None,
        cells: gpd.GeoDataFrame,
    ) -> None:
        conn.execute(STAGING_DDL)
        tables: list[tuple[str, tuple[str, ...], gpd.GeoDataFrame | None]] = [
            ("staging_grids", GRID_COLUMNS, grids),
            ("staging_units", UNIT_COLUMNS, units),
            ("staging_cells", CELL_COLUMNS, cells),
        ]
        with conn.cursor() as cur:
            for table, columns, gdf in tables:
                if gdf is None or gdf.empty:
                    continue
                query = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table),
                    sql.SQL(", ").join(map(sql.Identifier, [*columns, "geom"])),
                )
                values = [gdf[c].tolist() for c in columns]
                hexes = _ewkb_hex(gdf.geometry.to_numpy())
                with cur.copy(query) as copy:
                    for row in zip(*values, hexes, strict=True):
                        copy.write_row(row)
            cur.execute("CREATE INDEX ON staging_grids USING gist (geom); ANALYZE staging_grids")

    def _validate(self, conn: psycopg.Connection[Any], with_units: bool) -> None:
        pairs = conn.execute(
            OVERLAPS, {"pattern": INTERIORS_MEET, "max_overlap": MAX_OVERLAP_M2}
        ).fetchall()
        if pairs:
            raise overlap_error([(str(a), str(b)) for a, b in pairs])
        if with_units:
            gaps = conn.execute(GAPS, {"max_gap": MAX_GAP_M2}).fetchall()
            if gaps:
                raise gap_error([(str(u), float(a), [str(c) for c in near]) for u, a, near in gaps])

    # ---- reading ---------------------------------------------------------------------------
    def _all_versions(self) -> list[VersionInfo]:
        """Every stored version, oldest first."""
        with self._lock, self._database("list the plan versions"):
            rows = self._reader().execute(VERSIONS).fetchall()
        return [
            VersionInfo(
                id=int(r[0]),
                created_at=r[1],
                author=r[2],
                note=r[3],
                parameters=dict(r[4] or {}),
                report=dict(r[5] or {}),
                valid_from=r[6],
                valid_to=r[7],
                grids=int(r[8]),
                band=band_of((r[9], r[10], r[11]), int(r[0])),
                state=state_of(r[12], int(r[0])),
                submitted_at=r[13],
                reviewer=r[14],
                reviewed_at=r[15],
                review_note=str(r[16] or ""),
                rollback_of=None if r[17] is None else int(r[17]),
            )
            for r in rows
        ]

    def audit(self, version_id: int | None = None) -> list[AuditEntry]:
        """The audit log (every step, or those on one version), oldest first."""
        where = "" if version_id is None else "WHERE version_id = %(v)s "
        query = (
            f"SELECT id, at, actor, action, version_id, detail FROM audit_log {where}ORDER BY id"
        )
        with self._lock, self._database("read the audit log"):
            rows = self._reader().execute(query, {"v": version_id}).fetchall()
        return [AuditEntry(int(r[0]), r[1], r[2], r[3], r[4], dict(r[5] or {})) for r in rows]

    def _codes_by_version(self) -> dict[int, set[str]]:
        query = (
            "SELECT g.version_id, g.grid_code FROM grids g JOIN plan_versions v "
            "ON v.id = g.version_id WHERE v.state = 'approved'"
        )
        with self._lock, self._database("read the grid codes"):
            rows = self._reader().execute(query).fetchall()
        found: dict[int, set[str]] = {}
        for version_id, code in rows:
            found.setdefault(int(version_id), set()).add(str(code))
        return found

    def _frame(
        self, query: sql.Composable | str, params: dict[str, Any], columns: list[str]
    ) -> gpd.GeoDataFrame:
        with self._lock, self._database("read the plan"):
            rows = self._reader().execute(query, params).fetchall()  # type: ignore[arg-type]
        frame = pd.DataFrame([r[:-1] for r in rows], columns=columns)
        geoms: Any = shapely.from_wkb([r[-1] for r in rows]) if rows else []
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=STORE_CRS))

    def _read_layer(self, layer: str, version_id: int) -> gpd.GeoDataFrame:
        columns = list(GRID_COLUMNS if layer == "grids" else CELL_COLUMNS)
        query = sql.SQL(
            "SELECT version_id, {cols}, ST_AsBinary(geom) FROM {table} "
            "WHERE version_id = %(v)s ORDER BY grid_code{extra}"
        ).format(
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
            table=sql.Identifier(layer),
            extra=sql.SQL(", cell_code" if layer == "cells" else ""),
        )
        out = self._frame(query, {"v": version_id}, [VERSION_ID, *columns])
        out[col.HOUSEHOLDS] = out[col.HOUSEHOLDS].astype("int64")
        return out

    def read_units(self, *, as_of: datetime | None = None) -> gpd.GeoDataFrame:
        """Administrative units in force at ``as_of`` (default: now), EPSG:4326."""
        moment = utc(as_of)
        when = "upper_inf(valid_during)" if moment is None else "valid_during @> %(t)s"
        query = (
            f"SELECT {', '.join(UNIT_COLUMNS)}, ST_AsBinary(geom) FROM units "
            f"WHERE {when} ORDER BY unit_code"
        )
        return self._frame(query, {"t": moment}, list(UNIT_COLUMNS))

    def grid_at(self, lon: float, lat: float, *, as_of: datetime | None = None) -> str | None:
        """Code of the grid holding a point (EPSG:4326) at ``as_of`` (default: now).

        A point on a shared boundary gets the grid whose interior holds the point nudged by
        :data:`gis.store.plan.NUDGE`, then the lowest code: one answer, always.
        """
        moment = utc(as_of)
        when = "upper_inf(valid_during)" if moment is None else "valid_during @> %(t)s"
        query = (
            "SELECT grid_code FROM grids WHERE "
            + when
            + " AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326)) "
            "ORDER BY ST_Contains(geom, ST_SetSRID(ST_MakePoint(%(x)s + %(dx)s, "
            "%(y)s + %(dy)s), 4326)) DESC, grid_code LIMIT 1"
        )
        params = {"t": moment, "x": lon, "y": lat, "dx": NUDGE[0], "dy": NUDGE[1]}
        with self._lock, self._database("look up the grid"):
            row = self._reader().execute(query, params).fetchone()
        return None if row is None else str(row[0])
