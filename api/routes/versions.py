"""Plan versions: list them (open) and publish a new one (``publisher`` role).

A publish body (megabytes of GeoJSON) is read off the event loop: the loop only collects its
bytes; parsing, checking and writing run in a worker thread.
"""

from __future__ import annotations

from typing import Annotated, Any

import geopandas as gpd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from api.deps import DraftReader, State, read_access, read_body, require_role
from api.errors import AuthForbiddenError, BadRequestError
from api.present import version_out
from api.responses import error_response
from api.schemas import BandIn, PublishIn, VersionOut
from api.state import AppState
from gis.options import Band
from gis.store import VersionInfo

router = APIRouter(tags=["versions"])


@router.get(
    "/versions",
    response_model=list[VersionOut],
    dependencies=[Depends(read_access)],
    responses={403: error_response("drafts=true with a key that may not read drafts")},
)
def list_versions(
    state: State,
    may_read_drafts: DraftReader,
    drafts: Annotated[
        bool, Query(description="Also versions in review (a key with author/reviewer role)")
    ] = False,
) -> list[VersionOut]:
    """Every approved version, oldest first (from the cached list); with ``drafts`` and a key
    that may read them, every stored version, in review or rejected too."""
    if not drafts:
        return [version_out(v) for v in state.live.versions]
    if not may_read_drafts:
        raise AuthForbiddenError("reading drafts needs a key with the author or reviewer role")
    return [version_out(v) for v in state.store.versions(drafts=True)]


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
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PublishIn"}}},
            "required": True,
        }
    },
)
async def publish(
    request: Request,
    state: State,
    author: Annotated[str, Query(min_length=1, max_length=200)],
    note: Annotated[str, Query(max_length=2000)] = "",
) -> VersionOut:
    """Publish a plan as the new live version (checked: no overlaps, units covered), with the
    household band it was drawn for: the service colours and reports the version by it.

    The body is ``PublishIn``: ``{"grids": FeatureCollection, "units"?, "cells"?, "band"?}``.
    """
    data = await read_body(request, state.settings.max_upload_bytes)
    info = await run_in_threadpool(_publish, state, data, author, note)
    return version_out(info)


def plan_body(data: bytes) -> dict[str, Any]:
    """The plan a publish or draft body holds (``PublishIn``), as store arguments.

    Raises
    ------
    BadRequestError
        The body is not a usable ``PublishIn``.
    """
    try:
        body = PublishIn.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise BadRequestError(f"the publish body is not usable: {problems}") from exc
    frame = _frame(body.grids, "grids")
    assert frame is not None
    return {
        "grids": frame,
        "units": _frame(body.units, "units"),
        "cells": _frame(body.cells, "cells"),
        "parameters": {"via": "api"},
        "band": _band(body.band),
    }


def _publish(state: AppState, data: bytes, author: str, note: str) -> VersionInfo:
    """Parse, check and publish (in a worker thread); refresh the live index."""
    info = state.store.publish(author=author, note=note, **plan_body(data))
    state.invalidate_version()
    return info


def _band(band: BandIn | None) -> Band | None:
    if band is None:
        return None
    if band.target is None:
        return Band(band.min_households, band.max_households)
    return Band(band.min_households, band.max_households, band.target)
