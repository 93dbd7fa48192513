"""What a plan file says about itself: the ``plan`` table beside the ``grids`` layer.

A plan GeoPackage written by ``wangge partition`` (or :meth:`gis.Plan.to_file`) holds, besides
its ``grids`` (and ``cells``, ``blocks``) layers, a one-row attribute table ``plan``: the
household band it was drawn for, its code scheme, seed and CRS. ``publish`` stores the band
with the version, so the service colours and reports each version by its own band.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import pandas as pd
import pyogrio

from gis.options import Band

#: Name of the attribute table holding the plan's own facts.
PLAN_LAYER: Final = "plan"


def plan_info_frame(band: Band, **info: Any) -> pd.DataFrame:
    """The one-row ``plan`` table: the band's three numbers and any other facts given."""
    row: dict[str, Any] = band.to_dict()
    row.update({k: (None if v is None else str(v)) for k, v in info.items()})
    return pd.DataFrame([row])


def read_plan_info(path: str | Path) -> dict[str, Any] | None:
    """The ``plan`` table of a plan file as a dict, or None when the file has none."""
    try:
        layers = {str(name) for name, _ in pyogrio.list_layers(path)}
    except pyogrio.errors.DataSourceError:
        return None
    if PLAN_LAYER not in layers:
        return None
    frame = pyogrio.read_dataframe(path, layer=PLAN_LAYER, read_geometry=False)
    if len(frame) == 0:
        return None
    return {k: (None if pd.isna(v) else v) for k, v in frame.iloc[0].to_dict().items()}


def read_band(path: str | Path) -> Band | None:
    """The band a plan file was drawn for, or None when it does not say."""
    info = read_plan_info(path)
    return None if info is None else Band.from_dict(info)
