"""wangge: management grids (網格) for Chinese communities and villages.

The library flows in one direction: read inputs (:mod:`gis.inputs.read`), estimate households
(:mod:`gis.inputs.households`), cut street blocks (:mod:`gis.blocks.build`), build the block graph
(:mod:`gis.blocks.graph`), partition, validate, code, store, serve.
"""

from gis.blocks.build import BlockSet, build_blocks
from gis.errors import WanggeError
from gis.inputs.read import Area, read_area

__all__ = ["Area", "BlockSet", "WanggeError", "build_blocks", "read_area"]
__version__ = "0.1.0"
