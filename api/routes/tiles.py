"""Mapbox Vector Tiles of a plan version, and their TileJSON.

``/tiles/{version}/{z}/{x}/{y}.mvt``: the version is in the URL, so a tile never changes
and is served with a year-long ``immutable`` cache header. On PostGIS the tile is one
``ST_AsMVT`` query (``sql/tile.sql``); on the embedded store (or when PostGIS cannot be
reached) it is encoded from the in-memory layers with ``mapbox-vector-tile``.
``/basemap/{z}/{x}/{y}.mvt`` serves roads and buildings from ``basemap_path``.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path as FilePath
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response

from api.deps import State, read_access
from api.errors import BadRequestError, UnavailableError
from api.state import AppState
from gis.errors import StoreError
from gis.features import TILE_EXTENT, TileSource, grid_labels

logger = logging.getLogger(__name__)
router = APIRouter(tags=["tiles"], dependencies=[Depends(read_access)])

MVT = "application/vnd.mapbox-vector-tile"
TILE_SQL = (FilePath(__file__).resolve().parents[1] / "sql" / "tile.sql").read_text("utf-8")
MIN_ZOOM, MAX_ZOOM = 0, 22
Z = Annotated[int, Path(ge=MIN_ZOOM, le=MAX_ZOOM)]
XY = Annotated[int, Path(ge=0)]
_tile_lock = threading.Lock()
TILE_CACHE_SIZE = 4096


def _check_xy(z: int, x: int, y: int) -> None:
    if x >= 2**z or y >= 2**z:
        raise BadRequestError(f"tile {z}/{x}/{y} does not exist: x and y must be < {2**z}")


def _source(state: AppState, vid: int) -> TileSource:
    sources: dict[int, TileSource] = state.extras.setdefault("tile_sources", {})
    if vid not in sources:
        layers = {"grids": state.layer(vid, "grids")}
        layers["grid_labels"] = grid_labels(layers["grids"])
        for name in ("cells", "units"):
            try:
                layers[name] = state.layer(vid, name)
            except UnavailableError:
                logger.warning("tile layer %s of version %d unavailable", name, vid)
        from gis.features import load_class  # noqa: PLC0415

        grids = layers["grids"].copy()
        s = state.settings
        grids["load"] = [
            load_class(int(h), str(k), band_min=s.band_min, band_max=s.band_max)
            for h, k in zip(grids["households"], grids["kind"], strict=True)
        ]
        layers["grids"] = grids.drop(columns=["version_id", "area_m2"], errors="ignore")
        for name in ("cells", "units"):
            if name in layers:
                layers[name] = layers[name].drop(columns=["version_id"], errors="ignore")
        sources[vid] = TileSource(layers)
    return sources[vid]


def _postgis_tile(state: AppState, vid: int, z: int, x: int, y: int) -> bytes:
    info = next(v for v in state.live.versions if v.id == vid)
    params: dict[str, Any] = {
        "z": z, "x": x, "y": y, "v": vid, "ts": info.valid_from,
        "band_min": state.settings.band_min, "band_max": state.settings.band_max,
        "tol": 360.0 / 2**z / TILE_EXTENT / 2,
    }  # fmt: skip
    with _tile_lock:
        conn = state.extras.get("tile_conn")
        try:
            if conn is None or conn.closed:
                connect = state.store.connect  # type: ignore[attr-defined]
                conn = state.extras["tile_conn"] = connect()
            row = conn.execute(TILE_SQL, params).fetchone()
        except (psycopg.Error, StoreError) as exc:
            if conn is not None:
                conn.close()
            state.extras.pop("tile_conn", None)
            raise UnavailableError(f"tile query failed: {exc}") from exc
    return bytes(row[0]) if row and row[0] else b""


def _headers(state: AppState) -> dict[str, str]:
    return {"Cache-Control": f"public, max-age={state.settings.tile_max_age_s}, immutable"}


@router.get(
    "/tiles/{version}/{z}/{x}/{y}.mvt",
    response_class=Response,
    responses={200: {"content": {MVT: {}}}},
)
def tile(state: State, version: Annotated[int, Path(ge=1)], z: Z, x: XY, y: XY) -> Response:
    """One vector tile (layers grids, grid_labels, cells, units) of a plan version."""
    _check_xy(z, x, y)
    vid = state.live.resolve(version)
    cache: OrderedDict[tuple[int, int, int, int], bytes] = state.extras.setdefault(
        "tile_cache", OrderedDict()
    )
    key = (vid, z, x, y)
    with _tile_lock:
        data: bytes | None = cache.get(key)
    if data is not None:
        return Response(data, media_type=MVT, headers=_headers(state))
    if state.on_postgis:
        try:
            data = _postgis_tile(state, vid, z, x, y)
        except UnavailableError as exc:
            logger.warning("%s; encoding from memory", exc)
    if data is None:
        data = _source(state, vid).encode(z, x, y)
    with _tile_lock:  # tiles of a version never change: keep the recent ones
        cache[key] = data
        while len(cache) > TILE_CACHE_SIZE:
            cache.popitem(last=False)
    return Response(data, media_type=MVT, headers=_headers(state))


@router.get(
    "/basemap/{z}/{x}/{y}.mvt", response_class=Response, responses={200: {"content": {MVT: {}}}}
)
def basemap_tile(state: State, z: Z, x: XY, y: XY) -> Response:
    """Roads and buildings from the configured basemap file (empty tile when none)."""
    _check_xy(z, x, y)
    sources: dict[str, TileSource] = state.extras.setdefault("basemap_source", {})
    if "all" not in sources:
        sources["all"] = TileSource(state.basemap())
    return Response(sources["all"].encode(z, x, y), media_type=MVT, headers=_headers(state))


@router.get("/tiles/{version}/tilejson.json")
def tilejson(request: Request, state: State, version: str) -> JSONResponse:
    """TileJSON 3.0 of a version (``live`` for the version live now, short cache)."""
    if version == "live":
        vid = state.live.resolve()
        cache = "no-cache"
    elif version.isdigit():
        vid = state.live.resolve(int(version))
        cache = f"public, max-age={state.settings.tile_max_age_s}, immutable"
    else:
        raise BadRequestError(f"version {version!r} must be a number or 'live'")
    grids = state.layer(vid, "grids")
    bounds = [float(v) for v in grids.total_bounds] if not grids.empty else [-180, -85, 180, 85]
    base = str(request.base_url).rstrip("/")
    fields = {
        "grid_code": "String",
        "kind": "String",
        "households": "Number",
        "parent_code": "String",
        "parent_name": "String",
        "load": "String",
    }
    body = {
        "tilejson": "3.0.0", "name": f"wangge plan version {vid}", "version": "1.0.0",
        "scheme": "xyz", "tiles": [f"{base}/tiles/{vid}/{{z}}/{{x}}/{{y}}.mvt"],
        "minzoom": 0, "maxzoom": 18, "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 14],
        "attribution": "© OpenStreetMap contributors",
        "vector_layers": [
            {"id": "grids", "fields": fields},
            {"id": "grid_labels", "fields": {"grid_code": "String", "households": "Number"}},
            {"id": "cells", "fields": {"cell_code": "String", "grid_code": "String"}},
            {"id": "units", "fields": {"unit_code": "String", "unit_name": "String"}},
        ],
    }  # fmt: skip
    return JSONResponse(body, headers={"Cache-Control": cache})
