"""Which grid holds a point: ``GET /lookup`` and ``POST /lookup/batch``."""

from __future__ import annotations

import contextlib
import gc
import io
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import numpy as np
import orjson
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import State, read_access
from api.errors import BadRequestError, PayloadTooLargeError
from api.present import grid_out, index_band, parents_out, staff_out, version_out
from api.schemas import BatchOut, LookupOut
from api.state import AppState
from gis.errors import BatchTooLargeError, PointOutsideGridsError
from gis.serving.lookup import GridIndex, points_to_wgs84

router = APIRouter(tags=["lookup"], dependencies=[Depends(read_access)])

CrsParam = Annotated[
    str, Query(description="wgs84 (default), cgcs2000, gcj02, bd09 or EPSG:nnnn", max_length=32)
]
AsOf = Annotated[
    datetime | None, Query(description="ISO 8601 time; the version live then (default: now)")
]
LON_NAMES = ("lon", "lng", "longitude", "x")
LAT_NAMES = ("lat", "latitude", "y")
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet", "application/parquet")


def _fragment(state: AppState, index: GridIndex, position: int) -> bytes:
    """The JSON of everything in a lookup answer but the point, cached per grid."""
    assert index.version is not None
    state.lookups.expire(time.monotonic())  # staff edited elsewhere show up
    key = (index.version.id, index.version.live, position)
    found = state.lookups.fragments.get(key)
    if found is None:
        record = index.record(position)
        body = {
            "grid": grid_out(record, index.version.band).model_dump(mode="json"),
            "parents": [p.model_dump(mode="json") for p in parents_out(state, index, record)],
            "staff": [
                s.model_dump(mode="json") for s in staff_out(state, str(record["grid_code"]))
            ],
            "version": version_out(index.version).model_dump(mode="json"),
        }
        found = state.lookups.fragments.put(key, orjson.dumps(body)[1:])  # without the "{"
    return found


@router.get("/lookup", response_model=LookupOut, responses={404: {"description": "outside"}})
async def lookup(
    state: State,
    lon: Annotated[float, Query(description="Longitude (x in an EPSG CRS)", allow_inf_nan=False)],
    lat: Annotated[float, Query(description="Latitude (y in an EPSG CRS)", allow_inf_nan=False)],
    crs: CrsParam = "wgs84",
    as_of: AsOf = None,
) -> Response:
    """The grid holding one point, with its parents, staff and version; 404 when outside.

    Answered from the in-memory index of the version (no database round trip).
    """
    x, y = points_to_wgs84([lon], [lat], crs)
    index = state.live.cached(as_of=as_of)
    if index is None:  # a past version not in memory yet: read it off the event loop
        index = await run_in_threadpool(state.live.index, as_of=as_of)
    position = int(index.locate(x, y)[0])
    if position < 0:
        msg = f"point ({lon}, {lat}) in {crs} lies outside every grid of version {index.version_id}"
        error = PointOutsideGridsError(msg)
        error.point = (float(x[0]), float(y[0]))  # type: ignore[attr-defined]
        raise error
    head = orjson.dumps({"lon": float(x[0]), "lat": float(y[0]), "crs": crs})[:-1]
    return Response(head + b"," + _fragment(state, index, position), media_type="application/json")


def _column(frame: pd.DataFrame, names: tuple[str, ...]) -> np.ndarray[Any, Any]:
    for name in frame.columns:
        if str(name).strip().lower() in names:
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
            if np.isnan(values).any():
                i = int(np.flatnonzero(np.isnan(values))[0])
                msg = f"column {name!r} row {i}: {frame[name].iloc[i]!r} is not a number"
                raise BadRequestError(msg)
            return values
    msg = f"no coordinate column among {', '.join(names)}; columns seen: {list(frame.columns)}"
    raise BadRequestError(msg)


def _table(data: bytes, kind: str) -> pd.DataFrame:
    try:
        if kind == "parquet":
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data))
    except Exception as exc:
        msg = f"cannot read the uploaded {kind} table: {exc}"
        raise BadRequestError(msg) from exc


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        msg = f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes"
        raise PayloadTooLargeError(msg)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            msg = f"request body exceeds the limit of {limit} bytes"
            raise PayloadTooLargeError(msg)
        chunks.append(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small lists are built and dropped
    (a 1M-point JSON batch parses twice as fast); they hold no cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _json_points(data: bytes) -> tuple[str, np.ndarray[Any, Any]]:
    try:
        with _no_gc():
            body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict) or "points" not in body:
        raise BadRequestError('JSON body must be {"crs": "...", "points": [[lon, lat], ...]}')
    crs = body.get("crs", "wgs84")
    if not isinstance(crs, str):
        raise BadRequestError(f"crs must be a string, got {crs!r}")
    points = body["points"]
    if not isinstance(points, list):
        raise BadRequestError("points must be a list of [lon, lat] pairs")
    if not points:
        return crs, np.empty((0, 2))
    try:
        with _no_gc():
            array = np.asarray(points, dtype=float)
    except (TypeError, ValueError) as exc:
        msg = f"points must be [lon, lat] number pairs ({exc}); first item: {points[0]!r}"
        raise BadRequestError(msg) from exc
    if array.ndim != 2 or array.shape[1] != 2:
        msg = f"points must be [lon, lat] pairs; got an array of shape {array.shape}"
        raise BadRequestError(msg)
    return crs, array


async def _read_points(request: Request, crs_query: str | None, limit: int) -> tuple[str, Any]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLargeError(f"upload of {declared} bytes exceeds {limit} bytes")
        async with request.form() as form:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise BadRequestError("multipart upload needs a 'file' part (CSV or Parquet)")
            data = await upload.read()
            name = (upload.filename or "").lower()
            form_crs = form.get("crs")
        kind = "parquet" if name.endswith((".parquet", ".pq")) else "csv"
        crs = crs_query or (form_crs if isinstance(form_crs, str) else None) or "wgs84"
        frame = _table(data, kind)
        return crs, np.column_stack([_column(frame, LON_NAMES), _column(frame, LAT_NAMES)])
    data = await _body(request, limit)
    if ctype in ("text/csv", *PARQUET_TYPES):
        frame = _table(data, "csv" if ctype == "text/csv" else "parquet")
        points = np.column_stack([_column(frame, LON_NAMES), _column(frame, LAT_NAMES)])
        return crs_query or "wgs84", points
    if ctype not in ("application/json", ""):
        msg = f"unsupported content type {ctype!r}: send JSON, text/csv, Parquet or multipart"
        raise BadRequestError(msg)
    crs, points = _json_points(data)
    return crs_query or crs, points


@router.post(
    "/lookup/batch",
    response_model=BatchOut,
    responses={413: {"description": "too many points or too large a body"}},
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
    """One grid per input point, in input order (JSON body, CSV or Parquet upload)."""
    settings = state.settings
    crs_used, points = await _read_points(request, crs, settings.max_upload_bytes)
    if len(points) > settings.max_batch_points:
        msg = f"batch of {len(points)} points exceeds the limit of {settings.max_batch_points}"
        raise BatchTooLargeError(msg)
    x, y = (
        points_to_wgs84(points[:, 0], points[:, 1], crs_used)
        if len(points)
        else (np.empty(0), np.empty(0))
    )
    index = state.live.index(as_of=as_of)
    positions = index.locate(x, y)
    codes = np.full(len(positions), None, dtype=object)
    found = positions >= 0
    codes[found] = index.codes[positions[found]]
    if format != "json":
        frame = pd.DataFrame({"lon": points[:, 0], "lat": points[:, 1], "grid_code": codes})
        if format == "csv":
            return Response(frame.to_csv(index=False), media_type="text/csv")
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return Response(buffer.getvalue(), media_type=PARQUET_TYPES[0])
    hit = np.unique(positions[positions >= 0])
    grids = {}
    band = index_band(index)
    for p in hit:
        g = grid_out(index.record(int(p)), band)
        grids[g.grid_code] = g.model_dump(exclude={"grid_code"})
    body = {
        "crs": crs_used, "count": len(points), "matched": int((positions >= 0).sum()),
        "version": version_out(index.version).model_dump(mode="json"),
        "results": codes.tolist(), "grids": grids,
    }  # fmt: skip
    return Response(orjson.dumps(body), media_type="application/json")
