"""Tables of points to stamp with grid codes, read part by part.

A source is a file or a folder of files (read in name order): GeoParquet (the primary
geometry column, points as WKB or GeoArrow ``point``), Parquet with longitude/latitude
columns, or CSV with them (the same column names the service's batch lookup accepts:
``lon``/``lng``/``longitude``/``x`` and ``lat``/``latitude``/``y``, any case). The source is
cut into :class:`PointPart` s of bounded size: whole Parquet row groups up to
``rows_per_part`` rows, or CSV byte ranges ending at line ends. A part is read on its own
(by whichever worker runs it); its rows come back in file order.

CSV values other than the coordinates are kept as text, exactly as written (so codes with
leading zeros survive); CSV fields must not hold line breaks.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pyproj
import shapely

from gis.errors import PointsError

LON_NAMES: Final = ("lon", "lng", "longitude", "x")
LAT_NAMES: Final = ("lat", "latitude", "y")
PARQUET_SUFFIXES: Final = (".parquet", ".pq", ".geoparquet")
CSV_SUFFIXES: Final = (".csv",)
#: Rows per part of a Parquet source (a part is at least one row group).
ROWS_PER_PART: Final = 1_000_000
#: Bytes per part of a CSV source.
CSV_BYTES_PER_PART: Final = 64 * 2**20
#: A WKB point: byte order (1) + type (4) + x, y (16).
_WKB_POINT_BYTES: Final = 21


@dataclass(frozen=True)
class Coordinates:
    """Where a file keeps its points.

    Attributes
    ----------
    lon, lat
        Longitude and latitude columns (None for a geometry column).
    geometry
        The GeoParquet primary geometry column (None for lon/lat columns).
    encoding
        ``WKB`` or ``point`` (GeoArrow) for a geometry column.
    crs
        The CRS the file declares (``EPSG:n``), None when it declares none.
    """

    lon: str | None = None
    lat: str | None = None
    geometry: str | None = None
    encoding: str = "WKB"
    crs: str | None = None


@dataclass(frozen=True)
class PointPart:
    """A bounded piece of a source, read by :func:`read_part`.

    Attributes
    ----------
    index
        Position of the part in the whole source (output parts are numbered by it).
    path
        The file.
    kind
        ``parquet`` or ``csv``.
    coords
        Its coordinate columns.
    row_groups
        Parquet row groups of the part.
    byte_range
        CSV bytes ``[start, end)``: the part holds the lines starting in it.
    columns
        Column names (for CSV, from the header line).
    rows
        Rows the part holds (Parquet; -1 when unknown until read).
    """

    index: int
    path: str
    kind: str
    coords: Coordinates
    row_groups: tuple[int, ...] = ()
    byte_range: tuple[int, int] = (0, 0)
    columns: tuple[str, ...] = ()
    rows: int = -1

    def describe(self) -> str:
        """Where the part lies, for messages."""
        if self.kind == "parquet":
            first, last = self.row_groups[0], self.row_groups[-1]
            return f"{self.path} (row groups {first}–{last})"
        return f"{self.path} (bytes {self.byte_range[0]}–{self.byte_range[1]})"


def source_files(source: str | Path) -> list[Path]:
    """The files of a source: the file itself, or a folder's point files in name order.

    Raises
    ------
    PointsError
        Nothing to read, or a file of another format.
    """
    path = Path(source)
    if not path.exists():
        msg = f"points source {path} does not exist: give a Parquet/GeoParquet/CSV file or folder"
        raise PointsError(msg)
    if path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            if p.is_file()
            and not p.name.startswith((".", "_"))
            and p.suffix.lower() in PARQUET_SUFFIXES + CSV_SUFFIXES
        )
        if not files:
            msg = f"folder {path} holds no .parquet, .geoparquet or .csv file of points"
            raise PointsError(msg)
        return files
    if path.suffix.lower() not in PARQUET_SUFFIXES + CSV_SUFFIXES:
        msg = f"points file {path} is neither Parquet/GeoParquet (.parquet) nor CSV (.csv)"
        raise PointsError(msg)
    return [path]


def plan_parts(
    files: list[Path],
    *,
    rows_per_part: int = ROWS_PER_PART,
    csv_bytes_per_part: int = CSV_BYTES_PER_PART,
) -> list[PointPart]:
    """Cut the files into parts, checking each file's coordinate columns first.

    Raises
    ------
    PointsError
        A file without coordinates (named, with the columns it has), or unreadable.
    """
    parts: list[PointPart] = []
    for path in files:
        if path.suffix.lower() in CSV_SUFFIXES:
            parts.extend(_csv_parts(path, len(parts), csv_bytes_per_part))
        else:
            parts.extend(_parquet_parts(path, len(parts), rows_per_part))
    return parts


def _parquet_parts(path: Path, first: int, rows_per_part: int) -> list[PointPart]:
    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowException) as exc:
        msg = f"cannot read {path} as Parquet: {exc}"
        raise PointsError(msg) from None
    schema = meta.schema.to_arrow_schema()
    coords = _parquet_coordinates(path, schema)
    names = tuple(schema.names)
    parts: list[PointPart] = []
    groups: list[int] = []
    rows = 0
    for g in range(meta.num_row_groups):
        groups.append(g)
        rows += meta.row_group(g).num_rows
        if rows >= rows_per_part or g == meta.num_row_groups - 1:
            parts.append(
                PointPart(
                    first + len(parts),
                    str(path),
                    "parquet",
                    coords,
                    row_groups=tuple(groups),
                    columns=names,
                    rows=rows,
                )
            )
            groups, rows = [], 0
    return parts


def _parquet_coordinates(path: Path, schema: pa.Schema) -> Coordinates:
    geo = (schema.metadata or {}).get(b"geo")
    if geo is not None:
        info = json.loads(geo)
        name = info.get("primary_column", "geometry")
        column = info.get("columns", {}).get(name, {})
        encoding = str(column.get("encoding", "WKB"))
        if encoding not in ("WKB", "point"):
            msg = (
                f"{path}: geometry column {name!r} is encoded as {encoding}; assign reads "
                "points (WKB or GeoArrow point)"
            )
            raise PointsError(msg)
        return Coordinates(geometry=name, encoding=encoding, crs=_declared_crs(column))
    return _lon_lat(path, list(schema.names))


def _declared_crs(column: dict[str, Any]) -> str | None:
    """``EPSG:n`` of a GeoParquet column's CRS (absent: OGC:CRS84, i.e. WGS 84 lon/lat)."""
    crs = column.get("crs", "absent")
    if crs == "absent":
        return None
    if crs is None:
        return None  # explicitly unknown: the caller's --crs (default wgs84) decides
    found = pyproj.CRS.from_user_input(crs)
    if found.equals(pyproj.CRS.from_user_input("OGC:CRS84"), ignore_axis_order=True):
        return "EPSG:4326"
    epsg = found.to_epsg()
    if epsg is None:
        msg = f"the points' CRS {found.name!r} has no EPSG code: reproject them or give --crs"
        raise PointsError(msg)
    return f"EPSG:{epsg}"


def _lon_lat(path: Path, names: list[str]) -> Coordinates:
    lower = {n.strip().lower(): n for n in reversed(names)}
    lon = next((lower[n] for n in LON_NAMES if n in lower), None)
    lat = next((lower[n] for n in LAT_NAMES if n in lower), None)
    if lon is None or lat is None:
        msg = (
            f"{path} has no coordinates: no GeoParquet geometry and no "
            f"{'longitude' if lon is None else 'latitude'} column "
            f"({'/'.join(LON_NAMES if lon is None else LAT_NAMES)}); columns: {names[:20]}"
        )
        raise PointsError(msg)
    return Coordinates(lon=lon, lat=lat)


def _csv_parts(path: Path, first: int, bytes_per_part: int) -> list[PointPart]:
    with path.open("rb") as f:
        header = f.readline()
    try:
        columns = tuple(pacsv.read_csv(io.BytesIO(header)).column_names) if header.strip() else ()
    except pa.ArrowException:
        columns = ()
    if not columns:
        msg = f"{path} has no header line naming its columns (e.g. id,lon,lat)"
        raise PointsError(msg)
    coords = _lon_lat(path, list(columns))
    size = os.path.getsize(path)
    starts = list(range(0, max(size, 1), bytes_per_part))
    return [
        PointPart(
            first + i,
            str(path),
            "csv",
            coords,
            byte_range=(start, min(start + bytes_per_part, size)),
            columns=columns,
        )
        for i, start in enumerate(starts)
    ]


def read_part(part: PointPart) -> tuple[pa.Table, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The rows of a part and their coordinates (in the source's CRS).

    Raises
    ------
    PointsError
        A missing or non-numeric coordinate (the row is named), a geometry that is not a point.
    """
    if part.kind == "parquet":
        table = pq.ParquetFile(part.path).read_row_groups(list(part.row_groups))
    else:
        table = _read_csv_range(part)
    if part.coords.geometry is not None:
        x, y = _geometry_xy(table.column(part.coords.geometry), part)
    else:
        assert part.coords.lon is not None
        assert part.coords.lat is not None
        x = _numbers(table.column(part.coords.lon), part.coords.lon, part)
        y = _numbers(table.column(part.coords.lat), part.coords.lat, part)
    return table, x, y


def _read_csv_range(part: PointPart) -> pa.Table:
    start, end = part.byte_range
    with open(part.path, "rb") as f:
        if start == 0:
            f.readline()  # the header
        else:
            f.seek(start - 1)
            f.readline()  # the line running into the range belongs to the part before
        pos = f.tell()
        data = f.read(max(0, end - pos)) if pos < end else b""
        if data and not data.endswith(b"\n"):
            data += f.readline()
    names = list(part.columns)
    if not data.strip():
        return pa.table({n: pa.array([], type=pa.string()) for n in names})
    try:
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
            ),
        )
    except pa.ArrowInvalid as exc:
        msg = f"cannot read {part.describe()} as CSV: {exc}"
        raise PointsError(msg) from None


def _numbers(column: pa.ChunkedArray, name: str, part: PointPart) -> npt.NDArray[np.float64]:
    """A coordinate column as float64; a missing or non-numeric value is an error."""
    arr = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        try:
            arr = arr.cast(pa.float64())
        except pa.ArrowInvalid:
            values = arr.to_pylist()
            i = next(i for i, v in enumerate(values) if v is not None and not _is_number(v))
            msg = f"{part.describe()}: row {i} of column {name!r} is {values[i]!r}, not a number"
            raise PointsError(msg) from None
    elif not (pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type)):
        msg = f"{part.describe()}: column {name!r} holds {arr.type}, not coordinates"
        raise PointsError(msg)
    if arr.null_count:
        i = int(np.flatnonzero(np.asarray(arr.is_null()))[0])
        msg = f"{part.describe()}: row {i} has no {name!r} ({arr.null_count} rows lack one)"
        raise PointsError(msg)
    return np.asarray(arr.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _geometry_xy(
    column: pa.ChunkedArray, part: PointPart
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    arr = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if arr.null_count:
        i = int(np.flatnonzero(np.asarray(arr.is_null()))[0])
        msg = f"{part.describe()}: row {i} has no geometry ({arr.null_count} rows lack one)"
        raise PointsError(msg)
    if part.coords.encoding == "point":
        x = arr.field(0).to_numpy(zero_copy_only=False)
        y = arr.field(1).to_numpy(zero_copy_only=False)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    fast = _wkb_points(arr)
    if fast is not None:
        return fast
    geoms = shapely.from_wkb(arr.to_numpy(zero_copy_only=False))
    kinds = shapely.get_type_id(geoms)
    if (kinds != shapely.GeometryType.POINT).any():
        i = int(np.flatnonzero(kinds != shapely.GeometryType.POINT)[0])
        kind = shapely.GeometryType(kinds[i]).name.lower()
        msg = f"{part.describe()}: row {i} is a {kind}, not a point; assign takes points"
        raise PointsError(msg)
    return shapely.get_x(geoms), shapely.get_y(geoms)


def _wkb_points(arr: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """Coordinates of 2-D little-endian WKB points straight from the buffer (else None)."""
    if not pa.types.is_binary(arr.type) or len(arr) == 0:
        return None
    start = arr.offset
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[start : start + len(arr) + 1]
    if not (np.diff(offsets) == _WKB_POINT_BYTES).all():
        return None
    raw = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    rows = raw.reshape(-1, _WKB_POINT_BYTES)
    if not ((rows[:, 0] == 1).all() and (rows[:, 1:5].copy().view("<u4").ravel() == 1).all()):
        return None
    xy = rows[:, 5:].copy().view("<f8")
    return xy[:, 0].copy(), xy[:, 1].copy()
