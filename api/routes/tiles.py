"""Mapbox Vector Tiles of a plan version, and their TileJSON.

``/tiles/{version}/{z}/{x}/{y}.mvt``: the version is in the URL, so a tile never changes
and is served with a year-long ``immutable`` cache header. On PostGIS the tile is one
``ST_AsMVT`` query (``sql/tile.sql``; psycopg is imported only then, so the service runs on
the embedded store without the ``db`` extra); on the embedded store (or when PostGIS cannot
be reached) it is encoded from the in-memory layers with ``mapbox-vector-tile``. Each grid's
``load`` is judged by the band of its own version (:attr:`gis.store.VersionInfo.band`), which
the TileJSON also gives (``band``). ``/basemap/{z}/{x}/{y}.mvt`` serves roads and buildings
from ``basemap_path``.
"""

from __future__ import annotations

import logging
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response

from api.deps import State, read_access
from api.errors import BadRequestError, MissingDependencyError, UnavailableError
from api.present import band_out, with_load
from api.state import AppState
from gis.errors import StoreError
from gis.serving.features import TILE_EXTENT, TileSource, grid_labels

logger = logging.getLogger(__name__)
router = APIRouter(tags=["tiles"], dependencies=[Depends(read_access)])

MVT = "application/vnd.mapbox-vector-tile"
TILE_SQL = (FilePath(__file__).resolve().parents[1] / "sql" / "tile.sql").read_text("utf-8")
MIN_ZOOM, MAX_ZOOM = 0, 22
Z = Annotated[int, Path(ge=MIN_ZOOM, le=MAX_ZOOM)]
XY = Annotated[int, Path(ge=0)]
NO_PSYCOPG = (
    "PostGIS tiles need psycopg, which is not installed: pip install 'wangge[db]' "
    "(or serve the embedded GeoPackage store)"
)


def _check_xy(z: int, x: int, y: int) -> None:
    if x >= 2**z or y >= 2**z:
        raise BadRequestError(f"tile {z}/{x}/{y} does not exist: x and y must be < {2**z}")


def _build_source(state: AppState, vid: int) -> TileSource:
    """The in-memory layers of a version, grids with their load in the version's own band."""
    grids = state.layer(vid, "grids")
    layers = {"grids": grids, "grid_labels": grid_labels(grids)}
    for name in ("cells", "units"):
        try:
            layers[name] = state.layer(vid, name).drop(columns=["version_id"], errors="ignore")
        except UnavailableError:
            logger.warning("tile layer %s of version %d unavailable", name, vid)
    graded = with_load(grids, state.band(vid))
    layers["grids"] = graded.drop(columns=["version_id", "area_m2"], errors="ignore")
    return TileSource(layers)


def _psycopg_error() -> type[Exception]:
    """``psycopg.Error``, imported only when PostGIS tiles are asked for (the ``db`` extra)."""
    try:
        import psycopg  # noqa: PLC0415 - optional: the embedded store serves without it
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(NO_PSYCOPG) from exc
    error: type[Exception] = psycopg.Error
    return error


def _postgis_tile(state: AppState, vid: int, z: int, x: int, y: int) -> bytes:
    """One tile by ``ST_AsMVT`` (``sql/tile.sql``), grids graded by the version's band."""
    db_error = _psycopg_error()
    if state.tile_db is None:
        raise UnavailableError("the plan store is not PostGIS: no tile connection")
    info = state.live.version(vid)
    params: dict[str, Any] = {
        "z": z, "x": x, "y": y, "v": vid, "ts": info.valid_from,
        "band_min": info.band.min_households, "band_max": info.band.max_households,
        "tol": 360.0 / 2**z / TILE_EXTENT / 2,
    }  # fmt: skip
    try:
        row = state.tile_db.fetchone(TILE_SQL, params)
    except (db_error, StoreError) as exc:
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
    key = (vid, z, x, y)
    data = state.tiles.tiles.get(key)
    if data is not None:
        return Response(data, media_type=MVT, headers=_headers(state))
    if state.on_postgis:
        try:
            data = _postgis_tile(state, vid, z, x, y)
        except MissingDependencyError:
            raise
        except UnavailableError as exc:
            logger.warning("%s; encoding from memory", exc)
    if data is None:
        source = state.tiles.sources.get_or_build(vid, lambda: _build_source(state, vid))
        data = source.encode(z, x, y)
    state.tiles.tiles.put(key, data)  # tiles of a version never change: keep the recent ones
    return Response(data, media_type=MVT, headers=_headers(state))


@router.get(
    "/basemap/{z}/{x}/{y}.mvt", response_class=Response, responses={200: {"content": {MVT: {}}}}
)
def basemap_tile(state: State, z: Z, x: XY, y: XY) -> Response:
    """Roads and buildings from the configured basemap file (empty tile when none)."""
    _check_xy(z, x, y)
    source = state.tiles.basemap.get_or_build(lambda: TileSource(state.basemap()))
    return Response(source.encode(z, x, y), media_type=MVT, headers=_headers(state))


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
        "band": band_out(state.band(vid)).model_dump(),
        "vector_layers": [
            {"id": "grids", "fields": fields},
            {"id": "grid_labels", "fields": {"grid_code": "String", "households": "Number"}},
            {"id": "cells", "fields": {"cell_code": "String", "grid_code": "String"}},
            {"id": "units", "fields": {"unit_code": "String", "unit_name": "String"}},
        ],
    }  # fmt: skip
    return JSONResponse(body, headers={"Cache-Control": cache})
