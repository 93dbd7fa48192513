"""Coverage checks shared by blocks and plans: gaps, overlaps, buildings kept whole."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from gis import columns as col


def gap_and_overlap_m2(pieces: np.ndarray, whole: shapely.Geometry) -> tuple[float, float]:
    """Area of ``whole`` not covered by ``pieces``, and area covered more than once (m²).

    Parameters
    ----------
    pieces
        Polygons meant to tile ``whole`` (metric CRS).
    whole
        The polygon they should tile.
    """
    if len(pieces) == 0:
        return float(shapely.area(whole)), 0.0
    union = shapely.union_all(pieces)
    gap = float(shapely.area(shapely.difference(whole, union)))
    overlap = float(shapely.area(pieces).sum() - shapely.area(union))
    outside = float(shapely.area(shapely.difference(union, whole)))
    return gap + outside, max(overlap, 0.0)


def buildings_not_whole(
    buildings: gpd.GeoDataFrame, pieces: gpd.GeoDataFrame, *, key: str, tolerance_m2: float = 0.5
) -> int:
    """How many buildings are not covered by the piece their ``key`` column names.

    Parameters
    ----------
    buildings
        Footprints with a column ``key`` naming their piece.
    pieces
        Polygons with the same ``key`` column (e.g. ``block_id``).
    tolerance_m2
        Area a footprint may stick out of its piece before it counts as split.
    """
    if buildings.empty:
        return 0
    lookup = pieces.set_index(key).geometry
    owner = lookup.loc[buildings[key].to_numpy()].to_numpy()
    outside = shapely.area(shapely.difference(buildings.geometry.to_numpy(), owner))
    return int((outside > tolerance_m2).sum())


def unit_summary(blocks: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> list[dict[str, object]]:
    """Per administrative unit: blocks, households, buildings, gap and overlap."""
    rows = []
    for code, name, geom in zip(
        units[col.UNIT_CODE], units[col.UNIT_NAME], units.geometry, strict=True
    ):
        mine = blocks[blocks[col.UNIT_CODE] == code]
        gap, overlap = gap_and_overlap_m2(mine.geometry.to_numpy(), geom)
        rows.append(
            {
                col.UNIT_CODE: str(code),
                col.UNIT_NAME: str(name),
                "blocks": len(mine),
                col.HOUSEHOLDS: int(mine[col.HOUSEHOLDS].sum()),
                "buildings": int(mine["n_buildings"].sum()),
                "area_km2": round(float(geom.area) / 1e6, 4),
                "gap_m2": gap,
                "overlap_m2": overlap,
            }
        )
    return rows
