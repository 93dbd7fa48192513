"""Response bodies (pydantic models, shown in the OpenAPI docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class BandOut(BaseModel):
    """A household band: what an ordinary grid of the version should hold (inclusive)."""

    min_households: int = Field(ge=0)
    max_households: int = Field(gt=0)
    target: int = Field(ge=0, description="The preferred size, inside the band")


class BandIn(BaseModel):
    """The household band a plan was drawn for (target: 500 when inside, else the middle)."""

    min_households: int = Field(ge=0)
    max_households: int = Field(gt=0)
    target: int | None = Field(default=None, ge=0)


class VersionOut(BaseModel):
    """A plan version."""

    id: int
    created_at: datetime
    author: str
    note: str
    valid_from: datetime
    valid_to: datetime | None
    live: bool
    grids: int
    band: BandOut = Field(description="The band the version's grids are judged by (load)")


class ParentOut(BaseModel):
    """An administrative unit above a grid."""

    code: str
    name: str | None = None
    level: str | None = None


class StaffOut(BaseModel):
    """A grid worker's public-notice details (公示)."""

    name: str
    role: str
    phone: str | None = None
    photo_path: str | None = None


class GridOut(BaseModel):
    """A grid's public attributes."""

    grid_code: str
    kind: str
    households: int
    parent_code: str
    parent_name: str
    area_m2: float | None = None
    load: str = Field(
        description="dedicated, under, within or over the household band of its version"
    )


class LookupOut(BaseModel):
    """The grid holding a point."""

    lon: float = Field(description="WGS 84 longitude the point was converted to")
    lat: float = Field(description="WGS 84 latitude")
    crs: str
    grid: GridOut
    parents: list[ParentOut] = Field(description="Community … town, nearest first")
    staff: list[StaffOut] = Field(default_factory=list)
    version: VersionOut


class BatchIn(BaseModel):
    """A JSON batch: points as ``[lon, lat]`` pairs in ``crs``."""

    crs: str = "wgs84"
    points: list[tuple[float, float]]


class BatchOut(BaseModel):
    """One result per input point, in input order, plus the grids they hit."""

    crs: str
    count: int
    matched: int
    version: VersionOut
    results: list[str | None] = Field(description="Grid code per point (null: outside)")
    grids: dict[str, dict[str, Any]] = Field(description="Attributes of every grid hit")


class AddressCandidate(BaseModel):
    """An address matching a query, with its score and grid."""

    address: str
    normalized: str
    score: float = Field(description="0–100, higher is closer")
    lon: float
    lat: float
    grid: GridOut | None


class AddressOut(BaseModel):
    """Ranked candidates for a free-text address."""

    query: str
    normalized: str
    candidates: list[AddressCandidate]
