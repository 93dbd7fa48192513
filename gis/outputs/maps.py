"""Folium maps of blocks and plans, for notebooks and the ``--map`` option.

Layer names are Simplified Chinese: the people who read these maps are street offices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import folium
import geopandas as gpd
import numpy as np

from gis import columns as col

if TYPE_CHECKING:
    from gis.plan import Plan

OSM_ATTRIBUTION = (
    'Data © <a href="https://www.openstreetmap.org/copyright">OpenStreetMap contributors</a>, ODbL'
)


def load_colour(households: float, *, low: float, high: float) -> str:
    """Colour of a household load against a band: blue below, green inside, red above."""
    if households < low:
        return "#4575b4"
    if households > high:
        return "#d73027"
    return "#1a9850"


def base_map(frame: gpd.GeoDataFrame) -> folium.Map:
    """An empty map fitted to ``frame`` with an OpenStreetMap basemap and attribution."""
    wgs = frame.to_crs(4326)
    minx, miny, maxx, maxy = wgs.total_bounds
    fmap = folium.Map(tiles=None, control_scale=True)
    folium.TileLayer("OpenStreetMap", attr=OSM_ATTRIBUTION, name="底图 OpenStreetMap").add_to(fmap)
    fmap.fit_bounds([[float(miny), float(minx)], [float(maxy), float(maxx)]])
    return fmap


def add_context(
    fmap: folium.Map,
    *,
    streets: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
) -> None:
    """Draw bounding streets and building footprints underneath."""
    if buildings is not None and len(buildings):
        keep = [c for c in (col.BUILDING_ID, col.HOUSEHOLDS) if c in buildings]
        folium.GeoJson(
            buildings[[*keep, "geometry"]].to_crs(4326),
            name="建筑",
            style_function=lambda _: {"color": "#555", "weight": 0.5, "fillOpacity": 0.3},
            tooltip=folium.GeoJsonTooltip(fields=keep) if keep else None,
        ).add_to(fmap)
    if streets is not None and len(streets):
        folium.GeoJson(
            streets[["geometry"]].to_crs(4326),
            name="街道",
            style_function=lambda _: {"color": "#333", "weight": 1.5},
        ).add_to(fmap)


def polygons_layer(
    fmap: folium.Map,
    polys: gpd.GeoDataFrame,
    *,
    name: str,
    fields: list[str],
    colour_by: str = col.HOUSEHOLDS,
    low: float = 300,
    high: float = 800,
    label: str | None = None,
) -> None:
    """Add polygons coloured by ``colour_by`` against ``[low, high]``, with tooltips/labels."""
    wgs = polys[[*fields, "geometry"]].to_crs(4326)
    folium.GeoJson(
        wgs,
        name=name,
        style_function=lambda f: {
            "color": "#222",
            "weight": 1,
            "fillColor": load_colour(f["properties"][colour_by], low=low, high=high),
            "fillOpacity": 0.45,
        },
        tooltip=folium.GeoJsonTooltip(fields=fields),
    ).add_to(fmap)
    if label is not None:
        pts = wgs.geometry.representative_point()
        group = folium.FeatureGroup(name=f"{name}标注")
        for text, x, y in zip(wgs[label].astype(str), pts.x, pts.y, strict=True):
            folium.Marker(
                [float(y), float(x)],
                icon=folium.DivIcon(
                    html=f'<div style="font-size:10px;font-weight:bold;">{text}</div>'
                ),
            ).add_to(group)
        group.add_to(fmap)


def blocks_map(
    blocks: gpd.GeoDataFrame,
    *,
    streets: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    low: float = 300,
    high: float = 800,
) -> folium.Map:
    """A map of street blocks coloured by households against the grid band."""
    fmap = base_map(blocks)
    add_context(fmap, streets=streets, buildings=buildings)
    fields = [col.BLOCK_ID, col.UNIT_NAME, col.HOUSEHOLDS, col.HOUSEHOLDS_ESTIMATED, "n_buildings"]
    frame = blocks.copy()
    frame[col.AREA_M2] = np.round(frame[col.AREA_M2], 0)
    polygons_layer(fmap, frame, name="街区", fields=[*fields, col.AREA_M2], low=low, high=high)
    folium.LayerControl().add_to(fmap)
    return fmap


def plan_map(plan: Plan) -> folium.Map:
    """Grids coloured by household load against the plan's band, ids as labels, context."""
    fmap = base_map(plan.grids)
    if plan.blockset is not None:
        add_context(fmap, streets=plan.blockset.streets, buildings=plan.blockset.buildings)
    frame = plan.grids.copy()
    frame[col.AREA_M2] = frame[col.AREA_M2].round(0)
    fields = [
        c
        for c in (
            col.GRID_ID,
            col.GRID_CODE,
            col.KIND,
            col.PARENT_NAME,
            col.HOUSEHOLDS,
            col.AREA_M2,
        )
        if c in frame
    ]
    polygons_layer(
        fmap,
        frame,
        name="网格",
        fields=fields,
        low=plan.band.min_households,
        high=plan.band.max_households,
        label=col.GRID_ID,
    )
    folium.LayerControl().add_to(fmap)
    return fmap
