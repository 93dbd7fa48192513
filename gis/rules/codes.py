"""Grid codes: configurable schemes, deterministic, unique within a parent, stable over time.

Schemes (``scheme=``):

``village6``
    3-digit village code (the last 3 digits of the unit code) + 1-digit grid type
    (1 ordinary, 2 dedicated) + 2-digit sequence: ``003101``. At most 99 grids per type.
``beijing15``
    DB11/T 2157-2023: 6-digit district + 3-digit street/town + 3-digit community/village
    (together the unit's 12-digit statistical code) + 3-digit sequence: ``110108012001003``.
``stats12``
    The unit's 12-digit statistical area code + a 4-digit sequence: ``3101010020010007``.
``local``
    Any unit code (e.g. the generated ``U001`` of a boundary layer without codes) + ``-`` +
    a 4-digit sequence: ``U001-0003``. For areas whose units have no statistical code yet.

The default, ``auto`` (:func:`resolve_scheme`), is ``stats12`` when every unit code is a
12-digit statistical code and ``local`` otherwise, so every plan is coded and can be published.

Sequences are numbered west→east in rows running north→south inside each unit (a grid's row
is its inner point's northing divided by ``row_height_m``). Unit cells extend their grid's
code with a 2-digit sequence in the same order.

Stability: given the previous plan, a new grid keeps the code of the previous grid of the same
unit and kind that it matches best, when their intersection over union is at least
``keep_iou`` (0.9: "nearly unchanged"); every other grid takes the next free number above every
number ever used in that unit (previous codes and ``retired`` codes), so a retired code is never
given out again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis import columns as col
from gis.errors import CodeError

SCHEMES = ("village6", "beijing15", "stats12", "local")
#: The scheme used when none is asked for: resolved per plan by :func:`resolve_scheme`.
AUTO_SCHEME = "auto"
KIND_DIGIT = {"ordinary": "1", "dedicated": "2"}
_SEQ_WIDTH = {"village6": 2, "beijing15": 3, "stats12": 4, "local": 4}


def resolve_scheme(scheme: str, unit_codes: Iterable[object]) -> str:
    """The scheme to use: ``scheme`` itself, or for ``auto`` ``stats12`` when every unit code
    is 12 digits, else ``local``.

    Raises
    ------
    CodeError
        An unknown scheme name.
    """
    if scheme != AUTO_SCHEME:
        if scheme not in SCHEMES:
            msg = f"unknown code scheme {scheme!r}: use auto or one of {', '.join(SCHEMES)}"
            raise CodeError(msg)
        return scheme
    codes = [str(c) for c in unit_codes]
    return "stats12" if codes and all(c.isdigit() and len(c) == 12 for c in codes) else "local"


@dataclass(frozen=True)
class CodeResult:
    """Codes given to a plan's grids.

    Attributes
    ----------
    codes
        One code per grid, in the order of the grids given.
    kept
        How many grids kept their previous code.
    retired
        Every code retired so far (previous retirements plus previous codes not kept).
    """

    codes: pd.Series
    kept: int
    retired: frozenset[str]


def scheme_of(codes: Iterable[object], parents: Iterable[object]) -> str | None:
    """The one scheme every code fits (with its parent unit's code), or None.

    Read back from a stored plan, which keeps codes but not always the scheme that made
    them; a plan whose codes follow no single scheme gives None.
    """
    fits: set[str] | None = None
    for code, parent in zip(map(str, codes), map(str, parents), strict=True):
        mine = {scheme for scheme in SCHEMES if _fits(code, parent, scheme)}
        fits = mine if fits is None else fits & mine
        if not fits:
            return None
    if not fits:
        return None
    return next(s for s in SCHEMES if s in fits)  # SCHEMES order breaks a tie


def _fits(code: str, parent: str, scheme: str) -> bool:
    width = _SEQ_WIDTH[scheme]
    tail = code[-width:]
    if not tail.isdigit():
        return False
    if scheme == "village6":
        return len(code) == 6 and code.isdigit() and code[:3] == parent[-3:]
    if scheme == "local":
        return code == f"{parent}-{tail}"
    return code == f"{parent}{tail}" and len(parent) == 12 and parent.isdigit()


def check_unit_code(code: str, scheme: str) -> None:
    """Refuse a unit code that does not fit ``scheme``.

    Raises
    ------
    CodeError
        When the code has the wrong length or is not all digits.
    """
    if scheme not in SCHEMES:
        msg = f"unknown code scheme {scheme!r}: use one of {', '.join(SCHEMES)}"
        raise CodeError(msg)
    if scheme == "local":
        if not code or "-" in code:
            msg = f"unit code {code!r} does not fit scheme local: it needs a code without '-'"
            raise CodeError(msg)
        return
    need = 3 if scheme == "village6" else 12
    ok = code.isdigit() and (len(code) >= need if scheme == "village6" else len(code) == need)
    if not ok:
        layout = (
            "at least 3 digits (the village code is its last 3)"
            if scheme == "village6"
            else "12 digits: 6 district + 3 street/town + 3 community/village"
        )
        msg = f"unit code {code!r} does not fit scheme {scheme}: it needs {layout}"
        raise CodeError(msg)


def format_code(unit_code: str, kind: str, seq: int, scheme: str) -> str:
    """The code of grid number ``seq`` of ``kind`` in ``unit_code`` under ``scheme``."""
    width = _SEQ_WIDTH[scheme]
    if not 1 <= seq < 10**width:
        msg = (
            f"unit {unit_code} needs grid number {seq}, more than scheme {scheme} can hold "
            f"({10**width - 1}); use a scheme with a longer sequence"
        )
        raise CodeError(msg)
    if scheme == "village6":
        return f"{unit_code[-3:]}{KIND_DIGIT.get(kind, '1')}{seq:0{width}d}"
    if scheme == "local":
        return f"{unit_code}-{seq:0{width}d}"
    return f"{unit_code}{seq:0{width}d}"


def sequence_of(code: str, scheme: str) -> int:
    """The sequence number inside a code."""
    return int(code[-_SEQ_WIDTH[scheme] :])


def reading_order(geoms: gpd.GeoSeries, *, row_height_m: float = 200.0) -> np.ndarray:
    """Positions sorted north→south by rows, then west→east (metric CRS).

    Parameters
    ----------
    geoms
        Polygons in a metric CRS.
    row_height_m
        Height of a row band.
    """
    pts = shapely.point_on_surface(geoms.to_numpy())
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    row = np.floor(-y / row_height_m)
    return np.lexsort((np.round(y, 3) * -1, np.round(x, 3), row))


def assign_codes(
    grids: gpd.GeoDataFrame,
    *,
    scheme: str = "beijing15",
    previous: gpd.GeoDataFrame | None = None,
    retired: Iterable[str] = (),
    keep_iou: float = 0.9,
    row_height_m: float = 200.0,
) -> CodeResult:
    """Give every grid a code (see the module docstring).

    Parameters
    ----------
    grids
        Grids with ``parent_code`` and ``kind``, in a metric CRS.
    scheme
        ``village6``, ``beijing15`` or ``stats12``.
    previous
        The previous plan's grids with ``grid_code``, ``parent_code``, ``kind`` (any CRS).
    retired
        Codes retired earlier; never given out again.
    keep_iou
        Intersection over union above which a grid keeps its previous code.
    row_height_m
        Row height of the west→east, north→south numbering.

    Raises
    ------
    CodeError
        A unit code that does not fit the scheme, a duplicate code in ``previous``, or more
        grids than the scheme's sequence can number.
    """
    for code in grids[col.PARENT_CODE].astype(str).unique():
        check_unit_code(code, scheme)
    retired_set = set(map(str, retired))
    prev = _check_previous(previous, grids)
    codes = pd.Series([""] * len(grids), index=grids.index, dtype=object)
    kept = 0
    if prev is not None and len(prev):
        kept = _keep_codes(grids, prev, codes, keep_iou)
        unused = set(prev[col.GRID_CODE]) - set(codes[codes != ""])
        retired_set |= unused
    used = retired_set | set(prev[col.GRID_CODE]) if prev is not None else set(retired_set)
    order = reading_order(grids.geometry, row_height_m=row_height_m)
    kinds = grids[col.KIND].astype(str).to_numpy()
    parents = grids[col.PARENT_CODE].astype(str).to_numpy()
    next_seq: dict[tuple[str, str], int] = {}
    given = codes.to_numpy(dtype=object, copy=True)  # plain array: pandas iloc is slow per item
    seen = set(given[given != ""])
    for i in order:
        if given[i]:
            continue
        # one counter per code series: village6 series are shared by units whose codes end
        # in the same 3 digits, so they must share the counter too or codes would collide
        key = (parents[i][-3:], kinds[i]) if scheme == "village6" else (parents[i], "")
        if key not in next_seq:
            taken = [
                sequence_of(c, scheme)
                for c in used | seen
                if _same_series(c, parents[i], kinds[i], scheme)
            ]
            next_seq[key] = max(taken, default=0) + 1
        given[i] = format_code(parents[i], kinds[i], next_seq[key], scheme)
        seen.add(given[i])
        next_seq[key] += 1
    codes = pd.Series(given, index=grids.index, dtype=object)
    return CodeResult(codes=codes, kept=kept, retired=frozenset(retired_set))


def cell_codes(cells: gpd.GeoDataFrame, *, row_height_m: float = 50.0) -> pd.Series:
    """Unit-cell codes: their grid's code + a 2-digit (or longer) reading-order sequence."""
    codes = pd.Series([""] * len(cells), index=cells.index, dtype=object)
    for grid_code, members in cells.groupby(col.GRID_CODE, sort=True):
        order = reading_order(members.geometry, row_height_m=row_height_m)
        width = max(2, len(str(len(members))))
        for seq, pos in enumerate(order, start=1):
            codes.loc[members.index[pos]] = f"{grid_code}{seq:0{width}d}"
    return codes


def _same_series(code: str, parent: str, kind: str, scheme: str) -> bool:
    if scheme == "village6":
        return len(code) == 6 and code[:3] == parent[-3:] and code[3] == KIND_DIGIT.get(kind, "1")
    if scheme == "local":
        return code.startswith(f"{parent}-") and len(code) == len(parent) + 1 + _SEQ_WIDTH[scheme]
    return code.startswith(parent) and len(code) == len(parent) + _SEQ_WIDTH[scheme]


def _check_previous(
    previous: gpd.GeoDataFrame | None, grids: gpd.GeoDataFrame
) -> gpd.GeoDataFrame | None:
    if previous is None:
        return None
    if col.GRID_CODE not in previous:
        msg = "the previous plan has no grid_code column: give the plan that was published"
        raise CodeError(msg)
    dup = previous[col.GRID_CODE][previous[col.GRID_CODE].duplicated()]
    if len(dup):
        msg = (
            f"the previous plan repeats grid codes {sorted(set(dup.astype(str)))[:5]}: "
            "codes must be unique; repair the previous plan before re-coding"
        )
        raise CodeError(msg)
    return previous.to_crs(grids.crs)


def _keep_codes(
    grids: gpd.GeoDataFrame, prev: gpd.GeoDataFrame, codes: pd.Series, keep_iou: float
) -> int:
    new_geoms, old_geoms = grids.geometry.to_numpy(), prev.geometry.to_numpy()
    ni, oi = shapely.STRtree(old_geoms).query(new_geoms, predicate="intersects")
    same = (
        grids[col.PARENT_CODE].astype(str).to_numpy()[ni]
        == prev[col.PARENT_CODE].astype(str).to_numpy()[oi]
    ) & (grids[col.KIND].astype(str).to_numpy()[ni] == prev[col.KIND].astype(str).to_numpy()[oi])
    ni, oi = ni[same], oi[same]
    inter = shapely.area(shapely.intersection(new_geoms[ni], old_geoms[oi]))
    union = shapely.area(new_geoms[ni]) + shapely.area(old_geoms[oi]) - inter
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0)
    order = np.argsort(-iou, kind="stable")
    taken_new: set[int] = set()
    taken_old: set[int] = set()
    old_codes = prev[col.GRID_CODE].astype(str).to_numpy()
    kept = 0
    for k in order:
        if iou[k] < keep_iou:
            break
        n, o = int(ni[k]), int(oi[k])
        if n in taken_new or o in taken_old:
            continue
        codes.iloc[n] = old_codes[o]
        taken_new.add(n)
        taken_old.add(o)
        kept += 1
    return kept
