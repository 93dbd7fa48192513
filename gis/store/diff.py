"""What changed between two plan versions: grids added, removed, changed, households moved.

Households moved between grids
------------------------------
A store holds household *counts* per grid (and per unit cell), not household locations, so
moves are estimated:

* **cells** (used when the old version has unit cells): each old cell's households go to the
  new grid that contains the cell's representative point (``point_on_surface``); cells are
  small (≈ 30 households), so this is close to exact.
* **area** (otherwise): an old grid's households are spread evenly over its area and
  apportioned to the new grids by intersection area, ``h_old · area(old ∩ new) / area(old)``,
  measured in the local UTM zone. This assumes uniform density inside a grid: treat it as an
  estimate.

Either way the flows of one old grid are rounded to whole households by the largest-remainder
method, so they add up exactly to its count. Households of an old grid that no new grid
covers go to ``to_code = None``. Only flows between different codes are reported as moved.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import columns as col
from gis.geometry.crs import local_metric_crs

FROM_CODE = "from_code"
TO_CODE = "to_code"


@dataclasses.dataclass(frozen=True)
class PlanDiff:
    """Differences from an old plan version to a new one.

    Attributes
    ----------
    added, removed
        Grid codes only in the new / only in the old version.
    changed
        One row per code in both versions whose geometry or households differ: grid_code,
        geometry_changed, households_old, households_new, changed_area_m2 (area of the
        symmetric difference).
    moved
        Estimated households moving between grids: from_code, to_code (None when no new grid
        covers them), households; see the module docstring for the method.
    method
        ``"cells"`` or ``"area"``.
    """

    old_version: int | None
    new_version: int | None
    added: list[str]
    removed: list[str]
    changed: pd.DataFrame
    unchanged: int
    moved: pd.DataFrame
    method: Literal["cells", "area"]

    @property
    def households_moved(self) -> int:
        """Total households estimated to change grid."""
        return int(self.moved[col.HOUSEHOLDS].sum()) if len(self.moved) else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed.to_dict(orient="records"),
            "unchanged": self.unchanged,
            "moved": self.moved.to_dict(orient="records"),
            "households_moved": self.households_moved,
            "method": self.method,
        }


def _largest_remainder(shares: np.ndarray, total: int) -> np.ndarray:
    """Round non-negative ``shares`` (summing to ``total`` or less) to integers, same sum."""
    floors = np.floor(shares).astype(np.int64)
    left = round(float(shares.sum())) - int(floors.sum())
    if left > 0:
        order = np.argsort(-(shares - floors), kind="stable")
        floors[order[:left]] += 1
    return floors


def _flows_by_area(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame) -> pd.DataFrame:
    old_geoms = old.geometry.to_numpy()
    new_geoms = new.geometry.to_numpy()
    new_codes = new[col.GRID_CODE].to_numpy().astype(str)
    tree = shapely.STRtree(new_geoms)
    rows: list[tuple[str, str | None, int]] = []
    for code, hh, geom in zip(old[col.GRID_CODE], old[col.HOUSEHOLDS], old_geoms, strict=True):
        area = float(shapely.area(geom))
        hits = tree.query(geom, predicate="intersects")
        pieces = shapely.area(shapely.intersection(geom, new_geoms[hits])) if len(hits) else []
        fractions = np.asarray(pieces, dtype=float) / area if area > 0 else np.zeros(len(hits))
        outside = max(0.0, 1.0 - float(fractions.sum()))
        shares = np.append(fractions, outside) * int(hh)
        counts = _largest_remainder(shares, int(hh))
        targets: list[str | None] = [*new_codes[hits].tolist(), None]
        rows += [(str(code), t, int(n)) for t, n in zip(targets, counts, strict=True) if n > 0]
    return pd.DataFrame(rows, columns=[FROM_CODE, TO_CODE, col.HOUSEHOLDS])


def _flows_by_cells(cells: gpd.GeoDataFrame, new: gpd.GeoDataFrame) -> pd.DataFrame:
    points = gpd.GeoDataFrame(
        {FROM_CODE: cells[col.GRID_CODE].astype(str), col.HOUSEHOLDS: cells[col.HOUSEHOLDS]},
        geometry=cells.geometry.representative_point(),
        crs=cells.crs,
    )
    joined = gpd.sjoin(points, new[[col.GRID_CODE, "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    to = joined[col.GRID_CODE].astype(object)
    flows = pd.DataFrame(
        {
            FROM_CODE: joined[FROM_CODE],
            TO_CODE: to.where(to.notna(), None),
            col.HOUSEHOLDS: joined[col.HOUSEHOLDS].astype("int64"),
        }
    )
    grouped = flows.groupby([FROM_CODE, TO_CODE], dropna=False, sort=True)[col.HOUSEHOLDS].sum()
    out = grouped.reset_index()
    out[TO_CODE] = out[TO_CODE].astype(object).where(out[TO_CODE].notna(), None)
    return out[out[col.HOUSEHOLDS] > 0].reset_index(drop=True)


def diff_plans(
    old: gpd.GeoDataFrame,
    new: gpd.GeoDataFrame,
    *,
    old_cells: gpd.GeoDataFrame | None = None,
    old_version: int | None = None,
    new_version: int | None = None,
    tolerance_m2: float = 1.0,
) -> PlanDiff:
    """Compare two plans' grids.

    Parameters
    ----------
    old, new
        Grids (grid_code, households, geometry) in any CRS; compared in the old plan's
        local UTM zone.
    old_cells
        Unit cells of the old plan (grid_code, households, geometry); when given and not
        empty, households moved are counted per cell, else apportioned by area.
    old_version, new_version
        Version ids, recorded in the result.
    tolerance_m2
        Symmetric-difference area above which a grid's geometry counts as changed.

    Returns
    -------
    PlanDiff
    """
    metric = local_metric_crs(old if len(old) else new)
    old_m = old.to_crs(metric).reset_index(drop=True)
    new_m = new.to_crs(metric).reset_index(drop=True)
    old_codes = set(old_m[col.GRID_CODE].astype(str))
    new_codes = set(new_m[col.GRID_CODE].astype(str))
    both = sorted(old_codes & new_codes)
    o = old_m.set_index(old_m[col.GRID_CODE].astype(str)).loc[both]
    n = new_m.set_index(new_m[col.GRID_CODE].astype(str)).loc[both]
    sym = shapely.area(shapely.symmetric_difference(o.geometry.to_numpy(), n.geometry.to_numpy()))
    geom_changed = np.asarray(sym, dtype=float) > tolerance_m2
    hh_old = o[col.HOUSEHOLDS].to_numpy(dtype=np.int64)
    hh_new = n[col.HOUSEHOLDS].to_numpy(dtype=np.int64)
    is_changed = geom_changed | (hh_old != hh_new)
    changed = pd.DataFrame(
        {
            col.GRID_CODE: np.asarray(both, dtype=object)[is_changed],
            "geometry_changed": geom_changed[is_changed],
            "households_old": hh_old[is_changed],
            "households_new": hh_new[is_changed],
            "changed_area_m2": np.round(np.asarray(sym, dtype=float)[is_changed], 3),
        }
    )
    use_cells = old_cells is not None and len(old_cells) > 0
    if use_cells:
        assert old_cells is not None
        flows = _flows_by_cells(old_cells.to_crs(metric), new_m)
    else:
        flows = _flows_by_area(old_m, new_m)
    moved = flows[flows[FROM_CODE] != flows[TO_CODE]].reset_index(drop=True)
    return PlanDiff(
        old_version=old_version,
        new_version=new_version,
        added=sorted(new_codes - old_codes),
        removed=sorted(old_codes - new_codes),
        changed=changed,
        unchanged=int((~is_changed).sum()),
        moved=moved,
        method="cells" if use_cells else "area",
    )
