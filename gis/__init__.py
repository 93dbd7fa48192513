"""wangge: management grids (网格) for Chinese communities and villages.

The public API, which the command line, the notebooks, the service and the benchmarks call:

>>> import gis
>>> area = gis.read_area("data/shanghai_bund.gpkg")               # doctest: +SKIP
>>> plan = gis.partition(area, band=gis.Band(300, 800, target=500), seed=1)  # doctest: +SKIP
>>> gis.validate(plan, area).ok                                     # doctest: +SKIP
True

The work flows through the subpackages in this order: :mod:`gis.inputs` (read an area,
settle households) → :mod:`gis.blocks` (street blocks) → :mod:`gis.cutting` (blocks above the
maximum cut into atoms) → :mod:`gis.search` (the partition search) → :mod:`gis.rules`
(dedicated grids, villages, cells, codes, staff) → :mod:`gis.checks` (proof from geometry) →
:mod:`gis.workbench` (edit, adjust) → :mod:`gis.outputs` (files, maps, notices) →
:mod:`gis.store` (versioned plans) → :mod:`gis.serving` (what the service needs).
"""

from gis.blocks.build import BlockSet, build_blocks
from gis.errors import WanggeError
from gis.inputs.read import Area, read_area
from gis.options import Band, Tolerances
from gis.pipeline import partition, validate
from gis.plan import Plan
from gis.report import GridException, PlanReport
from gis.store import open_store
from gis.workbench import edit
from gis.workbench.adjust import Adjustment, adjust, plan_from_grids

__all__ = [
    "Adjustment",
    "Area",
    "Band",
    "BlockSet",
    "GridException",
    "Plan",
    "PlanReport",
    "Tolerances",
    "WanggeError",
    "adjust",
    "assign_points",
    "build_blocks",
    "edit",
    "open_store",
    "partition",
    "plan_from_grids",
    "read_area",
    "validate",
    "write_notices",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``gis.write_notices`` loads matplotlib only when notices are drawn, and
    ``gis.assign_points`` pyarrow's readers only when points are assigned (PEP 562)."""
    if name == "assign_points":
        from gis.serving.assign import assign_points  # noqa: PLC0415

        return assign_points
    if name == "write_notices":
        from gis.outputs.notice import write_notices  # noqa: PLC0415

        return write_notices
    msg = f"module 'gis' has no attribute {name!r}"
    raise AttributeError(msg)
