"""Splitting a street block that holds more households than one grid may, between its buildings.

A block above the maximum (a compound of towers, a village with no inner streets) is cut into
*pieces* that then act as atoms of the partition. Cuts never pass through a building.
Given the band, the block is first cut by straight compact cuts, bent around buildings and
drawn to inner lines, into one region per grid it should hold (:mod:`gis.cutting.guillotine`):
grouping
faces of winding inner paths alone gave grids as crooked as the paths. Each region (or, without
the band, the whole block) is then cut further, so that grids can still be edited and adjusted
a few households at a time:

1. inner lines first: service roads, footways and walls inside the block cut it into faces
   (faces that a building straddles are merged again, so no building is cut);
2. a face still above the maximum is cut along the gaps between its buildings: every
   building gets the cell of the block nearest to its footprint (a Voronoi diagram of points
   densified along the footprints, merged per building), and each cell is then made to contain
   its footprint whole and nothing of any other footprint (:mod:`gis.cutting.voronoi`).

The partition search later groups the pieces into grids; compact cuts are preferred, then
inner lines, then gaps between buildings, through the edge penalties in :mod:`gis.cutting.atoms`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from gis.cutting.guillotine import Band, footprints_within, guillotine_split
from gis.cutting.lines import carried_on
from gis.cutting.voronoi import building_cells
from gis.geometry.ownership import assign_points, assign_polygons
from gis.geometry.tiling import shared_boundary_m
from gis.options import DEFAULT_TOLERANCES, Cuts, Tolerances
from gis.search.band import choose_k

log = logging.getLogger(__name__)

#: Faces of inner lines smaller than this (m²) are merged into their longest neighbour.
MIN_FACE_AREA_M2 = 25.0
#: Given the band, faces holding more than this share of the target are cut between buildings.
FINE_SHARE = 0.25


@dataclass(frozen=True)
class BlockPieces:
    """The pieces one block was split into; together they tile the block exactly.

    Attributes
    ----------
    geometry
        Piece polygons, in the CRS of the block.
    households
        Households per piece (integers summing to the block's total).
    n_buildings
        Buildings whose footprint lies in each piece.
    max_building_households
        Households of the largest building of each piece (0 when none).
    face
        Index of the inner-line face each piece belongs to; pieces of different faces are
        separated by an inner line, pieces of one face by a gap between buildings.
    region
        Index of the compact region (:mod:`gis.cutting.guillotine`) each piece belongs to; pieces of
        different regions are separated by a compact cut (all 0 without the band).
    faces_first
        True when the block was cut along its inner lines first (``cuts="streets"``): regions
        then lie inside faces, and pieces of different faces are separated by an inner line;
        False when regions were cut first and faces lie inside them.
    """

    geometry: npt.NDArray[np.object_]
    households: npt.NDArray[np.int64]
    n_buildings: npt.NDArray[np.int64]
    max_building_households: npt.NDArray[np.int64]
    face: npt.NDArray[np.int64]
    region: npt.NDArray[np.int64]
    faces_first: bool = False


def split_block(
    block: BaseGeometry,
    *,
    footprints: npt.ArrayLike,
    building_households: npt.ArrayLike,
    household_geoms: npt.ArrayLike,
    household_counts: npt.ArrayLike,
    inner_lines: npt.ArrayLike,
    total_households: int,
    max_households: int,
    band: Band | None = None,
    cuts: Cuts = "streets",
    inner_streets: npt.ArrayLike | None = None,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    progress: Callable[[int], None] | None = None,
) -> BlockPieces:
    """Split one block between its buildings so that pieces hold at most ``max_households``.

    Parameters
    ----------
    block
        The block polygon, in a metric CRS.
    footprints
        Building footprints lying in the block.
    building_households
        Households per footprint.
    household_geoms, household_counts
        The household source features of the block (points or polygons) and their counts;
        they decide the households of each piece when they add up to ``total_households``.
    inner_lines
        Service roads, footways and walls near the block (clipped here).
    total_households
        The block's household total; the pieces always add up to it.
    max_households
        The grid maximum: faces above it are split between their buildings.
    band
        The household band and target. With it the block is first cut by straight compact
        cuts into one region per grid it should hold (:mod:`gis.cutting.guillotine`), and the
        regions
        then along inner lines (and between buildings where still above the maximum).
    cuts
        With the band: ``streets`` (default) cuts the block along its inner lines first
        (dead-end streets carried on, :mod:`gis.cutting.lines`) and cuts straight only the
        faces still above the maximum; ``compact`` cuts the whole block straight first and
        along inner lines only inside the compact regions (more compact grids, boundaries
        residents cannot always see).
    inner_streets
        Which of ``inner_lines`` are streets whose dead ends may be carried on (default:
        none).
    tolerances
        ``building_overlap_m2``: a building overlapping two faces by more than this merges
        them; ``shared_edge_m``: which faces and cells are neighbours.
    progress
        Called with the households of the block cut so far, face after face, as its faces
        are cut between buildings (the slow part of a compound of thousands of buildings).

    Returns
    -------
    BlockPieces
        One piece when the block cannot be split (fewer than two buildings or household
        features to split between).
    """
    fps = np.asarray(footprints, dtype=object)
    fps = fps[~shapely.is_empty(fps)] if len(fps) else fps
    fhh = np.asarray(building_households, dtype=np.int64)[: len(fps)]
    hgeoms = np.asarray(household_geoms, dtype=object)
    hcounts = np.asarray(household_counts, dtype=np.int64)
    lines = np.asarray(inner_lines, dtype=object)
    anchors = _household_anchors(fps, fhh, hgeoms, hcounts)
    if band is not None and cuts == "streets":
        streets = (
            np.zeros(len(lines), dtype=bool)
            if inner_streets is None
            else np.asarray(inner_streets, dtype=bool)
        )
        lines = np.concatenate([lines, carried_on(block, lines, streets, fps)])
        faces, line_face = _streets_first(block, fps, fhh, anchors, lines, band, tolerances)
        face_region = list(range(len(faces)))
    else:
        regions = (
            _guillotine_regions(block, fps, fhh, anchors, lines, band, tolerances)
            if band is not None
            else [block]
        )
        faces, face_region = [], []
        line_face = None
        for r, region in enumerate(regions):
            region_faces = inner_line_faces(region, lines, fps, tolerances=tolerances)
            faces.extend(region_faces)
            face_region.extend([r] * len(region_faces))
    # with the band, faces are also cut between buildings when they hold more than a fraction
    # of a grid, so that a grid in a compound can be edited or adjusted a few buildings at a time
    fine = max_households if band is None else max(1, int(FINE_SHARE * band.target))
    pieces, piece_face = _cut_between_buildings(
        faces, fine, anchors, fps, hgeoms, tolerances, progress
    )
    geoms = np.asarray(pieces, dtype=object)
    households = _piece_households(geoms, fps, fhh, hgeoms, hcounts, total_households)
    n_buildings, max_bld = _building_counts(geoms, fps, fhh)
    piece_region = np.asarray(face_region, dtype=np.int64)[piece_face]
    return BlockPieces(
        geometry=geoms,
        households=households,
        n_buildings=n_buildings,
        max_building_households=max_bld,
        face=(
            piece_face if line_face is None else np.asarray(line_face, dtype=np.int64)[piece_region]
        ),
        region=piece_region,
        faces_first=line_face is not None,
    )


def _cut_between_buildings(
    faces: list[BaseGeometry],
    fine: int,
    anchors: tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]],
    fps: npt.NDArray[np.object_],
    hgeoms: npt.NDArray[np.object_],
    tolerances: Tolerances,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[BaseGeometry], npt.NDArray[np.int64]]:
    """Faces holding more than ``fine`` households cut into building cells; the face of each."""
    pieces: list[BaseGeometry] = []
    piece_face: list[int] = []
    done = 0
    for f, face in enumerate(faces):
        cells: list[BaseGeometry] = [face]
        held = _face_households(face, anchors)
        if held > fine:
            gens = _merge_overlapping(_generators_in(face, fps, hgeoms, tolerances))
            if len(gens) >= 2:
                cells = building_cells(face, gens, tolerances=tolerances)
        pieces.extend(cells)
        piece_face.extend([f] * len(cells))
        done += held
        if progress is not None:
            progress(done)
    return pieces, np.asarray(piece_face, dtype=np.int64)


def _building_counts(
    pieces: npt.NDArray[np.object_], fps: npt.NDArray[np.object_], fhh: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Buildings per piece and households of the largest building of each piece."""
    n_buildings = np.zeros(len(pieces), dtype=np.int64)
    max_bld = np.zeros(len(pieces), dtype=np.int64)
    if len(fps):
        owner, _ = assign_polygons(fps, pieces)
        for o, hh in zip(owner.tolist(), fhh.tolist(), strict=True):
            if o >= 0:
                n_buildings[o] += 1
                max_bld[o] = max(max_bld[o], hh)
    return n_buildings, max_bld


def inner_line_faces(
    block: BaseGeometry,
    lines: npt.NDArray[np.object_],
    footprints: npt.NDArray[np.object_],
    *,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> list[BaseGeometry]:
    """Cut a block along inner lines into faces, never through a building.

    Faces a footprint overlaps by more than ``tolerances.building_overlap_m2`` each are
    merged, and slivers under :data:`MIN_FACE_AREA_M2` join their longest neighbour. Returns
    ``[block]`` when the lines cut nothing.
    """
    if len(lines) == 0:
        return [block]
    clipped = shapely.intersection(lines, block)
    clipped = clipped[~shapely.is_empty(clipped) & (shapely.length(clipped) > 0)]
    if len(clipped) == 0:
        return [block]
    noded = shapely.union_all(np.concatenate([[shapely.boundary(block)], clipped]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if len(faces) < 2:
        return [block]
    inside = shapely.covered_by(shapely.point_on_surface(faces), block)
    faces = faces[inside]
    if len(faces) < 2 or abs(shapely.area(faces).sum() - block.area) > 1e-6 * block.area + 0.01:
        return [block]
    labels = np.arange(len(faces), dtype=np.int64)
    if len(footprints):
        tree = shapely.STRtree(faces)
        bi, fi = tree.query(footprints, predicate="intersects")
        if len(bi):
            overlap = shapely.area(shapely.intersection(footprints[bi], faces[fi]))
            keep = overlap > tolerances.building_overlap_m2
            bi, fi = bi[keep], fi[keep]
            # faces sharing a building: join each to the building's first face
            order = np.lexsort((fi, bi))
            bi, fi = bi[order], fi[order]
            first = np.searchsorted(bi, bi)
            labels = _union_pairs(len(faces), fi[first], fi)
    merged = _dissolve(faces, labels)
    merged = _absorb_small(merged, MIN_FACE_AREA_M2, tolerances)
    return list(merged)


def _streets_first(
    block: BaseGeometry,
    fps: npt.NDArray[np.object_],
    fhh: npt.NDArray[np.int64],
    anchors: tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]],
    lines: npt.NDArray[np.object_],
    band: Band,
    tolerances: Tolerances,
) -> tuple[list[BaseGeometry], list[int]]:
    """Faces of the inner lines, those above the maximum cut straight: the regions, and the
    face each lies in (regions of one face meet along a straight cut, of two along a line).
    """
    pieces: list[BaseGeometry] = []
    face_of: list[int] = []
    points, counts = anchors
    for f, face in enumerate(inner_line_faces(block, lines, fps, tolerances=tolerances)):
        at = shapely.covered_by(points, face) if len(points) else np.zeros(0, dtype=bool)
        if int(counts[at].sum()) <= band.max_households:
            pieces.append(face)
            face_of.append(f)
            continue
        inside = footprints_within(face, fps)
        regions = _guillotine_regions(
            face, fps[inside], fhh[inside], (points[at], counts[at]), lines, band, tolerances
        )
        pieces.extend(regions)
        face_of.extend([f] * len(regions))
    return pieces, face_of


def _guillotine_regions(
    block: BaseGeometry,
    fps: npt.NDArray[np.object_],
    fhh: npt.NDArray[np.int64],
    anchors: tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]],
    lines: npt.NDArray[np.object_],
    band: Band,
    tolerances: Tolerances,
) -> list[BaseGeometry]:
    """Straight compact cuts of the block into one region per grid it should hold."""
    points, counts = anchors
    total = int(counts.sum())
    heavy = [int(x) for x in fhh if x > band.max_households]
    parts, _ = choose_k(total, heavy, band)
    if parts <= 1:
        return [block]
    clipped = shapely.intersection(lines, block) if len(lines) else lines
    return guillotine_split(
        block,
        anchors=shapely.get_coordinates(points).reshape(-1, 2),
        anchor_households=counts,
        footprints=_merge_overlapping(fps) if len(fps) else fps,
        inner_lines=clipped,
        parts=parts,
        band=band,
        angle=block_angle(block),
        tolerances=tolerances,
    )


def block_angle(block: BaseGeometry) -> float:
    """Direction (degrees) of the longer side of the block's minimum rotated rectangle."""
    ring = shapely.get_coordinates(shapely.oriented_envelope(block))
    if len(ring) < 4:
        return 0.0
    sides = np.diff(ring[:3], axis=0)
    d = sides[int(np.argmax(np.hypot(sides[:, 0], sides[:, 1])))]
    return float(np.degrees(np.arctan2(d[1], d[0])))


def _merge_overlapping(gens: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """Union footprints that overlap each other (building parts, duplicates) into one.

    Two overlapping footprints in different cells would leave one of them split.
    """
    if len(gens) < 2 or not (shapely.get_type_id(gens) >= 3).all():
        return gens
    a, b = shapely.STRtree(gens).query(gens, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return gens
    overlap = shapely.area(shapely.intersection(gens[a], gens[b])) > 0
    if not overlap.any():
        return gens
    labels = _union_pairs(len(gens), a[overlap], b[overlap])
    return _dissolve(gens, labels)


def _generators_in(
    face: BaseGeometry,
    footprints: npt.NDArray[np.object_],
    hgeoms: npt.NDArray[np.object_],
    tolerances: Tolerances,
) -> npt.NDArray[np.object_]:
    """Footprints inside ``face``; household features when the face has no footprints."""
    if len(footprints):
        overlap = shapely.area(shapely.intersection(footprints, face))
        inside = overlap > tolerances.building_overlap_m2
        if inside.sum() >= 1:
            return footprints[inside]
    if len(hgeoms):
        pts = shapely.point_on_surface(hgeoms)
        pts = pts[shapely.covered_by(pts, face)]
        _, first = np.unique(np.round(shapely.get_coordinates(pts), 3), axis=0, return_index=True)
        return pts[np.sort(first)]
    return np.empty(0, dtype=object)


def _household_anchors(
    fps: npt.NDArray[np.object_],
    fhh: npt.NDArray[np.int64],
    hgeoms: npt.NDArray[np.object_],
    hcounts: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]:
    """A point and a count per household feature, or per building when there are none."""
    if len(hgeoms) and hcounts.sum() > 0:
        return shapely.point_on_surface(hgeoms), hcounts
    if len(fps):
        return shapely.point_on_surface(fps), fhh
    return np.empty(0, dtype=object), np.zeros(0, dtype=np.int64)


def _face_households(
    face: BaseGeometry, anchors: tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]
) -> int:
    """Households in one face (see :func:`_household_anchors`)."""
    points, counts = anchors
    return int(counts[shapely.covered_by(points, face)].sum()) if len(points) else 0


def _piece_households(
    pieces: npt.NDArray[np.object_],
    fps: npt.NDArray[np.object_],
    fhh: npt.NDArray[np.int64],
    hgeoms: npt.NDArray[np.object_],
    hcounts: npt.NDArray[np.int64],
    total: int,
) -> npt.NDArray[np.int64]:
    """Households per piece, always summing to ``total`` (largest remainder if sources differ)."""
    n = len(pieces)
    if n == 1:
        return np.asarray([total], dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    source_total = 0
    if len(hgeoms) and hcounts.sum() > 0:
        points = shapely.get_type_id(hgeoms) == 0
        where = np.full(len(hgeoms), -1, dtype=np.int64)
        if points.any():
            where[points] = assign_points(hgeoms[points], pieces)
        if (~points).any():
            where[~points] = assign_polygons(hgeoms[~points], pieces)[0]
        ok = where >= 0
        np.add.at(counts, where[ok], hcounts[ok])
        source_total = int(hcounts[ok].sum())
    if source_total != total and len(fps) and fhh.sum() > 0:
        where, _ = assign_polygons(fps, pieces)
        ok = where >= 0
        alt = np.zeros(n, dtype=np.int64)
        np.add.at(alt, where[ok], fhh[ok])
        if int(alt.sum()) == total or source_total == 0:
            counts, source_total = alt, int(alt.sum())
    if source_total == total:
        return counts
    weights = counts.astype(float) if source_total > 0 else shapely.area(pieces)
    return _largest_remainder(weights, total)


def _largest_remainder(weights: npt.NDArray[np.float64], total: int) -> npt.NDArray[np.int64]:
    """Integers proportional to ``weights`` that add up to ``total`` exactly."""
    share = weights / weights.sum() * total if weights.sum() > 0 else np.full(len(weights), 0.0)
    base = np.floor(share).astype(np.int64)
    rest = total - int(base.sum())
    if rest > 0:
        order = np.lexsort((np.arange(len(share)), -(share - base)))
        base[order[:rest]] += 1
    return base


def _union_pairs(
    n: int, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Connected groups of ``n`` items joined pairwise by ``(a[i], b[i])``: a label per item."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    return np.asarray([find(i) for i in range(n)], dtype=np.int64)


def _dissolve(
    geoms: npt.NDArray[np.object_], labels: npt.NDArray[np.int64]
) -> npt.NDArray[np.object_]:
    """Union geometries per label (labels in first-seen order)."""
    out = []
    for lab in dict.fromkeys(labels.tolist()):
        members = geoms[labels == lab]
        out.append(members[0] if len(members) == 1 else shapely.union_all(members))
    return np.asarray(out, dtype=object)


def _absorb_small(
    faces: npt.NDArray[np.object_], min_area_m2: float, tolerances: Tolerances
) -> npt.NDArray[np.object_]:
    """Merge faces smaller than ``min_area_m2`` into the neighbour they share most edge with."""
    faces = faces.copy()
    alive = np.ones(len(faces), dtype=bool)
    for i in np.argsort(shapely.area(faces), kind="stable"):
        if len(faces) - (~alive).sum() <= 1 or faces[i].area >= min_area_m2:
            continue
        others = np.flatnonzero(alive & (np.arange(len(faces)) != i))
        shared = shared_boundary_m(
            np.full(len(others), faces[i], dtype=object), faces[others], tolerances=tolerances
        )
        if shared.max(initial=0.0) <= 0:
            continue
        j = int(others[int(np.argmax(shared))])
        faces[j] = shapely.union(faces[j], faces[i])
        alive[i] = False
    return faces[alive]
