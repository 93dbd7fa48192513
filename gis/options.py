"""The two option objects every step shares: the household :class:`Band` and the
:class:`Tolerances` of geometry.

There are no global settings: a plan carries its band (``Plan.band``), a published version
stores it, and every function that measures or compares geometry takes a ``Tolerances``
(default :data:`DEFAULT_TOLERANCES`) so a caller can override one value for one call.

Examples
--------
>>> band = Band(300, 800, target=500)
>>> band.contains([250, 300, 800, 801]).tolist()
[False, True, True, False]
>>> band.share_in_band([400, 900])
0.5
>>> Tolerances().replace(on_street_m=5.0).on_street_m
5.0
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from gis.errors import InputTypeError, OptionError

#: The preferred grid size when none is given (the project's default band is 300–800).
DEFAULT_TARGET = 500


#: How a block above the maximum is cut (:func:`gis.cutting.split.split_block`): ``streets``
#: along its inner streets, lanes, walls and water first (街巷定界), ``compact`` by straight
#: compact cuts first.
Cuts = Literal["streets", "compact"]
CUTS: tuple[str, ...] = get_args(Cuts)

#: A progress callback, called as ``progress(step, done, total)`` while long steps run (the
#: command line draws it as a rich progress bar).
Progress = Callable[[str, int, int], None]


def check_cuts(cuts: object) -> Cuts:
    """``cuts`` when it names a way of cutting blocks, else an :class:`OptionError`."""
    if cuts not in CUTS:
        msg = (
            f"cuts must be 'streets' (along the streets, lanes and walls inside a block first) "
            f"or 'compact' (straight compact cuts first), got {cuts!r}"
        )
        raise OptionError(msg)
    return cuts  # type: ignore[return-value]


@dataclass(frozen=True)
class Band:
    """How many households an ordinary grid should hold.

    Parameters
    ----------
    min_households, max_households
        The band every ordinary grid should meet (inclusive).
    target
        The preferred size, inside the band (default: 500 when the band holds it, else the
        middle of the band).

    Raises
    ------
    InputTypeError
        A value that is not an integer.
    OptionError
        A negative value, ``min > max``, a maximum of 0, or a target outside the band.
    """

    min_households: int = 300
    max_households: int = 800
    target: int = None  # type: ignore[assignment]  # filled in by __post_init__

    def __post_init__(self) -> None:
        if self.target is None and _is_int(self.min_households) and _is_int(self.max_households):
            lo, hi = int(self.min_households), int(self.max_households)
            object.__setattr__(
                self, "target", DEFAULT_TARGET if lo <= DEFAULT_TARGET <= hi else (lo + hi) // 2
            )
        check_band(self.min_households, self.max_households, self.target)
        for name in ("min_households", "max_households", "target"):
            object.__setattr__(self, name, int(getattr(self, name)))

    def contains(self, households: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether each count lies inside the band."""
        hh = np.asarray(households)
        return (hh >= self.min_households) & (hh <= self.max_households)

    def share_in_band(self, households: npt.ArrayLike) -> float:
        """Share (0–1) of counts inside the band; 1 when there are none."""
        hh = np.asarray(households)
        return float(self.contains(hh).mean()) if hh.size else 1.0

    def excess(self, households: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Households below the minimum or above the maximum (0 inside the band)."""
        hh = np.asarray(households, dtype=np.int64)
        return np.maximum(self.min_households - hh, 0) + np.maximum(hh - self.max_households, 0)

    def side(self, households: int) -> str:
        """``above max``, ``below min`` or ``in band``."""
        if households > self.max_households:
            return "above max"
        if households < self.min_households:
            return "below min"
        return "in band"

    def __str__(self) -> str:
        return f"{self.min_households}–{self.max_households}"

    def to_dict(self) -> dict[str, int]:
        """``min_households``, ``max_households``, ``target`` as plain ints (JSON, store)."""
        return {k: int(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Band:
        """The band of a stored report or version (the default band when absent)."""
        if not data:
            return cls()
        return cls(
            int(data.get("min_households", 300)),
            int(data.get("max_households", 800)),
            data.get("target"),  # type: ignore[arg-type]  # None: the default target
        )


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_band(min_households: object, max_households: object, target: object) -> None:
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
        if not _is_int(value):
            msg = f"{name} must be an integer number of households, got {value!r}"
            raise InputTypeError(msg)
        if value < 0:  # type: ignore[operator]
            msg = f"{name} must not be negative, got {value}; give a household count ≥ 0"
            raise OptionError(msg)
    lo, hi, tg = int(min_households), int(max_households), int(target)  # type: ignore[call-overload]
    if hi == 0:
        msg = (
            "max_households is 0: no grid holding households can meet that band; give a maximum > 0"
        )
        raise OptionError(msg)
    if lo > hi:
        msg = (
            f"min_households ({lo}) is above max_households ({hi}); swap them or lower the minimum"
        )
        raise OptionError(msg)
    if not lo <= tg <= hi:
        msg = (
            f"target ({tg}) lies outside the band {lo}–{hi}; "
            "choose a target between the minimum and the maximum"
        )
        raise OptionError(msg)


@dataclass(frozen=True)
class Tolerances:
    """Every distance and area below which geometry counts as the same, in metres.

    One object, documented here, passed down to every step that needs it; the defaults are
    what the library uses when a caller gives none.

    Attributes
    ----------
    snap_m
        Split pieces are snapped to their neighbours within this distance, so that pieces
        meant to share an edge share it exactly (floating-point noise of the cuts).
    shared_edge_m
        Two boundaries within this distance of each other coincide (above ``snap_m``, far
        below any real sliver: at 5 cm two pieces a few centimetres apart with a sliver
        between them counted as sharing their whole length).
    min_shared_m
        Pieces are neighbours only when they share at least this much boundary: a corner
        (or a few centimetres of edge) is not a border. Used by the search, edits, adjustment,
        carving and validation alike.
    on_street_m
        Grid boundary within this distance of a street (or a unit boundary) lies *on* it:
        the street share of the checks. (Which block edges the search treats as streets is
        ``street_edge_m``.)
    gap_m2
        Gap, overlap and crossing areas up to this are accepted by the checks; holes and
        stray parts up to this in a dissolved grid are gaps between its atoms, not enclaves,
        and are dropped.
    building_overlap_m2
        A building overlapping two grids by more than this each is split; when a block is
        cut, faces a building overlaps by more than this each are merged again.
    dust_m2
        Polygon pieces smaller than this are floating-point dust and are dropped or merged.
    region_snap_m
        Outlines of regions carved out of the blocks (dedicated sites, natural villages) are
        snapped onto block edges within this distance. Such outlines are drawn by hand or
        taken from land use, and follow a street only to a few centimetres: at ``snap_m``
        (1 mm) the Shanghai sample's sites kept 10 vertices 1 mm–5 cm off their block edges
        and carving left 13 hair-thin slivers (1–2 mm wide) along them. Input precision, not
        floating-point noise, hence larger than ``snap_m``.
    street_edge_m
        A shared edge of two blocks follows a street (the search charges no off-street cost
        for a grid boundary there) when half of it lies within this distance of a bounding
        line. Block edges lie on the lines they were cut along, up to the clean-up of those
        lines; an edge moved around a straddling building or a merged sliver lies metres
        off. Tighter than ``on_street_m``: at 3 m four such edges of the Shanghai sample
        counted as streets and the plans came out less compact (mean Polsby–Popper 0.6071 →
        0.6066 at seed 0, 0.612 → 0.608 over seeds 1–4) with no higher street share.
    """

    snap_m: float = 1e-3
    shared_edge_m: float = 2e-3
    min_shared_m: float = 0.5
    on_street_m: float = 3.0
    gap_m2: float = 1.0
    building_overlap_m2: float = 0.5
    dust_m2: float = 1e-3
    region_snap_m: float = 0.05
    street_edge_m: float = 1.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or value < 0:
                msg = f"tolerance {name} must be a number ≥ 0, got {value!r}"
                raise OptionError(msg)
        if self.shared_edge_m < self.snap_m:
            msg = (
                f"shared_edge_m ({self.shared_edge_m}) is below snap_m ({self.snap_m}): snapped "
                "pieces would not count as sharing their edge; raise shared_edge_m"
            )
            raise OptionError(msg)

    def replace(self, **changes: float) -> Tolerances:
        """A copy with some values changed."""
        return replace(self, **changes)


#: The tolerances used when a caller passes none.
DEFAULT_TOLERANCES = Tolerances()
