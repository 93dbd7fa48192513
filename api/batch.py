"""Batch lookups off the event loop: reading the points, locating them and writing the answer.

A batch of 2,000,000 points is a 46 MB JSON body; parsing it holds the interpreter for most
of a second, and a worker *thread* would still hold the GIL that the event loop needs. So:

* a small body (at most ``settings.batch_process_bytes``) is read, located and encoded in a
  worker thread (:func:`answer`, via ``run_in_threadpool``): quick, and cheap to start;
* a larger one is spooled by the event loop, chunk by chunk, to a temporary file, and a worker
  *process* (:class:`BatchPool`, spawned on first use and kept) reads it, locates the points
  with its own copy of the version's index, and writes the answer to a second file that the
  loop streams back. The loop only moves bytes, so single lookups keep their latency while
  the batch runs (``bench/lookup.py`` measures it).

Coordinates must be numbers: ``true``/``false``, strings and nulls are refused (a batch of
booleans is not coordinates), as are boolean columns in CSV and Parquet uploads.
"""

from __future__ import annotations

import contextlib
import gc
import io
import itertools
import logging
import multiprocessing
import os
import pickle
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
import pandas as pd

from api.errors import BadRequestError
from api.present import grid_out, version_out
from gis.errors import BatchTooLargeError
from gis.serving.lookup import GridIndex, points_to_wgs84
from gis.store import VersionInfo

logger = logging.getLogger(__name__)

LON_NAMES: Final = ("lon", "lng", "longitude", "x")
LAT_NAMES: Final = ("lat", "latitude", "y")
PARQUET_TYPES: Final = (
    "application/vnd.apache.parquet",
    "application/x-parquet",
    "application/parquet",
)
NUMBERS: Final = frozenset({int, float})
KEEP_INDEXES: Final = 4
"""Indexes a worker process keeps (per store and version)."""
NICENESS: Final = 10
"""How much lower the batch worker's CPU priority is than the server's: when both want the
CPU, single lookups win and the batch waits (it is background work)."""


@dataclass(frozen=True)
class BatchRequest:
    """What a batch asks, besides its body.

    Attributes
    ----------
    content_type
        The request's ``Content-Type`` header, whole (a multipart boundary included).
    crs
        The ``crs`` query parameter (overrides the body's), or None.
    fmt
        ``json``, ``csv`` or ``parquet``: the answer's format.
    max_points
        The most points a batch may hold.
    as_of
        The JSON of the answer's ``as_of`` member (None: no ``as_of`` was asked).
    """

    content_type: str
    crs: str | None
    fmt: str
    max_points: int
    as_of: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """The media type alone, lower case."""
        return self.content_type.split(";")[0].strip().lower()


# ---- reading points -------------------------------------------------------------------------
@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small lists are built and dropped
    (a 1M-point JSON batch parses twice as fast); they hold no cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _not_numbers(points: list[Any]) -> str | None:
    """Why ``points`` are not all ``[number, number]`` (booleans, strings and nulls are not
    numbers), or None. One C-speed pass over every value."""
    try:
        kinds = set(map(type, itertools.chain.from_iterable(points)))
    except TypeError:
        kinds = {type(None)}  # a point that is a number, not a pair
    if kinds <= NUMBERS:
        return None
    for i, point in enumerate(points):
        if not isinstance(point, list) or any(type(v) not in NUMBERS for v in point):
            return f"point {i} is {point!r}"
    return "a point holds something else than numbers"


def json_points(data: bytes) -> tuple[str, np.ndarray[Any, Any]]:
    """``(crs, n × 2 array)`` of a JSON body ``{"crs": …, "points": [[lon, lat], …]}``.

    Raises
    ------
    BadRequestError
        Not JSON, not that shape, or a coordinate that is not a number.
    """
    try:
        with _no_gc():
            body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict) or "points" not in body:
        raise BadRequestError('JSON body must be {"crs": "...", "points": [[lon, lat], ...]}')
    crs = body.get("crs", "wgs84")
    if not isinstance(crs, str):
        raise BadRequestError(f"crs must be a string, got {crs!r}")
    points = body["points"]
    if not isinstance(points, list):
        raise BadRequestError("points must be a list of [lon, lat] pairs")
    if not points:
        return crs, np.empty((0, 2))
    why = _not_numbers(points)
    if why is not None:
        msg = f"points must be [lon, lat] number pairs (not true/false, text or null): {why}"
        raise BadRequestError(msg)
    try:
        with _no_gc():
            array = np.asarray(points, dtype=float)
    except (TypeError, ValueError) as exc:
        msg = f"points must be [lon, lat] number pairs ({exc}); first item: {points[0]!r}"
        raise BadRequestError(msg) from exc
    if array.ndim != 2 or array.shape[1] != 2:
        msg = f"points must be [lon, lat] pairs; got an array of shape {array.shape}"
        raise BadRequestError(msg)
    return crs, array


def _column(frame: pd.DataFrame, names: tuple[str, ...]) -> np.ndarray[Any, Any]:
    for name in frame.columns:
        if str(name).strip().lower() not in names:
            continue
        if pd.api.types.is_bool_dtype(frame[name]):
            msg = f"column {name!r} holds true/false values, not coordinates"
            raise BadRequestError(msg)
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        if np.isnan(values).any():
            i = int(np.flatnonzero(np.isnan(values))[0])
            msg = f"column {name!r} row {i}: {frame[name].iloc[i]!r} is not a number"
            raise BadRequestError(msg)
        return values
    msg = f"no coordinate column among {', '.join(names)}; columns seen: {list(frame.columns)}"
    raise BadRequestError(msg)


def _table(data: bytes, kind: str) -> pd.DataFrame:
    try:
        if kind == "parquet":
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data))
    except Exception as exc:
        msg = f"cannot read the uploaded {kind} table: {exc}"
        raise BadRequestError(msg) from exc


def _table_points(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    return np.column_stack([_column(frame, LON_NAMES), _column(frame, LAT_NAMES)])


def _multipart(data: bytes, content_type: str) -> tuple[bytes, str, str | None]:
    """(file bytes, file name, the form's crs) of a multipart upload."""
    import python_multipart  # noqa: PLC0415 - the serve extra

    found: dict[str, Any] = {}

    def on_file(file: Any) -> None:
        if file.field_name in (b"file", "file"):
            file.file_object.seek(0)
            found["file"] = (file.file_object.read(), (file.file_name or b"").decode())

    def on_field(field: Any) -> None:
        if field.field_name in (b"crs", "crs") and field.value is not None:
            found["crs"] = field.value.decode()

    headers = {"Content-Type": content_type.encode(), "Content-Length": str(len(data)).encode()}
    try:
        python_multipart.parse_form(headers, io.BytesIO(data), on_field, on_file)
    except Exception as exc:
        raise BadRequestError(f"cannot read the multipart upload: {exc}") from exc
    if "file" not in found:
        raise BadRequestError("multipart upload needs a 'file' part (CSV or Parquet)")
    body, name = found["file"]
    return body, name.lower(), found.get("crs")


def read_points(data: bytes, request: BatchRequest) -> tuple[str, np.ndarray[Any, Any]]:
    """``(crs, n × 2 array)`` of a batch body in any accepted form (JSON, CSV, Parquet,
    multipart upload of a CSV or Parquet file).

    Raises
    ------
    BadRequestError
        An unreadable body, an unsupported content type, coordinates that are not numbers.
    """
    kind = request.kind
    if kind == "multipart/form-data":
        body, name, form_crs = _multipart(data, request.content_type)
        table_kind = "parquet" if name.endswith((".parquet", ".pq")) else "csv"
        points = _table_points(_table(body, table_kind))
        return request.crs or form_crs or "wgs84", points
    if kind in ("text/csv", *PARQUET_TYPES):
        frame = _table(data, "csv" if kind == "text/csv" else "parquet")
        return request.crs or "wgs84", _table_points(frame)
    if kind not in ("application/json", ""):
        msg = f"unsupported content type {kind!r}: send JSON, text/csv, Parquet or multipart"
        raise BadRequestError(msg)
    crs, points = json_points(data)
    return request.crs or crs, points


# ---- answering ------------------------------------------------------------------------------
def answer(data: bytes, request: BatchRequest, index: GridIndex) -> tuple[bytes, str]:
    """The whole batch: read the points, locate them in ``index``, encode the answer.

    Returns
    -------
    tuple of bytes and str
        The response body and its media type.

    Raises
    ------
    BadRequestError, BatchTooLargeError, GeometryError, CRSError
        A body that cannot be used (mapped to 4xx by :mod:`api.errors`).
    """
    crs, points = read_points(data, request)
    if len(points) > request.max_points:
        msg = f"batch of {len(points)} points exceeds the limit of {request.max_points}"
        raise BatchTooLargeError(msg)
    x, y = (
        points_to_wgs84(points[:, 0], points[:, 1], crs)
        if len(points)
        else (np.empty(0), np.empty(0))
    )
    positions = index.locate(x, y)
    codes = np.full(len(positions), None, dtype=object)
    found = positions >= 0
    codes[found] = index.codes[positions[found]]
    if request.fmt != "json":
        frame = pd.DataFrame({"lon": points[:, 0], "lat": points[:, 1], "grid_code": codes})
        if request.fmt == "csv":
            return frame.to_csv(index=False).encode(), "text/csv"
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue(), PARQUET_TYPES[0]
    assert index.version is not None
    grids = {}
    for p in np.unique(positions[found]):
        g = grid_out(index.record(int(p)), index.version.band, index.version.unit_bands)
        grids[g.grid_code] = g.model_dump(exclude={"grid_code"})
    body = {
        "crs": crs, "count": len(points), "matched": int(found.sum()),
        "version": version_out(index.version).model_dump(mode="json"),
        "results": codes.tolist(), "grids": grids,
    }  # fmt: skip
    if request.as_of is not None:
        body["as_of"] = request.as_of
    return orjson.dumps(body), "application/json"


# ---- the worker process ---------------------------------------------------------------------
_INDEXES: OrderedDict[Hashable, GridIndex] = OrderedDict()
"""The indexes a worker process has unpickled, most recent last (in the worker only)."""


def answer_files(
    paths: tuple[str, str],
    request: BatchRequest,
    key: Hashable,
    payload: bytes,
    version: VersionInfo,
) -> str:
    """In the worker process: :func:`answer` the body in ``paths[0]`` into ``paths[1]``.

    ``payload`` is the pickled index of version ``key``, unpickled only the first time.

    Returns
    -------
    str
        The answer's media type.
    """
    index = _INDEXES.get(key)
    if index is None:
        index = pickle.loads(payload)  # made by this service's own process
        _INDEXES[key] = index
        while len(_INDEXES) > KEEP_INDEXES:
            _INDEXES.popitem(last=False)
    _INDEXES.move_to_end(key)
    index.version = version  # its valid time may have changed since it was pickled
    body, media_type = answer(Path(paths[0]).read_bytes(), request, index)
    Path(paths[1]).write_bytes(body)
    return media_type


def ready() -> None:
    """Nothing: a task whose only work is the worker's start and its imports."""


class BatchPool:
    """The worker process(es) that answer large batches, spawned on first use, at a lower CPU
    priority (:data:`NICENESS`) than the server.

    Parameters
    ----------
    workers
        Processes; batches beyond that many at once wait their turn.
    """

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._payloads: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def payload(self, key: Hashable, index: GridIndex) -> bytes:
        """The pickled ``index`` (pickled once per version; call from a worker thread)."""
        with self._lock:
            found = self._payloads.get(key)
        if found is None:
            found = pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)
            with self._lock:
                self._payloads[key] = found
                while len(self._payloads) > KEEP_INDEXES:
                    self._payloads.popitem(last=False)
        return found

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("spawn")  # no fork of a threaded server
                self._executor = ProcessPoolExecutor(
                    self.workers, mp_context=context, initializer=os.nice, initargs=(NICENESS,)
                )
            return self._executor

    def warm(self) -> None:
        """Start the worker (its imports) now: called as a large body begins to arrive, so the
        start overlaps the upload instead of following it."""
        self._pool().submit(ready)

    def submit(
        self,
        paths: tuple[str, str],
        request: BatchRequest,
        key: Hashable,
        payload: bytes,
        version: VersionInfo,
    ) -> Future[str]:
        """Start :func:`answer_files` in a worker process."""
        return self._pool().submit(answer_files, paths, request, key, payload, version)

    def reset(self, *, wait: bool = False) -> None:
        """Drop the pool (a broken one: a worker killed by the system); the next batch spawns
        anew. With ``wait``, a batch still running is finished first."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)

    def close(self) -> None:
        """Stop the worker processes (after the batch they may be answering)."""
        self.reset(wait=True)


def spool_path() -> str:
    """A new empty temporary file for a spooled body or an answer (the caller removes it)."""
    fd, name = tempfile.mkstemp(prefix="wangge-batch-")
    os.close(fd)
    return name
