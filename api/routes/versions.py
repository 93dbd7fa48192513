"""Plan versions: list them (open) and publish a new one (``publisher`` role)."""

from __future__ import annotations

from typing import Annotated, Any

import geopandas as gpd
from fastapi import APIRouter, Body, Depends, Query

from api.deps import State, read_access, require_role
from api.errors import BadRequestError
from api.present import version_out
from api.schemas import BandIn, VersionOut
from gis.options import Band

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
    band: Annotated[
        BandIn | None, Body(description="The band the plan was drawn for (default 300–800)")
    ] = None,
) -> VersionOut:
    """Publish a plan as the new live version (checked: no overlaps, units covered), with the
    household band it was drawn for: the service colours and reports the version by it."""
    frame = _frame(grids, "grids")
    assert frame is not None
    info = state.store.publish(
        frame, author=author, note=note, units=_frame(units, "units"),
        cells=_frame(cells, "cells"), parameters={"via": "api"}, band=_band(band),
    )  # fmt: skip
    state.invalidate_version()
    return version_out(info)


def _band(band: BandIn | None) -> Band | None:
    if band is None:
        return None
    if band.target is None:
        return Band(band.min_households, band.max_households)
    return Band(band.min_households, band.max_households, band.target)
