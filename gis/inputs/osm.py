"""Reading OpenStreetMap extracts offline: XML with osmnx, PBF with pyrosm.

Both are turned into the conventional layers of :mod:`gis.inputs.read` (in EPSG:4326):
``roads`` (``highway``, ``name``, ``tunnel``, ``bridge``), ``buildings`` (footprints with
their tags), ``landuse``, ``pois``, ``water``, ``railways`` and ``barriers``. OSM carries no
community boundary that fits our purposes, so a boundary comes from elsewhere.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gis.errors import InputFileError

log = logging.getLogger(__name__)

FEATURE_TAGS: dict[str, bool | str | list[str]] = {
    "building": True,
    "landuse": True,
    "amenity": True,
    "shop": True,
    "tourism": True,
    "office": True,
    "natural": ["water"],
    "waterway": True,
    "railway": True,
    "barrier": ["wall", "fence", "hedge"],
    "leisure": True,
}
BUILDING_COLUMNS = ("building", "name", "building:levels", "levels", "height", "amenity")


def layers_from_osm(path: str | Path) -> dict[str, gpd.GeoDataFrame]:
    """Read an ``.osm`` (XML) or ``.pbf`` file into conventional layers.

    Parameters
    ----------
    path
        An OpenStreetMap XML or PBF extract.

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        Layers ``roads``, ``buildings``, ``landuse``, ``pois``, ``water``, ``railways``,
        ``barriers`` in EPSG:4326 (empty ones are left out).

    Raises
    ------
    InputFileError
        When the file cannot be parsed as OpenStreetMap data.
    """
    path = Path(path)
    if not path.exists():
        msg = f"input file {path} does not exist; check the path"
        raise InputFileError(msg)
    if path.suffix.lower() == ".pbf":
        roads, features = _read_pbf(path)
    else:
        roads, features = _read_xml(path)
    layers = {"roads": roads, **split_features(features)}
    return {name: gdf for name, gdf in layers.items() if not gdf.empty}


def _read_xml(path: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    import osmnx as ox  # noqa: PLC0415 - slow import, only for OSM input

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            graph = ox.graph_from_xml(path, simplify=False, retain_all=True)
            edges = ox.graph_to_gdfs(graph, nodes=False).reset_index(drop=True)
    except Exception as exc:
        msg = (
            f"{path} is not an OpenStreetMap XML file osmnx can read ({exc}); export it again "
            "(openstreetmap.org Export, Overpass, or `osmium cat extract.pbf -o area.osm`)"
        )
        raise InputFileError(msg) from exc
    # osmnx stores each way in both directions: keep one copy per OSM way piece
    edges["_key"] = edges.geometry.normalize().to_wkb()
    edges = edges.drop_duplicates("_key").drop(columns="_key")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            features = ox.features_from_xml(path, tags=FEATURE_TAGS).reset_index()
    except ox._errors.InsufficientResponseError:
        features = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    return _roads_frame(edges), features


def _read_pbf(path: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    from pyrosm import OSM  # noqa: PLC0415 - slow import, only for OSM input

    try:
        osm = OSM(str(path))
        network = osm.get_network(network_type="all")
        buildings = osm.get_buildings()
        other = osm.get_data_by_custom_criteria(
            custom_filter={k: True for k in FEATURE_TAGS if k != "building"},
            filter_type="keep",
            keep_nodes=True,
            keep_ways=True,
            keep_relations=True,
        )
    except Exception as exc:
        msg = (
            f"{path} is not an OpenStreetMap PBF file pyrosm can read ({exc}); download the "
            "extract again (e.g. from Geofabrik) or give an .osm XML file"
        )
        raise InputFileError(msg) from exc
    frames = [f for f in (buildings, other) if f is not None and not f.empty]
    features = (
        gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)
        if frames
        else gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    )
    if network is None:
        network = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    return _roads_frame(network), features


def _roads_frame(edges: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    # osmnx turns every way of an XML file into edges, landuse outlines included
    if "highway" in edges:
        edges = edges[edges["highway"].notna()].reset_index(drop=True)
    data = {name: edges.get(name) for name in ("highway", "name", "tunnel", "bridge", "service")}
    return gpd.GeoDataFrame(data, geometry=edges.geometry.to_numpy(), crs=edges.crs or 4326)


def split_features(features: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """Sort OSM features into buildings, land use, points of interest, water, railways."""
    if features.empty:
        return {}

    def tag(name: str) -> pd.Series:
        if name in features:
            return features[name].astype("string").fillna("")
        return pd.Series([""] * len(features), index=features.index, dtype="string")

    geom_type = features.geom_type
    polygon = geom_type.isin(["Polygon", "MultiPolygon"])
    line = geom_type.isin(["LineString", "MultiLineString"])
    building = (tag("building") != "") & polygon
    layers: dict[str, gpd.GeoDataFrame] = {}
    cols = [c for c in BUILDING_COLUMNS if c in features]
    layers["buildings"] = features.loc[building, [*cols, "geometry"]].reset_index(drop=True)
    landuse = (tag("landuse") != "") & polygon & ~building
    lu = features.loc[landuse, ["geometry"]].copy()
    lu["kind"] = tag("landuse")[landuse].to_numpy()
    amenity_poly = (tag("amenity") != "") & polygon & ~building & ~landuse
    am = features.loc[amenity_poly, ["geometry"]].copy()
    am["kind"] = tag("amenity")[amenity_poly].to_numpy()
    layers["landuse"] = gpd.GeoDataFrame(pd.concat([lu, am], ignore_index=True), crs=features.crs)
    kind = tag("amenity")
    for other in ("tourism", "shop", "office"):
        kind = kind.where(kind != "", tag(other).where(tag(other) == "", other))
    poi = (kind != "") & ~building & ~landuse & ~amenity_poly
    pois = features.loc[poi, ["geometry"]].copy()
    pois["kind"] = kind[poi].to_numpy()
    pois["geometry"] = pois.geometry.representative_point()
    layers["pois"] = pois.reset_index(drop=True)
    water = ((tag("natural") == "water") & polygon) | ((tag("waterway") != "") & line)
    wat = features.loc[water, ["geometry"]].copy()
    wat["waterway"] = tag("waterway")[water].to_numpy()
    layers["water"] = wat.reset_index(drop=True)
    rail = (tag("railway") != "") & line
    rl = features.loc[rail, ["geometry"]].copy()
    rl["railway"] = tag("railway")[rail].to_numpy()
    rl["tunnel"] = tag("tunnel")[rail].to_numpy() if "tunnel" in features else ""
    layers["railways"] = rl.reset_index(drop=True)
    barrier = (tag("barrier") != "") & line
    br = features.loc[barrier, ["geometry"]].copy()
    br["kind"] = tag("barrier")[barrier].to_numpy()
    layers["barriers"] = br.reset_index(drop=True)
    return {name: gpd.GeoDataFrame(g, crs=features.crs) for name, g in layers.items()}
