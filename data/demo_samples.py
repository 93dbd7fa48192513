"""The demo's SYNTHETIC staff roster and standard addresses (示例), for ``make demo``.

Nothing here is real: every name is 示例网格员NN, every phone number 021-0000-NNNN (no such
Shanghai number exists), and the addresses give real road names of the Shanghai sample
(OpenStreetMap) with door numbers made up along each road. See data/README.md.

Usage::

    python data/demo_samples.py --plan out/shanghai_plan.gpkg   # rewrite both CSVs

It takes the grid codes from a plan made as ``make demo`` makes it (seed 1,
``--code-scheme stats12``) and the buildings and roads from ``data/shanghai_bund.gpkg``.
``make demo`` stores them with ``wangge staff import`` and ``wangge addresses import``; the
first refuses a roster naming a grid the plan lacks (the partitioner changed its grids):
run this again then.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

HERE = Path(__file__).resolve().parent
SAMPLE = HERE / "shanghai_bund.gpkg"
ROSTER = HERE / "shanghai_bund_staff_sample.csv"
ADDRESSES = HERE / "shanghai_bund_addresses_sample.csv"
# County of each demonstration community, by the first six digits of its code (GB/T 2260).
COUNTIES = {"310101": "黄浦区", "310115": "浦东新区"}
MAX_ROAD_DISTANCE_M = 60.0
logger = logging.getLogger("demo_samples")


def build_roster(plan: Path) -> pd.DataFrame:
    """One 示例 grid worker per grid of the plan, with a number no phone answers."""
    codes = sorted(gpd.read_file(plan, layer="grids")["grid_code"].astype(str))
    return pd.DataFrame(
        {
            "grid_code": codes,
            "name": [f"示例网格员{i:02d}" for i in range(1, len(codes) + 1)],
            "role": "网格员",
            "phone": [f"021-0000-{i:04d}" for i in range(1, len(codes) + 1)],
        }
    )


def _numbered(buildings: gpd.GeoDataFrame, road: shapely.Geometry) -> list[int]:
    """Door numbers along one road: odd on its left, even on its right, in order."""
    line = shapely.line_merge(road)
    if line.geom_type != "LineString":  # a road in pieces: number along its longest piece
        line = max(line.geoms, key=lambda g: g.length)
    points = buildings.geometry.to_numpy()
    along = shapely.line_locate_point(line, points)
    ahead = shapely.line_interpolate_point(line, np.minimum(along + 1.0, line.length))
    here = shapely.line_interpolate_point(line, along)
    x0, y0 = shapely.get_x(here), shapely.get_y(here)
    dx, dy = shapely.get_x(ahead) - x0, shapely.get_y(ahead) - y0
    px, py = shapely.get_x(points) - x0, shapely.get_y(points) - y0
    left = dx * py - dy * px > 0
    numbers = [0] * len(points)
    for side, first in ((left, 1), (~left, 2)):
        for rank, i in enumerate(np.flatnonzero(side)[np.argsort(along[side])]):
            numbers[i] = first + 2 * rank
    return numbers


def build_addresses() -> pd.DataFrame:
    """A door on the nearest named road (within 60 m, tunnels left out) for every building
    of the sample inside a demonstration community."""
    units = gpd.read_file(SAMPLE, layer="boundary")
    metric = units.estimate_utm_crs()
    units = units.to_crs(metric)
    buildings = gpd.read_file(SAMPLE, layer="buildings").to_crs(metric)
    buildings["geometry"] = shapely.point_on_surface(buildings.geometry.to_numpy())
    buildings = gpd.sjoin(buildings[["geometry"]], units[["code", "geometry"]], predicate="within")
    roads = gpd.read_file(SAMPLE, layer="roads").to_crs(metric)
    roads = roads[roads["name"].notna() & ~roads["name"].str.contains("隧道|地道", na=False)]
    roads = roads.dissolve(by="name").reset_index()[["name", "geometry"]]
    roads = roads.rename(columns={"name": "road"})
    near = gpd.sjoin_nearest(
        buildings.drop(columns="index_right"),
        roads,
        max_distance=MAX_ROAD_DISTANCE_M,
        distance_col="road_m",
    )
    near = near[~near.index.duplicated(keep="first")]
    rows = []
    for name, group in near.groupby("road"):
        road = roads.loc[roads["road"] == name, "geometry"].iloc[0]
        points = group.to_crs(4326).geometry
        for door, code, point in zip(_numbered(group, road), group["code"], points, strict=True):
            region = f"上海市{COUNTIES[str(code)[:6]]}"
            rows.append({
                "address": f"{region}{name}{door}号", "region": region, "street": name,
                "door_number": f"{door}号", "lon": round(point.x, 7), "lat": round(point.y, 7),
            })  # fmt: skip
    table = pd.DataFrame(rows)
    return table.drop_duplicates("address").sort_values("address").reset_index(drop=True)


def main() -> None:
    """Rewrite both CSVs (see the module docstring)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, required=True, help="plan made as `make demo` does")
    args = parser.parse_args()
    build_roster(args.plan).to_csv(ROSTER, index=False)
    addresses = build_addresses()
    addresses.to_csv(ADDRESSES, index=False)
    logger.info("wrote %s and %s (%d addresses)", ROSTER.name, ADDRESSES.name, len(addresses))


if __name__ == "__main__":
    main()
