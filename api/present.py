"""Turning library objects into response bodies (no geometry here).

A grid's load (``dedicated``, ``under``, ``within``, ``over``) is always judged by the band of
the version it belongs to (:attr:`gis.store.VersionInfo.band`), never by a global setting.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd

from api.errors import UnavailableError
from api.schemas import BandOut, GridOut, ParentOut, StaffOut, VersionOut
from api.state import AppState, Roster, UnitTable
from gis import columns as col
from gis.options import Band
from gis.serving.features import load_class
from gis.serving.lookup import GridIndex, parent_chain
from gis.store import VersionInfo

logger = logging.getLogger(__name__)

LOAD: str = "load"
"""Column / property holding a grid's load class."""


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


def _read_roster(state: AppState) -> Roster:
    roster: Roster = {}
    for row in state.registry.read_staff().to_dict("records"):
        roster.setdefault(str(row["grid_code"]), []).append(
            StaffOut(
                name=row["name"],
                role=row["role"],
                phone=row["phone"],
                photo_path=row["photo_path"],
            )
        )
    return roster


def staff_out(state: AppState, grid_code: str) -> list[StaffOut]:
    """Public-notice staff of a grid (cached; empty when unknown or unreadable)."""
    try:
        roster = state.lookups.staff.get_or_build(lambda: _read_roster(state))
    except Exception as exc:
        logger.warning("staff roster unavailable: %s", exc)
        return []
    return roster.get(grid_code, [])
