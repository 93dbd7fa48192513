"""Turning library objects into response bodies (no geometry here)."""

from __future__ import annotations

import logging
from typing import Any

from api.errors import UnavailableError
from api.schemas import GridOut, ParentOut, StaffOut, VersionOut
from api.state import AppState
from gis.features import load_class
from gis.lookup import GridIndex, parent_chain
from gis.store import VersionInfo

logger = logging.getLogger(__name__)


def version_out(info: VersionInfo | None) -> VersionOut:
    """A version record."""
    assert info is not None
    return VersionOut(
        id=info.id, created_at=info.created_at, author=info.author, note=info.note,
        valid_from=info.valid_from, valid_to=info.valid_to, live=info.live, grids=info.grids,
    )  # fmt: skip


def grid_out(state: AppState, record: dict[str, Any]) -> GridOut:
    """A grid's public attributes with its load class."""
    settings = state.settings
    load = load_class(
        int(record["households"]), str(record["kind"]),
        band_min=settings.band_min, band_max=settings.band_max,
    )  # fmt: skip
    area = record.get("area_m2")
    return GridOut(
        grid_code=str(record["grid_code"]), kind=str(record["kind"]),
        households=int(record["households"]), parent_code=str(record["parent_code"]),
        parent_name=str(record["parent_name"]), area_m2=None if area is None else float(area),
        load=load,
    )  # fmt: skip


def unit_table(state: AppState, version_id: int) -> dict[str, dict[str, Any]]:
    """Unit code → record for the version (empty when the store is down and none cached)."""
    cache: dict[int, dict[str, dict[str, Any]]] = state.extras.setdefault("units", {})
    if version_id in cache:
        return cache[version_id]
    try:
        units = state.layer(version_id, "units")
    except UnavailableError:
        return {}
    table = {
        str(r["unit_code"]): {k: r[k] for k in ("unit_name", "level", "parent_code")}
        for r in units.drop(columns=units.geometry.name).to_dict("records")
    }
    cache[version_id] = table
    return table


def parents_out(state: AppState, index: GridIndex, record: dict[str, Any]) -> list[ParentOut]:
    """The units above a grid, up to the town."""
    assert index.version is not None
    units = unit_table(state, index.version.id)
    chain = parent_chain(str(record["parent_code"]), record.get("parent_name"), units)
    return [ParentOut(**p) for p in chain]


def staff_out(state: AppState, grid_code: str) -> list[StaffOut]:
    """Public-notice staff of a grid (cached; empty when unknown)."""
    roster: dict[str, list[StaffOut]] | None = state.extras.get("staff")
    if roster is None:
        try:
            table = state.registry.read_staff()
        except Exception as exc:
            logger.warning("staff roster unavailable: %s", exc)
            return []
        roster = {}
        for row in table.to_dict("records"):
            roster.setdefault(str(row["grid_code"]), []).append(
                StaffOut(
                    name=row["name"],
                    role=row["role"],
                    phone=row["phone"],
                    photo_path=row["photo_path"],
                )
            )
        state.extras["staff"] = roster
    return roster.get(grid_code, [])
