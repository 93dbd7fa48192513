"""Mapbox Vector Tiles of a plan version, their TileJSON and map style.

``/tiles/{version}/{z}/{x}/{y}.mvt``: the version is in the URL, so a tile never changes
and is served with a year-long ``immutable`` cache header. ``/tiles/live/{z}/{x}/{y}.mvt`` is
the same tile of the version live now, cached for a minute only, so that a saved QGIS or GDAL
connection (``/tiles/live.json``, ``/tiles/style.json``) follows each publish. Every feature
has an id (its code's rank in the layer, the same on PostGIS and in memory); tiles are gzipped
for clients that accept it. On PostGIS the tile is one
``ST_AsMVT`` query (``sql/tile.sql``; psycopg is imported only then, so the service runs on
the embedded store without the ``db`` extra); on the embedded store (or when PostGIS cannot
be reached) it is encoded from the in-memory layers with ``mapbox-vector-tile``. Each grid's
``load`` is judged by the band of its own version (:attr:`gis.store.VersionInfo.band`), which
the TileJSON also gives (``band``). ``/basemap/{z}/{x}/{y}.mvt`` serves roads and buildings
from ``basemap_path``. Attributions are per source: the plan's tiles are wangge's plan, the
basemap is OpenStreetMap data (ODbL).
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response

from api.deps import State, read_access
from api.errors import BadRequestError, MissingDependencyError, NotFoundError, UnavailableError
from api.present import band_out, with_load
from api.state import AppState
from gis.errors import StoreError
from gis.serving.features import BASEMAP_LAYERS, TILE_EXTENT, TileSource, grid_labels
from gis.serving.style import OSM_ATTRIBUTION, plan_attribution, style_json

logger = logging.getLogger(__name__)
router = APIRouter(tags=["tiles"], dependencies=[Depends(read_access)])

MVT = "application/vnd.mapbox-vector-tile"
STYLE = "application/vnd.mapbox.style+json"
PBF = "application/x-protobuf"
LIVE_MAX_AGE_S = 60
"""Cache lifetime of a live-alias tile or document: a publish shows within a minute."""
ID_FIELDS = {"grids": "grid_code", "grid_labels": "grid_code", "cells": "cell_code",
             "units": "unit_code"}  # fmt: skip
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
    graded = with_load(grids, state.band(vid), state.live.version(vid).unit_bands)
    layers["grids"] = graded.drop(columns=["version_id", "area_m2"], errors="ignore")
    return TileSource(layers, id_fields=ID_FIELDS)


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
        "unit_bands": json.dumps({u: [b.min_households, b.max_households]
                                  for u, b in info.unit_bands.items()}),
        "tol": 360.0 / 2**z / TILE_EXTENT / 2,
    }  # fmt: skip
    try:
        row = state.tile_db.fetchone(TILE_SQL, params)
    except (db_error, StoreError) as exc:
        raise UnavailableError(f"tile query failed: {exc}") from exc
    return bytes(row[0]) if row and row[0] else b""


def _immutable(state: AppState) -> dict[str, str]:
    return {"Cache-Control": f"public, max-age={state.settings.tile_max_age_s}, immutable"}


def _accepts_gzip(request: Request) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (``gzip;q=0`` does not)."""
    for part in request.headers.get("accept-encoding", "").split(","):
        token, _, params = part.strip().partition(";")
        if token.strip().lower() in {"gzip", "*"}:
            return params.replace(" ", "") not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


def _mvt(request: Request, data: bytes, headers: dict[str, str], media_type: str = MVT) -> Response:
    """A tile (or glyph) response, gzipped when the client accepts it."""
    headers = {**headers, "Vary": "Accept-Encoding"}
    if data and _accepts_gzip(request):
        data = gzip.compress(data, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=media_type, headers=headers)


def _tile_bytes(state: AppState, vid: int, z: int, x: int, y: int) -> bytes:
    """The encoded tile (cached: tiles of a version never change)."""
    key = (vid, z, x, y)
    data = state.tiles.tiles.get(key)
    if data is not None:
        return data
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
    return state.tiles.tiles.put(key, data)


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "版本不存在，或尚无现行版本 (no such version, or none live yet)"}
}
TILE_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {MVT: {}}}, **NOT_FOUND}


@router.get("/tiles/live/{z}/{x}/{y}.mvt", response_class=Response, responses=TILE_RESPONSES)
def live_tile(request: Request, state: State, z: Z, x: XY, y: XY) -> Response:
    """The tile of the version live now (a stable URL for saved connections; cached a
    minute; ``Content-Location`` names the version's own tile)."""
    _check_xy(z, x, y)
    vid = state.live.resolve()
    headers = {
        "Cache-Control": f"public, max-age={LIVE_MAX_AGE_S}",
        "Content-Location": f"/tiles/{vid}/{z}/{x}/{y}.mvt",
    }
    return _mvt(request, _tile_bytes(state, vid, z, x, y), headers)


@router.get("/tiles/{version}/{z}/{x}/{y}.mvt", response_class=Response, responses=TILE_RESPONSES)
def tile(
    request: Request, state: State, version: Annotated[int, Path(ge=1)], z: Z, x: XY, y: XY
) -> Response:
    """One vector tile (layers grids, grid_labels, cells, units) of a plan version."""
    _check_xy(z, x, y)
    vid = state.live.resolve(version)
    return _mvt(request, _tile_bytes(state, vid, z, x, y), _immutable(state))


@router.get("/basemap/{z}/{x}/{y}.mvt", response_class=Response, responses=TILE_RESPONSES)
def basemap_tile(request: Request, state: State, z: Z, x: XY, y: XY) -> Response:
    """Roads and buildings from the configured basemap file (empty tile when none)."""
    _check_xy(z, x, y)
    source = state.tiles.basemap.get_or_build(lambda: TileSource(state.basemap()))
    return _mvt(request, source.encode(z, x, y), _immutable(state))


@router.get(
    "/basemap/tilejson.json",
    summary="TileJSON of the basemap (OpenStreetMap data)",
    responses={404: {"description": "未配置底图 (no basemap configured)"}},
)
def basemap_tilejson(request: Request, state: State) -> JSONResponse:
    """TileJSON 3.0 of the roads and buildings drawn under the grids (404 when none)."""
    layers = state.basemap()
    if not layers:
        raise NotFoundError("this service has no basemap (settings: basemap_path)")
    base = str(request.base_url).rstrip("/")
    body = {
        "tilejson": "3.0.0", "name": "底图（道路、建筑）", "scheme": "xyz",
        "tiles": [f"{base}/basemap/{{z}}/{{x}}/{{y}}.mvt"], "minzoom": 10, "maxzoom": 16,
        "attribution": OSM_ATTRIBUTION,
        "vector_layers": [{"id": n, "fields": dict.fromkeys(BASEMAP_LAYERS[n], "String")}
                          for n in layers],
    }  # fmt: skip
    return JSONResponse(body, headers={"Cache-Control": _cache(state, True)})


@router.get(
    "/tiles/fonts/{fontstack}/{glyph_range}.pbf",
    response_class=Response,
    summary="Label glyphs for MapLibre (SDF, 256 code points)",
    responses={200: {"content": {PBF: {}}}},
)
def glyphs(request: Request, state: State, fontstack: str, glyph_range: str) -> Response:
    """The glyphs ``start-end`` (e.g. ``0-255``) the style's labels are drawn with."""
    from gis.serving.glyphs import RANGE_SIZE, glyph_range_pbf  # noqa: PLC0415

    first, _, last = glyph_range.partition("-")
    if not (first.isdigit() and last.isdigit() and int(last) == int(first) + RANGE_SIZE - 1):
        raise BadRequestError(f"glyph range {glyph_range[:40]!r} must be like 0-255 or 256-511")
    try:
        data = glyph_range_pbf(fontstack[:200], int(first))
    except ValueError as exc:
        raise BadRequestError(str(exc)) from exc
    return _mvt(request, data, _immutable(state), PBF)


def _version_of(state: AppState, version: str) -> tuple[int, bool]:
    """(version id, whether ``version`` is ``live``)."""
    if version == "live":
        return state.live.resolve(), True
    if version.isdigit():
        return state.live.resolve(int(version)), False
    raise BadRequestError(f"version {version!r} must be a number or 'live'")


def _bounds(state: AppState, vid: int) -> list[float]:
    grids = state.layer(vid, "grids")
    return [float(v) for v in grids.total_bounds] if not grids.empty else [-180, -85, 180, 85]


def _cache(state: AppState, live: bool) -> str:
    if live:
        return f"public, max-age={LIVE_MAX_AGE_S}"
    return f"public, max-age={state.settings.tile_max_age_s}, immutable"


def _tilejson(base: str, state: AppState, vid: int, tiles_url: str, live: bool) -> dict[str, Any]:
    bounds = _bounds(state, vid)
    fields = {
        "grid_code": "String", "kind": "String", "households": "Number",
        "parent_code": "String", "parent_name": "String", "load": "String",
    }  # fmt: skip
    name = "网格矢量瓦片（现行版本）" if live else f"网格矢量瓦片（第 {vid} 版）"
    return {
        "tilejson": "3.0.0", "name": name, "version": "1.0.0",
        "scheme": "xyz", "tiles": [tiles_url],
        "minzoom": 0, "maxzoom": 18, "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 14],
        "attribution": plan_attribution(None if live else vid),
        "band": band_out(state.band(vid)).model_dump(),
        "plan_version": vid,
        "style": f"{base}/tiles/style.json" if live else f"{base}/tiles/{vid}/style.json",
        "vector_layers": [
            {"id": "grids", "fields": fields},
            {"id": "grid_labels", "fields": {"grid_code": "String", "households": "Number"}},
            {"id": "cells", "fields": {"cell_code": "String", "grid_code": "String"}},
            {"id": "units", "fields": {"unit_code": "String", "unit_name": "String"}},
        ],
    }  # fmt: skip


@router.get(
    "/tiles/live.json", summary="TileJSON of the live tiles (stable URL)", responses=NOT_FOUND
)
def live_tilejson(request: Request, state: State) -> JSONResponse:
    """TileJSON 3.0 whose tiles are the live alias: a saved connection never goes stale."""
    base = str(request.base_url).rstrip("/")
    vid = state.live.resolve()
    body = _tilejson(base, state, vid, f"{base}/tiles/live/{{z}}/{{x}}/{{y}}.mvt", True)
    return JSONResponse(body, headers={"Cache-Control": _cache(state, True)})


@router.get("/tiles/{version}/tilejson.json", responses=NOT_FOUND)
def tilejson(request: Request, state: State, version: str) -> JSONResponse:
    """TileJSON 3.0 of a version (``live``: the version live now, its tiles by version)."""
    vid, live = _version_of(state, version)
    base = str(request.base_url).rstrip("/")
    body = _tilejson(base, state, vid, f"{base}/tiles/{vid}/{{z}}/{{x}}/{{y}}.mvt", False)
    cache = "no-cache" if live else _cache(state, False)
    return JSONResponse(body, headers={"Cache-Control": cache})


def _style(request: Request, state: State, vid: int, live: bool) -> JSONResponse:
    base = str(request.base_url).rstrip("/")
    which = "live" if live else str(vid)
    body = style_json(
        name="网格地图（现行版本）" if live else f"网格地图（第 {vid} 版）",
        tiles_url=f"{base}/tiles/{which}/{{z}}/{{x}}/{{y}}.mvt",
        version=None if live else vid,
        bounds=_bounds(state, vid),
        basemap_url=f"{base}/basemap/{{z}}/{{x}}/{{y}}.mvt" if state.basemap() else None,
        glyphs_url=f"{base}/tiles/fonts/{{fontstack}}/{{range}}.pbf",
    )
    return JSONResponse(body, media_type=STYLE, headers={"Cache-Control": _cache(state, live)})


@router.get(
    "/tiles/style.json",
    summary="Map style of the live tiles (MapLibre style v8)",
    responses={200: {"content": {STYLE: {}}}, **NOT_FOUND},
)
def live_style(request: Request, state: State) -> JSONResponse:
    """The map style (fill by load, outlines, labels) over the live tiles and the basemap."""
    return _style(request, state, state.live.resolve(), True)


@router.get(
    "/tiles/{version}/style.json",
    summary="Map style of a version (MapLibre style v8)",
    responses={200: {"content": {STYLE: {}}}, **NOT_FOUND},
)
def version_style(request: Request, state: State, version: str) -> JSONResponse:
    """The map style over one version's tiles (``live``: the live alias)."""
    vid, live = _version_of(state, version)
    return _style(request, state, vid, live)
