"""Response bodies (pydantic models, shown in the OpenAPI docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from gis.rules.staff import (
    check_duty,
    check_id_number,
    check_name,
    check_phone,
    check_photo,
    parse_role,
)

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
    """A plan version: in review, live, or once live."""

    id: int
    created_at: datetime
    author: str
    note: str
    valid_from: datetime | None = Field(description="Start of its valid time; null: never live")
    valid_to: datetime | None
    live: bool
    grids: int
    band: BandOut = Field(description="The band the version's grids are judged by (load)")
    state: Literal["draft", "submitted", "approved", "rejected"] = Field(
        description="draft → submitted → approved (live) or rejected"
    )
    submitted_at: datetime | None = None
    reviewer: str | None = None
    reviewed_at: datetime | None = None
    review_note: str = Field(default="", description="The reviewer's note (a rejection's reason)")
    rollback_of: int | None = Field(default=None, description="The version a rollback restores")


class AuditOut(BaseModel):
    """One step taken on a plan version: who, when, what."""

    id: int
    at: datetime
    actor: str
    action: Literal["draft", "submit", "approve", "reject", "rollback", "publish"]
    label: str = Field(description="The step in Simplified Chinese (提交审核, 审核通过 …)")
    version_id: int | None
    detail: dict[str, Any]


class ReviewIn(BaseModel):
    """An approval or rejection: the reviewer's note (required to reject: the reason)."""

    note: str = Field(default="", max_length=2000)


class ParentOut(BaseModel):
    """An administrative unit above a grid."""

    code: str
    name: str | None = None
    level: str | None = None
    level_label: str | None = Field(
        default=None, description="The level in Simplified Chinese (社区, 村, 街道, 镇 …)"
    )


class StaffOut(BaseModel):
    """A staff member's public-notice details (公示): name, role, duty, phone and a photo URL.

    Never a file path (a stored photo is served by the service at ``photo_url``), never an ID
    number or a home address."""

    name: str
    role: str = Field(
        description="leader, worker, instructor, assistant, micro_worker, cell_informant, "
        "building_head, community_secretary, community_director, town_secretary, town_head"
    )
    role_label: str = Field(description="The role as the notice prints it (专职网格员, 楼栋长…)")
    duty: str | None = Field(default=None, description="A 网格员's: full_time or part_time")
    phone: str | None = None
    photo_url: str | None = Field(default=None, description="Served image, or an http(s) URL")


class StaffRecordOut(StaffOut):
    """A staff member on one post, with the time they held it (``valid_to`` null: still)."""

    valid_from: datetime | None = Field(description="Since when (null: before history)")
    valid_to: datetime | None = None


class ContactOut(BaseModel):
    """An escalation contact point (小事不出网格、大事逐级上报): a unit above the grid and
    its staff (社区书记/主任, 街道书记/主任…)."""

    code: str
    name: str | None = None
    level: str | None = None
    staff: list[StaffOut] = Field(default_factory=list)


class StaffIn(BaseModel):
    """A grid worker's public-notice details as a staff editor sends them (all checked)."""

    name: str = Field(max_length=200)
    role: str = Field(max_length=50, description="English, Simplified or Traditional Chinese")
    duty: str | None = Field(
        default=None, max_length=50, description="For 网格员: full_time/专职 or part_time/兼职"
    )
    phone: str = Field(max_length=200)
    photo: str | None = Field(
        default=None,
        max_length=MAX_PHOTO_CHARS,
        description="An http(s) image URL, or a file name in the service's photo folder",
    )
    id_number: str | None = Field(
        default=None,
        max_length=40,
        description="Resident ID for real-name registration: checked, then dropped (never "
        "stored or served); one person per ID in a request",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @model_validator(mode="after")
    def _role_and_duty(self) -> StaffIn:
        role, implied = parse_role(self.role)
        duty = check_duty(self.duty, role) or implied
        if implied and duty != implied:
            raise ValueError(f"role {self.role!r} and duty {self.duty!r} disagree")
        self.role, self.duty = role, duty
        return self

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str | None) -> str | None:
        return check_id_number(value) if value and value.strip() else None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return check_phone(value)

    @field_validator("photo")
    @classmethod
    def _photo(cls, value: str | None) -> str | None:
        return check_photo(value)


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
    site_kind: str | None = Field(
        default=None, description="What a dedicated grid serves (school, hospital, market …)"
    )
    site_name: str | None = Field(default=None, description="The name of that site")
    households_estimated: bool = Field(
        default=False, description="Households estimated from buildings, not counted"
    )


class CellOut(BaseModel):
    """The unit cell (单元格, 微网格) holding a point."""

    cell_code: str
    households: int


class LookupOut(BaseModel):
    """The grid holding a point."""

    lon: float = Field(description="WGS 84 longitude the point was converted to")
    lat: float = Field(description="WGS 84 latitude")
    crs: str
    grid: GridOut
    cell: CellOut | None = Field(
        default=None, description="The unit cell holding the point (null: the plan has none)"
    )
    parents: list[ParentOut] = Field(description="Community … town, nearest first")
    staff: list[StaffOut] = Field(default_factory=list, description="The grid's staff now")
    contacts: list[ContactOut] = Field(
        default_factory=list,
        description="Escalation contacts: each unit above the grid (nearest first), its staff",
    )
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
