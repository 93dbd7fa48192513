"""The PostGIS schema as SQLAlchemy / GeoAlchemy2 models (the migrations create it).

Tables carry no schema name: the store sets ``search_path`` to its schema (then ``public``,
where the postgis and btree_gist extensions live), so one database can hold several stores.
Every geometry is in EPSG:4326 with a GiST index. Boundaries are valid-time ranged
(``valid_during tstzrange``, half-open ``[from, to)``, open-ended while live).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""


class Unit(Base):
    """An administrative unit (community, village, town…), valid-time ranged."""

    __tablename__ = "units"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit_code: Mapped[str] = mapped_column(Text)
    unit_name: Mapped[str] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=False))
    valid_during: Mapped[Any] = mapped_column(TSTZRANGE)


class PlanVersion(Base):
    """One stored plan: who, when, why, with which parameters, report and household band, and
    where it is in review (``state``; a version not approved has the empty valid time).

    The band (``band_min``, ``band_max``, ``band_target``) is all NULL for a version
    published without one (and for every version published before revision 0002).
    """

    __tablename__ = "plan_versions"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    author: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    report: Mapped[dict[str, Any]] = mapped_column(JSONB)
    band_min: Mapped[int | None] = mapped_column(Integer)
    band_max: Mapped[int | None] = mapped_column(Integer)
    band_target: Mapped[int | None] = mapped_column(Integer)
    valid_during: Mapped[Any] = mapped_column(TSTZRANGE)
    state: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewer: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str] = mapped_column(Text)
    rollback_of: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("plan_versions.id"))


class PendingUnit(Base):
    """An administrative unit a version in review brings; in force once it is approved."""

    __tablename__ = "pending_units"
    version_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("plan_versions.id"), primary_key=True
    )
    unit_code: Mapped[str] = mapped_column(Text, primary_key=True)
    unit_name: Mapped[str] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=False))


class AuditLog(Base):
    """One step on a plan version (append-only: a trigger refuses UPDATE, DELETE, TRUNCATE)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    version_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("plan_versions.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB)


class Grid(Base):
    """A grid of one plan version; one live row per code (exclusion constraint)."""

    __tablename__ = "grids"
    version_id: Mapped[int] = mapped_column(ForeignKey("plan_versions.id"), primary_key=True)
    grid_code: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer)
    parent_code: Mapped[str] = mapped_column(Text)
    parent_name: Mapped[str] = mapped_column(Text)
    area_m2: Mapped[float] = mapped_column()
    site_kind: Mapped[str | None] = mapped_column(Text)
    site_name: Mapped[str | None] = mapped_column(Text)
    households_estimated: Mapped[bool] = mapped_column(Boolean)
    geom: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=False))
    valid_during: Mapped[Any] = mapped_column(TSTZRANGE)


class Cell(Base):
    """A unit cell (单元格) inside a grid of one plan version."""

    __tablename__ = "cells"
    __table_args__ = (
        ForeignKeyConstraint(["version_id", "grid_code"], ["grids.version_id", "grids.grid_code"]),
    )
    version_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cell_code: Mapped[str] = mapped_column(Text, primary_key=True)
    grid_code: Mapped[str] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer)
    geom: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=False))
    valid_during: Mapped[Any] = mapped_column(TSTZRANGE)


class Staff(Base):
    """A staff member's public-notice fields (公示) on one post, valid-time ranged: exactly
    one of ``grid_code``, ``cell_code``, ``unit_code`` (migration 0005); never residents'
    data, never an ID number."""

    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    grid_code: Mapped[str | None] = mapped_column(Text)
    cell_code: Mapped[str | None] = mapped_column(Text)
    unit_code: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    duty: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    photo_path: Mapped[str | None] = mapped_column(Text)
    valid_during: Mapped[Any] = mapped_column(TSTZRANGE)


class Address(Base):
    """A standard address (标准地址, GB/T 39609-2020) with its point and optional building."""

    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    address: Mapped[str] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(Text)
    street: Mapped[str | None] = mapped_column(Text)
    compound: Mapped[str | None] = mapped_column(Text)
    door_number: Mapped[str | None] = mapped_column(Text)
    building: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(Text)
    room: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False))
    building_id: Mapped[str | None] = mapped_column(Text)
    # index keys of the address matcher (migration 0003): see gis.serving.addresses
    k_norm: Mapped[str | None] = mapped_column(Text)
    k_body: Mapped[str | None] = mapped_column(Text)
    k_admin: Mapped[str | None] = mapped_column(Text)
    k_road: Mapped[int | None] = mapped_column(BigInteger)
    k_door: Mapped[str | None] = mapped_column(Text)
    k_place: Mapped[int | None] = mapped_column(BigInteger)
    k_building: Mapped[str | None] = mapped_column(Text)
    k_unit: Mapped[str | None] = mapped_column(Text)
    k_floor: Mapped[str | None] = mapped_column(Text)
    k_room: Mapped[str | None] = mapped_column(Text)
    k_extra: Mapped[str | None] = mapped_column(Text)
