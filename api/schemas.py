"""Response bodies (pydantic models, shown in the OpenAPI docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from gis.rules.staff import check_name, check_phone, check_role

MAX_PHOTO_CHARS = 500


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


class PublishIn(BaseModel):
    """A plan to publish: its grids, and optionally units, unit cells and band (GeoJSON
    FeatureCollections in EPSG:4326)."""

    grids: dict[str, Any] = Field(description="Grids: a GeoJSON FeatureCollection")
    units: dict[str, Any] | None = Field(default=None, description="Administrative units")
    cells: dict[str, Any] | None = Field(default=None, description="Unit cells")
    band: BandIn | None = Field(
        default=None, description="The band the plan was drawn for (default 300–800)"
    )


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
    """A grid worker's public-notice details (公示): name, role, phone and a photo URL.

    Never a file path: a stored photo is served by the service at ``photo_url``."""

    name: str
    role: str = Field(description="leader, worker, assistant or instructor")
    role_label: str = Field(description="The role as the notice prints it (网格员…)")
    phone: str | None = None
    photo_url: str | None = Field(default=None, description="Served image, or an http(s) URL")


class StaffIn(BaseModel):
    """A grid worker's public-notice details as a staff editor sends them (all checked)."""

    name: str = Field(max_length=200)
    role: str = Field(max_length=50, description="English, Simplified or Traditional Chinese")
    phone: str = Field(max_length=200)
    photo: str | None = Field(
        default=None,
        max_length=MAX_PHOTO_CHARS,
        description="An http(s) image URL, or a file name in the service's photo folder",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        return check_role(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return check_phone(value)

    @field_validator("photo")
    @classmethod
    def _photo(cls, value: str | None) -> str | None:
        text = (value or "").strip()
        if not text:
            return None
        if not text.isprintable() or ".." in text.replace("\\", "/").split("/"):
            msg = "photo must be an http(s) URL or a file name in the photo folder"
            raise ValueError(msg)
        return text


class TokenOut(BaseModel):
    """A short-lived token for reading (what the web map sends when reads need a key)."""

    token: str
    expires_at: datetime
    expires_in: int = Field(description="Seconds until it expires")
    roles: list[str]


class AsOfOut(BaseModel):
    """What the answer means for the ``as_of`` asked (present only when ``as_of`` was given)."""

    requested: datetime
    version: int = Field(description="The version that answers: the one live then")
    beyond_last_version: bool = Field(
        description="as_of is later than now: no later version is known, the live one answers"
    )
    note: str | None = None


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
    as_of: AsOfOut | None = None


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
    as_of: AsOfOut | None = None


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
