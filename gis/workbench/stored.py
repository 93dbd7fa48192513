"""Adjust a stored plan and propose the result for approval (动态调整, 上报审定).

Households change; the street office adjusts the live plan as little as possible
(:func:`gis.workbench.adjust.adjust`) and proposes the result; the district approves it
(:meth:`gis.store.Store.approve`). What :func:`adjust_version` adds to the library call:

* the plan is the store's version (the live one by default), rebuilt on the blocks of the area
  it was drawn from (:func:`~gis.workbench.adjust.plan_from_grids`) with the households it
  was stored with;
* redrawn grids are coded in the version's own scheme: the one it was published with (its
  ``code_scheme`` parameter), else the one its codes follow (:func:`gis.rules.codes.
  scheme_of`), so a ``stats12`` or ``local`` plan stays so;
* no code retired by *any* earlier version in the store is given out again
  (:meth:`~gis.store.Store.retired_codes`), not only the codes of the version adjusted;
* the result is stored for review (``submitted``, or a ``draft``), never live at once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import geopandas as gpd
import numpy as np

from gis import columns as col
from gis.blocks.build import BlockSet
from gis.errors import CodeError
from gis.options import Cuts, check_cuts
from gis.rules.codes import AUTO_SCHEME, resolve_scheme, scheme_of
from gis.store import Store, VersionInfo
from gis.store.plan import VERSION_ID
from gis.workbench.adjust import Adjustment, adjust, plan_from_grids


def stored_cuts(info: VersionInfo) -> Cuts:
    """How the compounds of a stored version were cut (its report's ``cuts``); a version
    whose report does not say was drawn before streets-first cutting: ``compact``."""
    return check_cuts(info.report.get("cuts", "compact"))


def stored_scheme(info: VersionInfo, grids: gpd.GeoDataFrame) -> str:
    """The code scheme of a stored version: as published, else as its codes show.

    Raises
    ------
    CodeError
        The codes follow no single scheme and none was stored with the version.
    """
    given = info.parameters.get("code_scheme")
    if isinstance(given, str) and given and given != AUTO_SCHEME:
        return resolve_scheme(given, grids[col.PARENT_CODE].unique())
    found = scheme_of(grids[col.GRID_CODE], grids[col.PARENT_CODE])
    if found is None:
        msg = (
            f"the grid codes of version {info.id} follow no one code scheme (village6, "
            "beijing15, stats12, local); re-code the plan before adjusting it"
        )
        raise CodeError(msg)
    return found


def adjust_version(
    store: Store,
    blockset: BlockSet,
    households: gpd.GeoDataFrame,
    *,
    author: str,
    note: str = "",
    version_id: int | None = None,
    seed: int | np.random.Generator | None = 0,
    submit: bool = True,
) -> tuple[Adjustment, VersionInfo]:
    """Adjust a stored version to new households and store the result for review.

    Parameters
    ----------
    store
        The plan store.
    blockset
        The blocks of the area the version was drawn from (its households as they were).
    households
        The new household features (points or polygons) with ``households``.
    author, note
        Who proposes the adjustment and why.
    version_id
        The version adjusted (default: the live one).
    seed
        Seed of the repair's searches.
    submit
        Send it for approval at once (else store a draft).

    Returns
    -------
    tuple of (Adjustment, VersionInfo)
        What changed, and the version stored for review.
    """
    info = store.version(version_id)
    stored = store.read_grids(info.id)
    scheme = stored_scheme(info, stored)
    plan = plan_from_grids(stored.drop(columns=[VERSION_ID], errors="ignore"), blockset,
                           band=info.band, code_scheme=scheme,
                           cuts=stored_cuts(info))  # fmt: skip
    counted = stored.set_index(col.GRID_CODE)[col.HOUSEHOLDS]
    grids = plan.grids.assign(**{col.HOUSEHOLDS: plan.grids[col.GRID_CODE].map(counted)})
    plan = dataclasses.replace(plan, grids=grids)  # as stored: the change is measured from it
    result = adjust(plan, households, seed=seed, blockset=blockset,
                    retired=store.retired_codes())  # fmt: skip
    units = store.read_units()
    parameters: dict[str, Any] = {
        **info.parameters,
        "code_scheme": scheme,
        "adjusted_from": info.id,
    }
    report = {
        "adjustment": {
            "out_of_band": list(result.out_of_band),
            "changed": list(result.changed),
            "households_moved": result.households_moved,
            "households_total": result.households_total,
        }
    }
    proposed = store.propose(
        result.plan.grids, author=author, note=note or f"adjusted from version {info.id}",
        parameters=parameters, report=report, units=None if units.empty else units,
        band=info.band, submit=submit,
    )  # fmt: skip
    return result, proposed
