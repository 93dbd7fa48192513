"""Partitioning street blocks into management grids (網格) inside a household band.

:func:`run_partition` is the entry point: it splits blocks above the maximum between their
buildings (:mod:`gis.cutting.atoms`, :mod:`gis.cutting.split`), partitions every administrative unit
separately (:mod:`gis.search.local`), dissolves each grid into one polygon and checks the
result from geometry alone (:mod:`gis.checks.validate`).

Examples
--------
>>> from gis.datasets import grid_blockset
>>> plan = run_partition(grid_blockset(4, 4, households=150), rng=0)
>>> bool(plan.grids["households"].between(300, 800).all())
True
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import columns as col
from gis.cutting.atoms import (
    ATOM_ID,
    MAX_BUILDING_HOUSEHOLDS,
    N_BUILDINGS,
    REGION,
    Atoms,
    atoms_from_blockset,
)
from gis.search.band import REASON_SINGLE_BUILDING, REASON_TEXT, REASON_UNSPLITTABLE, choose_k
from gis.blocks.build import BlockSet
from gis.errors import (
    CRSError,
    GeometryError,
    InfeasibleBandError,
    InputTypeError,
    OptionError,
)
from gis.search.local import SearchOptions, search_partition
from gis.geometry.tiling import robust_outlines
from gis.checks.validate import to_json_value, validate_against

log = logging.getLogger(__name__)

ORDINARY = "ordinary"


@dataclass(frozen=True)
class Plan:
    """A partition of an area into grids.

    Attributes
    ----------
    grids
        One polygon per grid: ``grid_id`` (0..k-1, by unit then north→south, west→east),
        ``households``, ``kind`` (``ordinary``), ``parent_code``, ``parent_name``,
        ``area_m2``, ``n_blocks``; in the blockset CRS.
    atoms
        The atoms grids are made of (whole blocks, or pieces of split blocks): ``atom_id``,
        ``block_id``, ``unit_code``, ``households``, ``split``, ``grid_id``; polygons.
    report
        JSON-serialisable: ``ok``, ``options``, ``summary``, ``exceptions`` (grids outside
        the band, each with a ``reason`` code) and ``checks`` (:func:`validate_plan`).
    """

    grids: gpd.GeoDataFrame
    atoms: gpd.GeoDataFrame
    report: dict[str, Any]

    @property
    def ok(self) -> bool:
        """True when every check passed and no grid lies outside the band."""
        return bool(self.report["ok"])

    @property
    def assignment(self) -> pd.DataFrame:
        """Block → grid: one row per (block, grid) pair with the households it brings.

        A block split between its buildings appears once per grid its pieces went to.
        """
        return (
            self.atoms.groupby([col.BLOCK_ID, col.GRID_ID], as_index=False)[col.HOUSEHOLDS]
            .sum()
            .sort_values([col.BLOCK_ID, col.GRID_ID], ignore_index=True)
        )


def check_band(min_households: int, max_households: int, target: int) -> None:
    """Refuse impossible band options with a message naming the value and the fix.

    Raises
    ------
    InputTypeError
        When an option is not an integer.
    OptionError
        When an option is negative, ``min > max``, the target lies outside the band, or the
        maximum is zero.
    """
    named = {"min_households": min_households, "max_households": max_households, "target": target}
    for name, value in named.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            msg = f"{name} must be an integer number of households, got {value!r}"
            raise InputTypeError(msg)
        if value < 0:
            msg = f"{name} must not be negative, got {value}; give a household count ≥ 0"
            raise OptionError(msg)
    if max_households == 0:
        msg = (
            "max_households is 0: no grid holding households can meet that band; give a maximum > 0"
        )
        raise OptionError(msg)
    if min_households > max_households:
        msg = (
            f"min_households ({min_households}) is above max_households ({max_households}); "
            "swap them or lower the minimum"
        )
        raise OptionError(msg)
    if not min_households <= target <= max_households:
        msg = (
            f"target ({target}) lies outside the band {min_households}–{max_households}; "
            "choose a target between the minimum and the maximum"
        )
        raise OptionError(msg)


def run_partition(
    blockset: BlockSet,
    *,
    min_households: int = 300,
    max_households: int = 800,
    target: int = 500,
    rng: int | np.random.Generator | None = None,
    validate: bool = True,
    whole_blocks: Collection[int] = (),
) -> Plan:
    """Partition street blocks into contiguous grids of ``min_households``–``max_households``.

    Parameters
    ----------
    blockset
        Street blocks and what lies in them, in a metric CRS (see :class:`gis.blocks.build.BlockSet`).
    min_households, max_households
        The household band every ordinary grid should meet.
    target
        The preferred grid size, inside the band.
    rng
        Seed or generator; the same seed gives the same plan.
    validate
        Recompute every check from geometry (:func:`gis.checks.validate.validate_plan`) into the
        report; switch off only for speed when the caller validates itself.
    whole_blocks
        Ids of blocks never split even above the maximum (natural villages, see
        :mod:`gis.rules.villages`); such a block becomes a grid of its own and is reported.

    Returns
    -------
    Plan
        Always covers every block; grids that cannot meet the band are listed in
        ``report["exceptions"]`` with a reason.

    Raises
    ------
    OptionError
        Impossible options (see :func:`check_band`).
    InfeasibleBandError
        When the band is so narrow that no unit's households can be divided into it.
    CRSError
        When the blockset is not in a projected CRS.
    GeometryError
        When the blockset holds no blocks.
    """
    check_band(min_households, max_households, target)
    if blockset.crs is None or not blockset.crs.is_projected:
        msg = (
            f"blocks must be in a projected metric CRS, got {blockset.crs}; "
            "build them with a metric CRS"
        )
        raise CRSError(msg)
    if len(blockset.blocks) == 0:
        msg = "the blockset holds no blocks: nothing to partition; check the area's boundary"
        raise GeometryError(msg)
    gen = np.random.default_rng(rng)
    started = time.perf_counter()
    options = SearchOptions(min_households, max_households, target)
    atoms = atoms_from_blockset(
        blockset,
        max_households=max_households,
        target_households=target,
        min_households=min_households,
        whole_blocks=whole_blocks,
    )
    _refuse_narrow_band(atoms, options)
    t_atoms = time.perf_counter()

    frame = atoms.frame
    labels = np.full(len(frame), -1, dtype=np.int64)
    reasons: dict[int, str] = {}
    for unit in sorted(frame[col.UNIT_CODE].unique().tolist(), key=str):
        unit_rng = np.random.default_rng(int(gen.integers(2**63 - 1)))
        idx = np.flatnonzero((frame[col.UNIT_CODE] == unit).to_numpy())
        lab, why = _partition_unit(atoms, idx, options, unit_rng)
        offset = int(labels.max()) + 1
        labels[idx] = lab + offset
        reasons.update({g + offset: r for g, r in why.items()})
    t_search = time.perf_counter()

    grids, grid_of_label = _dissolve(frame, labels, blockset)
    atoms_out = frame.assign(**{col.GRID_ID: grid_of_label[labels]})
    exceptions = _exceptions(grids, grid_of_label, reasons, options)
    t_dissolve = time.perf_counter()

    report: dict[str, Any] = {
        "options": {
            "min_households": min_households,
            "max_households": max_households,
            "target": target,
        },
        "summary": {
            "n_grids": len(grids),
            "n_blocks": len(blockset.blocks),
            "n_atoms": len(frame),
            "blocks_split": int(frame.loc[frame["split"], col.BLOCK_ID].nunique()),
            "households": int(frame[col.HOUSEHOLDS].sum()),
            "share_in_band": float(
                grids[col.HOUSEHOLDS].between(min_households, max_households).mean()
            )
            if len(grids)
            else 1.0,
            "seconds": {
                "atoms": t_atoms - started,
                "search": t_search - t_atoms,
                "dissolve": t_dissolve - t_search,
            },
        },
        "exceptions": exceptions,
    }
    ok = not exceptions
    if validate:
        checks = validate_against(
            grids, blockset, min_households=min_households, max_households=max_households
        )
        report["checks"] = checks.to_dict()
        report["summary"]["seconds"]["validate"] = time.perf_counter() - t_dissolve
        ok = ok and checks.ok
    report["ok"] = ok
    log.info(
        "%d grids, %d exceptions, %.1f s",
        len(grids),
        len(exceptions),
        time.perf_counter() - started,
    )
    return Plan(grids=grids, atoms=atoms_out, report=report)


def _partition_unit(
    atoms: Atoms, idx: np.ndarray, options: SearchOptions, rng: np.random.Generator
) -> tuple[np.ndarray, dict[int, str]]:
    """Partition the atoms ``idx`` of one unit; labels local to the unit."""
    frame = atoms.frame.iloc[idx]
    local = pd.Series(np.arange(len(idx)), index=frame[ATOM_ID].to_numpy())
    e = atoms.edges
    e = e[e["u"].isin(local.index) & e["v"].isin(local.index)]
    u = local.reindex(e["u"].to_numpy()).to_numpy()
    v = local.reindex(e["v"].to_numpy()).to_numpy()
    shared = e[col.SHARED_M].to_numpy()
    penalty = e["penalty"].to_numpy()
    geoms = frame.geometry.to_numpy()
    perimeter = shapely.length(geoms)
    extra = np.zeros(len(idx))
    np.add.at(extra, u, shared * penalty)
    np.add.at(extra, v, shared * penalty)
    hh = frame[col.HOUSEHOLDS].to_numpy()
    heavy: dict[int, str] = {}
    for i in np.flatnonzero(hh > options.max_households).tolist():
        single = (
            frame[MAX_BUILDING_HOUSEHOLDS].iloc[i] > options.max_households
            or frame[N_BUILDINGS].iloc[i] == 1
        )
        heavy[i] = REASON_SINGLE_BUILDING if single else REASON_UNSPLITTABLE
    result = search_partition(
        hh,
        shapely.area(geoms),
        perimeter + extra,
        (u, v, shared * (1.0 + penalty)),
        options=options,
        heavy_reason=heavy,
        groups=frame[REGION].to_numpy(),
        rng=rng,
    )
    return result.labels, result.reasons


def _refuse_narrow_band(atoms: Atoms, options: SearchOptions) -> None:
    """Raise when no unit's households can be divided into the band at all."""
    frame = atoms.frame
    totals = frame.groupby(col.UNIT_CODE)[col.HOUSEHOLDS]
    feasible_any = False
    worst: tuple[Any, int] | None = None
    for unit, hh in totals:
        heavy = [int(x) for x in hh if x > options.max_households]
        total = int(hh.sum())
        if total < options.min_households:
            continue
        _, feasible = choose_k(total, heavy, options)
        feasible_any |= feasible
        if not feasible and worst is None:
            worst = (unit, total)
    if not feasible_any and worst is not None:
        msg = (
            f"the band {options.min_households}–{options.max_households} is too narrow: "
            f"no unit's households can be divided into it (e.g. unit {worst[0]} holds "
            f"{worst[1]}); widen the band"
        )
        raise InfeasibleBandError(msg)


def _dissolve(
    frame: gpd.GeoDataFrame, labels: np.ndarray, blockset: BlockSet
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """One polygon per label; grid ids ordered by unit, then north→south, west→east."""
    geoms = frame.geometry.to_numpy()
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(labels.max() + 2))
    polys = []
    for g in range(labels.max() + 1):
        members = geoms[order[bounds[g] : bounds[g + 1]]]
        polys.append(members[0] if len(members) == 1 else shapely.union_all(members))
    poly_arr = robust_outlines(np.asarray(polys, dtype=object), blockset.crs)
    first = order[bounds[:-1]]
    units = frame[col.UNIT_CODE].to_numpy()[first]
    names = frame[col.UNIT_NAME].to_numpy()[first]
    hh = np.bincount(labels, weights=frame[col.HOUSEHOLDS].to_numpy()).astype(np.int64)
    n_blocks = frame.assign(_g=labels).groupby("_g")[col.BLOCK_ID].nunique().to_numpy()
    point = shapely.point_on_surface(poly_arr)
    key = pd.DataFrame(
        {
            "unit": [str(x) for x in units],
            "north": -np.round(shapely.get_y(point)),
            "east": np.round(shapely.get_x(point)),
            "label": np.arange(len(polys)),
        }
    ).sort_values(["unit", "north", "east", "label"])
    grid_of_label = np.empty(len(polys), dtype=np.int64)
    grid_of_label[key["label"].to_numpy()] = np.arange(len(polys))
    rank = key["label"].to_numpy()
    grids = gpd.GeoDataFrame(
        {
            col.GRID_ID: np.arange(len(polys), dtype=np.int64),
            col.HOUSEHOLDS: hh[rank],
            col.KIND: ORDINARY,
            col.PARENT_CODE: units[rank],
            col.PARENT_NAME: names[rank],
            col.AREA_M2: shapely.area(poly_arr[rank]),
            "n_blocks": n_blocks[rank],
        },
        geometry=gpd.GeoSeries(poly_arr[rank], crs=blockset.crs),
        crs=blockset.crs,
    )
    return grids, grid_of_label


def _exceptions(
    grids: gpd.GeoDataFrame,
    grid_of_label: np.ndarray,
    reasons: dict[int, str],
    options: SearchOptions,
) -> list[dict[str, Any]]:
    """Grids outside the band, each with a machine-readable reason."""
    out = []
    for label, reason in sorted(reasons.items(), key=lambda kv: int(grid_of_label[kv[0]])):
        gid = int(grid_of_label[label])
        hh = int(grids[col.HOUSEHOLDS].iloc[gid])
        side = "above max" if hh > options.max_households else "below min"
        out.append(
            {
                col.GRID_ID: gid,
                col.PARENT_CODE: to_json_value(grids[col.PARENT_CODE].iloc[gid]),
                col.HOUSEHOLDS: hh,
                "reason": reason,
                "detail": f"{REASON_TEXT.get(reason, reason)}: {hh} households, {side} "
                f"({options.min_households}–{options.max_households})",
            }
        )
    return out


def polsby_popper(geoms: gpd.GeoSeries) -> np.ndarray:
    """Polsby–Popper compactness ``4 pi A / P²`` of each polygon (1 for a disc)."""
    arr = geoms.to_numpy()
    perim = shapely.length(arr)
    return np.where(perim > 0, 4 * math.pi * shapely.area(arr) / np.maximum(perim, 1e-12) ** 2, 0)
