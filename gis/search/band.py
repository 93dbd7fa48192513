"""The household band: how many grids an area needs, and why a grid misses the band.

A grid outside the band is never hidden: the plan lists it with one of the reason codes
below (:data:`REASON_TEXT` gives the readable form).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import numpy.typing as npt


class BandOptions(Protocol):
    """Anything carrying the band and the target (e.g. ``SearchOptions``)."""

    @property
    def min_households(self) -> int: ...
    @property
    def max_households(self) -> int: ...
    @property
    def target(self) -> int: ...


#: Reason codes of grids outside the band.
REASON_SINGLE_BUILDING = "single_building_above_max"
REASON_UNSPLITTABLE = "block_above_max_unsplittable"
REASON_UNIT_BELOW_MIN = "unit_total_below_min"
REASON_ISLAND_BELOW_MIN = "island_below_min_no_neighbour"
REASON_NOT_DIVISIBLE = "total_not_divisible_into_band"
REASON_TRAPPED = "block_trapped_between_large_neighbours"
REASON_NOT_REACHED = "band_not_reached"
REASON_VILLAGE = "natural_village_whole"

#: Readable text for each reason code.
REASON_TEXT = {
    REASON_SINGLE_BUILDING: "single building above max",
    REASON_UNSPLITTABLE: "block above max with no buildings to split between",
    REASON_UNIT_BELOW_MIN: "unit total below min",
    REASON_ISLAND_BELOW_MIN: "island below min with no neighbour",
    REASON_NOT_DIVISIBLE: "households of the area cannot be divided into the band",
    REASON_TRAPPED: "a block below min whose every neighbour would take a grid above max",
    REASON_NOT_REACHED: "search did not reach the band (possibly infeasible)",
    REASON_VILLAGE: "natural village kept whole (never split)",
}


def choose_k(total: int, heavy: list[int], options: BandOptions) -> tuple[int, bool]:
    """Number of grids for a component, and whether the band can be met by count alone.

    Atoms above the maximum (``heavy``) each need a grid of their own; the remaining
    households get ``round(rest / target)`` grids, bounded so that
    ``k * min <= rest <= k * max`` where possible.
    """
    lo_b, hi_b, target = options.min_households, options.max_households, options.target
    rest = total - sum(heavy)
    if rest <= 0:
        return max(len(heavy), 1), True
    k_lo = math.ceil(rest / hi_b)
    k_hi = math.floor(rest / lo_b) if lo_b > 0 else rest + len(heavy) + 1
    k = round(rest / target) if target > 0 else k_lo
    feasible = k_lo <= k_hi
    k = min(max(k, k_lo), k_hi) if feasible else min(max(k, k_hi), k_lo)
    if heavy and rest < lo_b:
        k = 0  # too few left over for a grid of their own: they join a heavy grid
        feasible = True
    return max(len(heavy) + k, 1), feasible


def grid_reason(
    hh: int,
    atoms: npt.NDArray[np.int64],
    total: int,
    feasible: bool,
    n_comp: int,
    h: npt.NDArray[np.int64],
    heavy_reason: dict[int, str],
    options: BandOptions,
    nbrs: list[list[int]],
) -> str:
    """Why a grid lies outside the band (machine-readable code).

    A block below the minimum whose lightest neighbour would take any grid holding both above
    the maximum is *trapped*: no grid containing it can meet the band.
    """
    lo, hi = options.min_households, options.max_households
    if hh > hi:
        for a in atoms.tolist():
            if h[a] > hi:
                return heavy_reason.get(a, REASON_UNSPLITTABLE)
    if total < lo:
        return REASON_UNIT_BELOW_MIN if n_comp == 1 else REASON_ISLAND_BELOW_MIN
    if not feasible:
        return REASON_NOT_DIVISIBLE
    for a in atoms.tolist():
        if h[a] < lo and nbrs[a] and h[a] + min(int(h[j]) for j in nbrs[a]) > hi:
            return REASON_TRAPPED
    return REASON_NOT_REACHED
