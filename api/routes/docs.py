"""The API docs, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served whole by the service.

FastAPI's own pages load Swagger UI, ReDoc, their favicon and Google fonts from CDNs, so they
are blank on an intranet. These pages load the same libraries from npm packages (installed
by ``scripts/ensure-npm.sh``, pinned by ``package-lock.json``, found by
:func:`api.routes.map_page.vendored_path`), ask for no font, switch off Swagger UI's online
validator badge, and serve ReDoc with its "API docs by Redocly" logo (an image on Redocly's
CDN) swapped for an empty inline one: no request leaves the service. ``create_app`` turns
FastAPI's pages off (``docs_url=None, redoc_url=None``) and includes this router instead.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from api.errors import NotFoundError
from api.routes.map_page import vendored_file, vendored_path

router = APIRouter(tags=["docs"])

ASSETS = "/static/docs"
#: What the two pages load (all from :data:`api.routes.map_page.VENDORED`).
DOCS_FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "redoc.standalone.js"}
#: ReDoc's sidebar logo, loaded from Redocly's CDN, and what it becomes (an empty image).
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_SVG = b"data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/>"


@lru_cache(maxsize=2)
def _offline_redoc(path: Path, mtime_ns: int) -> bytes:
    """ReDoc's standalone bundle without its one outside request (cached per file version)."""
    return path.read_bytes().replace(REDOC_LOGO, EMPTY_SVG)


def _root(request: Request) -> str:
    """The app's root path (a proxy's prefix), without a trailing slash."""
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: try every route from the browser."""
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} – 接口文档 (Swagger UI)",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc", response_class=HTMLResponse, include_in_schema=False)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the API reference on one page."""
    root = _root(request)
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} – 接口文档 (ReDoc)",
        redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
        with_google_fonts=False,
    )


@router.get(ASSETS + "/{name}", include_in_schema=False)
def docs_file(name: str) -> Response:
    """Swagger UI's script, style and icon, and ReDoc's script (from npm, no CDN).

    Raises
    ------
    NotFoundError
        A name the pages do not load, or a file ``npm ci`` has not installed.
    """
    if name not in DOCS_FILES:
        raise NotFoundError(f"no docs file {name!r}")
    if name == "redoc.standalone.js":
        path = vendored_path(name)
        body = _offline_redoc(path, path.stat().st_mtime_ns)
        headers = {"Cache-Control": "max-age=3600"}
        return Response(body, media_type="text/javascript", headers=headers)
    return vendored_file(name)
