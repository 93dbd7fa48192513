"""Stamp grid codes on millions of points in one pass: :func:`assign_points`, ``wangge assign``.

The points (a file or folder of GeoParquet, Parquet with lon/lat, or CSV; see
:mod:`gis.serving.points`) are cut into parts of bounded size. Each part is read, converted to
WGS 84 (GCJ-02, BD-09, CGCS2000 or any EPSG CRS, as lookups do) and located by the same
:class:`gis.serving.lookup.GridIndex` and boundary rule the service's ``/lookup`` uses, so both
answer the same grid for every point; its rows are written back with ``grid_code`` and
``unit_code`` (null outside every grid) as one Parquet part. On a Dask cluster every part is
one task (workers read the points and write the parts themselves, so both must lie on a
filesystem every worker sees); the index is sent to each worker once. A worker holds one part
at a time: memory is bounded by the part, never by the table.

Nothing partial is ever left: parts are written into a temporary folder beside the output,
which replaces the output only once every part is written; a part whose worker dies is run
again elsewhere, and a part that fails makes the whole run fail with its reason.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from gis import columns as col
from gis.errors import AssignError, GeometryError, OptionError, PointsError
from gis.geometry.coords import to_wgs84
from gis.options import Progress
from gis.parallel.cluster import describe_client, require_paths
from gis.parallel.run import TaskFailure, run_tasks
from gis.serving.lookup import GridIndex, points_to_wgs84
from gis.serving.points import (
    CSV_BYTES_PER_PART,
    ROWS_PER_PART,
    PointPart,
    plan_parts,
    read_part,
    source_files,
)
from gis.store import Store, open_store

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

#: Columns added to every row.
ADDED: Final = (col.GRID_CODE, col.UNIT_CODE)


@dataclass(frozen=True)
class AssignResult:
    """What :func:`assign_points` wrote.

    Attributes
    ----------
    out
        The folder of Parquet parts (``part-00000.parquet``…, in input order).
    version_id
        The plan version the points were located in.
    rows, in_grids
        Points read, and those inside a grid (the rest have null codes).
    parts
        Parts written.
    seconds
        Wall time of the whole run.
    where
        Where it ran (:func:`gis.parallel.describe_client`).
    """

    out: Path
    version_id: int
    rows: int
    in_grids: int
    parts: int
    seconds: float
    where: dict[str, Any]

    @property
    def outside(self) -> int:
        """Points outside every grid."""
        return self.rows - self.in_grids

    @property
    def points_per_s(self) -> float:
        """Throughput of the whole run."""
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


@dataclass(frozen=True)
class PartDone:
    """One written part: its index, rows, rows inside a grid and seconds."""

    index: int
    rows: int
    in_grids: int
    seconds: float


def assign_points(
    points: str | Path,
    *,
    store: Store | str | Path,
    out: str | Path,
    crs: str | None = None,
    version: int | None = None,
    as_of: datetime | None = None,
    client: Client | None = None,
    rows_per_part: int = ROWS_PER_PART,
    csv_part_bytes: int = CSV_BYTES_PER_PART,
    progress: Progress | None = None,
) -> AssignResult:
    """Give every point the code of the grid holding it, by the lookups' boundary rule.

    Parameters
    ----------
    points
        A GeoParquet, Parquet (``lon``/``lat`` columns) or CSV file, or a folder of them.
    store
        The plan store (an opened store, a ``.gpkg`` path or a ``postgresql://`` URL).
    out
        Output folder of Parquet parts (replaced whole at the end, if it exists).
    crs
        CRS of the coordinates: ``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or ``EPSG:n``.
        Default: what a GeoParquet file declares, else ``wgs84``.
    version, as_of
        The plan version: by id, the one live at ``as_of``, or (neither) the live one.
    client
        A :class:`distributed.Client` to run the parts on (:func:`gis.parallel.connect`);
        None runs them in this process.
    rows_per_part, csv_part_bytes
        Size of a part: Parquet row groups up to this many rows, CSV bytes.
    progress
        Callback ``(step, done, total)`` as parts finish.

    Returns
    -------
    AssignResult

    Raises
    ------
    PointsError
        A source without coordinates, a row whose coordinates are missing or no position.
    VersionNotFoundError
        No such version, or none live at that time.
    CRSError
        An unknown ``crs``.
    ClusterError
        A worker cannot see the points or the output folder.
    AssignError
        Some parts failed (each named with its reason); nothing was written.
    """
    started = time.perf_counter()
    out = Path(out)
    parts = _plan(Path(points), out, crs, rows_per_part, csv_part_bytes)
    index = _index(store, version, as_of, n_points=sum(_rows(p) for p in parts))
    with _replacing(out) as tmp:
        if client is not None:
            require_paths(client, [tmp, *sorted({p.path for p in parts})])
            shared: Any = client.scatter(index, broadcast=True, hash=False)
        else:
            shared = index
        outcomes = run_tasks(
            assign_part,
            parts,
            client=client,
            args=(shared, str(tmp), crs),
            total=len(parts),
            step="assigning points",
            progress=progress,
            name="wangge-assign",
        )
        done = _done(parts, outcomes)
        _keep_only(tmp, {_part_name(p.index) for p in parts})
    assert index.version is not None
    result = AssignResult(
        out=out,
        version_id=index.version.id,
        rows=sum(d.rows for d in done),
        in_grids=sum(d.in_grids for d in done),
        parts=len(done),
        seconds=time.perf_counter() - started,
        where=describe_client(client),
    )
    log.info("%d points, %d in grids, %.1f s", result.rows, result.in_grids, result.seconds)
    return result


def _plan(
    source: Path, out: Path, crs: str | None, rows_per_part: int, csv_part_bytes: int
) -> list[PointPart]:
    """The parts to write, every check that needs no worker done."""
    if rows_per_part < 1 or csv_part_bytes < 1:
        msg = f"parts must hold something: rows_per_part={rows_per_part}, bytes={csv_part_bytes}"
        raise OptionError(msg)
    files = source_files(source)
    if out.exists() and not out.is_dir():
        msg = f"the output {out} is a file: assign writes a folder of Parquet parts"
        raise OptionError(msg)
    here, there = source.resolve(), out.resolve()
    if here == there or there in here.parents or (source.is_dir() and here in there.parents):
        msg = f"the output {out} would replace or lie inside the points {source}: choose another"
        raise OptionError(msg)
    if crs is not None:
        to_wgs84(np.zeros(1), np.zeros(1), crs)  # CRSError now, not in every task
    parts = plan_parts(files, rows_per_part=rows_per_part, csv_bytes_per_part=csv_part_bytes)
    for part in parts:
        taken = [c for c in ADDED if c in part.columns]
        if taken:
            msg = f"{part.path} already has a {taken[0]!r} column: rename it before assigning"
            raise PointsError(msg)
    return parts


def _rows(part: PointPart) -> int:
    """Rows of a part: known for Parquet, estimated for CSV (about 32 bytes a row)."""
    return part.rows if part.rows >= 0 else (part.byte_range[1] - part.byte_range[0]) // 32


def _index(
    store: Store | str | Path, version: int | None, as_of: datetime | None, *, n_points: int
) -> GridIndex:
    """The index of the version asked for, read once (the same rule ``/lookup`` answers by)."""
    opened = open_store(store, create=False) if isinstance(store, str | Path) else store
    try:
        info = opened.version(version, as_of=as_of)
        grids = opened.read_grids(info.id)
    finally:
        if opened is not store:
            opened.close()
    cells = lattice_cells(len(grids), n_points)
    return GridIndex(grids, version=info, lattice_cells=cells)


#: The finest lookup lattice assign builds (cells along the longer side of the plan).
MAX_LATTICE_CELLS: Final = 1024


def lattice_cells(n_grids: int, n_points: int) -> int:
    """Lookup lattice cells for ``n_points`` points in ``n_grids`` grids.

    The lattice answers points in cells inside one grid at once and sends the rest (cells a
    boundary crosses) to the exact rule, so it changes no answer, only speed: a finer one
    leaves fewer points to the exact test but costs more to build (about 7 µs a cell, once).
    So about one cell per 20 points, at most 48 across a grid's width, between 64 and
    :data:`MAX_LATTICE_CELLS`: for 2,000 grids, 1,024 cells take about 6 s to build (in the
    calling process, before any task) and leave half the points the service's 512 cells send
    to the exact test.
    """
    fine = min(np.sqrt(max(n_points, 1) / 20), 48 * np.sqrt(max(n_grids, 1)))
    return int(np.clip(round(fine), 64, MAX_LATTICE_CELLS))


def assign_part(part: PointPart, index: GridIndex, out_dir: str, crs: str | None) -> PartDone:
    """One task: read a part, locate its points, write it with their codes.

    Raises
    ------
    PointsError
        A row whose coordinates are missing or no position (the part and row are named).
    """
    started = time.perf_counter()
    table, x, y = read_part(part)
    system = crs or part.coords.crs or "wgs84"
    try:
        lon, lat = points_to_wgs84(x, y, system)
    except GeometryError as exc:
        msg = f"{part.describe()}: {exc}"
        raise PointsError(msg) from None
    shapely.prepare(index.geoms)  # an index unpickled on a worker comes unprepared
    where = index.locate(lon, lat)
    pick = pa.array(where, mask=where < 0)
    codes = pa.array(index.codes.astype(str)).take(pick)
    units = pa.array(index.grids[col.PARENT_CODE].astype(str).to_numpy()).take(pick)
    table = table.append_column(col.GRID_CODE, codes).append_column(col.UNIT_CODE, units)
    target = Path(out_dir) / _part_name(part.index)
    scratch = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    pq.write_table(table, scratch)
    os.replace(scratch, target)  # a retried part replaces whole; none is ever half there
    return PartDone(
        part.index, table.num_rows, int((where >= 0).sum()), time.perf_counter() - started
    )


def _part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def _done(parts: list[PointPart], outcomes: list[PartDone | TaskFailure]) -> list[PartDone]:
    failed = [(p, o) for p, o in zip(parts, outcomes, strict=True) if isinstance(o, TaskFailure)]
    if failed:
        shown = "; ".join(f"{p.describe()}: {o.reason}" for p, o in failed[:3])
        more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
        msg = (
            f"{len(failed)} of {len(parts)} parts of the points could not be assigned, so "
            f"nothing was written: {shown}{more}"
        )
        raise AssignError(msg)
    return [o for o in outcomes if isinstance(o, PartDone)]


def _keep_only(folder: Path, names: set[str]) -> None:
    """Drop scratch files a task left behind when its worker died mid-write."""
    for path in folder.iterdir():
        if path.name not in names:
            path.unlink()


@contextmanager
def _replacing(out: Path) -> Iterator[Path]:
    """A temporary folder beside ``out`` that replaces it only when the block succeeds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(out.parent.stat().st_mode & 0o777)  # workers (other users) write where out may
    try:
        yield tmp
        if out.exists():
            old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
