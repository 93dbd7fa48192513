"""Compact straight cuts of a block above the maximum, bent around its buildings.

A walled compound with no inner streets (or with winding inner paths) holds several grids'
worth of households. Grouping pieces cut along inner paths and between buildings gives grids
as crooked as the paths; a planner would rather draw a few straight lines across the compound.
This module does that: the block is cut in two by a straight line, each half holding the
households of a whole number of grids, and each half again until every piece is one grid's
worth (a *guillotine* partition, as in floor planning and VLSI slicing). Cut lines run along
the block's own axes, are bent around every building they would cross (the building goes
whole to the side holding its centroid), and are drawn to inner paths: a cut lying along a
service road, footway or wall costs less than one across open ground.

Each cut is chosen by the plan's own ranking: households outside the band first, then the
distance from the target and the compactness expected of the pieces that will be cut from
each half (its bounding rectangle divided into as many near-square cells).

Written here because no library partitions a polygon by straight cuts into balanced parts
around indivisible weighted obstacles; shapely does the geometry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from gis.arrays import ranges
from gis.geometry.tiling import make_single_part
from gis.options import DEFAULT_TOLERANCES, Tolerances

#: Offsets tried per axis and cut.
N_OFFSETS = 96
#: An inner-line segment within this angle (degrees) of a cut and this distance (m) of it
#: counts as lying along it.
ALIGN_DEG = 12.0
ALIGN_M = 4.0
#: Extra cost factor of cut length that follows no inner line.
UNALIGNED_PENALTY = 0.1
#: Weight of the distance from the target against compactness when choosing a cut (the band
#: itself always comes first); the partition search weighs it 1, but inside one compound a
#: cut through a gap between buildings matters more than a few dozen households.
DEV_WEIGHT = 0.2
#: Cuts ranked per axis at every level (the best by estimate first).
LOOKAHEAD = 12
#: Cuts carried through to the final pieces: at the top level the best
#: :data:`TOP_LOOKAHEAD` over both axes, below it the best :data:`INNER_LOOKAHEAD`.
#: Carrying a dozen through at the top (a budget of 1,500 cuts per block) gave a lower mean
#: Polsby–Popper after the search on every area of ``bench/partition.py`` (0.581 against
#: 0.597 on the street-less one) in up to twice the time.
TOP_LOOKAHEAD = 2
INNER_LOOKAHEAD = 1
#: A building crossed by a cut takes open ground with it in a tent whose slopes reach this
#: many times the building's depth beyond the cut along the line (within these bounds, m).
TENT_RATIO = 3.0
TENT_MIN_M = 1.0
TENT_MAX_M = 40.0
#: Offsets whose projections rank best are cut for real (the rest only estimated).
SHORTLIST = 48
#: Offset (m) beside a building at which a cut is proposed.
BESIDE_M = 0.5
#: Inner-line segments shorter than this (m) propose no cut of their own.
MIN_SEGMENT_M = 15.0


@dataclass(frozen=True)
class Band:
    """The household band and target a piece of ``p`` grids must meet ``p`` times."""

    min_households: int
    max_households: int
    target: int

    def violation(self, hh: npt.NDArray[np.int64], parts: int) -> npt.NDArray[np.int64]:
        """Households outside ``[parts * min, parts * max]``."""
        lo, hi = parts * self.min_households, parts * self.max_households
        return np.maximum(lo - hh, 0) + np.maximum(hh - hi, 0)

    def deviation(self, hh: npt.NDArray[np.int64], parts: int) -> npt.NDArray[np.float64]:
        """``parts`` times the squared relative distance of the mean grid from the target."""
        rel = (hh / parts - self.target) / max(self.target, 1)
        return DEV_WEIGHT * parts * rel * rel


def guillotine_split(
    polygon: BaseGeometry,
    *,
    anchors: npt.NDArray[np.float64],
    anchor_households: npt.NDArray[np.int64],
    footprints: npt.NDArray[np.object_],
    inner_lines: npt.NDArray[np.object_],
    parts: int,
    band: Band,
    angle: float,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> list[BaseGeometry]:
    """Cut ``polygon`` into ``parts`` compact pieces of about equal households.

    Parameters
    ----------
    polygon
        The block (metric CRS).
    anchors, anchor_households
        ``(n, 2)`` coordinates of the household features (building centroids or address
        points) and their households.
    footprints
        Disjoint building footprints in the block; cuts bend around them.
    inner_lines
        Service roads, footways and walls inside the block; cuts are drawn to them.
    parts
        Number of pieces (grids) wanted.
    band
        The household band and target.
    angle
        Direction (degrees) of the block's long axis; cuts run along it or across it.
    tolerances
        ``shared_edge_m``: a stray part of a side goes to the side it shares an edge with
        (:func:`cut_across`).

    Returns
    -------
    list of shapely geometries
        Single-part pieces tiling ``polygon``; no footprint is cut.
    """
    segs = _segments(inner_lines)
    xy = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    hh = np.asarray(anchor_households, dtype=np.int64)
    fps = np.asarray(footprints, dtype=object)
    return _split(polygon, xy, hh, fps, segs, parts, band, angle, tolerances=tolerances)[0]


def _split(
    poly: BaseGeometry,
    xy: npt.NDArray[np.float64],
    hh: npt.NDArray[np.int64],
    fps: npt.NDArray[np.object_],
    segs: npt.NDArray[np.float64],
    parts: int,
    band: Band,
    angle: float,
    depth: int = 0,
    off_line: float = 0.0,
    *,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> tuple[list[BaseGeometry], tuple[int, float]]:
    """Pieces of ``poly`` and their rank (violation, deviation + shape).

    The best cuts by estimate (:data:`TOP_LOOKAHEAD` at ``depth`` 0, :data:`INNER_LOOKAHEAD`
    in all below) are each carried through to the end and the one whose final pieces rank
    best is kept. ``off_line`` is the length of cut boundary of
    ``poly`` that follows no inner line (counted extra, as in the search).
    """
    if parts <= 1 or len(xy) < 2:
        return [poly], _rank(poly, int(hh.sum()), off_line, band)
    found: list[tuple[tuple[int, float], float, float, int, float]] = []
    splits = sorted({parts // 2, parts - parts // 2})
    for theta in (angle, angle + 90.0):
        for p_left in splits:
            ranked = _best_offsets(poly, xy, hh, fps, segs, theta, p_left, parts - p_left, band)
            found.extend((r, theta, t, p_left, u) for r, t, u in ranked[:LOOKAHEAD])
    found.sort(key=lambda f: f[0])
    found = found[: INNER_LOOKAHEAD if depth > 0 else TOP_LOOKAHEAD]
    best: tuple[list[BaseGeometry], tuple[int, float]] | None = None
    for _, theta, t, p_left, unaligned in found:
        left, right = cut_across(poly, fps, theta, t, tolerances=tolerances)
        if left.is_empty or right.is_empty:
            continue
        on_left = xy @ axis(theta) < t
        pieces: list[BaseGeometry] = []
        viol, cost = 0, 0.0
        for piece, mask, p in ((left, on_left, p_left), (right, ~on_left, parts - p_left)):
            inside = footprints_within(piece, fps)
            sub, (v, c) = _split(
                piece,
                xy[mask],
                hh[mask],
                fps[inside],
                segs,
                p,
                band,
                angle,
                depth=depth + 1,
                off_line=off_line / 2.0 + unaligned,
                tolerances=tolerances,
            )
            pieces.extend(sub)
            viol, cost = viol + v, cost + c
        if best is None or (viol, cost) < best[1]:
            best = (pieces, (viol, cost))
    if best is None:
        return [poly], _rank(poly, int(hh.sum()), off_line, band)
    return best


def _rank(piece: BaseGeometry, households: int, off_line: float, band: Band) -> tuple[int, float]:
    """(violation, deviation + shape) of a final piece of one grid."""
    h = np.asarray([households], dtype=np.int64)
    perim = piece.length + UNALIGNED_PENALTY * off_line
    pp = min(max(4.0 * math.pi * piece.area / max(perim * perim, 1e-9), 1e-6), 1.0)
    return int(band.violation(h, 1)[0]), float(band.deviation(h, 1)[0]) + 1.0 - pp


def axis(theta: float) -> npt.NDArray[np.float64]:
    """Unit vector at ``theta`` degrees; cuts across it are lines of equal projection on it."""
    rad = math.radians(theta)
    return np.asarray([math.cos(rad), math.sin(rad)])


def _halfplane(poly: BaseGeometry, theta: float, t: float) -> BaseGeometry:
    """The part of the plane with projection on the cut axis below ``t``, covering ``poly``."""
    u = axis(theta)
    v = np.asarray([-u[1], u[0]])
    ring = shapely.get_coordinates(poly)
    s, w = ring @ u, ring @ v
    s0, w0, w1 = s.min() - 1.0, w.min() - 1.0, w.max() + 1.0
    corners = [s0 * u + w0 * v, t * u + w0 * v, t * u + w1 * v, s0 * u + w1 * v]
    return shapely.Polygon(corners)


def _best_offsets(
    poly: BaseGeometry,
    xy: npt.NDArray[np.float64],
    hh: npt.NDArray[np.int64],
    fps: npt.NDArray[np.object_],
    segs: npt.NDArray[np.float64],
    theta: float,
    p_left: int,
    p_right: int,
    band: Band,
) -> list[tuple[tuple[int, float], float, float]]:
    """Cut offsets across axis ``theta``, best first: ``((violation, cost), offset, off_line)``.

    ``off_line`` is the length of the cut that follows no inner line.

    Every offset (evenly spaced, along inner lines, just beside each building) is first
    ranked from projections alone; the geometry of the :data:`SHORTLIST` best is then cut to
    measure the halves' real compactness.
    """
    u = axis(theta)
    v = np.asarray([-u[1], u[0]])
    coords = shapely.get_coordinates(poly)
    s = coords @ u
    s0, s1 = float(s.min()), float(s.max())
    depth = float((coords @ v).max() - (coords @ v).min())
    if s1 - s0 < 1.0:
        return []
    seg_s, seg_len = _parallel_segments(segs, u, v)
    lo = hi = np.empty(0)
    if len(fps):
        lo, hi = _extents(fps, u)
    cand = _candidate_offsets(s0, s1, seg_s, seg_len, lo, hi)
    if len(cand) == 0:
        return []
    # households on each side (features by their anchor)
    proj = xy @ u
    order = np.argsort(proj)
    cum = np.concatenate([[0], np.cumsum(hh[order])])
    h_l = cum[np.searchsorted(proj[order], cand)]
    h_r = int(hh.sum()) - h_l
    viol = band.violation(h_l, p_left) + band.violation(h_r, p_right)
    dev = band.deviation(h_l, p_left) + band.deviation(h_r, p_right)
    detour = _detours(cand, lo, hi)
    w_l, w_r = cand - s0, s1 - cand
    # estimates from the bounding rectangle, the cut taken as long as the polygon is deep
    off_line = UNALIGNED_PENALTY * (depth - _aligned_length(cand, seg_s, seg_len, depth))
    approx = _expected_shape(
        w_l * depth, 2 * (w_l + depth) + detour + off_line, w_l, depth, p_left
    ) + _expected_shape(w_r * depth, 2 * (w_r + depth) + detour + off_line, w_r, depth, p_right)
    keep = np.lexsort((dev + approx, viol))[:SHORTLIST]
    cand, viol, dev = cand[keep], viol[keep], dev[keep]
    shape, unaligned, ok = _measured_shape(
        poly,
        theta,
        cand,
        (seg_s, seg_len),
        detour[keep],
        (w_l[keep], w_r[keep], depth),
        (p_left, p_right),
    )
    cost = np.where(ok, dev + shape, np.inf)
    viol = np.where(ok, viol, np.iinfo(np.int64).max)
    order = np.lexsort((cost, viol))
    return [
        ((int(viol[i]), float(cost[i])), float(cand[i]), float(unaligned[i]))
        for i in order
        if np.isfinite(cost[i])
    ]


def _candidate_offsets(
    s0: float,
    s1: float,
    seg_s: npt.NDArray[np.float64],
    seg_len: npt.NDArray[np.float64],
    lo: npt.NDArray[np.float64],
    hi: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Offsets to try: evenly spaced, along inner-line segments, just beside each building."""
    offsets = [s0 + (np.arange(N_OFFSETS) + 0.5) / N_OFFSETS * (s1 - s0)]
    if len(seg_s):
        offsets.append(seg_s[seg_len >= MIN_SEGMENT_M])
    if len(lo):
        offsets.extend([lo - BESIDE_M, hi + BESIDE_M])
    cand = np.unique(np.concatenate(offsets))
    return cand[(cand > s0 + 1.0) & (cand < s1 - 1.0)]


def _detours(
    cand: npt.NDArray[np.float64], lo: npt.NDArray[np.float64], hi: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Extra length of the cut at each offset: around a building it crosses, the cut rises
    around the building's smaller side in a tent (see :func:`_tents`).

    Only the (offset, building) pairs where the offset falls inside the building's extent
    are evaluated: candidates are sorted, so each building's crossing offsets are a run.
    """
    out = np.zeros(len(cand))
    if not len(lo) or not len(cand):
        return out
    order = np.argsort(cand, kind="stable")
    ranked = cand[order]
    first = np.searchsorted(ranked, lo, side="right")
    stop = np.searchsorted(ranked, hi, side="left")
    runs = np.maximum(stop - first, 0)  # none: nothing is added below
    bld = np.repeat(np.arange(len(lo)), runs)
    pos = ranges(first, runs)
    at = ranked[pos]
    into = np.minimum(at - lo[bld], hi[bld] - at)
    reach = np.clip(TENT_RATIO * into, TENT_MIN_M, TENT_MAX_M)
    np.add.at(out, order[pos], 2.0 * (np.hypot(into, reach) - reach))
    return out


def _measured_shape(
    poly: BaseGeometry,
    theta: float,
    cand: npt.NDArray[np.float64],
    segments: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    detour: npt.NDArray[np.float64],
    extent: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float],
    parts: tuple[int, int],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Measure the halves of ``poly`` cut straight at each offset (:func:`straight_halves`).

    Returns the expected shape cost of both halves, the length of each cut that follows no
    inner line, and whether both halves are real (over 1 m²).
    """
    seg_s, seg_len = segments
    w_l, w_r, depth = extent
    p_left, p_right = parts
    a_l, p_l, a_r, p_r = straight_halves(poly, theta, cand)
    ok = (a_l > 1.0) & (a_r > 1.0)
    chord = np.maximum((p_l + p_r - poly.length) / 2.0, 0.0)
    aligned = _aligned_length(cand, seg_s, seg_len, chord)
    extra = UNALIGNED_PENALTY * (chord - aligned) + detour
    shape = _expected_shape(a_l, p_l + extra, w_l, depth, p_left) + _expected_shape(
        a_r, p_r + extra, w_r, depth, p_right
    )
    return shape, chord - aligned, ok


def straight_halves(
    poly: BaseGeometry, theta: float, cand: npt.NDArray[np.float64]
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]:
    """Area and perimeter of both halves of ``poly`` cut straight at each offset, no overlay.

    Ranking a cut needs only the halves' areas and perimeters, and both follow from the
    polygon's edges projected on the cut axis ``u`` and the line direction ``w``: the part of
    each edge below offset ``t`` gives the left boundary, and in coordinates shifted so that
    the cut is ``u = t`` the shoelace terms of the closing segments along the cut vanish, so the
    left area is half the sum of the clipped edges' terms. The cut's own length (the width
    of the polygon at ``t``) is the signed sum of ``w`` where edges cross it. One
    ``offsets × edges`` array replaces one polygon intersection per offset (the old ranking
    spent 250 of 263 s in them on a compound of 2,937 buildings).

    Returns
    -------
    tuple of numpy.ndarray
        Left area, left perimeter, right area, right perimeter (left = projection below the
        offset, as :func:`cut_across`).
    """
    u = axis(theta)
    v = np.asarray([-u[1], u[0]])
    starts, ends = [], []
    for part in shapely.get_parts(shapely.normalize(poly)):
        for ring in [part.exterior, *part.interiors]:
            c = np.asarray(ring.coords)[:, :2]
            starts.append(c[:-1])
            ends.append(c[1:])
    a, b = np.vstack(starts), np.vstack(ends)
    sa, wa, sb, wb = a @ u, a @ v, b @ u, b @ v
    t = np.asarray(cand, dtype=np.float64)[:, None]
    below_a, below_b = sa[None, :] < t, sb[None, :] < t
    ds = sb - sa
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(ds != 0, (t - sa) / np.where(ds != 0, ds, 1.0), 0.0)
    wc = wa + lam * (wb - wa)  # where the edge crosses the cut
    # the part of each edge below t, from (s0, w0) to (s1, w1)
    s0 = np.where(below_a, sa, t)
    w0 = np.where(below_a, wa, wc)
    s1 = np.where(below_b, sb, t)
    w1 = np.where(below_b, wb, wc)
    inside = below_a | below_b
    area_left = np.abs(0.5 * np.where(inside, (s0 - t) * w1 - (s1 - t) * w0, 0.0).sum(axis=1))
    edge_left = np.where(inside, np.hypot(s1 - s0, w1 - w0), 0.0).sum(axis=1)
    crossing = below_a != below_b
    chord = np.abs(np.where(crossing, np.sign(ds) * wc, 0.0).sum(axis=1))
    total_len = float(np.hypot(sb - sa, wb - wa).sum())
    area_right = np.maximum(float(poly.area) - area_left, 0.0)
    return area_left, edge_left + chord, area_right, total_len - edge_left + chord


def _extents(
    fps: npt.NDArray[np.object_], u: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Range of each footprint's projection on ``u`` (all footprints in one pass)."""
    coords, index = shapely.get_coordinates(fps, return_index=True)
    p = coords @ u
    starts = np.searchsorted(index, np.arange(len(fps)))
    return np.minimum.reduceat(p, starts), np.maximum.reduceat(p, starts)


def _expected_shape(
    area: npt.NDArray[np.float64],
    perim: npt.NDArray[np.float64],
    width: npt.NDArray[np.float64],
    depth: float,
    parts: int,
) -> npt.NDArray[np.float64]:
    """Shape cost ``sum(1 - PP)`` expected of ``parts`` grids cut from a half.

    The expected Polsby–Popper is the half's own, scaled by how compact the best arrangement
    of ``parts`` near-square cells in its ``width`` × ``depth`` bounding rectangle is compared
    with the rectangle itself. The cost is linear in Polsby–Popper, so that it falls exactly as
    the pieces' mean rises (the search's ``1/sqrt(PP) - 1`` would trade some mean for evenness).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        pp = np.where(perim > 0, 4.0 * np.pi * area / (perim * perim), 0.0)
        if parts > 1:
            best = np.zeros_like(width)
            for rows in range(1, parts + 1):
                cols = math.ceil(parts / rows)
                best = np.maximum(best, _pp_rect(width / cols, np.full_like(width, depth / rows)))
            pp = pp * best / np.maximum(_pp_rect(width, np.full_like(width, depth)), 1e-9)
        pp = np.clip(pp, 1e-6, 1.0)
        return parts * (1.0 - pp)


def _pp_rect(w: npt.NDArray[np.float64], h: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Polsby–Popper of a ``w`` × ``h`` rectangle."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(w + h > 0, np.pi * w * h / np.square(w + h), 0.0)


def _segments(lines: npt.NDArray[np.object_]) -> npt.NDArray[np.float64]:
    """All straight segments of ``lines`` as rows ``x0, y0, x1, y1``."""
    if len(lines) == 0:
        return np.empty((0, 4))
    rows = []
    for line in shapely.get_parts(np.asarray(lines, dtype=object)):
        if line.is_empty or line.geom_type != "LineString":
            continue
        c = np.asarray(line.coords)[:, :2]
        if len(c) >= 2:
            rows.append(np.hstack([c[:-1], c[1:]]))
    return np.vstack(rows) if rows else np.empty((0, 4))


def _parallel_segments(
    segs: npt.NDArray[np.float64], u: npt.NDArray[np.float64], v: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Offsets (on ``u``) and lengths of segments running along cuts (direction ``v``)."""
    if len(segs) == 0:
        return np.empty(0), np.empty(0)
    d = segs[:, 2:] - segs[:, :2]
    length = np.hypot(d[:, 0], d[:, 1])
    keep = length > 0
    cos = np.abs(d @ v) / np.where(keep, length, 1.0)
    keep &= cos >= math.cos(math.radians(ALIGN_DEG))
    mid = (segs[keep, :2] + segs[keep, 2:]) / 2.0
    return mid @ u, length[keep]


def _aligned_length(
    offsets: npt.NDArray[np.float64],
    seg_s: npt.NDArray[np.float64],
    seg_len: npt.NDArray[np.float64],
    chord: npt.NDArray[np.float64] | float,
) -> npt.NDArray[np.float64]:
    """Length of each cut lying along inner-line segments (capped at the cut's length)."""
    if len(seg_s) == 0:
        return np.zeros(len(offsets))
    near = np.abs(offsets[:, None] - seg_s[None, :]) <= ALIGN_M
    return np.minimum(near @ seg_len, chord)


def footprints_within(piece: BaseGeometry, fps: npt.NDArray[np.object_]) -> npt.NDArray[np.bool_]:
    """Footprints lying in ``piece``.

    Cuts never split a footprint (:func:`cut_across`), so a footprint lies in the piece that
    holds its representative point: a point-in-polygon test, not an intersection per building.
    """
    if len(fps) == 0:
        return np.zeros(0, dtype=bool)
    pts = shapely.get_coordinates(shapely.point_on_surface(fps))
    shapely.prepare(piece)
    return np.asarray(shapely.contains_xy(piece, pts[:, 0], pts[:, 1]), dtype=bool)


def _tents(
    moving: npt.NDArray[np.object_],
    away: BaseGeometry,
    others: npt.NDArray[np.object_],
    poly: BaseGeometry,
    theta: float,
    t: float,
) -> BaseGeometry:
    """Ground that moves across the cut with the buildings ``moving`` to the far side.

    For each building, the part reaching into ``away`` (the side it leaves) at depth ``d``
    goes with it inside a *tent*: the convex hull of that part and the stretch of the cut
    line from ``a`` before to ``a`` after it, ``a`` = :data:`TENT_RATIO` × ``d``. The cut then
    rises to the building along the tent's slopes, adding ``2 (sqrt(d² + a²) - a)`` ≈ 0.32 d
    to its length instead of the ``2 d`` of a notch hugging the building. Buildings of the
    side ``away`` (``others``) are cut out of the tents, so none is ever split.
    """
    if len(moving) == 0:
        return shapely.Polygon()
    u = axis(theta)
    v = np.asarray([-u[1], u[0]])
    parts = shapely.intersection(shapely.convex_hull(moving), away)
    tents: list[BaseGeometry] = []
    for part in parts:
        c = shapely.get_coordinates(part)
        if len(c) == 0:
            continue
        depth = float(np.abs(c @ u - t).max())
        reach = float(np.clip(TENT_RATIO * depth, TENT_MIN_M, TENT_MAX_M))
        w = c @ v
        ends = np.asarray([t * u + (w.min() - reach) * v, t * u + (w.max() + reach) * v])
        tents.append(shapely.MultiPoint(np.vstack([c, ends])).convex_hull)
    if not tents:
        return shapely.Polygon()
    region = shapely.intersection(
        shapely.union_all(np.asarray(tents, dtype=object)), shapely.intersection(away, poly)
    )
    region = shapely.union(region, shapely.intersection(shapely.union_all(moving), poly))
    near = others[shapely.intersects(others, region)] if len(others) else others
    return shapely.difference(region, shapely.union_all(near)) if len(near) else region


def cut_across(
    poly: BaseGeometry,
    fps: npt.NDArray[np.object_],
    theta: float,
    t: float,
    *,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> tuple[BaseGeometry, BaseGeometry]:
    """Cut ``poly`` at offset ``t`` across axis ``theta``, bending around footprints.

    Returns the two sides (projection on :func:`axis` below and above ``t``), or two empty
    polygons when a side would not be one polygon.

    A footprint the straight line crosses goes whole to the side holding its centroid.
    """
    half = _halfplane(poly, theta, t)
    other = _halfplane(poly, theta + 180.0, -t)
    # both sides by intersection with their own half-plane: a difference would keep the
    # parent's long edge next to the new vertex and leave a zero-area spike along the cut
    left = shapely.intersection(poly, half)
    right = shapely.intersection(poly, other)
    if len(fps):
        crossing = shapely.intersects(fps, shapely.boundary(half))
        if crossing.any():
            at = np.flatnonzero(crossing)
            crossing[at] = shapely.area(shapely.intersection(fps[at], poly)) > 0
        if crossing.any():
            side = shapely.get_coordinates(shapely.centroid(fps)) @ axis(theta) < t
            # a crossed building goes whole to its centroid's side, in a tent of open ground
            to_left = _tents(fps[crossing & side], other, fps[~side], poly, theta, t)
            to_right = _tents(fps[crossing & ~side], half, fps[side], poly, theta, t)
            left = shapely.union(shapely.difference(left, to_right), to_left)
            right = shapely.union(shapely.difference(right, to_left), to_right)
    if left.is_empty or right.is_empty:
        return left, right
    anchors = np.asarray([left, right], dtype=object)
    fixed = make_single_part(anchors.copy(), anchors, warn=False, tolerances=tolerances)
    if shapely.get_num_geometries(fixed[0]) != 1 or shapely.get_num_geometries(fixed[1]) != 1:
        return shapely.Polygon(), shapely.Polygon()  # a part touching only at a point: refuse
    return fixed[0], fixed[1]
