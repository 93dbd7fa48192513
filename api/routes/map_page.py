"""The web map at ``/map`` and its static files (MapLibre GL JS from npm, no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.errors import NotFoundError

router = APIRouter(tags=["map"])

STATIC = Path(__file__).resolve().parents[1] / "static"
REPO_ROOT = Path(__file__).resolve().parents[2]
MAPLIBRE_DIRS = (STATIC / "vendor", REPO_ROOT / "node_modules" / "maplibre-gl" / "dist")
MAPLIBRE_FILES = {"maplibre-gl.js", "maplibre-gl.css", "maplibre-gl.js.map"}


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
        for folder in MAPLIBRE_DIRS:
            if (folder / name).is_file():
                return FileResponse(folder / name, headers={"Cache-Control": "max-age=3600"})
        msg = f"{name} missing: run `npm ci` at the repository root to install maplibre-gl"
        raise NotFoundError(msg)
    path = STATIC / name
    if name not in {"map.js", "map.css"} or not path.is_file():
        raise NotFoundError(f"no static file {name!r}")
    return FileResponse(path)
