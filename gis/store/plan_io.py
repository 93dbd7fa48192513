"""Export a stored plan version to files, and read plan files back for publishing.

Formats follow the target's suffix (see :data:`gis.outputs.files.OUTPUT_DRIVERS`): GeoPackage holds
the layers ``grids``, ``cells`` and ``units``; GeoJSON, Shapefile and GeoParquet hold the
grids only. Shapefile field names are cut to 10 characters, so ``parent_code``,
``parent_name`` and ``households_estimated`` are written as ``parent_cd``, ``parent_nm`` and
``hh_estim`` (and read back under their full names). Coordinates are written in EPSG:4326
(WGS 84) or EPSG:4490 (CGCS2000), in longitude–latitude order.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Final

import geopandas as gpd
import pyogrio
import pyproj

from gis import columns as col
from gis.errors import CRSError, InputFileError
from gis.geometry.crs import parse_crs
from gis.outputs.files import write_layers
from gis.store import Store

EXPORT_CRS: Final = ("EPSG:4326", "EPSG:4490")
SHAPEFILE_NAMES: Final = {
    col.PARENT_CODE: "parent_cd",
    col.PARENT_NAME: "parent_nm",
    col.HOUSEHOLDS_ESTIMATED: "hh_estim",
}


def export_version(
    store: Store,
    target: str | Path,
    *,
    version_id: int | None = None,
    as_of: datetime | None = None,
    crs: str | int | pyproj.CRS = "EPSG:4326",
) -> Path:
    """Write one version of the plan to a file, atomically.

    Parameters
    ----------
    store
        Where the plan lives.
    target
        Output file: ``.gpkg``, ``.geojson``/``.json``, ``.shp`` or ``.parquet``.
    version_id, as_of
        Which version (default: the live one); see :meth:`gis.store.base.BaseStore.version`.
    crs
        EPSG:4326 or EPSG:4490.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    CRSError
        For any other CRS.
    VersionNotFoundError
        When the version does not exist.
    """
    target_crs = parse_crs(crs)
    if target_crs.to_epsg() not in (4326, 4490):
        msg = f"export CRS must be one of {list(EXPORT_CRS)}, not {target_crs.to_string()}"
        raise CRSError(msg)
    info = store.version(version_id, as_of=as_of)
    grids = store.read_grids(info.id)
    cells = store.read_cells(info.id)
    units = store.read_units(as_of=info.valid_from)
    target = Path(target)
    if target.suffix.lower() == ".shp":
        grids = grids.rename(columns=SHAPEFILE_NAMES)
    return write_layers(target, {"grids": grids, "cells": cells, "units": units}, crs=target_crs)


def read_plan(source: str | Path, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a plan's grids from a file (any format :func:`export_version` writes).

    Parameters
    ----------
    source
        GeoPackage, GeoJSON, Shapefile or GeoParquet file.
    layer
        Layer to read (GeoPackage only); default ``grids`` when present, else the first.

    Returns
    -------
    geopandas.GeoDataFrame
        The grids in the file's CRS, with full column names.

    Raises
    ------
    InputFileError
        When the file or layer cannot be read.
    """
    source = Path(source)
    if not source.exists():
        msg = f"plan file {source} does not exist"
        raise InputFileError(msg)
    try:
        if source.suffix.lower() == ".parquet":
            gdf = gpd.read_parquet(source)
        else:
            if layer is None and source.suffix.lower() == ".gpkg":
                names = [str(n) for n, _ in pyogrio.list_layers(source)]
                layer = "grids" if "grids" in names else names[0]
            gdf = pyogrio.read_dataframe(source, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        msg = f"cannot read plan from {source}: {exc}"
        raise InputFileError(msg) from exc
    return gdf.rename(columns={v: k for k, v in SHAPEFILE_NAMES.items()})
