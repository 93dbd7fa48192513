"""The map style of the served tiles: a MapLibre / Mapbox GL style (spec version 8) that web
maps load as is and QGIS imports (``QgsMapBoxGlStyleConverter``).

Grids are filled by their load in their version's band (one fill layer per load class, each
with a plain filter, which QGIS 3.22 converts as faithfully as MapLibre draws it), outlined,
cells dashed, units bold, and labelled with their code. Each source carries its own
attribution: the plan's tiles are wangge's plan, the basemap's roads and buildings are
OpenStreetMap data (ODbL).
"""

from __future__ import annotations

from typing import Any, Final

LOAD_COLOURS: Final = {
    "under": "#4e79a7", "within": "#59a14f", "over": "#e15759", "dedicated": "#b07aa1",
}  # fmt: skip
"""Fill colour per load class (as on the web map)."""
LOAD_TITLES: Final = {
    "under": "户数不足",
    "within": "户数适中",
    "over": "户数超出",
    "dedicated": "专属网格",
}
OSM_ATTRIBUTION: Final = "© OpenStreetMap contributors (ODbL)"
LABEL_FONT: Final = "Noto Sans CJK SC Regular"


def plan_attribution(version: int | None) -> str:
    """Who the plan tiles are from: wangge's plan (version ``version``; None: the live one)."""
    which = "现行版本" if version is None else f"第 {version} 版"
    return f"网格划分方案 © wangge（{which}）"


def _fill(load: str) -> dict[str, Any]:
    return {
        "id": f"grids-{load}",
        "type": "fill",
        "source": "plan",
        "source-layer": "grids",
        "filter": ["==", ["get", "load"], load],
        "metadata": {"title": LOAD_TITLES[load]},
        "paint": {"fill-color": LOAD_COLOURS[load], "fill-opacity": 0.45},
    }


def _basemap_layers() -> list[dict[str, Any]]:
    return [
        {"id": "buildings", "type": "fill", "source": "basemap", "source-layer": "buildings",
         "paint": {"fill-color": "#d9d0c1", "fill-outline-color": "#c4b9a6"}},
        {"id": "roads", "type": "line", "source": "basemap", "source-layer": "roads",
         "paint": {"line-color": "#ffffff", "line-width": 2}},
    ]  # fmt: skip


def _plan_layers() -> list[dict[str, Any]]:
    lines = [
        {"id": "grids-line", "type": "line", "source": "plan", "source-layer": "grids",
         "paint": {"line-color": "#333333", "line-width": 1.2}},
        {"id": "cells-line", "type": "line", "source": "plan", "source-layer": "cells",
         "paint": {"line-color": "#666666", "line-width": 0.6, "line-dasharray": [2, 2]}},
        {"id": "units-line", "type": "line", "source": "plan", "source-layer": "units",
         "paint": {"line-color": "#000000", "line-width": 2.5}},
    ]  # fmt: skip
    labels = {
        "id": "grid-labels", "type": "symbol", "source": "plan", "source-layer": "grid_labels",
        "minzoom": 14,
        "layout": {"text-field": "{grid_code}", "text-font": [LABEL_FONT], "text-size": 12},
        "paint": {"text-color": "#222222", "text-halo-color": "#ffffff", "text-halo-width": 1.5},
    }  # fmt: skip
    return [*(_fill(load) for load in LOAD_COLOURS), *lines, labels]


def style_json(
    *,
    name: str,
    tiles_url: str,
    version: int | None,
    bounds: list[float],
    basemap_url: str | None,
    glyphs_url: str,
) -> dict[str, Any]:
    """The style document.

    Parameters
    ----------
    name
        The style's title.
    tiles_url
        The plan's tile URL template (``…/{z}/{x}/{y}.mvt``): a version's, or the live alias.
    version
        The version drawn (None: the live one), for the attribution.
    bounds
        lon/lat bounds of the plan (west, south, east, north), for the opening view.
    basemap_url
        The basemap's tile URL template; None when the service has no basemap.
    glyphs_url
        Where label glyphs are fetched (``{fontstack}``/``{range}`` template).
    """
    sources: dict[str, Any] = {
        "plan": {"type": "vector", "tiles": [tiles_url], "minzoom": 0, "maxzoom": 18,
                 "bounds": bounds, "attribution": plan_attribution(version)},
    }  # fmt: skip
    layers: list[dict[str, Any]] = [
        {"id": "background", "type": "background", "paint": {"background-color": "#f4f1ea"}}
    ]
    if basemap_url is not None:
        sources["basemap"] = {"type": "vector", "tiles": [basemap_url], "minzoom": 10,
                              "maxzoom": 16, "attribution": OSM_ATTRIBUTION}  # fmt: skip
        layers += _basemap_layers()
    return {
        "version": 8,
        "name": name,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2],
        "zoom": 14,
        "glyphs": glyphs_url,
        "sources": sources,
        "layers": [*layers, *_plan_layers()],
    }
