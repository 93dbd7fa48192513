"""Build the conventional sample GeoPackages in data/ from the raw OSM extracts in data/raw/.

Maintainer script, run once when the raw data changes (``python data/prepare_samples.py``);
the outputs are committed. Raw data: © OpenStreetMap contributors, ODbL 1.0 (see README.md).

No official community boundaries exist in OSM for these areas, so each sample gets a
DEMONSTRATION boundary drawn along real streets: the street faces (polygonised from the
main roads) whose points fall inside a hand-chosen window. Units are named "(演示)" and carry
``demo = 1``; they are not official administrative boundaries.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box

from gis.blocks.roads import bounding_lines, normalise_roads
from gis.inputs.osm import layers_from_osm

HERE = Path(__file__).parent
RAW = HERE / "raw"
MAJOR = ["trunk", "primary", "secondary", "tertiary", "primary_link", "secondary_link"]


def street_faces(
    roads: gpd.GeoDataFrame, extent: shapely.Polygon, classes: list[str]
) -> np.ndarray:
    bounding, _ = bounding_lines(roads, highways=classes, snap_tolerance_m=5.0)
    lines = bounding.geometry.to_numpy()
    noded = shapely.union_all(
        np.concatenate([[extent.boundary], shapely.intersection(lines, extent)])
    )
    return np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))


def demo_units(
    faces: np.ndarray,
    windows: list[tuple[str, str, shapely.Polygon]],
    mask: shapely.Geometry | None,
    min_share: float = 1.01,
    *,
    crs: object,
) -> gpd.GeoDataFrame:
    if mask is not None:  # land only: cut the river out of every face first
        faces = np.asarray(shapely.get_parts(shapely.difference(faces, mask)))
        faces = faces[shapely.area(faces) > 1.0]
    pts = shapely.point_on_surface(faces)
    rows = []
    for code, name, window in windows:
        share = shapely.area(shapely.intersection(faces, window)) / shapely.area(faces)
        pick = shapely.within(pts, window) | (share >= min_share)
        geom = shapely.union_all(faces[pick])
        geom = max(shapely.get_parts(geom), key=lambda g: g.area)  # one polygon per unit
        rows.append(
            {
                "code": code,
                "name": name,
                "level": "community",
                "parent_code": code[:9],
                "demo": 1,
                "geometry": shapely.Polygon(geom.exterior),
            }
        )
    return gpd.GeoDataFrame(rows, crs=crs)


def keep_buildings_whole(units: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Bend each demonstration boundary around the buildings it would cut.

    A real community boundary never runs through a house; the straight frame of a demo
    window does. A building mostly inside a unit joins it whole; one mostly outside leaves it.
    """
    footprints = shapely.union_all(buildings.geometry.to_numpy())
    parts = np.asarray(shapely.get_parts(footprints))
    out = units.copy()
    geoms = []
    for unit in out.geometry:
        cut = parts[shapely.intersects(parts, unit.boundary)]
        inside = shapely.area(shapely.intersection(cut, unit)) / shapely.area(cut)
        grown = shapely.union_all([unit, *cut[inside > 0.5]])
        geoms.append(shapely.difference(grown, shapely.union_all(cut[inside <= 0.5])))
    out = out.set_geometry(geoms)
    # units may now overlap where one grew into another: the earlier unit keeps the overlap
    taken = shapely.Polygon()
    fixed = []
    for unit in out.geometry:
        rest = shapely.difference(unit, taken)
        largest = max(shapely.get_parts(rest), key=lambda g: g.area)
        fixed.append(shapely.Polygon(largest.exterior))
        taken = shapely.union(taken, fixed[-1])
    return out.set_geometry(fixed)


def write(path: Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    path.unlink(missing_ok=True)
    for name, gdf in layers.items():
        if gdf is None or gdf.empty:
            continue
        gdf.to_crs(4326).to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    print("wrote", path, {k: len(v) for k, v in layers.items() if v is not None})


#: The committed Shanghai sample's demonstration units (code, name, window in EPSG:32651).
SHANGHAI_WINDOWS = [
    ("310101002001", "外滩北演示社区(演示)", box(355300, 3456620, 356400, 3457760)),
    ("310101002002", "外滩南演示社区(演示)", box(355300, 3455650, 356900, 3456620)),
    ("310115005001", "陆家嘴东演示社区(演示)", box(357600, 3455650, 359100, 3457700)),
]


def shanghai(
    out: Path = HERE / "shanghai_bund.gpkg",
    windows: list[tuple[str, str, shapely.Polygon]] | None = None,
) -> None:
    """The Shanghai sample (or, with other ``windows``, another area of the same extract)."""
    src = RAW / "shanghai_bund_lujiazui.gpkg"
    read = lambda layer: gpd.read_file(src, layer=layer).to_crs(32651)  # noqa: E731
    raw_roads = read("roads")
    roads = normalise_roads(raw_roads)
    rail = roads[roads["railway"].notna()].copy()
    roads = roads[roads["highway"].notna() & ~roads["highway"].isin(["pier"])].copy()
    water = read("water")
    waterways = read("waterways")
    river = shapely.union_all(
        water[
            water["kind"].isin(["water", "riverbank"]) & (water.area > 50_000)
        ].geometry.to_numpy()
    )
    buildings = read("buildings")
    buildings = buildings[buildings.geom_type.isin(["Polygon", "MultiPolygon"])].copy()
    # building parts duplicate their building: keep a part only where no building covers it
    whole = buildings[buildings["kind"] == "building"]
    parts = buildings[buildings["kind"] == "building_part"]
    covered = parts.geometry.apply(lambda g: whole.sindex.query(g, predicate="within").size > 0)
    buildings = pd.concat([whole, parts[~covered.to_numpy()]])
    buildings = buildings.rename(columns={"kind": "source_kind"})
    buildings["building"] = "yes"
    buildings = buildings[["id", "building", "name", "height", "geometry"]]
    landuse = read("landuse")
    pois = read("pois")
    barriers = read("barriers")
    x0, y0, x1, y1 = roads.total_bounds
    extent = box(x0 + 40, y0 + 40, x1 - 40, y1 - 40)  # roads must cross the frame
    faces = street_faces(roads, extent, [*MAJOR, "residential", "unclassified"])
    windows = SHANGHAI_WINDOWS if windows is None else windows
    units = keep_buildings_whole(demo_units(faces, windows, river, crs=roads.crs), buildings)
    sites = landuse[landuse["kind"].isin(["school", "hospital", "commercial", "retail"])].copy()
    sites["kind"] = sites["kind"].replace({"commercial": "market", "retail": "market"})
    sites = sites[sites.intersects(shapely.union_all(units.geometry.to_numpy()))]  # in the area
    write(
        out,
        {
            "boundary": units,
            "roads": roads,
            "railways": rail,
            "water": pd.concat(
                [
                    water[["kind", "geometry"]],
                    waterways.assign(waterway=waterways["kind"])[["waterway", "geometry"]],
                ]
            ),
            "buildings": buildings,
            "sites": sites[["kind", "name", "geometry"]],
            "landuse": landuse[["kind", "name", "geometry"]],
            "pois": pois[["kind", "name", "geometry"]],
            "barriers": barriers[["kind", "geometry"]],
        },
    )


def from_osm(raw: str, out: str, code: str, name: str, crs: int, pad_m: float) -> None:
    layers = {k: v.to_crs(crs) for k, v in layers_from_osm(RAW / raw).items()}
    roads = normalise_roads(layers["roads"])
    x0, y0, x1, y1 = roads.total_bounds
    extent = box(x0 + 40, y0 + 40, x1 - 40, y1 - 40)  # roads must cross the frame
    every_way = sorted(set(roads["highway"].dropna()))  # small compounds: lanes and paths too
    faces = street_faces(roads, extent, every_way)
    hull = shapely.union_all(layers["buildings"].geometry.to_numpy()).convex_hull.buffer(pad_m)
    units = demo_units(faces, [(code, name, hull)], None, min_share=0.25, crs=roads.crs)
    units = keep_buildings_whole(units, layers["buildings"])
    write(HERE / out, {"boundary": units, **layers, "roads": roads})


if __name__ == "__main__":
    shanghai()
    from_osm(
        "bupt_beijing_haidian.osm",
        "beijing_bupt.gpkg",
        "110108012001",
        "北邮演示社区(演示)",
        32650,
        60,
    )
    from_osm(
        "nantong_jiangsu_dispatchflow.osm",
        "nantong.gpkg",
        "320602001001",
        "南通演示社区(演示)",
        32651,
        40,
    )
