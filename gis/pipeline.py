"""The whole planner: from an area to a coded, checked plan, in one call.

:func:`partition` is what ``wangge partition``, the notebooks and the benchmarks run:

1. households are settled (counts from the ``households`` layer, else the buildings' column,
   else estimates) and the area is cut into street blocks (:mod:`gis.blocks`);
2. dedicated sites are carved out and become grids of their own (:mod:`gis.rules.hierarchy`);
3. natural villages become blocks that are never split (:mod:`gis.rules.villages`);
4. every administrative unit is partitioned on its own (:mod:`gis.search.partition`);
5. grids are numbered and coded (:mod:`gis.rules.codes`; default scheme ``auto``), unit cells
   are cut when asked (:mod:`gis.rules.cells`), a roster is checked when given;
6. the plan is checked from geometry alone and its report built (:mod:`gis.report`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import columns as col
from gis.blocks.build import BlockSet, build_blocks
from gis.checks.validate import (
    check_plan_table,
    table_for_report,
    validate_against,
    with_violations,
)
from gis.errors import CodeError, CRSError, InputTypeError, OptionError
from gis.geometry.ownership import count_households
from gis.geometry.tiling import robust_outlines
from gis.inputs.prepare import Estimate, Prepared, settle_households
from gis.inputs.read import Area, read_layer
from gis.options import DEFAULT_TOLERANCES, Band, Cuts, Progress, Tolerances, check_cuts
from gis.outputs.plan_file import read_band
from gis.parallel.cluster import describe_client
from gis.plan import Plan
from gis.report import PlanReport, build_report
from gis.rules.cells import CELL_CODE, unit_cells
from gis.rules.codes import AUTO_SCHEME, assign_codes, cell_codes, resolve_scheme
from gis.rules.dedicated import DEFAULT_SITE_KINDS
from gis.rules.hierarchy import absorb_empty_islands, carve_sites, combine_grids
from gis.rules.staff import grids_without_worker, read_roster
from gis.rules.unit_rules import RuleSet, UnitRule, resolve_rules, rules_report
from gis.rules.villages import VillageBlocks, village_blocks, village_report
from gis.search.band import REASON_UNIT_BELOW_MIN, REASON_VILLAGE
from gis.search.partition import Partition, partition_blocks

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)


def partition(
    area: Area | Prepared | BlockSet,
    *,
    band: Band | None = None,
    seed: int | np.random.Generator | None = None,
    estimate: Estimate = "auto",
    dedicated: bool = True,
    site_kinds: Collection[str] = DEFAULT_SITE_KINDS,
    min_site_area_m2: float = 2000.0,
    sites_outside: str = "error",
    max_site_households: int | None = None,
    villages: bool = True,
    code_scheme: str = AUTO_SCHEME,
    previous: gpd.GeoDataFrame | Plan | str | Path | None = None,
    retired: Iterable[str] = (),
    cells: int | None = None,
    roster: str | Path | None = None,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    progress: Progress | None = None,
    client: Client | None = None,
    rules: str | Path | Mapping[str, UnitRule] | None = None,
    cuts: Cuts = "streets",
) -> Plan:
    """Partition an area into ordinary and dedicated grids, unit by unit, coded and checked.

    Parameters
    ----------
    area
        An area read by :func:`gis.read_area` (metric CRS); or one already cut into blocks
        (:func:`gis.inputs.prepare.prepare_blocks`, to partition it several times); or bare
        street blocks (then there are no sites or villages to apply).
    band
        The household band of ordinary grids (default ``Band(300, 800, target=500)``).
    seed
        Seed or generator; the same seed gives the same plan.
    estimate
        Household source: ``auto`` (counts when the inputs have them, else estimates),
        ``always`` (estimate from buildings) or ``never``.
    dedicated
        Carve dedicated grids (专属网格) out of the sites (or landuse of ``site_kinds``).
    site_kinds
        Landuse kinds that make dedicated sites when the area has no ``sites`` layer.
    min_site_area_m2
        Sites smaller than this stay in their ordinary grid and are reported.
    sites_outside
        ``error`` refuses a site outside every unit; ``drop`` leaves it out and reports it.
    max_site_households
        A site holding more households stays in the ordinary grids (default: the minimum).
    villages
        Keep natural villages whole (a ``villages`` layer or a ``village`` column).
    code_scheme
        ``auto`` (``stats12`` for 12-digit unit codes, else ``local``), ``stats12``,
        ``beijing15``, ``village6`` or ``local`` (:mod:`gis.rules.codes`).
    previous
        The previous plan (a Plan, its grids, or a plan file): grids nearly unchanged keep
        their codes; retired codes are never given out again.
    retired
        Codes retired earlier (e.g. kept by the store across versions).
    cells
        Also cut unit cells of at most this many households.
    roster
        A staff roster CSV to check against the plan's codes.
    tolerances
        Geometric tolerances of every step (:class:`gis.Tolerances`).
    progress
        Callback ``(step, done, total)`` for a progress bar: units count as they finish and,
        planned in this process, households as blocks above the maximum are cut.
    client
        A :class:`distributed.Client` (:func:`gis.parallel.connect`): the units are planned
        on its workers, one task per unit or group of small units, each sent only its unit's
        data; the plan is the same as without it (same seed, same plan). None plans the units
        in this process.
    rules
        Rules per unit (:mod:`gis.rules.unit_rules`): a TOML/YAML rules file, or unit code →
        :class:`~gis.rules.unit_rules.UnitRule`; None reads the boundary layer's rule
        columns, if any. Each unit is partitioned with its own band (and grid range);
        villages are kept whole only in units drawn by natural village or villager group;
        ``report.sections["rules"]`` states each unit's rule and every exception to it.
    cuts
        ``streets`` (default, 街巷定界): a block above the maximum is cut along its lanes,
        walls and water first, straight only where a face still holds too many; ``compact``:
        straight compact cuts first (:func:`gis.cutting.split.split_block`).

    Returns
    -------
    Plan
        Always covers every unit; grids that cannot meet the band are listed in
        ``plan.report.exceptions`` with a reason, and ``plan.ok`` is False.

    Raises
    ------
    WanggeError
        Bad options, bad inputs, a site outside every unit, codes that do not fit.
    UnitsFailedError
        Some units could not be planned: each is named with its reason (the other units
        were planned, but no plan is returned).
    """
    band = _checked(band, client)
    check_cuts(cuts)
    started = time.perf_counter()
    blockset, area_obj, sources = _blocks_of(
        area, estimate=estimate, progress=progress, tolerances=tolerances
    )
    original = blockset
    extra: list[gpd.GeoDataFrame] = []
    sections: dict[str, Any] = {"dedicated": {"source": "off", "n_sites": 0}, "cuts": cuts}
    if dedicated and area_obj is not None:
        blockset, site_grids, sections["dedicated"] = carve_sites(
            area_obj,
            original,
            kinds=site_kinds,
            min_site_area_m2=min_site_area_m2,
            outside=sites_outside,
            max_site_households=(
                band.min_households if max_site_households is None else max_site_households
            ),
            tolerances=tolerances,
        )
        extra.append(site_grids)
    ruleset = resolve_rules(rules, original.units, _unit_households(blockset), band)
    vb = _whole_villages(area_obj, blockset, original, ruleset, villages, tolerances)
    blockset = blockset if vb is None else vb.blockset
    found = partition_blocks(
        blockset,
        bands=None if ruleset is None else ruleset.bands,
        band=band,
        rng=seed,
        whole_blocks=vb.whole_blocks if vb else (),
        tolerances=tolerances,
        client=client,
        progress=progress,
        cuts=cuts,
    )
    grids, atoms, reasons, absorbed = _apply_rules(found, extra, original, band, vb, tolerances)
    sections["dedicated"]["empty_islands_absorbed"] = absorbed
    sections["villages"] = _village_section(vb, atoms, band)
    scheme = resolve_scheme(code_scheme, grids[col.PARENT_CODE].unique())
    grids, sections["codes"] = code_grids(grids, scheme=scheme, previous=previous, retired=retired)
    cell_frame = None
    if cells is not None:
        cell_frame, sections["cells"] = cut_cells(grids, original, max_households=cells)
    if roster is not None:
        sections["staff"] = check_roster(roster, grids)
    if ruleset is not None:
        sections["rules"] = rules_report(ruleset, grids, _people(grids, original))
    checks = validate_against(grids, original, band=band, tolerances=tolerances, client=client)
    sections |= sources | {
        "seed": seed if seed is None or isinstance(seed, int) else "generator",
        "seconds": {**found.seconds, "total": time.perf_counter() - started},
    }
    if client is not None:
        sections["parallel"] = describe_client(client)
    report = build_report(
        grids,
        checks,
        band=band,
        atoms=atoms,
        units=original.units,
        reasons=reasons,
        n_blocks=len(original.blocks),
        sections=sections,
    )
    log.info("%d grids (%d exceptions)", len(grids), len(report.exceptions))
    return Plan(
        grids=grids,
        atoms=atoms,
        edges=found.edges,
        band=band,
        report=report,
        blockset=original,
        cells=cell_frame,
        code_scheme=scheme,
        tolerances=tolerances,
    )


def _village_section(
    vb: VillageBlocks | None, atoms: gpd.GeoDataFrame, band: Band
) -> dict[str, Any]:
    """The report's ``villages`` section: each natural village kept whole, or ``off``."""
    if vb is None:
        return {"source": "off"}
    return village_report(vb.villages, atoms, max_households=band.max_households) | {
        "source": vb.source
    }


def _checked(band: Band | None, client: Client | None) -> Band:
    """The band (default ``Band()``), refusing arguments of the wrong type."""
    band = Band() if band is None else band
    if not isinstance(band, Band):
        msg = f"band must be a gis.Band, got {type(band).__name__}; e.g. gis.Band(300, 800)"
        raise InputTypeError(msg)
    if client is not None and not callable(getattr(client, "submit", None)):
        msg = (
            f"client must be a distributed.Client, got {type(client).__name__}; "
            "e.g. with gis.parallel.connect(scheduler='tcp://HOST:8786') as client: ..."
        )
        raise InputTypeError(msg)
    return band


def validate(
    plan: Plan | gpd.GeoDataFrame | str | Path,
    area: Area | Prepared | BlockSet | None = None,
    *,
    band: Band | None = None,
    estimate: Estimate = "auto",
) -> PlanReport:
    """Check a plan from its geometry alone against the inputs it was drawn from.

    Households are re-counted from the area's household features by the ownership rule
    (:mod:`gis.geometry.ownership`), coverage is measured against the units, buildings and
    contiguity are checked, compactness and street share recomputed; stored numbers are
    never trusted.

    Parameters
    ----------
    plan
        A :class:`Plan`, its grids, or a plan file (its ``grids`` layer).
    area
        The area (or its blocks) to check against; default: the blocks the plan was drawn
        from (only for a :class:`Plan`).
    band
        The band; default: the plan's own (a plan file's ``plan`` table), else ``Band()``.
    estimate
        Household source of ``area`` (as for :func:`partition`).

    An empty plan, a plan file without ``grid_code`` or ``households``, a grid outside the
    area and an ordinary grid without households are violations (``ok`` is False), never
    passed on trust.

    Raises
    ------
    OptionError
        No area to check against.
    CRSError
        The grids have no CRS.
    """
    grids, own_band, blockset, reasons = _plan_parts(plan)
    band = band or own_band or Band()
    if area is not None:
        blockset, _, _ = _blocks_of(area, estimate=estimate, progress=None)
    if blockset is None:
        msg = "validate needs the area the plan was drawn from: give area= (gis.read_area(...))"
        raise OptionError(msg)
    if grids.crs is None:
        msg = "the plan's grids have no CRS; set one (e.g. grids.set_crs('EPSG:4326'))"
        raise CRSError(msg)
    grids = grids.to_crs(blockset.crs)
    checks = validate_against(grids, blockset, band=band)
    checks = with_violations(checks, check_plan_table(grids))  # columns, codes: never assumed
    return build_report(
        table_for_report(grids, checks),
        checks,
        band=band,
        units=blockset.units,
        reasons=reasons,
        n_blocks=len(blockset.blocks),
    )


def _plan_parts(
    plan: Plan | gpd.GeoDataFrame | str | Path,
) -> tuple[gpd.GeoDataFrame, Band | None, BlockSet | None, dict[int, str]]:
    if isinstance(plan, Plan):
        return plan.grids, plan.band, plan.blockset, plan.report.reasons()
    if isinstance(plan, gpd.GeoDataFrame):
        return plan, None, None, {}
    return read_layer(plan, "grids"), read_band(plan), None, {}


def blocks_of_area(
    area: Area,
    *,
    estimate: Estimate = "auto",
    progress: Progress | None = None,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> tuple[BlockSet, Area, dict[str, Any]]:
    """Settle an area's households and cut it into street blocks.

    Returns the blocks, the area with households settled, and where they came from
    (``source``, ``household_source``, ``estimate``).
    """
    if estimate not in ("auto", "always", "never"):
        msg = f"estimate must be auto, always or never, not {estimate!r}"
        raise OptionError(msg)
    settled, origin, summary = settle_households(area, estimate=estimate)
    blockset = build_blocks(settled, progress=progress, tolerances=tolerances)
    info: dict[str, Any] = {"source": settled.source, "household_source": origin}
    if summary:
        info["estimate"] = summary
    return blockset, settled, info


def _blocks_of(
    area: Area | Prepared | BlockSet,
    *,
    estimate: Estimate,
    progress: Progress | None,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> tuple[BlockSet, Area | None, dict[str, Any]]:
    if isinstance(area, Prepared):
        info = {"source": area.area.source, "household_source": area.household_source}
        return area.blockset, area.area, info
    if isinstance(area, BlockSet):
        return area, None, {"source": "blocks", "household_source": "blocks"}
    if not isinstance(area, Area):
        msg = f"partition needs an Area (gis.read_area) or a BlockSet, got {type(area).__name__}"
        raise InputTypeError(msg)
    return blocks_of_area(area, estimate=estimate, progress=progress, tolerances=tolerances)


def _whole_villages(
    area: Area | None,
    blockset: BlockSet,
    original: BlockSet,
    ruleset: RuleSet | None,
    villages: bool,
    tolerances: Tolerances,
) -> VillageBlocks | None:
    """The villages kept whole: every one (``villages``), or with rules per unit those of
    units drawn by natural village or villager group; None when none are."""
    if area is None or (not villages and ruleset is None):
        return None
    kept = area if ruleset is None else _village_area(area, original, ruleset)
    return village_blocks(kept, blockset, tolerances=tolerances)


def _unit_households(blockset: BlockSet) -> dict[str, int]:
    blocks = blockset.blocks
    return {str(k): int(v) for k, v in blocks.groupby(col.UNIT_CODE)[col.HOUSEHOLDS].sum().items()}


def _village_area(area: Area, blockset: BlockSet, ruleset: RuleSet) -> Area:
    """The area with only the villages of units drawn by village (natural village or
    villager group) kept whole."""
    if area.villages.empty:
        return area
    units = blockset.units
    keep = ruleset.village_units(units[col.UNIT_CODE].astype(str))
    inside = units[units[col.UNIT_CODE].astype(str).isin(keep)]
    spots = area.villages.geometry.representative_point()
    mine = spots.within(inside.geometry.union_all()) if len(inside) else spots.isna()
    return replace(area, villages=area.villages[mine.to_numpy()])


def _people(grids: gpd.GeoDataFrame, blockset: BlockSet) -> dict[str, int] | None:
    """People per grid, where the household features carry a ``people`` column."""
    found = blockset.households
    if "people" not in found:
        return None
    counts = found[["people", "geometry"]].rename(columns={"people": col.HOUSEHOLDS})
    counts[col.HOUSEHOLDS] = pd.to_numeric(counts[col.HOUSEHOLDS], errors="coerce").fillna(0)
    per = count_households(grids.geometry.to_numpy(), counts)
    return dict(zip(grids[col.GRID_CODE].astype(str), per.tolist(), strict=True))


def _apply_rules(
    found: Partition,
    extra: list[gpd.GeoDataFrame],
    original: BlockSet,
    band: Band,
    vb: VillageBlocks | None,
    tolerances: Tolerances,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict[int, str], int]:
    """Join dedicated grids, renumber, and carry every grid's reason to its new id."""
    ordinary, absorbed = absorb_empty_islands(
        found.grids, extra, min_households=band.min_households, tolerances=tolerances
    )
    grids, remap = combine_grids(ordinary, extra, original, absorbed, n_old=len(found.grids))
    if extra:
        geoms = robust_outlines(grids.geometry.to_numpy(), grids.crs, tolerances=tolerances)
        grids = grids.set_geometry(gpd.GeoSeries(geoms, crs=grids.crs))
    atoms = found.atoms.assign(**{col.GRID_ID: remap[found.atoms[col.GRID_ID].to_numpy()]})
    ordinary_total = (
        found.grids.groupby(found.grids[col.PARENT_CODE].astype(str))[col.HOUSEHOLDS]
        .sum()
        .to_dict()
    )
    village_blocks_set = set(vb.whole_blocks) if vb is not None else set()
    by_id = grids.set_index(col.GRID_ID)
    reasons: dict[int, str] = {}
    for old, found_reason in found.reasons.items():
        if old in absorbed:
            continue
        reason = found_reason
        gid = int(remap[old])
        hh = int(by_id.loc[gid, col.HOUSEHOLDS])
        unit = str(by_id.loc[gid, col.PARENT_CODE])
        blocks = set(atoms.loc[atoms[col.GRID_ID] == gid, col.BLOCK_ID].tolist())
        if hh < band.min_households and ordinary_total.get(unit, 0) < band.min_households:
            reason = REASON_UNIT_BELOW_MIN  # sites split the unit, but it could never fill one
        elif hh > band.max_households and blocks & village_blocks_set:
            reason = REASON_VILLAGE
        reasons[gid] = reason
    return grids, atoms, reasons, len(absorbed)


def code_grids(
    grids: gpd.GeoDataFrame,
    *,
    scheme: str,
    previous: gpd.GeoDataFrame | Plan | str | Path | None = None,
    retired: Iterable[str] = (),
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Give every grid a ``grid_code`` (kept from ``previous`` where nearly unchanged).

    Raises
    ------
    CodeError
        A unit code that does not fit the scheme, or codes repeated across units.
    """
    old = _previous_grids(previous)
    result = assign_codes(grids, scheme=scheme, previous=old, retired=retired)
    _refuse_repeated_codes(result.codes, grids)
    coded = grids.assign(**{col.GRID_CODE: result.codes.to_numpy()})
    info = {"scheme": scheme, "kept": result.kept, "retired": sorted(result.retired)}
    return coded, info


def cut_cells(
    grids: gpd.GeoDataFrame, blockset: BlockSet, *, max_households: int
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Unit cells (单元格) of at most ``max_households``, coded after their grid."""
    frame, info = unit_cells(
        grids, blockset.buildings, blockset.households, max_households=max_households
    )
    if col.GRID_CODE in frame and len(frame):
        frame[CELL_CODE] = cell_codes(frame).to_numpy()
    return frame, info


def check_roster(path: str | Path, grids: gpd.GeoDataFrame) -> dict[str, Any]:
    """Check a roster against the plan's codes; report grids without a worker.

    Raises
    ------
    RosterError
        A malformed roster or one naming a grid that does not exist.
    """
    staff = read_roster(Path(path), grid_codes=set(grids[col.GRID_CODE].astype(str)))
    return {"people": len(staff), "grids_without_worker": grids_without_worker(staff, grids)}


def _previous_grids(
    previous: gpd.GeoDataFrame | Plan | str | Path | None,
) -> gpd.GeoDataFrame | None:
    if previous is None:
        return None
    if isinstance(previous, Plan):
        return previous.grids
    if isinstance(previous, gpd.GeoDataFrame):
        return previous
    return read_layer(previous, "grids")


def _refuse_repeated_codes(codes: pd.Series, grids: gpd.GeoDataFrame) -> None:
    """Codes are unique within their parent; a published plan needs them unique overall."""
    dup = codes[codes.duplicated(keep=False)]
    if len(dup):
        units = sorted(set(grids.loc[dup.index, col.PARENT_CODE].astype(str)))
        msg = (
            f"grid codes {sorted(set(dup))[:5]} are not unique in the plan: units {units} "
            "share the digits the scheme keeps (village6 keeps only the last 3 of the unit "
            "code); partition one town at a time or use code_scheme beijing15 or stats12"
        )
        raise CodeError(msg)
