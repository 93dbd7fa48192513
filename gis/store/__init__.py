"""Versioned plan storage: PostGIS (system of record) or a GeoPackage file (embedded default).

Both stores offer the same interface (:class:`Store`) and pass the same contract tests:
publish a plan atomically as a new version (or propose it for review: submit, approve, reject,
roll back, each step in an append-only audit log), list versions, read any version or the one
live "as of" a time, find the grid holding a point at a time, and diff two versions.

Examples
--------
>>> store = open_store("plans.gpkg")                              # doctest: +SKIP
>>> store = open_store("postgresql://postgres@127.0.0.1/wangge")  # doctest: +SKIP
>>> info = store.publish(grids, author="planner", band=Band(300, 800))  # doctest: +SKIP
>>> info.band.target                                              # doctest: +SKIP
500
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import geopandas as gpd

from gis.errors import MissingExtraError, StoreError
from gis.options import Band
from gis.store.diff import PlanDiff, diff_plans
from gis.store.plan import VersionInfo
from gis.store.review import AuditEntry

__all__ = [
    "AuditEntry",
    "PlanDiff",
    "Store",
    "VersionInfo",
    "diff_plans",
    "is_database_url",
    "open_store",
]

DATABASE_URL = re.compile(r"^postgres(ql)?(\+\w+)?://")


@runtime_checkable
class Store(Protocol):
    """What every plan store offers (see :class:`gis.store.base.BaseStore` for details)."""

    def publish(
        self,
        grids: gpd.GeoDataFrame,
        *,
        author: str,
        note: str = "",
        parameters: dict[str, Any] | None = None,
        report: dict[str, Any] | None = None,
        units: gpd.GeoDataFrame | None = None,
        cells: gpd.GeoDataFrame | None = None,
        band: Band | None = None,
        context: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Publish a plan (and the band it was drawn for) as the new live version, atomically;
        refuse bad plans."""
        ...

    def propose(
        self,
        grids: gpd.GeoDataFrame,
        *,
        author: str,
        note: str = "",
        parameters: dict[str, Any] | None = None,
        report: dict[str, Any] | None = None,
        units: gpd.GeoDataFrame | None = None,
        cells: gpd.GeoDataFrame | None = None,
        band: Band | None = None,
        submit: bool = True,
        context: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Store a checked plan for review (submitted, or a draft); never live until approved."""
        ...

    def submit(
        self, version_id: int, *, author: str, context: dict[str, Any] | None = None
    ) -> VersionInfo:
        """Send a draft for approval."""
        ...

    def approve(
        self,
        version_id: int,
        *,
        reviewer: str,
        note: str = "",
        context: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Approve a submitted version (reviewer ≠ author): live from now on."""
        ...

    def reject(
        self,
        version_id: int,
        *,
        reviewer: str,
        reason: str,
        context: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Reject a version in review, with the reason."""
        ...

    def rollback(
        self,
        version_id: int,
        *,
        author: str,
        note: str = "",
        context: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Re-publish an earlier approved version as a new live version."""
        ...

    def audit(self, version_id: int | None = None) -> list[AuditEntry]:
        """The append-only audit log, oldest first."""
        ...

    def retired_codes(self) -> set[str]:
        """Grid codes retired by an earlier version: never given out again."""
        ...

    def versions(self, *, drafts: bool = False) -> list[VersionInfo]:
        """Every approved version (with ``drafts``, every stored one), oldest first."""
        ...

    def version(
        self,
        version_id: int | None = None,
        *,
        as_of: datetime | None = None,
        drafts: bool = False,
    ) -> VersionInfo:
        """One version by id, or the one live at ``as_of`` (default: now)."""
        ...

    def read_grids(
        self,
        version_id: int | None = None,
        *,
        as_of: datetime | None = None,
        drafts: bool = False,
    ) -> gpd.GeoDataFrame:
        """The grids of one version, EPSG:4326."""
        ...

    def read_cells(
        self,
        version_id: int | None = None,
        *,
        as_of: datetime | None = None,
        drafts: bool = False,
    ) -> gpd.GeoDataFrame:
        """The unit cells of one version, EPSG:4326."""
        ...

    def read_units(self, *, as_of: datetime | None = None) -> gpd.GeoDataFrame:
        """Administrative units in force at ``as_of``, EPSG:4326."""
        ...

    def grid_at(self, lon: float, lat: float, *, as_of: datetime | None = None) -> str | None:
        """The one grid holding a point (EPSG:4326) at ``as_of``."""
        ...

    def diff(self, old_version: int, new_version: int) -> PlanDiff:
        """Changes from one version to another."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...

    def __enter__(self) -> Self:
        """Use as a context manager; closes on exit."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        ...


def is_database_url(value: str | Path) -> bool:
    """Whether ``value`` is a PostgreSQL URL rather than a file path."""
    return isinstance(value, str) and bool(DATABASE_URL.match(value))


def open_store(
    url_or_path: str | Path, *, schema: str = "public", migrate: bool = True, create: bool = True
) -> Store:
    """Open a plan store: PostGIS for a ``postgresql://`` URL, else a GeoPackage file.

    Parameters
    ----------
    url_or_path
        ``postgresql://user@host:port/db`` or a ``.gpkg`` path (created on first publish).
    schema
        PostGIS schema for the tables (created and migrated when ``migrate``).
    migrate
        Run the Alembic migrations on opening (PostGIS only).
    create
        Whether a GeoPackage store may be missing (the first publish creates it). False for
        reading: a missing, unreadable or corrupt file is refused at once.

    Returns
    -------
    Store

    Raises
    ------
    StoreError
        When the path is not a ``.gpkg`` file (or, with ``create=False``, not an existing
        plan store).
    StoreUnavailableError
        When the database is unreachable or refuses the connection.
    MissingExtraError
        For a database URL when the ``db`` extra (psycopg, SQLAlchemy…) is not installed.
    """
    if is_database_url(url_or_path):
        try:
            from gis.store.postgis import PostgisStore  # noqa: PLC0415 - psycopg is optional
        except ModuleNotFoundError as exc:
            missing = MissingExtraError.from_import(exc, "a PostGIS store")
            if missing is None:
                raise
            raise missing from None

        return PostgisStore(str(url_or_path), schema=schema, migrate=migrate)
    path = Path(url_or_path)
    if path.suffix.lower() != ".gpkg":
        msg = (
            f"store {str(url_or_path)!r} is neither a postgresql:// URL nor a .gpkg file; "
            "give e.g. plans.gpkg or postgresql://user@host/db"
        )
        raise StoreError(msg)
    from gis.store.geopackage import GeoPackageStore  # noqa: PLC0415

    return GeoPackageStore(path, create=create)
