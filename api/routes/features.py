"""OGC API – Features: Part 1 core (GeoJSON), Part 2 (CRS by reference), Part 3 (queryables,
CQL2 text filters).

Every error on these routes is an OGC exception body (:mod:`api.ogc.routing`); an invalid or
unknown query parameter is a 400. ``datetime`` selects the plan version valid then (the
collections' ``extent.temporal`` spans the versions); ``crs`` serves CRS84 (lon/lat), CGCS2000
(EPSG:4490) or EPSG:4326, the two EPSG ones latitude first. Grid features carry a ``load``
property judged by the band of their own version, and the ``grids`` collection says which
band that is (``band``, with the ``version`` described). A collection other than ``grids`` is
listed (and answers) only when the version has features in it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import geopandas as gpd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.deps import State, read_access
from api.errors import NotFoundError, OgcParameterError, UnavailableError
from api.ogc.params import (
    TimeSelection,
    check_filter_lang,
    parse_bbox,
    parse_crs,
    parse_datetime,
)
from api.ogc.routing import OGC_RESPONSES, OgcRoute, reject_unknown
from api.present import band_out, with_load
from api.state import AppState
from gis.errors import OptionError, VersionNotFoundError
from gis.serving.cql import (
    CELL_QUERYABLES,
    GRID_QUERYABLES,
    UNIT_QUERYABLES,
    Queryable,
    filter_mask,
    queryables_schema,
)
from gis.serving.features import (
    CRS84,
    SERVED_CRS,
    OutputCrs,
    filter_bbox,
    geometry_to_lonlat,
    to_features,
)

router = APIRouter(
    tags=["OGC API – Features"],
    dependencies=[Depends(read_access)],
    route_class=OgcRoute,
    responses=OGC_RESPONSES,
)

GEOJSON = "application/geo+json"
SCHEMA_JSON = "application/schema+json"
OPENAPI_31 = "application/vnd.oai.openapi+json;version=3.1"
TILEJSON = "application/json"
STYLE = "application/vnd.mapbox.style+json"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
SPEC = "http://www.opengis.net/spec"
CONFORMANCE = [
    f"{SPEC}/ogcapi-features-1/1.0/conf/core",
    f"{SPEC}/ogcapi-features-1/1.0/conf/geojson",
    f"{SPEC}/ogcapi-features-2/1.0/conf/crs",
    f"{SPEC}/ogcapi-features-3/1.0/conf/queryables",
    f"{SPEC}/ogcapi-features-3/1.0/conf/filter",
    f"{SPEC}/ogcapi-features-3/1.0/conf/features-filter",
    f"{SPEC}/cql2/1.0/conf/cql2-text",
    f"{SPEC}/cql2/1.0/conf/basic-cql2",
    f"{SPEC}/cql2/1.0/conf/advanced-comparison-operators",
    f"{SPEC}/cql2/1.0/conf/basic-spatial-functions",
]
"""What holds (no ``oas30``: FastAPI serves OpenAPI 3.1; no ``html``)."""
COLLECTIONS: dict[str, tuple[str, str, str, dict[str, Queryable]]] = {
    "grids": (
        "grid_code",
        "网格",
        "方案版本的管理网格（户数、类型、所属单元、负荷）",
        GRID_QUERYABLES,
    ),
    "cells": ("cell_code", "单元格", "网格内的单元格（户数不超过上限的楼栋组）", CELL_QUERYABLES),
    "units": ("unit_code", "行政单元", "社区、村和街道（乡镇）", UNIT_QUERYABLES),
}
ITEMS_PARAMS = ("bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang", "filter-crs",
                "limit", "offset", "version", "f")  # fmt: skip
ITEM_PARAMS = ("crs", "version", "f")
VersionQ = Annotated[int | None, Query(ge=1, description="方案版本号（默认：现行版本）")]
FormatQ = Annotated[
    Literal["json", "geojson"] | None, Query(description="输出格式（只有 GeoJSON）")
]
CrsQ = Annotated[
    str | None,
    Query(description="输出坐标系: CRS84（默认，经度在前）、EPSG:4490 或 EPSG:4326（纬度在前）"),
]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(
    body: dict[str, Any], media_type: str = "application/json", crs: OutputCrs | None = None
) -> JSONResponse:
    headers = {"Content-Crs": f"<{crs.uri}>"} if crs is not None else None
    return JSONResponse(body, media_type=media_type, headers=headers)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _tile_links(base: str) -> list[dict[str, Any]]:
    return [
        {"href": f"{base}/tiles/live.json", "rel": "tiles", "type": TILEJSON,
         "title": "矢量瓦片 TileJSON（现行版本）"},
        {"href": f"{base}/tiles/style.json", "rel": "stylesheet", "type": STYLE,
         "title": "地图样式（MapLibre 样式规范 v8）"},
    ]  # fmt: skip


@router.get("/", summary="Landing page")
def landing(request: Request, state: State) -> JSONResponse:
    """Links to the API definition, conformance, the collections and the vector tiles."""
    base = _base(request)
    return _json({
        "title": state.settings.title,
        "description": "网格化服务管理：网格查询、OGC API 要素、矢量瓦片、网页地图",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "本页"},
            {"href": f"{base}/openapi.json", "rel": "service-desc", "type": OPENAPI_31,
             "title": "OpenAPI 3.1 接口定义"},
            {"href": f"{base}/docs", "rel": "service-doc", "type": "text/html",
             "title": "接口文档"},
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json",
             "title": "符合的标准类"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json",
             "title": "要素集合"},
            *_tile_links(base),
            {"href": f"{base}/map", "rel": "alternate", "type": "text/html", "title": "网页地图"},
        ],
    })  # fmt: skip


@router.get("/conformance", summary="Conformance classes")
def conformance() -> JSONResponse:
    """The conformance classes implemented."""
    return _json({"conformsTo": CONFORMANCE})


def _frame(state: AppState, name: str, vid: int) -> gpd.GeoDataFrame:
    """A layer of a version, grids with their ``load`` in that version's band."""
    gdf = state.layer(vid, name)
    if name != "grids":
        return gdf
    return with_load(gdf, state.band(vid), state.live.version(vid).unit_bands)


def _layer(state: AppState, name: str, version: int | None) -> tuple[int, gpd.GeoDataFrame]:
    """(version id, layer) of a collection that the version has (404 otherwise)."""
    if name not in COLLECTIONS:
        raise NotFoundError(f"no collection {name!r}; collections: {', '.join(COLLECTIONS)}")
    vid = state.live.resolve(version)
    gdf = _frame(state, name, vid)
    if name != "grids" and gdf.empty:
        raise NotFoundError(f"plan version {vid} has no {name} (the collection is not listed)")
    return vid, gdf


def _temporal(state: AppState, version: int | None) -> list[list[str | None]]:
    """The valid time of one version, or of all (the first start to now, open)."""
    if version is not None:
        info = state.live.version(version)
        return [[_iso(info.valid_from), _iso(info.valid_to)]]
    versions = state.live.versions
    return [[_iso(versions[0].valid_from) if versions else None, None]]


def _collection(
    base: str, name: str, gdf: gpd.GeoDataFrame, state: AppState, vid: int, version: int | None
) -> dict[str, Any]:
    _, title, description, _ = COLLECTIONS[name]
    bbox = [float(v) for v in gdf.total_bounds]
    href = f"{base}/collections/{name}"
    body: dict[str, Any] = {
        "id": name, "title": title, "description": description, "itemType": "feature",
        "crs": [c.uri for c in SERVED_CRS], "storageCrs": CRS84,
        "extent": {
            "spatial": {"bbox": [bbox], "crs": CRS84},
            "temporal": {"interval": _temporal(state, version), "trs": GREGORIAN},
        },
        "links": [
            {"href": href, "rel": "self", "type": "application/json", "title": title},
            {"href": f"{href}/items", "rel": "items", "type": GEOJSON, "title": f"{title}要素"},
            {"href": f"{href}/queryables", "rel": QUERYABLES_REL, "type": SCHEMA_JSON,
             "title": "可查询属性"},
            *_tile_links(base),
        ],
    }  # fmt: skip
    if name == "grids":
        body["version"] = vid
        body["band"] = band_out(state.band(vid)).model_dump()
    return body


def _present(state: AppState, vid: int) -> dict[str, gpd.GeoDataFrame]:
    """The collections version ``vid`` has features in (grids always)."""
    out = {}
    for name in COLLECTIONS:
        try:
            gdf = _frame(state, name, vid)
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
    return _json({
        "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
        "collections": [_collection(base, n, g, state, vid, version) for n, g in layers.items()],
    })  # fmt: skip


@router.get("/collections/{collection_id}", summary="One collection")
def collection(
    request: Request, state: State, collection_id: str, version: VersionQ = None
) -> JSONResponse:
    """Description of one collection."""
    vid, gdf = _layer(state, collection_id, version)
    return _json(_collection(_base(request), collection_id, gdf, state, vid, version))


@router.get(
    "/collections/{collection_id}/queryables",
    summary="Queryables of a collection",
    responses={200: {"content": {SCHEMA_JSON: {}}}},
)
def queryables(request: Request, state: State, collection_id: str) -> JSONResponse:
    """The properties a CQL2 ``filter`` may name, as a JSON Schema."""
    _layer(state, collection_id, None)
    href = f"{_base(request)}/collections/{collection_id}/queryables"
    _, title, _, names = COLLECTIONS[collection_id]
    return _json(queryables_schema(names, schema_id=href, title=f"{title}可查询属性"), SCHEMA_JSON)


def _select(
    state: AppState, name: str, version: int | None, when: TimeSelection | None
) -> tuple[int | None, gpd.GeoDataFrame]:
    """The version ``version`` or ``datetime`` asks for (None: no version was valid then) and
    its layer."""
    if when is None:
        return _layer(state, name, version)
    if version is not None:
        raise OgcParameterError("give version or datetime, not both")
    if name not in COLLECTIONS:
        raise NotFoundError(f"no collection {name!r}; collections: {', '.join(COLLECTIONS)}")
    try:
        vid = state.live.resolve(as_of=when.moment)
    except VersionNotFoundError:  # before the first version: nothing was valid then
        columns: dict[str, list[Any]] = {q: [] for q in COLLECTIONS[name][3]}
        return None, gpd.GeoDataFrame(columns, geometry=[], crs="EPSG:4326")
    return vid, _frame(state, name, vid)


def _matching(
    gdf: gpd.GeoDataFrame,
    name: str,
    box: tuple[float, float, float, float] | None,
    filter_text: str | None,
    filter_crs: OutputCrs,
) -> gpd.GeoDataFrame:
    """The rows inside ``box`` (lon/lat) that the CQL2 filter selects."""
    if filter_text is not None:
        try:
            mask = filter_mask(
                gdf,
                filter_text,
                COLLECTIONS[name][3],
                to_frame_crs=lambda g: geometry_to_lonlat(g, filter_crs),
            )
        except OptionError as exc:
            raise OgcParameterError(str(exc)) from exc
        gdf = gdf[mask.to_numpy()]
    return filter_bbox(gdf, box)


def _page_links(
    request: Request, name: str, vid: int | None, limit: int, offset: int, matched: int
) -> list[dict[str, Any]]:
    base = _base(request)
    href = f"{base}/collections/{name}/items"
    skip = ("limit", "offset", "datetime")
    params = {k: v for k, v in request.query_params.items() if k not in skip}
    if vid is not None:  # the pages of one answer come from one version
        params["version"] = str(vid)

    def link(rel: str, start: int) -> dict[str, Any]:
        query = urlencode({**params, "limit": limit, "offset": start})
        return {"href": f"{href}?{query}", "rel": rel, "type": GEOJSON}

    links = [link("self", offset),
             {"href": f"{base}/collections/{name}", "rel": "collection",
              "type": "application/json"}]  # fmt: skip
    if offset + limit < matched:
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    return links


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection",
    responses={200: {"content": {GEOJSON: {}}}},
)
def items(
    request: Request,
    state: State,
    collection_id: str,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy（bbox-crs 坐标系）")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="bbox 的坐标系")] = None,
    crs: CrsQ = None,
    datetime_: Annotated[
        str | None,
        Query(alias="datetime", description="时刻或区间（RFC 3339；../t、t/..）：选该时有效的版本"),
    ] = None,
    filter_: Annotated[str | None, Query(alias="filter", description="CQL2 文本条件")] = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang")] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
    limit: Annotated[int, Query(ge=1, description="每页要素数（超过上限按上限）")] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    version: VersionQ = None,
    f: FormatQ = None,
) -> JSONResponse:
    """A page of GeoJSON features, with ``next``/``prev`` links."""
    reject_unknown(request, ITEMS_PARAMS)
    out_crs = parse_crs(crs)
    box = parse_bbox(bbox, parse_crs(bbox_crs, parameter="bbox-crs"))
    check_filter_lang(filter_, filter_lang)
    fcrs = parse_crs(filter_crs, parameter="filter-crs")
    limit = min(limit, state.settings.max_items)
    vid, gdf = _select(state, collection_id, version, parse_datetime(datetime_))
    matched = _matching(gdf, collection_id, box, filter_, fcrs)
    page = matched.iloc[offset : offset + limit]
    id_field = COLLECTIONS[collection_id][0]
    body = {
        "type": "FeatureCollection",
        "features": to_features(page, id_field=id_field, crs=out_crs) if len(page) else [],
        "numberMatched": len(matched),
        "numberReturned": len(page),
        "timeStamp": _iso(datetime.now(UTC)),
        "links": _page_links(request, collection_id, vid, limit, offset, len(matched)),
    }
    return _json(body, GEOJSON, out_crs)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature",
    responses={200: {"content": {GEOJSON: {}}}},
)
def item(
    request: Request,
    state: State,
    collection_id: str,
    feature_id: str,
    crs: CrsQ = None,
    version: VersionQ = None,
    f: FormatQ = None,
) -> JSONResponse:
    """One feature by its code."""
    reject_unknown(request, ITEM_PARAMS)
    out_crs = parse_crs(crs)
    vid, gdf = _layer(state, collection_id, version)
    id_field = COLLECTIONS[collection_id][0]
    row = gdf[gdf[id_field].astype(str) == feature_id]
    if row.empty:
        raise NotFoundError(f"no {collection_id} feature {feature_id!r} in version {vid}")
    feature = to_features(row.iloc[:1], id_field=id_field, crs=out_crs)[0]
    base = f"{_base(request)}/collections/{collection_id}"
    feature["links"] = [
        {"href": f"{base}/items/{feature_id}", "rel": "self", "type": GEOJSON},
        {"href": base, "rel": "collection", "type": "application/json"},
    ]
    return _json(feature, GEOJSON, out_crs)
