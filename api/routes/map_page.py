"""The web map at ``/map`` and its static files (MapLibre GL JS from npm, no CDN).

:func:`vendored_file` also finds the files of the API docs (Swagger UI, ReDoc) for
:mod:`api.routes.docs`: first in ``api/static/vendor`` (copied there by
``scripts/ensure-npm.sh``, and carried by the wheel), then in ``node_modules``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.errors import NotFoundError

router = APIRouter(tags=["map"])

STATIC = Path(__file__).resolve().parents[1] / "static"
REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "node_modules"
#: File served → where npm puts it under node_modules (the list scripts/ensure-npm.sh copies).
VENDORED = {
    "maplibre-gl.js": "maplibre-gl/dist",
    "maplibre-gl.css": "maplibre-gl/dist",
    "maplibre-gl.js.map": "maplibre-gl/dist",
    "swagger-ui-bundle.js": "swagger-ui-dist",
    "swagger-ui.css": "swagger-ui-dist",
    "favicon-32x32.png": "swagger-ui-dist",
    "redoc.standalone.js": "redoc/bundles",
}
MAPLIBRE_FILES = {"maplibre-gl.js", "maplibre-gl.css", "maplibre-gl.js.map"}


def vendored_path(name: str) -> Path:
    """Where a file installed from npm (:data:`VENDORED`) is: ``api/static/vendor`` first.

    Raises
    ------
    NotFoundError
        An unknown name, or a known one that ``npm ci`` has not installed.
    """
    if name not in VENDORED:
        raise NotFoundError(f"no static file {name!r}")
    for folder in (STATIC / "vendor", NODE_MODULES / VENDORED[name]):
        if (folder / name).is_file():
            return folder / name
    msg = f"{name} missing: run `bash scripts/ensure-npm.sh` at the repository root (npm ci)"
    raise NotFoundError(msg)


def vendored_file(name: str) -> FileResponse:
    """A file installed from npm (:func:`vendored_path`), cached by browsers for an hour."""
    return FileResponse(vendored_path(name), headers={"Cache-Control": "max-age=3600"})


@router.get("/map", response_class=HTMLResponse, include_in_schema=False)
def map_page() -> HTMLResponse:
    """The map page."""
    return HTMLResponse((STATIC / "map.html").read_text("utf-8"))


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """No icon (an empty answer keeps browsers from logging a 404)."""
    return Response(status_code=204)


@router.get("/static/{name}", include_in_schema=False)
def static_file(name: str) -> FileResponse:
    """The map's own script and style, and MapLibre GL JS (installed by ``npm ci``)."""
    if name in MAPLIBRE_FILES:
        return vendored_file(name)
    path = STATIC / name
    if name not in {"map.js", "map.css"} or not path.is_file():
        raise NotFoundError(f"no static file {name!r}")
    return FileResponse(path)
