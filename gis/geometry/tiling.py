"""Helpers for pieces that tile a polygon: shared edges, exact noding and single-part pieces."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from gis.arrays import ranges
from gis.options import DEFAULT_TOLERANCES, Tolerances

log = logging.getLogger(__name__)


def shared_boundary_m(
    a: npt.ArrayLike, b: npt.ArrayLike, *, tolerances: Tolerances = DEFAULT_TOLERANCES
) -> npt.NDArray[np.float64]:
    """Length (m) of boundary that polygons ``a[i]`` and ``b[i]`` share, pair by pair.

    Boundaries are matched within ``tolerances.shared_edge_m``, so edges that coincide only
    up to floating point noise (a piece cut from a block against the neighbouring block)
    still count; two pieces running side by side a few centimetres apart share nothing.
    """
    ga = np.asarray(a, dtype=object)
    gb = np.asarray(b, dtype=object)
    if len(ga) == 0:
        return np.zeros(0)
    tolerance_m = tolerances.shared_edge_m
    # a polygon is usually in several pairs: its outline is buffered once
    _, first, again = np.unique(
        np.fromiter(map(id, gb), dtype=np.int64, count=len(gb)),
        return_index=True,
        return_inverse=True,
    )
    near = shapely.buffer(shapely.boundary(gb[first]), tolerance_m, quad_segs=2)[again]
    length = shapely.length(shapely.intersection(shapely.boundary(ga), near))
    # a corner contact still leaves a stub about two tolerances long
    return np.where(length > 4 * tolerance_m, length, 0.0)


def node_together(
    geoms: npt.ArrayLike, *, tolerances: Tolerances = DEFAULT_TOLERANCES
) -> npt.NDArray[np.object_]:
    """Redraw polygons that tile a region from one noded arrangement of their outlines.

    Pieces cut from one block meet along edges that coincide only up to floating-point
    noise (a vertex of one lies 1e-7 m off the other's edge): they share tens of metres of
    boundary, yet their union is two polygons touching at a point with a hair-thin sliver
    between them, and a grid made of them came out multipart. Polygonising the union of all
    outlines gives faces whose edges are shared exactly; each face goes to the polygon that
    holds its representative point, a noise sliver between two of them (up to
    ``tolerances.dust_m2``) to the one it shares most boundary with, and faces inside none
    (holes) are dropped, so neighbours share their edges vertex for vertex and any union of
    them is clean.

    Parameters
    ----------
    geoms
        Polygons that tile a region (up to noise).
    tolerances
        ``dust_m2``: the largest sliver between polygons that is noise;
        ``shared_edge_m``: how the sliver's shared boundary is measured.

    Returns
    -------
    numpy.ndarray
        The same polygons, in the same order, noded together. A polygon that would receive
        no face keeps its original geometry.
    """
    g = np.asarray(geoms, dtype=object)
    if len(g) < 2:
        return g
    lines = shapely.get_parts(shapely.union_all(shapely.boundary(g)))
    faces = shapely.get_parts(shapely.polygonize(lines))
    if len(faces) == 0:
        return g
    points = shapely.point_on_surface(faces)
    fi, gi = shapely.STRtree(g).query(points, predicate="intersects")
    owner = np.full(len(faces), -1, dtype=np.int64)
    owner[fi[::-1]] = gi[::-1]  # the lowest index wins a point on a shared edge
    dust = np.flatnonzero((owner < 0) & (shapely.area(faces) <= tolerances.dust_m2))
    if len(dust):
        owner[dust] = _most_shared(faces[dust], g, tolerances)
    out = g.copy()
    kept = np.flatnonzero(owner >= 0)
    by_owner = kept[np.argsort(owner[kept], kind="stable")]
    cut = np.flatnonzero(np.diff(owner[by_owner])) + 1
    for run in np.split(by_owner, cut) if len(by_owner) else ():
        # not a coverage union, though the faces are an exact coverage: its vertex order
        # differs, and on one holdout area that alone changed the plan (44 grids -> 42)
        out[owner[run[0]]] = faces[run[0]] if len(run) == 1 else shapely.union_all(faces[run])
    return out


def _most_shared(
    pieces: npt.NDArray[np.object_], polygons: npt.NDArray[np.object_], tolerances: Tolerances
) -> npt.NDArray[np.int64]:
    """For each piece, the polygon it shares most boundary with (-1: it touches none).

    Ties go to the polygon the tree lists first (as one query per piece would).
    """
    pi, gi = shapely.STRtree(polygons).query(pieces, predicate="intersects")
    best = np.full(len(pieces), -1, dtype=np.int64)
    if len(pi) == 0:
        return best
    shared = shared_boundary_m(pieces[pi], polygons[gi], tolerances=tolerances)
    # by piece, most shared first, then in the tree's order (a bulk query lists each piece's
    # polygons in the order a query of that piece alone returns them)
    order = np.lexsort((np.arange(len(pi)), -shared, pi))
    first = order[np.r_[True, pi[order][1:] != pi[order][:-1]]]
    best[pi[first]] = gi[first]
    return best


def snap_to_pieces(
    local: npt.NDArray[np.object_], n_pieces: int, snap_m: float
) -> npt.NDArray[np.object_]:
    """Snap each of ``local`` to the vertices of the pieces (its first ``n_pieces``) near it.

    Cutting a block puts new vertices on its outline that lie on the neighbouring block's
    edges only up to floating-point noise; snapping the pieces and their neighbours to those
    vertices (within ``snap_m``) before :func:`node_together` leaves it no slivers to sort
    out. A piece is never snapped to itself; every geometry is snapped to the pieces as cut
    (not as already snapped), so the order does not matter and one call snaps them all.
    """
    pieces = local[:n_pieces]
    near, hit = shapely.STRtree(pieces).query(local, predicate="dwithin", distance=snap_m)
    keep = near != hit
    near, hit = near[keep], hit[keep]
    out = local.copy()
    if len(near) == 0:
        return out
    coords, of_piece = shapely.get_coordinates(pieces, return_index=True)
    starts = np.searchsorted(of_piece, np.arange(n_pieces + 1))
    counts = (starts[1:] - starts[:-1])[hit]
    # the coordinates of every near piece, in pair order, grouped by the geometry snapped
    rows = ranges(starts[:-1][hit], counts)
    targets = np.unique(near)
    group = np.searchsorted(targets, np.repeat(near, counts))
    # snapping uses only the reference's vertices: a line through them is the same reference
    # and is built straight from the coordinates (a multipoint would make each point first)
    refs = shapely.linestrings(coords[rows], indices=group)
    snapped = shapely.snap(local[targets], refs, snap_m)
    bad = ~shapely.is_valid(snapped)
    if bad.any():
        snapped[bad] = shapely.make_valid(snapped[bad], method="structure", keep_collapsed=False)
    out[targets] = snapped
    return out


def make_single_part(
    cells: npt.NDArray[np.object_],
    anchors: npt.NDArray[np.object_],
    *,
    warn: bool = True,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> list[BaseGeometry]:
    """Keep in each cell the part that holds its anchor; give stray parts to a neighbour.

    A stray part goes to the neighbour it shares most boundary with
    (:func:`shared_boundary_m`). A stray part with no neighbour stays (the cell is then
    multipart, logged unless ``warn`` is off for a caller that checks and refuses such
    results itself).
    """
    kept: list[BaseGeometry] = []
    strays: list[BaseGeometry] = []
    for cell, anchor in zip(cells, anchors, strict=True):
        parts = shapely.get_parts(cell)
        parts = parts[shapely.area(parts) > 0]
        if len(parts) <= 1:
            kept.append(parts[0] if len(parts) else cell)
            continue
        overlap = shapely.area(shapely.intersection(parts, anchor))
        best = int(np.argmax(overlap))
        kept.append(parts[best])
        strays.extend(np.delete(parts, best).tolist())
    kept_arr = np.asarray(kept, dtype=object)
    for _ in range(8):
        if not strays:
            break
        left: list[BaseGeometry] = []
        tree = shapely.STRtree(kept_arr)  # envelopes only grow as strays merge in
        for stray in strays:
            cand = tree.query(stray, predicate="intersects")
            if len(cand) == 0:
                left.append(stray)
                continue
            shared = shared_boundary_m(
                np.full(len(cand), stray, dtype=object), kept_arr[cand], tolerances=tolerances
            )
            if shared.max() <= 0:
                left.append(stray)
                continue
            k = int(cand[int(np.argmax(shared))])
            kept_arr[k] = shapely.union(kept_arr[k], stray)
        strays = left
    if strays:  # a face in parts that meet at a point; keep coverage exact regardless
        stray_arr = np.asarray(strays, dtype=object)
        # each goes to the nearest cell (it touches it, at a corner), not to an arbitrary one
        _, nearest = shapely.STRtree(kept_arr).query_nearest(stray_arr, all_matches=False)
        if warn:
            log.warning(
                "%d stray cell parts (%.1f m² in all) share no edge with any cell; "
                "each joined the nearest cell as a separate part",
                len(strays),
                float(shapely.area(stray_arr).sum()),
            )
        for k in np.unique(nearest).tolist():
            kept_arr[k] = shapely.union_all([kept_arr[k], *stray_arr[nearest == k]])
    return list(kept_arr)


#: Grid (m) to which a fragile outline is snap-rounded (see :func:`robust_outlines`).
TIDY_M = 1e-7


def drop_pinholes(
    polys: npt.ArrayLike, *, tolerances: Tolerances = DEFAULT_TOLERANCES
) -> npt.NDArray[np.object_]:
    """Remove holes and stray parts under ``tolerances.gap_m2`` from each polygon.

    In a dissolved grid they are gaps between its atoms (floating-point noise), not enclaves.
    """
    pinhole_m2 = tolerances.gap_m2
    arr = np.asarray(polys, dtype=object)
    out = arr.copy()
    noisy = (shapely.get_num_interior_rings(arr) > 0) | (shapely.get_num_geometries(arr) > 1)
    for i in np.flatnonzero(noisy).tolist():
        pieces = shapely.get_parts(arr[i])
        pieces = pieces[shapely.get_type_id(pieces) == 3]
        big = shapely.area(pieces) >= pinhole_m2
        pieces = pieces[big] if big.any() else pieces
        parts = [
            shapely.Polygon(
                p.exterior, [r for r in p.interiors if shapely.Polygon(r).area >= pinhole_m2]
            )
            for p in pieces
        ]
        out[i] = parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
    return out


def tidy(
    geoms: npt.ArrayLike,
    *,
    grid_size_m: float = TIDY_M,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> npt.NDArray[np.object_]:
    """Close pinches by snap-rounding every outline to ``grid_size_m``.

    Carving sites out of blocks, or bending a cut around a building, can leave a hair-thin
    spike whose tip lies a nanometre from the polygon's own outline: valid in the working
    CRS, self-intersecting once reprojected. Snap-rounding (the same grid for every grid, so
    shared edges stay shared) nodes the tip onto the outline and drops the collapsed spike;
    the fixed precision model is then stripped so later overlays run in full precision.
    """
    rounded = shapely.set_precision(np.asarray(geoms, dtype=object), grid_size_m)
    return drop_pinholes(shapely.from_wkb(shapely.to_wkb(rounded)), tolerances=tolerances)


def fragile(geoms: npt.ArrayLike, crs: pyproj.CRS | str | int) -> npt.NDArray[np.bool_]:
    """Which polygons turn invalid in longitude/latitude (EPSG:4326), or once read back."""
    import geopandas as gpd  # noqa: PLC0415 (only for the reprojection)

    series = gpd.GeoSeries(np.asarray(geoms, dtype=object), crs=crs)
    wgs = series.to_crs(4326)
    back = wgs.to_crs(series.crs)
    # invalid in degrees (what a store writes) or once read back into metres
    return np.asarray(
        ~shapely.is_valid(wgs.to_numpy()) | ~shapely.is_valid(back.to_numpy()), dtype=bool
    )


def join_parts(
    polys: npt.ArrayLike, *, tolerances: Tolerances = DEFAULT_TOLERANCES
) -> npt.NDArray[np.object_]:
    """Make one polygon of the parts of a dissolved grid that share an edge.

    The search joins atoms that share at least ``tolerances.min_shared_m`` of boundary
    (measured within ``tolerances.shared_edge_m``, :func:`shared_boundary_m`); when their
    outlines differ by floating-point noise along that edge, the exact union is two polygons
    touching at a point with a sliver a nanometre wide between them. Snapping each part onto
    the others' vertices (within ``shared_edge_m``) closes the sliver, so a grid is one
    polygon exactly when its atoms are adjacent in the search's sense. Parts that meet at a
    corner only are left apart (the checks then report the grid as multipart).
    """
    arr = np.asarray(polys, dtype=object)
    out = arr.copy()
    for i in np.flatnonzero(shapely.get_num_geometries(arr) > 1).tolist():
        parts = list(shapely.get_parts(arr[i]))
        merged = True
        while merged and len(parts) > 1:
            merged = False
            for j in range(1, len(parts)):
                shared = shared_boundary_m([parts[0]], [parts[j]], tolerances=tolerances)[0]
                if shared < tolerances.min_shared_m:
                    continue
                ref = shapely.multipoints(shapely.get_coordinates(parts[0]))
                snapped = shapely.make_valid(shapely.snap(parts[j], ref, tolerances.shared_edge_m))
                joined = shapely.union(parts[0], snapped)
                if shapely.get_num_geometries(joined) > 1:
                    eps = tolerances.shared_edge_m
                    joined = shapely.buffer(
                        shapely.buffer(joined, eps, join_style="mitre"), -eps, join_style="mitre"
                    )
                if shapely.get_num_geometries(joined) == 1:
                    parts = [joined, *parts[1:j], *parts[j + 1 :]]
                    merged = True
                    break
        out[i] = parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
    return out


#: Vertices closer than this (m) are float noise, not geometry (far below ``Tolerances.snap_m``).
NOISE_M = 1e-9


def _repaired(geoms: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """The polygons with each invalid one made valid (collapsed parts dropped)."""
    arr = np.asarray(geoms, dtype=object).copy()
    invalid = ~shapely.is_valid(arr)
    if invalid.any():
        arr[invalid] = shapely.make_valid(arr[invalid], method="structure", keep_collapsed=False)
    return arr


def robust_outlines(
    geoms: npt.ArrayLike,
    crs: pyproj.CRS | str | int | None,
    *,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
) -> npt.NDArray[np.object_]:
    """Dissolved grids ready to be written anywhere: no pinholes, no reprojection-fragile spikes.

    Parts that share an edge become one polygon (:func:`join_parts`); pinholes are holes and
    stray parts up to ``tolerances.gap_m2`` (see :func:`drop_pinholes`). An outline that is
    invalid in the working CRS (a zero-area spike left by a cut through a compound touches
    its own ring) is repaired, its collapsed parts dropped, so a plan never
    carries a polygon a store refuses; whatever area that changes is counted by the checks.
    """
    out = drop_pinholes(join_parts(_repaired(geoms), tolerances=tolerances), tolerances=tolerances)
    # vertices a float-noise apart (left by noding pieces together) become one vertex after
    # reprojection to degrees, and such repeated points break exact GeoJSON round trips;
    # merging them can pinch a hair-thin spike into a ring that touches itself: repaired
    out = np.asarray(shapely.remove_repeated_points(out, NOISE_M), dtype=object)
    out = drop_pinholes(_repaired(out), tolerances=tolerances)
    if crs is not None and len(out):
        weak = fragile(out, crs)
        if weak.any():
            out[weak] = tidy(out[weak], tolerances=tolerances)
    return out
