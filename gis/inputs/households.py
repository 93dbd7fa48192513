"""Estimating households from building footprints, when no count is known.

Only residential buildings hold households. Whether a building is residential is decided from
every signal the data has, strongest first, and the deciding signal is recorded in
``residential_reason``:

1. its own type tag (``building`` = apartments, house, dormitory… or office, retail, school…);
2. a name that says what it is (…公寓, …小区, …新村 vs …大厦, …酒店, …银行, …中心);
3. a non-residential point of interest inside it (hotel, bank, office, museum, …);
4. the land use it stands in (residential vs commercial, retail, school, hospital, …);
5. its form: towers taller than ``tall_nonresidential_m`` and footprints larger than
   ``large_footprint_m2`` with no residential signal are taken as offices, malls, halls;
6. otherwise residential (the default in old urban fabric with untagged lane houses;
   ``default_residential=False`` turns it off).

Floors come from ``building:levels``/``levels``/``floors``, else ``height`` / storey height,
else a default per building type. Households = footprint × floors × net-to-gross ratio ÷
dwelling size. Every such count is marked ``households_estimated = True``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import columns as col

log = logging.getLogger(__name__)

RESIDENTIAL_TYPES = frozenset(
    {
        "apartments",
        "residential",
        "house",
        "detached",
        "semidetached_house",
        "terrace",
        "dormitory",
        "bungalow",
        "farm",
        "cabin",
        "houseboat",
        "static_caravan",
    }
)
NONRESIDENTIAL_TYPES = frozenset(
    {
        "commercial",
        "office",
        "retail",
        "industrial",
        "warehouse",
        "school",
        "university",
        "college",
        "kindergarten",
        "hospital",
        "church",
        "temple",
        "mosque",
        "cathedral",
        "chapel",
        "shrine",
        "public",
        "civic",
        "government",
        "train_station",
        "transportation",
        "garage",
        "garages",
        "parking",
        "hotel",
        "supermarket",
        "stadium",
        "sports_hall",
        "museum",
        "service",
        "roof",
        "construction",
        "bridge",
        "kiosk",
        "toilets",
        "shed",
        "hangar",
        "greenhouse",
        "power",
        "sports_centre",
        "theatre",
    }
)
NONRESIDENTIAL_LANDUSE = frozenset(
    {
        "commercial",
        "retail",
        "industrial",
        "school",
        "university",
        "college",
        "hospital",
        "military",
        "railway",
        "religious",
        "place_of_worship",
        "attraction",
        "pier",
        "park",
        "library",
        "fuel",
        "parking",
    }
)
NONRESIDENTIAL_POIS = frozenset(
    {
        "hotel",
        "bank",
        "office",
        "museum",
        "theatre",
        "cinema",
        "station",
        "ferry_terminal",
        "hospital",
        "school",
        "university",
        "college",
        "townhall",
        "courthouse",
        "police",
        "place_of_worship",
        "mall",
        "department_store",
        "attraction",
        "library",
        "post_office",
        "embassy",
        "consulate",
        "arts_centre",
    }
)
RESIDENTIAL_NAME = re.compile(
    r"(?:公寓|小区|小區|新村|里弄|花园|花園|苑|宿舍|住宅|家园|家園|邨|坊|公房)"
)
NONRESIDENTIAL_NAME = re.compile(
    r"(?:大厦|大廈|大楼|大樓|中心|银行|銀行|酒店|饭店|飯店|宾馆|賓館|商场|商場|广场|廣場|"
    r"医院|醫院|学校|學校|小学|中学|大学|博物馆|博物館|剧院|劇院|海关|海關|公司|集团|"
    r"办公|辦公|塔|Tower|Hotel|Bank|Center|Centre|Plaza|Mall|Building)",
    re.IGNORECASE,
)

#: Floors assumed per building type when neither levels nor height is known.
DEFAULT_FLOORS: Mapping[str, int] = {
    "house": 2,
    "detached": 2,
    "semidetached_house": 2,
    "terrace": 2,
    "bungalow": 1,
    "farm": 2,
    "apartments": 6,
    "residential": 6,
    "dormitory": 5,
}
UNKNOWN_TYPE_FLOORS = 3


def estimate_households(
    buildings: gpd.GeoDataFrame,
    *,
    landuse: gpd.GeoDataFrame | None = None,
    pois: gpd.GeoDataFrame | None = None,
    dwelling_m2: float = 90.0,
    net_to_gross: float = 0.75,
    storey_height_m: float = 3.0,
    tall_nonresidential_m: float = 100.0,
    large_footprint_m2: float = 5000.0,
    default_residential: bool = True,
    default_floors: Mapping[str, int] = DEFAULT_FLOORS,
) -> gpd.GeoDataFrame:
    """Estimate households per building, residential buildings only.

    Parameters
    ----------
    buildings
        Footprints in a metric CRS; tags used when present: ``building``, ``name``,
        ``building:levels``/``levels``/``floors``, ``height`` (m).
    landuse
        Land-use polygons with ``kind`` or ``landuse``.
    pois
        Points of interest with ``kind``, ``amenity``, ``tourism`` or ``office``.
    dwelling_m2
        Mean gross floor area of one dwelling, m².
    net_to_gross
        Share of gross floor area that is dwellings (the rest: stairs, corridors, walls).
    storey_height_m
        Height of one floor, to derive floors from ``height``.
    tall_nonresidential_m, large_footprint_m2
        Form thresholds for untagged non-residential buildings.
    default_residential
        Whether an untagged building with no other signal counts as residential.
    default_floors
        Floors per building type when nothing else is known.

    Returns
    -------
    geopandas.GeoDataFrame
        ``buildings`` with ``residential``, ``residential_reason``, ``floors``,
        ``households`` (int) and ``households_estimated`` (True).
    """
    out = buildings.copy()
    n = len(out)
    if n == 0:
        return _no_estimate(out)
    btype = _text(out, "building").str.lower()
    footprint = out.geometry.area.to_numpy()
    height = _number(out, "height")
    residential, reason = _residential(
        out,
        btype=btype,
        footprint=footprint,
        height=height,
        landuse=landuse,
        pois=pois,
        tall_nonresidential_m=tall_nonresidential_m,
        large_footprint_m2=large_footprint_m2,
        default_residential=default_residential,
    )
    levels = _levels(out)
    from_height = np.maximum(1, np.rint(height / storey_height_m))
    typed = btype.map(default_floors).fillna(UNKNOWN_TYPE_FLOORS).to_numpy(dtype=float)
    floors = np.where(~np.isnan(levels), levels, np.where(~np.isnan(height), from_height, typed))
    floors = np.maximum(1, floors).astype(np.int64)
    households = np.floor(footprint * floors * net_to_gross / dwelling_m2).astype(np.int64)
    households = np.where(residential, households, 0)
    out["residential"] = residential
    out["residential_reason"] = reason
    out["floors"] = floors
    out[col.HOUSEHOLDS] = households
    out[col.HOUSEHOLDS_ESTIMATED] = True
    log.info(
        "estimated %d households in %d of %d buildings (residential)",
        int(households.sum()),
        int(residential.sum()),
        n,
    )
    return out


def _no_estimate(out: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The estimate's columns on an empty building layer."""
    for column, dtype in (
        ("residential", bool),
        ("floors", "int64"),
        (col.HOUSEHOLDS, "int64"),
    ):
        out[column] = pd.Series([], dtype=dtype)
    out["residential_reason"] = pd.Series([], dtype=object)
    out[col.HOUSEHOLDS_ESTIMATED] = pd.Series([], dtype=bool)
    return out


def _residential(
    out: gpd.GeoDataFrame,
    *,
    btype: pd.Series,
    footprint: np.ndarray,
    height: np.ndarray,
    landuse: gpd.GeoDataFrame | None,
    pois: gpd.GeoDataFrame | None,
    tall_nonresidential_m: float,
    large_footprint_m2: float,
    default_residential: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each building is residential, and the signal that decided it (first wins)."""
    n = len(out)
    name = _text(out, "name")
    decided = np.zeros(n, dtype=bool)
    residential = np.zeros(n, dtype=bool)
    reason = np.full(n, "", dtype=object)

    def decide(mask: np.ndarray, value: bool, why: str) -> None:
        new = mask & ~decided
        residential[new] = value
        reason[new] = why
        decided[new] = True

    decide(btype.isin(RESIDENTIAL_TYPES).to_numpy(), True, "building type")
    decide(btype.isin(NONRESIDENTIAL_TYPES).to_numpy(), False, "building type")
    decide(name.str.contains(RESIDENTIAL_NAME).to_numpy(), True, "name")
    decide(name.str.contains(NONRESIDENTIAL_NAME).to_numpy(), False, "name")
    decide(_contains_poi(out, pois), False, "point of interest inside")
    lu = _landuse_kind(out, landuse)
    decide((lu == "residential").to_numpy(), True, "landuse residential")
    decide(lu.isin(NONRESIDENTIAL_LANDUSE).to_numpy(), False, "landuse " + "non-residential")
    decide(np.nan_to_num(height) > tall_nonresidential_m, False, "tall tower")
    decide(footprint > large_footprint_m2, False, "large footprint")
    decide(np.ones(n, dtype=bool), default_residential, "default")
    return residential, reason


def summarise_estimate(buildings: gpd.GeoDataFrame) -> dict[str, object]:
    """How many buildings and households each deciding signal accounts for."""
    groups = buildings.groupby(["residential", "residential_reason"])
    table = groups[col.HOUSEHOLDS].agg(["count", "sum"]).reset_index()
    return {
        "buildings": len(buildings),
        "residential_buildings": int(buildings["residential"].sum()),
        "households": int(buildings[col.HOUSEHOLDS].sum()),
        "by_signal": [
            {
                "residential": bool(r.residential),
                "signal": str(r.residential_reason),
                "buildings": int(r["count"]),
                "households": int(r["sum"]),
            }
            for _, r in table.iterrows()
        ],
    }


def _text(gdf: gpd.GeoDataFrame, column: str) -> pd.Series:
    if column not in gdf:
        return pd.Series([""] * len(gdf), index=gdf.index, dtype="object")
    return gdf[column].astype("string").fillna("").astype(str)


def _number(gdf: gpd.GeoDataFrame, column: str) -> np.ndarray:
    if column not in gdf:
        return np.full(len(gdf), np.nan)
    text = gdf[column].astype("string").str.extract(r"([0-9]+(?:\.[0-9]+)?)")[0]
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    return np.where(values > 0, values, np.nan)


def _levels(gdf: gpd.GeoDataFrame) -> np.ndarray:
    for column in ("building:levels", "levels", "floors", "building_levels"):
        if column in gdf:
            return _number(gdf, column)
    return np.full(len(gdf), np.nan)


def _contains_poi(buildings: gpd.GeoDataFrame, pois: gpd.GeoDataFrame | None) -> np.ndarray:
    hit = np.zeros(len(buildings), dtype=bool)
    if pois is None or pois.empty:
        return hit
    kind = pd.Series([""] * len(pois), index=pois.index, dtype="object")
    for column in ("kind", "amenity", "tourism", "office", "shop"):
        if column in pois:
            values = pois[column].astype("string").fillna("").astype(str)
            if column == "office":  # any office=* tag marks an office
                values = values.where(values == "", "office")
            kind = kind.where(kind != "", values)
    nonres = pois[kind.isin(NONRESIDENTIAL_POIS).to_numpy()]
    if nonres.empty:
        return hit
    pts = shapely.point_on_surface(nonres.geometry.to_numpy())
    bi, _ = shapely.STRtree(pts).query(buildings.geometry.to_numpy(), predicate="contains")
    hit[bi] = True
    return hit


def _landuse_kind(buildings: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame | None) -> pd.Series:
    kinds = pd.Series([""] * len(buildings), index=buildings.index, dtype="object")
    if landuse is None or landuse.empty:
        return kinds
    column = "kind" if "kind" in landuse else "landuse" if "landuse" in landuse else None
    if column is None:
        return kinds
    polys = landuse[landuse.geom_type.isin(["Polygon", "MultiPolygon"])]
    pts = shapely.point_on_surface(buildings.geometry.to_numpy())
    bi, li = shapely.STRtree(polys.geometry.to_numpy()).query(pts, predicate="within")
    values = polys[column].astype("string").fillna("").to_numpy()
    # smallest containing polygon wins (a school inside a residential district is a school)
    areas = polys.geometry.area.to_numpy()
    order = np.lexsort((areas[li], bi))
    bi, li = bi[order], li[order]
    first = np.ones(len(bi), dtype=bool)
    first[1:] = bi[1:] != bi[:-1]
    kinds.iloc[bi[first]] = values[li[first]]
    return kinds
