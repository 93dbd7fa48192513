"""Reading an area: boundary, roads, households, buildings and sites, checked at the door.

Sources: one conventional GeoPackage (layers named as in ``INPUT_FORMAT.md``), or separate
files in any format GDAL reads (GeoPackage, GeoJSON, Shapefile) plus GeoParquet and
OpenStreetMap XML/PBF (see :mod:`gis.inputs.osm`). Everything is reprojected into one local metric
CRS. Problems are collected and raised together with the value seen and the fix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely
from pyogrio.errors import DataSourceError

from gis import columns as col
from gis.blocks.roads import normalise_roads
from gis.errors import (
    CRSError,
    GeometryError,
    HouseholdError,
    InputFileError,
    UnitOverlapError,
)
from gis.geometry.crs import check_coordinates, local_metric_crs, parse_crs, require_metric

log = logging.getLogger(__name__)

VECTOR_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".zip", ".fgb", ".gml", ".kml"}
PARQUET_SUFFIXES = {".parquet", ".geoparquet"}
OSM_SUFFIXES = {".osm", ".xml", ".pbf"}

POLYGON_LAYERS = ("boundary", "buildings", "sites", "water", "villages", "landuse")


@dataclass(frozen=True)
class Area:
    """Everything known about an area, in one metric CRS.

    Attributes
    ----------
    boundary
        Administrative units: ``unit_code``, ``unit_name``, ``level``, ``parent_code``.
    roads
        Street centre lines with ``highway`` (OSM values), ``name``, ``tunnel``, ``bridge``.
    households
        Household source (points or polygons) with integer ``households``; may be empty.
    buildings
        Footprints (polygons only) with ``building_id`` and any tags read.
    sites, water, railways, villages, landuse, pois, barriers
        Optional layers (empty GeoDataFrames when absent).
    crs
        The metric CRS of every layer.
    source
        Where the area was read from, for messages and reports.
    """

    boundary: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    households: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    crs: pyproj.CRS
    sites: gpd.GeoDataFrame = field(default_factory=gpd.GeoDataFrame)
    water: gpd.GeoDataFrame = field(default_factory=gpd.GeoDataFrame)
    railways: gpd.GeoDataFrame = field(default_factory=gpd.GeoDataFrame)
    villages: gpd.GeoDataFrame = field(default_factory=gpd.GeoDataFrame)
    landuse: gpd.GeoDataFrame = field(default_factory=gpd.GeoDataFrame)
    pois: gpd.GeoDataFrame = field(default_factory=gpd.GeoDataFrame)
    barriers: gpd.GeoDataFrame = field(default_factory=gpd.GeoDataFrame)
    source: str = ""

    def with_households(self, households: gpd.GeoDataFrame) -> Area:
        """Return a copy whose household source is ``households``."""
        return replace(self, households=households)


def empty_layer(crs: pyproj.CRS | None = None) -> gpd.GeoDataFrame:
    """An empty layer with a geometry column."""
    return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def read_layer(path: str | Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read one vector layer from any supported file.

    Parameters
    ----------
    path
        GeoPackage, GeoJSON, Shapefile, GeoParquet (``.parquet``), or another GDAL format.
    layer
        Layer name for multi-layer files; ``None`` reads the first layer.

    Raises
    ------
    InputFileError
        The file does not exist, is not a vector file, or lacks the layer.
    """
    path = Path(path)
    if not path.exists():
        msg = f"input file {path} does not exist; check the path"
        raise InputFileError(msg)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        try:
            return gpd.read_parquet(path)
        except (ValueError, OSError) as exc:
            msg = f"{path} is not a GeoParquet file ({exc}); write it with GeoDataFrame.to_parquet"
            raise InputFileError(msg) from exc
    if suffix in OSM_SUFFIXES:
        msg = f"{path} is OpenStreetMap data: read it with gis.inputs.osm.layers_from_osm"
        raise InputFileError(msg)
    try:
        if layer is not None and layer not in list_layers(path):
            msg = f"{path} has no layer {layer!r} (it has {', '.join(list_layers(path))})"
            raise InputFileError(msg)
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except DataSourceError as exc:
        msg = (
            f"{path} is not a vector file wangge can read ({exc}); give a GeoPackage, GeoJSON, "
            "Shapefile, GeoParquet or OpenStreetMap XML/PBF file"
        )
        raise InputFileError(msg) from exc


def list_layers(path: str | Path) -> list[str]:
    """Names of the layers in a vector file (one name for single-layer formats).

    Raises
    ------
    InputFileError
        When the file is not a vector file.
    """
    path = Path(path)
    if not path.exists():
        msg = f"input file {path} does not exist; check the path"
        raise InputFileError(msg)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return [path.stem]
    try:
        return [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except DataSourceError as exc:
        msg = (
            f"{path} is not a vector file wangge can read ({exc}); give a GeoPackage, GeoJSON, "
            "Shapefile, GeoParquet or OpenStreetMap XML/PBF file"
        )
        raise InputFileError(msg) from exc


def read_area(
    source: str | Path | None = None,
    *,
    boundary: str | Path | None = None,
    roads: str | Path | None = None,
    households: str | Path | None = None,
    buildings: str | Path | None = None,
    sites: str | Path | None = None,
    household_column: str = col.HOUSEHOLDS,
    crs: str | int | pyproj.CRS | None = None,
    input_crs: str | int | pyproj.CRS | None = None,
) -> Area:
    """Read and check an area from a conventional GeoPackage and/or separate files.

    Parameters
    ----------
    source
        A GeoPackage with the conventional layers (``boundary``, ``roads``, ``households``,
        ``buildings``, ``sites``, ``water``, ``railways``, ``villages``; also ``landuse`` and
        ``pois`` as signals for household estimates), or an OpenStreetMap ``.osm``/``.pbf``
        file (then ``boundary`` is required).
    boundary, roads, households, buildings, sites
        Separate files that replace the corresponding layer of ``source``.
    household_column
        Name of the household count column in the household source.
    crs
        Working metric CRS; default: the UTM zone of the boundary.
    input_crs
        CRS to assume for inputs that declare none (e.g. a Shapefile without ``.prj``).

    Returns
    -------
    Area
        All layers in the working CRS.

    Raises
    ------
    WanggeError
        Any problem with files, CRS, geometry or household counts, with the fix.
    """
    layers = _collect_layers(source, boundary, roads, households, buildings, sites)
    if "boundary" not in layers or layers["boundary"].empty:
        where = f" in {source}" if source else ""
        msg = (
            f"no administrative boundary{where}: add a 'boundary' layer with one polygon per "
            "community or village, or pass --boundary FILE"
        )
        raise GeometryError(msg)
    layers = _with_crs(layers, input_crs)
    # check the boundary before choosing a CRS from it: an all-empty one has no bounds
    units = check_boundary(layers["boundary"])
    work_crs = require_metric(parse_crs(crs)) if crs is not None else None
    if work_crs is None:
        work_crs = local_metric_crs(units)
    layers = {name: gdf.to_crs(work_crs) for name, gdf in layers.items()}
    units = units.to_crs(work_crs)
    road_lines = normalise_roads(layers.get("roads", empty_layer(work_crs)))
    _check_roads_meet_boundary(road_lines, units)
    for name in ("households", "buildings"):
        _check_meets_boundary(layers.get(name), units, name=name)
    building_polys = _prepare_buildings(layers.get("buildings", empty_layer(work_crs)))
    household_src = layers.get("households")
    if household_src is not None:
        household_src = check_households(household_src, column=household_column)
    else:
        household_src = empty_layer(work_crs)

    def layer(name: str) -> gpd.GeoDataFrame:
        return layers.get(name, empty_layer(work_crs))

    return Area(
        boundary=units,
        roads=road_lines,
        households=household_src,
        buildings=building_polys,
        crs=work_crs,
        sites=layer("sites"),
        water=layer("water"),
        railways=layer("railways"),
        villages=layer("villages"),
        landuse=layer("landuse"),
        pois=layer("pois"),
        barriers=layer("barriers"),
        source=str(source or boundary),
    )


def _with_crs(
    layers: dict[str, gpd.GeoDataFrame], input_crs: str | int | pyproj.CRS | None
) -> dict[str, gpd.GeoDataFrame]:
    """Layers with ``input_crs`` set where they declare none, their coordinates checked.

    Raises
    ------
    CRSError
        Every layer's CRS problem at once.
    """
    fallback = parse_crs(input_crs) if input_crs is not None else None
    problems: list[str] = []
    for name, gdf in layers.items():
        if gdf.crs is None and fallback is not None:
            layers[name] = gdf.set_crs(fallback)
        try:
            check_coordinates(layers[name], what=f"layer {name!r}")
        except CRSError as exc:
            problems.append(str(exc))
    if problems:  # every layer's CRS problem at once, still a CRSError
        raise CRSError("; ".join(problems))
    return layers


def _collect_layers(
    source: str | Path | None,
    boundary: str | Path | None,
    roads: str | Path | None,
    households: str | Path | None,
    buildings: str | Path | None,
    sites: str | Path | None,
) -> dict[str, gpd.GeoDataFrame]:
    layers: dict[str, gpd.GeoDataFrame] = {}
    if source is not None:
        source = Path(source)
        if source.suffix.lower() in OSM_SUFFIXES:
            from gis.inputs.osm import layers_from_osm  # noqa: PLC0415 - heavy import, on demand

            layers.update(layers_from_osm(source))
        elif source.suffix.lower() in PARQUET_SUFFIXES:
            msg = f"{source} is a single-layer GeoParquet file; pass it as --boundary, --roads …"
            raise InputFileError(msg)
        else:
            for name in list_layers(source):
                if name in col.LAYERS:
                    layers[name] = read_layer(source, name)
            if not layers:
                msg = (
                    f"{source} holds none of the conventional layers {', '.join(col.LAYERS)}; "
                    "rename its layers or pass each file with --boundary, --roads, …"
                )
                raise InputFileError(msg)
    for name, path in (
        ("boundary", boundary),
        ("roads", roads),
        ("households", households),
        ("buildings", buildings),
        ("sites", sites),
    ):
        if path is not None:
            layers[name] = read_layer(path, _role_layer(Path(path), name))
    return layers


def _role_layer(path: Path, name: str) -> str | None:
    """The layer of a separate file to read for role ``name``: the one of that name when the
    file holds several (e.g. ``--households area2.gpkg`` picks its ``households`` layer),
    else its only (or first) layer."""
    if path.suffix.lower() in (*PARQUET_SUFFIXES, *OSM_SUFFIXES) or not path.exists():
        return None
    names = list_layers(path)
    return name if len(names) > 1 and name in names else None


def check_boundary(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Check boundary polygons and give every unit a code and a name.

    Returns
    -------
    geopandas.GeoDataFrame
        ``unit_code``, ``unit_name``, ``level``, ``parent_code`` per unit (``code`` and
        ``name`` of the conventional layer, or generated codes ``U001``… when absent).

    Raises
    ------
    GeometryError
        Non-polygons, empty or invalid geometry, repeated codes, overlapping units.
    """
    geoms = gdf.geometry
    problems: list[str] = []
    bad_type = ~geoms.geom_type.isin(["Polygon", "MultiPolygon"])
    if bad_type.any():
        types = sorted(set(geoms[bad_type].geom_type.astype(str)))
        problems.append(
            f"boundary rows {_rows(bad_type)} are {', '.join(types)}, not polygons: "
            "the boundary layer needs one polygon per administrative unit"
        )
    empty = geoms.is_empty | geoms.isna()
    if empty.any():
        problems.append(f"boundary rows {_rows(empty)} have empty geometry: remove or redraw them")
    invalid = ~geoms.is_valid & ~empty & ~bad_type
    if invalid.any():
        reasons = [shapely.is_valid_reason(g) for g in geoms[invalid]][:3]
        problems.append(
            f"boundary rows {_rows(invalid)} are invalid polygons ({'; '.join(reasons)}): "
            "fix the self-intersection, e.g. `ogr2ogr -makevalid fixed.gpkg input.gpkg` or "
            "shapely.make_valid, and check the result"
        )
    if problems:
        raise GeometryError("; ".join(problems))
    units = gdf.reset_index(drop=True)
    codes = units["code"].astype(str) if "code" in units else None
    if codes is None or codes.isna().any() or (codes == "").any():
        codes = pd.Series([f"U{i + 1:03d}" for i in range(len(units))])
    if codes.duplicated().any():
        msg = f"boundary codes repeat: {sorted(set(codes[codes.duplicated()]))}; make them unique"
        raise GeometryError(msg)
    _check_unit_overlap(units.geometry.to_numpy(), codes.to_numpy())
    names = units["name"].astype(str) if "name" in units else codes
    out = gpd.GeoDataFrame(
        {
            col.UNIT_CODE: codes.to_numpy(),
            col.UNIT_NAME: names.fillna("").to_numpy(),
            "level": units["level"].to_numpy() if "level" in units else "community",
            col.PARENT_CODE: units["parent_code"].to_numpy() if "parent_code" in units else None,
            **{c: units[c].to_numpy() for c in col.RULE_COLUMNS if c in units},
        },
        geometry=units.geometry.to_numpy(),
        crs=gdf.crs,
    )
    return out


#: Units overlapping by more than this share of the smaller one are refused (noise below).
UNIT_OVERLAP_SHARE = 1e-6


def _check_unit_overlap(geoms: np.ndarray, codes: np.ndarray) -> None:
    """Refuse units that share interior area, naming both unit codes."""
    if len(geoms) < 2:
        return
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return
    inter = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    smaller = np.minimum(shapely.area(geoms[a]), shapely.area(geoms[b]))
    bad = inter > UNIT_OVERLAP_SHARE * np.maximum(smaller, 1e-30)
    if bad.any():
        pairs = [
            f"{codes[i]} and {codes[j]} ({inter[k] / smaller[k]:.1%} of the smaller)"
            for k, (i, j) in enumerate(zip(a.tolist(), b.tolist(), strict=True))
            if bad[k]
        ]
        msg = (
            f"boundary units overlap: {'; '.join(pairs[:5])}; every place must belong to "
            "exactly one community or village: redraw the shared edge so the units only touch"
        )
        raise UnitOverlapError(msg)


def _check_meets_boundary(
    layer: gpd.GeoDataFrame | None, units: gpd.GeoDataFrame, *, name: str
) -> None:
    """Refuse a non-empty layer none of whose features touches the boundary."""
    if layer is None or layer.empty:
        return
    area = shapely.union_all(units.geometry.to_numpy())
    if not layer.intersects(area).any():
        lb = np.round(layer.total_bounds).astype(int).tolist()
        ub = np.round(units.total_bounds).astype(int).tolist()
        msg = (
            f"no feature of the {name} layer lies inside the boundary ({name} span {lb}, "
            f"boundary spans {ub} in {units.crs.to_string()}): give {name} of the same area "
            "or check both CRSs"
        )
        raise GeometryError(msg)


def _check_roads_meet_boundary(roads: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> None:
    if roads.empty:
        return
    area = shapely.union_all(units.geometry.to_numpy())
    if not roads.intersects(area).any():
        rb = np.round(roads.total_bounds).astype(int).tolist()
        ub = np.round(units.total_bounds).astype(int).tolist()
        msg = (
            f"no road touches the boundary (roads span {rb}, boundary spans {ub} in "
            f"{units.crs.to_string()}): the files describe different places or one has the "
            "wrong CRS; give roads of the same area"
        )
        raise GeometryError(msg)


def _prepare_buildings(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Keep polygon footprints, repair invalid ones, give each an id."""
    if gdf.empty:
        out = gdf.copy()
        out[col.BUILDING_ID] = pd.Series([], dtype="int64")
        return out
    polys = gdf[gdf.geom_type.isin(["Polygon", "MultiPolygon"])].copy()
    dropped = len(gdf) - len(polys)
    if dropped:
        log.info("ignored %d non-polygon features in the buildings layer", dropped)
    invalid = ~polys.is_valid
    if invalid.any():
        log.info("repaired %d invalid building footprints", int(invalid.sum()))
        polys.loc[invalid, "geometry"] = shapely.make_valid(
            polys.geometry[invalid].to_numpy(), method="structure", keep_collapsed=False
        )
    polys = polys[~polys.is_empty].reset_index(drop=True)
    if col.BUILDING_ID not in polys or polys[col.BUILDING_ID].duplicated().any():
        polys[col.BUILDING_ID] = np.arange(len(polys), dtype="int64")
    return polys


def check_households(gdf: gpd.GeoDataFrame, *, column: str = col.HOUSEHOLDS) -> gpd.GeoDataFrame:
    """Check a household source and return it with an integer ``households`` column.

    Raises
    ------
    HouseholdError
        The column is missing, not numeric, not finite (``inf``), negative, fractional or
        empty.
    """
    if column not in gdf:
        msg = (
            f"the household layer has no column {column!r} (it has "
            f"{', '.join(map(str, gdf.columns.drop('geometry')))}); add it or name the column "
            "with --household-column"
        )
        raise HouseholdError(msg)
    values = pd.to_numeric(gdf[column], errors="coerce")
    not_numeric = values.isna() & gdf[column].notna()
    if not_numeric.any():
        seen = gdf[column][not_numeric].astype(str).head(3).tolist()
        msg = (
            f"household column {column!r} holds non-numeric values {seen} at rows "
            f"{_rows(not_numeric)}: give whole numbers of households"
        )
        raise HouseholdError(msg)
    if values.isna().any():
        msg = (
            f"household column {column!r} is empty at rows {_rows(values.isna())}: give a count "
            "(0 when nobody lives there)"
        )
        raise HouseholdError(msg)
    infinite = ~np.isfinite(values.to_numpy(dtype=float))
    if infinite.any():
        mask = pd.Series(infinite, index=values.index)
        seen = values[mask].head(3).tolist()
        msg = (
            f"household column {column!r} holds non-finite values {seen} at rows {_rows(mask)}: "
            "give whole numbers of households"
        )
        raise HouseholdError(msg)
    negative = values < 0
    if negative.any():
        seen = values[negative].head(3).tolist()
        msg = (
            f"household column {column!r} has negative counts {seen} at rows {_rows(negative)}: "
            "counts must be 0 or more"
        )
        raise HouseholdError(msg)
    fractional = values != np.floor(values)
    if fractional.any():
        seen = values[fractional].head(3).tolist()
        msg = f"household column {column!r} has fractional counts {seen}: give whole numbers"
        raise HouseholdError(msg)
    empty = gdf.geometry.is_empty | gdf.geometry.isna()
    if empty.any():
        msg = f"household rows {_rows(empty)} have no geometry: give each a point or polygon"
        raise GeometryError(msg)
    out = gdf.copy()
    out[col.HOUSEHOLDS] = values.astype("int64")
    if col.HOUSEHOLDS_ESTIMATED not in out:
        out[col.HOUSEHOLDS_ESTIMATED] = False
    return out


def _rows(mask: pd.Series) -> str:
    """Name up to five row numbers of a boolean mask, for messages."""
    idx = [str(i) for i in np.flatnonzero(mask.to_numpy())]
    more = f" and {len(idx) - 5} more" if len(idx) > 5 else ""
    return ", ".join(idx[:5]) + more
