"""Which grid holds a point: ``GET /lookup`` and ``POST /lookup/batch``.

Single lookups are answered on the event loop from the in-memory index (no database round
trip). A batch never parses or locates on the loop: a small body in a worker thread, a large
one in a worker process (:mod:`api.batch`), so single lookups keep their latency while a
2,000,000-point batch runs. An ``as_of`` later than every published version is answered by
the live version, and the answer says so (``as_of.beyond_last_version``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from api.batch import BatchRequest, answer, spool_path
from api.deps import DraftReader, State, read_access, read_body
from api.errors import BadRequestError, PayloadTooLargeError, UnavailableError
from api.limits import batch_limit
from api.present import (
    as_of_out,
    cell_out,
    contacts_out,
    grid_out,
    parents_out,
    staff_out,
    version_out,
)
from api.schemas import BatchOut, LookupOut
from api.state import AppState
from gis.errors import PointOutsideGridsError, VersionNotFoundError
from gis.outputs.files import reason
from gis.serving.lookup import GridIndex, points_to_wgs84

router = APIRouter(tags=["lookup"], dependencies=[Depends(read_access)])

CrsParam = Annotated[
    str, Query(description="wgs84 (default), cgcs2000, gcj02, bd09 or EPSG:nnnn", max_length=32)
]
AsOf = Annotated[
    datetime | None, Query(description="ISO 8601 time; the version live then (default: now)")
]


def _cached_fragment(state: AppState, index: GridIndex, position: int) -> bytes | None:
    """The cached JSON of everything in a lookup answer but the point (None: not built)."""
    assert index.version is not None
    state.lookups.expire(time.monotonic())  # staff edited elsewhere show up
    return state.lookups.fragments.get((index.version.id, index.version.live, position))


def _fragment(state: AppState, index: GridIndex, position: int) -> bytes:
    """Build and cache the fragment (reads units and the roster from the store: call it off
    the event loop)."""
    assert index.version is not None
    record = index.record(position)
    parents = parents_out(state, index, record)
    body = {
        "grid": grid_out(record, index.version.band, index.version.unit_bands).model_dump(
            mode="json"
        ),
        "parents": [p.model_dump(mode="json") for p in parents],
        "staff": [s.model_dump(mode="json") for s in staff_out(state, str(record["grid_code"]))],
        "contacts": [c.model_dump(mode="json") for c in contacts_out(state, parents)],
        "version": version_out(index.version).model_dump(mode="json"),
    }
    key = (index.version.id, index.version.live, position)
    return state.lookups.fragments.put(key, orjson.dumps(body)[1:])  # without the "{"


@router.get(
    "/lookup",
    response_model=LookupOut,
    responses={
        204: {"description": "outside, when if_outside=empty"},
        404: {"description": "outside"},
    },
)
async def lookup(
    state: State,
    lon: Annotated[float, Query(description="Longitude (x in an EPSG CRS)", allow_inf_nan=False)],
    lat: Annotated[float, Query(description="Latitude (y in an EPSG CRS)", allow_inf_nan=False)],
    may_read_drafts: DraftReader,
    crs: CrsParam = "wgs84",
    as_of: AsOf = None,
    if_outside: Annotated[
        Literal["error", "empty"],
        Query(description="A point outside every grid: error (404, default) or empty (204)"),
    ] = "error",
    version: Annotated[
        int | None,
        Query(ge=1, description="This version (one in review with a key that may read drafts)"),
    ] = None,
) -> Response:
    """The grid holding one point, with its parents, staff and version; 404 when outside
    (204 No Content with ``if_outside=empty``: the web map asks so, as an outside point is
    an answer there, not an error). ``version`` asks one version by id: an approved one, or
    one in review when the key (or its read token) may read drafts.

    Answered from the in-memory index of the version; the rest of the answer is cached per
    grid, and built off the event loop when it is not (it reads units and staff).
    """
    x, y = points_to_wgs84([lon], [lat], crs)
    index = await _index_of(state, version, as_of, may_read_drafts)
    position = int(index.locate(x, y)[0])
    if position < 0:
        if if_outside == "empty":
            return Response(status_code=204)
        msg = f"point ({lon}, {lat}) in {crs} lies outside every grid of version {index.version_id}"
        error = PointOutsideGridsError(msg)
        error.point = (float(x[0]), float(y[0]))  # type: ignore[attr-defined]
        raise error
    head: dict[str, object] = {"lon": float(x[0]), "lat": float(y[0]), "crs": crs}
    assert index.version is not None
    if state.cell_indexes.get(index.version.id) is not None:
        cell = cell_out(state, index, float(x[0]), float(y[0]))
    else:  # the cells come from the store the first time: not on the loop
        cell = await run_in_threadpool(cell_out, state, index, float(x[0]), float(y[0]))
    head["cell"] = None if cell is None else cell.model_dump(mode="json")
    when = as_of_out(index.version, as_of)
    if when is not None:
        head["as_of"] = when.model_dump(mode="json")
    fragment = _cached_fragment(state, index, position)
    if fragment is None:  # units and roster may come from the store: not on the loop
        fragment = await run_in_threadpool(_fragment, state, index, position)
    body = orjson.dumps(head)[:-1] + b"," + fragment
    return Response(body, media_type="application/json")


async def _index_of(
    state: AppState, version: int | None, as_of: datetime | None, may_read_drafts: bool
) -> GridIndex:
    """The index a lookup answers from: the version asked by id (a draft only for a key that
    may read drafts; for others it does not exist), or the one live at ``as_of``."""
    if version is not None and as_of is not None:
        raise BadRequestError("give version or as_of, not both")
    if version is None:
        index = state.live.cached(as_of=as_of)
        if index is None:  # a past version not in memory yet: read it off the event loop
            index = await run_in_threadpool(state.live.index, as_of=as_of)
        return index
    try:
        return await run_in_threadpool(state.live.index, version)
    except VersionNotFoundError:
        if not may_read_drafts:
            raise
    return await run_in_threadpool(state.live.draft_index, version)


async def _spool(request: Request, path: str, limit: int) -> None:
    """Write the body to ``path`` as it arrives; each write runs in a worker thread, so a disk
    that makes writers wait (dirty-page throttling) never stalls the event loop."""
    size = 0
    try:
        with open(path, "wb", buffering=0) as out:  # each write goes to a worker thread
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    msg = f"request body exceeds the limit of {limit} bytes"
                    raise PayloadTooLargeError(msg)
                await run_in_threadpool(out.write, chunk)
    except OSError as exc:
        raise UnavailableError(f"cannot take the batch in: {reason(exc)}") from exc


def _declared(request: Request, limit: int) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return None
    if int(declared) > limit:
        msg = f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes"
        raise PayloadTooLargeError(msg)
    return int(declared)


async def _in_process(
    request: Request, state: AppState, batch: BatchRequest, index: GridIndex
) -> Response:
    """Spool the body, answer it in the worker process, stream the answer file back."""
    paths = (spool_path(), spool_path())
    state.batches.warm()  # the worker starts while the body arrives
    try:
        await _spool(request, paths[0], state.settings.max_upload_bytes)
        key = (state.settings.store_url, state.settings.db_schema, index.version_id)
        payload = await run_in_threadpool(state.batches.payload, key, index)
        assert index.version is not None
        future = state.batches.submit(paths, batch, key, payload, index.version)
        try:
            media_type = await asyncio.wrap_future(future)
        except BrokenProcessPool as exc:
            state.batches.reset()
            raise UnavailableError("the batch worker stopped; send the batch again") from exc
    except BaseException:
        for path in paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
    await run_in_threadpool(os.unlink, paths[0])  # freeing a large file takes a while
    return FileResponse(
        paths[1], media_type=media_type, background=BackgroundTask(os.unlink, paths[1])
    )


@router.post(
    "/lookup/batch",
    dependencies=[Depends(batch_limit)],
    response_model=BatchOut,
    responses={
        404: {"description": "no plan version was live (at as_of)"},
        413: {"description": "too many points or too large a body"},
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/BatchIn"}},
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {
                    "schema": {"type": "string", "format": "binary"}
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "crs": {"type": "string"},
                        },
                    }
                },
            },
            "required": True,
        }
    },
)
async def lookup_batch(
    request: Request,
    state: State,
    crs: Annotated[str | None, Query(description="Overrides the body's crs", max_length=32)] = None,
    as_of: AsOf = None,
    format: Annotated[
        str, Query(pattern="^(json|csv|parquet)$", description="Response format")
    ] = "json",
) -> Response:
    """One grid per input point, in input order (JSON body, CSV or Parquet upload).

    Read, located and encoded off the event loop: in a worker thread for a body up to
    ``batch_process_bytes``, in a worker process beyond.
    """
    settings = state.settings
    declared = _declared(request, settings.max_upload_bytes)
    index = state.live.cached(as_of=as_of)
    if index is None:  # a past version not in memory yet: read it off the event loop
        index = await run_in_threadpool(state.live.index, as_of=as_of)
    when = as_of_out(index.version, as_of)
    batch = BatchRequest(
        content_type=request.headers.get("content-type", ""),
        crs=crs,
        fmt=format,
        max_points=settings.max_batch_points,
        as_of=None if when is None else when.model_dump(mode="json"),
    )
    big = settings.batch_process_bytes
    if big and (declared is None or declared > big):
        return await _in_process(request, state, batch, index)
    data = await read_body(request, settings.max_upload_bytes)
    body, media_type = await run_in_threadpool(answer, data, batch, index)
    return Response(body, media_type=media_type)
