"""How much of each grid's boundary runs along lines: the street-share figures of the checks.

The boundary is cut into pieces of at most :data:`SEGMENT_M` and each piece's midpoint (once
where two grids share it) is asked whether a line lies within the tolerance
(:func:`gis.geometry.near.within_distance`).
Each grid's figures depend only on its own outline and the lines near it, so on a cluster
(:func:`near_lengths_on`) runs of grids of a large plan are measured on the workers, each task
sent only the lines near its grids, with the same figures as in one process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gis.errors import ClusterError
from gis.geometry.near import within_distance
from gis.parallel.cluster import worker_threads
from gis.parallel.run import TaskFailure, run_tasks

if TYPE_CHECKING:
    from distributed import Client

#: Boundary pieces (m) the street-share check measures at a time.
SEGMENT_M = 5.0
#: Boundary pieces whose midpoints agree to this (m) are the same piece, seen from both grids
#: (their ends differ by float noise, ~1e-9 m); distinct pieces lie far further apart.
MIDPOINT_GRID_M = 1e-6
#: On a cluster the street-share figures (most of a check's time) are measured in this many
#: runs of consecutive grids per worker thread, each sent only the lines near its grids.
CHUNKS_PER_THREAD = 4
#: …when the plan has at least this many grids; below, sending grids and lines costs more
#: than it saves: on the SYNTHETIC city of 1,900 grids (bench/scale.py) the figures took
#: 1.2 s on 2 workers and 0.6 s in the client's process with shapely's ``dwithin``, 0.3-0.4 s
#: since (:mod:`gis.geometry.near`).
CLUSTER_MIN_GRIDS = 20_000


def lines_of(layers: list[npt.NDArray[np.object_]]) -> npt.NDArray[np.object_]:
    """The non-empty lines of some layers, as one array."""
    ref = np.concatenate(layers) if layers else np.empty(0, dtype=object)
    return ref[~shapely.is_empty(ref)]


def near_lengths(
    geoms: npt.NDArray[np.object_],
    groups: list[npt.NDArray[np.object_]],
    buffer_m: float,
) -> tuple[list[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    """Boundary length per grid within ``buffer_m`` of lines, and in total.

    ``groups`` are arrays of lines added in turn: the k-th length counts the boundary near
    any line of groups 0..k. The boundary is cut into pieces of at most ``SEGMENT_M`` once;
    each later group is asked only about the pieces no earlier group was near. Each grid's
    figures depend on its own outline and the lines near it only (what lets
    :func:`gis.checks.validate.validate_plan` measure runs of grids on a cluster).
    """
    start, end, seg_grid = boundary_pieces(geoms)
    length = np.hypot(*(end - start).T)
    total = np.bincount(seg_grid, weights=length, minlength=len(geoms)).astype(np.float64)
    # a boundary between two grids is in both outlines: each piece is asked about once
    mid = (start + end) / 2.0
    first, piece = _pieces(mid)
    near_piece = np.zeros(len(first), dtype=bool)
    out: list[npt.NDArray[np.float64]] = []
    for ref in groups:
        ask = np.flatnonzero(~near_piece)
        if len(ref) and len(ask):
            near_piece[ask] = within_distance(mid[first[ask]], ref, buffer_m)
        near = near_piece[piece]
        out.append(
            np.bincount(seg_grid[near], weights=length[near], minlength=len(geoms)).astype(
                np.float64
            )
        )
    return out, total


def boundary_pieces(
    geoms: npt.NDArray[np.object_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The outlines of ``geoms`` cut into pieces of at most :data:`SEGMENT_M`: each piece's
    start and end (n × 2) and the position of its geometry."""
    rings, ring_grid = shapely.get_rings(geoms, return_index=True)
    dense = shapely.segmentize(rings, SEGMENT_M)
    coords, ring_of = shapely.get_coordinates(dense, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    return coords[:-1][same], coords[1:][same], ring_grid[ring_of[:-1][same]]


def _pieces(mid: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The distinct boundary pieces among midpoints ``mid``: a first row of each, each row's piece.

    Midpoints are snapped to :data:`MIDPOINT_GRID_M` and hashed as one complex number per
    row (exact: the snapped values are integers far below 2**53); a hash table
    (:func:`pandas.factorize`) finds the pieces 8 times faster than sorting the rows
    (``numpy.unique(axis=0)``, most of the check's time on a city of 1,900 grids).
    """
    snapped = np.round(mid / MIDPOINT_GRID_M)
    piece, _ = pd.factorize(snapped[:, 0] + 1j * snapped[:, 1])
    # factorize numbers pieces in order of first appearance: a row starts a piece where the
    # running maximum of the numbers goes up
    first = np.flatnonzero(np.diff(np.maximum.accumulate(piece), prepend=-1) > 0)
    return first.astype(np.int64), piece.astype(np.int64)


def near_lengths_on(
    client: Client,
    geoms: npt.NDArray[np.object_],
    groups: list[npt.NDArray[np.object_]],
    buffer_m: float,
) -> tuple[list[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    """:func:`near_lengths` on a cluster: runs of consecutive grids (a unit's grids lie
    together), each task sent its grids and only the lines whose box comes within
    ``buffer_m`` of one of them; the figures are those of the whole computed at once.
    Fewer than :data:`CLUSTER_MIN_GRIDS` grids are measured here."""
    if len(geoms) < CLUSTER_MIN_GRIDS:
        return near_lengths(geoms, groups, buffer_m)
    n = max(1, min(len(geoms), CHUNKS_PER_THREAD * worker_threads(client)))
    runs = np.array_split(np.arange(len(geoms)), n)
    trees = [shapely.STRtree(ref) for ref in groups]
    reach = shapely.bounds(geoms) + np.array([-buffer_m, -buffer_m, buffer_m, buffer_m])
    boxes = shapely.box(*reach.T)

    def payload(rows: npt.NDArray[np.int64]) -> tuple[Any, ...]:
        # WKB in one call per array: pickling geometries one by one costs 16 µs each
        near = [
            shapely.to_wkb(ref[np.unique(tree.query(boxes[rows])[1])])
            for ref, tree in zip(groups, trees, strict=True)
        ]
        return shapely.to_wkb(geoms[rows]), near, buffer_m

    found = run_tasks(
        _near_lengths_task,
        (payload(rows) for rows in runs),
        client=client,
        step="checking street share",
        name="wangge-check",
    )
    failed = [f.reason for f in found if isinstance(f, TaskFailure)]
    if failed:
        msg = f"the street-share check failed on the cluster: {failed[0]}"
        raise ClusterError(msg)
    parts = [f for f in found if not isinstance(f, TaskFailure)]
    lengths = [np.concatenate([p[0][k] for p in parts]) for k in range(len(groups))]
    return lengths, np.concatenate([p[1] for p in parts])


def _near_lengths_task(
    payload: tuple[npt.NDArray[np.object_], list[npt.NDArray[np.object_]], float],
) -> tuple[list[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    grids, groups, buffer_m = payload
    return near_lengths(shapely.from_wkb(grids), [shapely.from_wkb(g) for g in groups], buffer_m)
