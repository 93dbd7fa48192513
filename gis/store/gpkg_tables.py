"""The tables of the embedded store's GeoPackage beside its layers: ``plan_versions`` (one row
per version, with its band and review state) and ``audit_log`` (append-only: SQLite triggers
refuse UPDATE and DELETE), their upgrade from older files, and reading rows back.

Files written before the band or the review columns existed lack them: they read as
versions without a band, all approved (they were published), and the next write adds the
columns.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from gis.store.plan import VersionInfo, band_of, state_of

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
    band_target INTEGER,
    state TEXT NOT NULL DEFAULT 'approved',
    submitted_at TEXT,
    reviewer TEXT,
    reviewed_at TEXT,
    review_note TEXT NOT NULL DEFAULT '',
    rollback_of INTEGER
);
INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)
VALUES ('plan_versions', 'attributes', 'plan_versions', 'wangge plan versions');
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    version_id INTEGER,
    detail TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END;
INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)
VALUES ('audit_log', 'attributes', 'audit_log', 'wangge audit log (append-only)');
"""


BAND_COLUMNS: Final = ("band_min", "band_max", "band_target")
"""Columns of ``plan_versions`` added when the band was first stored (absent in older files)."""

REVIEW_COLUMNS: Final = {
    "state": ("TEXT NOT NULL DEFAULT 'approved'", "'approved'"),
    "submitted_at": ("TEXT", "NULL"),
    "reviewer": ("TEXT", "NULL"),
    "reviewed_at": ("TEXT", "NULL"),
    "review_note": ("TEXT NOT NULL DEFAULT ''", "''"),
    "rollback_of": ("INTEGER", "NULL"),
}
"""Columns of ``plan_versions`` added with review (name → type, value in older files, whose
versions were all published, so approved)."""

ADDED_COLUMNS: Final = {
    **dict.fromkeys(BAND_COLUMNS, ("INTEGER", "NULL")),
    **REVIEW_COLUMNS,
}

VERSION_COLUMNS: Final = (
    "id", "created_at", "author", "note", "parameters", "report", "valid_from", "valid_to",
    "grid_count",
)  # fmt: skip


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def upgrade(conn: sqlite3.Connection) -> None:
    """Add the band and review columns to a ``plan_versions`` table written before them."""
    have = table_columns(conn, "plan_versions")
    for name, (kind, _) in ADDED_COLUMNS.items():
        if name not in have:
            conn.execute(f"ALTER TABLE plan_versions ADD COLUMN {name} {kind}")


def tables(conn: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def add_columns(path: Path, layer: str, frame: Any) -> None:
    """Add to a layer the columns of ``frame`` it lacks (a layer written by an older wangge):
    text, or BOOLEAN for bool columns, NULL in the rows already there."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        have = table_columns(conn, layer)
        for name in frame.columns:
            if name in have or name == frame.geometry.name:
                continue
            kind = "BOOLEAN" if str(frame[name].dtype) == "bool" else "TEXT"
            conn.execute(f'ALTER TABLE "{layer}" ADD COLUMN "{name}" {kind}')


def write_audit(
    conn: sqlite3.Connection, entries: list[dict[str, Any]], version_id: int, stamp: str
) -> None:
    """Append audit entries (``actor``, ``action``, ``detail``) for one version."""
    for entry in entries:
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, version_id, detail) VALUES (?, ?, ?, ?, ?)",
            (
                stamp,
                entry["actor"],
                entry["action"],
                version_id,
                json.dumps(entry["detail"], ensure_ascii=False),
            ),
        )


def plan_store_versions(path: str | Path) -> int | None:
    """How many versions the wangge plan store at ``path`` holds; None when it is none (a
    missing file, another GeoPackage, anything unreadable)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        uri = path.resolve().as_uri() + "?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            row = conn.execute("SELECT count(*) FROM plan_versions").fetchone()
    except (sqlite3.Error, OSError, ValueError):
        return None
    return int(row[0])


def time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def version_row(r: tuple[Any, ...]) -> VersionInfo:
    created = parse_time(r[1])
    assert created is not None
    approved = r[12] == "approved"  # the others were never in force: no valid time
    return VersionInfo(
        id=int(r[0]),
        created_at=created,
        author=r[2],
        note=r[3],
        parameters=json.loads(r[4]),
        report=json.loads(r[5]),
        valid_from=parse_time(r[6]) if approved else None,
        valid_to=parse_time(r[7]) if approved else None,
        grids=int(r[8]),
        band=band_of((r[9], r[10], r[11]), int(r[0])),
        state=state_of(r[12], int(r[0])),
        submitted_at=parse_time(r[13]),
        reviewer=r[14],
        reviewed_at=parse_time(r[15]),
        review_note=str(r[16] or ""),
        rollback_of=None if r[17] is None else int(r[17]),
    )
