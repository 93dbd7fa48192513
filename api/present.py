"""Turning library objects into response bodies (no geometry here).

A grid's load (``dedicated``, ``under``, ``within``, ``over``) is always judged by the band of
the version it belongs to (:attr:`gis.store.VersionInfo.band`), never by a global setting.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import geopandas as gpd
import pandas as pd

from api.errors import UnavailableError
from api.schemas import (
    AsOfOut,
    BandOut,
    CellOut,
    ContactOut,
    GridOut,
    ParentOut,
    StaffOut,
    StaffRecordOut,
    VersionOut,
)
from gis import columns as col
from gis.errors import RosterError
from gis.options import Band
from gis.rules.staff import check_role, role_label, unit_levels
from gis.serving.features import load_class
from gis.serving.lookup import GridIndex, parent_chain
from gis.store import VersionInfo
from gis.store.base import as_of_note
from gis.store.staff_rows import SERVES, post_of

if TYPE_CHECKING:  # api.state imports api.batch, which imports this module
    from api.state import AppState, Roster, UnitTable

logger = logging.getLogger(__name__)

LOAD: str = "load"
"""Column / property holding a grid's load class."""

PHOTO_TYPES: Final = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
}  # fmt: skip
"""The image files a staff photo may be, and what they are served as."""
PHOTO_ROUTE: Final = "/staff/photos/"


def band_out(band: Band) -> BandOut:
    """A household band."""
    return BandOut(**band.to_dict())


def version_out(info: VersionInfo | None) -> VersionOut:
    """A version record, with the band its grids are judged by."""
    assert info is not None
    return VersionOut(
        id=info.id, created_at=info.created_at, author=info.author, note=info.note,
        valid_from=info.valid_from, valid_to=info.valid_to, live=info.live, grids=info.grids,
        band=band_out(info.band), state=info.state, submitted_at=info.submitted_at,
        reviewer=info.reviewer, reviewed_at=info.reviewed_at, review_note=info.review_note,
        rollback_of=info.rollback_of,
    )  # fmt: skip


def as_of_out(info: VersionInfo | None, as_of: datetime | None) -> AsOfOut | None:
    """What an answer for ``as_of`` means (None when no ``as_of`` was asked): the version
    that answers, and whether ``as_of`` lies beyond the last published version."""
    if as_of is None or info is None:
        return None
    note = as_of_note(info, as_of)
    return AsOfOut(
        requested=as_of, version=info.id, beyond_last_version=note is not None, note=note
    )


def load_of(households: int, kind: str, band: Band) -> str:
    """``dedicated``, ``under``, ``within`` or ``over`` ``band``."""
    return load_class(int(households), str(kind), band)


def with_load(
    grids: gpd.GeoDataFrame, band: Band, unit_bands: Mapping[str, Band] | None = None
) -> gpd.GeoDataFrame:
    """A copy of ``grids`` with a ``load`` column judged by ``band``, or for grids of a unit
    with a band of its own (``unit_bands``, :attr:`gis.store.VersionInfo.unit_bands`) by
    that one."""
    out = grids.copy()
    own = unit_bands or {}
    out[LOAD] = [
        load_of(h, k, own.get(str(p), band))
        for h, k, p in zip(out[col.HOUSEHOLDS], out[col.KIND], out[col.PARENT_CODE], strict=True)
    ]
    return out


def grid_out(
    record: dict[str, Any], band: Band, unit_bands: Mapping[str, Band] | None = None
) -> GridOut:
    """A grid's public attributes with its load in ``band`` (its version's band, or its
    unit's own in ``unit_bands``)."""
    band = (unit_bands or {}).get(str(record["parent_code"]), band)
    area = record.get("area_m2")
    return GridOut(
        grid_code=str(record["grid_code"]), kind=str(record["kind"]),
        households=int(record["households"]), parent_code=str(record["parent_code"]),
        parent_name=str(record["parent_name"]), area_m2=None if area is None else float(area),
        load=load_of(record["households"], record["kind"], band),
        site_kind=_text(record.get("site_kind")), site_name=_text(record.get("site_name")),
        households_estimated=bool(record.get("households_estimated") or False),
    )  # fmt: skip


def _text(value: object) -> str | None:
    """A stored text attribute, None for a missing one (NULL, NaN, empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    return str(value)


LEVEL_LABELS: Final = {
    "community": "社区",
    "village": "村",
    "town": "镇",
    "township": "乡",
    "street": "街道",
    "subdistrict": "街道",
    "district": "区",
    "county": "县",
}
"""What users read for a unit's level (Simplified Chinese)."""


def cell_out(state: AppState, index: GridIndex, x: float, y: float) -> CellOut | None:
    """The unit cell holding a point (EPSG:4326) in the index's version, None when none does
    (or the version has no cells)."""
    assert index.version is not None
    cells = state.cell_index(index.version.id)
    if len(cells) == 0:
        return None
    position = int(cells.locate([x], [y])[0])
    if position < 0:
        return None
    record = cells.record(position)
    return CellOut(cell_code=str(record["cell_code"]), households=int(record["households"]))


def index_band(index: GridIndex) -> Band:
    """The band of the version an index holds."""
    assert index.version is not None
    return index.version.band


def unit_table(state: AppState, version_id: int) -> UnitTable:
    """Unit code → record for the version (empty when the store is down and none cached)."""
    found = state.units.get(version_id)
    if found is not None:
        return found
    try:
        units = state.layer(version_id, "units")
    except UnavailableError:
        return {}  # not kept: the next lookup tries the store again
    table = {
        str(r["unit_code"]): {k: r[k] for k in ("unit_name", "level", "parent_code")}
        for r in units.drop(columns=units.geometry.name).to_dict("records")
    }
    return state.units.put(version_id, table)


def parents_out(state: AppState, index: GridIndex, record: dict[str, Any]) -> list[ParentOut]:
    """The units above a grid, up to the town."""
    assert index.version is not None
    units = unit_table(state, index.version.id)
    chain = parent_chain(str(record["parent_code"]), record.get("parent_name"), units)
    return [ParentOut(**p, level_label=LEVEL_LABELS.get(str(p.get("level")))) for p in chain]


def photo_id(stored: str) -> str:
    """The public name of a stored photo: a digest of where it is, never the path itself."""
    return hashlib.sha256(stored.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def photo_file(photo_dir: Path | None, stored: str | None) -> Path | None:
    """The image file a stored photo names, if the service may serve it: inside
    ``photo_dir`` (a name relative to it, or an absolute path under it), an image type, a
    file that exists. None otherwise (and always when no photo folder is configured)."""
    if photo_dir is None or not stored or stored.startswith(("http://", "https://")):
        return None
    root = photo_dir.resolve()
    try:
        path = (root / stored).resolve()
    except (OSError, ValueError):
        return None
    if not path.is_relative_to(root) or path.suffix.lower() not in PHOTO_TYPES:
        return None
    return path if path.is_file() else None


def photo_url(photo_dir: Path | None, stored: str | None) -> str | None:
    """Where a client gets a staff photo: its http(s) URL as stored, or the service's own
    route for a file in the photo folder; never a file path."""
    if stored and stored.startswith(("http://", "https://")):
        return stored
    path = photo_file(photo_dir, stored)
    if path is None or stored is None:
        return None
    return f"{PHOTO_ROUTE}{photo_id(stored)}{path.suffix.lower()}"


def _role(stored: object, duty: str | None) -> tuple[str, str]:
    """(role, label) of a stored role; a role stored before roles were checked is shown as
    stored."""
    try:
        role = check_role(stored)
    except RosterError:
        return str(stored), str(stored)
    return role, role_label(role, duty)


def _person(row: Mapping[Any, Any], photo_dir: Path | None) -> StaffOut:
    """The public fields of a stored staff row (only these: never an ID, never a path)."""
    duty = row.get("duty") or None
    role, label = _role(row["role"], duty)
    return StaffOut(
        name=row["name"], role=role, role_label=label, duty=duty, phone=row["phone"],
        photo_url=photo_url(photo_dir, row["photo_path"]),
    )  # fmt: skip


def _read_roster(state: AppState) -> Roster:
    roster: Roster = {}
    photo_dir = state.settings.photo_dir
    for row in state.registry.read_staff().to_dict("records"):
        roster.setdefault(post_of(row), []).append(_person(row, photo_dir))
    return roster


def staff_photo(state: AppState, name: str) -> Path | None:
    """The file behind a served photo name (``<id>.<ext>``), None when there is none."""
    stem, _, _ = name.partition(".")
    for stored in state.registry.read_staff()["photo_path"].dropna().astype(str):
        if photo_id(stored) == stem:
            return photo_file(state.settings.photo_dir, stored)
    return None


def staff_out(state: AppState, code: str, *, serves: str = "grid") -> list[StaffOut]:
    """Public-notice staff of a grid, unit cell or unit now (cached; empty when unknown or
    unreadable)."""
    try:
        roster = state.lookups.staff.get_or_build(lambda: _read_roster(state))
    except Exception as exc:
        logger.warning("staff roster unavailable: %s", exc)
        return []
    return roster.get((SERVES[serves], code), [])


def _moment(value: Any) -> datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def staff_records(
    state: AppState, code: str, *, serves: str = "grid", as_of: datetime | None = None
) -> list[StaffRecordOut]:
    """The staff of one post as of a time (default: now), each with since when and until
    when they held it; read from the store (the history is not cached)."""
    post = (SERVES[serves], code)
    photo_dir = state.settings.photo_dir
    return [
        StaffRecordOut(
            **_person(row, photo_dir).model_dump(),
            valid_from=_moment(row["valid_from"]),
            valid_to=_moment(row["valid_to"]),
        )
        for row in state.registry.read_staff(as_of=as_of).to_dict("records")
        if post_of(row) == post
    ]


def contacts_out(state: AppState, parents: list[ParentOut]) -> list[ContactOut]:
    """The escalation contacts above a grid: each unit of ``parents`` with its staff."""
    return [
        ContactOut(
            code=p.code, name=p.name, level=p.level, staff=staff_out(state, p.code, serves="unit")
        )
        for p in parents
    ]


def post_exists(state: AppState, index: GridIndex, serves: str, code: str) -> str | None:
    """None when the version of ``index`` has the grid, cell or unit ``code``, else why not.

    A unit is any unit of the version or above its grids (:func:`gis.rules.staff.unit_levels`);
    the level of a unit comes back through :func:`unit_level`."""
    assert index.version is not None
    if serves == "grid":
        found = index.position(code) is not None
    elif serves == "cell":
        cells = state.layer(index.version.id, "cells")
        found = len(cells) > 0 and code in set(cells["cell_code"].astype(str))
    else:
        found = code in _unit_levels(state, index)
    return None if found else f"no {serves} {code!r} in version {index.version.id}"


def _unit_levels(state: AppState, index: GridIndex) -> dict[str, str | None]:
    assert index.version is not None
    return unit_levels(unit_table(state, index.version.id), index.grids[col.PARENT_CODE])


def unit_level(state: AppState, index: GridIndex, code: str) -> str | None:
    """The level of unit ``code`` in the version of ``index`` (None: not known)."""
    return _unit_levels(state, index).get(code)
