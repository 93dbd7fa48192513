"""The staffing report of a plan: grids without a grid worker (一格一员 broken, dedicated
grids included) and workers holding several grids, with the households they serve.

A person is known by name and phone (the ID number used for real-name registration is
never stored, see :mod:`gis.rules.staff`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gis import columns as col
from gis.rules.staff import grids_without_worker


@dataclass(frozen=True)
class Holder:
    """A grid worker holding several grids, and their total household load."""

    name: str
    phone: str
    grids: list[str]
    households: int


@dataclass(frozen=True)
class StaffReport:
    """Who is missing where, and who carries several grids.

    Attributes
    ----------
    grids
        Grids of the plan (the live version's).
    without_worker
        ``{"grid_code", "kind", "households"}`` of every grid without a 网格员, by code.
    holders
        Workers on two grids or more, the heaviest load first.
    """

    grids: int
    without_worker: list[dict[str, Any]] = field(default_factory=list)
    holders: list[Holder] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "grids": self.grids,
            "without_worker": self.without_worker,
            "holders": [vars(h) for h in self.holders],
        }


def staff_report(roster: pd.DataFrame, grids: pd.DataFrame) -> StaffReport:
    """The staffing report of ``grids`` (``grid_code``, ``kind``, ``households``) under
    ``roster`` (``grid_code``, ``name``, ``role``, ``phone``; rows of cells and units are
    ignored here).

    Examples
    --------
    >>> grids = pd.DataFrame({"grid_code": ["A", "B", "D"], "kind": ["ordinary"] * 2 +
    ...                       ["dedicated"], "households": [400, 300, 0]})
    >>> roster = pd.DataFrame({"grid_code": ["A", "B"], "name": ["王芳"] * 2,
    ...                        "role": ["worker"] * 2, "phone": ["13800000000"] * 2})
    >>> report = staff_report(roster, grids)
    >>> [g["grid_code"] for g in report.without_worker], report.holders[0].households
    (['D'], 700)
    """
    table = grids.assign(**{col.GRID_CODE: grids[col.GRID_CODE].astype(str)})
    households = dict(zip(table[col.GRID_CODE], table[col.HOUSEHOLDS].astype(int), strict=True))
    kinds = dict(zip(table[col.GRID_CODE], table[col.KIND].astype(str), strict=True))
    on_grids = roster[roster[col.GRID_CODE].notna() & (roster[col.GRID_CODE] != "")]
    missing = grids_without_worker(on_grids, table)
    workers = on_grids[on_grids["role"] == "worker"]
    workers = workers[workers[col.GRID_CODE].astype(str).isin(households)]
    holders = []
    for (name, phone), rows in workers.groupby(["name", "phone"], sort=True):
        codes = sorted(set(rows[col.GRID_CODE].astype(str)))
        if len(codes) > 1:
            load = sum(households[c] for c in codes)
            holders.append(Holder(str(name), str(phone), codes, int(load)))
    holders.sort(key=lambda h: (-h.households, h.name, h.phone))
    return StaffReport(
        grids=len(table),
        without_worker=[
            {"grid_code": c, "kind": kinds[c], "households": int(households[c])} for c in missing
        ],
        holders=holders,
    )
