"""Writing outputs: whole or not at all.

Every output goes to a temporary file beside its target and is renamed into place only once
complete, so a failure never leaves a half-written GeoPackage, map or report behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj

from gis.errors import OptionError

OUTPUT_DRIVERS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".parquet": "parquet",
}


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a path in a temporary folder beside ``target``; move it in on success only.

    Multi-file formats (a Shapefile's ``.shp``, ``.shx``, ``.dbf``, ``.prj``…) move together;
    each file is renamed atomically, and nothing is moved if writing failed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", dir=target.parent))
    try:
        yield tmp_dir / target.name
        # side files first, the named file last: it appears only once the set is complete
        for written in sorted(tmp_dir.iterdir(), key=lambda p: (p.name == target.name, p.name)):
            os.replace(written, target.parent / written.name)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def write_layers(
    target: str | Path,
    layers: Mapping[str, gpd.GeoDataFrame | pd.DataFrame],
    *,
    crs: str | int | pyproj.CRS = 4326,
) -> Path:
    """Write several layers into one GeoPackage (or the first layer into another format).

    Parameters
    ----------
    target
        Output file; its suffix picks the format (``.gpkg``, ``.geojson``, ``.shp``,
        ``.parquet``). Only GeoPackage holds several layers.
    layers
        Layer name → GeoDataFrame (any CRS); empty layers are skipped. A plain DataFrame
        (no geometry) is written as an attribute table (GeoPackage only).
    crs
        CRS of the written geometries (default EPSG:4326, WGS 84).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    target = Path(target)
    driver = OUTPUT_DRIVERS.get(target.suffix.lower())
    if driver is None:
        msg = (
            f"cannot write {target.name}: unknown output format {target.suffix!r}; use .gpkg, "
            ".geojson, .shp or .parquet"
        )
        raise OptionError(msg)
    written = [(name, gdf) for name, gdf in layers.items() if gdf is not None and len(gdf)]
    if driver != "GPKG":
        written = written[:1]
    with atomic_path(target) as tmp:
        for name, gdf in written:
            if not isinstance(gdf, gpd.GeoDataFrame):
                if driver == "GPKG":
                    pyogrio.write_dataframe(gdf, tmp, layer=name, driver=driver)
                continue
            out = gdf.to_crs(crs)
            if driver == "parquet":
                out.to_parquet(tmp)
            else:
                out.to_file(tmp, layer=name, driver=driver, engine="pyogrio")
    return target


def write_json(target: str | Path, data: Mapping[str, Any]) -> Path:
    """Write a JSON report atomically (UTF-8, readable Chinese)."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), "utf-8")
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    """Write a text file (e.g. an HTML map) atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, "utf-8")
    return Path(target)
