"""Fixed column and layer names shared by every module (see ``INPUT_FORMAT.md``)."""

from typing import Final

BLOCK_ID: Final = "block_id"
GRID_ID: Final = "grid_id"
GRID_CODE: Final = "grid_code"
HOUSEHOLDS: Final = "households"
HOUSEHOLDS_ESTIMATED: Final = "households_estimated"
BUILDING_ID: Final = "building_id"
KIND: Final = "kind"
UNIT_CODE: Final = "unit_code"
UNIT_NAME: Final = "unit_name"
PARENT_CODE: Final = "parent_code"
PARENT_NAME: Final = "parent_name"
AREA_M2: Final = "area_m2"
HIGHWAY: Final = "highway"
SHARED_M: Final = "shared_m"

LAYERS: Final = (
    "boundary",
    "roads",
    "households",
    "buildings",
    "sites",
    "water",
    "railways",
    "villages",
    "landuse",
    "pois",
    "barriers",
)

#: Values of ``kind``: an ordinary grid (held to the band) or a dedicated one (专属网格).
ORDINARY: Final = "ordinary"
DEDICATED: Final = "dedicated"

#: Optional columns of the ``boundary`` layer giving a unit its own rule (gis.rules.unit_rules).
RULE_COLUMNS: Final = (
    "band_min",
    "band_max",
    "band_target",
    "grids_min",
    "grids_max",
    "mode",
    "min_people",
)
