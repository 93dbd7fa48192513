"""OGC API – Features, Part 1 core: landing page, conformance, collections, items, item.

Grid features carry a ``load`` property judged by the band of their own version, and the
``grids`` collection says which band that is (``band``, with the ``version`` described).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import geopandas as gpd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.deps import State, read_access
from api.errors import BadRequestError, NotFoundError, UnavailableError
from api.present import band_out, with_load
from api.state import AppState

router = APIRouter(tags=["OGC API – Features"], dependencies=[Depends(read_access)])

GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
COLLECTIONS = {
    "grids": ("grid_code", "Grids (网格)", "Management grids of the plan version"),
    "cells": ("cell_code", "Unit cells (单元格)", "Unit cells inside the grids"),
    "units": ("unit_code", "Administrative units", "Communities, villages and towns"),
}
VersionQ = Annotated[int | None, Query(ge=1, description="Plan version (default: live)")]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(body: dict[str, Any], media_type: str = "application/json") -> JSONResponse:
    return JSONResponse(body, media_type=media_type)


@router.get("/", summary="Landing page")
def landing(request: Request, state: State) -> JSONResponse:
    """Links to the API definition, conformance and the collections."""
    base = _base(request)
    return _json({
        "title": state.settings.title,
        "description": "Management grids (网格): lookups, features, tiles, web map",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "this"},
            {"href": f"{base}/openapi.json", "rel": "service-desc",
             "type": "application/vnd.oai.openapi+json;version=3.0", "title": "OpenAPI"},
            {"href": f"{base}/docs", "rel": "service-doc", "type": "text/html", "title": "docs"},
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json",
             "title": "conformance"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json",
             "title": "collections"},
            {"href": f"{base}/map", "rel": "alternate", "type": "text/html", "title": "web map"},
        ],
    })  # fmt: skip


@router.get("/conformance", summary="Conformance classes")
def conformance() -> JSONResponse:
    """The conformance classes implemented."""
    return _json({"conformsTo": CONFORMANCE})


def _layer(state: AppState, name: str, version: int | None) -> tuple[int, gpd.GeoDataFrame]:
    if name not in COLLECTIONS:
        raise NotFoundError(f"no collection {name!r}; collections: {', '.join(COLLECTIONS)}")
    vid = state.live.resolve(version)
    return vid, state.layer(vid, name)


def _graded(state: AppState, name: str, vid: int, rows: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Grid rows with their ``load`` in their version's band (other layers as they are)."""
    return with_load(rows, state.band(vid)) if name == "grids" else rows


def _collection(
    base: str, name: str, gdf: gpd.GeoDataFrame, state: AppState, vid: int
) -> dict[str, Any]:
    _, title, description = COLLECTIONS[name]
    bbox = [float(v) for v in gdf.total_bounds] if not gdf.empty else [-180, -90, 180, 90]
    href = f"{base}/collections/{name}"
    body: dict[str, Any] = {
        "id": name, "title": title, "description": description, "itemType": "feature",
        "crs": [CRS84], "storageCrs": CRS84,
        "extent": {"spatial": {"bbox": [bbox], "crs": CRS84}},
        "links": [
            {"href": href, "rel": "self", "type": "application/json", "title": name},
            {"href": f"{href}/items", "rel": "items", "type": GEOJSON, "title": f"{name} items"},
        ],
    }  # fmt: skip
    if name == "grids":
        body["version"] = vid
        body["band"] = band_out(state.band(vid)).model_dump()
    return body


def _present(state: AppState, vid: int) -> dict[str, gpd.GeoDataFrame]:
    out = {}
    for name in COLLECTIONS:
        try:
            gdf = state.layer(vid, name)
        except UnavailableError:
            continue
        if name == "grids" or not gdf.empty:
            out[name] = gdf
    return out


@router.get("/collections", summary="Collections")
def collections(request: Request, state: State, version: VersionQ = None) -> JSONResponse:
    """Grids, and cells and units when the version has them."""
    base = _base(request)
    vid = state.live.resolve(version)
    layers = _present(state, vid)
    return _json(
        {
            "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
            "collections": [_collection(base, n, g, state, vid) for n, g in layers.items()],
        }
    )


@router.get("/collections/{collection_id}", summary="One collection")
def collection(
    request: Request, state: State, collection_id: str, version: VersionQ = None
) -> JSONResponse:
    """Description of one collection."""
    vid, gdf = _layer(state, collection_id, version)
    return _json(_collection(_base(request), collection_id, gdf, state, vid))


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` (or 6 numbers with heights) → 4 floats, checked."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise BadRequestError(f"bbox {text!r}: every value must be a number") from exc
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(abs(v) < float("inf") for v in values):
        msg = f"bbox {text!r} must be 4 finite numbers: minlon,minlat,maxlon,maxlat"
        raise BadRequestError(msg)
    x0, y0, x1, y1 = values
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise BadRequestError(f"bbox {text!r} is outside lon [-180, 180] / lat [-90, 90]")
    if x0 > x1:
        raise BadRequestError(f"bbox {text!r}: minlon > maxlon (antimeridian not supported)")
    return (x0, y0, x1, y1)


@router.get("/collections/{collection_id}/items", summary="Features of a collection")
def items(
    request: Request,
    state: State,
    collection_id: str,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (CRS84)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    version: VersionQ = None,
) -> JSONResponse:
    """A page of GeoJSON features, with ``next``/``prev`` links."""
    from gis.serving.features import filter_bbox, to_features  # noqa: PLC0415

    box = parse_bbox(bbox)
    limit = min(limit, state.settings.max_items)
    vid, gdf = _layer(state, collection_id, version)
    matched = filter_bbox(gdf, box)
    page = _graded(state, collection_id, vid, matched.iloc[offset : offset + limit])
    id_field = COLLECTIONS[collection_id][0]
    href = f"{_base(request)}/collections/{collection_id}/items"
    params = {k: v for k, v in request.query_params.items() if k not in ("limit", "offset")}
    if version is None:
        params["version"] = str(vid)

    def link(rel: str, start: int) -> dict[str, Any]:
        query = urlencode({**params, "limit": limit, "offset": start})
        return {"href": f"{href}?{query}", "rel": rel, "type": GEOJSON}

    links = [link("self", offset),
             {"href": f"{_base(request)}/collections/{collection_id}", "rel": "collection",
              "type": "application/json"}]  # fmt: skip
    if offset + limit < len(matched):
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    return _json(
        {
            "type": "FeatureCollection",
            "features": to_features(page, id_field=id_field),
            "numberMatched": len(matched),
            "numberReturned": len(page),
            "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "links": links,
        },
        GEOJSON,
    )


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature")
def item(
    request: Request, state: State, collection_id: str, feature_id: str, version: VersionQ = None
) -> JSONResponse:
    """One feature by its code."""
    from gis.serving.features import to_features  # noqa: PLC0415

    vid, gdf = _layer(state, collection_id, version)
    id_field = COLLECTIONS[collection_id][0]
    row = gdf[gdf[id_field].astype(str) == feature_id]
    if row.empty:
        msg = f"no {collection_id} feature {feature_id!r} in version {vid}"
        raise NotFoundError(msg)
    feature = to_features(_graded(state, collection_id, vid, row.iloc[:1]), id_field=id_field)[0]
    base = f"{_base(request)}/collections/{collection_id}"
    feature["links"] = [
        {"href": f"{base}/items/{feature_id}", "rel": "self", "type": GEOJSON},
        {"href": base, "rel": "collection", "type": "application/json"},
    ]
    return _json(feature, GEOJSON)
