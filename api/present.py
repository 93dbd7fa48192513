"""Turning library objects into response bodies (no geometry here).

A grid's load (``dedicated``, ``under``, ``within``, ``over``) is always judged by the band of
the version it belongs to (:attr:`gis.store.VersionInfo.band`), never by a global setting.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import geopandas as gpd

from api.errors import UnavailableError
from api.schemas import AsOfOut, BandOut, GridOut, ParentOut, StaffOut, VersionOut
from gis import columns as col
from gis.errors import RosterError
from gis.options import Band
from gis.rules.staff import ROLE_LABELS, check_role
from gis.serving.features import load_class
from gis.serving.lookup import GridIndex, parent_chain
from gis.store import VersionInfo
from gis.store.base import as_of_note

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
        band=band_out(info.band),
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


def with_load(grids: gpd.GeoDataFrame, band: Band) -> gpd.GeoDataFrame:
    """A copy of ``grids`` with a ``load`` column judged by ``band``."""
    out = grids.copy()
    out[LOAD] = [
        load_of(h, k, band) for h, k in zip(out[col.HOUSEHOLDS], out[col.KIND], strict=True)
    ]
    return out


def grid_out(record: dict[str, Any], band: Band) -> GridOut:
    """A grid's public attributes with its load in ``band`` (its version's band)."""
    area = record.get("area_m2")
    return GridOut(
        grid_code=str(record["grid_code"]), kind=str(record["kind"]),
        households=int(record["households"]), parent_code=str(record["parent_code"]),
        parent_name=str(record["parent_name"]), area_m2=None if area is None else float(area),
        load=load_of(record["households"], record["kind"], band),
    )  # fmt: skip


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
    return [ParentOut(**p) for p in chain]


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


def _role(stored: object) -> tuple[str, str]:
    """(role, label) of a stored role; a role stored before roles were checked is shown as
    stored."""
    try:
        role = check_role(stored)
    except RosterError:
        return str(stored), str(stored)
    return role, ROLE_LABELS[role]


def _read_roster(state: AppState) -> Roster:
    roster: Roster = {}
    photo_dir = state.settings.photo_dir
    for row in state.registry.read_staff().to_dict("records"):
        role, label = _role(row["role"])
        roster.setdefault(str(row["grid_code"]), []).append(
            StaffOut(
                name=row["name"],
                role=role,
                role_label=label,
                phone=row["phone"],
                photo_url=photo_url(photo_dir, row["photo_path"]),
            )
        )
    return roster


def staff_photo(state: AppState, name: str) -> Path | None:
    """The file behind a served photo name (``<id>.<ext>``), None when there is none."""
    stem, _, _ = name.partition(".")
    for stored in state.registry.read_staff()["photo_path"].dropna().astype(str):
        if photo_id(stored) == stem:
            return photo_file(state.settings.photo_dir, stored)
    return None


def staff_out(state: AppState, grid_code: str) -> list[StaffOut]:
    """Public-notice staff of a grid (cached; empty when unknown or unreadable)."""
    try:
        roster = state.lookups.staff.get_or_build(lambda: _read_roster(state))
    except Exception as exc:
        logger.warning("staff roster unavailable: %s", exc)
        return []
    return roster.get(grid_code, [])
