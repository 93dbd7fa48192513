"""Plan versions: list them (open) and publish a new one (``publisher`` role)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import geopandas as gpd
from fastapi import APIRouter, Body, Depends, Query

from api.deps import State, read_access, require_role
from api.errors import BadRequestError
from api.present import version_out
from api.schemas import VersionOut

router = APIRouter(tags=["versions"])


@router.get("/versions", response_model=list[VersionOut], dependencies=[Depends(read_access)])
def list_versions(state: State) -> list[VersionOut]:
    """Every published version, oldest first (from the cached list)."""
    return [version_out(v) for v in state.live.versions]


def _frame(collection: Any, what: str) -> gpd.GeoDataFrame | None:
    if collection is None:
        return None
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise BadRequestError(f"{what} must be a GeoJSON FeatureCollection (EPSG:4326)")
    try:
        return gpd.GeoDataFrame.from_features(collection["features"], crs="EPSG:4326")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadRequestError(f"{what}: cannot read the features ({exc})") from exc


@router.post(
    "/versions",
    response_model=VersionOut,
    status_code=201,
    dependencies=[Depends(require_role("publisher"))],
)
def publish(
    state: State,
    grids: Annotated[dict[str, Any], Body(description="Grids: GeoJSON FeatureCollection")],
    author: Annotated[str, Query(min_length=1, max_length=200)],
    note: Annotated[str, Query(max_length=2000)] = "",
    units: Annotated[dict[str, Any] | None, Body()] = None,
    cells: Annotated[dict[str, Any] | None, Body()] = None,
) -> VersionOut:
    """Publish a plan as the new live version (checked: no overlaps, units covered)."""
    frame = _frame(grids, "grids")
    assert frame is not None
    info = state.store.publish(
        frame, author=author, note=note, units=_frame(units, "units"),
        cells=_frame(cells, "cells"), parameters={"via": "api"},
    )  # fmt: skip
    state.live.refresh()
    state.extras.pop("units", None)
    state.extras.pop("lookup_fragments", None)
    return version_out(info)


def versions_json(state: State) -> str:
    """The cached versions as JSON (for the map page)."""
    return json.dumps([version_out(v).model_dump(mode="json") for v in state.live.versions])
