"""The report of a plan: one typed :class:`PlanReport`, built in one place.

:func:`build_report` is the only function that makes a report, whether the plan was just
partitioned (:func:`gis.partition`), edited (:mod:`gis.edit`), adjusted (:func:`gis.adjust`)
or read back and checked (:func:`gis.validate`). Every figure has one definition:

* households per grid, coverage, contiguity, split buildings, compactness and street share come
  from the geometry checks (:func:`gis.checks.validate.validate_plan`), never from stored
  numbers;
* the in-band share is :meth:`gis.Band.share_in_band` of the ordinary grids' recounted
  households;
* a grid outside the band is an :class:`GridException` with a machine-readable reason
  (:data:`gis.search.band.REASON_TEXT`). A reason found when the grid was drawn (a single
  building above the maximum, a natural village kept whole…) stays with the grid while the
  grid is unchanged; a grid redrawn by an edit gets the reason its atoms explain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import columns as col
from gis.checks.validate import Report as Checks
from gis.checks.validate import to_json_value
from gis.cutting.atoms import MAX_BUILDING_HOUSEHOLDS as _MAX_BUILDING
from gis.cutting.atoms import N_BUILDINGS as _N_BUILDINGS
from gis.options import Band
from gis.search.band import (
    REASON_NOT_REACHED,
    REASON_SINGLE_BUILDING,
    REASON_TEXT,
    REASON_UNIT_BELOW_MIN,
    REASON_UNSPLITTABLE,
)

ORDINARY = col.ORDINARY


@dataclass(frozen=True)
class GridException:
    """An ordinary grid outside the band, and why."""

    grid_id: int
    parent_code: str | None
    households: int
    reason: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            col.GRID_ID: self.grid_id,
            col.PARENT_CODE: self.parent_code,
            col.HOUSEHOLDS: self.households,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class UnitFigures:
    """Per administrative unit: grids by kind, households, in-band share."""

    unit_code: str
    unit_name: str
    parent_code: str | None
    n_grids: int
    n_ordinary: int
    n_dedicated: int
    households: int
    share_in_band: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            col.UNIT_CODE: self.unit_code,
            col.UNIT_NAME: self.unit_name,
            col.PARENT_CODE: self.parent_code,
            "n_grids": self.n_grids,
            "n_ordinary": self.n_ordinary,
            "n_dedicated": self.n_dedicated,
            col.HOUSEHOLDS: self.households,
            "share_in_band": self.share_in_band,
        }


@dataclass(frozen=True)
class PlanReport:
    """Everything known about a plan: its checks, its exceptions, its units and its rules.

    Attributes
    ----------
    band
        The band the plan was drawn for.
    checks
        The geometry checks (violations, plan-wide metrics, per-grid figures).
    exceptions
        Ordinary grids outside the band, each with its reason.
    units
        Per-unit figures.
    n_blocks, n_atoms, blocks_split
        Street blocks, atoms (blocks or pieces of blocks) and blocks split between grids.
    sections
        What each rule did (``dedicated``, ``villages``, ``codes``, ``cells``, ``staff``,
        ``edit``, ``source``…), JSON-serialisable.
    """

    band: Band
    checks: Checks
    exceptions: tuple[GridException, ...]
    units: tuple[UnitFigures, ...] = ()
    n_blocks: int = 0
    n_atoms: int = 0
    blocks_split: int = 0
    sections: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no check found a violation and no ordinary grid lies outside the band."""
        return self.checks.ok and not self.exceptions

    @property
    def metrics(self) -> dict[str, Any]:
        """Plan-wide figures of the checks (shares 0–1, areas m², lengths m)."""
        return self.checks.metrics

    @property
    def share_in_band(self) -> float:
        """Share of ordinary grids inside the band (recounted from geometry)."""
        return float(self.checks.metrics["share_in_band"])

    def reasons(self) -> dict[int, str]:
        """Grid id → reason of every exception (what an edit carries to unchanged grids)."""
        return {e.grid_id: e.reason for e in self.exceptions}

    def with_sections(self, **sections: Any) -> PlanReport:
        """A copy with sections added or replaced."""
        return PlanReport(
            band=self.band,
            checks=self.checks,
            exceptions=self.exceptions,
            units=self.units,
            n_blocks=self.n_blocks,
            n_atoms=self.n_atoms,
            blocks_split=self.blocks_split,
            sections={**self.sections, **sections},
        )

    def summary(self) -> dict[str, Any]:
        """The headline figures: grids by kind, blocks, atoms, households, in-band share."""
        m = self.checks.metrics
        return {
            "n_grids": int(m["n_grids"]),
            "n_ordinary": int(m["n_ordinary"]),
            "n_dedicated": int(m["n_grids"]) - int(m["n_ordinary"]),
            "n_blocks": self.n_blocks,
            "n_atoms": self.n_atoms,
            "blocks_split": self.blocks_split,
            "households": int(m["households_total"]),
            "share_in_band": self.share_in_band,
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON report written beside a plan file."""
        return {
            "ok": self.ok,
            "band": self.band.to_dict(),
            "summary": self.summary(),
            "exceptions": [e.to_dict() for e in self.exceptions],
            "units": [u.to_dict() for u in self.units],
            "checks": self.checks.to_dict(),
            **{k: _jsonable(v) for k, v in self.sections.items()},
        }


def build_report(
    grids: gpd.GeoDataFrame,
    checks: Checks,
    *,
    band: Band,
    atoms: gpd.GeoDataFrame | None = None,
    units: gpd.GeoDataFrame | None = None,
    reasons: Mapping[int, str] | None = None,
    n_blocks: int = 0,
    sections: Mapping[str, Any] | None = None,
) -> PlanReport:
    """The report of a plan (the one place a report is made).

    Parameters
    ----------
    grids
        The plan's grids (``grid_id``, ``kind``, ``parent_code``, ``households``).
    checks
        Their geometry checks (:func:`gis.checks.validate.validate_plan`).
    band
        The plan's band.
    atoms
        The plan's atoms with ``grid_id``: explain exceptions without a known reason and
        count split blocks.
    units
        Administrative units (``unit_code``, ``unit_name``, ``parent_code``) for per-unit
        figures.
    reasons
        Known reasons by grid id (from the search, rules, or the grid's previous report).
    n_blocks
        Street blocks the plan was drawn from.
    sections
        What each rule did.
    """
    recount = checks.grids.set_index(col.GRID_ID)[col.HOUSEHOLDS] if len(checks.grids) else None
    exceptions = _exceptions(grids, band, atoms, reasons or {}, recount)
    unit_rows = _unit_figures(grids, units, band) if units is not None else ()
    split = 0
    if atoms is not None and len(atoms):
        split = int((atoms.groupby(col.BLOCK_ID)[col.GRID_ID].nunique() > 1).sum())
    return PlanReport(
        band=band,
        checks=checks,
        exceptions=tuple(exceptions),
        units=tuple(unit_rows),
        n_blocks=int(n_blocks),
        n_atoms=0 if atoms is None else len(atoms),
        blocks_split=split,
        sections=dict(sections or {}),
    )


def explain(
    grid_id: int, grid_households: int, atoms: gpd.GeoDataFrame | None, band: Band, unit_total: int
) -> str:
    """The reason an ordinary grid lies outside the band, read from its atoms.

    A grid holding an atom above the maximum is forced by that atom (one building above the
    maximum, or a block with nothing to cut between); a grid whose unit holds fewer
    households than the minimum can never reach it; anything else is a band the search (or an
    edit) did not reach.
    """
    if grid_households > band.max_households and atoms is not None and len(atoms):
        mine = atoms[atoms[col.GRID_ID] == grid_id]
        heavy = mine[mine[col.HOUSEHOLDS] > band.max_households]
        if len(heavy):
            row = heavy.iloc[0]
            single = (_MAX_BUILDING in heavy and row[_MAX_BUILDING] > band.max_households) or (
                _N_BUILDINGS in heavy and row[_N_BUILDINGS] == 1
            )
            return REASON_SINGLE_BUILDING if single else REASON_UNSPLITTABLE
    if grid_households < band.min_households and unit_total < band.min_households:
        return REASON_UNIT_BELOW_MIN
    return REASON_NOT_REACHED


def _exceptions(
    grids: gpd.GeoDataFrame,
    band: Band,
    atoms: gpd.GeoDataFrame | None,
    reasons: Mapping[int, str],
    recount: pd.Series | None,
) -> list[GridException]:
    """Ordinary grids outside the band by their recounted households, in grid id order."""
    if not len(grids):
        return []
    ordinary = (
        grids[col.KIND].astype(str) == ORDINARY
        if col.KIND in grids
        else pd.Series(True, index=grids.index)
    )
    ids = grids[col.GRID_ID].astype(np.int64)
    hh = ids.map(recount) if recount is not None else grids[col.HOUSEHOLDS]
    hh = hh.fillna(grids[col.HOUSEHOLDS]).astype(np.int64)
    parents = grids[col.PARENT_CODE].astype(str)
    unit_total = hh[ordinary].groupby(parents[ordinary]).sum().to_dict()
    out: list[GridException] = []
    for i in np.flatnonzero(ordinary.to_numpy() & ~band.contains(hh.to_numpy())):
        gid, h, parent = int(ids.iloc[i]), int(hh.iloc[i]), parents.iloc[i]
        reason = reasons.get(gid) or explain(gid, h, atoms, band, int(unit_total.get(parent, 0)))
        text = REASON_TEXT.get(reason, reason)
        out.append(
            GridException(
                grid_id=gid,
                parent_code=to_json_value(grids[col.PARENT_CODE].iloc[i]),
                households=h,
                reason=reason,
                detail=f"{text}: {h} households, {band.side(h)} ({band})",
            )
        )
    return sorted(out, key=lambda e: e.grid_id)


def _unit_figures(
    grids: gpd.GeoDataFrame, units: gpd.GeoDataFrame, band: Band
) -> list[UnitFigures]:
    out = []
    hh = grids[col.HOUSEHOLDS].to_numpy()
    ordinary = (
        grids[col.KIND].to_numpy() == ORDINARY
        if col.KIND in grids
        else np.ones(len(grids), dtype=bool)
    )
    # rows of each unit's grids, found once (not a filtered copy of the grids per unit)
    groups = pd.Series(np.arange(len(grids))).groupby(grids[col.PARENT_CODE].astype(str).to_numpy())
    rows_of: dict[str, np.ndarray] = {str(k): np.asarray(v) for k, v in groups.indices.items()}
    none = np.empty(0, dtype=np.int64)
    for unit in units.drop(columns=units.geometry.name).to_dict("records"):
        code = str(unit[col.UNIT_CODE])
        rows = rows_of.get(code, none)
        ordi = rows[ordinary[rows]]
        out.append(
            UnitFigures(
                unit_code=code,
                unit_name=str(unit.get(col.UNIT_NAME, code)),
                parent_code=_text_or_none(unit.get(col.PARENT_CODE)),
                n_grids=len(rows),
                n_ordinary=len(ordi),
                n_dedicated=len(rows) - len(ordi),
                households=int(hh[rows].sum()),
                share_in_band=band.share_in_band(hh[ordi]),
            )
        )
    return out


def _text_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return to_json_value(value)
